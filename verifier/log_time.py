"""The verifier's log time: its clock, never decreasing (issue 12, row 14).

Every time the verifier writes into what it signs — challenge issue and expiry times, receipt
and checkpoint times, the reference time of evaluations — comes from one clock. A system clock
stepped back (NTP, an operator, a VM restore) would make those times go backwards, and the
verifier's own export would then fail the offline audit. :class:`LogTimeClock` wraps the
injected clock: it starts no earlier than the latest time already logged (the newest challenge
and checkpoint in storage, so a restart is covered too) and never returns less than it
returned before. While the clock is behind, log time is *held*: the step is logged once (a
warning with its size), counted (``steps_back``, exported as a metric) and the hold ends,
logged, when the clock catches up.

What it cannot do: tell a clock stepped *forward* from real time passing. Nothing signed can
be taken back, so the operator's defence against a forward step is a sound time source; the
scheduler never evaluates a bucket that has not ended by log time, whatever the clock says.
"""

from __future__ import annotations

import logging
import threading

from pausewatch.clock import Clock

__all__ = ["LogTimeClock"]

_log = logging.getLogger("pausewatch.verifier.log_time")


class LogTimeClock:
    """``inner``'s time, held at the highest value seen (and at least ``floor_ns``)."""

    def __init__(self, inner: Clock, floor_ns: int = 0) -> None:
        self._inner = inner
        self._last = floor_ns
        self._held_since: int | None = None
        self._lock = threading.Lock()  # read from the event loop and the writer thread
        self.steps_back = 0

    @property
    def held(self) -> bool:
        """Whether log time is held now (the clock is behind it)."""
        return self._held_since is not None

    def raise_floor(self, floor_ns: int) -> None:
        """Never go below ``floor_ns`` (the latest time found in storage at start)."""
        with self._lock:
            self._last = max(self._last, floor_ns)

    def now_ns(self) -> int:
        t = self._inner.now_ns()
        with self._lock:
            if t >= self._last:
                if self._held_since is not None:
                    _log.warning(
                        "clock caught up with log time: log time moves again",
                        extra={"held_ns": t - self._held_since},
                    )
                    self._held_since = None
                self._last = t
                return t
            if self._held_since is None:
                self._held_since = t
                self.steps_back += 1
                _log.warning(
                    "clock is behind log time (stepped back?): log time held until it catches up",
                    extra={"behind_s": (self._last - t) / 1e9, "log_time_ns": self._last},
                )
            return self._last

    def monotonic_ns(self) -> int:
        return self._inner.monotonic_ns()

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
