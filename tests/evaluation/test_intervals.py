"""``Cumulative``: amounts spread over intervals, summed over windows in O(log n), against a
direct sum over every interval's overlap."""

from __future__ import annotations

import math
import random

from pausewatch.evaluation.intervals import Cumulative, clip, intersect

S = 1_000_000_000


def direct(parts: list[tuple[tuple[int, int], float]], window: tuple[int, int]) -> float:
    total = []
    for (a, b), amount in parts:
        overlap = clip((a, b), window)
        if overlap is not None:
            total.append(amount * (overlap[1] - overlap[0]) / (b - a))
    return math.fsum(total)


def test_windows_agree_with_the_direct_sum_overlaps_included() -> None:
    rng = random.Random(7)
    origin = 1_767_225_600 * S
    parts = []
    for _ in range(300):
        a = origin + rng.randrange(0, 3600) * S + rng.randrange(S)
        parts.append(((a, a + rng.randrange(1, 120) * S), rng.uniform(0, 5e4)))
    c = Cumulative(parts, origin)
    for _ in range(200):
        a = origin + rng.randrange(-60, 3700) * S
        window = (a, a + rng.randrange(1, 900) * S)
        assert math.isclose(c.between(*window), direct(parts, window), rel_tol=1e-9, abs_tol=1e-6)
    everything = (origin - 3600 * S, origin + 7200 * S)
    assert math.isclose(c.over([everything]), math.fsum(x for _, x in parts), rel_tol=1e-12)
    assert c.between(origin - 10 * S, origin - S) == 0.0


def test_empty_and_zero_length_parts() -> None:
    c = Cumulative([((5 * S, 5 * S), 10.0)], 0)
    assert c.between(0, 10 * S) == 0.0
    assert Cumulative([], 0).over([(0, S)]) == 0.0


def test_intersect_is_what_both_cover() -> None:
    a = [(0, 10), (20, 30), (40, 50)]
    b = [(5, 25), (28, 45), (60, 70)]
    assert intersect(a, b) == [(5, 10), (20, 25), (28, 30), (40, 45)]
    assert intersect(a, []) == []
    assert intersect([(0, 10)], [(10, 20)]) == []
