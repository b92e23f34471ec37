"""Reports and their chain: ``ReportBuilder`` (aggregate -> unsigned report) and ``ChainSigner``
(report -> signed envelope at the chain head). Pure: no clock, no disk, no network.

API (used by the daemon and by the scenario runner)::

    builder = ReportBuilder(facility_id="fac-a", subject_id="a-node-01")
    report = builder.usage(period, challenge_nonce=nonce, signed_ns=now)   # UsageReport
    chain = ChainSigner(signer, boot_id=os.urandom(16))
    link = chain.sign(GENESIS, report)                          # SignedReport
    link.envelope     # the exact bytes to spool, send and log
    link.next_head    # ChainHead(seq + 1, envelope_digest(link.envelope))

A meter's report is ``builder.meter(period, ...)``; a scheduler's accounting report is
``builder.accounting(window, job_accounting, source, ...)`` (``pausewatch.jobs``).

``ChainSigner.sign`` fills the chain fields (``attestor_key_id`` / ``meter_key_id`` /
``accounting_key_id``, ``boot_id``, ``seq``, ``prev``) and signs with ``sign_envelope``.
``prev`` is SHA-256 of the previous envelope's bytes (empty at seq 0). Persisting the head is
the caller's job: the daemon stores the envelope and the new head in one SQLite transaction
(``attestor.spool``), so that one seq can never be signed twice with different content *and*
leave the process.

Scenario helpers for misbehaving nodes are the same calls: a replay re-sends an old
``link.envelope``; a fork signs a different report at an old ``ChainHead``; a restart is a new
``ChainSigner`` with a fresh ``boot_id`` continuing from the stored head.
"""

from __future__ import annotations

from dataclasses import dataclass

from attestor.aggregate import PeriodAggregate
from pausewatch.envelope import PayloadType, envelope_digest, sign_envelope
from pausewatch.errors import InternalError
from pausewatch.jobs import JobAccounting, job_to_wire
from pausewatch.keys import Signer
from pausewatch.reports import (
    BOOT_ID_SIZE,
    DIGEST_SIZE,
    MAX_JOBS,
    MAX_PROBLEM_LENGTH,
    MAX_REPORT_BYTES,
    NONCE_SIZE,
    Report,
)
from pausewatch.v1 import types_pb2

__all__ = [
    "ATTESTOR_VERSION",
    "GENESIS",
    "NO_CHALLENGE",
    "ChainHead",
    "ChainSigner",
    "ReportBuilder",
    "SignedReport",
]

ATTESTOR_VERSION = "pausewatch-attestor 0.1.0"
MAX_PROBLEMS = 32  # itemised problems of one accounting read; the rest are counted in one line
_ENVELOPE_AND_CHAIN_BYTES = 1024  # key id, boot id, seq, prev, signature, payload type, cut note
_FIELD_FRAMING_BYTES = 4  # a repeated message's tag and length
NO_CHALLENGE = bytes(NONCE_SIZE)  # before any challenge was fetched: the verifier flags it stale


@dataclass(frozen=True)
class ChainHead:
    """The next report's ``seq`` and ``prev``."""

    seq: int
    prev: bytes

    def __post_init__(self) -> None:
        if self.seq < 0:
            raise InternalError("a chain head seq is never negative")
        if (self.seq == 0) != (self.prev == b""):
            raise InternalError("prev is empty exactly at seq 0")
        if self.prev and len(self.prev) != DIGEST_SIZE:
            raise InternalError("prev is a 32-byte digest")


GENESIS = ChainHead(0, b"")
"""The head of a chain with no report yet."""


@dataclass(frozen=True)
class SignedReport:
    """One signed link of the chain."""

    seq: int
    envelope: bytes
    period_start_ns: int
    period_end_ns: int
    payload_type: str

    @property
    def digest(self) -> bytes:
        return envelope_digest(self.envelope)

    @property
    def next_head(self) -> ChainHead:
        return ChainHead(self.seq + 1, self.digest)


