"""``do = "inventory"`` declaring new values (``fixed_load_w``, ``min_ratio``/``max_ratio``,
``accuracy``): parsed strictly (file, line, key), and written by the fleet into every version
issued at or after the entry, never into one before it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pausewatch.inventory import DEFAULT_METER_ACCURACY, Inventory
from sim.fleet import SimulatedFleet
from sim.runner import run_scenario
from sim.scenario import Action, Declared, DeclaredChange, ScenarioError, parse_scenario
from sim.world import overhead_points, plan

REPO = Path(__file__).resolve().parents[2]
BASE = (REPO / "scenarios" / "go-silent-to-train.toml").read_text()
MIN = 60 * 10**9
TOLERANCES = "[commitment.tolerances]\nmax_fixed_load_w = 2000\nmax_meter_accuracy = 0.02\n"
METERS = "[[facility.meter]]\nname = \"intake\"\naccuracy = 0.005\n[[facility.meter]]\nname = \"m1\"\n"


def _with(timeline: str, *, tolerances: str = TOLERANCES, facility: str = "") -> str:
    """BASE (fac-a, then fac-b: 3 nodes × 4, band [1.1, 1.4], no fixed load) with lines added
    to fac-b, to the timeline (entries 2, 3, …) and the commitment's tolerances."""
    text = BASE.replace("\n[commitment]\n", f"\n{facility}\n[commitment]\n", 1)
    return text + "\n" + timeline + "\n" + tolerances


def _inventory(at: str, extra: str = "", target: str = "fac-b") -> str:
    return f"[[timeline]]\ndo = \"inventory\"\ntarget = \"{target}\"\nat = \"{at}\"\n{extra}"


def _line_of(text: str, needle: str) -> int:
    """The last line that is ``needle`` (added entries come after the library's own)."""
    return max(i for i, line in enumerate(text.splitlines(), start=1) if line.strip() == needle)


def test_the_keys_parse_into_the_entry_and_are_optional() -> None:
    s = parse_scenario(_with(
        _inventory("1h", "fixed_load_w = 300\nmin_ratio = 1.2\nmax_ratio = 1.5\naccuracy = 0.005\n")
        + _inventory("2h", "max_ratio = 1.45\n") + _inventory("3h")
    ), "ok.toml")
    first, second, third = (e for e in s.timeline if e.action is Action.INVENTORY)
    assert first.declares == DeclaredChange(fixed_load_w=300.0, min_ratio=1.2, max_ratio=1.5, accuracy=0.005)
    assert second.declares == DeclaredChange(max_ratio=1.45)
    assert third.declares == DeclaredChange()
    assert not third.declares
    assert s.declared("fac-b", 60 * MIN - 1) == Declared((1.1, 1.4), 0.0, None)
    assert s.declared("fac-b", 60 * MIN) == Declared((1.2, 1.5), 300.0, 0.005)
    assert s.declared("fac-b", 200 * MIN) == Declared((1.2, 1.45), 300.0, 0.005)
    assert s.declared("fac-a", 200 * MIN) == Declared((1.1, 1.4), 0.0, None)


