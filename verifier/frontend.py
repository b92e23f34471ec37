"""A front-end process: one of ``limits.frontends`` that share the verifier's gRPC port.

Each front-end listens on the public address with ``SO_REUSEPORT`` (the kernel spreads new
connections over them) and runs one event loop, on its own GIL:

- ``SubmitReports`` and ``UploadReports``: :class:`verifier.service.ReportIntake` — the caller's
  authorization, refusal at the edge before any parsing (RESOURCE_EXHAUSTED with the
  ``pausewatch-retry-after-ms`` hint, against this front-end's share of
  ``limits.max_pending_reports`` and ``max_inflight_bytes``), then size, envelope, key,
  signature, payload and enrolment inline; what passes is sent to the core
  (:mod:`verifier.frontend_link`), which checks duplicates, the per-key quotas and the
  report's age and sequences it. Reports of concurrent calls travel to the core together: at
  most two ``Sequence`` calls in flight, each taking everything admitted meanwhile.
- every other call (challenge, checkpoint, proofs, entries, lab documents, verdicts,
  WatchAlerts, health, reflection) is forwarded as it is, bytes in and bytes out, to the core,
  with the caller's peer address and certificate identities in the call's metadata
  (:data:`verifier.service.FORWARDED_PEER_KEY`), so that the core's authorization sees the
  real caller. What a client sends under those keys is dropped.

A front-end exits when the core goes away (its ``Follow`` stream ends, or its parent process
is gone): the supervisor (:mod:`verifier.frontends`) runs in the core's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import os
import signal
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from pausewatch.addresses import PerClient, client_of
from pausewatch.errors import EnvironmentFaultError, PausewatchError
from pausewatch.files.statedir import check_secret_file
from pausewatch.v1 import verifier_pb2
from verifier.config import LimitsConfig, VerifierConfig
from verifier.frontend_link import (
    FOLLOW_METHOD,
    SEQUENCE_METHOD,
    STATE_METHOD,
    TALLY_METHOD,
    CoreState,
    counter_values,
    error_from_status,
    pack_reports,
    pack_tally,
    unpack_outcomes,
    unpack_state,
)
from verifier.ingest import AdmittedReport
from verifier.metrics import GrpcMetricsInterceptor, VerifierMetrics
from verifier.sequencer import ReportOutcome
from verifier.service import FORWARDED_IDENTITY_KEY, FORWARDED_PEER_KEY, RETRY_AFTER_KEY, ReportIntake

__all__ = [
    "CoreClient",
    "FrontendHandler",
    "grpc_options",
    "per_source",
    "run_frontend",
    "server_credentials",
]

_log = logging.getLogger("pausewatch.verifier.frontend")
_MAX_IN_FLIGHT: Final = 2  # Sequence calls to the core at once
_MAX_REPORTS_PER_CALL: Final = 5000
_FIRST_STATE_S: Final = 30.0  # the core's first Follow message, at start
_TALLY_S: Final = 1.0  # counters to the core this often
_VERIFIER: Final = verifier_pb2.DESCRIPTOR.services_by_name["Verifier"]
_INTAKE: Final = {f"/{_VERIFIER.full_name}/SubmitReports", f"/{_VERIFIER.full_name}/UploadReports"}


def _method_kinds() -> dict[str, tuple[bool, bool]]:
    """Every forwarded method: full path -> (client streaming, server streaming)."""
    out: dict[str, tuple[bool, bool]] = {}
    for service in (
        _VERIFIER,
        health_pb2.DESCRIPTOR.services_by_name["Health"],
        reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"],
    ):
        for m in service.methods:
            out[f"/{service.full_name}/{m.name}"] = (m.client_streaming, m.server_streaming)
    return out


_FORWARDED: Final = {k: v for k, v in _method_kinds().items() if k not in _INTAKE}


def grpc_options(config: VerifierConfig, *, share: int = 1, reuseport: bool = False) -> list[tuple[str, Any]]:
    """The gRPC core options of a server listening on the public address (see
    :mod:`verifier.server`); ``share``: the number of processes that split the connection cap."""
    limits = config.limits
    return [
        ("grpc.max_receive_message_length", limits.max_message_bytes),
        ("grpc.max_send_message_length", limits.max_message_bytes),
        ("grpc.so_reuseport", int(reuseport)),
        ("grpc.server.max_pending_requests", limits.max_concurrent_rpcs),
        ("grpc.server.max_pending_requests_hard_limit", limits.max_concurrent_rpcs),
        ("grpc.server_max_unrequested_time_in_server", limits.grpc_max_unrequested_s),
        # idle and half-open connections cannot pile up (issue 12, row 8): a cap on open
        # connections (past it, core closes a new one at accept), a deadline on TLS and HTTP/2
        # set-up, idle connections closed, dead peers found by keepalive pings
        ("grpc.max_allowed_incoming_connections", max(1, limits.max_connections // share)),
        ("grpc.server_handshake_timeout_ms", round(limits.handshake_timeout_s * 1000)),
        ("grpc.max_connection_idle_ms", round(limits.connection_idle_s * 1000)),
        ("grpc.max_concurrent_streams", limits.max_streams_per_connection),
        ("grpc.keepalive_time_ms", _KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", _KEEPALIVE_TIMEOUT_MS),
        # gRPC's allocation-based overload protection (grpc.http.overload_protection) stays
        # on: it refuses a new stream (RST_STREAM REFUSED_STREAM) while a connection has more
        # streams *allocated* than max_concurrent_streams, so a peer that opens and at once
        # resets streams (HTTP/2 "rapid reset") holds at most that many calls. Its price: a
        # client that keeps a connection at the stream cap gets such a refusal (UNAVAILABLE
        # "Stream removed" after gRPC's one transparent retry) whenever this process lags in
        # releasing finished calls; no servicer saw those calls (docs/scale.md, "Overload on
        # a connection at its stream cap"; tests/verifier/test_overload_edge.py).
    ]


_KEEPALIVE_MS: Final = 60_000  # ping a connection silent this long (ms)
_KEEPALIVE_TIMEOUT_MS: Final = 20_000  # and close it when the ping is not answered in time (ms)


def server_credentials(config: VerifierConfig) -> grpc.ServerCredentials:
    tls = config.tls
    if tls is None:
        raise EnvironmentFaultError("TLS credentials asked for without [tls]")
    check_secret_file(tls.key_file, "TLS private key")
    try:
        cert = tls.cert_file.read_bytes()
        key = tls.key_file.read_bytes()
        ca = tls.client_ca_file.read_bytes() if tls.client_ca_file else None
    except OSError as e:
        raise EnvironmentFaultError(f"cannot read a TLS file: {e}") from e
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )


@dataclasses.dataclass
class _Waiting:
    reports: list[AdmittedReport]
    future: asyncio.Future[list[ReportOutcome]]


class CoreClient:
    """A front-end's link to the core: ``sequence`` (coalesced), ``follow``, forwarding."""

    def __init__(self, socket_path: Path, max_message_bytes: int) -> None:
        # Two connections to the core: ``channel`` for this link's own calls (Sequence, State,
        # Follow, Tally) and ``forward`` for the callers' forwarded calls. The core caps the
        # streams of one connection (``max_streams_per_connection``); forwarded long-lived
        # streams held on the link's connection starved Sequence, so that one stranger with
        # idle reflection streams stopped every report (a local subchannel pool each: channels
        # with the same target and arguments would otherwise share one connection).
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.use_local_subchannel_pool", 1),
        ]
        self.channel = grpc.aio.insecure_channel(f"unix:{socket_path}", options=options)
        self.forward = grpc.aio.insecure_channel(f"unix:{socket_path}", options=options)
        self._sequence = _raw(self.channel, "unary_unary", SEQUENCE_METHOD)
        self._state = _raw(self.channel, "unary_unary", STATE_METHOD)
        self.state = CoreState()
        self._waiting: list[_Waiting] = []
        self._in_flight = 0

    async def close(self) -> None:
        await self.forward.close(None)
        await self.channel.close(None)

    async def sequence(self, reports: list[AdmittedReport]) -> list[ReportOutcome]:
        """Sequence ``reports`` in the core, together with other calls' reports."""
        future: asyncio.Future[list[ReportOutcome]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(reports, future))
        self._pump()
        return await future

    def _pump(self) -> None:
        while self._waiting and self._in_flight < _MAX_IN_FLIGHT:
            group: list[_Waiting] = []
            count = 0
            while self._waiting and (
                not group or count + len(self._waiting[0].reports) <= _MAX_REPORTS_PER_CALL
            ):
                w = self._waiting.pop(0)
                group.append(w)
                count += len(w.reports)
            self._in_flight += 1
            asyncio.get_running_loop().create_task(self._send(group))

    async def _send(self, group: list[_Waiting]) -> None:
        try:
            reply = await self._sequence(pack_reports([r for w in group for r in w.reports]))
            outcomes = unpack_outcomes(reply)
        except grpc.aio.AioRpcError as e:
            error: BaseException = error_from_status(e.code(), e.details() or "")
            for w in group:
                if not w.future.done():
                    w.future.set_exception(error)
            return
        except BaseException as e:
            for w in group:
                if not w.future.done():
                    w.future.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        finally:
            self._in_flight -= 1
            self._pump()
        at = 0
        for w in group:
            n = len(w.reports)
            if not w.future.done():
                w.future.set_result(outcomes[at : at + n])
            at += n

    async def tally(self, metrics: VerifierMetrics) -> None:
        """Send this front-end's counters to the core, as increments, every second."""
        call = _raw(self.channel, "unary_unary", TALLY_METHOD)
        sent: dict[Any, float] = {}
        while True:
            await asyncio.sleep(_TALLY_S)
            now = counter_values(metrics.registry)
            message = pack_tally(now, sent)
            if message is None:
                continue
            try:
                await call(message, timeout=10)
            except grpc.aio.AioRpcError as e:
                _log.warning("could not send counters to the core: %s", e.code().name)
                continue
            sent = now

    async def refresh(self) -> bool:
        """Ask the core for its state now; True when the enrolment changed."""
        try:
            reply = await self._state(self.state.generation.to_bytes(8, "big", signed=True), timeout=10)
        except grpc.aio.AioRpcError as e:
            raise error_from_status(e.code(), e.details() or "") from e
        if not reply:
            return False
        state = unpack_state(reply)
        if state.generation <= self.state.generation:
            return False
        self.state = state
        return True

    async def follow(self, first: asyncio.Event) -> None:
        """Take the core's state as it changes; return when the stream ends (the core is gone)."""
        call = _raw(self.channel, "unary_stream", FOLLOW_METHOD)(b"", wait_for_ready=True)
        try:
            async for message in call:
                state = unpack_state(message)
                if state.generation >= self.state.generation:  # not older than a refresh's
                    self.state = state
                first.set()
        except grpc.aio.AioRpcError as e:
            _log.warning("the core's state stream ended: %s %s", e.code().name, e.details())