@dataclass(frozen=True)
class ReportBuilder:
    """Builds unsigned reports for one node (``subject_id`` = node id), meter or scheduler."""

    facility_id: str
    subject_id: str
    version: str = ATTESTOR_VERSION

    def usage(
        self, period: PeriodAggregate, *, challenge_nonce: bytes, signed_ns: int
    ) -> types_pb2.UsageReport:
        _check_nonce(challenge_nonce)
        report = types_pb2.UsageReport(
            facility_id=self.facility_id,
            node_id=self.subject_id,
            period_start_unix_ns=period.start_ns,
            period_end_unix_ns=period.end_ns,
            challenge_nonce=challenge_nonce,
            attestor_version=self.version,
            signed_unix_ns=signed_ns,
        )
        report.accelerators.extend(period.accelerators)
        report.node.CopyFrom(period.node)
        report.anomalies.extend(period.anomalies)
        return report

    def meter(
        self, period: PeriodAggregate, *, challenge_nonce: bytes, signed_ns: int
    ) -> types_pb2.MeterReport:
        """A meter report from the period's single channel (the first "device")."""
        _check_nonce(challenge_nonce)
        report = types_pb2.MeterReport(
            facility_id=self.facility_id,
            meter_id=self.subject_id,
            period_start_unix_ns=period.start_ns,
            period_end_unix_ns=period.end_ns,
            challenge_nonce=challenge_nonce,
            attestor_version=self.version,
            signed_unix_ns=signed_ns,
        )
        report.anomalies.extend(period.anomalies)
        if period.accelerators:
            channel = period.accelerators[0]
            report.source.CopyFrom(channel.source)
            report.sample_count = channel.sample_count
            for name in ("energy_j", "power_mean_w", "power_min_w", "power_max_w"):
                if channel.HasField(name):
                    setattr(report, name, getattr(channel, name))
            report.energy_method = channel.energy_method
            counter = period.energy_counters.get(channel.uuid)
            if counter is not None:
                report.energy_counter_first_j, report.energy_counter_last_j = counter
        return report


    def accounting(
        self,
        window: tuple[int, int],
        accounting: JobAccounting,
        source: types_pb2.SourceInfo,
        *,
        challenge_nonce: bytes,
        signed_ns: int,
        max_bytes: int = MAX_REPORT_BYTES,
    ) -> types_pb2.AccountingReport:
        """A scheduler's accounting for ``window``: every job that held resources in it. The
        signed report stays within ``max_bytes`` (default: what the verifier takes by default) and
        ``MAX_JOBS``: GPU jobs are kept first (most GPUs first), CPU-only jobs — which explain no
        accelerator activity and count no GPU-seconds — are the first left out, and any cut is
        named in ``problems``. The jobs are signed in job id order."""
        _check_nonce(challenge_nonce)
        report = types_pb2.AccountingReport(
            facility_id=self.facility_id,
            scheduler_id=self.subject_id,
            period_start_unix_ns=window[0],
            period_end_unix_ns=window[1],
            challenge_nonce=challenge_nonce,
            source=source,
            attestor_version=self.version,
            signed_unix_ns=signed_ns,
        )
        report.problems.extend(p[:MAX_PROBLEM_LENGTH] for p in accounting.problems[:MAX_PROBLEMS])
        if len(accounting.problems) > MAX_PROBLEMS:
            report.problems.append(f"{len(accounting.problems) - MAX_PROBLEMS} more problems not itemised")
        # room for the chain fields, the signature and a line naming the cut
        budget = max_bytes - _ENVELOPE_AND_CHAIN_BYTES - report.ByteSize()
        kept: list[types_pb2.AccountedJob] = []
        left_out = 0
        for job in sorted(accounting.jobs, key=lambda j: (-j.gpus, j.job_id)):
            wire = job_to_wire(job)
            size = wire.ByteSize() + _FIELD_FRAMING_BYTES
            if len(kept) < MAX_JOBS and size <= budget:
                kept.append(wire)
                budget -= size
            else:
                left_out += 1
        if left_out:
            gpu = sum(1 for j in accounting.jobs if j.gpus) - sum(1 for j in kept if j.gpus)
            report.problems.append(
                f"{left_out} jobs left out ({gpu} with GPUs) to keep the report within"
                f" {MAX_JOBS} jobs and {max_bytes} bytes; fewest GPUs first"
            )
        report.jobs.extend(sorted(kept, key=lambda j: j.job_id))
        return report


def _check_nonce(nonce: bytes) -> None:
    if len(nonce) != NONCE_SIZE:
        raise InternalError(f"a challenge nonce is {NONCE_SIZE} bytes, got {len(nonce)}")


class ChainSigner:
    """Signs reports into this key's chain; one per daemon start (``boot_id``)."""

    def __init__(self, signer: Signer, boot_id: bytes) -> None:
        if len(boot_id) != BOOT_ID_SIZE:
            raise InternalError(f"boot_id is {BOOT_ID_SIZE} bytes")
        self._signer = signer
        self._boot_id = boot_id
        self._key_id = signer.public_key.key_id

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def boot_id(self) -> bytes:
        return self._boot_id

    def sign(self, head: ChainHead, report: Report) -> SignedReport:
        """Fill the chain fields of a copy of ``report`` and sign it at ``head``."""
        msg: Report
        if isinstance(report, types_pb2.AccountingReport):
            accounting = types_pb2.AccountingReport()
            accounting.CopyFrom(report)
            accounting.accounting_key_id = self._key_id
            msg, payload_type = accounting, PayloadType.ACCOUNTING_REPORT
        elif isinstance(report, types_pb2.UsageReport):
            usage = types_pb2.UsageReport()
            usage.CopyFrom(report)
            usage.attestor_key_id = self._key_id
            msg, payload_type = usage, PayloadType.USAGE_REPORT
        else:
            meter = types_pb2.MeterReport()
            meter.CopyFrom(report)
            meter.meter_key_id = self._key_id
            msg, payload_type = meter, PayloadType.METER_REPORT
        msg.boot_id = self._boot_id
        msg.seq = head.seq
        msg.prev = head.prev
        envelope = sign_envelope(payload_type, msg.SerializeToString(deterministic=True), [self._signer])
        return SignedReport(
            head.seq, envelope, msg.period_start_unix_ns, msg.period_end_unix_ns, payload_type
        )
