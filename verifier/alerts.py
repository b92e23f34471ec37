"""Webhooks: alerts POSTed as JSON to configured URLs, with retries, backoff and a bounded queue.

``WebhookNotifier.forward(bus)`` subscribes to the verifier's ``AlertBus`` and queues every
alert (at or above ``min_severity``); ``run()`` delivers them in order, one POST per URL, body
= the ``Alert`` as protobuf JSON (``MessageToDict``, field names as in the .proto) plus
``"status_name"``. A delivery is retried on connection errors, timeouts, 408, 429 and 5xx with
exponential backoff (``backoff_initial_s`` doubling up to ``backoff_max_s``) on the injected
clock, at most ``max_attempts`` times; any other status is final. A full queue drops the new
alert and counts it (``dropped``): a slow receiver never stalls the verifier.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from google.protobuf.json_format import MessageToDict

from pausewatch.clock import Clock
from pausewatch.errors import InputError
from pausewatch.v1 import types_pb2
from verifier.alert_bus import AlertBus, AlertFilter

__all__ = ["WebhookConfig", "WebhookNotifier", "alert_json", "redact_url"]

_log = logging.getLogger("pausewatch.verifier.alerts")
_RETRY_STATUS: Final = frozenset({408, 429})

Poster = Callable[[str, bytes, float], int]


@dataclass(frozen=True)
class WebhookConfig:
    """Webhook delivery settings; defaults in brackets, limits enforced when built."""

    urls: tuple[str, ...] = ()
    min_severity: int = types_pb2.SEVERITY_WARNING  # [WARNING]
    max_attempts: int = 5  # [5] per alert and URL
    backoff_initial_s: float = 1.0  # [1]
    backoff_max_s: float = 60.0  # [60]
    timeout_s: float = 5.0  # [5] per request
    max_queue: int = 1000  # [1000] alerts waiting; more are dropped and counted

    def __post_init__(self) -> None:
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InputError(f"alerts.webhooks: {url!r} is not an http(s) URL")
        if not 1 <= self.max_attempts <= 100:
            raise InputError("alerts.max_attempts must be within 1 … 100")
        if not (0 < self.backoff_initial_s <= self.backoff_max_s <= 3600):
            raise InputError("alerts: need 0 < backoff_initial_s ≤ backoff_max_s ≤ 3600")
        if not 0 < self.timeout_s <= 120:
            raise InputError("alerts.timeout_s must be within 0 … 120")
        if not 1 <= self.max_queue <= 1_000_000:
            raise InputError("alerts.max_queue must be within 1 … 1000000")


def alert_json(alert: types_pb2.Alert) -> bytes:
    """The webhook body for one alert."""
    body = MessageToDict(alert, preserving_proto_field_name=True)
    body["status_name"] = types_pb2.VerdictStatus.Name(alert.status)
    return json.dumps(body, sort_keys=True).encode()


class _RetryableError(Exception):
    pass


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: what a log may say about a webhook URL."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def _http_post(url: str, body: bytes, timeout_s: float) -> int:
    request = urllib.request.Request(  # noqa: S310  # scheme checked in WebhookConfig
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "pausewatch-verifier"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310  # checked scheme
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
        raise _RetryableError(str(e)) from e


@dataclass
class _Counters:
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    attempts: int = 0
    last_error: str = field(default="")


class WebhookNotifier:
    """Delivers alerts to webhooks; see the module docstring."""

    def __init__(self, config: WebhookConfig, clock: Clock, post: Poster = _http_post) -> None:
        self.config = config
        self._clock = clock
        self._post = post
        self._queue: asyncio.Queue[types_pb2.Alert] = asyncio.Queue(config.max_queue)
        self.counters = _Counters()

    def enqueue(self, alert: types_pb2.Alert) -> bool:
        """Queue an alert; False (and counted) when the queue is full."""
        if alert.HasField("finding") and alert.finding.severity < self.config.min_severity:
            return False
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.counters.dropped += 1
            _log.warning("webhook queue full: alert dropped", extra={"dropped": self.counters.dropped})
            return False
        return True

    async def forward(self, bus: AlertBus) -> None:
        """Queue every alert the bus publishes, until the bus closes."""
        async for alert in bus.subscribe(AlertFilter(min_severity=self.config.min_severity)):
            self.enqueue(alert)

    async def run(self) -> None:
        """Deliver queued alerts forever (cancel to stop)."""
        while True:
            alert = await self._queue.get()
            try:
                await self.deliver(alert)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued alert has been delivered or given up on (``run`` must be
        running)."""
        await self._queue.join()

    async def deliver(self, alert: types_pb2.Alert) -> None:
        body = alert_json(alert)
        for url in self.config.urls:
            await self._deliver_one(url, body)

    async def _deliver_one(self, url: str, body: bytes) -> None:
        delay = self.config.backoff_initial_s
        for attempt in range(1, self.config.max_attempts + 1):
            self.counters.attempts += 1
            try:
                status = await asyncio.to_thread(self._post, url, body, self.config.timeout_s)
            except _RetryableError as e:
                status, error = None, str(e)
            else:
                error = f"HTTP {status}"
            if status is not None and 200 <= status < 300:
                self.counters.delivered += 1
                return
            final = status is not None and status not in _RETRY_STATUS and status < 500
            self.counters.last_error = error
            # a webhook URL is often a secret (a token in its path or query): log its host only
            shown = redact_url(url)
            _log.warning(
                "webhook delivery failed",
                extra={"url": shown, "attempt": attempt, "error": error.replace(url, shown)},
            )
            if final or attempt == self.config.max_attempts:
                break
            await self._clock.sleep(delay)
            delay = min(delay * 2, self.config.backoff_max_s)
        self.counters.failed += 1