class _IntakeMetrics(GrpcMetricsInterceptor):
    """The per-method gRPC counters of the calls a front-end answers itself (reports); they
    reach the core with the other counters (``Tally``). Forwarded calls are counted by the core."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        if handler_call_details.method not in _INTAKE:
            return await continuation(handler_call_details)
        return await super().intercept_service(continuation, handler_call_details)


# The two refusals at the edge of the public port (here, before any handler) carry the retry
# hint the core's refusals carry (trailing metadata RETRY_AFTER_KEY, milliseconds) and are
# counted (``pausewatch_verifier_refused_calls_total{reason}``). Neither has a queue or a rate to
# book a slot by, as the core's admission has (verifier.service): each hint is a fixed pace.
#
# Per source, 1 s: what holds a source's slots is mostly its own unary calls (attestors behind
# one NAT: SubmitReports, each queued behind at most about the core's max_queue_s of work, 1 s
# by default, before it is served or refused), so a slot is usually free again within a second
# or so; and 1 s is the verifier's hint wherever it has no estimate (the core's in-flight-bytes
# refusal, its slow start), so a client that honours hints keeps one pace whichever refusal it
# met. A source that stays full is refused again, cheaply (nothing is parsed or forwarded).
_SOURCE_RETRY_MS: Final = 1000
_SOURCE_FULL: Final = (
    f"too many calls in flight from this address; retry after {_SOURCE_RETRY_MS // 1000} s"
)


def _source(peer: str) -> str:
    """The party a call comes from (``client_of`` its address), else the peer string itself.
    grpc writes an IPv6 peer percent-encoded (``ipv6:%5B::1%5D:57108``, zone ``%25eth0``)."""
    kind, _, rest = urllib.parse.unquote(peer).partition(":")
    if kind in ("ipv4", "ipv6"):
        client = client_of(rest.rpartition(":")[0])
        if client is not None:
            return client
    return peer


class _PerSource(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # generic only in the stubs
    """At most ``limit`` calls in flight per source (:func:`_source`), counted from the call's
    start: each handler is served as a request-streaming one, which grpc runs at once (a unary
    handler runs only once its request has fully arrived), reading the one request itself.
    One more call from that source is refused RESOURCE_EXHAUSTED at once, so a stranger's
    half-sent calls hold at most ``limit`` calls' memory (~22 KB each, measured) and nothing
    an honest caller needs. Outermost: the metrics see what they saw before."""

    def __init__(self, limit: int, metrics: VerifierMetrics) -> None:
        self.limit = limit
        self.held = PerClient()
        self._refused = metrics.refused_per_source

    def _take(self, context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
        """A slot for the call's source; None (counted, the hint set) when the source is full."""
        source = _source(context.peer() or "")
        if self.held[source] >= self.limit:
            self._refused.inc()
            context.set_trailing_metadata(((RETRY_AFTER_KEY, str(_SOURCE_RETRY_MS)),))
            return None
        self.held.add(source)
        return source

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        take, give = self._take, self.held.remove
        de, ser = handler.request_deserializer, handler.response_serializer

        async def one(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            """The single request of a unary-request call (None: the call was ended here)."""
            got: list[Any] = []
            async for r in requests:  # a unary client ends its stream with its request
                got.append(r)
                if len(got) > 1:
                    break
            if len(got) == 1:
                return got[0]
            # INVALID_ARGUMENT, not UNIMPLEMENTED: the method exists, the call was malformed
            context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
            context.set_details("expected one request message, got " + ("none" if not got else "more"))
            return None

        if handler.unary_unary is not None or handler.stream_unary is not None:
            inner_uu: Any = handler.unary_unary
            inner_su: Any = handler.stream_unary

            async def unary_response(
                requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
            ) -> Any:
                source = take(context)
                if source is None:  # the hint, set by take(), goes with the abort
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, _SOURCE_FULL)
                    raise AssertionError("unreachable: abort raises")  # pragma: no cover
                try:
                    if inner_su is not None:
                        return await inner_su(requests, context)
                    request = await one(requests, context)
                    if request is None:
                        return None
                    return await inner_uu(request, context)
                finally:
                    give(source)

            return grpc.stream_unary_rpc_method_handler(unary_response, de, ser)

        inner_us: Any = handler.unary_stream
        inner_ss: Any = handler.stream_stream

        async def streamed(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            # an abort inside a response generator reaches the client as UNKNOWN: set, return
            # (the trailing metadata with the hint is set by take())
            source = take(context)
            if source is None:
                context.set_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
                context.set_details(_SOURCE_FULL)
                return
            try:
                if inner_ss is not None:
                    responses = inner_ss(requests, context)
                else:
                    request = await one(requests, context)
                    if request is None:
                        return
                    responses = inner_us(request, context)
                if inspect.isasyncgen(responses):
                    async for item in responses:
                        yield item
                else:  # a coroutine writing with context.write (grpc's own health Watch)
                    await responses
            finally:
                give(source)

        return grpc.stream_stream_rpc_method_handler(streamed, de, ser)


def per_source(limits: LimitsConfig, metrics: VerifierMetrics) -> grpc.aio.ServerInterceptor:  # type: ignore[type-arg]
    """The outermost interceptor of a server on the public address: calls in flight per source
    (refusals counted in ``metrics``)."""
    return _PerSource(limits.max_calls_per_source, metrics)


class FrontendHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]  # generic in the stubs only
    """Reports to the intake; every other method forwarded to the core (module docstring)."""

    def __init__(
        self,
        intake: ReportIntake,
        core: CoreClient,
        metrics: VerifierMetrics,
        *,
        max_forwarded_streams: int = 128,
    ) -> None:
        self._intake = intake
        self._core = core
        self._streams = _StreamGate(max_forwarded_streams, metrics)

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        name = _VERIFIER.full_name
        if method == f"/{name}/SubmitReports":
            return grpc.unary_unary_rpc_method_handler(
                self._intake.SubmitReports,
                request_deserializer=verifier_pb2.SubmitReportsRequest.FromString,
                response_serializer=verifier_pb2.SubmitReportsResponse.SerializeToString,
            )
        if method == f"/{name}/UploadReports":
            return grpc.stream_stream_rpc_method_handler(
                self._intake.UploadReports,
                request_deserializer=verifier_pb2.SubmitReportsRequest.FromString,
                response_serializer=verifier_pb2.SubmitReportsResponse.SerializeToString,
            )
        kind = _FORWARDED.get(method)
        if kind is None:
            return None  # UNIMPLEMENTED, as gRPC answers any unknown method
        return _forwarder(self._core.forward, method, *kind, self._streams)


