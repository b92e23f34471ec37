"""A clock off by less than the verifier tolerates is no evidence of a VIOLATION.

Energy goes into buckets by each report's own times. A meter whose clock is 100 s slow puts the
first 100 s of a fleet-wide load that starts on a bucket's edge into the bucket before, where no
report explains it: with every report true, that bucket was a VIOLATION (an honest-fleet hunt,
2026-12-06). A VIOLATION's excess must now also stand in the bucket's interior, ``EDGE_SKEW_S``
from each edge (``pausewatch.evaluation.folds.balance``); the excess at the edge still blocks
COMPLIANT.
"""

from __future__ import annotations

import dataclasses

import pytest

from pausewatch.evaluation import BucketRef, evaluate_bucket
from pausewatch.evaluation.folds.balance import EDGE_SKEW_S
from pausewatch.inventory import Inventory
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, INFERENCE, NS, PUE, T0, Fleet, commitment

BUCKET_S = 600


def _banded(fleet: Fleet) -> Inventory:
    """Facility fac-a's inventory with the band 1.1-1.25 (around the fleet's true 1.2)."""
    wire = fleet.inventory_wire("fac-a")
    wire.overhead.min_ratio, wire.overhead.max_ratio = 1.1, 1.25
    return Inventory.from_wire(wire)


def _first_three(fleet: Fleet, inventory: Inventory) -> list[str]:
    """The status of fac-a's first three buckets."""
    inputs = dataclasses.replace(fleet.inputs(commitment(["fac-a"], bucket_s=BUCKET_S)), inventories={"fac-a": inventory})
    return [
        types_pb2.VerdictStatus.Name(
            evaluate_bucket(inputs, BucketRef("fac-a", T0 + b * BUCKET_S * NS, T0 + (b + 1) * BUCKET_S * NS)).status
        ).removeprefix("VERDICT_STATUS_")
        for b in range(3)
    ]


def _statuses(skew_s: float, *, hidden_w: float = 0.0, hidden_from_s: float = 0.0, hidden_to_s: float = 1e9) -> list[str]:
    """Four 8-GPU nodes idle for 20 minutes, then serving from the second bucket's end (an edge)
    for 10 minutes; the intake meter's clock ``skew_s`` slow (each reading stamped that much
    early); ``hidden_w`` more behind the meter between ``hidden_from_s`` and ``hidden_to_s``
    (true time). The status of the first three 10-minute buckets."""
    fleet = Fleet({"fac-a": 4})
    inventory = _banded(fleet)

    def true_w(t_s: float) -> float:
        nodes = 4 * fleet.node_power(INFERENCE if t_s >= 2 * BUCKET_S else IDLE) * PUE
        return nodes + (hidden_w if hidden_from_s <= t_s < hidden_to_s else 0.0)

    for k in range(31):
        t = T0 + k * 60 * NS
        if k < 30:
            for i in range(4):
                fleet.usage(f"fac-a-n{i:02d}", "fac-a", t, INFERENCE if k >= 20 else IDLE)
        # the meter's reading of true minute k, stamped skew_s early; one-second steps of the
        # true draw averaged over its minute
        mean_w = sum(true_w(k * 60 + j) for j in range(60)) / 60
        fleet.meter("fac-a", t - int(skew_s * NS), mean_w / PUE)
    return _first_three(fleet, inventory)


@pytest.mark.parametrize("skew_s", [60.0, 100.0])
def test_a_load_starting_on_a_bucket_edge_with_a_slow_meter_clock_is_not_a_violation(skew_s: float) -> None:
    assert _statuses(0.0) == ["COMPLIANT", "COMPLIANT", "COMPLIANT"]
    # the bucket before the edge holds the load's first skew_s seconds on the meter only
    assert _statuses(skew_s)[1] == "INCONCLUSIVE"


def test_a_hidden_load_through_the_bucket_is_still_a_violation_with_the_skew() -> None:
    # a hidden 8-GPU node training all along: the interior shows it as the whole bucket does
    hidden = 8 * 700.0
    assert _statuses(0.0, hidden_w=hidden) == ["VIOLATION"] * 3
    assert _statuses(100.0, hidden_w=hidden) == ["VIOLATION"] * 3


def test_a_hidden_load_only_at_the_edges_blocks_compliant_but_is_no_violation() -> None:
    # The price, just under the rule: a hidden load run only within EDGE_SKEW_S of the second
    # bucket's edges (4 minutes of its 10) is unexplained energy, INCONCLUSIVE, not VIOLATION;
    # run a minute longer into the interior it is a VIOLATION again.
    edge = EDGE_SKEW_S
    hidden = 4 * 8 * 700.0
    at_edges = _statuses(0.0, hidden_w=hidden, hidden_from_s=BUCKET_S, hidden_to_s=BUCKET_S + edge)
    assert at_edges[1] == "INCONCLUSIVE"
    into = _statuses(0.0, hidden_w=hidden, hidden_from_s=BUCKET_S, hidden_to_s=BUCKET_S + edge + 120)
    assert into[1] == "VIOLATION"


def _switch_statuses(skew_s: float, *, hidden_w: float = 0.0) -> list[str]:
    """Eight 8-GPU nodes: n00-n03 serve until true minute 15 (the second bucket's middle), then
    n04-n07 serve instead (a blue-green switch: the meter sees no change); the first half's
    clocks ``skew_s`` slow (each report stamped that much early), the second's as fast; ``hidden_w``
    more behind the meter all along. The status of the first three 10-minute buckets."""
    fleet = Fleet({"fac-a": 8})
    inventory = _banded(fleet)
    serving, idle = fleet.node_power(INFERENCE), fleet.node_power(IDLE)
    for k in range(31):
        t = T0 + k * 60 * NS
        if k < 30:
            for i in range(8):
                blue = i < 4
                busy = (k < 15) == blue
                at = t - int(skew_s * NS) if blue else t + int(skew_s * NS)
                fleet.usage(f"fac-a-n{i:02d}", "fac-a", at, INFERENCE if busy else IDLE)
        fleet.meter("fac-a", t, 4 * (serving + idle) + hidden_w / PUE)
    return _first_three(fleet, inventory)


@pytest.mark.parametrize("skew_s", [90.0, 110.0])
def test_load_moved_between_nodes_whose_clocks_err_opposite_ways_is_no_violation(skew_s: float) -> None:
    # rules/20 (an honest-fleet hunt of rules/19): at one alignment for every node, the switch's
    # 2 x skew_s of serving that the meter read is in no report at any shift, VIOLATION; each node
    # read at its own alignment within the skew explains it
    assert _switch_statuses(0.0)[1] == "COMPLIANT"
    assert _switch_statuses(skew_s)[1] != "VIOLATION"


def test_a_hidden_load_beside_the_switch_is_still_a_violation() -> None:
    # what each node's own alignment concedes is the switch's change near the interior's edges,
    # not a load hidden through the bucket: a hidden 8-GPU node training all along
    assert _switch_statuses(110.0, hidden_w=8 * 700.0)[1] == "VIOLATION"
