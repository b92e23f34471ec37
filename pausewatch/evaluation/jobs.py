"""Job accounting as corroborating evidence: what the scheduler says ran vs what the reports show.

A pure function of (job records, the accounting window they are complete for, the accelerator
periods of the usage reports, the bucket). It raises two findings, both WARNING: a mismatch
between two records the lab keeps of its own hardware does not by itself show training, but it
means the bucket cannot be proven compliant.

- ``jobs.unexplained_activity``: a node's accelerators were active (``busy_fraction``,
  ``sm_active`` or ``tensor_active`` at least ``ACTIVE_FRACTION``) for longer than
  ``min_unexplained_s`` device-seconds in the bucket, at times no job holding GPUs on that node
  covers. CPU-only jobs explain no accelerator activity. Only time inside the accounting window
  is judged: outside it the scheduler's silence says nothing.
- ``jobs.unreported_gpu_seconds``: a job's GPU-seconds on a node within the bucket (its GPUs split
  evenly over its nodes: Slurm's accounting gives the total) exceed the device-seconds the node's
  reports cover in the job's time by more than ``tolerance`` (relative) and ``min_unexplained_s``.
  Covered, not active: an allocated GPU may idle, but it must be reported.

Nodes are named as the scheduler names them; ``node_ids`` maps those names to the reports'
node ids where they differ. Quantities are device-seconds (unit ``s``); sums are ``math.fsum``,
findings come out sorted, so the result does not depend on input order.

``accounting_findings`` is the evaluation's hook (``pausewatch.evaluation.bucket``): one declared
scheduler's signed accounting reports and the usage reports of its nodes in one bucket ->
the findings above (subjects ``node:<id>``, evidence naming the accounting reports too) and

- ``jobs.accounting_missing`` (WARNING): the scheduler's reports leave more than the
  commitment's ``max_gap`` of the bucket uncovered. Job accounting is corroboration: its
  absence never proves anything, but a lab that declared it and stopped sending it leaves the
  bucket unproven, as a silent meter does.

A job that a later report of the bucket lists again is taken as that report states it (the
report whose period ends last, then the last logged): a job running at one period's end has
its end in the next. A job still running when its last report was read held its GPUs up to
that report's end: a later report that does not list it says it held nothing then.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import cast

from pausewatch.evaluation.findings import WARNING, Finding, FindingId
from pausewatch.evaluation.intervals import Interval, clip, merge, uncovered
from pausewatch.inventory import DeclaredScheduler
from pausewatch.jobs import JobRecord, job_from_wire
from pausewatch.v1 import types_pb2

__all__ = [
    "ACTIVE_FRACTION",
    "AccountingPeriod",
    "DevicePeriod",
    "JobEvidenceSettings",
    "accounting_findings",
    "device_periods",
    "job_findings",
]

ACTIVE_FRACTION = 0.10
_NS = 1_000_000_000


@dataclass(frozen=True)
class DevicePeriod:
    """One accelerator's report period. ``active`` None: the report gives no activity reading."""

    node_id: str
    uuid: str
    start_ns: int
    end_ns: int
    active: bool | None
    log_index: int = -1


@dataclass(frozen=True)
class JobEvidenceSettings:
    min_unexplained_s: float = 300.0  # device-seconds a node may show unexplained, or lack
    tolerance: float = 0.05  # relative slack on a job's GPU-seconds (clock skew, job epilogues)

    def __post_init__(self) -> None:
        if not (self.min_unexplained_s >= 0 and 0 <= self.tolerance < 1):
            raise ValueError("job evidence settings out of range")


def _activity(acc: types_pb2.AcceleratorUsage) -> bool | None:
    values = [
        getattr(acc, name)
        for name in ("busy_fraction", "sm_active", "tensor_active")
        if acc.HasField(name) and math.isfinite(getattr(acc, name))
    ]
    return None if not values else max(values) >= ACTIVE_FRACTION


def device_periods(reports: Iterable[tuple[int, types_pb2.UsageReport]]) -> list[DevicePeriod]:
    """(log index, verified usage report) -> one ``DevicePeriod`` per accelerator and period."""
    return [
        DevicePeriod(
            r.node_id, a.uuid, r.period_start_unix_ns, r.period_end_unix_ns, _activity(a), index
        )
        for index, r in reports
        for a in r.accelerators
    ]


def _overlap_ns(span: Interval, merged: Sequence[Interval]) -> int:
    return sum(max(0, min(span[1], e) - max(span[0], s)) for s, e in merged)


def _spans(window: Interval | Sequence[Interval]) -> list[Interval]:
    """One window ``(start, end)`` or several, as a list."""
    if len(window) == 2 and all(isinstance(x, int) for x in window):
        return [cast(Interval, window)]
    return [cast(Interval, w) for w in window]


