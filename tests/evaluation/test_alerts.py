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
    """Answers with the queued statuses (then 200) and records every body it got."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, object]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _alert(fid: str = "energy.unexplained", severity: int = types_pb2.SEVERITY_CRITICAL) -> types_pb2.Alert:
    a = types_pb2.Alert(
        commitment_id="pause",
        facility_id="fac-b",
        status=types_pb2.VERDICT_STATUS_VIOLATION,
        raised_unix_ns=1,
        log_index=42,
    )
    a.finding.id, a.finding.severity = fid, severity
    return a


async def _drive(clock: SimulatedClock, task: asyncio.Task[None], done: callable) -> None:  # type: ignore[valid-type]
    """Advance simulated time to each pending backoff until ``done()``; no wall-clock waits for results."""
    for _ in range(10_000):
        if done():
            return
        deadline = clock.next_deadline_ns()
        if deadline is not None:
            clock.advance((deadline - clock.now_ns()) / 1e9)
        await asyncio.sleep(0.001)  # let the HTTP thread answer
    raise AssertionError("delivery did not finish")


def test_webhook_retries_with_backoff_then_delivers() -> None:
    receiver = _Receiver([503, 503])

    async def scenario() -> None:
        clock = SimulatedClock()
        notifier = WebhookNotifier(WebhookConfig(urls=(receiver.url,), backoff_initial_s=2.0), clock)
        bus = AlertBus()
        forward = asyncio.create_task(notifier.forward(bus))
        await asyncio.sleep(0)
        bus.publish(_alert())
        bus.publish(_alert("workload.inference", types_pb2.SEVERITY_INFO))  # below min_severity
        start = clock.now_ns()
        runner = asyncio.create_task(notifier.run())
        await _drive(clock, runner, lambda: notifier.counters.delivered == 1)
        assert clock.now_ns() - start == 6 * 10**9  # backoff 2 s then 4 s
        assert notifier.counters.attempts == 3
        assert notifier.counters.failed == 0
        body = receiver.bodies[0]
        assert body["finding"]["id"] == "energy.unexplained"
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
        clock = SimulatedClock()
        notifier = WebhookNotifier(WebhookConfig(urls=(receiver.url,), max_attempts=3), clock)
        await notifier.deliver(_alert())  # 400: final at once
        assert notifier.counters.failed == 1
        assert notifier.counters.attempts == 1
        task = asyncio.create_task(notifier.deliver(_alert()))
        await _drive(clock, task, task.done)
        assert notifier.counters.failed == 2
        assert notifier.counters.attempts == 4

    try:
        asyncio.run(scenario())
    finally:
        receiver.close()
    assert receiver.bodies == []


def test_unreachable_webhook_is_retried_then_counted() -> None:
    async def scenario() -> None:
        clock = SimulatedClock()
        notifier = WebhookNotifier(
            WebhookConfig(urls=("http://127.0.0.1:9/none",), max_attempts=2, timeout_s=1.0), clock
        )
        task = asyncio.create_task(notifier.deliver(_alert()))
        await _drive(clock, task, task.done)
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
