"""The energy summed over a commitment's facilities: small excesses that stay under each
facility's threshold add up to a VIOLATION, and that sum passes the same tests as each
facility's balance — the interior one included (rules/8: a red team, 2026-12-06, found the sum
skipping it, and an honest fleet starting a job on a bucket's edge beside a slow meter clock
was a VIOLATION once the commitment covered a second facility)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from pausewatch.evaluation import BucketRef, Evaluator
from pausewatch.evaluation.folds.balance import EDGE_SKEW_S
from pausewatch.inventory import Inventory
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, NS, PUE, T0, Fleet, commitment

VIOLATION = types_pb2.VERDICT_STATUS_VIOLATION
INCONCLUSIVE = types_pb2.VERDICT_STATUS_INCONCLUSIVE
BUCKET_S = 600
NODES = 2
SITES = ("fac-a", "fac-b")
# hidden at each site's intake: with the band's slack over the idle nodes, ~0.6 of an H100 at
# board power beyond what the band allows, over a bucket
HIDDEN_W = 800.0


def idle_sites(
    sites: tuple[str, ...], nodes: int, periods: int, meter_w: Callable[[Fleet, str, int], float]
) -> Fleet:
    """Sites of ``nodes`` idle nodes reporting for ``periods`` minutes, each intake reading
    ``meter_w(fleet, site, minute)``."""
    fleet = Fleet(dict.fromkeys(sites, nodes))
    for fid in sites:
        for k in range(periods):
            t = T0 + k * fleet.period_ns
            for node in fleet.node_ids(fid, nodes):
                fleet.usage(node, fid, t, IDLE)
            fleet.meter(fid, t, meter_w(fleet, fid, k))
    return fleet


def run(
    hidden_w: float,
    minutes: range | tuple[int, ...],
    *,
    sites: tuple[str, ...] = SITES,
    from_period: int = 30,
    bucket: int = 6,
) -> list[types_pb2.Verdict]:
    """Idle sites; from ``from_period`` on, the intakes of fac-a and fac-b also see
    ``hidden_w`` of hardware no report covers, in the ``minutes`` of each 10-minute bucket
    listed (any further site stays honest). The verdicts of bucket ``bucket``: each site's,
    then the commitment's."""
    def meter_w(fleet: Fleet, fid: str, k: int) -> float:
        hidden = fid in SITES and k >= from_period and k % 10 in minutes
        return NODES * fleet.node_power(IDLE) + (hidden_w if hidden else 0.0)

    fleet = idle_sites(sites, NODES, 70, meter_w)
    ev = Evaluator(fleet.inputs(commitment(list(sites), bucket_s=BUCKET_S)))
    span = (T0 + bucket * BUCKET_S * NS, T0 + (bucket + 1) * BUCKET_S * NS)
    return [ev.verdict(BucketRef(fid, *span)) for fid in (*sites, "")]


def summed(v: types_pb2.Verdict) -> list[int]:
    return [f.severity for f in v.findings if f.id == "energy.unexplained" and "summed" in f.message]


def test_excesses_under_each_sites_threshold_add_up_to_a_violation() -> None:
    """~0.6 of an accelerator beyond the band at each site, all the time: neither site alone is
    evidence (one accelerator at board power is the floor), the sum is."""
    *sites, total = run(HIDDEN_W, range(10))
    assert [v.status for v in sites] == [INCONCLUSIVE, INCONCLUSIVE]
    assert total.status == VIOLATION, total.reason
    assert summed(total) == [types_pb2.SEVERITY_CRITICAL]


@pytest.mark.parametrize(
    ("minutes", "status"),
    [
        (range(2), INCONCLUSIVE),  # the bucket's first 120 s only: what a clock skew moves
        ((0, 1, 8, 9), INCONCLUSIVE),  # both edges
        (range(6), VIOLATION),  # four minutes into the interior: a load, not a skew
    ],
)
def test_the_sums_excess_must_stand_in_the_interior_too(minutes: tuple[int, ...], status: int) -> None:
    """The same excess, as energy over the bucket, all of it within ``EDGE_SKEW_S`` of the
    bucket's edges: no evidence summed, as none in one site; reaching into the interior, it is."""
    assert EDGE_SKEW_S == 120.0
    per_minute_w = HIDDEN_W * 10 / len(minutes)  # the same energy over the bucket
    *_, total = run(per_minute_w, minutes)
    assert total.status == status, total.reason
    assert summed(total) == [
        types_pb2.SEVERITY_CRITICAL if status == VIOLATION else types_pb2.SEVERITY_WARNING
    ]


@pytest.mark.parametrize("bucket", [0, 1, 2])
def test_an_honest_sites_slack_does_not_cancel_the_others_excess(bucket: int) -> None:
    """A reviewer's (2026-12-06): an idle, honest third site's interior balance is its band's
    slack, strongly negative; added as it is, it cancelled the two other sites' excess, and the
    sum that was a VIOLATION with two sites was INCONCLUSIVE with three. Each site adds its
    excess, never its slack, in the interior as over the whole bucket."""
    *_, two = run(HIDDEN_W, range(10), from_period=0, bucket=bucket)
    *_, three = run(HIDDEN_W, range(10), sites=(*SITES, "fac-c"), from_period=0, bucket=bucket)
    assert two.status == VIOLATION, two.reason
    assert three.status == VIOLATION, three.reason


@pytest.mark.parametrize("accuracy", [0.02, 0.01], ids=["within-class", "hidden-beyond-class"])
def test_sites_each_two_percent_over_their_band_are_never_compliant_summed_nor_a_violation(
    accuracy: float,
) -> None:
    """Twenty sites, each intake reading 2 % over what its band allows the reports, each under its
    own threshold (COMPLIANT). With meters of class 2 % that is each meter's whole class: an
    honest-fleet hunt's (2026-12-06) sites at their band's top, a VIOLATION summed while the
    meters' accuracy was added in quadrature — but meters of one make err alike, so the
    VIOLATION test adds it linearly. With meters of class 1 % it is hidden load beyond every
    meter's class, spread thin. Either way the sum blocks COMPLIANT (against independent
    meters: read as alike there too, the hidden load was COMPLIANT, a reviewer's) and is no
    VIOLATION."""
    sites = tuple(f"fac-{i:02d}" for i in range(20))
    fleet = idle_sites(sites, 4, 20, lambda fleet, _fid, _k: 4 * fleet.node_power(IDLE) / PUE * 1.4 * 1.02)
    inputs = fleet.inputs(commitment(list(sites), bucket_s=BUCKET_S))
    inventories = {}
    for fid in sites:
        wire = fleet.inventory_wire(fid)
        for m in wire.meters:
            m.accuracy = accuracy
        inventories[fid] = Inventory.from_wire(wire)
    ev = Evaluator(dataclasses.replace(inputs, inventories=inventories))
    span = (T0 + BUCKET_S * NS, T0 + 2 * BUCKET_S * NS)
    *each, total = [ev.verdict(BucketRef(fid, *span)) for fid in (*sites, "")]
    if accuracy == 0.02:
        assert all(not [f for f in v.findings if f.id.startswith("energy.")] for v in each)
    assert all(v.status != VIOLATION for v in each)
    assert total.status == INCONCLUSIVE, total.reason
    assert summed(total) == [types_pb2.SEVERITY_WARNING]
