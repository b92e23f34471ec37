"""Alarms: the things an operator must look at (log fork, omitted report, rejected report, full
spool, invalid challenge). Each is a row in the spool (survives restarts, shown by ``status``),
a gauge and a counter in metrics, and an error log line.

Kinds: ``log.fork``, ``log.split_view`` (a witness of ``log.policy`` cosigned a history of the
log that disagrees with the one this attestor was shown; ``attestor.uplink``), ``log.omission``,
``receipt.invalid``, ``report.rejected``, ``spool.full``,
``challenge.invalid``, ``clock.skew`` (this node's clock disagrees with the verifier's signed
challenge times by more than two minutes; ``attestor.uplink``).
"""

from __future__ import annotations

import logging

from attestor.metrics import AttestorMetrics
from attestor.spool import Spool
from pausewatch.clock import Clock

__all__ = ["Alarms"]

_log = logging.getLogger("pausewatch.attestor.alarm")


class Alarms:
    def __init__(self, spool: Spool, metrics: AttestorMetrics, clock: Clock) -> None:
        self._spool = spool
        self._metrics = metrics
        self._clock = clock

    def load(self) -> None:
        """Show alarms that were active before a restart in the metrics again."""
        for a in self._spool.alarms():
            self._metrics.alarms.labels(a.kind).set(1)

    def raise_alarm(self, kind: str, message: str) -> None:
        self._spool.raise_alarm(kind, message, self._clock.now_ns())
        self._metrics.alarms.labels(kind).set(1)
        self._metrics.alarms_raised.labels(kind).inc()
        _log.error("alarm", extra={"fields": {"alarm": kind, "detail": message[:500]}})

    def clear(self, kind: str) -> None:
        self._spool.clear_alarm(kind)
        self._metrics.alarms.labels(kind).set(0)
