"""The scenario format rejects bad input with the file, the line and the key."""

from __future__ import annotations

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
    e = _error(BASE.replace("end = 2026-04-01T00:00:00Z", "end = 2026-03-02T01:00:00Z", 1))
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
