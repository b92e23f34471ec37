"""The ingest pipeline's pure stages: no gRPC, no disk, one reference time passed in.

Order (the servicer and the sequencer call these in it):

1. :func:`admit_report` — size limit → envelope structure → exactly one signature
   (:func:`pausewatch.reports.report_key_id`) → the enrolled key its key id names (an unknown
   id is refused without any check) → that one signature over the exact bytes, verified with
   the key *we* hold: at most one Ed25519 check per report, whatever it carries → payload
   decoding and invariants → the payload names the signer's key and the facility and
   node/meter that key is enrolled for. Raises; a rejected report leaves nothing behind.
2. :class:`RateLimiter` — per-key token bucket on the injected clock, charged by the servicer
   after the signature (so a stranger cannot spend an attestor's budget) and only for reports
   that are not exact duplicates of a logged report or of one earlier in the batch (so a
   replayer of captured envelopes cannot either; the sequencer's digest index decides).
3. In the log sequencer, in log order: the key still enrolled for its facility and subject in
   the tick's enrollment (an inventory logged before the report may have changed it since
   admission), exact-duplicate check, :func:`pausewatch.chain.classify_link`, then
   :func:`chain_findings` and :func:`freshness_findings` turn the decision and the challenge
   into findings. Authentic but suspicious reports are stored.

Freshness is the shared rule of :mod:`pausewatch.freshness`, judged from the log alone: a
report at log index ``i`` is judged against the challenges logged before ``i`` (the
sequencer's :class:`pausewatch.freshness.ChallengeHistory`), never against the verifier's
wall clock, so an auditor replaying the log reaches the same findings. In short, with
``skew`` = ``challenge.max_clock_skew_s`` and the report's period ``[start, end)``:
``freshness.stale_challenge`` for an all-zero nonce or a challenge that was not live for the
period (issued after ``end + skew``, or expired before ``start - skew`` while a newer one had
been issued by ``end + skew`` — a report delivered late after a verifier outage, answering the
last challenge issued before it, is late but not stale); ``freshness.unknown_challenge`` for a
nonce logged nowhere before the report; ``freshness.clock_skew`` for a report signed, or
ending, more than ``skew`` after the newest logged challenge expired (the log's own clock:
the verifier logs a challenge at start and every interval after).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

from pausewatch import freshness
from pausewatch.chain import ChainDecision, LinkKind
from pausewatch.envelope import ParsedEnvelope, envelope_digest, parse_envelope, verify_envelope
from pausewatch.errors import FormatError, LimitExceededError, PausewatchError, SignatureError
from pausewatch.freshness import ChallengeHistory, assess_freshness
from pausewatch.keys import Ed25519Key
from pausewatch.reports import REPORT_PAYLOAD_TYPES, ReportHeader, ReportKind, decode_report, report_key_id
from pausewatch.v1 import types_pb2
from verifier.errors import NotEnrolledHereError, RateLimitedError, UnknownKeyError

__all__ = [
    "MAX_WIRE_INT",
    "AdmittedReport",
    "EnrolledKey",
    "Enrollment",
    "FindingId",
    "RateLimiter",
    "admit_batch",
    "admit_report",
    "chain_findings",
    "freshness_findings",
    "make_finding",
]

MAX_WIRE_INT: Final = (1 << 63) - 1  # uint64 fields are stored as SQLite int64
_NS_PER_MINUTE: Final = 60_000_000_000


class FindingId:
    """The stable ids of findings the ingest path leaves."""

    GAP = "chain.gap"
    NEW_BOOT = "chain.new_boot"
    FORK = "chain.fork"
    ROLLBACK = "chain.rollback"
    BACKFILL = "chain.backfill"
    STALE_CHALLENGE = freshness.STALE_CHALLENGE
    UNKNOWN_CHALLENGE = freshness.UNKNOWN_CHALLENGE
    CLOCK_SKEW = freshness.CLOCK_SKEW


@dataclass(frozen=True)
class EnrolledKey:
    """A report key as an inventory enrols it: which facility and node (meter, scheduler) it speaks for."""

    key: Ed25519Key  # verifies in libsodium, which releases the GIL: admission threads run in parallel
    kind: ReportKind
    facility_id: str
    subject_id: str  # node id, meter id or scheduler id
    inventory_version: int
    proven: bool = False  # the entry carries a proof of possession (pausewatch.enrolment)


@dataclass(frozen=True)
class Enrollment:
    """Every enrolled report key, by derived key id, from the latest inventory of each facility."""

    keys: Mapping[str, EnrolledKey] = field(default_factory=dict)

    @classmethod
    def from_inventories(cls, inventories: Iterable[types_pb2.Inventory]) -> Enrollment:
        keys: dict[str, EnrolledKey] = {}

        def enrol(entry: EnrolledKey) -> None:
            held = keys.get(entry.key.key_id)
            if held is None or held.facility_id == entry.facility_id or entry.proven or not held.proven:
                keys[entry.key.key_id] = entry  # a proven entry is never displaced by an unproven one

        for inv in inventories:
            for node in inv.nodes:
                k = Ed25519Key(node.attestor_public_key)
                proven = bool(node.enrolment_proof)
                enrol(EnrolledKey(k, ReportKind.USAGE, inv.facility_id, node.node_id, inv.version, proven))
            for meter in inv.meters:
                k = Ed25519Key(meter.public_key)
                proven = bool(meter.enrolment_proof)
                enrol(EnrolledKey(k, ReportKind.METER, inv.facility_id, meter.meter_id, inv.version, proven))
            for sch in inv.schedulers:
                k = Ed25519Key(sch.public_key)
                proven = bool(sch.enrolment_proof)
                enrol(
                    EnrolledKey(
                        k, ReportKind.ACCOUNTING, inv.facility_id, sch.scheduler_id, inv.version, proven
                    )
                )
        return cls(keys)

    def replace_facility(self, inventory: types_pb2.Inventory) -> Enrollment:
        """The enrollment after ``inventory`` becomes its facility's latest version."""
        kept = {k: v for k, v in self.keys.items() if v.facility_id != inventory.facility_id}
        kept.update(Enrollment.from_inventories([inventory]).keys)
        return Enrollment(kept)


