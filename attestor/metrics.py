"""Prometheus metrics of one attestor, on their own registry (no globals).

Names: ``pausewatch_attestor_build_info{version, wire_format, python}`` (1),
``_samples_total``, ``_reports_signed_total``, ``_spool_depth``,
``_upload_errors_total{reason}`` (errors by kind: ``protocol``, ``rejected``, ``busy``,
``unavailable``, a receipt failure's alarm id …), ``_receipt_latency_seconds`` (send to
verified receipt, on the injected clock), ``_last_receipt_timestamp_seconds`` (absent until
the first verified receipt; no sentinel), ``_alarms{kind}`` (1 while active) and
``_alarms_raised_total{kind}``. Label values are names; ``promtool check metrics`` is clean.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pausewatch.entrypoint import WIRE_FORMAT, package_version
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
        self.accounting_errors = Counter(
            f"{p}_accounting_errors",
            "Accounting mode: scheduler reads that failed (their periods are left unsigned)",
            registry=self.registry,
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
        self.registry.register(_LastReceipt(self))
        info = Gauge(
            f"{p}_build_info",
            "The running attestor's version (value 1)",
            ["version", "wire_format", "python"],
            registry=self.registry,
        )
        info.labels(package_version(), WIRE_FORMAT, platform.python_version()).set(1)

    @property
    def last_receipt_s(self) -> float | None:
        return self._last_receipt_s

    def receipt_seen(self) -> None:
        self._last_receipt_s = self._now_s()

    def serve(self, address: str) -> None:
        """Serve /metrics on ``host:port`` (a daemon thread of prometheus_client)."""
        host, _, port = address.rpartition(":")
        try:
            start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=self.registry)
        except OSError as e:
            raise EnvironmentFaultError(f"metrics.listen {address}: cannot listen: {e.strerror}") from e


class _LastReceipt(Collector):
    def __init__(self, metrics: AttestorMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "pausewatch_attestor_last_receipt_timestamp_seconds",
            "When the last verified receipt came back (unix seconds, on the attestor's clock)",
        )
        if self._metrics.last_receipt_s is not None:
            family.add_metric([], self._metrics.last_receipt_s)
        yield family
