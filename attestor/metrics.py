"""Prometheus metrics of one attestor, on their own registry (no globals).

Names: ``pausewatch_attestor_samples_total``, ``_reports_signed_total``, ``_spool_depth``,
``_upload_errors_total{reason}``, ``_receipt_latency_seconds`` (send to verified receipt, on the
injected clock), ``_seconds_since_last_receipt``, ``_alarms{kind}`` (1 while active) and
``_alarms_raised_total{kind}``.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from pausewatch.errors import EnvironmentFaultError

__all__ = ["AttestorMetrics"]


class AttestorMetrics:
    def __init__(self, now_s: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        p = "pausewatch_attestor"
        self.samples = Counter(f"{p}_samples", "Telemetry samples taken", registry=self.registry)
        self.reports_signed = Counter(
            f"{p}_reports_signed", "Reports signed into the chain", registry=self.registry
        )
        self.spool_depth = Gauge(f"{p}_spool_depth", "Reports waiting for a receipt", registry=self.registry)
        self.upload_errors = Counter(
            f"{p}_upload_errors", "Failed uploads", ["reason"], registry=self.registry
        )
        self.receipt_latency = Histogram(
            f"{p}_receipt_latency_seconds",
            "Time from sending a batch to its verified receipts",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.alarms = Gauge(f"{p}_alarms", "Active alarms (1 while active)", ["kind"], registry=self.registry)
        self.alarms_raised = Counter(f"{p}_alarms_raised", "Alarms raised", ["kind"], registry=self.registry)
        self._last_receipt_s: float | None = None
        self._now_s = now_s
        since = Gauge(
            f"{p}_seconds_since_last_receipt",
            "Seconds since the last verified receipt (-1: none yet)",
            registry=self.registry,
        )
        since.set_function(self._since_last_receipt)

    def _since_last_receipt(self) -> float:
        return -1.0 if self._last_receipt_s is None else max(0.0, self._now_s() - self._last_receipt_s)

    def receipt_seen(self) -> None:
        self._last_receipt_s = self._now_s()

    def serve(self, address: str) -> None:
        """Serve /metrics on ``host:port`` (a daemon thread of prometheus_client)."""
        host, _, port = address.rpartition(":")
        try:
            start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=self.registry)
        except OSError as e:
            raise EnvironmentFaultError(f"metrics.listen {address}: cannot listen: {e.strerror}") from e