@pytest.mark.parametrize(
    ("timeline", "tolerances", "key", "needle", "problem"),
    [
        # only `inventory` takes them
        ("[[timeline]]\ndo = \"overhead\"\ntarget = \"fac-b\"\nratio = 1.3\nfixed_load_w = 100\nat = \"1h\"\n",
         TOLERANCES, "timeline[2].fixed_load_w", "fixed_load_w = 100", "unknown key for do = \"overhead\""),
        ("[[timeline]]\ndo = \"replace\"\ntarget = \"fac-b/n00\"\naccuracy = 0.01\nat = \"1h\"\n",
         TOLERANCES, "timeline[2].accuracy", "accuracy = 0.01", "unknown key for do = \"replace\""),
        ("[[timeline]]\ndo = \"restart\"\ntarget = \"fac-b/n00\"\nmin_ratio = 1.2\nat = \"1h\"\n",
         TOLERANCES, "timeline[2].min_ratio", "min_ratio = 1.2", "unknown key for do = \"restart\""),
        ("[[timeline]]\ndo = \"profile\"\ntarget = \"fac-b/n00\"\nprofile = \"idle\"\nmax_ratio = 1.2\n"
         "from = \"1h\"\nto = \"2h\"\n", TOLERANCES, "timeline[2].max_ratio", "max_ratio = 1.2",
         "unknown key for do = \"profile\""),
        # out of range, as their [[facility]] counterparts
        (_inventory("1h", "fixed_load_w = -5\n"), TOLERANCES, "timeline[2].fixed_load_w", "fixed_load_w = -5",
         "-5 is out of range [0, "),
        (_inventory("1h", "fixed_load_w = 2e8\n"), TOLERANCES, "timeline[2].fixed_load_w", "fixed_load_w = 2e8",
         "is out of range [0, 100000000]"),
        (_inventory("1h", "fixed_load_w = \"lots\"\n"), TOLERANCES, "timeline[2].fixed_load_w", "fixed_load_w = \"lots\"",
         "must be a number"),
        (_inventory("1h", "min_ratio = 0.9\n"), TOLERANCES, "timeline[2].min_ratio", "min_ratio = 0.9",
         "0.9 is out of range [1, 3]"),
        (_inventory("1h", "max_ratio = 3.5\n"), TOLERANCES, "timeline[2].max_ratio", "max_ratio = 3.5",
         "3.5 is out of range [1, 3]"),
        (_inventory("1h", "min_ratio = 1.3\nmax_ratio = 1.2\n"), TOLERANCES, "timeline[2].max_ratio",
         "max_ratio = 1.2", "1.2 is below min_ratio = 1.3: a band needs 1.0 ≤ min ≤ max ≤ 3.0"),
        (_inventory("1h", "accuracy = 0\n"), TOLERANCES, "timeline[2].accuracy", "accuracy = 0",
         "must be positive (a fraction, e.g. 0.01)"),
        (_inventory("1h", "accuracy = 0.6\n"), TOLERANCES, "timeline[2].accuracy", "accuracy = 0.6",
         "0.6 is out of range [0, 0.5]"),
        # half a band against the other half in force: the facility's [1.1, 1.4] …
        (_inventory("1h", "min_ratio = 1.5\n"), TOLERANCES, "timeline[2].min_ratio", "min_ratio = 1.5",
         "1.5 is above the max_ratio in force (1.4): a band needs 1.0 ≤ min ≤ max ≤ 3.0"),
        (_inventory("1h", "max_ratio = 1.05\n"), TOLERANCES, "timeline[2].max_ratio", "max_ratio = 1.05",
         "1.05 is below the min_ratio in force (1.1): a band needs 1.0 ≤ min ≤ max ≤ 3.0"),
        # … or an earlier entry's, in time order whatever the file order
        (_inventory("2h", "max_ratio = 1.25\n") + _inventory("1h", "min_ratio = 1.3\nmax_ratio = 1.35\n"),
         TOLERANCES, "timeline[2].max_ratio", "max_ratio = 1.25",
         "1.25 is below the min_ratio in force (1.3)"),
        # what the verifier would refuse at submission (the commitment's tolerances)
        (_inventory("1h", "fixed_load_w = 500\n"), "", "timeline[2].fixed_load_w", "fixed_load_w = 500",
         "500 W is above the bound 0 W of the commitment (commitment.tolerances)"),
        (_inventory("1h", "fixed_load_w = 2500\n"), TOLERANCES, "timeline[2].fixed_load_w",
         "fixed_load_w = 2500", "2500 W is above the bound 2000 W of the commitment"),
        (_inventory("1h", "max_ratio = 1.7\n"), TOLERANCES, "timeline[2].max_ratio", "max_ratio = 1.7",
         "1.7 is outside the bounds 1.0 … 1.6 of the commitment (commitment.tolerances)"),
        (_inventory("1h", "min_ratio = 1.15\n"), TOLERANCES + "overhead_min_ratio = 1.05\n"
         "overhead_max_ratio = 1.5\n[[timeline]]\ndo = \"inventory\"\ntarget = \"fac-b\"\nat = \"2h\"\n"
         "min_ratio = 1.02\n", "timeline[3].min_ratio", "min_ratio = 1.02",
         "1.02 is outside the bounds 1.05 … 1.5 of the commitment"),
        (_inventory("1h", "accuracy = 0.03\n"), TOLERANCES, "timeline[2].accuracy", "accuracy = 0.03",
         "0.03 is above the bound 0.02 of the commitment (commitment.tolerances)"),
    ],
)  # fmt: skip
def test_a_bad_declaration_names_file_line_and_key(
    timeline: str, tolerances: str, key: str, needle: str, problem: str
) -> None:
    text = _with(timeline, tolerances=tolerances)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "bad.toml")
    e = info.value
    assert e.key == key, str(e)
    assert problem in e.problem, str(e)
    assert e.line == _line_of(text, needle), str(e)
    assert str(e).startswith(f"bad.toml:{e.line}: {key}: "), str(e)


