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
