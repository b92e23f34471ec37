"""One lull of an honest lockstep server is one event, however it falls on the report periods.

The training signature needs two structural events (``workload.EVENTS``): one stall the job
resumed from is what one lull of a saturated tensor-parallel server shows too. A reviewer of
the first version found one lull counted as two in five ways, each labelling 11–15 periods
``training`` (a false VIOLATION): the job's start-up at the edge of the window read as a stall;
a lull whose middle period saw a trickle of requests (neither a stall nor quiet) split in two; a
lull spinning at 100 % utilisation was a stall and a collective wait; a lull across the
context's start was read at two levels, once on each side; a lost report inside a lull split it.
Each case here beside its twin with a second lull, which is ``training``: the rule still fires.

The server is a flat lockstep job at 82 % of the limit at the real 8×H100 run's synchrony (no
step rhythm, no checkpoint), 8 GPUs, one sample a second; a lull puts every GPU at ``level`` of
board power and ``util`` % for the seconds given.
"""

from __future__ import annotations

import random

import pytest

from pausewatch.evaluation.workload import PeriodSignals, classify_node_history
from sim.classify import gpu_trace_samples, period_signals
from sim.traces import parse_gpu_csv
from tests.evaluation import synthetic_traces as syn

BOARD_W = 700.0
PROOF = {"idle", "inference"}


def _server(seconds: int, **shape: float) -> syn.Trace:
    return syn.lockstep_job(
        seconds, 8, dip=0.82, ckpt_every_s=None, noise_common=0.015, noise_gpu=0.008, **shape
    )


def _rhythmic(seconds: int) -> syn.Trace:
    """A lockstep loop with a 4-s step rhythm visible at 1 Hz (an evaluation loop)."""
    return syn.lockstep_job(seconds, 8, ckpt_every_s=None, noise_common=0.015, noise_gpu=0.008)


def _set(trace: syn.Trace, a: int, b: int, level: float, util: float, seed: int = 1) -> syn.Trace:
    rng = random.Random(seed)
    common = 0.0
    for s in range(a, b):
        common = rng.gauss(0, 0.01)
        for g in range(len(trace.power[s])):
            trace.power[s][g] = BOARD_W * level * (1 + common + rng.gauss(0, 0.005))
            trace.util[s][g] = util
    return trace


def _lull(trace: syn.Trace, a: int, b: int, level: float = syn.IDLE + 0.02, util: float = 0.0) -> syn.Trace:
    return _set(trace, a, b, level, util)


def _periods(trace: syn.Trace) -> list[PeriodSignals]:
    parsed = parse_gpu_csv(syn.render(trace), "lulls.csv", len(trace.power[0]))
    return period_signals(gpu_trace_samples(parsed, "NVIDIA H100 SXM"))


def _labels(periods: list[PeriodSignals]) -> list[str]:
    return [c.label for c in classify_node_history(periods)]


def _with_gap(periods: list[PeriodSignals], k: int, gap_ns: int) -> list[PeriodSignals]:
    """Period ``k`` starts ``gap_ns`` later (its predecessor's report ends before a gap)."""
    p = periods[k]
    return [*periods[:k], PeriodSignals(p.start_ns + gap_ns, p.end_ns, p.signals), *periods[k + 1 :]]


def _lull_then_backlog(trace: syn.Trace, a: int) -> syn.Trace:
    # a 40-s lull, then its backlog served for 25 s at 97 % of the limit (the period after the
    # lull reads 14 % over the job's level), and a burst back at 92 % five minutes later
    _lull(trace, a, a + 40)
    _set(trace, a + 40, a + 65, 0.97, 100.0, seed=2)
    return _set(trace, a + 320, a + 335, 0.92, 100.0, seed=3)


