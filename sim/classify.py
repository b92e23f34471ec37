"""Classify a recorded trace the way the evaluation classifies reports: ``pausewatch-sim classify``.

The path is the production one, step by step, with no copy of any of it:

1. the trace (``sim.traces``) becomes one ``attestor.telemetry.Sample`` per second, the attestor's
   sampling rate (a faster log keeps its first row of each second; a slower one keeps every row);
2. the attestor's own ``Aggregator`` turns each report period of samples into the
   ``AcceleratorUsage`` / ``NodeUsage`` fields of a ``UsageReport`` (``ReportBuilder.usage``),
   with the shape features of ``pausewatch.features``;
3. ``signals_from_usage`` gives the classifier's view of each report, exactly as the evaluation
   builds it, and ``classify_node_history`` classifies every period from its causal history;
4. windows of ``--window`` (default: one report period) gather the periods' classes: a window
   is ``training`` when any of its periods is, ``idle`` when all are, ``inference`` when all are
   idle or inference, ``other`` when any is other, and ``uncertain`` otherwise — the rule by
   which a bucket's periods decide its verdict.

Exit codes: 0 classified; 2 the trace, a flag or the model could not be used (the message names
the file, the line and the reason).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from attestor.aggregate import Aggregator
from attestor.report import ReportBuilder
from attestor.telemetry import DeviceReading, HostReading, Sample, SourceKind
from pausewatch.evaluation.workload import (
    CONTEXT_S,
    JOB_CARRY_S,
    PeriodClass,
    PeriodSignals,
    WorkloadLabel,
    classify_node_history,
    signals_from_usage,
)
from pausewatch.peaks import AcceleratorPeak, is_laptop_part, lookup_peak
from pausewatch.reports import NONCE_SIZE
from sim._units import format_duration, parse_duration_ns
from sim.traces import (
    GpuTrace,
    NodePowerTrace,
    TraceError,
    parse_gpu_csv,
    parse_node_power_csv,
    read_trace,
)

__all__ = [
    "DEFAULT_BUCKET_S",
    "DEFAULT_PERIOD_S",
    "ClassifiedPeriod",
    "Window",
    "classify_samples",
    "gpu_trace_samples",
    "main",
    "node_power_samples",
    "windows",
]

DEFAULT_PERIOD_S: Final = 60  # the attestor's default report period
DEFAULT_BUCKET_S: Final = 3600  # the commitment's default evaluation bucket
SAMPLE_INTERVAL_S: Final = 1.0  # the attestor samples once a second
_NS: Final = 1_000_000_000
_EPOCH_NS: Final = 1_700_000_000 * _NS  # traces are placed here; only differences matter
EXIT_OK: Final = 0
EXIT_ERROR: Final = 2


@dataclass(frozen=True)
class ClassifiedPeriod:
    period: PeriodSignals
    result: PeriodClass


def _span_s(p: ClassifiedPeriod) -> float:
    return (p.period.end_ns - p.period.start_ns) / _NS


@dataclass(frozen=True)
class Window:
    """Periods gathered into one output window (seconds since the trace's first sample)."""

    start_s: float
    end_s: float
    label: str
    periods: tuple[ClassifiedPeriod, ...]

    @property
    def reason(self) -> str:
        """Why: the reason of the last period whose class is the window's (else the last period's)."""
        deciding = [p for p in self.periods if p.result.label == self.label] or list(self.periods)
        return deciding[-1].result.reason if deciding else ""

    def as_json(self) -> dict[str, object]:
        labels = [p.result.label for p in self.periods]
        seconds: dict[str, float] = {}
        for p in self.periods:
            seconds[p.result.label] = seconds.get(p.result.label, 0.0) + _span_s(p)
        scores = [p.result.training_score for p in self.periods]
        device_w = [
            math.fsum(d.power_mean_w for d in p.period.signals.devices if d.power_mean_w is not None)
            for p in self.periods
            if any(d.power_mean_w is not None for d in p.period.signals.devices)
        ]
        node_w = [
            p.period.signals.node_power_w for p in self.periods if p.period.signals.node_power_w is not None
        ]
        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "class": self.label,
            "periods": len(labels),
            "seconds_by_class": {k: round(v, 3) for k, v in sorted(seconds.items())},
            "hindsight_s": round(math.fsum(_span_s(p) for p in self.periods if p.result.hindsight), 3),
            "training_score_max": round(max(scores), 4) if scores else None,
            "confidence_min": round(min(p.result.confidence for p in self.periods), 4) if scores else None,
            "active_devices_max": max((p.result.active_devices for p in self.periods), default=0),
            "gpu_power_w_mean": round(math.fsum(device_w) / len(device_w), 1) if device_w else None,
            "node_power_w_mean": round(math.fsum(node_w) / len(node_w), 1) if node_w else None,
            "reason": self.reason,
        }


