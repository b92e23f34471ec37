"""Row 14 of issue 12 (the rest): a forward clock step, on a real verifier over gRPC.

Before: with the verifier's clock stepped ten minutes forward, it signed verdicts for buckets
that had not begun in real time, and nothing said the clock had jumped. Now the step is told
from time passing by the monotonic clock: logged, counted (``pausewatch_verifier_clock_steps_forward``)
and alerted (``clock.step_forward``), and the scheduler plans by log time's *settled* value, so
those buckets get their verdicts only once the step has been earned back. Log time itself never
decreases, and no verdict is ever for a bucket that has not ended by log time."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pausewatch.clock import NS_PER_S, SimulatedClock
from pausewatch.v1 import types_pb2, verifier_pb2
from sim.factories import T0
from tests.verifier.harness import World, running
from tests.verifier.test_bounded_time import commitment
from verifier.scheduler import EvaluationScheduler, SchedulerConfig

BUCKET_S = 300


class SteppedClock(SimulatedClock):
    """Simulated time whose wall clock an operator (or NTP) steps; monotonic time is not."""

    def __init__(self, start_ns: int) -> None:
        super().__init__(start_ns)
        self.offset_ns = 0

    def now_ns(self) -> int:
        return self._now + self.offset_ns

    def monotonic_ns(self) -> int:
        return self._now


def _run(world: World, *, settled: bool) -> dict[str, object]:
    clock = SteppedClock(T0)
    world.clock = clock

    async def scenario() -> dict[str, object]:
        async with running(world, clock=clock) as r:
            await r.stub.SubmitCommitment(
                verifier_pb2.SubmitSignedRequest(envelope=commitment(world, T0, bucket_s=BUCKET_S)),
                timeout=10,
            )
            log_time = r.server.clock
            alerts = r.server.alert_bus.subscribe()
            scheduler = EvaluationScheduler(
                r.server.sequencer,
                r.server.verdict_signer,
                log_time,
                SchedulerConfig(grace_s=0),
                horizon=log_time.settled_ns if settled else None,  # type: ignore[attr-defined]
            )
            ends: list[tuple[int, int]] = []  # (bucket end, evaluated at) of every verdict

            async def tick() -> int:
                result = await scheduler.tick()
                ends.extend((v.bucket_end_unix_ns, v.evaluated_unix_ns) for v in result.stored)
                return len(result.stored)

            clock.advance(3 * BUCKET_S)
            counts = [await tick()]  # three buckets ended
            clock.offset_ns = 600 * NS_PER_S  # stepped ten minutes forward
            counts.append(await tick())
            step_alert = None
            if settled:
                step_alert = await asyncio.wait_for(alerts.__aiter__().__anext__(), 20)
            clock.advance(BUCKET_S)  # five real minutes: half the step earned back
            counts.append(await tick())
            clock.advance(BUCKET_S)  # the whole step earned back: log time again
            counts.append(await tick())
            return {
                "counts": counts,
                "ends": ends,
                "alert": step_alert,
                "steps": r.server.metrics.registry.get_sample_value(
                    "pausewatch_verifier_clock_steps_forward"
                ),
            }

    return asyncio.run(scenario())


def test_without_settling_a_forward_step_signs_verdicts_for_buckets_not_begun(tmp_path) -> None:
    out = _run(World(tmp_path), settled=False)
    # right after the step: two more verdicts, for buckets that end 5 and 10 minutes after the
    # real time — the second had not even begun (the row 14), though by log time both ended
    assert out["counts"] == [3, 2, 1, 1]
    assert out["steps"] == 1  # flagged all the same


def test_a_forward_step_is_flagged_and_verdicts_wait_until_it_is_earned_back(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pausewatch.verifier.log_time"):
        out = _run(World(tmp_path), settled=True)
    # nothing at the step; five real minutes later settled time has made up half the step (it
    # runs at twice the rate), so the buckets ending by then — real time too — get theirs
    assert out["counts"] == [3, 0, 2, 2]
    ends = out["ends"]
    assert isinstance(ends, list)
    assert all(end <= evaluated for end, evaluated in ends)  # every bucket ended by log time
    assert out["steps"] == 1
    assert any("stepped forward" in rec.getMessage() for rec in caplog.records)
    alert = out["alert"]
    assert isinstance(alert, types_pb2.Alert)
    assert alert.finding.id == "clock.step_forward"
    assert alert.finding.severity == types_pb2.SEVERITY_WARNING


def test_small_drift_is_not_a_step() -> None:
    from verifier.log_time import LogTimeClock

    clock = SteppedClock(T0)
    log_time = LogTimeClock(clock)
    log_time.now_ns()
    clock.offset_ns = 59 * NS_PER_S  # under the 60 s threshold: NTP-sized corrections
    clock.advance(10)
    assert log_time.now_ns() == T0 + 69 * NS_PER_S
    assert log_time.steps_forward == 0
    assert log_time.settled_ns() == log_time.now_ns()
