"""Re-deriving the chain findings of ingest from the logged reports alone.

The verifier classifies each report as it arrives (``pausewatch.chain.classify_link``); the
auditor has only the log. ``derive_ingest_findings`` replays the same decisions over the logged
reports in log order, so both sides hold the same ``chain.*`` findings. Freshness findings
depend on the challenges the verifier issued and are derived by the verifier's ingest.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from pausewatch.chain import ChainState, LinkKind, NewLink, classify_link
from pausewatch.evaluation.findings import FindingId
from pausewatch.evaluation.inputs import IngestFinding, LoggedReport
from pausewatch.reports import ReportKind

__all__ = ["derive_ingest_findings"]


@dataclass
class _Chain:
    by_seq: dict[int, LoggedReport] = field(default_factory=dict)
    head: LoggedReport | None = None


def _emit(  # noqa: PLR0917  # bound with functools.partial per report
    out: list[IngestFinding],
    r: LoggedReport,
    fid: str,
    message: str,
    first: int | None = None,
    last: int | None = None,
) -> None:
    h = r.header
    out.append(
        IngestFinding(
            finding_id=fid,
            log_index=r.log_index,
            key_id=h.key_id,
            facility_id=h.facility_id,
            subject=h.kind.subject_prefix + h.subject_id,
            start_ns=h.period_start_ns,
            end_ns=h.period_end_ns,
            message=message,
            missing_first=first,
            missing_last=last,
        )
    )


def derive_ingest_findings(reports: Iterable[LoggedReport]) -> list[IngestFinding]:
    """The ``chain.*`` findings of ``reports`` replayed in log order (sorted by log index)."""
    chains: dict[tuple[ReportKind, str], _Chain] = {}
    out: list[IngestFinding] = []
    for r in sorted(reports, key=lambda x: x.log_index):
        h = r.header
        chain = chains.setdefault((h.kind, h.key_id), _Chain())
        link = NewLink(h, r.envelope)
        state = None
        if chain.head is not None:
            before = chain.by_seq.get(h.seq - 1)
            after = chain.by_seq.get(h.seq + 1)
            at_seq = chain.by_seq.get(h.seq)
            state = ChainState(
                head=NewLink(chain.head.header, chain.head.envelope),
                at_seq=at_seq.envelope if at_seq is not None else None,
                before=before.envelope if before is not None else None,
                after_prev=after.header.prev if after is not None else None,
            )
        decision = classify_link(state, link)
        emit = functools.partial(_emit, out, r)

        if decision.kind is LinkKind.DUPLICATE:
            continue  # the verifier never logs a duplicate; a bundle that does changes nothing
        if decision.new_boot:
            emit(FindingId.CHAIN_NEW_BOOT, f"attestor restarted before seq {h.seq}")
        if decision.kind is LinkKind.GAP and decision.missing is not None and len(decision.missing):
            emit(
                FindingId.CHAIN_GAP,
                f"sequence numbers {decision.missing.start}…{decision.missing.stop - 1} were skipped",
                decision.missing.start,
                decision.missing.stop - 1,
            )
        elif decision.kind is LinkKind.FORK:
            reason = decision.proof.reason if decision.proof is not None else "conflicting report"
            emit(FindingId.CHAIN_FORK, f"equivocation at seq {h.seq}: {reason}")
        elif decision.kind is LinkKind.ROLLBACK:
            emit(FindingId.CHAIN_ROLLBACK, f"attestor state rolled back to seq {h.seq}")
        elif decision.kind is LinkKind.BACKFILL:
            emit(FindingId.CHAIN_BACKFILL, f"seq {h.seq} filled an earlier gap")
        chain.by_seq.setdefault(h.seq, r)
        if decision.advances_head:
            chain.head = r
    return out
