"""Prometheus metrics of one verifier instance, in their own registry (tests run several
servers in one process). Served as Prometheus text by :func:`start_metrics_endpoint`."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["VerifierMetrics", "start_metrics_endpoint"]


class VerifierMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reports = Counter(
            "pausewatch_verifier_reports",
            "Reports by disposition and status code",
            ["disposition", "code"],
            registry=r,
        )
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
            "pausewatch_verifier_checkpoint_signed_unix_seconds",
            "When the latest checkpoint was signed",
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

    def on_evaluation(self, result: Any) -> None:
        """After an evaluation tick (``verifier.scheduler.TickResult``): its revisions."""
        if result.revisions:
            self.revisions.inc(result.revisions)
            self.revision_span.observe(result.revisions)
        # Children on the ingest path, bound once: ``labels()`` costs a lock and a dict lookup
        # by a tuple of strings per call (~1.6 µs), several times per report otherwise.
        self.admission_seconds = self.stage_seconds.labels("admission")
        self.commit_seconds = self.stage_seconds.labels("commit")
        self._report_children: dict[tuple[int, int], Any] = {}

    def on_tick(self, items: int, seconds: float) -> None:
        self.tick_seconds.observe(seconds)
        self.tick_items.observe(items)
        self.commit_seconds.inc(seconds)

    def count_reports(self, outcomes: Iterable[tuple[int, int]]) -> None:
        """Count a batch's (disposition, code) pairs: one increment per distinct pair."""
        for key, n in collections.Counter(outcomes).items():
            child = self._report_children.get(key)
            if child is None:
                child = self._report_children[key] = self.reports.labels(str(key[0]), str(key[1]))
            child.inc(n)


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
    server, thread = start_http_server(int(port), addr=host.strip("[]"), registry=metrics.registry)
    return MetricsEndpoint(server, thread)
