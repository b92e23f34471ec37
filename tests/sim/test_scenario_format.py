"""The scenario format rejects bad input with the file, the line and the key."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sim.scenario import Action, ReplayMode, ScenarioError, load_scenario, parse_scenario

REPO = Path(__file__).resolve().parents[2]
BASE = (REPO / "scenarios" / "go-silent-to-train.toml").read_text()


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return i
    raise AssertionError(f"{needle!r} not in text")


def _error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.toml")
    return info.value


def test_every_library_scenario_parses() -> None:
    files = sorted((REPO / "scenarios").glob("*.toml"))
    assert len(files) >= 14
    names = {load_scenario(f).name for f in files}
    assert len(names) == len(files)


def test_library_parses_to_the_story() -> None:
    s = load_scenario(REPO / "scenarios" / "go-silent-to-train.toml")
    assert [f.id for f in s.facilities] == ["fac-a", "fac-b"]
    silent = [e for e in s.timeline if e.action is Action.SILENT]
    assert silent[0].targets == (("fac-b", "n01"), ("fac-b", "n02"))
    assert (silent[0].start_ns, silent[0].end_ns) == (3600 * 10**9, 3 * 3600 * 10**9)
    assert s.commitment.commitment_id == "pause-2026"
    assert s.bucket_ns == 3600 * 10**9
    replay = load_scenario(REPO / "scenarios" / "pregenerated-idle.toml")
    assert [e.replay_mode for e in replay.timeline if e.action is Action.REPLAY] == [ReplayMode.PREGENERATED]


def test_unknown_key_names_file_line_and_key() -> None:
    text = BASE.replace('do = "silent"', 'do = "silent"\nfrmo = "1h"', 1)
    e = _error(text)
    assert e.file == "bad.toml"
    assert e.key == "timeline[0].frmo"
    assert e.line == _line_of(text, "frmo")
    assert str(e).startswith(f"bad.toml:{e.line}: timeline[0].frmo: unknown key")


def test_a_scenario_error_survives_a_trip_through_pickle() -> None:
    """As a worker process sends it back (the scenario library runs its stories in workers)."""
    text = BASE.replace('do = "silent"', 'do = "silent"\nfrmo = "1h"', 1)
    e = _error(text)
    back = pickle.loads(pickle.dumps(e))
    assert isinstance(back, ScenarioError)
    assert (back.file, back.line, back.key, back.problem, str(back)) == (e.file, e.line, e.key, e.problem, str(e))


def test_unknown_top_level_table() -> None:
    text = BASE + "\n[extras]\nx = 1\n"
    e = _error(text)
    assert (e.key, e.line) == ("extras", _line_of(text, "[extras]"))


def test_unknown_key_in_facility() -> None:
    text = BASE.replace("devices_per_node = 4", "devices_per_node = 4\ngpus = 8", 1)
    e = _error(text)
    assert (e.key, e.line) == ("facility[0].gpus", _line_of(text, "gpus = 8"))


def test_missing_field_names_the_key() -> None:
    text = BASE.replace('id = "fac-b"\nlab = "lab-1"\n', 'id = "fac-b"\n', 1)
    e = _error(text)
    assert e.key == "facility[1].lab"
    assert "missing" in e.problem
    assert e.line == _line_of(text, "[[facility]]", 2)


def test_missing_expectation_status() -> None:
    text = BASE.replace('status = "COMPLIANT"\n', "", 1)
    e = _error(text)
    assert e.key == "expect[0].status"
    assert e.line is not None


def test_impossible_timing_past_the_end() -> None:
    text = BASE.replace('to = "3h"', 'to = "9h"', 1)
    e = _error(text)
    assert e.key == "timeline[0].to"
    assert "past the scenario's end" in e.problem
    assert e.line == _line_of(text, 'to = "9h"')


def test_impossible_timing_backwards() -> None:
    text = BASE.replace('from = "1h"\nto = "3h"', 'from = "3h"\nto = "2h"', 1)
    e = _error(text)
    assert e.key == "timeline[0].to"
    assert "not after" in e.problem


def test_impossible_timing_off_the_period_grid() -> None:
    text = BASE.replace('from = "1h"', 'from = "1h30s"', 1)
    e = _error(text)
    assert e.key == "timeline[0].from"
    assert "report-period boundary" in e.problem


def test_impossible_timing_overlapping_entries() -> None:
    text = BASE + '\n[[timeline]]\ndo = "lie"\ntarget = "fac-b/n02"\nprofile = "training"\nreports = "idle"\nfrom = "2h"\nto = "4h"\n'
    e = _error(text)
    assert "impossible timing" in e.problem
    assert e.line == _line_of(text, "[[timeline]]", 3)


def test_expectation_off_the_bucket_grid() -> None:
    e = _error(BASE.replace('bucket = "0h"', 'bucket = "30m"', 1))
    assert e.key == "expect[0].bucket"
    assert "bucket boundary" in e.problem


def test_unknown_status_and_finding_id() -> None:
    assert _error(BASE.replace('status = "INCONCLUSIVE"', 'status = "GUILTY"', 1)).key == "expect[1].status"
    assert _error(BASE.replace('findings = ["continuity.timeout"]', 'findings = ["gap"]', 1)).key == "expect[1].findings"


def test_bad_selector() -> None:
    e = _error(BASE.replace('"fac-b/n01..n02"', '"fac-z/n01"', 1))
    assert e.key == "timeline[0].target"
    assert "fac-z" in e.problem
    assert _error(BASE.replace('"fac-b/n01..n02"', '"fac-b/n02..n01"', 1)).key == "timeline[0].target"


def test_wrong_type() -> None:
    e = _error(BASE.replace("nodes = 3", 'nodes = "three"', 1))
    assert e.key == "facility[1].nodes"


def test_commitment_errors_use_the_commitment_parser_with_scenario_lines() -> None:
    text = BASE.replace("bucket_s = 3600", "bucket_s = 3600\nbukket = 1", 1)
    e = _error(text)
    assert e.key == "commitment.reporting.bukket"
    assert e.line == _line_of(text, "bukket")
    window = "[commitment.window]\nstart = 2026-03-02T00:00:00Z"
    e = _error(BASE.replace(window, window.replace("T00:00", "T01:00"), 1))
    assert e.key == "commitment.window"


def test_toml_syntax_error_has_a_line() -> None:
    text = BASE.replace("seed = 22", "seed = = 22", 1)
    e = _error(text)
    assert e.line == _line_of(text, "seed = = 22")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.toml")


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "x.toml"
    p.write_bytes(b"\xff\xfe[scenario]\n")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(p)


# --- the threat-model keys (issue 10): every misuse names file, line and key ----------------------

def _with(facility: str = "", timeline: str = "") -> str:
    """BASE with lines added to its last facility (fac-b: 3 nodes × 4) and to its timeline."""
    text = BASE.replace("\n[commitment]\n", f"\n{facility}\n[commitment]\n", 1)
    return text + "\n" + timeline


_RACKS = """
[[facility.meter]]
name = "intake"
[[facility.meter]]
name = "rack1"
scope = "rack"
nodes = ["n00..n01"]
"""


@pytest.mark.parametrize(
    ("facility", "timeline", "key", "needle", "problem"),
    [
        ("[[facility.meter]]\nscope = \"rack\"\nnodes = [\"n00\"]\nfoo = 1\n", "", "facility[1].meter[0].foo",
         "foo = 1", "unknown key"),
        ("meters = 2\n[[facility.meter]]\nname = \"x\"\n", "", "facility[1].meters", "meters = 2", "either"),
        ("[[facility.meter]]\nscope = \"rack\"\n", "", "facility[1].meter[0].nodes", "scope = \"rack\"",
         "missing"),
        ("[[facility.meter]]\nscope = \"campus\"\n", "", "facility[1].meter[0].scope", "campus", "not one of"),
        ("[[facility.meter]]\nscope = \"pdu\"\nnodes = [\"n00..n01\"]\n[[facility.meter]]\nscope = \"pdu\"\n"
         "nodes = [\"n01..n02\"]\n", "", "facility[1].meter[1].nodes", "nodes = [\"n01..n02\"]", "nesting"),
        ("[[facility.meter]]\nfeed = \"A\"\nshare = 0.7\n[[facility.meter]]\nfeed = \"B\"\nshare = 0.6\n", "",
         "facility[1].meter[1].share", "share = 0.6", "sum to 1.3"),
        ("[[facility.meter]]\nshare = 0.5\n", "", "facility[1].meter[0].share", "share = 0.5", "feed"),
        ("[[facility.meter]]\nfeed = \"A-1\"\n", "", "facility[1].meter[0].feed", "A-1", "label"),
        ("[[facility.meter]]\nerror = 0.9\n", "", "facility[1].meter[0].error", "error = 0.9", "within"),
        ("[[facility.meter]]\nenergy_counter = \"yes\"\n", "", "facility[1].meter[0].energy_counter",
         "energy_counter", "true or false"),
        ("[[facility.node]]\nname = \"n07\"\n", "", "facility[1].node[0].name", "n07", "not a node"),
        ("[[facility.node]]\nname = \"n01\"\nreports_undeclared = false\n", "",
         "facility[1].node[0].reports_undeclared", "reports_undeclared", "no undeclared"),
        ("", "[[timeline]]\ndo = \"lie\"\ntarget = \"fac-b/m0\"\nprofile = \"idle\"\nfactor = 0.8\n"
         "from = \"0h\"\nto = \"1h\"\n", "timeline[2].profile", "profile = \"idle\"\nfactor", "factor"),
        ("", "[[timeline]]\ndo = \"lie\"\ntarget = \"fac-b/n00\"\nprofile = \"training\"\nreports = \"idle\"\n"
         "factor = 0.8\nfrom = \"0h\"\nto = \"1h\"\n", "timeline[2].factor", "factor = 0.8", "lying meter"),
        ("", "[[timeline]]\ndo = \"lie\"\ntarget = \"fac-b/m0\"\nfactor = 1.0\nfrom = \"0h\"\nto = \"1h\"\n",
         "timeline[2].factor", "factor = 1.0", "no lie"),
        ("", "[[timeline]]\ndo = \"silent\"\ntarget = \"fac-b/n00\"\nevery = \"6m\"\nfrom = \"0h\"\nto = \"1h\"\n",
         "timeline[2].on", "every = \"6m\"", "both"),
        ("", "[[timeline]]\ndo = \"silent\"\ntarget = \"fac-b/n00\"\nevery = \"6m\"\non = \"6m\"\nfrom = \"0h\"\n"
         "to = \"1h\"\n", "timeline[2].on", "on = \"6m\"", "shorter"),
        ("", "[[timeline]]\ndo = \"silent\"\ntarget = \"fac-b/n00\"\nevery = \"90s\"\non = \"60s\"\n"
         "from = \"0h\"\nto = \"1h\"\n", "timeline[2].every", "every = \"90s\"", "report period"),
        ("", "[[timeline]]\ndo = \"profile\"\ntarget = \"fac-b/n00\"\nprofile = \"training\"\nevery = \"60s\"\n"
         "on = \"31s\"\nfrom = \"0h\"\nto = \"1h\"\n", "timeline[2].on", "on = \"31s\"", "sample interval"),
        ("", "[[timeline]]\ndo = \"profile\"\ntarget = \"fac-b/n00\"\nprofile = \"training\"\ndevices = 9\n"
         "from = \"0h\"\nto = \"1h\"\n", "timeline[2].devices", "devices = 9", "only 4"),
        ("", "[[timeline]]\ndo = \"profile\"\ntarget = \"fac-b/n00\"\nprofile = \"training\"\n"
         "devices = \"undeclared\"\nfrom = \"0h\"\nto = \"1h\"\n", "timeline[2].devices", "undeclared\"",
         "no undeclared"),
        ("", "[[timeline]]\ndo = \"profile\"\ntarget = \"fac-b/n00\"\nprofile = \"training\"\n"
         "power_limit_w = 900\nfrom = \"0h\"\nto = \"1h\"\n", "timeline[2].power_limit_w", "power_limit_w", "board"),
        ("", "[[timeline]]\ndo = \"profile\"\ntarget = \"fac-b/n00\"\nprofile = \"off\"\nfrom = \"0h\"\nto = \"1h\"\n",
         "timeline[2].profile", "profile = \"off\"", "not `silent`"),
        ("", "[[timeline]]\ndo = \"shift\"\ntarget = \"fac-b/n00\"\nby = \"0\"\nfrom = \"0h\"\nto = \"1h\"\n",
         "timeline[2].by", "by = \"0\"", "moves nothing"),
        ("", "[[timeline]]\ndo = \"impersonate\"\ntarget = \"fac-b/n01\"\nby = \"n09\"\nfrom = \"0h\"\n"
         "to = \"30m\"\n", "timeline[2].by", "by = \"n09\"", "not a declared node"),
        ("", "[[timeline]]\ndo = \"overhead\"\ntarget = \"fac-b/n00\"\nratio = 1.3\nat = \"1h\"\n",
         "timeline[2].target", "fac-b/n00", "facility by its id"),
        ("", "[[timeline]]\ndo = \"overhead\"\ntarget = \"fac-b\"\nratio = 1.3\nat = \"1h\"\nto = \"2h\"\n",
         "timeline[2].to", "to = \"2h\"", "step"),
        ("", "[[timeline]]\ndo = \"overhead\"\ntarget = \"fac-b\"\nat = \"1h\"\n", "timeline[2].ratio",
         "do = \"overhead\"", "missing"),
        ("", "[[timeline]]\ndo = \"replace\"\ntarget = \"fac-b/n00\"\ndevices = 5\nat = \"1h\"\n",
         "timeline[2].devices", "devices = 5", "declares only 4"),
        ("", "[[timeline]]\ndo = \"verifier_outage\"\nfrom = \"1h\"\nto = \"2h\"\n[[timeline]]\ndo = \"inventory\"\n"
         "target = \"fac-b\"\nat = \"90m\"\n", "timeline[3].at", "do = \"inventory\"", "verifier is down"),
    ],
)
def test_threat_model_keys_misused(facility: str, timeline: str, key: str, needle: str, problem: str) -> None:
    text = _with(facility, timeline)
    e = _error(text)
    assert e.key == key, str(e)
    assert problem in e.problem, str(e)
    first = needle.split("\n", maxsplit=1)[0]
    last = max(i for i, line in enumerate(text.splitlines(), start=1) if first in line)
    assert e.line is not None, str(e)
    assert 0 <= last - e.line <= 8, str(e)  # the key's line, or its table's


def test_duty_cycles_and_device_subsets_conflict_only_where_they_meet() -> None:
    two = ("[[timeline]]\ndo = \"profile\"\ntarget = \"fac-b/n00\"\nprofile = \"training\"\ndevices = 2\n"
           "from = \"0h\"\nto = \"1h\"\n")
    other_two = two.replace("devices = 2", "devices = 3").replace("\"training\"", "\"inference\"")
    e = _error(_with("", two + other_two))
    assert e.key == "timeline[3]"
    assert "impossible timing" in e.problem
    undeclared = ("[[facility.node]]\nname = \"n00\"\nundeclared_devices = 2\n")
    rest = two.replace("devices = 2", "devices = \"undeclared\"").replace("\"training\"", "\"burn-in\"")
    s = parse_scenario(_with(undeclared, two + rest), "ok.toml")
    assert s.facility("fac-b").node("n00").total_devices == 6
    silent_a = "[[timeline]]\ndo = \"silent\"\ntarget = \"fac-b/n01\"\nevery = \"6m\"\non = \"3m\"\n" \
               "from = \"0h\"\nto = \"1h\"\n"
    silent_b = silent_a.replace("from = \"0h\"", "from = \"3m\"")
    parse_scenario(_with("", silent_a + silent_b), "ok.toml")  # interleaved: never both
    e = _error(_with("", silent_a + silent_b.replace("from = \"3m\"", "from = \"2m\"")))
    assert "impossible timing" in e.problem


def test_new_keys_parse_to_the_story_and_mark_in_process_only() -> None:
    timeline = (
        "[[timeline]]\ndo = \"lie\"\ntarget = \"fac-b/intake\"\nfactor = 0.8\nfrom = \"0h\"\nto = \"1h\"\n"
        "[[timeline]]\ndo = \"overhead\"\ntarget = \"fac-b\"\nratio = 1.34\nbase_load_w = 800\nfrom = \"1h\"\n"
        "to = \"2h\"\n"
        "[[timeline]]\ndo = \"shift\"\ntarget = \"fac-b/n00\"\nby = \"-20m\"\nfrom = \"2h\"\nto = \"3h\"\n"
    )
    s = parse_scenario(_with(_RACKS, timeline), "ok.toml")
    fac = s.facility("fac-b")
    assert [(m.name, m.scope, m.nodes) for m in fac.meters] == [("intake", "facility", ()),
                                                                ("rack1", "rack", ("n00", "n01"))]
    lie, overhead, shift = s.timeline[2:]
    assert lie.factor == 0.8
    assert lie.profile is None
    assert (overhead.ratio, overhead.base_load_w) == (1.34, 800.0)
    assert shift.shift_ns == -20 * 60 * 10**9
    assert {k for _, k, _ in s.in_process_only} >= {"facility[1].meter[1]", "timeline[2]", "timeline[3]"}
    assert not load_scenario(REPO / "scenarios" / "go-silent-to-train.toml").in_process_only


def test_world_unrolls_devices_duty_cycles_and_overhead_changes() -> None:
    from sim.world import DeviceWork, node_work, overhead_points

    node = "[[facility.node]]\nname = \"n00\"\nundeclared_devices = 2\nreports_undeclared = false\n"
    timeline = (
        "[[timeline]]\ndo = \"profile\"\ntarget = \"fac-b/n00\"\nprofile = \"training\"\ndevices = 2\n"
        "power_limit_w = 350\nevery = \"60s\"\non = \"30s\"\nfrom = \"0h\"\nto = \"2m\"\n"
        "[[timeline]]\ndo = \"lie\"\ntarget = \"fac-b/n00\"\nprofile = \"training\"\nreports = \"idle\"\n"
        "devices = \"undeclared\"\nfrom = \"0h\"\nto = \"1h\"\n"
        "[[timeline]]\ndo = \"overhead\"\ntarget = \"fac-b\"\nratio = 1.3\nfrom = \"1h\"\nto = \"2h\"\n"
        "[[timeline]]\ndo = \"overhead\"\ntarget = \"fac-b\"\nbase_load_w = 900\nat = \"3h\"\n"
    )
    s = parse_scenario(_with(node, timeline), "ok.toml")
    fac = s.facility("fac-b")
    work = node_work(s, fac, fac.node("n00"))
    assert len(work.true) == 6
    capped = DeviceWork("training", 350.0)
    idle = DeviceWork("idle")
    sec = 10**9
    assert work.true[0] == ((0, capped), (30 * sec, idle), (60 * sec, capped), (90 * sec, idle))
    assert work.reported[0] == work.true[0]
    assert work.true[2] == ((0, idle),)
    assert work.true[4] == ((0, DeviceWork("training")), (3600 * sec, idle))
    assert work.reported[4] == ((0, idle),)
    ratio, base = overhead_points(s, fac)
    assert ratio == [(0, 1.25), (3600 * sec, 1.25), (7200 * sec, 1.3)]
    assert base == [(0, 0.0), (3 * 3600 * sec, 0.0), (3 * 3600 * sec, 900.0)]


def test_simulated_meter_reads_scope_times_overhead_share_error_and_lie() -> None:
    from attestor.sources.simulator import (
        Ramp,
        SimulatedDeviceSource,
        SimulatedMeterSource,
        WorkloadProfile,
    )

    burn = WorkloadProfile.named("burn-in", power_limit_w=350.0)
    node = SimulatedDeviceSource("x-n00", 4, burn, reported_devices=2, replacements=[(10 * 10**9, 1)])
    powers = node.node_power_w(5 * 10**9)
    assert len(powers) == 4
    assert all(340.0 < p <= 350.0 for p in powers)
    before, after = node.sample(5 * 10**9), node.sample(15 * 10**9)
    assert len(before.devices) == 2
    assert before.devices[0].power_limit_w == 350.0
    assert before.devices[1].uuid != after.devices[1].uuid
    assert before.devices[0].uuid == after.devices[0].uuid
    assert node.inventory(15 * 10**9, 2)[1][0] == after.devices[1].uuid
    meter = SimulatedMeterSource(
        "m", [node], overhead_at=Ramp(((0, 1.2), (100, 1.2), (100, 1.5))), base_at=Ramp.constant(1000.0),
        share=0.5, error=0.01, factor_at=Ramp(((0, 1.0), (50, 1.0), (50, 0.8), (80, 0.8), (80, 1.0))),
    )
    for t, overhead, factor in ((10, 1.2, 1.0), (60, 1.2, 0.8), (90, 1.2, 1.0), (200, 1.5, 1.0)):
        truth = sum(node.node_power_w(t)) * overhead + 1000.0
        got = meter.sample(t).devices[0].power_w
        assert got == pytest.approx(truth * 0.5 * 1.01 * factor)
    off = SimulatedDeviceSource("x-n01", 2, WorkloadProfile.named("off"))
    assert off.node_power_w(0) == [0.0, 0.0]


def test_commitment_level_expectation_in_a_one_facility_story() -> None:
    # "" asks for the commitment-level verdict, which only a commitment over two or more
    # facilities has: refused when the story is parsed, not after the run waited for it
    one = (REPO / "scenarios" / "train-beside-server.toml").read_text()
    text = one.replace('facility = "fac-a"\nbucket = "0h"', 'facility = ""\nbucket = "0h"', 1)
    e = _error(text)
    assert e.key == "expect[0].facility"
    assert "two or more facilities" in e.problem
    assert e.line == _line_of(text, 'facility = ""')
    # in a story of two facilities it stands
    assert parse_scenario(BASE.replace('facility = "fac-a"', 'facility = ""', 1), "ok.toml").expectations


@pytest.mark.parametrize(
    ("facility", "key", "needle", "problem"),
    [
        ("overhead = [1.0, 3.0]\n", "facility[1].overhead", "overhead = [1.0, 3.0]", "3.0 is outside the bounds 1.0 … 1.6 of the commitment"),
        ("fixed_load_w = 500\n", "facility[1].fixed_load_w", "fixed_load_w = 500", "500 W is above the bound 0 W of the commitment"),
        ("[[facility.meter]]\nname = \"intake\"\naccuracy = 0.05\n", "facility[1].meter[0].accuracy",
         "accuracy = 0.05", "0.05 is above the bound 0.01 of the commitment"),
    ],
)  # fmt: skip
def test_a_declaration_beyond_the_commitments_tolerances_is_refused_at_its_line(
    facility: str, key: str, needle: str, problem: str
) -> None:
    """What the verifier would refuse at submission (a band wider than the commitment allows, a
    fixed load above its bound, a meter declared looser than its ``max_meter_accuracy``) is a
    scenario error at its line, not a traceback from the run."""
    text = _with(facility, "[commitment.tolerances]\nmax_meter_accuracy = 0.01\n")
    e = _error(text)
    assert e.key == key, e
    assert e.line == _line_of(text, needle), e
    assert problem in str(e), e


@pytest.mark.parametrize(
    ("drop", "why"),
    [
        ('["n09"]', "'n09' is no declared node of fac-b"),
        ('"n01"', "a list of declared node names"),
        ("[]", "a list of declared node names"),
        ('["n00", "n01", "n02"]', "leaves an inventory of none"),
    ],
)
def test_an_inventory_entry_drops_only_some_declared_nodes(drop: str, why: str) -> None:
    entry = f'\n[[timeline]]\ndo = "inventory"\ntarget = "fac-b"\nat = "90m"\ndrop = {drop}\n'
    e = _error(BASE + entry)
    assert e.key is not None
    assert e.key.endswith(".drop")
    assert why in str(e)


def test_an_inventory_entry_that_drops_a_node_declares_it_no_more() -> None:
    entry = '\n[[timeline]]\ndo = "inventory"\ntarget = "fac-b"\nat = "90m"\ndrop = ["n01"]\n'
    s = parse_scenario(BASE + entry, "drop.toml")
    assert s.declared("fac-b", 0).dropped == frozenset()
    assert s.declared("fac-b", 90 * 60 * 10**9).dropped == {"n01"}
