"""One injected clock everywhere. Production uses ``SystemClock``; tests and the demo use
``SimulatedClock``, whose time moves only when told (``advance``) or, in accelerated mode,
at a fixed multiple of real time. Nothing in pausewatch reads the wall clock directly.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

__all__ = ["NS_PER_S", "Clock", "SimulatedClock", "SystemClock"]

NS_PER_S = 1_000_000_000


class Clock(Protocol):
    def now_ns(self) -> int:
        """Unix time in nanoseconds."""
        ...

    def monotonic_ns(self) -> int:
        """A clock that never goes backwards, for measuring intervals."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class SimulatedClock:
    """A clock that moves only when ``advance`` is called (or, with ``speedup``, at a multiple
    of real time for demos). Async sleepers wake in deadline order as time passes them.
    """

    def __init__(
        self,
        start_ns: int = 1_767_225_600 * NS_PER_S,
        speedup: float | None = None,
        anchor_unix_ns: int | None = None,
    ):
        """``start_ns`` is simulated time at the anchor. Accelerated clocks anchor at the real
        unix time ``anchor_unix_ns`` when given — so that every process of a demo, and a
        process restarted mid-demo, agrees on simulated time — else at their own start.
        """
        self._now = start_ns
        self._speedup = speedup
        self._anchor_unix_ns = anchor_unix_ns
        self._real_anchor = time.monotonic_ns()
        self._sim_anchor = start_ns
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now_ns(self) -> int:
        if self._speedup is not None:
            if self._anchor_unix_ns is not None:
                elapsed = time.time_ns() - self._anchor_unix_ns
            else:
                elapsed = time.monotonic_ns() - self._real_anchor
            return self._sim_anchor + int(elapsed * self._speedup)
        return self._now

    def monotonic_ns(self) -> int:
        return self.now_ns()

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        if self._speedup is not None:
            raise RuntimeError("an accelerated clock advances by itself")
        self._now += int(seconds * NS_PER_S)
        self._wake()

    def _wake(self) -> None:
        now = self.now_ns()
        while self._sleepers and self._sleepers[0][0] <= now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def sleep(self, seconds: float) -> None:
        if self._speedup is not None:
            await asyncio.sleep(max(0.0, seconds) / self._speedup)
            return
        deadline = self._now + int(max(0.0, seconds) * NS_PER_S)
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._order), fut))
        await fut

    def next_deadline_ns(self) -> int | None:
        """The earliest pending sleeper's deadline, for drivers that jump to it."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None
