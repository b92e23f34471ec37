"""The boundary between wire messages and domain values for signed reports.

``decode_report`` turns a structurally valid, *already verified* envelope into a
``ReportHeader`` (the fields every check needs, validated) plus the wire message. Invariants
checked here once, so that nothing downstream re-checks them: ids are short printable
strings, ``boot_id`` is 16 bytes, ``prev`` is empty only at seq 0 and 32 bytes otherwise, the
challenge nonce is 32 bytes, the period is positive and at most a day, repeated fields are
bounded, and every float on the wire is finite and at most ``MAX_MAGNITUDE`` in magnitude.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from google.protobuf import unknown_fields
from google.protobuf.message import Message

from pausewatch.envelope import ParsedEnvelope, PayloadType, parse_message
from pausewatch.errors import FormatError, LimitExceededError
from pausewatch.v1 import types_pb2

__all__ = [
    "BOOT_ID_SIZE",
    "DIGEST_SIZE",
    "MAX_ACCELERATORS",
    "MAX_ANOMALIES",
    "MAX_ID_LENGTH",
    "MAX_JOBS",
    "MAX_PERIOD_NS",
    "MAX_REPORT_BYTES",
    "NONCE_SIZE",
    "REPORT_PAYLOAD_TYPES",
    "ReportHeader",
    "ReportKind",
    "check_id",
    "decode_report",
    "report_key_id",
]

BOOT_ID_SIZE: Final = 16
DIGEST_SIZE: Final = 32
NONCE_SIZE: Final = 32
MAX_ID_LENGTH: Final = 128
MAX_ACCELERATORS: Final = 64
MAX_ANOMALIES: Final = 1024
# No quantity a report carries comes near (watts, joules, bytes per period, fractions); the
# evaluation squares and sums them, and a finite 1e160 W overflowed there and stopped every
# verdict (a red team, 2026-12-05). 1e30 leaves squares and sums of squares far from overflow.
MAX_MAGNITUDE: Final = 1e30
MAX_PERIOD_NS: Final = 86_400 * 1_000_000_000
MAX_JOBS: Final = 10_000  # allocations one accounting report lists
MAX_JOB_HOSTS: Final = 50_000  # hosts of one allocation (an inventory's node limit)
MAX_PROBLEM_LENGTH: Final = 256
MAX_STATE_LENGTH: Final = 32
# The largest report envelope an honest attestor signs, and the verifier's default limit
# (``limits.max_report_bytes``): a period of an 8-GPU node is ~2.3 KiB, one of MAX_ACCELERATORS
# devices ~15 KiB, and the attestor itemises at most 64 anomaly records of ≤ 64-character raw
# values (~9 KiB; ``attestor.aggregate``), counting the rest in one record.
MAX_REPORT_BYTES: Final = 32 * 1024


class ReportKind(Enum):
    USAGE = "usage"
    METER = "meter"
    ACCOUNTING = "accounting"

    @property
    def subject_prefix(self) -> str:
        """How findings name the subject of a report of this kind: ``node:``, ``meter:``, ``scheduler:``."""
        return _SUBJECT_PREFIX[self]


_SUBJECT_PREFIX: Final = {
    ReportKind.USAGE: "node:",
    ReportKind.METER: "meter:",
    ReportKind.ACCOUNTING: "scheduler:",
}

REPORT_PAYLOAD_TYPES: Final = (
    PayloadType.USAGE_REPORT,
    PayloadType.METER_REPORT,
    PayloadType.ACCOUNTING_REPORT,
)
"""The payload types that are reports: signed into a chain by an enrolled key."""

Report = types_pb2.UsageReport | types_pb2.MeterReport | types_pb2.AccountingReport

_KIND_BY_VALUE: Final = {k.value: k for k in ReportKind}  # ReportKind(value) without the Enum call


@dataclass(frozen=True)
class ReportHeader:
    """What every chain, freshness and coverage check needs of a report, validated."""

    kind: ReportKind
    key_id: str        # as the payload claims it; the verifier checks it equals the signer's
    facility_id: str
    subject_id: str    # node id (usage), meter id (meter) or scheduler id (accounting)
    boot_id: bytes
    seq: int
    prev: bytes
    period_start_ns: int
    period_end_ns: int
    challenge_nonce: bytes
    signed_ns: int

    def row(self) -> tuple[str, str, str, str, bytes, int, bytes, int, int, bytes, int]:
        """The fields in declaration order, the kind as its value: what storage rows and the
        admission workers' replies carry (:meth:`from_row` reads it back)."""
        return (
            self.kind.value,
            self.key_id,
            self.facility_id,
            self.subject_id,
            self.boot_id,
            self.seq,
            self.prev,
            self.period_start_ns,
            self.period_end_ns,
            self.challenge_nonce,
            self.signed_ns,
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> ReportHeader:
        """The header of a :meth:`row` (already validated when it was made)."""
        kind = _KIND_BY_VALUE.get(row[0])
        return cls(ReportKind(row[0]) if kind is None else kind, *row[1:11])  # the call raises on a bad value


def check_id(value: str, field: str) -> str:
    """An identifier: 1..128 printable ASCII characters without spaces."""
    if not value:
        raise FormatError(f"{field} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise LimitExceededError(f"{field} is {len(value)} characters; the limit is {MAX_ID_LENGTH}")
    # isascii() and isprintable() run in C; together with "no space" they mean 0x21..0x7E.
    if not (value.isascii() and value.isprintable()) or " " in value:
        raise FormatError(f"{field} must be printable ASCII without spaces: {value[:40]!r}")
    return value


@dataclass(frozen=True)
class _FloatPlan:
    """Where a message type keeps its floating-point values, worked out once per type."""

    floats: tuple[str, ...]           # singular float and double fields
    repeated_floats: tuple[str, ...]
    messages: tuple[tuple[str, _FloatPlan], ...]  # singular message fields that hold floats
    repeated_messages: tuple[tuple[str, _FloatPlan], ...]
    single: bool = False  # a 32-bit float field here or below (else only doubles)

    @property
    def empty(self) -> bool:
        return not (self.floats or self.repeated_floats or self.messages or self.repeated_messages)


@functools.cache  # one plan per message type, worked out on first use
def _float_plan(descriptor: Any) -> _FloatPlan:
    """The float fields of a message type and of the types below it (wire types form no cycle
    here; a recursive type would need a depth bound, and none exists in the protocol). The
    descriptor is typed ``Any``: upb's and the pure-Python descriptor classes differ."""
    floats: list[str] = []
    repeated_floats: list[str] = []
    messages: list[tuple[str, _FloatPlan]] = []
    repeated_messages: list[tuple[str, _FloatPlan]] = []
    single = False
    for f in descriptor.fields:
        if f.type in (f.TYPE_DOUBLE, f.TYPE_FLOAT):
            (repeated_floats if f.is_repeated else floats).append(f.name)
            single = single or f.type == f.TYPE_FLOAT
        elif f.type == f.TYPE_MESSAGE and f.message_type is not None:
            sub = _float_plan(f.message_type)
            if not sub.empty:
                (repeated_messages if f.is_repeated else messages).append((f.name, sub))
                single = single or sub.single
    return _FloatPlan(
        tuple(floats), tuple(repeated_floats), tuple(messages), tuple(repeated_messages), single
    )


def _gather_floats(message: Message, plan: _FloatPlan, out: list[float]) -> None:
    """Append every float of ``message`` to ``out`` (an unset field reads as 0.0, finite)."""
    for name in plan.floats:
        out.append(getattr(message, name))
    for name in plan.repeated_floats:
        out.extend(getattr(message, name))
    for name, sub in plan.messages:
        if message.HasField(name):
            _gather_floats(getattr(message, name), sub, out)
    for name, sub in plan.repeated_messages:
        for item in getattr(message, name):
            _gather_floats(item, sub, out)


def _check_finite(message: Message, where: str) -> None:
    """Every float in ``message`` is finite and at most ``MAX_MAGNITUDE`` in magnitude. The
    values are gathered once and decided by C-level ``sum``, ``min`` and ``max`` (the sum is
    finite exactly when all are, except when finite values overflow it); only a report that
    fails walks its fields to name the culprit. (A scan of the wire bytes for non-finite bit
    patterns, which spared most reports the gathering, could not see a value too large.)"""
    plan = _float_plan(message.DESCRIPTOR)
    values: list[float] = []
    _gather_floats(message, plan, values)
    if values and not (
        math.isfinite(sum(values)) and min(values) >= -MAX_MAGNITUDE and max(values) <= MAX_MAGNITUDE
    ):
        _name_bad_value(message, where)


def _name_bad_value(message: Message, where: str) -> None:
    for field, value in message.ListFields():
        name = f"{where}.{field.name}"
        if field.type == field.TYPE_MESSAGE:
            items = value if field.is_repeated else [value]
            for i, item in enumerate(items):
                _name_bad_value(item, f"{name}[{i}]" if field.is_repeated else name)
        elif field.type in (field.TYPE_DOUBLE, field.TYPE_FLOAT):
            values = value if field.is_repeated else [value]
            for v in values:
                if not math.isfinite(v):
                    raise FormatError(f"{name} is {v}: wire values must be finite")
                if abs(v) > MAX_MAGNITUDE:
                    raise FormatError(f"{name} is {v}: wire values must be at most {MAX_MAGNITUDE:g} in magnitude")  # noqa: E501


def decode_report(envelope: ParsedEnvelope) -> tuple[ReportHeader, Report]:
    """Decode and validate a usage, meter or accounting report. Call only after the signature
    verified."""
    if envelope.payload_type == PayloadType.USAGE_REPORT:
        usage = parse_message(envelope.payload, types_pb2.UsageReport)
        if len(usage.accelerators) > MAX_ACCELERATORS:
            raise LimitExceededError(
                f"report lists {len(usage.accelerators)} accelerators; the limit is {MAX_ACCELERATORS}"
            )
        for i, acc in enumerate(usage.accelerators):
            check_id(acc.uuid, f"accelerators[{i}].uuid")
        anomalies = len(usage.anomalies)
        header = _header(ReportKind.USAGE, usage, usage.attestor_key_id, usage.node_id, "node_id")
        message: Report = usage
    elif envelope.payload_type == PayloadType.METER_REPORT:
        meter = parse_message(envelope.payload, types_pb2.MeterReport)
        anomalies = len(meter.anomalies)
        header = _header(ReportKind.METER, meter, meter.meter_key_id, meter.meter_id, "meter_id")
        message = meter
    elif envelope.payload_type == PayloadType.ACCOUNTING_REPORT:
        accounting = parse_message(envelope.payload, types_pb2.AccountingReport)
        anomalies = len(accounting.problems)
        key_id, scheduler_id = accounting.accounting_key_id, accounting.scheduler_id
        header = _header(ReportKind.ACCOUNTING, accounting, key_id, scheduler_id, "scheduler_id")
        _check_jobs(accounting)
        message = accounting
    else:
        raise FormatError(f"payload type {envelope.payload_type!r} is not a report")
    _check_sole_signature(envelope, header.key_id)
    if anomalies > MAX_ANOMALIES:
        raise LimitExceededError(f"report carries {anomalies} anomalies; the limit is {MAX_ANOMALIES}")
    _check_header(header)
    _check_finite(message, "report")
    return header, message


def _header(kind: ReportKind, msg: Report, key_id: str, subject_id: str, subject_field: str) -> ReportHeader:
    """The chain fields every report kind has under the same names, ids checked."""
    return ReportHeader(
        kind=kind,
        key_id=key_id,
        facility_id=check_id(msg.facility_id, "facility_id"),
        subject_id=check_id(subject_id, subject_field),
        boot_id=msg.boot_id,
        seq=msg.seq,
        prev=msg.prev,
        period_start_ns=msg.period_start_unix_ns,
        period_end_ns=msg.period_end_unix_ns,
        challenge_nonce=msg.challenge_nonce,
        signed_ns=msg.signed_unix_ns,
    )


def _check_jobs(report: types_pb2.AccountingReport) -> None:
    """An accounting report's jobs: bounded, named, physically possible, times in order. A job
    of a newer schema (fields this version does not know) is refused, not half-read: its
    unknown fields could change what the known ones mean."""
    if len(unknown_fields.UnknownFieldSet(report)) or any(
        len(unknown_fields.UnknownFieldSet(j)) for j in report.jobs
    ):
        raise FormatError(
            "accounting report carries fields this verifier does not know (a newer schema?);"
            " it reads pausewatch.v1.AccountingReport"
        )
    if len(report.jobs) > MAX_JOBS:
        raise LimitExceededError(f"accounting report lists {len(report.jobs)} jobs; the limit is {MAX_JOBS}")
    for i, problem in enumerate(report.problems):
        if len(problem) > MAX_PROBLEM_LENGTH:
            raise LimitExceededError(f"problems[{i}] is longer than {MAX_PROBLEM_LENGTH} characters")
    for i, job in enumerate(report.jobs):
        where = f"jobs[{i}]"
        check_id(job.job_id, f"{where}.job_id")
        if len(job.state) > MAX_STATE_LENGTH or not (job.state.isascii() and job.state.isprintable()):
            raise FormatError(f"{where}.state: up to {MAX_STATE_LENGTH} printable ASCII characters")
        if len(job.hosts) > MAX_JOB_HOSTS:
            raise LimitExceededError(f"{where}.hosts: {len(job.hosts)} hosts; the limit is {MAX_JOB_HOSTS}")
        for j, host in enumerate(job.hosts):
            check_id(host, f"{where}.hosts[{j}]")
        if len(set(job.hosts)) != len(job.hosts):
            raise FormatError(f"{where}.hosts: a host is listed twice")
        if job.gpus > MAX_ACCELERATORS * max(1, len(job.hosts)):
            raise FormatError(
                f"{where}.gpus: {job.gpus} GPUs on {len(job.hosts)} host(s); a node holds at most"
                f" {MAX_ACCELERATORS}"
            )
        if job.HasField("start_unix_ns") and job.start_unix_ns <= 0:
            raise FormatError(f"{where}.start_unix_ns: {job.start_unix_ns} is not a time")
        if job.HasField("end_unix_ns"):
            if not job.HasField("start_unix_ns"):
                raise FormatError(f"{where}: an end without a start")
            if job.end_unix_ns < job.start_unix_ns:
                raise FormatError(f"{where}: ends ({job.end_unix_ns}) before it starts ({job.start_unix_ns})")
        if job.HasField("elapsed_s") and job.elapsed_s < 0:
            raise FormatError(f"{where}.elapsed_s: {job.elapsed_s} is negative")


def report_key_id(envelope: ParsedEnvelope) -> str:
    """The key id a report's one signature names; checked before any signature is verified.

    A report carries exactly one signature, its attestor's, and that signature names the key
    the payload claims (:func:`decode_report` checks the claim once the signature verified).
    So a report costs at most one Ed25519 check, under the key its signature names: a report
    carrying many signatures that name enrolled keys is refused before any check. And since
    neither a second signature nor the key-id hint is covered by the signature, without this
    anyone holding a report could re-wrap it in other bytes (another digest) around the same
    signed content, and pass the copy off as a conflicting report: a forged fork.
    """
    if len(envelope.signatures) != 1:
        raise FormatError(
            f"a report carries exactly one signature, its attestor's; this one has {len(envelope.signatures)}"
        )
    return envelope.signatures[0][0]


def _check_sole_signature(envelope: ParsedEnvelope, key_id: str) -> None:
    if report_key_id(envelope) != key_id:
        raise FormatError("the report's signature names another key id than the report itself")


def _check_header(h: ReportHeader) -> None:
    check_id(h.key_id, "key id")
    if len(h.boot_id) != BOOT_ID_SIZE:
        raise FormatError(f"boot_id must be {BOOT_ID_SIZE} bytes, got {len(h.boot_id)}")
    if h.seq == 0 and h.prev:
        raise FormatError("the first report (seq 0) must have an empty prev")
    if h.seq > 0 and len(h.prev) != DIGEST_SIZE:
        raise FormatError(f"prev must be a {DIGEST_SIZE}-byte SHA-256 digest, got {len(h.prev)} bytes")
    if len(h.challenge_nonce) != NONCE_SIZE:
        raise FormatError(f"challenge_nonce must be {NONCE_SIZE} bytes, got {len(h.challenge_nonce)}")
    if h.period_start_ns <= 0 or h.period_end_ns <= h.period_start_ns:
        raise FormatError(f"period must be positive: start {h.period_start_ns}, end {h.period_end_ns}")
    if h.period_end_ns - h.period_start_ns > MAX_PERIOD_NS:
        raise LimitExceededError("a report period may be at most one day")