def job_findings(
    jobs: Sequence[JobRecord],
    window: Interval | Sequence[Interval],
    periods: Sequence[DevicePeriod],
    bucket: Interval,
    *,
    node_ids: Mapping[str, str] | None = None,
    settings: JobEvidenceSettings | None = None,
) -> list[Finding]:
    """The job-accounting findings for ``bucket``. ``window``: the span (or spans) ``jobs`` is
    complete for; only the bucket's time inside them is judged."""
    settings = settings or JobEvidenceSettings()
    judged = merge(c for c in (clip(w, bucket) for w in _spans(window)) if c is not None)
    if not judged:
        return []
    names = dict(node_ids or {})
    by_node: dict[str, list[DevicePeriod]] = {}
    for p in periods:
        by_node.setdefault(p.node_id, []).append(p)
    gpu_spans: dict[str, list[Interval]] = {}
    findings: list[Finding] = []
    for job in sorted(jobs, key=lambda j: j.job_id):
        span = job.span(judged[-1][1])
        parts = [] if span is None else [c for c in (clip(span, j) for j in judged) if c is not None]
        if not parts or job.gpus == 0 or not job.nodes:
            continue
        share = job.gpus / len(job.nodes)
        held_s = math.fsum((b - a) / _NS for a, b in parts)
        for host in job.nodes:
            node = names.get(host, host)
            gpu_spans.setdefault(node, []).extend(parts)
            during = [p for p in by_node.get(node, []) if any(clip((p.start_ns, p.end_ns), c) for c in parts)]
            covered_ns = math.fsum(float(_overlap_ns((p.start_ns, p.end_ns), parts)) for p in during)
            claimed_s = share * held_s
            covered_s = covered_ns / _NS
            if claimed_s - covered_s > max(settings.min_unexplained_s, settings.tolerance * claimed_s):
                findings.append(
                    Finding.make(
                        FindingId.JOBS_UNREPORTED_GPU_SECONDS,
                        WARNING,
                        node,
                        (parts[0][0], parts[-1][1]),
                        f"job {job.job_id} held {share:g} GPU(s) on {host} for"
                        f" {held_s:.0f} s of the bucket; reports cover {covered_s:.0f}"
                        " device-seconds of that time",
                        {"job_gpu_s": (claimed_s, "s"), "reported_device_s": (covered_s, "s")},
                        (p.log_index for p in during if p.log_index >= 0),
                    )
                )
    for node, mine in sorted(by_node.items()):
        explained = merge(gpu_spans.get(node, []))
        unexplained_ns = 0
        evidence: list[int] = []
        first, last = judged[-1][1], judged[0][0]
        for p in mine:
            if not p.active:
                continue
            for part in (c for c in (clip((p.start_ns, p.end_ns), j) for j in judged) if c is not None):
                free = (part[1] - part[0]) - _overlap_ns(part, explained)
                if free > 0:
                    unexplained_ns += free
                    first, last = min(first, part[0]), max(last, part[1])
                    if p.log_index >= 0:
                        evidence.append(p.log_index)
        unexplained_s = unexplained_ns / _NS
        if unexplained_s > settings.min_unexplained_s:
            findings.append(
                Finding.make(
                    FindingId.JOBS_UNEXPLAINED_ACTIVITY,
                    WARNING,
                    node,
                    (first, last),
                    f"accelerators active for {unexplained_s:.0f} device-seconds with no job"
                    " holding GPUs on the node in the scheduler's accounting",
                    {"unexplained_device_s": (unexplained_s, "s")},
                    evidence,
                )
            )
    return sorted(findings, key=Finding.sort_key)


@dataclass(frozen=True)
class AccountingPeriod:
    """One verified accounting report at its place in the log."""

    log_index: int
    report: types_pb2.AccountingReport


def accounting_findings(
    scheduler: DeclaredScheduler,
    accounting: Sequence[AccountingPeriod],
    usage: Iterable[tuple[int, types_pb2.UsageReport]],
    bucket: Interval,
    *,
    max_gap_ns: int,
    settings: JobEvidenceSettings | None = None,
) -> list[Finding]:
    """The job-accounting findings of one declared scheduler for ``bucket``: ``accounting`` its
    reports that overlap the bucket, ``usage`` the (log index, usage report) of the bucket."""
    windows = [(a.report.period_start_unix_ns, a.report.period_end_unix_ns) for a in accounting]
    gaps = uncovered(windows, bucket)
    findings: list[Finding] = []
    missing_s = sum(b - a for a, b in gaps) / _NS
    if any(b - a > max_gap_ns for a, b in gaps):
        findings.append(
            Finding.make(
                FindingId.JOBS_ACCOUNTING_MISSING,
                WARNING,
                f"scheduler:{scheduler.scheduler_id}",
                (gaps[0][0], gaps[-1][1]),
                f"no job accounting for {missing_s:.0f} s of the bucket: what the scheduler ran"
                " then cannot corroborate the reports",
                {"uncovered_s": (missing_s, "s")},
                (a.log_index for a in accounting),
            )
        )
    if not accounting:
        return findings
    latest: dict[str, tuple[int, int, JobRecord]] = {}
    for a in accounting:
        order = (a.report.period_end_unix_ns, a.log_index)
        for job in a.report.jobs:
            held = latest.get(job.job_id)
            if held is None or (held[0], held[1]) < order:
                latest[job.job_id] = (*order, job_from_wire(job, scheduler.node_of))
    nodes = frozenset(scheduler.node_ids)
    periods = [p for p in device_periods(usage) if p.node_id in nodes]
    sources = [a.log_index for a in accounting]
    jobs = [
        # running when its last report was read: held until that report's end, no further (a
        # later report of the bucket that does not list it says it held nothing then)
        replace(j, end_ns=max(j.start_ns, end)) if j.end_ns is None and j.start_ns is not None else j
        for end, _, j in latest.values()
    ]
    for f in job_findings(jobs, windows, periods, bucket, settings=settings):
        evidence = tuple(sorted({*f.evidence, *sources}))
        findings.append(replace(f, subject=f"node:{f.subject}", evidence=evidence))
    return sorted(findings, key=Finding.sort_key)
