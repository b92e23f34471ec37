"""Front-ends and the core: what crosses the state directory's Unix socket.

With ``limits.frontends`` > 0, ``serve`` runs front-end processes (:mod:`verifier.frontend`)
that admit reports, and one core process that sequences them (:mod:`verifier.frontends`). They
talk gRPC over ``STATE_DIR/core.sock`` (the state directory is mode 0700: only the verifier's
own user reaches it). Two internal methods, beside the public service the front-ends forward
every other call to:

- ``Sequence``: a front-end's admitted reports (raw envelope, header row, signer key id
  each; the envelope's fields are read back with one C-level parse, the payload is not
  decoded again) in, one outcome per
  report out (disposition, code, message, receipt, finding ids). The core rebuilds each
  :class:`~verifier.ingest.AdmittedReport` against its own enrolment — a key it no longer
  enrols is refused there — and runs
  :meth:`~verifier.service.VerifierServicer.sequence_admitted` (duplicates, quotas, age, the
  sequencer). A failure of the whole batch comes back as its gRPC status.
- ``State``: the same, asked for by a front-end that refused a report for its enrolment
  (sent only when the core's generation is not the front-end's), so that a report for a node
  enrolled a moment ago through another front-end is admitted, not refused.
- ``Tally``: a front-end's counters (reports by disposition and code, findings, admission
  CPU seconds, refusals, denials) as increments since its last tally, about once a second,
  added to the core's: the core's metrics endpoint is the verifier's, front-ends have none.
- ``Follow``: a stream of the core's state as it changes — the enrolment with its generation
  number (one more each time an inventory changes it), and storage-full mode. A front-end
  admits against the newest generation it has been sent; the sequencer re-checks every
  report's enrolment at its tick, so a report admitted one generation late is refused there.

The encoding is :mod:`marshal` of plain tuples of bytes, str, int and bool: no code is run on
load, and both ends are the same program run by the same user.
"""

from __future__ import annotations

import asyncio
import marshal
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import grpc
from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry, Counter

from pausewatch.envelope import ParsedEnvelope
from pausewatch.errors import (
    EnvironmentFaultError,
    InputError,
    InternalError,
    LimitExceededError,
    PausewatchError,
)
from pausewatch.keys import Ed25519Key
from pausewatch.reports import ReportHeader, ReportKind
from pausewatch.v1 import types_pb2
from verifier.errors import UnknownKeyError, status_for
from verifier.ingest import AdmittedReport, EnrolledKey, Enrollment
from verifier.metrics import VerifierMetrics
from verifier.sequencer import LogSequencer, ReportOutcome
from verifier.service import VerifierServicer, rejected_outcome

__all__ = [
    "CORE_SOCKET",
    "FOLLOW_METHOD",
    "SEQUENCE_METHOD",
    "STATE_METHOD",
    "TALLY_METHOD",
    "CoreLink",
    "CoreState",
    "apply_tally",
    "counter_values",
    "counters_by_name",
    "pack_outcomes",
    "pack_reports",
    "pack_state",
    "pack_tally",
    "unpack_outcomes",
    "unpack_reports",
    "unpack_state",
]

CORE_SOCKET: Final = "core.sock"
_SERVICE: Final = "pausewatch.internal.Core"
SEQUENCE_METHOD: Final = f"/{_SERVICE}/Sequence"
FOLLOW_METHOD: Final = f"/{_SERVICE}/Follow"
STATE_METHOD: Final = f"/{_SERVICE}/State"
TALLY_METHOD: Final = f"/{_SERVICE}/Tally"

_CounterKey = tuple[str, tuple[tuple[str, str], ...]]
_FOLLOW_POLL_S: Final = 0.02  # how soon a change of enrolment reaches the front-ends


# --- reports in ----------------------------------------------------------------------------
def pack_reports(reports: Sequence[AdmittedReport]) -> bytes:
    """Each report's exact envelope bytes, header row and signer key id: the payload (most of
    the envelope) is not sent a second time; the core takes it back out of the envelope."""
    return marshal.dumps([(r.envelope.raw, r.header.row(), r.enrolled.key.key_id) for r in reports])


def unpack_reports(data: bytes, enrollment: Enrollment) -> list[AdmittedReport | PausewatchError]:
    """The reports a front-end admitted, against ``enrollment`` (the core's current one). The
    envelope's fields are read back with one C-level parse of the bytes the front-end checked
    (structure, canonical encoding, signature); the payload is not decoded again."""
    try:
        rows: Any = marshal.loads(data)  # noqa: S302  # our front-end, over a 0700 directory's socket
        out: list[AdmittedReport | PausewatchError] = []
        for raw, header, signer in rows:
            enrolled = enrollment.keys.get(signer)
            if enrolled is None:  # the front-end admitted it by an enrolment since changed
                out.append(UnknownKeyError(f"key {signer[:16]} is no longer enrolled"))
                continue
            env = types_pb2.Envelope.FromString(raw)
            signatures = tuple((s.keyid, s.sig) for s in env.signatures)
            envelope = ParsedEnvelope(raw, env.payload_type, env.payload, signatures)
            out.append(AdmittedReport(envelope, ReportHeader.from_row(header), enrolled))
    except (ValueError, TypeError, EOFError, DecodeError) as e:  # a front-end of another version: a bug
        raise InternalError(f"a front-end sent reports this core cannot read: {e}") from e
    return out


# --- outcomes out --------------------------------------------------------------------------
def pack_outcomes(outcomes: Sequence[ReportOutcome]) -> bytes:
    return marshal.dumps(
        [
            (
                o.disposition,
                o.code,
                o.message,
                b"" if o.receipt is None else o.receipt.SerializeToString(),
                o.finding_ids,
            )
            for o in outcomes
        ]
    )


