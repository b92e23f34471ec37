"""Half-open time intervals [start, end) in unix ns: union, complement and clipping."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable

__all__ = ["Cumulative", "clip", "covered_ns", "intersect", "merge", "uncovered"]

Interval = tuple[int, int]


def clip(span: Interval, within: Interval) -> Interval | None:
    """``span`` cut to ``within``, or None when they do not overlap."""
    start, end = max(span[0], within[0]), min(span[1], within[1])
    return (start, end) if start < end else None


def merge(spans: Iterable[Interval]) -> list[Interval]:
    """The union of ``spans`` as sorted, disjoint, non-touching intervals."""
    out: list[Interval] = []
    for start, end in sorted(spans):
        if start >= end:
            continue
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def uncovered(spans: Iterable[Interval], within: Interval) -> list[Interval]:
    """The stretches of ``within`` that no span covers, in time order."""
    out: list[Interval] = []
    cursor = within[0]
    for start, end in merge(s for s in (clip(x, within) for x in spans) if s is not None):
        if start > cursor:
            out.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < within[1]:
        out.append((cursor, within[1]))
    return out


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The stretches both ``a`` and ``b`` cover, sorted and disjoint."""
    left, right = merge(a), merge(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        both = clip(left[i], right[j])
        if both is not None:
            out.append(both)
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def covered_ns(spans: Iterable[Interval], within: Interval) -> int:
    """Nanoseconds of ``within`` that the spans cover."""
    total = within[1] - within[0]
    return total - sum(e - s for s, e in uncovered(spans, within))


class Cumulative:
    """Amounts spread evenly over their intervals (energy over report periods), summed over any
    window in O(log n): ``between(a, b)``. Intervals may overlap; each counts in full.

    E(t) = Σ rateᵢ · (min(t, endᵢ) − startᵢ) over the intervals started before t, from prefix
    sums over the starts and over the ends; times are taken from ``origin`` to keep the
    products small."""

    def __init__(self, parts: Iterable[tuple[Interval, float]], origin: int) -> None:
        rated = sorted(
            ((a - origin) / 1e9, (b - origin) / 1e9, amount / ((b - a) / 1e9))
            for (a, b), amount in parts
            if b > a
        )
        self._starts = [a for a, _, _ in rated]
        self._rate_at_start = list(itertools.accumulate((r for _, _, r in rated), initial=0.0))
        self._rate_time_at_start = list(itertools.accumulate((r * a for a, _, r in rated), initial=0.0))
        ends = sorted((b, r) for _, b, r in rated)
        self._ends = [b for b, _ in ends]
        self._rate_at_end = list(itertools.accumulate((r for _, r in ends), initial=0.0))
        self._rate_time_at_end = list(itertools.accumulate((r * b for b, r in ends), initial=0.0))
        self.origin = origin

    def _at(self, t_ns: int) -> float:
        t = (t_ns - self.origin) / 1e9
        i = bisect.bisect_left(self._starts, t)
        j = bisect.bisect_left(self._ends, t)
        started = t * self._rate_at_start[i] - self._rate_time_at_start[i]
        ended = t * self._rate_at_end[j] - self._rate_time_at_end[j]
        return started - ended

    def between(self, start_ns: int, end_ns: int) -> float:
        """The amount that falls in [start_ns, end_ns)."""
        return self._at(end_ns) - self._at(start_ns)

    def over(self, windows: Iterable[Interval]) -> float:
        """The amount that falls in the (disjoint) ``windows``."""
        return math.fsum(self.between(a, b) for a, b in windows)
