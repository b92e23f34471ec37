"""The gRPC servicer: a thin translation between the wire and the pure pipeline.

Only this module turns exceptions into status codes (:func:`verifier.errors.status_for`).
Per-report results in ``SubmitReports`` carry the same codes; the RPC itself fails only when
the request as a whole is unacceptable (more envelopes than ``limits.max_batch_reports`` →
RESOURCE_EXHAUSTED) or the verifier is saturated (below). Every read has a hard cap on what it
returns.

CPU-bound admission (envelope parsing, the Ed25519 check, payload decoding and invariants,
:func:`verifier.ingest.admit_batch`; lab documents' parsing and signature checks) runs on a
pool of admission threads, never on the event loop: libsodium releases the GIL, so signatures
verify in parallel, and the loop stays free to accept calls (a starved loop leaves calls
unrequested in gRPC core, which cancels them past its pending-request limits: the CANCELLED
storms of the first benchmark).

Two classes: :class:`ReportIntake` is the report half (``SubmitReports``, ``UploadReports``),
which a front-end process runs alone (:mod:`verifier.frontend`: admission inline on its own
event loop, then the core's ``Sequence``); :class:`VerifierServicer` is the whole service, in
one process or as the core behind front-ends (the caller then named by the front-end).

Backpressure: reports in admission or waiting for the sequencer are counted. A batch that
would take the count over ``limits.max_pending_reports`` (2000 until there is a rate to
measure: a second after the first batch finished), or arrives when the queue already holds
more than ``limits.max_queue_s`` seconds of work at the measured rate (reports finished per
second over the last 3 s), is refused at once with RESOURCE_EXHAUSTED and a retry hint
(trailing metadata ``pausewatch-retry-after-ms`` and the message): bounded latency instead
of an unbounded queue.

The retry hint books the refused batch a slot on the server's future capacity: the first slot
after the queue has drained to its limit and after every slot already handed out, each slot
``count / (1.25 × rate)`` seconds long. So a burst of refused attestors comes back spread over
the time the verifier needs to serve them, at a little more than its measured rate — not all
at once (a refusal storm that costs more than the work), not later than needed (an idle
verifier while clients wait), and not held at the rate it served so far (the measured rate
is what refused clients let it serve: the extra quarter probes for its capacity). Slots are
booked 5 s ahead at most: a batch refused past that is told to come back in 5 s and is
booked then, at the rate measured then. A re-refused batch books again; the booking decays as
time passes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import ipaddress
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Final, NoReturn

import grpc

from pausewatch.envelope import parse_envelope
from pausewatch.errors import (
    EnvironmentFaultError,
    FormatError,
    InputError,
    LimitExceededError,
    PausewatchError,
)
from pausewatch.retry import RETRY_AFTER_KEY
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from verifier.alert_bus import AlertBus, AlertFilter, SubscriberDroppedError
from verifier.authz import Action, AuthorizationPolicy, Caller
from verifier.bounded_time import check_report_age
from verifier.challenges import ChallengeIssuer
from verifier.config import LimitsConfig
from verifier.errors import (
    BackdatedCommitmentError,
    NotEnrolledHereError,
    PermissionDeniedError,
    ReportTooOldError,
    UnknownKeyError,
    status_for,
)
from verifier.ingest import AdmittedReport, Enrollment, RateLimiter, admit_batch
from verifier.metrics import VerifierMetrics
from verifier.registry import (
    TrustRoots,
    VerifiedDocument,
    verify_commitment,
    verify_inventory,
    verify_terms,
)
from verifier.sequencer import LogSequencer, ReportOutcome
from verifier.storage import StorageReader, StoredVerdict

__all__ = [
    "FORWARDED_IDENTITY_KEY",
    "FORWARDED_PEER_KEY",
    "MAX_ENTRIES_PER_READ",
    "MAX_VERDICTS_PER_READ",
    "RETRY_AFTER_KEY",
    "ReportIntake",
    "SequenceFn",
    "VerifierServicer",
    "forwarded_caller",
    "rejected_outcome",
]

_log = logging.getLogger("pausewatch.verifier.service")

MAX_ENTRIES_PER_READ: Final = 1000
MAX_VERDICTS_PER_READ: Final = 10_000
_OK: Final = grpc.StatusCode.OK.value[0]
_SLOW_START_REPORTS: Final = 2000
# Slots are booked this far ahead at most: a batch refused later than that is told to come back
# then, unbooked, and is booked at the rate measured by then (a burst's early, low rate would
# otherwise schedule the whole burst at that rate).
_BOOK_AHEAD_S: Final = 5.0
_RATE_WINDOW_S: Final = 3.0  # many ticks (10-100 ms each under load): commits come in bursts
_MIN_SPAN_S: Final = 1.0  # the least history a rate is measured over (slow start before it)
# Refused batches are booked slots at this multiple of the measured rate: the rate measured is
# what the verifier served, which refused clients coming back at exactly that rate would keep
# it at (a burst's first estimate would hold for the whole burst); a little more probes for
# the capacity, and what the verifier cannot take meanwhile queues up to max_queue_s, then is
# refused again with a later slot.
_PROBE: Final = 1.25
_FAIR_BATCH: Final = 32  # an attestor's batch (uplink.batch_size's default)
_FAIR_QUEUE_FACTOR: Final = 4.0  # how much more queue such a batch may wait behind


class _Throughput:
    """Reports per second over the last few seconds (monotonic time: an operational estimate
    for refusals and retry hints, not part of the model). No figure until the first report
    finished ``_MIN_SPAN_S`` ago: the first few completions of a verifier that has just
    started say nothing of its rate (two reports in a quarter of a second read as 8/s, and
    refused a 16-report queue as two seconds of work)."""

    def __init__(self) -> None:
        self._done: collections.deque[tuple[float, int]] = collections.deque()
        self._total = 0
        self._first: float | None = None

    def add(self, count: int, now: float) -> None:
        self._done.append((now, count))
        self._total += count
        if self._first is None:
            self._first = now
        self._trim(now)

    def per_s(self, now: float) -> float | None:
        """None in slow start; 0.0 when nothing finished lately (a stalled queue)."""
        if self._first is None or now - self._first < _MIN_SPAN_S:
            return None
        self._trim(now)
        if not self._done:
            return 0.0
        span = max(now - self._done[0][0], _MIN_SPAN_S)
        return self._total / span

    def _trim(self, now: float) -> None:
        while self._done and self._done[0][0] < now - _RATE_WINDOW_S:
            self._total -= self._done.popleft()[1]


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: BaseException) -> NoReturn:
    code = status_for(error)
    if code is grpc.StatusCode.INTERNAL:
        _log.error("internal error", exc_info=error)
    await context.abort(code, str(error)[:1000])
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


SequenceFn = Callable[[list[AdmittedReport]], Awaitable[list[ReportOutcome]]]


class ReportIntake(verifier_pb2_grpc.VerifierServicer):  # type: ignore[misc]  # generated base is untyped
    """The report half of the service: ``SubmitReports`` and ``UploadReports`` — authorization,
    refusal at the edge, admission (size, envelope, key, signature, payload, enrolment), the
    caller's facilities — then ``sequence`` (duplicates, quotas, age, the sequencer). One class
    for both modes: :class:`VerifierServicer` sequences in its own process, a front-end
    (:mod:`verifier.frontend`) sends what it admitted to the core process."""

    def __init__(
        self,
        *,
        limits: LimitsConfig,
        metrics: VerifierMetrics,
        lab_facilities: dict[str, tuple[str, ...]],
        sequence: SequenceFn,
        enrollment: Callable[[], Enrollment],
        storage_full: Callable[[], bool],
        admission: Executor | None = None,
        authorization: AuthorizationPolicy | None = None,
        refresh_enrollment: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self._limits = limits
        self._refresh_enrollment = refresh_enrollment
        self._metrics = metrics
        self._sequence = sequence
        self._enrollment = enrollment
        self._storage_full = storage_full
        self._inflight_bytes = 0  # request bytes held by calls being served (limits.max_inflight_bytes)
        self._admission = admission
        self._pending_reports = 0
        self._throughput = _Throughput()
        self._booked_until = 0.0  # monotonic time up to which refused batches hold slots
        self._policy = authorization or AuthorizationPolicy()
        self._lab_facilities = lab_facilities
        self._pending_by_peer: collections.Counter[str] = collections.Counter()  # reports, per connection

    @property
    def pending_reports(self) -> int:
        """Reports in admission or waiting for the sequencer."""
        return self._pending_reports

    async def _authorize(
        self, context: grpc.aio.ServicerContext[Any, Any], action: Action, method: str
    ) -> Caller:
        """The caller, allowed ``action``; else the call ends PERMISSION_DENIED with the reason."""
        try:
            identities, peer = self._caller_facts(context)
            caller = self._policy.caller(
                identities, loopback=_is_loopback(peer), lab_facilities=self._lab_facilities
            )
        except PermissionDeniedError as e:
            await self._deny(context, "none", method, e)
        try:
            caller.require(action, method)
        except PermissionDeniedError as e:
            await self._deny(context, caller.role, method, e)
        return caller

    def _caller_facts(self, context: grpc.aio.ServicerContext[Any, Any]) -> tuple[list[str], str]:
        """The caller's certificate identities and its peer address (a front-end's core: as
        the front-end names them, see :mod:`verifier.frontend`)."""
        return _certificate_identities(context), context.peer()

    async def _deny(
        self,
        context: grpc.aio.ServicerContext[Any, Any],
        role: str,
        method: str,
        error: PermissionDeniedError,
    ) -> NoReturn:
        self._metrics.denied.labels(method, role).inc()
        await _abort(context, error)

    # --- reports -------------------------------------------------------------------------
    async def SubmitReports(  # noqa: N802  # gRPC method name
        self, request: verifier_pb2.SubmitReportsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verifier_pb2.SubmitReportsResponse:
        caller = await self._authorize(context, Action.SUBMIT_REPORTS, "SubmitReports")
        return await self._submit_batch(request, context, caller)

    async def UploadReports(  # noqa: N802  # gRPC method name
        self,
        requests: AsyncIterator[verifier_pb2.SubmitReportsRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[verifier_pb2.SubmitReportsResponse]:
        """A backlog: each request a batch, answered in order, one at a time, exactly as
        ``SubmitReports`` answers it (the same checks, quotas and refusals). At most
        ``limits.max_upload_batches`` batches per stream; a refusal ends the stream, and what
        was answered before it stands."""
        caller = await self._authorize(context, Action.SUBMIT_REPORTS, "UploadReports")
        cap = self._limits.max_upload_batches
        batches = 0
        async for request in requests:
            batches += 1
            if batches > cap:
                await _abort(
                    context,
                    LimitExceededError(
                        f"more than {cap} batches in one UploadReports stream"
                        " (limits.max_upload_batches); open another stream for the rest"
                    ),
                )
            yield await self._submit_batch(request, context, caller)

    async def _submit_batch(
        self,
        request: verifier_pb2.SubmitReportsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
        caller: Caller,
    ) -> verifier_pb2.SubmitReportsResponse:
        await self._refuse_when_storage_full(context)
        raws: Sequence[bytes] = request.envelopes
        if len(raws) > self._limits.max_batch_reports:
            await _abort(
                context,
                LimitExceededError(
                    f"{len(raws)} envelopes in one batch; the limit is {self._limits.max_batch_reports}"
                ),
            )
        peer = context.peer()
        await self._admit_or_refuse(len(raws), context, peer)
        size = sum(len(r) for r in raws)
        await self._hold_bytes(size, context)
        self._pending_reports += len(raws)
        self._pending_by_peer[peer] += len(raws)
        try:
            outcomes = await self._submit_reports(raws, context, caller)
        finally:
            self._pending_reports -= len(raws)
            self._pending_by_peer[peer] -= len(raws)
            if not self._pending_by_peer[peer]:
                del self._pending_by_peer[peer]
            self._inflight_bytes -= size
            self._throughput.add(len(raws), time.monotonic())
        response = verifier_pb2.SubmitReportsResponse()
        self._metrics.count_reports((o.disposition, o.code) for o in outcomes)
        self._metrics.count_findings(f for o in outcomes for f in o.finding_ids)
        for o in outcomes:
            result = response.results.add(
                code=o.code, message=o.message, disposition=o.disposition, finding_ids=o.finding_ids
            )
            if o.receipt is not None:
                result.receipt.CopyFrom(o.receipt)
        return response

    async def _refuse_when_storage_full(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """On a full disk (verifier.disk_reserve) refuse submissions at once, UNAVAILABLE: the
        reserve keeps challenges going, and a failing tick per retry would cost more."""
        if self._storage_full():
            context.set_trailing_metadata(((RETRY_AFTER_KEY, "30000"),))
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                "verifier storage is full: submissions are refused until space is freed"
                " (challenges continue); retry after 30 s",
            )

    async def _hold_bytes(self, size: int, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """Count ``size`` request bytes as held until the caller releases them; refuse the call
        (RESOURCE_EXHAUSTED, with a retry hint) when that would pass ``limits.max_inflight_bytes``
        — except on an idle verifier, which always takes one call (gRPC's message limit bounds it)."""
        held, limit = self._inflight_bytes, self._limits.max_inflight_bytes
        if held and held + size > limit:
            self._metrics.refused.inc()
            context.set_trailing_metadata(((RETRY_AFTER_KEY, "1000"),))
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"verifier busy: {held} request bytes in flight, {size} more would pass"
                f" limits.max_inflight_bytes ({limit}); retry after 1.00 s",
            )
        self._inflight_bytes += size

    async def _admit_or_refuse(
        self, count: int, context: grpc.aio.ServicerContext[Any, Any], peer: str
    ) -> None:
        """Refuse the batch (RESOURCE_EXHAUSTED with a retry hint) when the verifier is saturated.

        Fair to small callers: past ``max_queue_s`` of work, a small batch (≤ 32 reports, an
        attestor's) from a connection with nothing pending is still taken, up to four times
        ``max_queue_s`` — so a flooder's big batches (junk included, while in admission) hold
        up the flooder, not the attestor sending its one report. The count cap holds for all."""
        pending = self._pending_reports
        if pending == 0:
            return  # never refuse an idle verifier, whatever the batch size
        now = time.monotonic()
        rate = self._throughput.per_s(now)
        queue_s = _queue_seconds(pending, rate)
        cap = self._limits.max_pending_reports
        if rate is None:  # slow start: nothing finished yet, so no rate to size the queue by
            cap = min(cap, _SLOW_START_REPORTS)
        over_count = pending + count > cap
        max_queue_s = self._limits.max_queue_s
        if count <= _FAIR_BATCH and not self._pending_by_peer.get(peer):
            max_queue_s *= _FAIR_QUEUE_FACTOR
        if not over_count and queue_s <= max_queue_s:
            return
        retry_s = self._retry_after(pending, count, rate, now)
        self._metrics.refused.inc(count)
        context.set_trailing_metadata(((RETRY_AFTER_KEY, str(round(retry_s * 1000))),))
        await context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"verifier busy: {pending} reports pending (~{min(queue_s, 999):.1f} s of work); retry after"
            f" {retry_s:.2f} s",
        )

    def _retry_after(self, pending: int, count: int, rate: float | None, now: float) -> float:
        """Seconds until the refused batch's booked slot (see the module docstring)."""
        if not rate:  # slow start or a stalled queue: no rate to book by
            return 1.0
        limit = min(float(self._limits.max_pending_reports), self._limits.max_queue_s * rate)
        drained = now + max(0.0, (pending + count - limit) / rate)
        start = max(drained, self._booked_until)
        if start - now >= _BOOK_AHEAD_S:  # past what today's rate can promise: ask again then
            return _BOOK_AHEAD_S
        self._booked_until = start + count / (rate * _PROBE)
        return max(0.05, start - now)

    async def _submit_reports(
        self, raws: Sequence[bytes], context: grpc.aio.ServicerContext[Any, Any], caller: Caller
    ) -> list[ReportOutcome]:
        enrollment = self._enrollment()
        limit = self._limits.report_limit
        if self._admission is None:
            admitted_or_errors, cpu_s = _admit_timed(raws, enrollment, limit)
        else:
            loop = asyncio.get_running_loop()
            admitted_or_errors, cpu_s = await loop.run_in_executor(
                self._admission, _admit_timed, raws, enrollment, limit
            )
        self._metrics.admission_seconds.inc(cpu_s)
        admitted_or_errors = await self._admit_again(raws, admitted_or_errors, enrollment)
        outcomes: list[ReportOutcome | None] = []
        admitted: list[AdmittedReport] = []
        for report in admitted_or_errors:
            if isinstance(report, PausewatchError):
                outcomes.append(rejected_outcome(report))
                continue
            try:  # an attestor certificate reports for its own facilities only
                caller.require_facility(report.header.facility_id, "SubmitReports")
            except PermissionDeniedError as e:
                self._metrics.denied.labels("SubmitReports", caller.role).inc()
                outcomes.append(rejected_outcome(e))
                continue
            outcomes.append(None)
            admitted.append(report)
        if not admitted:
            return [o for o in outcomes if o is not None]
        try:
            results = iter(await self._sequence(admitted))
        except PausewatchError as e:
            await _abort(context, e)
        return [o if o is not None else next(results) for o in outcomes]

    async def _admit_again(
        self, raws: Sequence[bytes], results: list[AdmittedReport | PausewatchError], used: Enrollment
    ) -> list[AdmittedReport | PausewatchError]:
        """A front-end: reports refused for their enrolment are admitted again when the core
        holds a newer enrolment than ``used``, the one they were checked against (an inventory
        logged a moment ago through another front-end). Asking costs one small call to the
        core, only for batches with such a report, and brings the enrolment only when it
        changed."""
        if self._refresh_enrollment is None:
            return results
        again = [i for i, r in enumerate(results) if isinstance(r, (UnknownKeyError, NotEnrolledHereError))]
        if not again:
            return results
        if self._enrollment() is used:
            await self._refresh_enrollment()
        current = self._enrollment()
        if current is used:
            return results
        redone, cpu_s = _admit_timed([raws[i] for i in again], current, self._limits.report_limit)
        self._metrics.admission_seconds.inc(cpu_s)
        out = list(results)
        for i, r in zip(again, redone, strict=True):
            out[i] = r
        return out


