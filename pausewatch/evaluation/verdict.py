"""From inputs to verdicts: the evaluator the verifier runs live and the auditor re-runs.

``Evaluator(inputs)`` indexes the reports once (each report goes to the facility its key is
declared in, and to every bucket its period overlaps), then answers ``verdict(bucket)`` for any
(facility, bucket) of the commitment, caching each bucket's facts. ``evaluate_bucket`` is the
one-shot form. ``compare_verdicts`` lists the differences between a stored verdict and a
recomputed one, ignoring what is not a function of the inputs (``evaluated_unix_ns``,
``revision``, ``supersedes``).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence

from pausewatch.errors import FormatError
from pausewatch.evaluation.bucket import BucketAccumulator, BucketFacts
from pausewatch.evaluation.findings import Finding, FindingId, status_of
from pausewatch.evaluation.inputs import BucketRef, EvaluationInput, IngestFinding, LoggedReport
from pausewatch.evaluation.rules import RuleContext, rules_for
from pausewatch.reports import ReportKind
from pausewatch.v1 import types_pb2

__all__ = ["Evaluator", "compare_verdicts", "evaluate_bucket"]


class Evaluator:
    """Evaluates every (facility, bucket) of one commitment over one log prefix.

    ``extend`` grows the prefix: the reports and ingest findings logged since are indexed, and
    only the cached facts of the buckets they touch are dropped, so that a scheduler pays per
    new report rather than per report of the window. ``Evaluator(inputs)`` then
    ``extend(more, …, size)`` answers exactly as ``Evaluator`` over the whole prefix would: a
    bucket's reports are folded in log order whatever order they were added in, and ingest
    findings fold to the same facts in any order.
    """

    def __init__(self, inputs: EvaluationInput) -> None:
        self.inputs = inputs
        self.evaluated_log_size = inputs.evaluated_log_size
        self._key_facility: dict[str, str] = {}
        for fid in inputs.facilities:
            inv = inputs.inventories.get(fid)
            if inv is not None:
                for key in (*inv.node_by_key, *inv.meter_by_key):
                    self._key_facility[key] = fid
        self._scope = frozenset(inputs.facilities)
        self._by_bucket: dict[tuple[str, int], list[LoggedReport]] = defaultdict(list)
        self._seqs: dict[str, set[int]] = defaultdict(set)
        self._ingest_list: list[IngestFinding] = []
        self._ingest: dict[tuple[str, int], list[int]] = defaultdict(list)
        self._gap_buckets: dict[str, set[tuple[str, int]]] = defaultdict(set)  # key → buckets with chain.gap
        self._facts: dict[tuple[str, int, int | None], BucketFacts] = {}
        self._index(inputs.reports, inputs.ingest_findings)

    def extend(
        self,
        reports: Sequence[LoggedReport],
        ingest_findings: Sequence[IngestFinding],
        evaluated_log_size: int,
    ) -> set[tuple[str, int]]:
        """Add what was logged since (index ≥ the previous size, < ``evaluated_log_size``);
        returns the (facility, bucket start) whose facts changed."""
        if evaluated_log_size < self.evaluated_log_size:
            raise ValueError("the evaluated log size must not shrink")
        for r in reports:
            if r.log_index >= evaluated_log_size:
                raise FormatError(
                    f"report at log index {r.log_index} is beyond the evaluated log size {evaluated_log_size}"
                )
        self.evaluated_log_size = evaluated_log_size
        touched = self._index(reports, ingest_findings)
        for key in [k for k in self._facts if (k[0], k[1]) in touched]:
            del self._facts[key]
        return touched

    def _index(
        self, reports: Sequence[LoggedReport], ingest_findings: Sequence[IngestFinding]
    ) -> set[tuple[str, int]]:
        c = self.inputs.commitment
        ws, we = c.window_start_ns, c.window_end_ns
        bucket_ns = c.reporting.bucket_ns
        key_facility, scope = self._key_facility, self._scope
        touched: set[tuple[str, int]] = set()
        new_seq_keys: set[str] = set()
        for r in sorted(reports, key=lambda x: x.log_index):
            h = r.header
            facility = key_facility.get(h.key_id, h.facility_id)
            if facility not in scope:
                continue
            seqs = self._seqs[h.key_id]
            if h.seq not in seqs:
                seqs.add(h.seq)
                new_seq_keys.add(h.key_id)
            start = max(h.period_start_ns, ws)
            end = min(h.period_end_ns, we)
            if start >= end:
                continue
            k = (start - ws) // bucket_ns
            while True:
                b_start = ws + k * bucket_ns
                if b_start >= end:
                    break
                self._by_bucket[(facility, b_start)].append(r)
                touched.add((facility, b_start))
                k += 1
        for g in ingest_findings:
            i = len(self._ingest_list)
            self._ingest_list.append(g)
            facility = key_facility.get(g.key_id, g.facility_id)
            if facility not in scope:
                continue
            lo = max(g.start_ns, ws)
            hi = min(g.end_ns, we)
            if lo >= hi:
                continue
            k = (lo - ws) // bucket_ns
            while ws + k * bucket_ns < hi:
                bucket = (facility, ws + k * bucket_ns)
                self._ingest[bucket].append(i)
                touched.add(bucket)
                if g.finding_id == FindingId.CHAIN_GAP:
                    self._gap_buckets[g.key_id].add(bucket)
                k += 1
        for key in new_seq_keys:  # a chain.gap turns INFO once every skipped seq is logged
            touched |= self._gap_buckets.get(key, set())
        return touched

    def facts(self, facility_id: str, start_ns: int, previous_log_size: int | None = None) -> BucketFacts:
        """The facts of one (facility, bucket), computed once."""
        key = (facility_id, start_ns, previous_log_size)
        cached = self._facts.get(key)
        if cached is not None:
            return cached
        c = self.inputs.commitment
        span = c.bucket_of(start_ns)
        if span is None or span[0] != start_ns:
            raise ValueError(f"{start_ns} is not the start of a bucket of {c.commitment_id!r}")
        acc = BucketAccumulator(
            c, facility_id, self.inputs.inventories.get(facility_id), span, previous_log_size
        )
        reports = self._by_bucket.get((facility_id, start_ns), [])
        if any(a.log_index > b.log_index for a, b in itertools.pairwise(reports)):
            reports.sort(key=lambda x: x.log_index)  # added out of log order by ``extend``
        for r in reports:
            if r.header.kind is ReportKind.USAGE:
                acc.add_usage(r)
            else:
                acc.add_meter(r)
        for i in self._ingest.get((facility_id, start_ns), []):
            g = self._ingest_list[i]
            acc.add_ingest(g, frozenset(self._seqs.get(g.key_id, set())))
        facts = acc.finish()
        self._facts[key] = facts
        return facts

    def compute_to_date(self, end_ns: int) -> tuple[float, float, float]:
        """Σ of every facility's bucket bounds from the window start to ``end_ns``."""
        lower: list[float] = []
        best: list[float] = []
        upper: list[float] = []
        for fid in self.inputs.facilities:
            for start, _ in self.inputs.commitment.buckets(until_ns=end_ns):
                lo, be, up = self.facts(fid, start).compute
                lower.append(lo)
                best.append(be)
                upper.append(up)
        if any(math.isinf(u) for u in upper):
            return math.fsum(lower), math.fsum(best), math.inf
        return math.fsum(lower), math.fsum(best), math.fsum(upper)

    def verdict(self, bucket: BucketRef, evaluated_unix_ns: int = 0) -> types_pb2.Verdict:
        """The unsigned verdict for one (facility, bucket)."""
        c = self.inputs.commitment
        if bucket.facility_id not in self.inputs.facilities:
            raise ValueError(f"facility {bucket.facility_id!r} is not in the scope of {c.commitment_id!r}")
        facts = self.facts(bucket.facility_id, bucket.start_ns, bucket.previous_log_size)
        if facts.end_ns != bucket.end_ns:
            raise ValueError(f"bucket ends at {facts.end_ns}, not {bucket.end_ns}")
        to_date = self.compute_to_date(bucket.end_ns)
        findings = sorted(
            rules_for(c, bucket.facility_id).evaluate(RuleContext(facts, to_date)), key=Finding.sort_key
        )
        status, reason = status_of(findings)
        v = types_pb2.Verdict(
            commitment_id=c.commitment_id,
            commitment_version=c.version,
            facility_id=bucket.facility_id,
            bucket_start_unix_ns=bucket.start_ns,
            bucket_end_unix_ns=bucket.end_ns,
            status=status,  # type: ignore[arg-type]  # VerdictStatus enum value
            reason=reason,
            evaluated_log_size=self.evaluated_log_size,
            evaluated_unix_ns=evaluated_unix_ns,
        )
        v.compute.lower_flop, v.compute.best_flop, v.compute.upper_flop = facts.compute
        v.compute_to_date.lower_flop, v.compute_to_date.best_flop, v.compute_to_date.upper_flop = to_date
        v.findings.extend(f.to_wire() for f in findings)
        return v

    def verdicts(self, until_ns: int, evaluated_unix_ns: int = 0) -> list[types_pb2.Verdict]:
        """Verdicts for every facility and every bucket that ends at or before ``until_ns``."""
        out = []
        for start, end in self.inputs.commitment.buckets(until_ns=until_ns):
            if end > until_ns:
                continue
            for fid in self.inputs.facilities:
                out.append(self.verdict(BucketRef(fid, start, end), evaluated_unix_ns))
        return out