def test_a_declaration_within_the_bounds_and_a_band_in_two_steps_parse() -> None:
    # min_ratio 1.45 alone would cross the facility's max 1.4; raised first, it makes a band
    parse_scenario(_with(_inventory("1h", "max_ratio = 1.6\n") + _inventory("2h", "min_ratio = 1.45\n")), "ok.toml")
    parse_scenario(_with(_inventory("1h", "fixed_load_w = 2000\naccuracy = 0.02\n")), "ok.toml")


def test_the_fleet_declares_the_new_values_from_the_entrys_version_on() -> None:
    s = parse_scenario(_with(
        _inventory("1h", "fixed_load_w = 300\nmin_ratio = 1.2\nmax_ratio = 1.5\naccuracy = 0.015\n")
        + _inventory("3h", "fixed_load_w = 0\n"),
        facility=METERS,
    ), "ok.toml")
    fleet = SimulatedFleet(s, plan(s))

    def version(offset_ns: int) -> Inventory:
        return Inventory.from_wire(fleet.inventory("fac-b", s.start_unix_ns + offset_ns))

    def says(inv: Inventory) -> tuple[float, float, float, tuple[float, ...]]:
        return inv.overhead_min, inv.overhead_max, inv.fixed_load_w, tuple(m.accuracy for m in inv.meters)

    own = (1.1, 1.4, 0.0, (0.005, DEFAULT_METER_ACCURACY))
    assert says(version(-s.period_ns)) == own            # version 1, before the story
    assert says(version(59 * MIN)) == own                # a version issued just before the entry
    v3 = version(60 * MIN)                               # issued at the entry
    assert v3.version == 3
    assert says(v3) == (1.2, 1.5, 300.0, (0.015, 0.015))
    assert says(version(150 * MIN)) == (1.2, 1.5, 300.0, (0.015, 0.015))  # kept by later versions
    assert says(version(180 * MIN)) == (1.2, 1.5, 0.0, (0.015, 0.015))    # until changed again
    other = Inventory.from_wire(fleet.inventory("fac-a", s.start_unix_ns + 200 * MIN))
    assert (other.overhead_min, other.overhead_max, other.fixed_load_w) == (1.1, 1.4, 0.0)
    # only the declaration: the truth the meters see is untouched
    fac = s.facility("fac-b")
    assert overhead_points(s, fac) == ([(0, fac.true_overhead)], [(0, fac.base_load_w)])


def test_the_verifier_accepts_the_new_version_in_a_run() -> None:
    """A version declaring new values within the tolerances is accepted (a refused one would
    end the run with the verifier's error) and the story still runs to its verdicts."""
    text = _with(_inventory("1h", "fixed_load_w = 100\nmin_ratio = 1.15\nmax_ratio = 1.45\naccuracy = 0.02\n"))
    text = text.replace('duration = "4h"', 'duration = "2h"', 1).replace('to = "3h"', 'to = "2h"')
    text = text.replace('from = "0h"\nto = "4h"', 'from = "0h"\nto = "2h"', 1)
    s = parse_scenario(text, "ok.toml")
    result = run_scenario(s)
    assert result.dispositions.get("rejected", 0) == 0
    assert {v.bucket_start_ns for v in result.verdicts if v.facility == "fac-b"} >= {0, 60 * MIN}
    assert result.ok, [(v.facility, v.bucket_start_ns, v.status, v.finding_ids) for v in result.verdicts]