class _StreamGate:
    """A bound on the forwarded streaming calls (WatchAlerts, health Watch, reflection) one
    front-end holds open to the core at once: kept under the core's streams per connection
    so that unary forwarded calls (GetChallenge, proofs, ...) still get through; past it a
    streaming call is refused with RESOURCE_EXHAUSTED, counted, with a retry hint.

    One source (``_source``) holds at most ``SOURCE_SHARE`` of them, so that a stranger
    opening watches and leaving them open takes a share, not every slot: the others' watches
    (and their health checks) still open. Many sources together can still fill the gate."""

    SOURCE_SHARE: Final = 1 / 8

    def __init__(self, limit: int, metrics: VerifierMetrics) -> None:
        self.limit = max(1, limit)
        self.per_source = max(1, int(self.limit * self.SOURCE_SHARE))
        self.held = 0
        self.held_by = PerClient()
        self._refused = metrics.refused_forwarded_streams

    def take(self, context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
        """One more stream, for the call's source (returned, to ``give`` back); None (counted;
        the call's status, details and hint set to the refusal) when the gate or the source's
        share of it is full."""
        source = _source(context.peer() or "")
        if self.held >= self.limit or self.held_by[source] >= self.per_source:
            self._refused.inc()
            context.set_trailing_metadata(((RETRY_AFTER_KEY, str(_STREAMS_RETRY_MS)),))
            context.set_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
            context.set_details(_STREAMS_FULL)
            return None
        self.held += 1
        self.held_by.add(source)
        return source

    def give(self, source: str) -> None:
        self.held -= 1
        self.held_by.remove(source)


# Forwarded streams, 5 s: the slots are held by long-lived streams (WatchAlerts, health Watch,
# reflection) that end when their watcher leaves, not in a time the front-end could estimate, so
# a 1 s pace would mostly buy refusals. 5 s is the core's own "cannot promise, ask again then"
# (verifier.service, _BOOK_AHEAD_S): a freed slot is taken within 5 s (a watcher misses
# little), and a waiting watcher costs one call refused here, never forwarded, per 5 s.
_STREAMS_RETRY_MS: Final = 5000
_STREAMS_FULL: Final = (
    f"too many forwarded streams open on this front-end; retry after {_STREAMS_RETRY_MS // 1000} s"
)


def _forwarded_metadata(context: grpc.aio.ServicerContext[Any, Any]) -> list[tuple[str, str | bytes]]:
    out: list[tuple[str, str | bytes]] = [
        (k, v)
        for k, v in _pairs(context.invocation_metadata())
        if not k.startswith(("pausewatch-frontend-", "grpc-", ":"))
        and k not in ("user-agent", "content-type", "te", "authority")
    ]
    out.append((FORWARDED_PEER_KEY, context.peer()))
    for name in context.peer_identities() or ():
        out.append(
            (
                FORWARDED_IDENTITY_KEY,
                name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name),
            )
        )
    return out


