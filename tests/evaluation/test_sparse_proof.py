"""What sparse samples prove (``pausewatch.evaluation.workload``, ``COVER_S``).

A sample speaks for about a second: NVML averages power over about one, utilisation over a
fraction of one. An attestor set to sample once a minute (its config allows any interval up to
the report period) sees one second of sixty, and a job that pauses for a second at each
sampling instant — the instants are multiples of the interval — reads idle at every sample.
So a quiet period proves idle only where samples come about every second (``COVER_S``, 1.1 s)
or where a hardware energy counter spans the period and its mean agrees with the samples
(``COUNTER_AGREE``); a light load read from utilisation alone, likewise, and a counter's mean
bounds a light load as power would. The evader at the threshold and its
honest twins, through the attestor's aggregation and the command's own path.
"""

from __future__ import annotations

from typing import Any

import pytest

from attestor.telemetry import DeviceReading, Sample, SourceKind
from pausewatch.evaluation.workload import COVER_S, SPARSE_REASON
from sim.classify import classify_samples
from tests.evaluation import synthetic_traces as syn
from tests.evaluation.test_classify_redteam import PROOF, classes

NS = 1_000_000_000
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
GIB = 2**30
MODEL = "NVIDIA H100 80GB HBM3"


def _reading(g: int, **fields: Any) -> DeviceReading:
    """GPU ``g`` of an 8×H100 node (80 GiB, 700-W limit, unless ``fields`` say otherwise)."""
    return DeviceReading(
        **{
            "uuid": f"GPU-{g}",
            "model": MODEL,
            "memory_total_bytes": 80 * GIB,
            "power_limit_w": 700.0,
            **fields,
        }
    )


def _sample(at_s: int, devices: tuple[DeviceReading, ...]) -> Sample:
    return Sample(T0 + at_s * NS, SourceKind.NVML, "test", devices)


