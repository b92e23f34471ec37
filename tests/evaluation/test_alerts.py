"""Webhooks against a real HTTP server on 127.0.0.1, on simulated time."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pausewatch.clock import SimulatedClock
from pausewatch.errors import InputError
from pausewatch.v1 import types_pb2
from verifier.alert_bus import AlertBus
from verifier.alerts import WebhookConfig, WebhookNotifier


class _Receiver:
    """Answers with the queued statuses (then 200) and records every body it got;
    ``requests_reached(n)`` waits (on the event loop) until it has received ``n`` requests."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, object]] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver._received()
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _received(self) -> None:  # on the HTTP server's thread
        with self._lock:
            self.requests += 1
            ready = [w for w in self._waiters if self.requests >= w[0]]
            self._waiters = [w for w in self._waiters if self.requests < w[0]]
        for _, loop, future in ready:
            loop.call_soon_threadsafe(_resolve, future)

    async def requests_reached(self, n: int) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self.requests >= n:
                return
            self._waiters.append((n, loop, future))
        await asyncio.wait_for(future, timeout=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _alert(
    fid: str = "energy.unexplained", severity: types_pb2.Severity.ValueType = types_pb2.SEVERITY_CRITICAL
) -> types_pb2.Alert:
    a = types_pb2.Alert(
        commitment_id="pause",
        facility_id="fac-b",
        status=types_pb2.VERDICT_STATUS_VIOLATION,
        raised_unix_ns=1,
        log_index=42,
    )
    a.finding.id, a.finding.severity = fid, severity
    return a


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _WatchedClock(SimulatedClock):
    """A simulated clock that says when someone starts sleeping on it."""

    def __init__(self) -> None:
        super().__init__()
        self.slept = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.slept.set()  # the sleeper is registered before anyone waiting on this runs
        await super().sleep(seconds)


async def _next_sleep(clock: _WatchedClock) -> None:
    await clock.slept.wait()


async def _drive(clock: _WatchedClock, task: asyncio.Future[None]) -> None:
    """Until ``task`` is done, jump simulated time to each backoff the code under test sleeps
    on; in between, wait for the task itself or its next sleep — never for wall-clock time."""
    async with asyncio.timeout(30):
        while not task.done():
            clock.slept.clear()
            deadline = clock.next_deadline_ns()
            if deadline is not None:
                clock.advance((deadline - clock.now_ns()) / 1e9)
                continue
            slept = asyncio.ensure_future(_next_sleep(clock))
            await asyncio.wait([task, slept], return_when=asyncio.FIRST_COMPLETED)
            slept.cancel()
    await task


def test_webhook_retries_with_backoff_then_delivers() -> None:
    receiver = _Receiver([503, 503])

    async def scenario() -> None:
        clock = _WatchedClock()
        notifier = WebhookNotifier(WebhookConfig(urls=(receiver.url,), backoff_initial_s=2.0), clock)
        bus = AlertBus()
        forward = asyncio.create_task(notifier.forward(bus))
        await asyncio.sleep(0)
        bus.publish(_alert())
        bus.publish(_alert("workload.inference", types_pb2.SEVERITY_INFO))  # below min_severity
        start = clock.now_ns()
        runner = asyncio.create_task(notifier.run())
        await receiver.requests_reached(1)  # the alert was queued and its first attempt is in flight
        await _drive(clock, asyncio.ensure_future(notifier.drain()))
        assert notifier.counters.delivered == 1
        assert clock.now_ns() - start == 6 * 10**9  # backoff 2 s then 4 s
        assert notifier.counters.attempts == 3
        assert notifier.counters.failed == 0
        body = receiver.bodies[0]
        finding = body["finding"]
        assert isinstance(finding, dict)
        assert finding["id"] == "energy.unexplained"
        assert body["status_name"] == "VERDICT_STATUS_VIOLATION"
        assert body["log_index"] == "42"
        runner.cancel()
        bus.close()
        await forward

    try:
        asyncio.run(scenario())
    finally:
        receiver.close()
    assert len(receiver.bodies) == 1


def test_webhook_gives_up_on_client_error_and_when_attempts_run_out() -> None:
    receiver = _Receiver([400, 500, 500, 500])

    async def scenario() -> None:
        clock = _WatchedClock()
        notifier = WebhookNotifier(WebhookConfig(urls=(receiver.url,), max_attempts=3), clock)
        await notifier.deliver(_alert())  # 400: final at once
        assert notifier.counters.failed == 1
        assert notifier.counters.attempts == 1
        task = asyncio.create_task(notifier.deliver(_alert()))
        await _drive(clock, task)
        assert notifier.counters.failed == 2
        assert notifier.counters.attempts == 4

    try:
        asyncio.run(scenario())
    finally:
        receiver.close()
    assert receiver.bodies == []


def test_unreachable_webhook_is_retried_then_counted() -> None:
    async def scenario() -> None:
        clock = _WatchedClock()
        notifier = WebhookNotifier(
            WebhookConfig(urls=("http://127.0.0.1:9/none",), max_attempts=2, timeout_s=1.0), clock
        )
        task = asyncio.create_task(notifier.deliver(_alert()))
        await _drive(clock, task)
        assert notifier.counters.failed == 1
        assert notifier.counters.attempts == 2
        assert notifier.counters.last_error

    asyncio.run(scenario())


def test_bounded_queue_drops_and_counts() -> None:
    async def scenario() -> None:
        notifier = WebhookNotifier(
            WebhookConfig(urls=("http://127.0.0.1:9/",), max_queue=2), SimulatedClock()
        )
        assert [notifier.enqueue(_alert()) for _ in range(3)] == [True, True, False]
        assert notifier.counters.dropped == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "bad",
    [
        {"urls": ("ftp://example.org/x",)},
        {"urls": ("not a url",)},
        {"max_attempts": 0},
        {"backoff_initial_s": 10.0, "backoff_max_s": 1.0},
        {"timeout_s": 0},
        {"max_queue": 0},
    ],
)
def test_bad_webhook_config_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InputError):
        WebhookConfig(**bad)  # type: ignore[arg-type]
