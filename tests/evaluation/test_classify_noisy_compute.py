"""Training whose compute phase is not flat at the sampling rate: small models on a few consumer
or workstation GPUs, sub-second steps (a power dip every fraction of a second, which 1-Hz samples
catch at random), and a short stall every few steps (an optimiser step after gradient
accumulation, a log line, a data refill).

The shape is the one public 2-GPU TITAN X logs of a 125M-parameter GPT run show (nvidia-smi every
100 ms, github.com/grantwilkins/training_profile, ``titanx-traces/``; not copied here): ~10 s of
compute at ~65-75 % of the 250-W board, with dips every ~0.4 s, then ~3 s at ~38 %, over and
over, both GPUs together. One-second samples of the compute phase spread over ±10 % of its level,
so its max sits well above the level and the stall test's "two flat levels, not a spread"
(variance against (mean − min)(max − mean) ≥ ``TWO_LEVEL_MIN``, 0.6) reads 0.35-0.5: not one
stall counts, and such a run is ``uncertain`` (INCONCLUSIVE) throughout — never proof.

A bound of 0.4 where the lockstep devices repeat at one step period caught 8 of these 9 runs
within eleven periods (48 % of their periods, causally), and was tried and withdrawn: a red team
of honest lockstep jobs that repeat at one period with a short low phase — diffusion image
batches, embedding batch jobs, multi-GPU frame rendering, HPC steps with periodic output,
benchmark loops — found 13-23 of 80 random variants of each newly ``training`` (per-GPU noise
0.5-4 % a sample; their flat versions already were: ``docs/classify.md``, "Known blind
spots"). Those
shapes are training's in power; evidence that honest work shares is no evidence. So this
training stays INCONCLUSIVE, the miss pinned below as a strict xfail.
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
from tests.evaluation.test_classify_redteam import PROOF, classes

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
    # why no stall of this run counts: the two-level readings of its periods
    text = syn.render(titan_run(300.0), interval_s=0.1)
    periods = period_signals(gpu_trace_samples(parse_gpu_csv(text, "t.csv", 2), f"NVIDIA {MODEL}"))
    two_levels = [
        d.two_level for p in periods[1:] for d in workload._period(p).devices if d.two_level is not None
    ]
    assert two_levels
    assert max(two_levels) < workload.TWO_LEVEL_MIN, two_levels
    assert min(two_levels) >= 0.3, two_levels


RUNS = [(every_s, stall_s, seed) for every_s, stall_s in ((13.3, 3.1), (10.0, 3.0), (20.0, 5.0)) for seed in (1, 2, 3)]


@functools.cache
def _run_labels(every_s: float, stall_s: float, seed: int) -> tuple[str, ...]:
    return tuple(_labels(titan_run(ckpt_every_s=every_s, stall_s=stall_s, seed=seed)))


@pytest.mark.parametrize(("every_s", "stall_s", "seed"), RUNS)
def test_two_gpu_training_with_short_stalls_and_noisy_compute_is_never_proof(
    every_s: float, stall_s: float, seed: int
) -> None:
    labels = _run_labels(every_s, stall_s, seed)
    assert not PROOF & set(labels), labels


@pytest.mark.xfail(
    strict=True,
    reason="MISS (by choice): small-model training whose compute phase spreads at 1 Hz "
    "(sub-second steps) with a 3-5-s stall every 10-20 s reads two-level 0.35-0.5 < "
    "TWO_LEVEL_MIN 0.6: uncertain throughout. A 0.4 bound under a step rhythm caught 8 of 9 "
    "and turned 13-23 of 80 honest lockstep batch jobs each (diffusion, embedding, rendering, "
    "HPC, benchmark loops) into training: withdrawn",
)
def test_most_such_runs_are_caught_within_eleven_minutes() -> None:
    runs = [_run_labels(*r) for r in RUNS]
    caught = [r for r in runs if "training" in r[:11]]
    assert len(caught) >= 8, runs


def test_the_same_run_with_its_stalls_filled_is_never_training_and_never_proof() -> None:
    # the twin on the other side: a filler load in the stalls (``--enable_ckpt_burn`` in the
    # same public repository) leaves flat lockstep compute, which serving looks like too
    labels = _labels(titan_run(ckpt_every_s=None))
    assert set(labels) == {"uncertain"}, labels


def test_the_same_compute_with_irregular_stalls_is_never_training_and_never_proof() -> None:
    # the shape with stalls 8-40 s apart, as a lockstep server's lulls come
    rng = random.Random(7)
    parts = []
    for _ in range(60):
        parts.append(titan_run(rng.uniform(5.0, 37.0), ckpt_every_s=None, seed=rng.randrange(1000)))
        parts.append(titan_run(3.0, ckpt_every_s=3.1, stall_s=3.1, seed=rng.randrange(1000)))
    labels = _labels(syn.concat(*parts))
    assert "training" not in labels, labels
    assert not PROOF & set(labels), labels