# (name, periods with one lull, the same with a second one like it 3-5 minutes later)
CASES = {
    "a 40-s lull across a period boundary": lambda: (
        _periods(_lull(_server(1200), 280, 320)),
        _periods(_lull(_lull(_server(1200), 280, 320), 580, 620)),
    ),
    "a 150-s lull with a trickle of requests in its middle period": lambda: (
        _periods(_lull(_server(1200), 280, 430, level=0.25, util=30.0)),
        _periods(
            _lull(_lull(_server(1200), 280, 430, level=0.25, util=30.0), 700, 850, level=0.25, util=30.0)
        ),
    ),
    "a 90-s lull with light requests (13 % power, 10 % utilisation)": lambda: (
        _periods(_lull(_server(1200), 280, 370, level=0.13, util=10.0)),
        _periods(
            _lull(_lull(_server(1200), 280, 370, level=0.13, util=10.0), 640, 730, level=0.13, util=10.0)
        ),
    ),
    "a 150-s lull at idle power spinning at 100 % utilisation": lambda: (
        _periods(_lull(_server(1200), 280, 430, util=100.0)),
        _periods(_lull(_lull(_server(1200), 280, 430, util=100.0), 700, 850, util=100.0)),
    ),
    "a 40-s lull across a boundary with a 2-s gap between the reports": lambda: (
        _with_gap(_periods(_lull(_server(1200), 280, 320)), 5, 2_000_000_000),
        _with_gap(_periods(_lull(_lull(_server(1200), 280, 320), 580, 620)), 5, 2_000_000_000),
    ),
    "a 90-s idle lull whose middle report is lost": lambda: (
        [p for k, p in enumerate(_periods(_lull(_server(1200), 280, 370, level=0.13))) if k != 5],
        [
            p
            for k, p in enumerate(_periods(_lull(_lull(_server(1200), 280, 370, level=0.13), 640, 680)))
            if k != 5
        ],
    ),
    "a model loaded, then one lull 6 minutes later": lambda: (
        _periods(_lull(_server(1500, warmup_s=90.0), 400, 430)),
        _periods(_lull(_lull(_server(1500, warmup_s=90.0), 400, 430), 700, 730)),
    ),
    "a model loaded, then one lull 65 minutes later": lambda: (
        _periods(_lull(_server(90 * 60, warmup_s=90.0), 65 * 60 + 10, 65 * 60 + 40)),
        _periods(
            _lull(_lull(_server(90 * 60, warmup_s=90.0), 65 * 60 + 10, 65 * 60 + 40), 70 * 60, 70 * 60 + 30)
        ),
    ),
    "a lull across the context's start, its backlog above the job's level": lambda: (
        _periods(_lull_then_backlog(_server(1800), 580)),
        _periods(_lull(_lull_then_backlog(_server(1800), 580), 1080, 1120)),
    ),
    "a server's weights loaded a period before its first requests, then one lull": lambda: (
        _periods(_lull(_lull(_server(1500), 0, 100), 400, 430)),
        _periods(_lull(_lull(_lull(_server(1500), 0, 100), 400, 430), 700, 730)),
    ),
    "a 2-min lull with one request batch at the server's level in its middle": lambda: (
        _periods(_set(_lull(_server(1500), 280, 400), 330, 340, 0.82, 100.0, seed=5)),
        _periods(_lull(_set(_lull(_server(1500), 280, 400), 330, 340, 0.82, 100.0, seed=5), 700, 730)),
    ),
    # (its twin: the silence ends the job, so two more lulls after it)
    "a 7-min lull whose reports are lost for 6 minutes": lambda: (
        [p for k, p in enumerate(_periods(_lull(_server(1500), 280, 700))) if k not in range(5, 11)],
        [
            p
            for k, p in enumerate(
                _periods(_lull(_lull(_lull(_server(1500), 280, 700), 1000, 1030), 1200, 1230))
            )
            if k not in range(5, 11)
        ],
    ),
    "a rhythmic loop with one 45-s spinning lull inside one period": lambda: (
        _periods(_lull(_rhythmic(1200), 305, 350, level=0.12, util=100.0)),
        _periods(
            _lull(_lull(_rhythmic(1200), 305, 350, level=0.12, util=100.0), 605, 650, level=0.12, util=100.0)
        ),
    ),
}


# Twins whose second lull is no second event either: the backlog 14 % over the job's level
# between the lulls is no period of one job at one level (``HISTORY_LEVEL_AGREE``, 8 %, since
# rules/8), so the earlier lull is not joined — a training loop serves no backlog.
NOT_JOINED = {"a lull across the context's start, its backlog above the job's level"}


