"""Verdicts observed against verdicts expected: one row per (facility, bucket).

Pure: takes the scenario and the verdicts a run produced (as ``ObservedVerdict``), returns a
``Judgement`` whose rows the CLI prints as a table or JSON. An expectation judges every bucket
that starts in its range; a bucket no expectation names is shown but not judged; an expected
bucket without a verdict is a mismatch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pausewatch.v1 import types_pb2
from sim._units import format_duration
from sim.scenario import Expectation, Scenario

__all__ = ["BucketRow", "Judgement", "ObservedVerdict", "judge", "observed_from_wire"]

_STATUS_NAMES = {
    types_pb2.VERDICT_STATUS_COMPLIANT: "COMPLIANT",
    types_pb2.VERDICT_STATUS_VIOLATION: "VIOLATION",
    types_pb2.VERDICT_STATUS_INCONCLUSIVE: "INCONCLUSIVE",
}


@dataclass(frozen=True)
class ObservedVerdict:
    """The parts of a signed verdict a scenario judges, bucket times as offsets from its start."""

    facility: str
    bucket_start_ns: int
    bucket_end_ns: int
    status: str
    finding_ids: tuple[str, ...]
    reason: str = ""
    compute_upper_flop: float = 0.0
    compute_to_date_upper_flop: float = 0.0
    findings: tuple[tuple[str, str, str], ...] = ()  # (id, subject, message) for the table
    terms: tuple[str, ...] = ()  # "<terms id> v<version>" of each terms in force it applied


def observed_from_wire(verdict: types_pb2.Verdict, scenario_start_ns: int) -> ObservedVerdict:
    return ObservedVerdict(
        facility=verdict.facility_id,
        bucket_start_ns=verdict.bucket_start_unix_ns - scenario_start_ns,
        bucket_end_ns=verdict.bucket_end_unix_ns - scenario_start_ns,
        status=_STATUS_NAMES.get(verdict.status, "UNSPECIFIED"),
        finding_ids=tuple(sorted({f.id for f in verdict.findings})),
        reason=verdict.reason,
        compute_upper_flop=verdict.compute.upper_flop,
        compute_to_date_upper_flop=verdict.compute_to_date.upper_flop,
        findings=tuple((f.id, f.subject, f.message) for f in verdict.findings),
        terms=tuple(f"{t.terms_id} v{t.version}" for t in verdict.terms),
    )


@dataclass(frozen=True)
class BucketRow:
    facility: str
    bucket_start_ns: int
    expected_status: tuple[str, ...]        # empty: not judged
    expected_findings: tuple[str, ...]
    expected_absent: tuple[str, ...]
    status: str | None                      # None: no verdict
    finding_ids: tuple[str, ...]
    problems: tuple[str, ...]
    reason: str = ""

    @property
    def judged(self) -> bool:
        return bool(self.expected_status)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, object]:
        return {
            "facility": self.facility, "bucket": format_duration(self.bucket_start_ns),
            "bucket_offset_ns": self.bucket_start_ns, "judged": self.judged, "ok": self.ok,
            "expected": {"status": list(self.expected_status), "findings": list(self.expected_findings),
                         "absent": list(self.expected_absent)},
            "got": {"status": self.status, "findings": list(self.finding_ids), "reason": self.reason},
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Judgement:
    scenario: str
    rows: tuple[BucketRow, ...]
    range_problems: tuple[str, ...] = field(default=())   # `any_findings` not seen in a range

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and not self.range_problems

    @property
    def mismatches(self) -> int:
        return sum(1 for r in self.rows if not r.ok) + len(self.range_problems)


def judge(scenario: Scenario, verdicts: Iterable[ObservedVerdict]) -> Judgement:
    """Compare. A facility's verdicts are keyed by bucket start; the latest given wins."""
    got: dict[tuple[str, int], ObservedVerdict] = {}
    for v in verdicts:
        got[(v.facility, v.bucket_start_ns)] = v
    keys = set(got)
    for e in scenario.expectations:
        keys.update((e.facility, b) for b in range(e.start_ns, e.end_ns, scenario.bucket_ns))
    rows = []
    for key in sorted(keys):
        facility, bucket = key
        applicable = [e for e in scenario.expectations
                      if e.facility == facility and e.start_ns <= bucket < e.end_ns]
        rows.append(_row(facility, bucket, applicable, got.get(key)))
    range_problems = []
    for e in scenario.expectations:
        for fid in e.any_findings:
            seen = any(fid in v.finding_ids for (f, b), v in got.items()
                       if f == e.facility and e.start_ns <= b < e.end_ns)
            if not seen:
                range_problems.append(
                    f"line {e.line}: {fid} expected in some bucket of {e.facility or '(commitment)'} "
                    f"{format_duration(e.start_ns)}..{format_duration(e.end_ns)}, seen in none"
                )
    return Judgement(scenario.name, tuple(rows), tuple(range_problems))


def _row(
    facility: str, bucket: int, expectations: Sequence[Expectation], v: ObservedVerdict | None
) -> BucketRow:
    statuses: set[str] | None = None
    findings: list[str] = []
    absent: list[str] = []
    for e in expectations:
        statuses = set(e.statuses) if statuses is None else statuses & set(e.statuses)
        findings += [f for f in e.findings if f not in findings]
        absent += [f for f in e.absent if f not in absent]
    problems: list[str] = []
    if expectations:
        if v is None:
            problems.append("no verdict for this bucket")
        else:
            if statuses is not None and v.status not in statuses:
                problems.append(f"status {v.status}, expected {' or '.join(sorted(statuses)) or '(none)'}")
            problems += [f"missing finding {f}" for f in findings if f not in v.finding_ids]
            problems += [f"unexpected finding {f}" for f in absent if f in v.finding_ids]
    return BucketRow(
        facility=facility, bucket_start_ns=bucket,
        expected_status=tuple(sorted(statuses)) if statuses else (),
        expected_findings=tuple(findings), expected_absent=tuple(absent),
        status=v.status if v else None, finding_ids=v.finding_ids if v else (),
        problems=tuple(problems), reason=v.reason if v else "",
    )
