"""Prometheus metrics of one verifier instance, in their own registry (tests run several
servers in one process). Served as Prometheus text by :func:`start_metrics_endpoint`.

Conventions (``promtool check metrics`` is clean, tests/verifier/test_metrics.py): label
values are names (``disposition="accepted"``, ``code="unauthenticated"``,
``status="violation"``), never numbers; times are ``_timestamp_seconds`` (unix seconds) and a
series that has no time yet is absent, never a ``-1``; counters end in ``_total``.

- ``pausewatch_verifier_build_info{version, wire_format, python}`` 1
- ``_reports_total{disposition, code}``, ``_findings_total{finding_id}``, ``_documents_total{kind}``
- ``_verdicts_total{status}``: verdicts signed and logged since start; ``_verdict_revisions_total``
  and ``_revision_span_buckets`` (verdicts one evaluation tick revised)
- ``_attestor_last_report_timestamp_seconds{facility_id, subject}``: per enrolled attestor or
  meter (``node:ID`` / ``meter:ID``), when its chain head was received (refreshed every 15 s)
- ``_errors_total{kind}``: ``challenge_issue``, ``background_task``, ``evaluation_tick``, ``metrics``
- ``_refused_calls_total{reason}``: calls refused at the edge of the public port, before any
  handler (``per_source``: ``limits.max_calls_per_source``; ``forwarded_streams``: a
  front-end's forwarded-stream slots), counted by the process that refused them
- ``_denied_calls_total{method, role}`` (authorization), ``_too_old_total{kind}``,
  ``_storage_full``, ``_clock_steps_forward``
- ``_grpc_server_handled_total{grpc_method, grpc_code}``, ``_grpc_server_handling_seconds``
- ``_checkpoint_signed_timestamp_seconds``, ``_log_size``, ``_challenge_seq``, sequencer
  tick histograms, queue and admission gauges, ``_clock_steps_back``, ``_log_time_held``
"""

from __future__ import annotations

import collections
import inspect
import platform
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pausewatch.entrypoint import WIRE_FORMAT, package_version
from pausewatch.errors import EnvironmentFaultError
from pausewatch.v1 import types_pb2, verifier_pb2

__all__ = ["GrpcMetricsInterceptor", "VerifierMetrics", "start_metrics_endpoint"]


class VerifierMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.build_info = Gauge(
            "pausewatch_verifier_build_info",
            "The running verifier's version (value 1)",
            ["version", "wire_format", "python"],
            registry=r,
        )
        self.build_info.labels(*_build_labels()).set(1)
        self.reports = Counter(
            "pausewatch_verifier_reports",
            "Reports by disposition and status code (names)",
            ["disposition", "code"],
            registry=r,
        )
        self.verdicts = Counter(
            "pausewatch_verifier_verdicts", "Verdicts signed and logged, by status", ["status"], registry=r
        )
        self.errors = Counter(
            "pausewatch_verifier_errors", "Errors of the verifier's own work, by kind", ["kind"], registry=r
        )
        self.grpc_handled = Counter(
            "pausewatch_verifier_grpc_server_handled",
            "gRPC calls completed, by method and status code",
            ["grpc_method", "grpc_code"],
            registry=r,
        )
        self.grpc_seconds = Histogram(
            "pausewatch_verifier_grpc_server_handling_seconds",
            "gRPC call duration (unary calls), by method",
            ["grpc_method"],
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
            registry=r,
        )
        self.last_reports: dict[tuple[str, str], float] = {}
        r.register(_LastReports(self))
        self.findings = Counter(
            "pausewatch_verifier_findings", "Findings left by ingest", ["finding_id"], registry=r
        )
        self.documents = Counter(
            "pausewatch_verifier_documents", "Lab documents accepted", ["kind"], registry=r
        )
        self.tick_seconds = Histogram(
            "pausewatch_verifier_tick_seconds",
            "Sequencer tick duration (check, store, append, sign, commit)",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.tick_items = Histogram(
            "pausewatch_verifier_tick_items",
            "Items per sequencer tick",
            buckets=(1, 10, 100, 1000, 5000, 20000),
            registry=r,
        )
        self.log_size = Gauge("pausewatch_verifier_log_size", "Entries in the Merkle log", registry=r)
        self.clock_steps_back = Gauge(
            "pausewatch_verifier_clock_steps_back",
            "Times the clock was found behind log time (log time held) since start",
            registry=r,
        )
        self.clock_steps_forward = Gauge(
            "pausewatch_verifier_clock_steps_forward",
            "Times the clock jumped ahead of monotonic time by more than 60 s since start",
            registry=r,
        )
        self.storage_full = Gauge(
            "pausewatch_verifier_storage_full",
            "1 while the disk is full: submissions refused, challenges on the reserve",
            registry=r,
        )
        self.log_time_held = Gauge(
            "pausewatch_verifier_log_time_held", "1 while the clock is behind log time", registry=r
        )
        self.checkpoint_age = Gauge(
            "pausewatch_verifier_checkpoint_signed_timestamp_seconds",
            "When the latest checkpoint was signed (unix seconds)",
            registry=r,
        )
        self.challenge_seq = Gauge(
            "pausewatch_verifier_challenge_seq", "Sequence number of the current challenge", registry=r
        )
        self.queued = Gauge("pausewatch_verifier_queued_items", "Items waiting for the sequencer", registry=r)
        self.stage_seconds = Counter(
            "pausewatch_verifier_stage_seconds",
            "Time spent per ingest stage: admission (CPU seconds on admission threads: parse,"
            " Ed25519, decode, checks), commit (writer thread wall seconds per tick)",
            ["stage"],
            registry=r,
        )
        self.refused = Counter(
            "pausewatch_verifier_refused_reports",
            "Reports refused with RESOURCE_EXHAUSTED because the verifier was saturated",
            registry=r,
        )
        self.refused_calls = Counter(
            "pausewatch_verifier_refused_calls",
            "Calls refused with RESOURCE_EXHAUSTED at the edge of the public port, before any handler,"
            " by reason: per_source (limits.max_calls_per_source), forwarded_streams (a front-end's"
            " forwarded-stream slots)",
            ["reason"],
            registry=r,
        )
        # bound once, and present from the start (at 0): an operator's rate() sees the first one
        self.refused_per_source = self.refused_calls.labels("per_source")
        self.refused_forwarded_streams = self.refused_calls.labels("forwarded_streams")
        self.pending = Gauge(
            "pausewatch_verifier_pending_reports", "Reports in admission or queued", registry=r
        )
        self.watchers = Gauge("pausewatch_verifier_alert_watchers", "Open WatchAlerts streams", registry=r)
        self.denied = Counter(
            "pausewatch_verifier_denied_calls",
            "Calls refused with PERMISSION_DENIED by the authorization policy ([authorization])",
            ["method", "role"],
            registry=r,
        )
        self.too_old = Counter(
            "pausewatch_verifier_too_old",
            "Reports and commitments refused for reaching too far back (limits.max_report_age_s,"
            " limits.max_commitment_backdate_s)",
            ["kind"],
            registry=r,
        )
        self.revisions = Counter(
            "pausewatch_verifier_verdict_revisions",
            "Verdicts stored as a revision of an earlier one (late reports, new commitment versions)",
            registry=r,
        )
        self.revision_span = Histogram(
            "pausewatch_verifier_revision_span_buckets",
            "Verdicts one evaluation tick revised",
            buckets=(1, 10, 100, 1000, 10000),
            registry=r,
        )
        # Children on the ingest path, bound once: ``labels()`` costs a lock and a dict lookup
        # by a tuple of strings per call (~1.6 µs), several times per report otherwise.
        self.admission_seconds = self.stage_seconds.labels("admission")
        self.commit_seconds = self.stage_seconds.labels("commit")
        self._report_children: dict[tuple[int, int], Any] = {}

    def count_reports(self, outcomes: Iterable[tuple[int, int]]) -> None:
        """Count a batch's (disposition, code) pairs: one increment per distinct pair, the
        label values named once per pair."""
        for key, n in collections.Counter(outcomes).items():
            child = self._report_children.get(key)
            if child is None:
                labels = (_DISPOSITIONS.get(key[0], "unspecified"), _code_name(key[1]))
                child = self._report_children[key] = self.reports.labels(*labels)
            child.inc(n)

    def count_findings(self, finding_ids: Iterable[str]) -> None:
        """Count a batch's findings: one increment per distinct finding id (not a label
        look-up per report: most reports of a batch answering an old challenge carry one)."""
        for finding_id, n in collections.Counter(finding_ids).items():
            self.findings.labels(finding_id).inc(n)

    def verdict_logged(self, status: int) -> None:
        self.verdicts.labels(_STATUSES.get(status, "unspecified")).inc()

    def on_evaluation(self, result: Any) -> None:
        """After an evaluation tick (``verifier.scheduler.TickResult``): the verdicts it logged,
        by status, and its revisions."""
        for verdict in result.stored:
            self.verdict_logged(verdict.status)
        if result.revisions:
            self.revisions.inc(result.revisions)
            self.revision_span.observe(result.revisions)

    def on_tick(self, items: int, seconds: float) -> None:
        self.tick_seconds.observe(seconds)
        self.tick_items.observe(items)
        self.commit_seconds.inc(seconds)


_DISPOSITIONS: dict[int, str] = {
    verifier_pb2.DISPOSITION_ACCEPTED: "accepted",
    verifier_pb2.DISPOSITION_DUPLICATE: "duplicate",
    verifier_pb2.DISPOSITION_REJECTED: "rejected",
}
_STATUSES: dict[int, str] = {
    types_pb2.VERDICT_STATUS_COMPLIANT: "compliant",
    types_pb2.VERDICT_STATUS_VIOLATION: "violation",
    types_pb2.VERDICT_STATUS_INCONCLUSIVE: "inconclusive",
}
_CODES = {c.value[0]: c.name.lower() for c in grpc.StatusCode}


def _code_name(code: int) -> str:
    """A google.rpc.Code value as its name (``16`` -> ``unauthenticated``)."""
    return _CODES.get(code, "unknown")


def _build_labels() -> tuple[str, str, str]:
    return package_version(), WIRE_FORMAT, platform.python_version()


class _LastReports(Collector):
    """``_attestor_last_report_timestamp_seconds``: one series per attestor with a chain, none
    before its first report (no sentinel value)."""

    def __init__(self, metrics: VerifierMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "pausewatch_verifier_attestor_last_report_timestamp_seconds",
            "When the head of each enrolled attestor's (or meter's) chain was received (unix seconds)",
            labels=["facility_id", "subject"],
        )
        for (facility, subject), seconds in sorted(self._metrics.last_reports.items()):
            family.add_metric([facility, subject], seconds)
        yield family


class GrpcMetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]  # generic only in the stubs
    """gRPC server metrics: each unary call's method, status code name and duration; a
    server-streaming or bidirectional call counts when it ends. Only observes: the call's
    behaviour is unchanged."""

    def __init__(self, metrics: VerifierMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = str(handler_call_details.method).rpartition("/")[2] or "unknown"
        metrics = self._metrics
        if handler.unary_unary is not None:
            inner: Any = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                started = time.perf_counter()
                try:
                    return await inner(request, context)
                finally:
                    metrics.grpc_seconds.labels(method).observe(time.perf_counter() - started)
                    metrics.grpc_handled.labels(method, _context_code(context)).inc()

            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._counted_stream(handler.unary_stream, method),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_stream is not None:  # UploadReports
            return grpc.stream_stream_rpc_method_handler(
                self._counted_stream(handler.stream_stream, method),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return handler

    def _counted_stream(self, inner: Any, method: str) -> Any:
        """``inner`` (a response-streaming behaviour), counted when its stream ends: an async
        generator, or a coroutine that writes with ``context.write`` (grpc's own health
        service's ``Watch``: wrapped as a generator it failed every call, with a traceback)."""
        metrics = self._metrics

        if not inspect.isasyncgenfunction(inner):

            async def written(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                try:
                    return await inner(request, context)
                finally:
                    metrics.grpc_handled.labels(method, _context_code(context)).inc()

            return written

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            try:
                async for item in inner(request, context):
                    yield item
            finally:
                metrics.grpc_handled.labels(method, _context_code(context)).inc()

        return stream


def _context_code(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    code = context.code()
    if code is None:
        return "ok"
    if isinstance(code, grpc.StatusCode):
        return code.name.lower()
    return _code_name(int(code))


@dataclass
class MetricsEndpoint:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_metrics_endpoint(address: str, metrics: VerifierMetrics) -> MetricsEndpoint:
    """Serve ``/metrics`` on ``host:port`` (port 0: any free port) in a daemon thread."""
    host, _, port = address.rpartition(":")
    try:
        server, thread = start_http_server(int(port), addr=host.strip("[]"), registry=metrics.registry)
    except OSError as e:
        raise EnvironmentFaultError(f"metrics_listen {address}: cannot listen: {e.strerror}") from e
    return MetricsEndpoint(server, thread)
