"""A node's report slices read in time count an instant that several reports claim once, at the
lowest rate that claims it (rules/21: a clock stepped back inside the skew claims seconds twice)."""

from __future__ import annotations

import math

from pausewatch.evaluation.folds.balance import _claimed_once

S = 1_000_000_000


def test_disjoint_slices_are_kept_as_they_are() -> None:
    parts = [((60 * S, 120 * S), 600.0), ((0, 60 * S), 300.0)]
    assert _claimed_once(parts) == sorted(parts)


def test_an_instant_claimed_twice_counts_once_at_the_lower_rate() -> None:
    # 0-60 s at 5 W, then a clock stepped back 30 s: 30-90 s at 10 W
    out = _claimed_once([((0, 60 * S), 300.0), ((30 * S, 90 * S), 600.0)])
    assert [sl for sl, _ in out] == [(0, 30 * S), (30 * S, 60 * S), (60 * S, 90 * S)]
    assert [j for _, j in out] == [150.0, 150.0, 300.0]  # the overlap at 5 W, not 15 W
    assert math.isclose(sum(j for _, j in out), 600.0)  # 300 J of the 900 reported is read once


def test_a_slice_inside_another_and_empty_slices() -> None:
    out = _claimed_once([((0, 100 * S), 1000.0), ((20 * S, 40 * S), 100.0), ((50 * S, 50 * S), 9.0)])
    assert [sl for sl, _ in out] == [(0, 20 * S), (20 * S, 40 * S), (40 * S, 100 * S)]
    assert [j for _, j in out] == [200.0, 100.0, 600.0]
