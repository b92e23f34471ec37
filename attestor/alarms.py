"""Alarms: the things an operator must look at. Each is a row in the spool (survives restarts,
shown by ``status`` with the time it became active), a gauge and a counter in metrics, and an
error log line.

Kinds, and what ends each one:

- ``challenge.invalid`` (the verifier's challenge does not verify with the configured key):
  clears when a challenge verifies again (after the key is fixed, or the verifier's fixed);
- ``clock.skew`` (this node's clock disagrees with the verifier's signed challenge times by
  more than two minutes; ``attestor.uplink``): clears when a fresh challenge agrees;
- ``spool.full``: clears when the spool has room again;
- ``report.rejected`` (the verifier refused a report for good; the report stays in the spool
  as evidence): clears when a later batch is accepted with no rejection;
- ``log.fork``, ``log.split_view`` (a witness of ``log.policy`` cosigned a history of the
  log that disagrees with the one this attestor was shown; ``attestor.uplink``),
  ``log.omission``, ``receipt.invalid``: evidence that the verifier's log misbehaved. They
  never clear by themselves: an operator who has looked acknowledges one with
  ``pausewatch-attestor ack KIND --note TEXT``, which is logged and kept in the spool.

A cleared alarm is logged (``alarm cleared`` with the reason) and its gauge goes to 0; a kind
raised again later starts a new "active since".
"""

from __future__ import annotations

import logging

from attestor.metrics import AttestorMetrics
from attestor.spool import Spool
from pausewatch.clock import Clock

__all__ = ["SELF_CLEARING", "Alarms"]

SELF_CLEARING = frozenset({"challenge.invalid", "clock.skew", "spool.full", "report.rejected"})
"""Kinds that clear when their cause is gone; the others need an explicit ``ack``."""

_log = logging.getLogger("pausewatch.attestor.alarm")


class Alarms:
    def __init__(self, spool: Spool, metrics: AttestorMetrics, clock: Clock) -> None:
        self._spool = spool
        self._metrics = metrics
        self._clock = clock
        self._active: set[str] = set()

    def load(self) -> None:
        """Show alarms that were active before a restart in the metrics again."""
        for a in self._spool.alarms():
            self._active.add(a.kind)
            self._metrics.alarms.labels(a.kind).set(1)

    def raise_alarm(self, kind: str, message: str) -> None:
        self._spool.raise_alarm(kind, message, self._clock.now_ns())
        self._active.add(kind)
        self._metrics.alarms.labels(kind).set(1)
        self._metrics.alarms_raised.labels(kind).inc()
        _log.error("alarm", extra={"fields": {"alarm": kind, "detail": message[:500]}})

    def sync(self) -> None:
        """Follow the spool: an alarm another process ended (``pausewatch-attestor ack``) drops
        its gauge to 0 here too. The daemon calls it once per period (one small query)."""
        active = {a.kind for a in self._spool.alarms()}
        for kind in self._active - active:
            self._metrics.alarms.labels(kind).set(0)
        self._active = active

    def clear(self, kind: str, reason: str = "its cause is gone") -> None:
        """End an active alarm (a no-op when it is not active)."""
        if kind not in self._active and not any(a.kind == kind for a in self._spool.alarms()):
            return
        self._spool.clear_alarm(kind)
        self._active.discard(kind)
        self._metrics.alarms.labels(kind).set(0)
        _log.info("alarm cleared", extra={"fields": {"alarm": kind, "reason": reason}})
