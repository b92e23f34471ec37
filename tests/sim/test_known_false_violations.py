"""Honest fleets the rules called violators: a tensor-parallel server drained for seconds on a
schedule, the library's ``tp-inference-half-hourly-drain`` varied in seed and cadence. Found by
red teams (2026-12-06); each was VIOLATION until the rules named beside it, and a case the rules
still call a violator is kept here as a strict xfail, naming the parameter at which it fails.
docs/classify.md says why. And scenarios under ``false_violations/``: honest stories the rules
still call violators (docs/detection.md says why): a meter and the attestors on opposite sides of
the clock skew."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.runner import run_scenario
from sim.scenario import load_scenario
from tests.sim.known import strict_xfails
from tools import drain_sweep

VIOLATION = "VIOLATION"


_STEADY = (
    "FALSE VIOLATION: a tensor-parallel server whose traffic holds within 2 % (LEVEL_STEADY_CV) "
    "for ten minutes, drained twice in them, is a training loop stalling for checkpoints in power"
)


@pytest.mark.parametrize(
    ("seed", "every_s", "drain_s"),
    [
        # until rules/11 (a job's computing levels steady within LEVEL_STEADY_CV, its carry
        # within CARRY_LEVEL_AGREE and ended by a context of drains at unsteady levels), each of
        # these was VIOLATION; over seeds 0-5 and 401 at each cadence, 113 of 168 hours were
        # (every hour at 1, 2 and 5 minutes), none now. The library runs 10 minutes at seed 401
        # (scenarios/tp-inference-ten-minute-drains-honest.toml).
        (0, 720, 30),
        (3, 300, 30),
        (1, 120, 20),
        (401, 60, 15),
        # held out from the shaping of rules/11: 13 of 120 hours still VIOLATION (seeds 6-11,
        # five cadences), where the traffic held within 2 % for ten minutes
        pytest.param(10, 120, 45, marks=pytest.mark.xfail(strict=True, reason=_STEADY)),
    ],
)
def test_tensor_parallel_serving_with_regular_drains_is_never_a_violation(
    seed: int, every_s: int, drain_s: int
) -> None:
    # the run tools/drain_sweep.py makes for the figures in docs/classify.md
    _, statuses = drain_sweep.run_drained((seed, every_s, drain_s))
    assert len(statuses) == 4
    assert VIOLATION not in statuses


def test_the_sweep_prints_its_counts(capsys: pytest.CaptureFixture[str]) -> None:
    # with the library's seed (401) the library runs it; at +-12 % (rules/7) seeds 1, 2, 6 and 8
    # of 1-11 were VIOLATION: the traffic resumed within 12 % of the level it left
    assert drain_sweep.main(["--seeds", "1", "--every", "1800:30", "--jobs", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["1800:30"]["buckets"] == 4
    assert out["1800:30"]["violation_buckets"] == 0
    with pytest.raises(SystemExit):
        drain_sweep.main(["--seeds", "1", "--every", "30:60"])  # a drain longer than its cadence


FALSE_VIOLATIONS = Path(__file__).resolve().parent / "false_violations"


WHY = {
    "clocks-opposite-90s-load-before-edge-honest.toml": (
        "a meter and the attestors each inside the 120-s clock skew, 180 s apart, and a load step"
        " 3 minutes before a 15-minute edge: the interior is read at alignments within EDGE_SKEW_S"
        " (120 s) only"
    ),
}


@pytest.mark.parametrize("name", strict_xfails(FALSE_VIOLATIONS, "FALSE VIOLATION", WHY))
def test_a_known_false_violation_is_still_one(name: str) -> None:
    result = run_scenario(load_scenario(FALSE_VIOLATIONS / name))
    assert VIOLATION not in {v.status for v in result.verdicts}
