"""Honest fleets the rules still call violators, kept as strict xfails: each names the library
scenario it varies and the parameter at which it fails, so that a fix turns it into an XPASS
(and the marker must then go). Found by a red team (2026-12-06); docs/classify.md says why."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sim.runner import run_scenario
from sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
VIOLATION = "VIOLATION"


@pytest.mark.parametrize(
    ("seed", "every"),
    [
        # with the library's seed (401) the library runs it; at +-12 % (rules/7) seeds 1, 2, 6
        # and 8 of 1-11 were VIOLATION: the traffic resumed within 12 % of the level it left
        (1, "30m"),
        (2, "30m"),
        pytest.param(
            401,
            "10m",
            marks=pytest.mark.xfail(
                strict=True,
                reason="FALSE VIOLATION: tensor-parallel serving drained 30 s every 10 min is "
                "training: two lulls inside one 10-minute context at the server's level (+-12 %) "
                "are two checkpoint stalls in power (every 5 or 7 min too); the history's "
                "8 % (HISTORY_LEVEL_AGREE) ended the half-hourly case only",
            ),
        ),
    ],
)
def test_tensor_parallel_serving_with_regular_drains_is_never_a_violation(seed: int, every: str) -> None:
    scenario = load_scenario(REPO / "scenarios" / "tp-inference-half-hourly-drain.toml")
    period_s = {"30m": 1800, "10m": 600}[every]
    timeline = tuple(
        dataclasses.replace(t, every_ns=period_s * 1_000_000_000, on_ns=(period_s - 30) * 1_000_000_000)
        for t in scenario.timeline
    )
    result = run_scenario(dataclasses.replace(scenario, seed=seed, timeline=timeline))
    assert VIOLATION not in [v.status for v in result.verdicts]
