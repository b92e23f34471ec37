import asyncio

import pytest

from pausewatch.clock import NS_PER_S, SimulatedClock


def test_sleepers_wake_in_deadline_order_only_when_time_passes() -> None:
    async def scenario() -> list[str]:
        clock = SimulatedClock(start_ns=0)
        woke: list[str] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append(f"{name}@{clock.now_ns() // NS_PER_S}")

        tasks = [asyncio.create_task(sleeper("late", 5)), asyncio.create_task(sleeper("early", 2))]
        await asyncio.sleep(0)
        clock.advance(1)
        await asyncio.sleep(0)
        assert woke == []
        assert clock.next_deadline_ns() == 2 * NS_PER_S
        clock.advance(1)
        await asyncio.sleep(0)
        clock.advance(10)
        await asyncio.gather(*tasks)
        return woke

    assert asyncio.run(scenario()) == ["early@2", "late@12"]


def test_time_never_goes_backwards() -> None:
    with pytest.raises(ValueError, match="backwards"):
        SimulatedClock(start_ns=0).advance(-1)


def test_accelerated_clocks_with_one_anchor_agree_whenever_they_start() -> None:
    import time

    anchor = time.time_ns() - 10 * NS_PER_S  # the demo started ten real seconds ago
    first = SimulatedClock(start_ns=0, speedup=100.0, anchor_unix_ns=anchor)
    later = SimulatedClock(start_ns=0, speedup=100.0, anchor_unix_ns=anchor)
    a, b = first.now_ns(), later.now_ns()
    # Both count from the same real instant: about 1000 simulated seconds, whatever the order.
    assert abs(a - b) < 100 * NS_PER_S
    assert a >= 1000 * NS_PER_S