@dataclass(frozen=True)
class AdmittedReport:
    """A report whose signature verified under its enrolled key and whose header is valid."""

    envelope: ParsedEnvelope
    header: ReportHeader
    enrolled: EnrolledKey

    @cached_property
    def digest(self) -> bytes:
        """Its envelope digest (what duplicates, chain links and storage use), computed once."""
        return envelope_digest(self.envelope.raw)


def admit_report(raw: bytes, enrollment: Enrollment, *, max_envelope_bytes: int) -> AdmittedReport:
    """Stage 1 of ingest; raise the precise error, return a report fit for the chain check.
    ``max_envelope_bytes`` is the report limit (``limits.max_report_bytes``)."""
    if len(raw) > max_envelope_bytes:
        raise LimitExceededError(
            f"report envelope is {len(raw)} bytes; the limit is {max_envelope_bytes}"
            " (limits.max_report_bytes)"
        )
    envelope = parse_envelope(raw, max_bytes=max_envelope_bytes)
    if envelope.payload_type not in REPORT_PAYLOAD_TYPES:
        raise FormatError(
            f"SubmitReports takes usage, meter and accounting reports, not {envelope.payload_type}"
        )
    enrolled = _signer(envelope, enrollment)
    header, _ = decode_report(envelope)
    if header.key_id != enrolled.key.key_id:
        raise SignatureError(
            f"report names key {header.key_id[:16]} but is signed by {enrolled.key.key_id[:16]}"
        )
    if header.kind is not enrolled.kind:
        raise NotEnrolledHereError(
            f"key {enrolled.key.key_id[:16]} is enrolled for {enrolled.kind.value} reports,"
            f" not {header.kind.value} reports"
        )
    if (header.facility_id, header.subject_id) != (enrolled.facility_id, enrolled.subject_id):
        raise NotEnrolledHereError(
            f"key {enrolled.key.key_id[:16]} is enrolled for {enrolled.facility_id}/"
            f"{enrolled.subject_id}, not {header.facility_id}/{header.subject_id}"
        )
    if header.seq > MAX_WIRE_INT:
        raise FormatError(f"seq {header.seq} is above 2^63-1")
    return AdmittedReport(envelope, header, enrolled)


def admit_batch(
    raws: Sequence[bytes], enrollment: Enrollment, *, max_envelope_bytes: int
) -> list[AdmittedReport | PausewatchError]:
    """:func:`admit_report` for each envelope of a batch, the error in place of a rejected one.
    Pure and thread-safe (``enrollment`` is immutable): the servicer runs it on its admission
    threads, where the signature checks run in parallel."""
    out: list[AdmittedReport | PausewatchError] = []
    for raw in raws:
        try:
            out.append(admit_report(raw, enrollment, max_envelope_bytes=max_envelope_bytes))
        except PausewatchError as e:
            out.append(e)
    return out


def _signer(envelope: ParsedEnvelope, enrollment: Enrollment) -> EnrolledKey:
    enrolled = enrollment.keys.get(report_key_id(envelope))
    if enrolled is None:
        raise UnknownKeyError("the report's signature names no enrolled key")
    try:
        verify_envelope(envelope, enrolled.key)
    except SignatureError as e:
        raise SignatureError(f"report signature does not verify under its enrolled key: {e}") from e
    return enrolled


