"""Integrity findings: what the folds flag report by report, and ingest's chain and freshness
findings, merged into one finding per (id, severity, subject)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Final

from pausewatch.evaluation.findings import CRITICAL, INFO, WARNING, Finding, FindingId
from pausewatch.evaluation.folds.reading import Slice
from pausewatch.evaluation.inputs import IngestFinding
from pausewatch.evaluation.intervals import Interval, clip

__all__ = ["IntegrityFold"]

_INGEST_SEVERITY: Final = {
    FindingId.CHAIN_FORK: CRITICAL,
    FindingId.CHAIN_ROLLBACK: CRITICAL,
    FindingId.CHAIN_GAP: WARNING,
    FindingId.CHAIN_NEW_BOOT: INFO,
    FindingId.CHAIN_BACKFILL: INFO,
    FindingId.FRESHNESS_STALE_CHALLENGE: WARNING,
    FindingId.FRESHNESS_UNKNOWN_CHALLENGE: WARNING,
    FindingId.FRESHNESS_CLOCK_SKEW: WARNING,
}

# A canonical message: the verifier's stored findings and the auditor's re-derived ones word
# things differently; the verdict must not depend on the wording.
_INGEST_MESSAGE: Final = {
    FindingId.CHAIN_FORK: "equivocation: two signed reports conflict",
    FindingId.CHAIN_ROLLBACK: "the attestor's sequence was rolled back",
    FindingId.CHAIN_GAP: "reports missing from the chain",
    FindingId.CHAIN_NEW_BOOT: "the attestor restarted",
    FindingId.CHAIN_BACKFILL: "a late report filled a hole in the chain",
    FindingId.FRESHNESS_STALE_CHALLENGE: "the report answers an expired challenge",
    FindingId.FRESHNESS_UNKNOWN_CHALLENGE: "the report answers a challenge the verifier never issued",
    FindingId.FRESHNESS_CLOCK_SKEW: "the report's signing time is too far from the verifier's clock",
}


class IntegrityFold:
    """The sink the other folds flag into, and the bucket's ingest findings.

    Flags are kept in the order they are raised: where one (id, severity, subject) is raised
    several times, the first of the earliest start with the smallest message gives the merged
    finding its message and quantities."""

    def __init__(self, span: Interval) -> None:
        self.span = span
        self._flags: list[Finding] = []
        self._ingest: list[IngestFinding] = []
        self._present_seqs: dict[str, frozenset[int]] = {}

    def flag(
        self,
        fid: str,
        severity: int,
        subject: str,
        at: Slice,
        message: str,
        *,
        quantities: Mapping[str, tuple[float, str]] | None = None,
    ) -> None:
        """One finding about the report ``at`` comes from, over its slice of the bucket."""
        self._flags.append(
            Finding.make(fid, severity, subject, at.part, message, quantities, (at.log_index,))
        )

    def add_ingest(self, f: IngestFinding, present_seqs: frozenset[int] | None = None) -> None:
        """Attach an ingest finding; ``present_seqs``: the seqs of its key found in the log."""
        if clip((f.start_ns, f.end_ns), self.span) is None:
            return
        self._ingest.append(f)
        if present_seqs is not None:
            self._present_seqs[f.key_id] = present_seqs

    def _ingest_finding(self, g: IngestFinding) -> Finding:
        severity: int = _INGEST_SEVERITY.get(g.finding_id, WARNING)
        if g.finding_id == FindingId.CHAIN_GAP and g.missing_first is not None and g.missing_last is not None:
            have = self._present_seqs.get(g.key_id, frozenset())
            if all(s in have for s in range(g.missing_first, g.missing_last + 1)):
                severity = INFO  # every skipped report arrived later
        message = _INGEST_MESSAGE.get(g.finding_id, "finding left by ingest")
        if g.missing_first is not None and g.missing_last is not None:
            message += f" (seq {g.missing_first}…{g.missing_last})"
        return Finding.make(
            g.finding_id, severity, g.subject, (g.start_ns, g.end_ns), message, None, (g.log_index,)
        )

    def finish(self) -> tuple[Finding, ...]:
        merged: dict[tuple[str, int, str], list[Finding]] = defaultdict(list)
        for f in (*self._flags, *(self._ingest_finding(g) for g in self._ingest)):
            merged[(f.id, f.severity, f.subject)].append(f)
        out = []
        for (fid, severity, subject), group in merged.items():
            first = min(group, key=lambda f: (f.start_ns, f.message))
            quantities = {"occurrences": (float(len(group)), "1")}
            for q in first.quantities:
                quantities.setdefault(q.name, (q.value, q.unit))
            out.append(
                Finding.make(
                    fid,
                    severity,
                    subject,
                    (min(f.start_ns for f in group), max(f.end_ns for f in group)),
                    first.message,
                    quantities,
                    (i for f in group for i in f.evidence),
                )
            )
        return tuple(sorted(out, key=Finding.sort_key))