def _pairs(metadata: Any) -> list[tuple[str, Any]]:
    return [(m[0], m[1]) for m in metadata or ()]


def _raw(channel: grpc.aio.Channel, kind: str, method: str) -> Any:
    """A multicallable on ``channel`` that sends and returns bytes as they are."""
    return getattr(channel, kind)(method, request_serializer=None, response_deserializer=None)


def _relay_status(context: grpc.aio.ServicerContext[Any, Any], e: grpc.aio.AioRpcError) -> None:
    """The core's status, details and trailing metadata, as the answer to this call."""
    trailing = [(k, v) for k, v in _pairs(e.trailing_metadata()) if not k.startswith("grpc-")]
    if trailing:
        context.set_trailing_metadata(trailing)
    context.set_code(e.code())
    context.set_details(e.details() or "")


async def _relay_error(context: grpc.aio.ServicerContext[Any, Any], e: grpc.aio.AioRpcError) -> None:
    _relay_status(context, e)
    await context.abort(e.code(), e.details() or "")


def _forwarder(
    channel: grpc.aio.Channel,
    method: str,
    client_streaming: bool,
    server_streaming: bool,
    streams: _StreamGate,
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler passing one method's calls through to the core, bytes as they are."""

    def call_args(context: grpc.aio.ServicerContext[Any, Any]) -> dict[str, Any]:
        return {"metadata": _forwarded_metadata(context), "timeout": context.time_remaining()}

    if not client_streaming and not server_streaming:

        async def unary(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            call = _raw(channel, "unary_unary", method)(request, **call_args(context))
            try:
                response: bytes = await call
            except grpc.aio.AioRpcError as e:
                await _relay_error(context, e)
                raise AssertionError("unreachable: abort raises") from e  # pragma: no cover
            return response

        return grpc.unary_unary_rpc_method_handler(unary)

    async def relay(
        open_call: Callable[[], Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        # A forwarded stream holds one of the front-end's forwarded-stream slots while it is
        # open (none free: refused, ``_StreamGate``). The core's status ends the stream as it
        # is: set, not aborted (an abort raised inside a response generator reaches the client
        # as UNKNOWN).
        source = streams.take(context)
        if source is None:
            return
        call = None
        try:
            call = open_call()
            async for item in call:
                yield item
        except grpc.aio.AioRpcError as e:
            _relay_status(context, e)
        finally:
            if call is not None:
                call.cancel()
            streams.give(source)

    if server_streaming and not client_streaming:

        # an async generator function itself: grpc.aio iterates a plain function's result as a
        # synchronous iterable
        async def unary_stream(
            request: bytes, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[bytes]:
            opened = _raw(channel, "unary_stream", method)
            async for item in relay(lambda: opened(request, **call_args(context)), context):
                yield item

        return grpc.unary_stream_rpc_method_handler(unary_stream)

    if client_streaming and not server_streaming:

        async def stream_unary(
            requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
        ) -> bytes:
            source = streams.take(context)
            if source is None:  # the hint, set by take(), goes with the abort
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, _STREAMS_FULL)
                raise AssertionError("unreachable: abort raises")  # pragma: no cover
            try:
                response: bytes = await _raw(channel, "stream_unary", method)(requests, **call_args(context))
            except grpc.aio.AioRpcError as e:
                await _relay_error(context, e)
                raise AssertionError("unreachable: abort raises") from e  # pragma: no cover
            finally:
                streams.give(source)
            return response

        return grpc.stream_unary_rpc_method_handler(stream_unary)

    async def stream_stream(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        opened = _raw(channel, "stream_stream", method)
        async for item in relay(lambda: opened(requests, **call_args(context)), context):
            yield item

    return grpc.stream_stream_rpc_method_handler(stream_stream)


# --- the process ---------------------------------------------------------------------------
def run_frontend(
    config: VerifierConfig,
    address: str,
    socket_path: Path,
    share: int,
    ready: Callable[[int], None],
) -> int:
    """Serve as a front-end until SIGTERM (exit 0) or the core is gone (exit 1)."""
    credentials = server_credentials(config) if config.tls is not None else None
    return asyncio.run(
        _serve(
            config=config,
            address=address,
            socket_path=socket_path,
            share=share,
            credentials=credentials,
            ready=ready,
        )
    )


async def _serve(
    *,
    config: VerifierConfig,
    address: str,
    socket_path: Path,
    share: int,
    credentials: grpc.ServerCredentials | None,
    ready: Callable[[int], None],
) -> int:
    limits = config.limits
    core = CoreClient(socket_path, limits.max_message_bytes)
    first = asyncio.Event()
    parent = os.getppid()
    follow = asyncio.create_task(core.follow(first), name="follow-core")
    deadline = time.monotonic() + _FIRST_STATE_S
    while not first.is_set():  # the core's first state; the core gone (our parent changed): exit
        if os.getppid() != parent or follow.done() or time.monotonic() > deadline:
            follow.cancel()
            raise EnvironmentFaultError(f"the verifier's core did not answer on {socket_path}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first.wait(), 0.2)
    # this front-end's share of the pools that bound what the whole verifier holds
    own = dataclasses.replace(
        limits,
        max_pending_reports=max(1, limits.max_pending_reports // share),
        max_inflight_bytes=max(limits.max_report_bytes, limits.max_inflight_bytes // share),
    )
    metrics = VerifierMetrics()
    tally = asyncio.create_task(core.tally(metrics), name="tally")
    intake = ReportIntake(
        limits=own,
        metrics=metrics,
        lab_facilities={lab.lab_id: lab.facilities for lab in config.labs},
        sequence=core.sequence,
        enrollment=lambda: core.state.enrollment,
        storage_full=lambda: core.state.storage_full,
        authorization=config.authorization,
        refresh_enrollment=core.refresh,
    )
    server = grpc.aio.server(
        options=grpc_options(config, share=share, reuseport=True),
        # No process-wide cap on calls (grpc's maximum_concurrent_rpcs): it counted a call from
        # its HEADERS, before its request had arrived, so one stranger's half-sent calls
        # (80 connections x 256 streams) took every slot and every honest call was refused
        # "Concurrent RPC limit exceeded!", for up to ~100 s after he left. What bounds calls
        # instead: calls in flight per source (_PerSource, outermost), streams per
        # connection, connections; reports by the intake's pools.
        maximum_concurrent_rpcs=None,
        interceptors=[
            per_source(limits, metrics),
            _IntakeMetrics(metrics),
        ],
    )
    # forwarded streams: half the core's per-connection cap, the rest for unary forwarded calls
    handler = FrontendHandler(
        intake, core, metrics, max_forwarded_streams=max(1, limits.max_streams_per_connection // 2)
    )
    server.add_generic_rpc_handlers([handler])
    try:
        if credentials is not None:
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        follow.cancel()
        raise EnvironmentFaultError(f"a front-end cannot listen on {address}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready(port)
    stopped = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set() and not follow.done() and os.getppid() == parent:
            await asyncio.wait({stopped, follow}, timeout=0.5)
    finally:
        gone = not stop.is_set()
        if gone:
            _log.error("the verifier's core is gone; this front-end exits")
        await server.stop(1.0 if gone else 5.0)
        follow.cancel()
        stopped.cancel()
        tally.cancel()
        with contextlib.suppress(asyncio.CancelledError, PausewatchError):
            await follow
        await core.close()
    return 1 if gone else 0
