"""Half-open time intervals [start, end) in unix ns: union, complement and clipping."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["clip", "covered_ns", "merge", "uncovered"]

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


def covered_ns(spans: Iterable[Interval], within: Interval) -> int:
    """Nanoseconds of ``within`` that the spans cover."""
    total = within[1] - within[0]
    return total - sum(e - s for s, e in uncovered(spans, within))