def _request_busy(at_s: int, k: int) -> float:
    """Utilisation of a light load that moves as requests do: 10-40 %, changing each minute."""
    return 0.1 + 0.3 * ((at_s // 60) % 3) / 2 + 0.05 * (k % 3)


def test_an_idle_node_logged_every_second_is_idle() -> None:
    labels = classes(syn.idle(600, 8), dt=1.0)
    assert labels == ["idle"] * len(labels), labels


@pytest.mark.parametrize("dt", [2.0, 3.0, 5.0, 10.0, 30.0])
def test_an_idle_node_logged_sparser_is_no_proof(dt: float) -> None:
    """Sampled every 2 s or sparser, with no energy counter (an nvidia-smi log): half the time
    or more is in no sample (a job at full power a quarter of the time, paused for the second
    before each sample, read idle at 2 s). Never idle, nor anything else a verdict counts."""
    labels = classes(syn.idle(600, 8), dt=dt)
    assert labels, dt
    assert not PROOF & set(labels), labels
    assert set(labels) == {"uncertain"}, labels


def _sampled(
    drawn_w: float,
    *,
    every_s: int,
    seconds: int = 1800,
    gpus: int = 8,
    sampled_w: float = 70.0,
    busy: float = 0.0,
    counter: bool = True,
) -> list[Sample]:
    """An attestor sampling every ``every_s`` s whose samples read ``sampled_w`` and ``busy``
    (a job paused at each sampling instant) while its devices draw ``drawn_w`` on average,
    which their energy counters (``counter``) record; 41 GiB resident."""
    out = []
    for k in range(seconds // every_s):
        at_s = k * every_s
        devices = tuple(
            _reading(
                g,
                power_w=sampled_w + 0.1 * g,
                energy_counter_j=1e6 + drawn_w * at_s if counter else None,
                busy_fraction=busy,
                memory_used_bytes=41 * GIB,
            )
            for g in range(gpus)
        )
        out.append(_sample(at_s, devices))
    return out


def _labels(samples: list[Sample]) -> list[str]:
    return [c.result.label for c in classify_samples(samples)][1:]  # the first period has no counter span


@pytest.mark.parametrize("every_s", [1, 10, 60])
def test_a_job_paused_at_each_sampling_instant_is_seen_by_the_energy_counter(every_s: int) -> None:
    """The evader: every GPU at 600 W but for the second it is sampled (70 W, no kernels). Its
    samples are quiet; its counter is not: never idle, never serving."""
    labels = _labels(_sampled(600.0, every_s=every_s))
    assert labels
    assert not PROOF & set(labels), labels


@pytest.mark.parametrize(("drawn_w", "idle"), [(77.0, True), (80.0, False), (174.0, False)])
def test_a_counter_proves_quiet_only_where_it_agrees_with_the_samples(drawn_w: float, idle: bool) -> None:
    """Samples at 70 W; the counter may read up to ``COUNTER_AGREE`` (10 %) over their max (the
    sensors' accuracy). 174 W, under a quarter of the board, is a job at full power 16 % of the
    time between the samples: no proof (a reviewer's)."""
    labels = _labels(_sampled(drawn_w, every_s=60))
    if idle:
        assert set(labels) == {"idle"}, labels
    else:
        assert not PROOF & set(labels), labels


@pytest.mark.parametrize("every_s", [1, 10, 60])
def test_a_quiet_node_with_a_quiet_counter_is_idle_however_sparse(every_s: int) -> None:
    """The honest twin: the counter spans the whole period and agrees, so one sample a minute
    proves idle where the counter is there."""
    labels = _labels(_sampled(70.0, every_s=every_s))
    assert labels
    assert set(labels) == {"idle"}, labels


def test_without_the_counter_one_sample_a_minute_proves_nothing() -> None:
    labels = _labels(_sampled(70.0, every_s=60, counter=False))
    assert set(labels) == {"uncertain"}, labels
    reasons = {c.result.reason for c in classify_samples(_sampled(70.0, every_s=60, counter=False))}
    assert SPARSE_REASON in reasons
    assert f"{COVER_S:.1f} s" in SPARSE_REASON


def test_a_light_load_whose_counter_says_heavy_is_not_serving() -> None:
    """Samples of request-driven serving (``synthetic_traces.request_inference``) while the
    counter records 80 % of the limit on average: the samples missed the work; never inference.
    The same samples with a counter that agrees with them are serving."""

    def samples(counter_w: float | None, *, agreeing: bool = False) -> list[Sample]:
        """``agreeing``: the counter integrates the sampled power itself."""
        trace = syn.request_inference(1800, 8)
        out = []
        drawn = [1e6] * 8
        for k, (power, util, memory) in enumerate(zip(trace.power, trace.util, trace.memory, strict=True)):
            drawn = [e + (p if agreeing else counter_w or 0.0) for e, p in zip(drawn, power, strict=True)]
            devices = tuple(
                _reading(
                    g,
                    power_w=power[g],
                    energy_counter_j=drawn[g] if agreeing or counter_w is not None else None,
                    busy_fraction=util[g] / 100.0,
                    memory_used_bytes=round(memory[g] * 2**20),
                )
                for g in range(8)
            )
            out.append(_sample(k, devices))
        return out

    for honest in (_labels(samples(None)), _labels(samples(None, agreeing=True))):
        assert "inference" in honest, honest
    assert "inference" not in _labels(samples(0.8 * 700.0))
    # half the limit on the counter beside samples near a fifth of it: beyond their slack
    assert "inference" not in _labels(samples(0.5 * 700.0))


@pytest.mark.parametrize(("counter_w", "proves"), [(None, True), (70.0, True), (650.0, False)])
def test_a_counter_bounds_a_light_load_read_from_utilisation_alone(
    counter_w: float | None, proves: bool
) -> None:
    """A source with utilisation and an energy counter but no power reading (a DCGM exporter
    that lists the counter and not the power gauge): its counter's mean bounds the light load
    as power would (a reviewer's: 650 W on the counter read as serving)."""
    samples = []
    for k in range(1800):
        devices = tuple(
            DeviceReading(
                uuid=f"GPU-{g}",
                model=MODEL,
                busy_fraction=_request_busy(k, k),
                energy_counter_j=None if counter_w is None else 1e6 + counter_w * k,
                memory_used_bytes=20 * GIB,
            )
            for g in range(8)
        )
        samples.append(_sample(k, devices))
    labels = _labels(samples)
    assert ("inference" in labels) is proves, labels


@pytest.mark.parametrize(("every_s", "proves"), [(1, True), (2, False), (60, False)])
def test_utilisation_alone_proves_serving_only_when_dense(every_s: int, proves: bool) -> None:
    """A source that reports utilisation alone (no power, no counter): a light load that moves
    as requests do is serving only where it is sampled every ``COVER_S`` s or faster."""
    samples = []
    for k in range(1800 // every_s):
        at_s = k * every_s
        busy = _request_busy(at_s, k)
        devices = (DeviceReading(uuid="GPU-0", model=MODEL, busy_fraction=busy, memory_used_bytes=20 * GIB),)
        samples.append(_sample(at_s, devices))
    labels = _labels(samples)
    assert ("inference" in labels) is proves, labels


@pytest.mark.parametrize(("drawn_after_w", "idle"), [(70.0, True), (700.0, False)])
def test_a_busy_minute_buys_the_next_one_no_more_than_a_sample_interval(
    drawn_after_w: float, idle: bool
) -> None:
    """One sample a minute with a counter: a busy minute, then one whose sample is quiet but
    whose counter says ``drawn_after_w``. The counter's first interval reaches back into the
    busy minute, so some of its energy is allowed — at most a ``LIGHT_MIN_SAMPLES``-th of the
    period at that minute's max, not the whole minute (a whole minute at full power read idle
    after each busy one). The honest twin, quiet after the busy minute, is idle."""
    samples = []
    energy = 1e6
    for k in range(12):
        busy = k == 6
        energy += 60 * (700.0 if busy else drawn_after_w if k == 7 else 70.0)
        devices = tuple(
            _reading(
                g,
                power_w=700.0 if busy else 70.0,
                energy_counter_j=energy,
                busy_fraction=1.0 if busy else 0.0,
                memory_used_bytes=GIB // 2,
            )
            for g in range(8)
        )
        samples.append(_sample(k * 60, devices))
    labels = [c.result.label for c in classify_samples(samples)]
    assert labels[6] == "uncertain", labels
    assert (labels[7] == "idle") is idle, labels