class VerifierServicer(ReportIntake):
    """The whole service in one process: reports (:class:`ReportIntake`, sequenced here by
    :meth:`sequence_admitted`), challenge and log reads, lab documents, verdicts, alerts."""

    def __init__(
        self,
        *,
        sequencer: LogSequencer,
        challenges: ChallengeIssuer,
        trust: TrustRoots,
        limits: LimitsConfig,
        rate_limiter: RateLimiter,
        alert_bus: AlertBus,
        metrics: VerifierMetrics,
        clock_now_ns: Any,
        admission: Executor | None = None,
        byte_quota: RateLimiter | None = None,
        authorization: AuthorizationPolicy | None = None,
        forwarded_callers: bool = False,
    ) -> None:
        super().__init__(
            limits=limits,
            metrics=metrics,
            lab_facilities={lab_id: lab.facilities for lab_id, lab in trust.labs.items()},
            sequence=self.sequence_admitted,
            enrollment=lambda: sequencer.enrollment,
            storage_full=lambda: sequencer.storage_full,
            admission=admission,
            authorization=authorization,
        )
        self._seq = sequencer
        self._challenges = challenges
        self._trust = trust
        self._rate = rate_limiter
        self._bytes = byte_quota
        self._bus = alert_bus
        self._now = clock_now_ns
        self._streams: collections.Counter[str] = collections.Counter()  # WatchAlerts per identity
        # behind front-ends (verifier.frontend): calls arrive over the state directory's Unix
        # socket only, and the caller is the one the front-end names in the call's metadata
        self._forwarded_callers = forwarded_callers

    def _caller_facts(self, context: grpc.aio.ServicerContext[Any, Any]) -> tuple[list[str], str]:
        if self._forwarded_callers:
            return forwarded_caller(context)
        return super()._caller_facts(context)

    async def sequence_admitted(self, reports: list[AdmittedReport]) -> list[ReportOutcome]:
        """The sequencing half, one outcome per report: duplicates, the per-key quotas, the
        report's age, then the sequencer. Raises SequencerStoppedError or a storage fault for
        the batch as a whole (EnvironmentFaultError, UNAVAILABLE, when the disk is full)."""
        if self._seq.storage_full:
            raise EnvironmentFaultError(
                "verifier storage is full: submissions are refused until space is freed"
                " (challenges continue); retry after 30 s"
            )
        now = self._now()
        max_age_ns = round(self._limits.max_report_age_s * 1_000_000_000)
        outcomes: list[ReportOutcome | None] = []
        admitted: list[AdmittedReport] = []
        passed: set[bytes] = set()  # digests admitted from this batch
        for report in reports:
            # An exact duplicate (already logged, or admitted earlier in this batch) is answered
            # with its receipt and costs no token: replaying captured envelopes must not spend
            # the attestor's budget.
            digest = report.digest
            if digest not in passed and self._seq.logged_index(digest) is None:
                try:
                    key = report.header.key_id
                    self._rate.check(key, now)
                    if self._bytes is not None:  # the per-key byte quota
                        self._bytes.take(key, now, len(report.envelope.raw))
                    self._rate.take(key, now)
                    # one report revises a bounded stretch of history only (a new one: an
                    # exact duplicate revises nothing and keeps getting its receipt)
                    check_report_age(report.header, now, max_age_ns)
                except ReportTooOldError as e:
                    self._metrics.too_old.labels("report").inc()
                    outcomes.append(rejected_outcome(e))
                    continue
                except PausewatchError as e:
                    outcomes.append(rejected_outcome(e))
                    continue
            passed.add(digest)
            outcomes.append(None)
            admitted.append(report)
        if not admitted:
            return [o for o in outcomes if o is not None]
        results = iter(await self._seq.submit_reports(admitted))
        return [o if o is not None else next(results) for o in outcomes]

    # --- challenge and log reads ---------------------------------------------------------
    async def GetChallenge(  # noqa: N802  # gRPC method name
        self, request: verifier_pb2.GetChallengeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verifier_pb2.GetChallengeResponse:
        await self._authorize(context, Action.READ_LOG, "GetChallenge")
        if self._challenges.current is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "no challenge issued yet")
        return verifier_pb2.GetChallengeResponse(envelope=self._challenges.current)

    async def GetCheckpoint(  # noqa: N802  # gRPC method name
        self, request: verifier_pb2.GetCheckpointRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verifier_pb2.GetCheckpointResponse:
        await self._authorize(context, Action.READ_LOG, "GetCheckpoint")
        latest = self._seq.latest
        if latest is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "no checkpoint signed yet")
        # with [[witnesses]]: the latest checkpoint cosigned to the quorum (verifier.witnesses)
        return verifier_pb2.GetCheckpointResponse(checkpoint=self._seq.published or latest.note)

    def _signed_size(self) -> int:
        return 0 if self._seq.latest is None else self._seq.latest.size

    async def GetInclusionProof(  # noqa: N802  # gRPC method name
        self, request: verifier_pb2.GetInclusionProofRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verifier_pb2.GetInclusionProofResponse:
        await self._authorize(context, Action.READ_LOG, "GetInclusionProof")
        signed = self._signed_size()
        size = request.tree_size or signed
        if not request.index < size <= signed:
            await context.abort(
                grpc.StatusCode.OUT_OF_RANGE,
                f"index {request.index} in tree {size}: needs index < tree_size <= {signed}"
                " (the latest checkpoint)",
            )
        hashes = await self._read(context, lambda s: s.inclusion_proof(request.index, size))
        return verifier_pb2.GetInclusionProofResponse(tree_size=size, hashes=hashes)

    async def GetConsistencyProof(  # noqa: N802  # gRPC method name
        self, request: verifier_pb2.GetConsistencyProofRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verifier_pb2.GetConsistencyProofResponse:
        await self._authorize(context, Action.READ_LOG, "GetConsistencyProof")
        signed = self._signed_size()
        new = request.new_size or signed
        if not request.old_size <= new <= signed:
            await context.abort(
                grpc.StatusCode.OUT_OF_RANGE,
                f"sizes {request.old_size} -> {new}: needs old <= new <= {signed} (latest checkpoint)",
            )
        hashes = await self._read(context, lambda s: s.consistency_proof(request.old_size, new))
        return verifier_pb2.GetConsistencyProofResponse(new_size=new, hashes=hashes)

    async def GetEntries(  # noqa: N802  # gRPC method name
        self, request: verifier_pb2.GetEntriesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verifier_pb2.GetEntriesResponse:
        await self._authorize(context, Action.READ_ENTRIES, "GetEntries")
        signed = self._signed_size()
        if not request.start < request.end or request.start >= signed:
            await context.abort(
                grpc.StatusCode.OUT_OF_RANGE, f"entries [{request.start}, {request.end}) of a log of {signed}"
            )
        end = min(request.end, signed, request.start + MAX_ENTRIES_PER_READ)
        entries = await self._read(context, lambda s: s.log_entries(request.start, end))
        budget = self._limits.max_message_bytes - 1024
        out: list[bytes] = []
        for e in entries:  # the server may return fewer: stay inside one message
            budget -= len(e) + 8
            if budget < 0 and out:
                break
            out.append(e)
        return verifier_pb2.GetEntriesResponse(start=request.start, entries=out)

    # --- lab documents -------------------------------------------------------------------
    async def SubmitInventory(  # noqa: N802  # gRPC method name
        self, request: verifier_pb2.SubmitSignedRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verifier_pb2.SubmitSignedResponse:
        return await self._submit_document(request, context, inventory=True, method="SubmitInventory")

    async def SubmitCommitment(  # noqa: N802  # gRPC method name
        self, request: verifier_pb2.SubmitSignedRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verifier_pb2.SubmitSignedResponse:
        return await self._submit_document(request, context, inventory=False, method="SubmitCommitment")

    async def SubmitTerms(  # noqa: N802  # gRPC method name
        self, request: verifier_pb2.SubmitSignedRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verifier_pb2.SubmitSignedResponse:
        return await self._submit_document(
            request, context, inventory=False, terms=True, method="SubmitTerms"
        )

    async def _submit_document(
        self,
        request: verifier_pb2.SubmitSignedRequest,
        context: grpc.aio.ServicerContext[Any, Any],
        *,
        inventory: bool,
        method: str,
        terms: bool = False,
    ) -> verifier_pb2.SubmitSignedResponse:
        action = Action.SUBMIT_TERMS if terms else Action.SUBMIT_LAB_DOCUMENTS
        caller = await self._authorize(context, action, method)
        await self._refuse_when_storage_full(context)
        size = len(request.envelope)
        await self._hold_bytes(size, context)
        try:
            # parsing and signature checks run on the admission threads: a large or badly
            # signed document never holds the event loop (and so every other call) up
            raw, limit, trust = request.envelope, self._limits.max_envelope_bytes, self._trust
            if self._admission is None:
                verified = _verify_document(raw, limit, trust, inventory, terms)
            else:
                verified = await asyncio.get_running_loop().run_in_executor(
                    self._admission, _verify_document, raw, limit, trust, inventory, terms
                )
            if caller.lab_id and not terms and verified.lab_id != caller.lab_id:  # its own documents only
                self._metrics.denied.labels(method, caller.role).inc()
                raise PermissionDeniedError(
                    f"{method}: {caller.identity} is lab {caller.lab_id!r};"
                    f" the document is lab {verified.lab_id!r}'s"
                )
            receipt = await self._seq.submit_document(verified)
        except PausewatchError as e:
            if isinstance(e, BackdatedCommitmentError):
                self._metrics.too_old.labels("commitment").inc()
            await _abort(context, e)
        finally:
            self._inflight_bytes -= size
        self._metrics.documents.labels("terms" if terms else "inventory" if inventory else "commitment").inc()
        return verifier_pb2.SubmitSignedResponse(receipt=receipt, version=verified.version)

    # --- verdicts and alerts -------------------------------------------------------------
    async def GetVerdicts(  # noqa: N802  # gRPC method name
        self, request: verifier_pb2.GetVerdictsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> verifier_pb2.GetVerdictsResponse:
        """One page: at most ``page_size`` (≤ 1000) verdicts and one message's bytes; the
        page token is the last verdict's sort key (commitment, facility, bucket, revision)."""
        caller = await self._authorize(context, Action.READ_VERDICTS, "GetVerdicts")
        if caller.scoped_verdicts:  # verdicts not public: a caller limited to facilities names one
            try:
                if caller.facilities is not None and not request.facility_id:
                    raise PermissionDeniedError(
                        f"GetVerdicts: {caller.identity} must name facility_id (one of"
                        f" {', '.join(sorted(caller.facilities))})"
                    )
                caller.require_facility(request.facility_id, "GetVerdicts")
            except PermissionDeniedError as e:
                await self._deny(context, caller.role, "GetVerdicts", e)
        page = min(request.page_size or MAX_VERDICTS_PER_READ, MAX_VERDICTS_PER_READ)
        try:
            after = _verdict_page_key(request.page_token) if request.page_token else None
        except FormatError as e:
            await _abort(context, e)

        def query(s: StorageReader) -> list[StoredVerdict]:
            return s.verdicts(
                request.commitment_id or None,
                request.facility_id or None,
                request.from_unix_ns or None,
                request.to_unix_ns or None,
                include_superseded=request.include_superseded,
                after=after,
                limit=page + 1,
            )

        rows: list[StoredVerdict] = await self._read(context, query)
        budget = self._limits.max_message_bytes - 64 * 1024
        out: list[StoredVerdict] = []
        for v in rows[:page]:
            budget -= len(v.envelope) + 8
            if budget < 0 and out:
                break
            out.append(v)
        response = verifier_pb2.GetVerdictsResponse(envelopes=[v.envelope for v in out])
        if len(out) < len(rows):
            last = out[-1]
            key = [last.commitment_id, last.facility_id, last.bucket_start_ns, last.revision]
            response.next_page_token = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
        return response

    async def WatchAlerts(  # noqa: N802  # gRPC method name
        self, request: verifier_pb2.WatchAlertsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[types_pb2.Alert]:
        """Alerts of the facilities the caller may see; at most ``max_watch_streams`` streams
        per identity, so no caller can hold every one of ``limits.max_watchers``."""
        caller = await self._authorize(context, Action.WATCH_ALERTS, "WatchAlerts")
        try:
            facilities = caller.facility_scope(request.facility_ids, "WatchAlerts")
        except PermissionDeniedError as e:
            await self._deny(context, caller.role, "WatchAlerts", e)
        cap = self._policy.max_watch_streams
        if self._streams[caller.identity] >= cap:
            await _abort(
                context,
                LimitExceededError(
                    f"WatchAlerts: {caller.identity} already has {cap} alert streams open"
                    " (authorization.max_watch_streams)"
                ),
            )
        try:
            sub = self._bus.subscribe(AlertFilter(facilities, int(request.min_severity)))
        except LimitExceededError as e:
            await _abort(context, e)
        self._streams[caller.identity] += 1
        self._metrics.watchers.set(self._bus.subscribers)
        try:
            async for alert in sub:
                yield alert
        except SubscriberDroppedError as e:
            await _abort(context, e)
        finally:
            sub.close()
            self._streams[caller.identity] -= 1
            if not self._streams[caller.identity]:
                del self._streams[caller.identity]
            self._metrics.watchers.set(self._bus.subscribers)

    async def _read(self, context: grpc.aio.ServicerContext[Any, Any], fn: Any) -> Any:
        try:
            return await self._seq.read(fn)
        except InputError as e:
            await _abort(context, e)


FORWARDED_PEER_KEY: Final = "pausewatch-frontend-peer"
FORWARDED_IDENTITY_KEY: Final = "pausewatch-frontend-identity"


def forwarded_caller(context: grpc.aio.ServicerContext[Any, Any]) -> tuple[list[str], str]:
    """The caller a front-end forwarded a call for: its identities and peer, from the metadata
    the front-end set (it drops what a client sent under these keys). No peer named: an
    anonymous caller that is not on loopback."""
    identities: list[str] = []
    peer = "forwarded:unknown"
    for key, value in context.invocation_metadata() or ():
        if key == FORWARDED_IDENTITY_KEY:
            identities.append(str(value))
        elif key == FORWARDED_PEER_KEY:
            peer = str(value)
    return identities, peer


def _certificate_identities(context: grpc.aio.ServicerContext[Any, Any]) -> list[str]:
    """gRPC's peer identity of a verified client certificate (its SANs, or its subject CN
    without any); empty without mutual TLS."""
    names = context.peer_identities() or []
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]


def _is_loopback(peer: str) -> bool:
    """Whether a gRPC peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``, ``unix:…``)
    is on this machine."""
    kind, _, address = peer.partition(":")
    if kind == "unix":
        return True
    host = address.rpartition(":")[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _verdict_page_key(token: str) -> tuple[str, str, int, int]:
    """The sort key a ``next_page_token`` carries; FormatError for anything else."""
    try:
        c, f, b, r = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        if not (isinstance(c, str) and isinstance(f, str) and type(b) is int and type(r) is int):
            raise ValueError("wrong types")
    except (ValueError, TypeError, UnicodeError, binascii.Error) as e:
        raise FormatError("page_token: not a token this verifier gave (pass next_page_token as is)") from e
    return c, f, b, r


def _queue_seconds(pending: int, rate: float | None) -> float:
    """Seconds of work queued: 0 before anything finished (only the count bounds the queue
    then), infinite when nothing finished lately though reports wait (a stalled queue)."""
    if rate is None:
        return 0.0
    return pending / rate if rate > 0 else float("inf")


def _admit_timed(
    raws: Sequence[bytes], enrollment: Enrollment, limit: int
) -> tuple[list[AdmittedReport | PausewatchError], float]:
    """:func:`admit_batch` and the CPU time it took on this thread."""
    started = time.thread_time()
    out = admit_batch(raws, enrollment, max_envelope_bytes=limit)
    return out, time.thread_time() - started


def _verify_document(
    raw: bytes, limit: int, trust: TrustRoots, inventory: bool, terms: bool = False
) -> VerifiedDocument:
    """Parse and verify a lab document or party-signed terms (off the event loop)."""
    envelope = parse_envelope(raw, max_bytes=limit)
    if terms:
        return verify_terms(envelope, trust)
    return (verify_inventory if inventory else verify_commitment)(envelope, trust)


def rejected_outcome(error: PausewatchError) -> ReportOutcome:
    return ReportOutcome(
        verifier_pb2.DISPOSITION_REJECTED, code=status_for(error).value[0], message=str(error)[:500]
    )
