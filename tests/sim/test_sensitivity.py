"""The sensitivity sweep (``make sensitivity``) runs, at a tiny size, through the evaluation's rules."""

from __future__ import annotations

import json

import pytest

from sim.sensitivity import main


def test_quick_sweep_prints_a_table_of_every_signal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--trials", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["rows"]
    assert len(rows) == 9
    for row in rows:
        assert row["band_false_alarm"] == 0.0  # nothing hidden: the rule never fires
        assert row["band_min_accelerators"] is None or row["band_min_accelerators"] >= 1
    small = next(r for r in rows if r["nodes"] == 8 and r["accuracy"] == 0.01)
    assert small["band_min_accelerators"] is not None


def test_bad_trials_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--trials", "1"]) == 2
    assert "at least 4" in capsys.readouterr().err
