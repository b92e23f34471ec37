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
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pausewatch.evaluation.findings import WARNING, Finding, FindingId
from pausewatch.jobs import JobRecord
from pausewatch.v1 import types_pb2

__all__ = [
    "ACTIVE_FRACTION",
    "DevicePeriod",
    "JobEvidenceSettings",
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


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _overlap_ns(span: tuple[int, int], merged: Sequence[tuple[int, int]]) -> int:
    return sum(max(0, min(span[1], e) - max(span[0], s)) for s, e in merged)


def _clip(span: tuple[int, int], window: tuple[int, int]) -> tuple[int, int] | None:
    start, end = max(span[0], window[0]), min(span[1], window[1])
    return (start, end) if end > start else None


def job_findings(
    jobs: Sequence[JobRecord],
    window: tuple[int, int],
    periods: Sequence[DevicePeriod],
    bucket: tuple[int, int],
    *,
    node_ids: Mapping[str, str] | None = None,
    settings: JobEvidenceSettings | None = None,
) -> list[Finding]:
    """The job-accounting findings for ``bucket``. ``window``: the span ``jobs`` is complete for."""
    settings = settings or JobEvidenceSettings()
    judged = _clip(bucket, window)
    if judged is None:
        return []
    names = dict(node_ids or {})
    by_node: dict[str, list[DevicePeriod]] = {}
    for p in periods:
        by_node.setdefault(p.node_id, []).append(p)
    gpu_spans: dict[str, list[tuple[int, int]]] = {}
    findings: list[Finding] = []
    for job in sorted(jobs, key=lambda j: j.job_id):
        span = job.span(judged[1])
        clipped = None if span is None else _clip(span, judged)
        if clipped is None or job.gpus == 0 or not job.nodes:
            continue
        share = job.gpus / len(job.nodes)
        for host in job.nodes:
            node = names.get(host, host)
            gpu_spans.setdefault(node, []).append(clipped)
            during = [p for p in by_node.get(node, []) if _clip((p.start_ns, p.end_ns), clipped)]
            covered_ns = math.fsum(float(_overlap_ns(clipped, [(p.start_ns, p.end_ns)])) for p in during)
            claimed_s = share * (clipped[1] - clipped[0]) / _NS
            covered_s = covered_ns / _NS
            if claimed_s - covered_s > max(settings.min_unexplained_s, settings.tolerance * claimed_s):
                findings.append(
                    Finding.make(
                        FindingId.JOBS_UNREPORTED_GPU_SECONDS,
                        WARNING,
                        node,
                        clipped,
                        f"job {job.job_id} held {share:g} GPU(s) on {host} for"
                        f" {claimed_s / share:.0f} s of the bucket; reports cover {covered_s:.0f}"
                        " device-seconds of that time",
                        {"job_gpu_s": (claimed_s, "s"), "reported_device_s": (covered_s, "s")},
                        (p.log_index for p in during if p.log_index >= 0),
                    )
                )
    for node, mine in sorted(by_node.items()):
        explained = _merge(gpu_spans.get(node, []))
        unexplained_ns = 0.0
        evidence: list[int] = []
        first, last = judged[1], judged[0]
        for p in mine:
            if not p.active:
                continue
            span = _clip((p.start_ns, p.end_ns), judged)
            if span is None:
                continue
            free = (span[1] - span[0]) - _overlap_ns(span, explained)
            if free > 0:
                unexplained_ns += free
                first, last = min(first, span[0]), max(last, span[1])
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