# ------------------------------------------------------------------ trace → samples


def _uuid(index: int) -> str:
    return f"GPU-trace-{index:02d}"


TICK_EARLY = 0.05  # of the sampling interval: a row this early for its tick is its tick's


def gpu_trace_samples(trace: GpuTrace, model: str, *, interval_s: float = SAMPLE_INTERVAL_S) -> list[Sample]:
    """One sample per ``interval_s`` (the first row at or after each tick), as the attestor
    samples; a row up to ``TICK_EARLY`` of it before a tick no later row reaches is that tick's.
    A logger at 1 s ± a few ms writes some rows just before their tick: read from the tick
    exactly, a quarter of such a log's samples were dropped as a second row of the second
    before (a review, 2026-12-07)."""
    out: list[Sample] = []
    due = -math.inf
    early = TICK_EARLY * interval_s
    times = trace.times_s
    for k, (logged, rows) in enumerate(zip(times, trace.rows, strict=True)):
        t = logged
        if t < due:
            following = times[k + 1] if k + 1 < len(times) else math.inf
            if t < due - early or following < due + interval_s - early:
                continue
            t = due  # this tick's sample, logged a moment early
        due = (math.floor(t / interval_s) + 1) * interval_s if interval_s > 0 else t
        devices = tuple(
            DeviceReading(
                uuid=_uuid(i),
                model=model,
                power_w=r.power_w,
                busy_fraction=r.busy_fraction,
                memory_used_bytes=r.memory_used_bytes,
                memory_total_bytes=r.memory_total_bytes,
                power_limit_w=r.power_limit_w,
            )
            for i, r in enumerate(rows)
        )
        out.append(
            Sample(_EPOCH_NS + round(t * _NS), SourceKind.TRACE_REPLAY, f"trace {trace.name}", devices)
        )
    return out


def node_power_samples(trace: NodePowerTrace) -> list[Sample]:
    """One sample per reading: the node's power as a BMC reports it."""
    return [
        Sample(
            _EPOCH_NS + round(t * _NS),
            SourceKind.TRACE_REPLAY,
            f"trace {trace.name}",
            (),
            HostReading(bmc_power_w=w),
        )
        for t, w in zip(trace.times_s, trace.power_w, strict=True)
    ]


# ------------------------------------------------------------------ samples → periods → classes


def period_signals(samples: Iterable[Sample], period_s: float = DEFAULT_PERIOD_S) -> list[PeriodSignals]:
    """The attestor's aggregation of ``samples`` into periods of ``period_s``, as the evaluation sees them.

    Periods start at the first sample and follow each other without gaps; a period with no
    sample is no report (a gap in the history). Samples must be in time order.
    """
    period_ns = round(period_s * _NS)
    aggregator = Aggregator()
    builder = ReportBuilder("trace", "node")
    out: list[PeriodSignals] = []
    start: int | None = None
    count = 0

    def close(end_ns: int) -> None:
        assert start is not None  # noqa: S101  # called only once a period has begun
        agg = aggregator.close(start, end_ns)
        if count:
            report = builder.usage(agg, challenge_nonce=bytes(NONCE_SIZE), signed_ns=end_ns)
            out.append(PeriodSignals(start, end_ns, signals_from_usage(report)))

    for s in samples:
        if start is None:
            start = s.at_ns
        if s.at_ns >= start + period_ns:
            close(start + period_ns)
            start += (s.at_ns - start) // period_ns * period_ns  # past a gap in one step, however long
            count = 0
        aggregator.add(s)
        count += 1
    if start is not None and count:
        close(start + period_ns)
    return out


