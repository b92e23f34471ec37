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


def statuses(name: str, **changes: object) -> list[str]:
    scenario = dataclasses.replace(load_scenario(REPO / "scenarios" / name), **changes)
    return [v.status for v in run_scenario(scenario).verdicts]


@pytest.mark.parametrize(
    "seed",
    [
        401,  # the library's own seed
        pytest.param(
            1,
            marks=pytest.mark.xfail(
                strict=True,
                reason="FALSE VIOLATION: tensor-parallel serving drained 30 s every half hour is "
                "training (workload.training CRITICAL) wherever the traffic resumes within "
                "LEVEL_AGREE (12 %) of the level it left: two lulls of one job at one level are "
                "two checkpoint stalls in power (seeds 1, 2, 6, 8 of 1-11; a drain every 10-15 "
                "min nearly always). The library twin passes on its seed",
            ),
        ),
    ],
)
def test_tensor_parallel_serving_with_half_hourly_drains_is_never_a_violation(seed: int) -> None:
    assert VIOLATION not in statuses("tp-inference-half-hourly-drain.toml", seed=seed)
