"""Training whose compute phase is not flat at the sampling rate: small models on a few consumer
or workstation GPUs, sub-second steps (a power dip every fraction of a second, which 1-Hz samples
catch at random), and a short stall every few steps (an optimiser step after gradient
accumulation, a log line, a data refill).

The shape is the one public 2-GPU TITAN X logs of a 125M-parameter GPT run show (nvidia-smi every
100 ms, github.com/grantwilkins/training_profile, ``titanx-traces/``; not copied here): ~10 s of
compute at ~65-75 % of the 250-W board, with dips every ~0.4 s, then ~3 s at ~38 %, over and
over, both GPUs together. One-second samples of the compute phase spread over ±10 % of its level,
so its max sits well above the level and the two-level test (variance against
(mean − min)(max − mean)) reads 0.4-0.55 where a flat compute phase reads 0.8-1: under
``TWO_LEVEL_MIN`` (0.6), not one stall counted, and a 15-minute run was ``uncertain`` throughout.

Where the period's lockstep devices repeat at one step period (``rhythm_s``: autocorrelation at
least ``RHYTHM_MIN`` at a lag of 2-30 s), the signal is a repeating two-phase pattern rather than
a spread of request sizes, and the test asks for ``TWO_LEVEL_RHYTHM_MIN`` (0.4) instead. Every
other condition of a stall (the swing, the stall's depth, the compute level, the time at each
level) and of the signature (two events, resumed at the job's level) is unchanged.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest

from pausewatch.evaluation import workload
from sim.classify import gpu_trace_samples, period_signals
from sim.traces import parse_gpu_csv
from tests.evaluation import synthetic_traces as syn
from tests.evaluation.test_classify_redteam import PROOF, classes, first_training

MODEL = "TITAN X (Pascal)"


def titan_run(seconds: float = 900.0, **shape: Any) -> syn.Trace:
    """Two 250-W boards, 100-ms rows: steps of 0.42 s (a quarter of each at 60 % of the board,
    the rest at 69 %), per-row noise of 4.5 %, and a 3.1-s stall at 38 % every 13.3 s."""
    base: dict[str, Any] = {
        "dt": 0.1,
        "board_w": 250.0,
        "step_s": 0.42,
        "compute": 0.69,
        "dip": 0.6,
        "dip_share": 0.25,
        "ckpt_every_s": 13.3,
        "stall_s": 3.1,
        "stall_level": 0.38,
        "noise_gpu": 0.045,
        "memory_mib": 8157.0,
        "seed": 3,
    }
    return syn.lockstep_job(seconds, 2, **(base | shape))


def _labels(trace: syn.Trace) -> list[str]:
    return classes(trace, model=MODEL, dt=0.1)


def test_the_noisy_compute_phase_reads_under_the_flat_two_level_bound() -> None:
    # the premise: without the rhythm's bound no stall of this run would count
    assert workload.TWO_LEVEL_RHYTHM_MIN < workload.TWO_LEVEL_MIN
    text = syn.render(titan_run(300.0), interval_s=0.1)
    periods = period_signals(gpu_trace_samples(parse_gpu_csv(text, "t.csv", 2), f"NVIDIA {MODEL}"))
    two_levels = [
        d.two_level for p in periods[1:] for d in workload._period(p).devices if d.two_level is not None
    ]
    assert two_levels
    assert max(two_levels) < workload.TWO_LEVEL_MIN, two_levels
    assert min(two_levels) >= workload.TWO_LEVEL_RHYTHM_MIN - 0.05, two_levels


RUNS = [(every_s, stall_s, seed) for every_s, stall_s in ((13.3, 3.1), (10.0, 3.0), (20.0, 5.0)) for seed in (1, 2, 3)]


@functools.cache
def _run_labels(every_s: float, stall_s: float, seed: int) -> tuple[str, ...]:
    return tuple(_labels(titan_run(ckpt_every_s=every_s, stall_s=stall_s, seed=seed)))


@pytest.mark.parametrize(("every_s", "stall_s", "seed"), RUNS)
def test_two_gpu_training_with_short_stalls_and_noisy_compute_is_never_proof_and_stays_caught(
    every_s: float, stall_s: float, seed: int
) -> None:
    labels = _run_labels(every_s, stall_s, seed)
    assert not PROOF & set(labels), labels
    first = first_training(list(labels))
    if first is not None:  # once caught, the job carry keeps it so to the run's end
        assert all(x == "training" for x in labels[first:]), labels


def test_most_such_runs_are_caught_within_eleven_minutes() -> None:
    # Measured: 8 of the 9 runs are training from period 10 at the latest (counting from 0),
    # five of them from period 5 or 6; 65 of their 135 periods (48 %), causally (none before
    # the rhythm's bound). The ninth (10-s cycle, seed 3)
    # shows stalls in 3 of its first 5 periods and none after: its two-level readings sit at
    # 0.39-0.45 and its upper level under the 12 % the stall test keeps (a prefill spike's
    # bound), so it stays uncertain, never proof.
    runs = [_run_labels(*r) for r in RUNS]
    caught = [r for r in runs if "training" in r[:11]]
    assert len(caught) >= 8, runs
    share = sum(r.count("training") for r in runs) / sum(len(r) for r in runs)
    assert share >= 0.4, share


def test_the_same_run_with_its_stalls_filled_is_never_training_and_never_proof() -> None:
    # the twin on the other side: a filler load in the stalls (``--enable_ckpt_burn`` in the
    # same public repository) leaves flat lockstep compute, which serving looks like too
    labels = _labels(titan_run(ckpt_every_s=None))
    assert set(labels) == {"uncertain"}, labels


def test_stalls_that_do_not_repeat_at_one_period_keep_the_flat_bound() -> None:
    # without a rhythm the noisy compute phase is a spread again: irregular stalls 8-40 s apart
    # (a lockstep server's lulls) count under the 0.6 bound only, and none does here
    rng = random.Random(7)
    parts = []
    for _ in range(60):
        parts.append(titan_run(rng.uniform(5.0, 37.0), ckpt_every_s=None, seed=rng.randrange(1000)))
        parts.append(titan_run(3.0, ckpt_every_s=3.1, stall_s=3.1, seed=rng.randrange(1000)))
    labels = _labels(syn.concat(*parts))
    assert "training" not in labels, labels
    assert not PROOF & set(labels), labels
