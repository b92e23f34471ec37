"""What an audit concludes: failures (the bundle does not prove what it claims), observations
(authentic evidence the verifier also saw: gaps, restarts, forks), counts, and the series the
HTML report draws.

A failure has a stable dotted ``check`` id (``bundle.digest``, ``tree.root``,
``signature.report``, ``chain.duplicate``, ``challenge.unknown``, ``verdict.mismatch`` …), the
subject it is about, the log index where one applies, and a message a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "MAX_RECORDED_FAILURES",
    "AuditFailure",
    "AuditOutcome",
    "FacilitySeries",
    "FindingMark",
    "Observation",
    "SeriesPoint",
    "VerdictMark",
]

MAX_RECORDED_FAILURES: Final = 1000


@dataclass(frozen=True)
class AuditFailure:
    check: str
    subject: str
    message: str
    index: int | None = None

    def describe(self) -> str:
        at = f" (log index {self.index})" if self.index is not None else ""
        return f"{self.check}: {self.subject}{at}: {self.message}"


@dataclass(frozen=True)
class Observation:
    """Evidence in the log that is authentic but notable (what the verifier's findings say)."""

    finding: str
    subject: str
    index: int
    detail: str = ""


@dataclass
class SeriesPoint:
    """One facility over one minute: each report's quantities spread over the minutes its own
    period covers, in proportion to the overlap (a 5-minute report adds a fifth of its energy
    and accelerator-time to each of its five minutes)."""

    node_energy_j: float = 0.0
    meter_energy_j: float = 0.0
    device_seconds: float = 0.0
    tensor_seconds: float = 0.0
    reports: int = 0

    def add(self, other: SeriesPoint) -> None:
        self.node_energy_j += other.node_energy_j
        self.meter_energy_j += other.meter_energy_j
        self.device_seconds += other.device_seconds
        self.tensor_seconds += other.tensor_seconds
        self.reports += other.reports


@dataclass(frozen=True)
class FindingMark:
    """One finding of a logged verdict, as the report and ``audit --json`` show it."""

    id: str
    severity: str
    subject: str
    start_ns: int
    end_ns: int
    message: str
    evidence: tuple[int, ...] = ()  # log indices of the evidence


@dataclass(frozen=True)
class VerdictMark:
    """A logged verdict and what its re-run concluded: ``rerun`` is ``match``, ``mismatch``
    (``rederived_status`` then holds what the re-run found, when it ran), ``other rules`` (made
    under other evaluation rules and re-derived differently: unverified) or ``not re-run``."""

    facility_id: str
    commitment_id: str
    start_ns: int
    end_ns: int
    status: str
    reason: str
    matches: bool
    index: int = -1
    revision: int = 0
    findings: tuple[FindingMark, ...] = ()
    rerun: str = "not re-run"
    rederived_status: str = ""
    rules: str = ""  # the evaluation rules the verdict names (empty: unnamed)


@dataclass
class FacilitySeries:
    """What the report draws for one facility. ``points`` are minutes (see ``SeriesPoint``);
    ``extent`` is the earliest report period start and latest end (ns; (0, 0) without
    reports); ``periods`` counts reports by period length (ns), to choose a bin width that
    fits them; ``declared_nodes`` maps each node of the latest inventory to its declared
    accelerators and ``node_seconds`` each reporting node to its reported accelerator-seconds."""

    facility_id: str
    declared_devices: int = 0
    points: dict[int, SeriesPoint] = field(default_factory=dict)  # minute start (ns) -> point
    verdicts: list[VerdictMark] = field(default_factory=list)
    extent: tuple[int, int] = (0, 0)
    periods: dict[int, int] = field(default_factory=dict)
    declared_nodes: dict[str, int] = field(default_factory=dict)
    node_seconds: dict[str, float] = field(default_factory=dict)

    def widen(self, start_ns: int, end_ns: int) -> None:
        lo, hi = self.extent
        self.extent = (start_ns, end_ns) if lo == hi == 0 else (min(lo, start_ns), max(hi, end_ns))


@dataclass
class AuditOutcome:
    """Everything the auditor found. ``ok`` only when nothing failed."""

    bundle: str
    origin: str = ""
    tree_size: int = 0
    scope: str = ""
    trust_source: str = ""
    pinned: bool = False
    # (role, name, key) of every key the audit trusted: the log and witness keys of the
    # policy (vkey name and key id), the verdict, challenge, lab and party keys of the roots
    # (derived key id, the first 16 hex digits)
    trusted_keys: tuple[tuple[str, str, str], ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    checkpoints: int = 0
    witnesses: tuple[str, ...] = ()
    failures: list[AuditFailure] = field(default_factory=list)
    dropped_failures: int = 0
    observations: list[Observation] = field(default_factory=list)
    verdicts_checked: int = 0
    verdicts_matched: int = 0
    verdicts_not_rerun: int = 0
    # made under other evaluation rules than the auditor's and re-derived differently: unverified
    # (``verdict.rules``; failures unless the user accepted them, then listed here)
    verdicts_other_rules: int = 0
    other_rules: list[AuditFailure] = field(default_factory=list)
    series: dict[str, FacilitySeries] = field(default_factory=dict)
    seconds: float = 0.0
    workers: int = 1

    @property
    def ok(self) -> bool:
        return not self.failures and not self.dropped_failures

    def fail(self, check: str, subject: str, message: str, index: int | None = None) -> None:
        if len(self.failures) >= MAX_RECORDED_FAILURES:
            self.dropped_failures += 1
            return
        self.failures.append(AuditFailure(check, subject, message, index))

    def failed_checks(self) -> list[str]:
        return sorted({f.check for f in self.failures})