@pytest.mark.parametrize("name", list(CASES))
def test_one_lull_is_never_two_events(name: str) -> None:
    one, two = CASES[name]()
    labels = _labels(one)
    assert "training" not in labels, labels
    assert not PROOF & set(labels), labels
    if name in NOT_JOINED:
        assert "training" not in _labels(two)
    else:
        assert "training" in _labels(two), "the twin with a second lull is training: the rule still fires"


@pytest.mark.xfail(
    strict=True,
    reason="FALSE VIOLATION (a reviewer's): one lull, then the server reloads its model 3 min "
    "later (memory freed and re-allocated inside one period, +3 %, which the period's maximum "
    "and the +-10 % footprint hide): two low episodes of one job, two events",
)
def test_a_lull_then_a_model_reload_is_not_training() -> None:
    t = _lull(_server(1800), 280, 320)
    for s in range(480, 525):
        for g in range(8):
            t.power[s][g], t.util[s][g], t.memory[s][g] = BOARD_W * 0.1, 0.0, 500.0
    for s in range(525, 1800):
        for g in range(8):
            t.memory[s][g] *= 1.03
    assert "training" not in _labels(_periods(t))


@pytest.mark.xfail(
    strict=True,
    reason="MISS (a reviewer's evasion, INCONCLUSIVE not COMPLIANT): training checkpointed every "
    "15 min with one period of memory 15 % over its footprint between checkpoints starts a new "
    "job there, so its earlier stall is never read: one event in every context",
)
def test_a_memory_blip_between_checkpoints_does_not_hide_training() -> None:
    t = syn.lockstep_job(
        3 * 3600, 8, dip=0.82, ckpt_every_s=900, stall_s=30, start_s=330, noise_common=0.015, noise_gpu=0.008
    )
    for k in range(3 * 3600 // 900 + 1):
        a = 330 + 900 * k + 420
        a -= a % 60  # the whole period ~7 minutes after each stall
        for s in range(a, min(a + 60, len(t.memory))):
            for g in range(8):
                t.memory[s][g] *= 1.15
    labels = _labels(_periods(t))
    assert not PROOF & set(labels), labels
    assert "training" in labels, labels


def test_two_lulls_of_a_server_whose_load_moves_between_them_are_not_training() -> None:
    # lulls 30 minutes apart (two events of one job by footprint), the load lower for ten
    # minutes between them as traffic falls: no training loop computes so between checkpoints
    t = _lull(_lull(_server(3000), 600, 630), 2400, 2430)
    labels = _labels(_periods(_set(t, 1200, 1800, 0.55, 100.0, seed=4)))
    assert "training" not in labels, labels
    assert not PROOF & set(labels), labels


@pytest.mark.xfail(
    strict=True,
    reason="FALSE VIOLATION (the price of reading a job's earlier stall): a saturated server at "
    "one steady level whose requests pause twice within the hour is two events of one job at "
    "one level, as a run checkpointing every half hour is (the red team's saturated 4-GPU "
    "servers with Poisson lulls: 14 of 18)",
)
def test_two_lulls_of_a_saturated_server_at_one_level_are_not_training() -> None:
    labels = _labels(_periods(_lull(_lull(_server(3000), 600, 630), 2400, 2430)))
    assert "training" not in labels, labels


def test_a_light_training_group_beside_servers_loses_no_proof_to_the_two_events() -> None:
    # 4 GPUs train lightly (half the limit, utilisation x 0.55) in lockstep, a 17-s checkpoint
    # every 15 min, beside 4 request-serving replicas: before the two events the group's one
    # stall with its step rhythm was training, carried; it must not become proof of inference
    # now (a reviewer's: 8 periods of "light, request-sized load" after the first stall)
    job = syn.lockstep_job(
        3600, 4, compute=0.5, dip=0.3, ckpt_every_s=900, noise_common=0.015, noise_gpu=0.008
    )
    serving = syn.request_inference(3600, 4, seed=3)
    for s in range(3600):
        job.power[s].extend(serving.power[s])
        job.util[s].extend(serving.util[s])
        job.memory[s].extend(serving.memory[s])
        for g in range(4):
            job.util[s][g] *= 0.55
    labels = _labels(_periods(job))
    assert not PROOF & set(labels[15:30]), labels  # from the first stall (period 14) on
