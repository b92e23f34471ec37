"""Row 14 of issue 12: clock steps, on a real verifier over gRPC (the verifier's part).

Before: with the verifier's clock stepped back, challenge times went backwards unflagged and
its own export then failed the audit. Now log time never decreases: while the clock is
behind, log time is held (challenges, checkpoints and receipts keep the last time), the step
is logged and counted in the metrics, and a restart with the clock still behind starts from
the newest time in storage.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from pausewatch.clock import NS_PER_S, SimulatedClock
from pausewatch.envelope import parse_envelope
from pausewatch.v1 import types_pb2, verifier_pb2
from tests.verifier.harness import World, running


class SteppableClock(SimulatedClock):
    """A simulated clock an operator (or NTP) can step back."""

    def __init__(self, start_ns: int) -> None:
        super().__init__(start_ns)
        self.offset_ns = 0

    def now_ns(self) -> int:
        return super().now_ns() + self.offset_ns


def _issued(envelope: bytes) -> int:
    ch = types_pb2.Challenge()
    ch.ParseFromString(parse_envelope(envelope).payload)
    return ch.issued_unix_ns


def test_clock_step_back_holds_log_time(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    world = World(tmp_path)
    clock = SteppableClock(world.clock.now_ns())
    world.clock = clock

    async def scenario() -> None:
        async with running(world, clock=clock) as r:
            first = (await r.stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=5)).envelope
            clock.advance(30)
            before_step = (await r.server.challenges.issue()).issued_unix_ns
            with caplog.at_level(logging.WARNING, logger="pausewatch.verifier.log_time"):
                clock.offset_ns = -600 * NS_PER_S  # stepped back ten minutes
                held = await r.server.challenges.issue()
            assert held.issued_unix_ns == before_step  # held, not gone backwards
            assert any("behind log time" in rec.getMessage() for rec in caplog.records)
            metrics = r.server.metrics.registry
            assert metrics.get_sample_value("pausewatch_verifier_clock_steps_back") == 1
            assert metrics.get_sample_value("pausewatch_verifier_log_time_held") == 1
            (res,) = await r.submit(world.chain(0, await r.nonce()).next())
            assert res.disposition == verifier_pb2.DISPOSITION_ACCEPTED, res.message
            assert _issued(first) <= held.issued_unix_ns

        # a restart with the clock still behind: log time starts at the newest time logged
        async with running(world, enrol=False, clock=clock) as r:
            again = await r.server.challenges.issue()
            assert again.issued_unix_ns >= before_step
            stored = await r.server.sequencer.read(lambda s: s.challenges())
            times = [c.issued_ns for c in stored]
            assert times == sorted(times)  # in log order, never decreasing
            # the clock catches up: log time moves again
            clock.advance(601)
            moved = await r.server.challenges.issue()
            assert moved.issued_unix_ns > before_step
            assert r.server.metrics.registry.get_sample_value("pausewatch_verifier_log_time_held") == 0

    asyncio.run(scenario())