def evaluate_bucket(
    inputs: EvaluationInput, bucket: BucketRef, evaluated_unix_ns: int = 0
) -> types_pb2.Verdict:
    """The unsigned verdict for one (facility, bucket): a pure function of the inputs."""
    return Evaluator(inputs).verdict(bucket, evaluated_unix_ns)


_IGNORED = frozenset({"evaluated_unix_ns", "revision", "supersedes"})


def compare_verdicts(expected: types_pb2.Verdict, recomputed: types_pb2.Verdict) -> list[str]:
    """Differences between a stored verdict and a recomputed one; empty when they agree."""
    diffs: list[str] = []
    for field in types_pb2.Verdict.DESCRIPTOR.fields:
        if field.name in _IGNORED or field.name == "findings":
            continue
        a, b = getattr(expected, field.name), getattr(recomputed, field.name)
        if a != b:
            diffs.append(f"{field.name}: stored {_show(a)} ≠ recomputed {_show(b)}")
    fa = [_finding_key(f) for f in expected.findings]
    fb = [_finding_key(f) for f in recomputed.findings]
    if fa != fb:
        only_a = sorted(set(fa) - set(fb))
        only_b = sorted(set(fb) - set(fa))
        for k in only_a:
            diffs.append(f"finding only in the stored verdict: {k[0]} {k[2]} {k[3]}…{k[4]}")
        for k in only_b:
            diffs.append(f"finding only in the recomputed verdict: {k[0]} {k[2]} {k[3]}…{k[4]}")
        if not only_a and not only_b:
            diffs.append("findings differ in order or multiplicity")
    return diffs


def _finding_key(f: types_pb2.Finding) -> tuple[str, int, str, int, int, bytes]:
    return (
        f.id,
        f.severity,
        f.subject,
        f.start_unix_ns,
        f.end_unix_ns,
        f.SerializeToString(deterministic=True),
    )


def _show(value: object) -> str:
    if isinstance(value, types_pb2.ComputeBounds):
        return f"[{value.lower_flop:.6g}, {value.best_flop:.6g}, {value.upper_flop:.6g}]"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