def classify_samples(
    samples: Iterable[Sample], period_s: float = DEFAULT_PERIOD_S, bucket_s: float | None = None
) -> list[ClassifiedPeriod]:
    """Each period's class from its causal history; with ``bucket_s``, as the verdict of the
    bucket holding it sees it (buckets of ``bucket_s`` from the first period's start; hindsight:
    ``classify_node_history``)."""
    periods = period_signals(samples, period_s)
    bucket = None
    if bucket_s is not None and periods:
        bucket = functools.partial(_bucket_index, periods[0].start_ns, round(bucket_s * _NS))
    classes = classify_node_history(periods, bucket=bucket)
    return [ClassifiedPeriod(p, c) for p, c in zip(periods, classes, strict=True)]


def _bucket_index(origin_ns: int, bucket_ns: int, end_ns: int) -> int:
    """The bucket holding a period that ends at ``end_ns`` (buckets from ``origin_ns``)."""
    return (end_ns - origin_ns - 1) // bucket_ns


_PROOF: Final = frozenset({WorkloadLabel.IDLE, WorkloadLabel.INFERENCE})


def window_label(labels: Sequence[str]) -> str:
    """What a bucket made of periods of these classes amounts to."""
    if not labels:
        return WorkloadLabel.UNCERTAIN
    if WorkloadLabel.TRAINING in labels:
        return WorkloadLabel.TRAINING
    if all(x == WorkloadLabel.IDLE for x in labels):
        return WorkloadLabel.IDLE
    if all(x in _PROOF for x in labels):
        return WorkloadLabel.INFERENCE
    if WorkloadLabel.OTHER in labels:
        return WorkloadLabel.OTHER
    return WorkloadLabel.UNCERTAIN


def windows(classified: Sequence[ClassifiedPeriod], window_s: float) -> list[Window]:
    """Gather periods into windows of ``window_s`` from the first period's start."""
    if not classified:
        return []
    origin = classified[0].period.start_ns
    window_ns = round(window_s * _NS)
    groups: dict[int, list[ClassifiedPeriod]] = {}
    for c in classified:
        groups.setdefault((c.period.start_ns - origin) // window_ns, []).append(c)
    out = []
    for k in sorted(groups):
        members = groups[k]
        start = max(k * window_ns, members[0].period.start_ns - origin)
        end = max(p.period.end_ns for p in members) - origin
        out.append(
            Window(start / _NS, end / _NS, window_label([m.result.label for m in members]), tuple(members))
        )
    return out


# ------------------------------------------------------------------ command


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "classify",
        help="classify a recorded nvidia-smi or node power trace, window by window (docs/classify.md)",
        description=(
            "Classify a recorded trace with the evaluation's own aggregation and classifier. Classes: "
            "idle and inference (positive evidence: would count toward COMPLIANT), training (at the "
            "violation threshold), other (busy, not ML-like) and uncertain (neither)."
        ),
    )
    p.add_argument(
        "trace",
        type=Path,
        metavar="TRACE",
        help="nvidia-smi --query-gpu CSV log (or, with --node-power, a timestamp,watts log); .gz is fine",
    )
    p.add_argument("--gpus", type=int, required=True, metavar="N", help="GPUs in the node (rows per sample)")
    p.add_argument(
        "--gpu-model",
        required=True,
        metavar="MODEL",
        help='GPU model as in the peak table, e.g. "H100 SXM", "A100 SXM", "H200"',
    )
    p.add_argument(
        "--window",
        default=None,
        metavar="DURATION",
        help='output window, e.g. "60s", "10m", or seconds: "120" (default: one report period, 60 s)',
    )
    p.add_argument(
        "--bucket",
        default=f"{DEFAULT_BUCKET_S}s",
        metavar="DURATION",
        help="the commitment's evaluation bucket, from the trace's first sample: each period is"
        " classed as its bucket's verdict sees it (default 1h, the commitment default; 0: causal)",
    )
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument(
        "--node-power",
        action="store_true",
        help="TRACE is a node-level power log (timestamp,watts), e.g. from a BMC",
    )


@dataclass(frozen=True)
class _Run:
    path: str
    peak: AcceleratorPeak
    period_s: float
    window_s: float
    warnings: tuple[str, ...]
    classified: tuple[ClassifiedPeriod, ...]


