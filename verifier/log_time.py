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

A clock stepped *forward* is told from time passing by the inner clock's monotonic time: when
the wall clock moved more than ``forward_step_s`` (60 s) further than the monotonic clock
between two readings, that is a step. Log time follows it (nothing signed can be taken back,
and the step may be a correction), but the step is logged once (a warning with its size),
counted (``steps_forward``: a metric, and the server publishes a ``clock.step_forward``
alert). And it is not trusted at once: :meth:`settled_ns` — the time the
evaluation scheduler plans by (verdicts only for buckets ended by it) — runs from the time
before the step at twice the monotonic rate until it meets log time again, so a step of ten
minutes delays verdicts by at most ten minutes instead of signing them for buckets whose
reports could not have arrived yet. Every verdict's bucket ends by log time, whatever the clock.
(A host suspended and resumed looks like a forward step too, and is flagged as one.)
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from pausewatch.clock import NS_PER_S, Clock

__all__ = ["FORWARD_STEP_S", "LogTimeClock"]

_log = logging.getLogger("pausewatch.verifier.log_time")
FORWARD_STEP_S: Final = 60.0  # wall time ahead of monotonic time by more than this: a step


class LogTimeClock:
    """``inner``'s time, held at the highest value seen (and at least ``floor_ns``)."""

    def __init__(
        self,
        inner: Clock,
        floor_ns: int = 0,
        *,
        forward_step_s: float = FORWARD_STEP_S,
    ) -> None:
        self._inner = inner
        self._last = floor_ns
        self._held_since: int | None = None
        self._lock = threading.Lock()  # read from the event loop and the writer thread
        self.steps_back = 0
        self.steps_forward = 0
        self.last_forward_step_ns = 0
        self._step_ns = round(forward_step_s * NS_PER_S)
        self._reading: tuple[int, int] | None = None  # the inner clock's last (wall, monotonic)
        self._unsettled: tuple[int, int] | None = None  # (step size, monotonic at the step)

    @property
    def held(self) -> bool:
        """Whether log time is held now (the clock is behind it)."""
        return self._held_since is not None

    def raise_floor(self, floor_ns: int) -> None:
        """Never go below ``floor_ns`` (the latest time found in storage at start)."""
        with self._lock:
            self._last = max(self._last, floor_ns)

    def now_ns(self) -> int:
        t, mono = self._inner.now_ns(), self._inner.monotonic_ns()
        with self._lock:
            step = self._forward_step(t, mono)
            if t >= self._last:
                if self._held_since is not None:
                    _log.warning(
                        "clock caught up with log time: log time moves again",
                        extra={"held_ns": t - self._held_since},
                    )
                    self._held_since = None
                self._last = t
                if step:
                    self._flag_forward(step, mono)
                return t
            if self._held_since is None:
                self._held_since = t
                self.steps_back += 1
                _log.warning(
                    "clock is behind log time (stepped back?): log time held until it catches up",
                    extra={"behind_s": (self._last - t) / 1e9, "log_time_ns": self._last},
                )
            return self._last

    def settled_ns(self) -> int:
        """Log time, less what a recent forward step has not yet earned back: from the time
        before the step it runs at twice the monotonic rate until it meets log time."""
        now = self.now_ns()
        with self._lock:
            if self._unsettled is None:
                return now
            size, at = self._unsettled
            owed = size - (self._inner.monotonic_ns() - at)
            if owed <= 0:
                self._unsettled = None
                return now
            return now - owed

    def _forward_step(self, t: int, mono: int) -> int:
        """How far the wall clock jumped ahead of the monotonic one since the last reading
        (0: no step). Called under the lock."""
        previous, self._reading = self._reading, (t, mono)
        if previous is None:
            return 0
        ahead = (t - previous[0]) - (mono - previous[1])
        return ahead if ahead > self._step_ns else 0

    def _flag_forward(self, size: int, mono: int) -> None:
        self.steps_forward += 1
        self.last_forward_step_ns = size
        owed = 0 if self._unsettled is None else max(0, self._unsettled[0] - (mono - self._unsettled[1]))
        self._unsettled = (size + owed, mono)
        _log.warning(
            "clock stepped forward: log time follows, verdicts wait until it has passed",
            extra={"ahead_s": size / NS_PER_S, "log_time_ns": self._last},
        )

    def monotonic_ns(self) -> int:
        return self._inner.monotonic_ns()

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
