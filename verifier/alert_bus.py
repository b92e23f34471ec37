"""In-process publish/subscribe for alerts: ingest findings and (from the scheduler) verdicts.

``publish`` never blocks and never fails: each subscriber has a bounded queue, and a
subscriber whose queue is full is dropped — its iterator raises :class:`SubscriberDroppedError`
(the servicer ends that ``WatchAlerts`` stream with RESOURCE_EXHAUSTED) — so one slow watcher
can never hold up ingest or other watchers. Runs on the event loop thread only.

Usage::

    sub = bus.subscribe(AlertFilter(facility_ids=frozenset({"fac-a"})))
    async for alert in sub: ...
    sub.close()
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from pausewatch.errors import LimitExceededError
from pausewatch.v1 import types_pb2

__all__ = ["AlertBus", "AlertFilter", "SubscriberDroppedError", "Subscription"]


class SubscriberDroppedError(LimitExceededError):
    """The subscriber fell too far behind and was dropped."""


@dataclass(frozen=True)
class AlertFilter:
    """Empty ``facility_ids``: every facility. Alerts without a finding pass any severity."""

    facility_ids: frozenset[str] = field(default_factory=frozenset)
    min_severity: int = types_pb2.SEVERITY_UNSPECIFIED

    def matches(self, alert: types_pb2.Alert) -> bool:
        if self.facility_ids and alert.facility_id not in self.facility_ids:
            return False
        return not (alert.HasField("finding") and alert.finding.severity < self.min_severity)


_CLOSED = object()
_DROPPED = object()


class Subscription:
    """One watcher's bounded queue; iterate it with ``async for``."""

    def __init__(self, bus: AlertBus, alert_filter: AlertFilter, max_queue: int) -> None:
        self._bus = bus
        self.filter = alert_filter
        self._queue: asyncio.Queue[object] = asyncio.Queue(max_queue + 1)  # +1: room for the end marker
        self._max = max_queue
        self.dropped = False
        self.closed = False

    def _offer(self, alert: types_pb2.Alert) -> bool:
        if self._queue.qsize() >= self._max:
            self.dropped = True
            self._queue.put_nowait(_DROPPED)
            return False
        self._queue.put_nowait(alert)
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._bus._remove(self)  # the bus and its subscriptions are one unit
            if not self.dropped:
                self._queue.put_nowait(_CLOSED)

    def __aiter__(self) -> AsyncIterator[types_pb2.Alert]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[types_pb2.Alert]:
        while True:
            item = await self._queue.get()
            if item is _DROPPED:
                raise SubscriberDroppedError(f"alert watcher fell {self._max} alerts behind and was dropped")
            if item is _CLOSED:
                return
            if isinstance(item, types_pb2.Alert):
                yield item


class AlertBus:
    """Fan-out of alerts to subscribers with bounded queues."""

    def __init__(self, *, max_queue: int = 1000, max_subscribers: int = 256) -> None:
        self._subs: list[Subscription] = []
        self._max_queue = max_queue
        self._max_subscribers = max_subscribers
        self.published = 0
        self.dropped_subscribers = 0

    def subscribe(self, alert_filter: AlertFilter | None = None) -> Subscription:
        if len(self._subs) >= self._max_subscribers:
            raise LimitExceededError(
                f"already {len(self._subs)} alert watchers; the limit is {self._max_subscribers}"
            )
        sub = Subscription(self, alert_filter or AlertFilter(), self._max_queue)
        self._subs.append(sub)
        return sub

    def publish(self, alert: types_pb2.Alert) -> None:
        self.published += 1
        for sub in list(self._subs):
            if sub.filter.matches(alert) and not sub._offer(alert):  # same unit
                self.dropped_subscribers += 1
                self._remove(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def close(self) -> None:
        for sub in list(self._subs):
            sub.close()
