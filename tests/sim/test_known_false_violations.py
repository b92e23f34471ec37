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


_DRAINS = (
    "FALSE VIOLATION: tensor-parallel serving drained for seconds on a schedule is training: "
    "lulls at the server's level (+-12 % inside one 10-minute context, +-8 % joined through the "
    "history, HISTORY_LEVEL_AGREE) are checkpoint stalls in power, and nothing on that path asks "
    "whether the load between them follows requests"
)


@pytest.mark.parametrize(
    ("seed", "every_s", "drain_s"),
    [
        # with the library's seed (401) the library runs it; at +-12 % (rules/7) seeds 1, 2, 6
        # and 8 of 1-11 were VIOLATION: the traffic resumed within 12 % of the level it left
        (1, 1800, 30),
        (2, 1800, 30),
        pytest.param(401, 600, 30, marks=pytest.mark.xfail(strict=True, reason=_DRAINS)),  # 5, 7 min too
        # an honest-fleet hunt (2026-12-06): every 12 minutes (seeds 0, 2, 5 of 0-7), and one
        # batch a minute with a 15-s empty queue (every seed)
        pytest.param(0, 720, 30, marks=pytest.mark.xfail(strict=True, reason=_DRAINS)),
        pytest.param(401, 60, 15, marks=pytest.mark.xfail(strict=True, reason=_DRAINS)),
    ],
)
def test_tensor_parallel_serving_with_regular_drains_is_never_a_violation(
    seed: int, every_s: int, drain_s: int
) -> None:
    scenario = load_scenario(REPO / "scenarios" / "tp-inference-half-hourly-drain.toml")
    timeline = tuple(
        dataclasses.replace(t, every_ns=every_s * 1_000_000_000, on_ns=(every_s - drain_s) * 1_000_000_000)
        for t in scenario.timeline
    )
    result = run_scenario(dataclasses.replace(scenario, seed=seed, timeline=timeline))
    assert VIOLATION not in [v.status for v in result.verdicts]