def unpack_outcomes(data: bytes) -> list[ReportOutcome]:
    out = []
    for disposition, code, message, receipt, finding_ids in marshal.loads(data):  # noqa: S302  # our core
        r = types_pb2.Receipt.FromString(receipt) if receipt else None
        out.append(ReportOutcome(disposition, code, message, r, tuple(finding_ids)))
    return out


# --- the core's state ----------------------------------------------------------------------
@dataclass(frozen=True)
class CoreState:
    """What a front-end holds of the core: the enrolment, its generation, storage-full mode."""

    generation: int = -1
    enrollment: Enrollment = field(default_factory=Enrollment)
    storage_full: bool = False


def pack_state(state: CoreState) -> bytes:
    keys = tuple(
        (k.key.raw, k.kind.value, k.facility_id, k.subject_id, k.inventory_version, k.proven)
        for k in state.enrollment.keys.values()
    )
    return marshal.dumps((state.generation, keys, state.storage_full))


def unpack_state(data: bytes) -> CoreState:
    generation, rows, storage_full = marshal.loads(data)  # noqa: S302  # our core
    keys: dict[str, EnrolledKey] = {}
    for raw, kind, facility, subject, version, proven in rows:
        key = Ed25519Key(raw)
        keys[key.key_id] = EnrolledKey(key, ReportKind(kind), facility, subject, version, proven)
    return CoreState(generation, Enrollment(keys), storage_full)


def counter_values(registry: CollectorRegistry) -> dict[_CounterKey, float]:
    """Every counter sample in ``registry``: (family, sorted labels) -> value."""
    out: dict[_CounterKey, float] = {}
    for family in registry.collect():
        if family.type != "counter":
            continue
        for s in family.samples:
            if s.name.endswith("_total"):
                out[(family.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def counters_by_name(metrics: VerifierMetrics) -> dict[str, Counter]:
    """Every counter of ``metrics`` by family name (the parent: a bound child such as
    ``admission_seconds`` shares its parent's name and comes after it)."""
    out: dict[str, Counter] = {}
    for c in vars(metrics).values():
        if isinstance(c, Counter):
            for family in c.describe():
                out.setdefault(family.name, c)
    return out


def apply_tally(counters: dict[str, Counter], message: bytes) -> None:
    """Add a front-end's increments (:func:`pack_tally`) to the core's counters."""
    for name, labels, delta in marshal.loads(message):  # noqa: S302  # our front-end
        counter = counters.get(name)
        if counter is None or delta <= 0:
            continue
        try:
            (counter.labels(**dict(labels)) if labels else counter).inc(delta)
        except ValueError:  # labels this core's counter does not have (another version): drop
            continue


def pack_tally(now: dict[_CounterKey, float], sent: dict[_CounterKey, float]) -> bytes | None:
    """The increments since ``sent``; None when nothing moved."""
    rows = [(name, labels, v - sent.get((name, labels), 0.0)) for (name, labels), v in now.items()]
    rows = [r for r in rows if r[2] > 0]
    return marshal.dumps(rows) if rows else None


def error_from_status(code: grpc.StatusCode, message: str) -> PausewatchError:
    """A core's failure of a whole batch, as the error the front-end answers its caller with
    (the same status code, by :func:`verifier.errors.status_for`)."""
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        return LimitExceededError(message)
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return InputError(message)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        return EnvironmentFaultError(f"the verifier's core: {message}")
    return InternalError(f"the verifier's core failed ({code.name}): {message}")


# --- the core's side -----------------------------------------------------------------------
class CoreLink:
    """The core's two internal methods, as a gRPC handler for its Unix-socket server."""

    def __init__(self, servicer: VerifierServicer, sequencer: LogSequencer, metrics: VerifierMetrics) -> None:
        self._servicer = servicer
        self._seq = sequencer
        self._generation = 0
        self._enrollment = sequencer.enrollment
        self._counters = counters_by_name(metrics)

    def state(self) -> CoreState:
        if self._seq.enrollment is not self._enrollment:
            self._enrollment = self._seq.enrollment
            self._generation += 1
        return CoreState(self._generation, self._enrollment, self._seq.storage_full)

    def handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        return grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "Sequence": grpc.unary_unary_rpc_method_handler(self._sequence),
                "Follow": grpc.unary_stream_rpc_method_handler(self._follow),
                "State": grpc.unary_unary_rpc_method_handler(self._state),
                "Tally": grpc.unary_unary_rpc_method_handler(self._tally),
            },
        )

    async def _sequence(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        try:
            unpacked = unpack_reports(request, self._seq.enrollment)
            admitted = [r for r in unpacked if isinstance(r, AdmittedReport)]
            results = iter(await self._servicer.sequence_admitted(admitted) if admitted else [])
        except PausewatchError as e:
            await context.abort(status_for(e), str(e)[:1000])
            raise AssertionError("unreachable: abort raises") from e  # pragma: no cover
        outcomes = [next(results) if isinstance(r, AdmittedReport) else rejected_outcome(r) for r in unpacked]
        return pack_outcomes(outcomes)

    async def _tally(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        apply_tally(self._counters, request)
        return b""

    async def _state(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        """The state, when its generation is not the caller's (8 bytes, big-endian); else empty."""
        state = self.state()
        if request == state.generation.to_bytes(8, "big", signed=True):
            return b""
        return pack_state(state)

    async def _follow(
        self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        sent: tuple[int, bool] | None = None
        while True:
            state = self.state()
            if (state.generation, state.storage_full) != sent:
                sent = (state.generation, state.storage_full)
                yield pack_state(state)
            await asyncio.sleep(_FOLLOW_POLL_S)
