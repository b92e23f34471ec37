"""Hindsight: a bucket's verdict labels a job's first minutes with what the bucket shows later.

A training job's structure (its first checkpoint stall, three periods of step rhythm) shows
minutes after it starts; causally those minutes are ``uncertain``. The verdict of the bucket is
issued at its end, with all of the bucket's reports: where the same lockstep devices computed at
the job's level with its footprint before its first evidence, those periods are ``training`` too
(``PeriodClass.hindsight``). Only ``uncertain`` ever changes; nothing crosses a bucket boundary;
and a hindsight period is never counted as evidence (``training_window``).
"""

from __future__ import annotations

import functools

import pytest

from pausewatch.evaluation.evidence import training_window
from pausewatch.evaluation.folds.labels import LabelledPeriod
from pausewatch.evaluation.workload import PeriodClass, PeriodSignals, classify_node_history
from sim.classify import _bucket_index, classify_samples, gpu_trace_samples, period_signals
from sim.traces import parse_gpu_csv, read_trace_text
from tests.evaluation import synthetic_traces as syn
from tests.evaluation.real_traces import require_data

PROOF = {"idle", "inference"}
NS = 1_000_000_000


def _periods(trace: syn.Trace) -> list[PeriodSignals]:
    parsed = parse_gpu_csv(syn.render(trace), "synthetic.csv", len(trace.power[0]))
    return period_signals(gpu_trace_samples(parsed, "NVIDIA H100 SXM"))


def _classes(trace: syn.Trace, bucket_s: float | None = 3600.0, *, memory: bool = True) -> list[PeriodClass]:
    parsed = parse_gpu_csv(syn.render(trace, memory=memory), "synthetic.csv", len(trace.power[0]))
    return [c.result for c in classify_samples(gpu_trace_samples(parsed, "NVIDIA H100 SXM"), 60, bucket_s)]


def _labels(trace: syn.Trace, bucket_s: float | None = 3600.0, *, memory: bool = True) -> list[str]:
    return [c.label for c in _classes(trace, bucket_s, memory=memory)]


def test_a_job_is_training_from_its_start_in_the_bucket_that_shows_its_structure() -> None:
    # Flat lockstep compute for four minutes, then the first checkpoint stall: causally the
    # first minutes are uncertain (tensor-parallel serving looks the same); by the bucket's end
    # they are known to be the job's.
    trace = syn.training(15 * 60, 8, stall_every_s=270.0)
    causal = _labels(trace, None)
    first = causal.index("training")
    assert first >= 3, causal
    assert set(causal[:first]) == {"uncertain"}, causal
    seen = _classes(trace)
    assert [c.label for c in seen] == ["training"] * len(seen)
    assert [c.hindsight for c in seen[:first]] == [True] * first
    assert not any(c.hindsight for c in seen[first:])
    assert "in hindsight" in seen[0].reason


def test_a_job_whose_devices_report_no_memory_is_walked_back_over_too() -> None:
    # A log without memory.used (or a board that writes [N/A] there): the job's evidence is
    # read as before, and hindsight walks back over its devices computing in lockstep at its
    # level. Before, no footprint meant no anchor: the minutes before the second stall stayed
    # uncertain in the bucket's verdict.
    trace = syn.training(15 * 60, 8, stall_every_s=270.0)
    causal = _labels(trace, None, memory=False)
    first = causal.index("training")
    assert first >= 3, causal
    assert set(causal[:first]) == {"uncertain"}, causal
    seen = _classes(trace, memory=False)
    assert [c.label for c in seen[:first]] == ["training"] * first, [c.label for c in seen]
    assert all(c.hindsight for c in seen[:first])
    assert "no memory reported" in seen[0].reason


def test_without_memory_a_job_is_not_carried() -> None:
    # The carry makes evidence; with no footprint to tell one job from the next it is not
    # taken: flat lockstep compute long after the job's last stall is uncertain again.
    trace = syn.concat(syn.training(600, 8, stall_every_s=270.0), syn.training(1200, 8, stall_every_s=None, seed=1))
    with_memory = _labels(trace, None)
    without = _labels(trace, None, memory=False)
    assert with_memory[-1] == "training", with_memory  # carried with its footprint
    assert without[-1] == "uncertain", without


def test_without_memory_serving_at_another_level_before_training_stays_uncertain() -> None:
    trace = syn.concat(
        syn.batched_generation(300, 8, lockstep=True, memory_mib=60_000.0),
        syn.training(600, 8, stall_every_s=270.0),
    )
    labels = _labels(trace, memory=False)
    assert "training" not in labels[:5], labels
    assert labels[-1] == "training", labels


@pytest.mark.parametrize(("rate", "seed"), [(0.03, 3), (0.5, 2), (1.5, 4)])
def test_tensor_parallel_inference_without_memory_is_never_training(rate: float, seed: int) -> None:
    labels = _labels(syn.tp_inference(15 * 60, 8, rate_per_s=rate, seed=seed), memory=False)
    assert "training" not in labels, labels


def _real_without(name: str, *cut: str) -> list[str]:
    """A real 8×H100 run (../shared/data, read in place) with the columns ``cut`` left out of its
    log, as its hourly verdict classes it."""
    text = read_trace_text(require_data("gpu-power-traces", "training-h100-8gpu", f"{name}.csv.gz"))
    rows = [line.split(",") for line in text.splitlines()]
    keep = [i for i, col in enumerate(rows[0]) if col.strip().split(" ")[0] not in cut]
    log = "\n".join(",".join(row[i] for i in keep) for row in rows) + "\n"
    parsed = parse_gpu_csv(log, name, 8)
    return [c.result.label for c in classify_samples(gpu_trace_samples(parsed, "NVIDIA H100 SXM"), bucket_s=3600.0)]


