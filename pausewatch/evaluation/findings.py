"""Findings: the stable ids, their severities, and how findings decide a verdict's status.

Severity carries the decision (see ``status_of``):

- ``CRITICAL``: signed evidence of a breach → the bucket is VIOLATION;
- ``WARNING``: the bucket cannot be proven compliant → INCONCLUSIVE (unless a CRITICAL);
- ``INFO``: recorded, no effect on the status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from pausewatch.v1 import types_pb2

__all__ = [
    "ALL_FINDING_IDS",
    "CRITICAL",
    "INFO",
    "WARNING",
    "Finding",
    "FindingId",
    "Quantity",
    "status_of",
]

INFO: Final = types_pb2.SEVERITY_INFO
WARNING: Final = types_pb2.SEVERITY_WARNING
CRITICAL: Final = types_pb2.SEVERITY_CRITICAL


class FindingId:
    """Stable dotted finding ids. Scenarios, alerts and the audit depend on these strings."""

    CONTINUITY_GAP = "continuity.gap"
    CONTINUITY_TIMEOUT = "continuity.timeout"
    CONTINUITY_LATE = "continuity.late"
    CONTINUITY_COVERAGE = "continuity.coverage"
    CHAIN_GAP = "chain.gap"
    CHAIN_NEW_BOOT = "chain.new_boot"
    CHAIN_FORK = "chain.fork"
    CHAIN_ROLLBACK = "chain.rollback"
    CHAIN_BACKFILL = "chain.backfill"
    FRESHNESS_STALE_CHALLENGE = "freshness.stale_challenge"
    FRESHNESS_UNKNOWN_CHALLENGE = "freshness.unknown_challenge"
    FRESHNESS_CLOCK_SKEW = "freshness.clock_skew"
    COMPUTE_CAP_EXCEEDED = "compute.cap_exceeded"
    COMPUTE_CAP_AT_RISK = "compute.cap_at_risk"
    COMPUTE_UNKNOWN_MODEL = "compute.unknown_model"
    POWER_CAP_EXCEEDED = "power.cap_exceeded"
    POWER_CAP_UNVERIFIABLE = "power.cap_unverifiable"
    WORKLOAD_TRAINING = "workload.training"
    WORKLOAD_INFERENCE = "workload.inference"
    WORKLOAD_LOW_CONFIDENCE = "workload.low_confidence"
    ENERGY_UNEXPLAINED = "energy.unexplained"
    ENERGY_BALANCE_UNVERIFIABLE = "energy.balance_unverifiable"
    ENERGY_SILENT_DRAW = "energy.silent_draw"
    ENERGY_BASELINE_STEP = "energy.baseline_step"
    ENERGY_BASELINE_DRIFT = "energy.baseline_drift"
    METER_DISAGREEMENT = "meter.disagreement"
    INVENTORY_MISSING = "inventory.missing"
    INVENTORY_UNKNOWN_DEVICE = "inventory.unknown_device"
    INVENTORY_WRONG_LOCATION = "inventory.wrong_location"
    INVENTORY_MODEL_MISMATCH = "inventory.model_mismatch"
    PLAUSIBILITY_POWER_ACTIVITY = "plausibility.power_activity"
    PLAUSIBILITY_COUNTER_BACKWARDS = "plausibility.counter_backwards"
    TELEMETRY_INVALID = "telemetry.invalid"
    TERMS_NO_COMMITMENT = "terms.no_commitment"
    JOBS_UNEXPLAINED_ACTIVITY = "jobs.unexplained_activity"  # pausewatch.evaluation.jobs
    JOBS_UNREPORTED_GPU_SECONDS = "jobs.unreported_gpu_seconds"  # pausewatch.evaluation.jobs
    JOBS_ACCOUNTING_MISSING = "jobs.accounting_missing"  # pausewatch.evaluation.jobs


ALL_FINDING_IDS: Final = frozenset(
    v for k, v in vars(FindingId).items() if k.isupper() and isinstance(v, str)
)


@dataclass(frozen=True, order=True)
class Quantity:
    name: str
    value: float
    unit: str  # SI: "J", "W", "s", "FLOP", "bytes", "1"


@dataclass(frozen=True)
class Finding:
    """One finding of an evaluation, with its numbers and the log indices of its evidence."""

    id: str
    severity: int
    subject: str
    start_ns: int
    end_ns: int
    message: str
    quantities: tuple[Quantity, ...] = ()
    evidence: tuple[int, ...] = field(default=())

    @classmethod
    def make(  # noqa: PLR0917  # the wire Finding's fields, in their order
        cls,
        finding_id: str,
        severity: int,
        subject: str,
        span: tuple[int, int],
        message: str,
        quantities: Mapping[str, tuple[float, str]] | None = None,
        evidence: Iterable[int] = (),
    ) -> Finding:
        """Build a finding with sorted quantities and sorted, de-duplicated evidence."""
        qs = tuple(sorted(Quantity(k, float(v), u) for k, (v, u) in (quantities or {}).items()))
        return cls(finding_id, severity, subject, span[0], span[1], message, qs, tuple(sorted(set(evidence))))

    def sort_key(self) -> tuple[int, str, str, int, int, str]:
        return (-self.severity, self.id, self.subject, self.start_ns, self.end_ns, self.message)

    def to_wire(self) -> types_pb2.Finding:
        msg = types_pb2.Finding(
            id=self.id,
            severity=self.severity,  # type: ignore[arg-type]  # Severity enum value
            subject=self.subject,
            start_unix_ns=self.start_ns,
            end_unix_ns=self.end_ns,
            message=self.message,
        )
        for q in self.quantities:
            msg.quantities.add(name=q.name, value=q.value, unit=q.unit)
        msg.evidence_log_indices.extend(self.evidence)
        return msg


def status_of(findings: Iterable[Finding]) -> tuple[int, str]:
    """The verdict status the findings decide, and the reason naming the deciding ids."""
    findings = list(findings)
    critical = sorted({f.id for f in findings if f.severity == CRITICAL})
    warning = sorted({f.id for f in findings if f.severity == WARNING})
    if critical:
        return types_pb2.VERDICT_STATUS_VIOLATION, "violation: " + ", ".join(critical)
    if warning:
        return types_pb2.VERDICT_STATUS_INCONCLUSIVE, "not proven: " + ", ".join(warning)
    return types_pb2.VERDICT_STATUS_COMPLIANT, "compliant: coverage, bounds, balance and workload proven"
