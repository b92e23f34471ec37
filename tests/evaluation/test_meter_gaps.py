"""A meter's unread time proves nothing: the reading that decides COMPLIANT counts each meter's
unread time (at most ``max_gap_s``) at the highest power it read in the bucket; the reading that
decides VIOLATION stays what the meters read. Counted as nothing, an intake meter that skipped
its last three one-minute reports of every 30-minute bucket hid 2 kW of training behind it:
COMPLIANT (a red team, 2026-12-05)."""

from __future__ import annotations

import dataclasses

import pytest

from pausewatch.evaluation import BucketRef, evaluate_bucket
from pausewatch.inventory import Inventory
from pausewatch.v1 import types_pb2
from sim.factories import INFERENCE, NS, T0, Fleet, commitment


def _verdict(skip: int, hidden_w: float) -> types_pb2.Verdict:
    """Four nodes serving inference for 30 minutes, true overhead 1.2 in a declared 1.1-1.25
    band; ``hidden_w`` more behind the intake all the time; the intake skips its last ``skip``
    reports."""
    fleet = Fleet({"fac-a": 4})
    wire = fleet.inventory_wire("fac-a")
    wire.overhead.min_ratio, wire.overhead.max_ratio = 1.1, 1.25
    nodes = fleet.node_ids("fac-a", 4)
    for k in range(30):
        t = T0 + k * 60 * NS
        for node in nodes:
            fleet.usage(node, "fac-a", t, INFERENCE)
        if k < 30 - skip:
            fleet.meter("fac-a", t, 4 * fleet.node_power(INFERENCE) * 1.2 + hidden_w, pue=1.0)
    inputs = dataclasses.replace(
        fleet.inputs(commitment(["fac-a"], bucket_s=1800)), inventories={"fac-a": Inventory.from_wire(wire)}
    )
    return evaluate_bucket(inputs, BucketRef("fac-a", T0, T0 + 1800 * NS))


@pytest.mark.parametrize("skip", [1, 2, 3])
def test_a_meter_that_skips_its_last_minutes_does_not_prove_them_empty(skip: int) -> None:
    assert _verdict(0, 2000.0).status == types_pb2.VERDICT_STATUS_VIOLATION  # the control
    v = _verdict(skip, 2000.0)
    assert v.status != types_pb2.VERDICT_STATUS_COMPLIANT
    assert any(f.id == "energy.unexplained" for f in v.findings)


@pytest.mark.parametrize("skip", [0, 3])
def test_an_honest_meter_that_skips_minutes_is_still_compliant(skip: int) -> None:
    # steady power: its unread minutes at its highest power are what it drew then, in the band
    assert _verdict(skip, 0.0).status == types_pb2.VERDICT_STATUS_COMPLIANT