@pytest.mark.parametrize(
    ("name", "cut", "training"),
    [
        ("h100x8_ckpt1000", ("memory.used",), 11),  # 1 before rules/13
        ("h100x8_ckpt1000", ("memory.used", "utilization.gpu"), 11),  # 1 before
        ("h100x8_ckpt1", ("memory.used",), 10),  # 7 before; 11 with the column (the carry)
    ],
)
def test_the_real_runs_logged_without_memory_are_training_from_their_start(
    name: str, cut: tuple[str, ...], training: int
) -> None:
    labels = _real_without(name, *cut)
    assert labels[0] == "idle", labels
    assert labels.count("training") == training, labels
    assert not PROOF & set(labels[1:]), labels


def test_hindsight_stops_at_the_bucket_boundary() -> None:
    # Buckets of 3 minutes: the verdict of the first bucket was issued before the job showed
    # anything, and is never revised.
    trace = syn.training(15 * 60, 8, stall_every_s=270.0)
    causal = _labels(trace, None)
    first = causal.index("training")
    labels = _labels(trace, 180.0)
    bucket_start = first - first % 3
    assert labels[:bucket_start] == causal[:bucket_start], labels
    assert set(labels[bucket_start:]) == {"training"}, labels


def test_a_period_in_hindsight_depends_only_on_its_own_bucket() -> None:
    # What a bucket's verdict says about its periods is fixed at the bucket's end: later reports
    # change nothing, so a verdict re-derived from a longer log is the same.
    periods = _periods(syn.training(20 * 60, 8, stall_every_s=270.0))
    origin = periods[0].start_ns
    bucket = functools.partial(_bucket_index, origin, 300 * NS)
    full = classify_node_history(periods, bucket=bucket)
    for k in (5, 10, 15):
        assert classify_node_history(periods[:k], bucket=bucket) == full[:k]


def test_serving_with_another_footprint_before_training_stays_uncertain() -> None:
    trace = syn.concat(
        syn.batched_generation(300, 8, lockstep=True, memory_mib=60_000.0),
        syn.training(600, 8, stall_every_s=270.0),
    )
    labels = _labels(trace)
    assert "training" not in labels[:5], labels
    assert labels[-1] == "training", labels


def test_proof_is_never_turned_into_training() -> None:
    # Idle, then a training run: the idle minutes keep their class.
    trace = syn.concat(syn.idle(300, 8), syn.training(600, 8, stall_every_s=270.0))
    labels = _labels(trace)
    assert labels[:5] == ["idle"] * 5, labels
    assert labels[-1] == "training", labels


def test_a_job_silent_for_longer_than_the_carry_gap_is_not_walked_back_over() -> None:
    # Flat compute, six minutes of silence (no reports), then the job with its first stall:
    # continuity is broken, the minutes before the silence stay uncertain.
    periods = _periods(syn.training(15 * 60, 8, stall_every_s=270.0))
    shifted = [
        p if i < 2 else PeriodSignals(p.start_ns + 360 * NS, p.end_ns + 360 * NS, p.signals)
        for i, p in enumerate(periods)
    ]
    bucket = functools.partial(_bucket_index, shifted[0].start_ns, 3600 * NS)
    labels = [c.label for c in classify_node_history(shifted, bucket=bucket)]
    assert labels[:2] == ["uncertain"] * 2, labels


@pytest.mark.parametrize(("rate", "seed"), [(0.03, 3), (0.15, 0), (0.5, 2), (1.5, 4)])
def test_tensor_parallel_inference_is_never_training_in_hindsight_either(rate: float, seed: int) -> None:
    labels = _labels(syn.tp_inference(15 * 60, 8, rate_per_s=rate, seed=seed))
    assert "training" not in labels, labels


def test_the_price_flat_lockstep_compute_with_the_jobs_footprint_before_it_is_the_job() -> None:
    # What hindsight cannot tell: the same devices at the same level with the same resident
    # memory right before the job's first stall are taken for the job. Such minutes were
    # uncertain (never proof) before, and the bucket is the job's bucket either way.
    trace = syn.concat(
        syn.training(300, 8, stall_every_s=None, seed=1), syn.training(600, 8, stall_every_s=270.0)
    )
    assert set(_labels(trace, None)[:5]) == {"uncertain"}
    assert set(_labels(trace)[:5]) == {"training"}


def _labelled(minute: int, label: str, *, hindsight: bool = False) -> LabelledPeriod:
    start = minute * 60 * NS
    return LabelledPeriod(start, start + 60 * NS, 60.0, label, 0.75, minute, 60, hindsight)


def test_a_hindsight_period_is_never_counted_as_evidence() -> None:
    # One period of evidence and nine walked back from it: one training period of ten, not ten.
    periods = [_labelled(m, "training", hindsight=True) for m in range(9)] + [_labelled(9, "training")]
    w = training_window(periods, (0, 600 * NS), 600 * NS)
    assert w is not None
    assert (w.training_periods, w.node_periods) == (1, 10)
    assert not w.significant
    assert training_window(periods[:9], (0, 600 * NS), 600 * NS) is None