def _duration_s(text: str, flag: str, path: str) -> float:
    """A duration flag in seconds: ``"10m"``, ``"1h"``, or a bare whole number of seconds."""
    try:
        return parse_duration_ns(int(text) if text.strip().isdecimal() else text) / _NS
    except ValueError as e:
        raise TraceError(path, 0, f"{flag}: {e}") from e


def _run(args: argparse.Namespace) -> _Run:
    path = str(args.trace)
    if args.gpus < 1 or args.gpus > 1024:
        raise TraceError(path, 0, f"--gpus must be 1 … 1024, not {args.gpus}")
    peak = lookup_peak(args.gpu_model)
    if peak is None:
        why = (
            ": laptop parts are not (their cores and clocks differ from their desktop namesakes')"
            if is_laptop_part(args.gpu_model)
            else ""
        )
        raise TraceError(
            path, 0, f"--gpu-model {args.gpu_model!r} is not in the peak table (pausewatch/peaks.py){why}"
        )
    window_s = float(DEFAULT_PERIOD_S)
    if args.window is not None:
        window_s = _duration_s(args.window, "--window", path)
        if window_s < SAMPLE_INTERVAL_S:
            why = f"--window must be {SAMPLE_INTERVAL_S:g} s or longer: the attestor samples once a second"
            raise TraceError(path, 0, why)
        if window_s > DEFAULT_PERIOD_S and window_s % DEFAULT_PERIOD_S:
            raise TraceError(
                path, 0, f"--window must be a whole number of {DEFAULT_PERIOD_S}-s report periods, or shorter"
            )
    period_s = min(float(DEFAULT_PERIOD_S), window_s)
    bucket_s = _duration_s(args.bucket, "--bucket", path) or None  # 0: causal
    source = read_trace(args.trace)
    if args.node_power:
        node = parse_node_power_csv(source.text, path)
        samples = node_power_samples(node)
        warnings = source.warnings + node.warnings
    else:
        gpu = parse_gpu_csv(source.text, path, args.gpus)
        samples = gpu_trace_samples(gpu, peak.model)
        warnings = source.warnings + gpu.warnings
        other = sorted({m for m in gpu.model_names if lookup_peak(m) not in (None, peak)})
        if other:
            warnings += (f"{path}: the log names {', '.join(other)}, not {peak.model} (--gpu-model is used)",)
    return _Run(
        path, peak, period_s, window_s, warnings, tuple(classify_samples(samples, period_s, bucket_s))
    )


def _table(run: _Run, rows: Sequence[Window]) -> str:
    lines = [
        f"{run.path}: {run.peak.model}, report period {format_duration(round(run.period_s * _NS))},"
        f" context {format_duration(round(CONTEXT_S * _NS))}, {len(run.classified)} periods",
        f"{'start':>9} {'end':>9}  {'class':<10} {'score':>5}  reason",
    ]
    for w in rows:
        doc = w.as_json()
        score = _score(doc["training_score_max"])
        lines.append(f"{_clock(w.start_s):>9} {_clock(w.end_s):>9}  {w.label:<10} {score:>5}  " + w.reason)
    totals: dict[str, float] = {}
    for w in rows:
        totals[w.label] = totals.get(w.label, 0.0) + (w.end_s - w.start_s)
    lines.append("time by class: " + ", ".join(f"{k} {_clock(v)}" for k, v in sorted(totals.items())))
    return "\n".join(lines)


def _score(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else "-"


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def run_classify(args: argparse.Namespace) -> int:
    try:
        run = _run(args)
    except TraceError as e:
        print(f"pausewatch-sim classify: {e}", file=sys.stderr)
        return EXIT_ERROR
    for w in run.warnings:
        print(f"pausewatch-sim classify: warning: {w}", file=sys.stderr)
    rows = windows(run.classified, run.window_s)
    if args.json:
        print(
            json.dumps(
                {
                    "trace": run.path,
                    "gpu_model": run.peak.model,
                    "gpus": args.gpus,
                    "period_s": run.period_s,
                    "window_s": run.window_s,
                    "context_s": CONTEXT_S,
                    "job_carry_s": JOB_CARRY_S,
                    "warnings": list(run.warnings),
                    "windows": [w.as_json() for w in rows],
                },
                indent=1,
            )
        )
    else:
        print(_table(run, rows))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pausewatch-sim")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run_classify(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
