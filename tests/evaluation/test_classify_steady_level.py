"""Stall/compute alternation is training only where the job computes at one steady level.

A training loop computes at one level between its checkpoints (the real 8×H100 run's per-minute
maxima: a coefficient of variation of 1.2 %); a tensor-parallel server drained for seconds on a
schedule resumes wherever its traffic sets it. Before rules/11, two such drains in one
10-minute context at levels within ±12 % were two checkpoints, and the server a violator at
nearly every seed and cadence (``tests/sim/test_known_false_violations.py``). Now the job's
computing levels in the context must vary by at most ``LEVEL_STEADY_CV`` (2 %), and a job
carries its class forward only within ``CARRY_LEVEL_AGREE`` (±6 %) of its level.

Each case beside its twin just inside the rule, which is still training. The server is the flat
lockstep job of ``test_classify_lulls`` (82 % of the limit, 8 GPUs, one sample a second), drained
to idle for 40 s twice; its level each minute is scaled by the factors given.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import pytest

from pausewatch.evaluation import workload
from tests.evaluation import synthetic_traces as syn
from tests.evaluation.test_classify_lulls import PROOF, _labels, _lull, _periods, _server

LULLS = ((280, 320), (580, 620))


def _scaled(trace: syn.Trace, factors: Sequence[float], lulls: Sequence[tuple[int, int]] = LULLS) -> syn.Trace:
    """``trace`` with its power in minute k (outside the lulls) times ``factors[k % len]``."""
    for s, row in enumerate(trace.power):
        if any(a <= s < b for a, b in lulls):
            continue
        f = factors[(s // 60) % len(factors)]
        trace.power[s] = [w * f for w in row]
    return trace


def _drained(factors: Sequence[float], seconds: int = 1200) -> list[str]:
    t = _server(seconds)
    for a, b in LULLS:
        _lull(t, a, b)
    return _labels(_periods(_scaled(t, factors)))


def _cv(factors: Sequence[float]) -> float:
    return statistics.pstdev(factors) / statistics.mean(factors)


# minute by minute: traffic that moves ±4-6 % (CV 3.7 %) against a loop that wobbles ±2 % (CV
# 1.8 %, more than the real run's 1.2 %): the one well over the 2 % bound, the other just under it
MOVING = (1.0, 0.95, 1.04, 0.97, 1.05, 0.96, 1.03, 0.94, 1.02, 0.99)
STEADY = (1.0, 0.98, 1.02, 0.98, 1.02, 0.98, 1.02, 0.98, 1.02, 1.0)


def test_the_cases_sit_either_side_of_the_bound() -> None:
    assert _cv(MOVING) > 1.5 * workload.LEVEL_STEADY_CV
    assert 0.8 * workload.LEVEL_STEADY_CV < _cv(STEADY) < workload.LEVEL_STEADY_CV


def test_two_drains_of_a_server_whose_level_moves_between_them_are_not_training() -> None:
    labels = _drained(MOVING)
    assert "training" not in labels, labels
    assert not PROOF & set(labels), "lockstep compute is never proof of serving either"


def test_two_stalls_of_a_job_at_one_steady_level_are_training() -> None:
    assert "training" in _drained(STEADY)


def test_a_single_trickle_in_a_lull_is_no_compute_level() -> None:
    # the lulls' own periods (idle, or a trickle at 13 %) are below COMPUTE_MIN and left out of
    # the steadiness: the job is still training
    t = _server(1200)
    for a, b in LULLS:
        _lull(t, a, b, level=0.13, util=10.0)
    assert "training" in _labels(_periods(_scaled(t, STEADY)))


@pytest.mark.parametrize(("step", "carried"), [(1.04, True), (1.09, False)])
def test_the_carry_holds_a_job_to_its_level(step: float, carried: bool) -> None:
    # training evidence from two steady stalls, then 20 minutes of flat compute at ``step`` x
    # the level (no stall: only the carry can call it training)
    t = _server(2400)
    for a, b in LULLS:
        _lull(t, a, b)
    for s in range(900, 2400):
        t.power[s] = [w * step for w in t.power[s]]
    labels = _labels(_periods(t))
    after = labels[16:]  # from the period after the context that held the stalls
    if carried:
        assert set(after) == {"training"}, after
    else:
        assert "training" not in after, after
        assert not PROOF & set(after), after