class RateLimiter:
    """Per-key token buckets: ``per_minute`` tokens a minute of the injected clock, at most
    ``burst`` saved up. Deterministic: the caller passes the time. A token is a report, or (for
    the per-key byte quota) a byte of report envelope: ``unit`` names it in the refusal."""

    def __init__(
        self, per_minute: float, burst: int, *, max_keys: int = 1_000_000, unit: str = "reports"
    ) -> None:
        self._rate = per_minute / _NS_PER_MINUTE
        self._burst = float(burst)
        self._max_keys = max_keys
        self._unit = unit
        self._buckets: dict[str, tuple[float, int]] = {}
        self.changes = 0  # spends so far: the server saves the state when it moved

    def snapshot(self, now_ns: int) -> dict[str, tuple[float, int]]:
        """Every key's (tokens, as of) that is not back to a full bucket by ``now_ns``: what a
        restart must not forget (verifier.rate_state)."""
        return {k: (t, at) for k, (t, at) in self._buckets.items() if self._tokens(k, now_ns) < self._burst}

    def restore(self, buckets: Mapping[str, tuple[float, int]]) -> None:
        """Take back a :meth:`snapshot` (tokens capped at this limiter's burst)."""
        for key, (tokens, at) in list(buckets.items())[: self._max_keys]:
            self._buckets[key] = (min(float(tokens), self._burst), int(at))

    def _tokens(self, key_id: str, now_ns: int) -> float:
        tokens, at = self._buckets.get(key_id, (self._burst, now_ns))
        return min(self._burst, tokens + max(0, now_ns - at) * self._rate)

    def check(self, key_id: str, now_ns: int, count: int = 1) -> None:
        """Raise RateLimitedError when ``take`` would; spend nothing."""
        self._enough(key_id, now_ns, count)

    def _enough(self, key_id: str, now_ns: int, count: int) -> float:
        """The tokens ``key_id`` holds at ``now_ns``; RateLimitedError when fewer than ``count``."""
        tokens = self._tokens(key_id, now_ns)
        if tokens < count:
            raise RateLimitedError(
                f"key {key_id[:16]} is over its quota ({self._rate * _NS_PER_MINUTE:g}"
                f" {self._unit}/minute, {self._burst:g} saved up at most)"
            )
        return tokens

    def take(self, key_id: str, now_ns: int, count: int = 1) -> None:
        """Spend ``count`` tokens of ``key_id`` or raise RateLimitedError (spending nothing)."""
        tokens = self._enough(key_id, now_ns, count)
        if len(self._buckets) >= self._max_keys and key_id not in self._buckets:
            self._buckets.clear()  # bounded memory; only enrolled keys ever get here
        self._buckets[key_id] = (tokens - count, now_ns)
        self.changes += 1


def make_finding(
    finding_id: str,
    severity: int,
    header: ReportHeader,
    message: str,
    evidence: Iterable[int],
    *,
    quantities: Iterable[tuple[str, float, str]] = (),
) -> types_pb2.Finding:
    """A finding about the report's node or meter over the report's period."""
    return types_pb2.Finding(
        id=finding_id,
        severity=severity,  # type: ignore[arg-type]  # enum values are ints on the wire
        subject=f"{header.facility_id}/{header.subject_id}",
        start_unix_ns=header.period_start_ns,
        end_unix_ns=header.period_end_ns,
        quantities=[types_pb2.Quantity(name=n, value=v, unit=u) for n, v, u in quantities],
        evidence_log_indices=sorted(set(evidence)),
        message=message,
    )


def chain_findings(
    decision: ChainDecision, header: ReportHeader, log_index: int, other_index: int | None
) -> list[types_pb2.Finding]:
    """Findings a chain decision leaves; ``other_index`` is the conflicting or head report."""
    w, c, i = types_pb2.SEVERITY_WARNING, types_pb2.SEVERITY_CRITICAL, types_pb2.SEVERITY_INFO
    evidence = [log_index] if other_index is None else [log_index, other_index]
    out: list[types_pb2.Finding] = []
    if decision.new_boot:
        out.append(
            make_finding(FindingId.NEW_BOOT, i, header, "the attestor restarted (new boot_id)", evidence)
        )
    kind = decision.kind
    if kind is LinkKind.GAP and decision.missing is not None:
        missing = decision.missing
        out.append(
            make_finding(
                FindingId.GAP,
                w,
                header,
                f"reports {missing.start}..{missing.stop - 1} are missing before seq {header.seq}",
                evidence,
                quantities=[
                    ("missing_reports", float(len(missing)), "1"),
                    ("first_missing_seq", float(missing.start), "1"),
                ],
            )
        )
    elif kind is LinkKind.FORK:
        reason = decision.proof.reason if decision.proof else "conflicting report"
        out.append(make_finding(FindingId.FORK, c, header, f"equivocation: {reason}", evidence))
    elif kind is LinkKind.ROLLBACK:
        out.append(
            make_finding(FindingId.ROLLBACK, c, header, f"sequence rolled back to seq {header.seq}", evidence)
        )
    elif kind is LinkKind.BACKFILL:
        out.append(
            make_finding(FindingId.BACKFILL, i, header, f"late report fills seq {header.seq}", evidence)
        )
    return out


def freshness_findings(
    header: ReportHeader, log_index: int, history: ChallengeHistory, *, skew_ns: int
) -> list[types_pb2.Finding]:
    """The findings of :func:`pausewatch.freshness.assess_freshness` for a report logged at
    ``log_index``, judged against the challenges ``history`` holds before that index."""
    return [
        make_finding(
            issue.finding_id,
            types_pb2.SEVERITY_WARNING,
            header,
            issue.message,
            issue.evidence,
            quantities=issue.quantities,
        )
        for issue in assess_freshness(header, log_index, history, skew_ns)
    ]
