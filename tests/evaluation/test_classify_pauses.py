"""A run's start-up and its pauses are no proof: the two rules of
``pausewatch.evaluation.workload`` that say so, each with its honest twins and the evader at its
threshold, through the command's own path (``tests.evaluation.test_classify_redteam.classes``).

- *Model loading* (``_loading``): memory that grows by ``LOADING_BPS`` (240 MiB a minute) or more
  on a device whose power stays in the idle band is a model being loaded, for a server or for a
  training run alike: ``uncertain``, never ``idle`` or ``inference``; so is a minute in which a
  computing device that held less than a model's size (2 GiB) at its last reading holds a
  model's size more (loaded and started within the minute). Twins: a server that loads and then
  serves is ``inference`` again once it serves, and a load-then-serve cycle every hour costs
  only its loading minutes, one whichever second the load begins; a node idle with a model
  resident stays ``idle``; a serving footprint that breathes is no start-up.
- *A paused job* (``_paused_job``): a node quiet right after heavy compute, every device still
  holding that compute's memory, is a paused job (a blocking checkpoint, a data wait), not an
  idle node: ``uncertain`` for ``CARRY_GAP_S`` (5 min) after the compute. Twins: a node whose job
  ends and frees its memory is ``idle`` from its first quiet period; one that keeps the memory
  (a lingering process, a server whose traffic stops) is ``idle`` from the sixth minute.

Each evader just under a threshold is a strict ``xfail`` with the price it pays in its reason.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from pausewatch.evaluation.workload import CARRY_GAP_S, LOADING_BPS
from sim.classify import classify_samples, gpu_trace_samples
from sim.traces import parse_gpu_csv
from tests.evaluation import synthetic_traces as syn
from tests.evaluation.test_classify_redteam import PROOF, J, classes, train

FOOTPRINT_MIB = 41_000.0  # ``lockstep_job``'s default memory footprint
CONTEXT_MIB = 17.0  # a GPU with no CUDA context (``synthetic_traces.idle``)
LOADING_MIB_S = LOADING_BPS / 2**20
PAUSE_PERIODS = round(CARRY_GAP_S / 60)  # quiet periods after heavy compute that are no proof
FLAT: dict[str, Any] = {"dip": 0.82, "ckpt_every_s": None}  # flat compute, synchrony 0.58: no lockstep


def loading(
    seconds: int,
    gpus: int,
    *,
    footprint_mib: float = FOOTPRINT_MIB,
    from_mib: float = CONTEXT_MIB,
    rate_mib_s: float | None = None,
    busy: float = 10.0,
    seed: int = 0,
) -> syn.Trace:
    """A model being loaded: memory growing from ``from_mib`` to ``footprint_mib`` over
    ``seconds`` (or at ``rate_mib_s``, up to it), power in the idle band (10-15 % of 700 W),
    utilisation 0 … ``busy`` % (host-to-device copies do not count as kernel time; init kernels
    do), memory read to ±20 MiB."""
    rng = random.Random(seed)
    rate = rate_mib_s if rate_mib_s is not None else (footprint_mib - from_mib) / seconds
    t = syn.Trace([], [], [])
    for s in range(seconds):
        mem = min(footprint_mib, from_mib + rate * (s + 1))
        t.power.append([700.0 * (syn.IDLE + 0.05 * rng.random()) for _ in range(gpus)])
        t.util.append([busy * rng.random() for _ in range(gpus)])
        t.memory.append([mem + rng.choice((0.0, 20.0)) for _ in range(gpus)])
    return t


def quiet(seconds: int, gpus: int, *, memory_mib: float, seed: int = 0) -> syn.Trace:
    """Idle power, no kernels, ``memory_mib`` held (a paused job, or a process that lingers)."""
    t = syn.idle(seconds, gpus, seed=seed)
    return syn.Trace(t.power, t.util, [[memory_mib] * gpus for _ in range(seconds)])


def _pause(trace: syn.Trace, start: list[int], end: int, *, memory_mib: float | None = None) -> syn.Trace:
    """``trace`` with GPU g paused (idle power, no kernels) from ``start[g]`` to ``end`` s,
    holding ``memory_mib`` meanwhile where given (else its footprint)."""
    power = [row[:] for row in trace.power]
    util = [row[:] for row in trace.util]
    memory = [row[:] for row in trace.memory]
    for g, first in enumerate(start):
        for s in range(first, end):
            power[s][g] = 700.0 * syn.IDLE * (1.0 + 0.01 * (s % 3 - 1))
            util[s][g] = 0.0
            if memory_mib is not None:
                memory[s][g] = memory_mib
    return syn.Trace(power, util, memory, trace.limit_w)


# ================================================================================================
# Model loading
# ================================================================================================


@pytest.mark.parametrize("load_s", [30, 90, 300])
@pytest.mark.parametrize("busy", [0.0, 10.0])
def test_a_training_run_loading_its_model_is_never_proof(load_s: int, busy: float) -> None:
    # idle for two periods, then the load, then training: nothing proof from the load on
    trace = syn.concat(syn.idle(120, 8), loading(load_s, 8, busy=busy), train(600, 8))
    labels = classes(trace)
    assert labels[:2] == ["idle", "idle"], labels
    assert not PROOF & set(labels[2:]), labels
    assert "training" in labels, labels


@pytest.mark.parametrize(
    "rate_mib_s",
    [
        LOADING_MIB_S * 1.15,
        pytest.param(
            LOADING_MIB_S * 0.85,
            marks=pytest.mark.xfail(
                strict=True,
                reason="FALSE PROOF (the rule's threshold, by design): memory growing under "
                "LOADING_BPS (4 MiB/s, 240 MiB a minute) at idle power is not read as a load, "
                "so its minutes are idle or inference. The price: a 41-GiB footprint takes over "
                "2.8 h to load that way, minutes in which nothing computes; a real loader "
                "(disk, network) runs at hundreds of MiB/s",
            ),
        ),
    ],
)
def test_a_run_loading_its_model_slowly_is_never_proof(rate_mib_s: float) -> None:
    # 10 min of loading from a CUDA context (about 2.8 GiB at 1.15 x the threshold), then training
    trace = syn.concat(
        syn.idle(120, 8), loading(600, 8, rate_mib_s=rate_mib_s, footprint_mib=1e9), train(300, 8)
    )
    labels = classes(trace)
    assert not PROOF & set(labels[2:12]), labels


def test_a_server_loading_its_model_then_serving_is_inference_once_it_serves() -> None:
    trace = syn.concat(
        syn.idle(120, 4), loading(90, 4, footprint_mib=30_000.0), syn.request_inference(1200, 4)
    )
    labels = classes(trace)
    assert "training" not in labels, labels
    assert labels[:2] == ["idle", "idle"], labels
    # the load, 120-210 s: period 2 is no proof; period 3 holds its tail and serving, inference
    assert labels[2] == "uncertain", labels
    serving = labels[3:]
    assert serving.count("inference") >= len(serving) - 2, labels


def test_a_load_then_serve_cycle_every_hour_costs_only_its_loading_minutes() -> None:
    # each hour: the server stops (memory freed for 30 s), reloads in 90 s, serves for the rest
    hour = syn.concat(syn.idle(30, 4), loading(90, 4, footprint_mib=30_000.0), syn.request_inference(3480, 4))
    labels = classes(syn.concat(hour, hour))
    assert "training" not in labels, labels
    for start in (0, 60):
        cycle = labels[start : start + 60]
        # the reload, 30-120 s of the hour: period 1 is no proof. Period 0 is too in the first
        # hour (a model's footprint with nothing before it), but not in the second: memory is
        # each period's maximum, and 10 GiB reloaded after the 30-GiB server stopped reads as no
        # growth (a per-period minimum would show it)
        assert cycle[1] == "uncertain", (start, labels)
        assert cycle[2:].count("inference") >= 56, (start, labels)
    assert labels[0] == "uncertain", labels
    assert labels[60] == "idle", labels


@pytest.mark.parametrize("gpus", [1, 2, 8])
def test_a_job_that_loads_and_starts_within_a_minute_is_never_proof(gpus: int) -> None:
    # A CUDA context for two minutes, then 41 GiB loaded in 20 s and a light, bursty load at
    # once: the minute in which it started holds a model's worth of new memory on computing
    # devices. Two GPUs of the real 8 x H100 run (checkpoint every step, ~150 W) read as requests
    # in that minute before: a job's first minute is a server's too, so it proves neither.
    start = syn.concat(
        loading(20, gpus, footprint_mib=FOOTPRINT_MIB), syn.request_inference(40, gpus, seed=3)
    )
    labels = classes(syn.concat(syn.idle(120, gpus), start, syn.request_inference(600, gpus, seed=4)))
    assert labels[:2] == ["idle", "idle"], labels
    assert labels[2] == "uncertain", labels


@pytest.mark.parametrize(("load_s", "offset_s"), [(15, 0), (50, 30), (20, 50), (10, 55)])
def test_a_server_that_loads_and_serves_costs_one_minute(load_s: int, offset_s: int) -> None:
    # the price: the same start-up for a server (30 GiB) is uncertain for one minute, and the
    # serving after it is inference again. A load that begins late in a minute reads as loading
    # there (idle power), and the minute it finishes in, serving on a footprint that was a
    # model's already, is no start-up: one minute, not two in a row (found by review: two made
    # the hour INCONCLUSIVE)
    trace = syn.concat(
        syn.idle(120 + offset_s, 4),
        loading(load_s, 4, footprint_mib=30_000.0),
        syn.request_inference(1200, 4, seed=5),
    )
    labels = classes(trace)
    assert labels[:3] == ["idle", "idle", "uncertain"], labels
    assert labels[3:].count("inference") >= len(labels[3:]) - 2, labels
    assert labels[3] == "inference", labels


@pytest.mark.parametrize("offset_s", [40, 50, 55, 58])
def test_a_server_start_across_a_minute_is_one_start_up(offset_s: int) -> None:
    # A real server creates its CUDA context (500 MiB) first and holds it while it reads its
    # weights, then loads fast and serves. Where the minute ends in that first phase, the minute
    # reads as loading (idle power, memory growing) and the next as the start (a model's worth
    # of memory where there was none): two unproven minutes, each flagged a start-up, which
    # the verdict counts as one (``PeriodClass.startup``; found by a second review)
    trace = syn.concat(
        syn.idle(120 + offset_s, 4),
        quiet(10, 4, memory_mib=500.0),
        loading(15, 4, footprint_mib=30_000.0, from_mib=500.0),
        syn.request_inference(1200, 4, seed=5),
    )
    text = syn.render(trace)
    parsed = parse_gpu_csv(text, "start.csv", 4)
    results = [c.result for c in classify_samples(gpu_trace_samples(parsed, "NVIDIA H100 SXM"))]
    labels = [r.label for r in results][:12]  # the start and ten minutes of serving
    assert labels[:2] == ["idle", "idle"], labels
    unproven = [k for k, label in enumerate(labels) if label not in ("idle", "inference")]
    assert unproven, labels
    assert unproven == list(range(unproven[0], unproven[-1] + 1)), labels  # back to back
    assert len(unproven) <= 2, labels
    flags = [results[k].startup for k in unproven]
    assert flags[-1] in {"load", "start"}, [results[k].reason for k in unproven]  # the start, or the load alone
    assert all(f == "load" for f in flags[:-1]), flags  # loads, then at most one start: one start-up


def test_memory_taken_away_and_given_back_every_minute_is_a_start_every_minute() -> None:
    # A red team's evader: two of four GPUs take turns holding a 30-GiB model (1 GiB the other
    # minute) while all four compute a light, bursty load. Each minute reads as a start (a
    # model's worth of memory where there was none at the last reading) — which must never
    # merge into one start-up (``rules``): flagged "start", never "load"
    rng = random.Random(1)
    power, util, memory = [], [], []
    for second in range(20 * 60):
        minute = second // 60
        busy = [rng.random() < 0.6 for _ in range(4)]
        power.append([700.0 * (0.25 + 0.4 * rng.random() if b else syn.IDLE + 0.02) for b in busy])
        util.append([40 + 50 * rng.random() if b else 0.0 for b in busy])
        memory.append([30_000.0, 30_000.0, *(30_000.0 if minute % 2 == g else 1_000.0 for g in range(2))])
    trace = syn.concat(syn.idle(120, 4), syn.Trace(power, util, memory))
    parsed = parse_gpu_csv(syn.render(trace), "rotation.csv", 4)
    results = [c.result for c in classify_samples(gpu_trace_samples(parsed, "NVIDIA H100 SXM"))][3:20]
    assert {r.startup for r in results} == {"start"}, [(r.label, r.startup) for r in results]


def test_a_server_whose_memory_pool_breathes_stays_inference() -> None:
    # a serving process's footprint that grows and shrinks by more than a model's size (a KV
    # pool released and taken back, a cache emptied every other minute) is no start-up: it was
    # a model's footprint already
    trace = syn.request_inference(1800, 4)
    memory = [[m + (4_096.0 if (s // 60) % 2 else 0.0) for m in row] for s, row in enumerate(trace.memory)]
    labels = classes(syn.Trace(trace.power, trace.util, memory, trace.limit_w))
    assert labels.count("inference") >= len(labels) - 1, labels


def test_a_node_idle_with_a_model_resident_is_idle() -> None:
    # a server loaded and serving, then no requests for 15 min: its memory stays, nothing grows
    labels = classes(syn.concat(syn.request_inference(600, 4), quiet(900, 4, memory_mib=30_000.0)))
    assert labels[10:] == ["idle"] * 15, labels


# ================================================================================================
# A pause right after heavy compute
# ================================================================================================


@pytest.mark.parametrize("offset_s", [0, 1, 30, 59])
def test_a_pause_after_flat_compute_is_never_proof_wherever_it_starts(offset_s: int) -> None:
    # flat compute out of lockstep (no training evidence), a 150-s pause from 420 + offset s
    start = 420 + offset_s
    labels = classes(_pause(J(900, 8, **FLAT), [start] * 8, start + 150))
    assert not PROOF & set(labels), labels


def test_a_pause_whose_gpus_stop_seconds_apart_is_never_proof() -> None:
    # GPU g stops at 400 + 4 g s: the period the work stops in is not lockstep, nor heavy
    labels = classes(_pause(J(900, 8, **FLAT), [400 + 4 * g for g in range(8)], 600))
    assert not PROOF & set(labels), labels


def test_a_job_that_ends_and_frees_its_gpus_is_idle_at_once() -> None:
    labels = classes(syn.concat(J(600, 8, **FLAT), syn.idle(600, 8)))
    assert labels[10:] == ["idle"] * 10, labels


def test_a_job_that_ends_and_keeps_its_memory_is_idle_after_five_minutes() -> None:
    # the process lingers with its memory (or a server's traffic stops): a pause as far as the
    # reports tell, for CARRY_GAP_S; idle from then on
    labels = classes(syn.concat(J(600, 8, **FLAT), quiet(900, 8, memory_mib=FOOTPRINT_MIB)))
    assert labels[10 : 10 + PAUSE_PERIODS] == ["uncertain"] * PAUSE_PERIODS, labels
    assert labels[10 + PAUSE_PERIODS :] == ["idle"] * (15 - PAUSE_PERIODS), labels


def test_a_saturated_lockstep_server_whose_traffic_stops_is_idle_after_ten_minutes() -> None:
    # its lockstep work keeps the quiet periods after it uncertain while it is in the context
    # (the older rule, "quiet, within a lockstep job's context"); the pause rule adds nothing
    labels = classes(syn.tp_serving(1500, 8, rate=lambda s: 2.0 if s < 600 else 0.0, seed=1))
    assert "training" not in labels, labels
    # requests in flight end by ~631 s: quiet from period 11, idle once period 10 is 10 min old
    assert labels[11:20] == ["uncertain"] * 9, labels
    assert labels[20:] == ["idle"] * 5, labels


@pytest.mark.parametrize(
    ("end_s", "memory_mib"),
    [
        pytest.param(
            900,
            None,
            id="eight minutes",
            marks=pytest.mark.xfail(
                strict=True,
                reason="FALSE PROOF (the rule's bound, by design): a pause longer than CARRY_GAP_S "
                "(5 min) with the memory resident is idle from its sixth minute. Those minutes "
                "compute nothing, and a longer bound keeps every server whose heavy traffic stops "
                "uncertain as long",
            ),
        ),
        pytest.param(
            570,
            CONTEXT_MIB,
            id="memory moved off the GPUs",
            marks=pytest.mark.xfail(
                strict=True,
                reason="FALSE PROOF: a job that moves its memory off the GPUs for a pause (to host "
                "memory) and loads it back as it resumes looks, while paused, like a job that "
                "ended and freed its GPUs (idle at once, the twin above); the reload inside a "
                "busy period is not read as a load",
            ),
        ),
    ],
)
def test_a_pause_beyond_the_rule_is_never_proof(end_s: int, memory_mib: float | None) -> None:
    labels = classes(_pause(J(1200, 8, **FLAT), [420] * 8, end_s, memory_mib=memory_mib))
    assert not PROOF & set(labels), labels
