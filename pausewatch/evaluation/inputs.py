"""The domain inputs of an evaluation, built from verified log entries.

Everything here is a value: the verifier builds it from its store, the auditor from an exported
bundle, and both hand it to the same pure functions. A verdict is a function of these values
only (see ``pausewatch.evaluation``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pausewatch.commitment import Commitment
from pausewatch.envelope import ParsedEnvelope, envelope_digest
from pausewatch.errors import FormatError
from pausewatch.inventory import Inventory
from pausewatch.reports import ReportHeader, ReportKind, decode_report
from pausewatch.terms import PlannedCommitment, TermsRef
from pausewatch.v1 import types_pb2

__all__ = [
    "BucketRef",
    "EvaluationInput",
    "IngestFinding",
    "LoggedReport",
]


@dataclass(frozen=True)
class LoggedReport:
    """A report whose signature the caller verified, at its position in the log."""

    log_index: int
    envelope: bytes
    header: ReportHeader
    usage: types_pb2.UsageReport | None = None
    meter: types_pb2.MeterReport | None = None
    accounting: types_pb2.AccountingReport | None = None

    @classmethod
    def from_verified(cls, log_index: int, envelope: ParsedEnvelope) -> LoggedReport:
        """Decode a report envelope the caller has already verified against the enrolled key."""
        header, message = decode_report(envelope)
        if isinstance(message, types_pb2.UsageReport):
            return cls(log_index, envelope.raw, header, usage=message)
        if isinstance(message, types_pb2.AccountingReport):
            return cls(log_index, envelope.raw, header, accounting=message)
        return cls(log_index, envelope.raw, header, meter=message)

    def __post_init__(self) -> None:
        if self.log_index < 0:
            raise FormatError(f"log index must not be negative, got {self.log_index}")
        held = {
            ReportKind.USAGE: self.usage is not None,
            ReportKind.METER: self.meter is not None,
            ReportKind.ACCOUNTING: self.accounting is not None,
        }
        if [kind for kind, present in held.items() if present] != [self.header.kind]:
            raise FormatError("a logged report holds exactly the message its header names")

    @property
    def digest(self) -> bytes:
        return envelope_digest(self.envelope)


@dataclass(frozen=True)
class IngestFinding:
    """A finding the ingest pipeline attached to one logged report (chain or freshness).

    ``missing_first``/``missing_last`` give the sequence numbers a ``chain.gap`` skipped.
    """

    finding_id: str
    log_index: int
    key_id: str
    facility_id: str
    subject: str
    start_ns: int
    end_ns: int
    message: str = ""
    missing_first: int | None = None
    missing_last: int | None = None


@dataclass(frozen=True)
class BucketRef:
    """One (facility, time bucket) of a commitment to evaluate.

    ``previous_log_size``: the ``evaluated_log_size`` of the verdict this evaluation may
    supersede (None for the first evaluation); reports logged at or after it are late.
    """

    facility_id: str
    start_ns: int
    end_ns: int
    previous_log_size: int | None = None


@dataclass(frozen=True)
class EvaluationInput:
    """Everything one evaluation reads: the commitment, the inventories of the facilities in
    scope, and the verified reports and ingest findings of the log prefix ``evaluated_log_size``;
    under multilateral terms, the commitment made effective by the terms in force at that
    prefix, which ``terms`` names (``pausewatch.terms``).
    """

    commitment: Commitment
    inventories: Mapping[str, Inventory]
    reports: Sequence[LoggedReport]
    ingest_findings: Sequence[IngestFinding] = ()
    evaluated_log_size: int = 0
    terms: tuple[TermsRef, ...] = ()  # the terms in force applied (``commitment`` is the effective one)
    implied: bool = False  # the lab has no commitment: ``commitment`` is implied by the terms
    # per facility, every inventory version logged before ``evaluated_log_size`` with its log
    # index, in log order (the last is ``inventories``' one): each usage report is read against
    # the version logged last before it (``UsageReader``); a facility not here is read against
    # ``inventories`` alone
    inventory_versions: Mapping[str, Sequence[tuple[int, Inventory]]] = field(default_factory=dict)
    # the log's clock: (log index, issue time) of every challenge logged before
    # ``evaluated_log_size``, in log order. A bucket closes at the first challenge issued at or
    # after its end; its fixed load, band, meters and declared hardware are those of the
    # inventory version logged last before that (``bucket_inventory``)
    log_times: Sequence[tuple[int, int]] = ()
    facilities: tuple[str, ...] = field(init=False)

    @classmethod
    def planned(
        cls,
        plan: PlannedCommitment,
        inventories: Mapping[str, Inventory],
        reports: Sequence[LoggedReport],
        ingest_findings: Sequence[IngestFinding] = (),
        evaluated_log_size: int = 0,
        *,
        inventory_versions: Mapping[str, Sequence[tuple[int, Inventory]]] | None = None,
        log_times: Sequence[tuple[int, int]] = (),
    ) -> EvaluationInput:
        """The inputs of one planned evaluation (:meth:`pausewatch.terms.TermsInForce.plan`)."""
        return cls(
            plan.commitment,
            inventories,
            reports,
            ingest_findings,
            evaluated_log_size,
            terms=plan.terms,
            implied=plan.implied,
            inventory_versions=inventory_versions or {},
            log_times=log_times,
        )

    def __post_init__(self) -> None:
        for fid, inv in self.inventories.items():
            if fid != inv.facility_id:
                raise FormatError(f"inventory for {fid!r} declares facility {inv.facility_id!r}")
        for fid, versions in self.inventory_versions.items():
            if any(v.facility_id != fid for _, v in versions):
                raise FormatError(f"an inventory version for {fid!r} declares another facility")
            if any(a[0] >= b[0] for a, b in itertools.pairwise(versions)):
                raise FormatError(f"inventory versions of {fid!r} are not in log order")
            if versions and versions[-1][1] != self.inventories.get(fid):
                raise FormatError(f"the last inventory version of {fid!r} is not its inventory")
        if any(a[0] >= b[0] for a, b in itertools.pairwise(self.log_times)):
            raise FormatError("the log's challenge times are not in log order")
        in_scope = tuple(
            sorted(f for f, inv in self.inventories.items() if self.commitment.covers(f, inv.lab_id))
        )
        missing = [f for f in self.commitment.facility_ids if f not in self.inventories]
        object.__setattr__(self, "facilities", tuple(sorted(set(in_scope) | set(missing))))
        for r in self.reports:
            if r.log_index >= self.evaluated_log_size:
                raise FormatError(
                    f"report at log index {r.log_index} is beyond the evaluated log size"
                    f" {self.evaluated_log_size}"
                )
