"""Each usage report is read against the inventory version logged last before it.

A declaration vouches for the reports logged after it, never for earlier ones: a card reported
for most of a bucket and declared at its end (or after the bucket, with a late report to have
the bucket judged again) stays undeclared in the reports before the declaration. Scenarios:
``gpu-replaced-declared-late``, ``gpu-replaced-declared-after-bucket``. A bucket's fixed load,
band, meters and declared hardware are those of the version logged before the log's clock
closed it (the first challenge issued at or after its end).
"""

from __future__ import annotations

import dataclasses

import pytest

from pausewatch.errors import FormatError
from pausewatch.evaluation import BucketRef, Evaluator, evaluate_bucket
from pausewatch.evaluation.inputs import EvaluationInput
from pausewatch.evaluation.meter_routes import meter_routes
from pausewatch.evaluation.verdict import (
    LogClock,
    bucket_inventory,
    departed_nodes,
    in_force,
)
from pausewatch.inventory import Inventory
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, INFERENCE, NS, T0, Fleet, commitment

B0 = BucketRef("fac-a", T0, T0 + 600 * NS)
SWAPPED = "GPU-fac-a-n00-new"


def _swapped_fleet() -> tuple[Fleet, Inventory, Inventory]:
    """One node whose first card is swapped for ``SWAPPED`` from the start; v1 declares the old
    card, v2 the new one."""
    fleet = Fleet({"fac-a": 1})
    v1 = fleet.inventory("fac-a")
    wire = fleet.inventory_wire("fac-a")
    wire.version = 2
    wire.nodes[0].accelerators[0].uuid = SWAPPED
    v2 = Inventory.from_wire(wire)

    def swap(r: types_pb2.UsageReport) -> None:
        r.accelerators[0].uuid = SWAPPED

    for k in range(10):
        fleet.usage("fac-a-n00", "fac-a", T0 + k * 60 * NS, IDLE, tweak=swap)
        fleet.meter("fac-a", T0 + k * 60 * NS, fleet.node_power(IDLE))
    return fleet, v1, v2


def _inputs(fleet: Fleet, versions: list[tuple[int, Inventory]]) -> EvaluationInput:
    base = fleet.inputs(commitment(["fac-a"]))
    return dataclasses.replace(
        base, inventories={"fac-a": versions[-1][1]}, inventory_versions={"fac-a": versions}
    )


def _unknown(v: types_pb2.Verdict) -> list[str]:
    return [f.subject for f in v.findings if f.id == "inventory.unknown_device"]


def test_a_card_declared_after_its_reports_is_undeclared_in_them() -> None:
    fleet, v1, v2 = _swapped_fleet()
    last = len(fleet.log)  # v2 logged after every report of the bucket
    v = evaluate_bucket(_inputs(fleet, [(0, v1), (last - 1, v2)]), B0)
    assert f"device:{SWAPPED}" in _unknown(v)
    assert v.status == types_pb2.VERDICT_STATUS_INCONCLUSIVE


def test_a_card_declared_before_its_reports_is_declared() -> None:
    fleet, v1, v2 = _swapped_fleet()
    # both versions logged before the first report (log index 0): v2 is in force throughout
    base = fleet.inputs(commitment(["fac-a"]))
    shifted = [dataclasses.replace(r, log_index=r.log_index + 2) for r in base.reports]
    inputs = dataclasses.replace(
        base,
        reports=tuple(shifted),
        evaluated_log_size=base.evaluated_log_size + 2,
        inventories={"fac-a": v2},
        inventory_versions={"fac-a": [(0, v1), (1, v2)]},
    )
    v = evaluate_bucket(inputs, B0)
    assert _unknown(v) == []


def test_without_versions_every_report_is_read_against_the_inventory() -> None:
    fleet, _v1, v2 = _swapped_fleet()
    base = fleet.inputs(commitment(["fac-a"]))
    v = evaluate_bucket(dataclasses.replace(base, inventories={"fac-a": v2}), B0)
    assert _unknown(v) == []


def test_versions_out_of_log_order_or_not_ending_in_the_inventory_are_refused() -> None:
    fleet, v1, v2 = _swapped_fleet()
    with pytest.raises(FormatError, match="log order"):
        _inputs(fleet, [(5, v1), (3, v2)])
    base = fleet.inputs(commitment(["fac-a"]))
    with pytest.raises(FormatError, match="not its inventory"):
        dataclasses.replace(base, inventories={"fac-a": v1}, inventory_versions={"fac-a": [(0, v1), (3, v2)]})


def test_a_bucket_is_read_against_the_version_logged_before_it_closed() -> None:
    # A new version does not reach back into buckets the log's clock had closed before it:
    # every bucket was refolded into the ratio baseline under the latest version, so a narrower
    # band (or a new fixed load) put the buckets calibration had learnt from out of the band and
    # calibration started again on a hidden load (a red team, 2026-12-05: COMPLIANT). Nor does
    # the lab's choice of when to send a report move it (rules/4 read the version logged before
    # the bucket's newest report: one late report brought a closed bucket under a new version).
    fleet = Fleet({"fac-a": 1})
    v1 = fleet.inventory("fac-a")
    v2 = dataclasses.replace(v1, overhead_min=1.2)
    for k in range(20):  # two 10-minute buckets
        fleet.usage("fac-a-n00", "fac-a", T0 + k * 60 * NS, IDLE)
        fleet.meter("fac-a", T0 + k * 60 * NS, fleet.node_power(IDLE))
    # the log's clock: a challenge at each period's end, logged just before that period's
    # reports (the fleet's log holds only reports, so each shares its index with the report
    # after it: a version at that index is logged after the challenge)
    clock = [
        (next(i for i, r in enumerate(fleet.log) if r.header.period_start_ns >= t), t)
        for t in (T0 + k * 60 * NS for k in range(1, 20))
    ]
    second = clock[9][0]  # where the first bucket closed: the challenge issued at its end
    band_of = {}
    for at in (second - 1, second, len(fleet.log) - 2):
        inputs = dataclasses.replace(_inputs(fleet, [(0, v1), (at, v2)]), log_times=clock)
        ev = Evaluator(inputs)
        band_of[at] = tuple(ev.facts("fac-a", s).energy[0].band for s in (T0, T0 + 600 * NS))
    # v2 logged before the first bucket closed, after the challenge at 9 minutes: its band
    # counts for the bucket's last minute (the second bucket: all of it)
    (lo, hi), second_band = band_of[second - 1]
    assert (lo, hi, second_band) == (pytest.approx(0.9 * 1.05 + 0.1 * 1.2), pytest.approx(1.4), (1.2, 1.4))
    assert band_of[second] == ((1.05, 1.4), (1.2, 1.4))  # after: the first bucket keeps v1
    # v2 logged before the last period's reports, after the second bucket's last challenge but
    # one (18 minutes): the second bucket, not closed yet (no challenge at its end in the
    # prefix), is under v2 for its last two minutes
    (first_band, ((lo, hi))) = band_of[len(fleet.log) - 2]
    assert first_band == (1.05, 1.4)
    assert (lo, hi) == (pytest.approx(0.8 * 1.05 + 0.2 * 1.2), pytest.approx(1.4))


def test_a_late_report_does_not_bring_a_closed_bucket_under_a_new_version() -> None:
    # Every report of the first bucket is logged, the bucket closes, v2 is logged, and then one
    # report signed for the first bucket arrives late: it is read against v2 (the version logged
    # before it), but the bucket's band, fixed load and meters stay v1's.
    fleet = Fleet({"fac-a": 1})
    v1 = fleet.inventory("fac-a")
    v2 = dataclasses.replace(v1, overhead_min=1.2, fixed_load_w=900.0)
    for k in range(10):
        fleet.usage("fac-a-n00", "fac-a", T0 + k * 60 * NS, IDLE)
        fleet.meter("fac-a", T0 + k * 60 * NS, fleet.node_power(IDLE))
    closed = len(fleet.log)  # the challenge issued at the bucket's end, then v2 after it
    fleet.meter("fac-a", T0 + 9 * 60 * NS + 30 * NS, fleet.node_power(IDLE))  # the late report
    clock = [(closed, T0 + 600 * NS)]
    inputs = dataclasses.replace(_inputs(fleet, [(0, v1), (closed, v2)]), log_times=clock)
    facts = Evaluator(inputs).facts("fac-a", T0)
    assert facts.energy[0].band == (1.05, 1.4)
    without_clock = Evaluator(_inputs(fleet, [(0, v1), (closed, v2)])).facts("fac-a", T0)
    assert without_clock.energy[0].band == (1.2, 1.4)  # no clock: the latest, as for an open bucket


def test_the_log_clock_closes_buckets_and_times_entries() -> None:
    clock = LogClock([(4, 100), (9, 200), (12, 150), (20, 300)])
    closed_at = clock.closed_at
    assert closed_at(50) == 4
    assert closed_at(100) == 4  # issued at the end: closes it
    assert closed_at(101) == 9
    assert closed_at(180) == 9  # 12 was issued earlier than 9: the clock is the running maximum
    assert closed_at(250) == 20
    assert closed_at(301) is None  # the log has not reached it
    assert LogClock([]).closed_at(0) is None
    assert clock.time_before(4) is None  # nothing logged before the first challenge
    assert clock.time_before(5) == 100
    assert clock.time_before(13) == 200  # the running maximum, as closed_at reads it
    assert LogClock([]).time_before(7) is None


def test_log_times_out_of_log_order_are_refused() -> None:
    fleet, v1, _ = _swapped_fleet()
    with pytest.raises(FormatError, match="not in log order"):
        dataclasses.replace(_inputs(fleet, [(0, v1)]), log_times=[(5, 1), (5, 2)])


def test_bucket_inventory_picks_by_log_index() -> None:
    fleet = Fleet({"fac-a": 1})
    v1 = fleet.inventory("fac-a")
    v2 = dataclasses.replace(v1, overhead_min=1.2)
    versions = [(3, v1), (10, v2)]
    assert bucket_inventory(v2, versions, None) is v2  # not closed yet: the latest
    assert bucket_inventory(v2, versions, 2) is v1  # before every version: the first
    assert bucket_inventory(v2, versions, 10) is v1  # v2 is at 10: not before it
    assert bucket_inventory(v2, versions, 11) is v2
    assert bucket_inventory(v2, [], 11) is v2


def _two_nodes_then_one() -> tuple[Fleet, Inventory, Inventory]:
    """Two nodes; version 1 declares both, version 2 only n00."""
    fleet = Fleet({"fac-a": 2})
    wire = fleet.inventory_wire("fac-a")
    wire.version = 2
    del wire.nodes[1]
    return fleet, fleet.inventory("fac-a"), Inventory.from_wire(wire)


def _decommission(
    cut: int, *, still_drawing: bool = False, dropped: int | None = None, off: int | None = None
) -> tuple[list[types_pb2.Verdict], list[str]]:
    """Two nodes serving inference; n01 reports for ``cut`` minutes of a 10-minute bucket and is
    decommissioned, and version 2 (without it) is logged right after its last report (or after
    minute ``dropped``). The meter sees n01 until ``cut`` (or ``off``; all bucket where
    ``still_drawing``: it went on drawing, unreported). The verdicts of the two buckets, and the
    ids of the findings of the first."""
    fleet, v1, v2 = _two_nodes_then_one()
    at = 0
    for k in range(20):
        t = T0 + k * 60 * NS
        fleet.usage("fac-a-n00", "fac-a", t, INFERENCE)
        if k < cut:
            fleet.usage("fac-a-n01", "fac-a", t, INFERENCE)
        drawing = k < (cut if off is None else off) or (still_drawing and k < 10)
        fleet.meter("fac-a", t, fleet.node_power(INFERENCE) * (2 if drawing else 1))
        if k == (cut if dropped is None else dropped) - 1:
            at = len(fleet.log)
    clock = [
        (next(i for i, r in enumerate(fleet.log) if r.header.period_start_ns >= t), t)
        for t in (T0 + k * 60 * NS for k in range(1, 20))
    ]
    versions = [(0, v1), (at, v2)]
    inputs = dataclasses.replace(_inputs(fleet, versions), log_times=clock)
    ev = Evaluator(inputs)
    verdicts = [ev.verdict(BucketRef("fac-a", T0 + b * 600 * NS, T0 + (b + 1) * 600 * NS)) for b in (0, 1)]
    return verdicts, sorted({f.id for f in verdicts[0].findings if f.severity >= types_pb2.SEVERITY_WARNING})


@pytest.mark.parametrize("cut", [3, 5, 8])
def test_a_node_decommissioned_and_declared_gone_in_its_bucket_is_not_unexplained_energy(cut: int) -> None:
    # What n01 reported while declared is what the meter read of it (a red team, 2026-12-05:
    # version 2 no longer declared it, its energy dropped out of the balance: VIOLATION).
    verdicts, findings = _decommission(cut)
    assert "energy.unexplained" not in findings, findings
    assert verdicts[0].status != types_pb2.VERDICT_STATUS_VIOLATION
    assert verdicts[1].status == types_pb2.VERDICT_STATUS_COMPLIANT


def test_a_node_declared_gone_that_goes_on_drawing_is_unexplained_energy() -> None:
    # the twin: n01 stops reporting at minute 3 and is declared gone, but the meter sees it all
    # bucket: its seven unreported minutes are unexplained
    verdicts, findings = _decommission(3, still_drawing=True)
    assert "energy.unexplained" in findings, findings
    assert verdicts[0].status == types_pb2.VERDICT_STATUS_VIOLATION


def test_a_node_silent_while_still_declared_is_allowed_its_boards_until_it_is_dropped() -> None:
    # rules/20 (an honest-fleet hunt of rules/19): n01's attestor crashed after minute 2, the
    # node served on unreported until it was powered off after minute 6, and version 2 dropped it
    # then: its reports only, as before, left those four minutes unexplained, a VIOLATION. While
    # declared it is a silent node like any other: allowed its boards' power, not proven
    verdicts, findings = _decommission(3, dropped=7, off=7)
    assert verdicts[0].status == types_pb2.VERDICT_STATUS_INCONCLUSIVE, findings
    assert "energy.silent_draw" in findings, findings
    # what its boards could have computed in those four minutes stays in the compute's upper
    # bound: the allowance takes it out of the unexplained energy, and no declared device's
    # coverage counts a departed node. Dropped at once, the same draw is unexplained energy, and
    # staying declared while silent must not bound the compute lower than that
    at_once, _ = _decommission(3, dropped=3, off=7)
    assert verdicts[0].compute.upper_flop >= at_once[0].compute.upper_flop
    # and no further than that: drawing on after it was dropped is unexplained again
    verdicts, findings = _decommission(3, still_drawing=True, dropped=4)
    assert verdicts[0].status == types_pb2.VERDICT_STATUS_VIOLATION, findings


def test_departed_nodes_are_those_a_version_in_the_bucket_stopped_declaring() -> None:
    _, v1, v2 = _two_nodes_then_one()
    meters = frozenset(m.meter_id for m in v1.meters)
    versions = [(0, v1), (50, v2)]
    # the bucket opened at 40 and closed at 60: v1 was in force at its start, v2 logged in it
    assert in_force(versions, 40, 60) == versions
    assert departed_nodes(in_force(versions, 40, 60)) == {"fac-a-n01": meters}
    assert departed_nodes(in_force(versions, 40, None)) == {"fac-a-n01": meters}  # not closed yet
    # v2 logged before the bucket opened: n01 was gone before it began
    assert in_force(versions, 55, 70) == [(50, v2)]
    assert departed_nodes(in_force(versions, 55, 70)) == {}
    assert in_force(versions, 40, 50) == [(0, v1)]  # v2 after the close: the bucket keeps v1
    assert departed_nodes(in_force(versions, 40, 50)) == {}
    assert in_force(versions, None, None) == []  # without the log's clock: none
    assert in_force(versions[:1], 40, 60) == []  # one version: none
    assert departed_nodes([]) == {}


def test_each_version_counts_for_the_time_it_was_in_force_in_the_bucket() -> None:
    # A version logged in a bucket's last minute held the whole bucket to its fixed load (a red
    # team, 2026-12-05: a hidden load covered by 1900 W declared at 1h59, COMPLIANT): each now
    # counts for the stretch from the log time before it (the newest challenge) to the next.
    _, v1, v2 = _two_nodes_then_one()
    v3 = dataclasses.replace(v1, version=3)
    clock = [(10, T0), (20, T0 + 300 * NS), (30, T0 + 540 * NS), (40, T0 + 600 * NS)]
    time_at = LogClock(clock).time_before
    assert time_at(10) is None
    assert time_at(25) == T0 + 300 * NS
    span = (T0, T0 + 600 * NS)
    versions = [(0, v1), (25, v2), (35, v3)]
    # v1 from the start, v2 from 300 s (the challenge before it), v3 from 540 s
    def stretches(spanned: list[tuple[int, Inventory]]) -> tuple[tuple[float, Inventory], ...]:
        routes = meter_routes(spanned, span, time_at=time_at)
        return () if routes is None else tuple((w, v) for w, v, *_ in routes.stretches)

    assert stretches(in_force(versions, 10, 40)) == ((0.5, v1), (0.4, v2), (0.1, v3))
    # logged after the bucket closed: not in it, v1 alone
    assert in_force(versions[:2], 10, 20) == [(0, v1)]
    assert stretches(in_force(versions[:2], 10, 20)) == ()
    # one version throughout, or no clock: none (the bucket's version holds it)
    assert stretches(in_force(versions[:1], 10, 40)) == ()
    assert stretches(in_force(versions, None, None)) == ()


@pytest.mark.parametrize("renamed", [False, True])
def test_a_fixed_load_declared_in_a_buckets_last_minute_explains_a_minute_of_it(renamed: bool) -> None:
    # one node, 1.5 kW of hidden load behind the meter all bucket; v2 declares it as fixed load
    # one minute before the bucket's end — and, ``renamed``, gives the meter a new name (the
    # same key, its reports naming it so throughout): the same meter, matched by key (by name,
    # the new fixed load held the whole bucket again, COMPLIANT: a review, 2026-12-05)
    fleet = Fleet({"fac-a": 1})
    v1 = Inventory.from_wire(fleet.inventory_wire("fac-a"))
    wire = fleet.inventory_wire("fac-a")
    wire.version = 2
    if renamed:
        wire.meters[0].meter_id = "fac-a-meter-renamed"
    v2 = dataclasses.replace(Inventory.from_wire(wire), fixed_load_w=1500.0)

    def relabel(m: types_pb2.MeterReport) -> None:
        m.meter_id = "fac-a-meter-renamed"

    for k in range(10):
        fleet.usage("fac-a-n00", "fac-a", T0 + k * 60 * NS, IDLE)
        fleet.meter(
            "fac-a", T0 + k * 60 * NS, fleet.node_power(IDLE) * 1.2 + 1500.0, tweak=relabel if renamed else None
        )
    clock = [
        (next(i for i, r in enumerate(fleet.log) if r.header.period_start_ns >= t), t)
        for t in (T0 + k * 60 * NS for k in range(1, 10))
    ] + [(len(fleet.log), T0 + 600 * NS)]
    at = clock[8][0] + 1  # logged after the challenge at 9 minutes (and a report after it)
    bound = commitment(["fac-a"], reporting="[tolerances]\nmax_fixed_load_w = 2000")
    base = dataclasses.replace(fleet.inputs(bound), inventories={"fac-a": v2})
    inputs = dataclasses.replace(base, inventory_versions={"fac-a": [(0, v1), (at, v2)]}, log_times=clock)
    (balance,) = Evaluator(inputs).facts("fac-a", T0).energy
    assert balance.fixed_load_j == pytest.approx(1500.0 * 60)  # one minute of 1.5 kW, not ten
    v = evaluate_bucket(inputs, B0)
    assert v.status == types_pb2.VERDICT_STATUS_VIOLATION


def _meter_story(change_at: int, *, swap: bool, hidden_w: float) -> list[str]:
    """Two nodes serving inference for 30 minutes behind the intake meter; ``hidden_w`` more
    behind it in minutes 10-19 (bucket 1). Version 2, logged in minute ``change_at``, drops the
    meter — or, ``swap``, replaces it by a new meter (new id and key) that reports from then on.
    The status of each 10-minute bucket."""
    from sim.factories import seeded_signer

    fleet = Fleet({"fac-a": 2})
    versions = [(0, fleet.inventory("fac-a"))]
    for k in range(30):
        if k == change_at:
            wire = fleet.inventory_wire("fac-a", meter=swap)
            wire.version = 2
            if swap:
                wire.meters[0].meter_id = "fac-a-meter2"
                wire.meters[0].public_key = seeded_signer("fac-a-meter2").public_key.raw
            versions.append((len(fleet.log), Inventory.from_wire(wire)))
        t = T0 + k * 60 * NS
        for i in range(2):
            fleet.usage(f"fac-a-n{i:02d}", "fac-a", t, INFERENCE)
        power = 2 * fleet.node_power(INFERENCE) + (hidden_w if 10 <= k < 20 else 0.0)
        if swap or k < change_at:
            fleet.meter("fac-a", t, power, name="fac-a-meter2" if swap and k >= change_at else None)
    clock = [
        (next(i for i, r in enumerate(fleet.log) if r.header.period_start_ns >= t), t)
        for t in (T0 + k * 60 * NS for k in range(1, 30))
    ]
    inputs = dataclasses.replace(_inputs(fleet, versions), log_times=clock)
    ev = Evaluator(inputs)
    return [
        types_pb2.VerdictStatus.Name(ev.verdict(BucketRef("fac-a", T0 + b * 600 * NS, T0 + (b + 1) * 600 * NS)).status)
        for b in range(3)
    ]


HIDDEN_W = 8 * 700.0 + 300.0  # a hidden 8-GPU node training


@pytest.mark.parametrize("at", [11, 15, 19])
def test_a_meter_dropped_or_swapped_in_the_bucket_it_would_convict_still_reads(at: int) -> None:
    # The lab sees the hidden load on its own meter and drops it, or swaps it for a new one, in
    # the bucket's last minutes: what the meter read while declared still counts, and a swap
    # is one measurement across it (a red team, 2026-12-05: INCONCLUSIVE, from VIOLATION).
    # dropped: its readings count; dropped early, they cover too little of the bucket to balance
    # on (beyond max_gap): INCONCLUSIVE, and so is every bucket after, with no meter
    dropped = _meter_story(at, swap=False, hidden_w=HIDDEN_W)
    convicted = "VERDICT_STATUS_VIOLATION" if at == 19 else "VERDICT_STATUS_INCONCLUSIVE"
    assert dropped == ["VERDICT_STATUS_COMPLIANT", convicted, "VERDICT_STATUS_INCONCLUSIVE"], dropped
    assert _meter_story(at, swap=True, hidden_w=HIDDEN_W)[1] == "VERDICT_STATUS_VIOLATION"


def test_an_honest_meter_swap_mid_bucket_is_compliant() -> None:
    assert _meter_story(15, swap=True, hidden_w=0.0) == ["VERDICT_STATUS_COMPLIANT"] * 3


RACK = ("fac-a-n00", "fac-a-n01")


def _meters_moved(change_at: int, story: str, *, hidden_w: float = 0.0) -> types_pb2.Verdict:
    """Four nodes serving inference for 10 minutes behind an intake meter ("intake", key
    "intake") and a rack meter over two of them ("rack", key "rack"); ``hidden_w`` more behind
    the intake. In minute ``change_at`` the meter devices are physically moved, each reporting
    as its new meter from then on, and version 2, logged in that minute, says so:

    - ``swap``: the two devices trade places (key "rack" is now meter "intake", and back);
    - ``moved``: the intake device goes to the rack (meter "rack" now has key "intake"), a new
      device ("intake2") measures the intake, the old rack device is retired.
    """
    from sim.factories import PUE, seeded_signer

    fleet = Fleet({"fac-a": 4})

    def wire(version: int, meters: list[tuple[str, str, bool]]) -> Inventory:
        w = fleet.inventory_wire("fac-a", meter=False)
        w.version = version
        w.overhead.min_ratio, w.overhead.max_ratio = 1.1, 1.25
        for meter_id, key, rack in meters:
            m = w.meters.add(meter_id=meter_id, public_key=seeded_signer(key).public_key.raw)
            m.scope = types_pb2.METER_SCOPE_RACK if rack else types_pb2.METER_SCOPE_FACILITY
            if rack:
                m.node_ids.extend(RACK)
        return Inventory.from_wire(w)

    v1 = wire(1, [("intake", "intake", False), ("rack", "rack", True)])
    v2 = {
        "swap": wire(2, [("intake", "rack", False), ("rack", "intake", True)]),
        "moved": wire(2, [("intake2", "intake2", False), ("rack", "intake", True)]),
    }[story]
    versions = [(0, v1)]
    node_w = fleet.node_power(INFERENCE)
    for k in range(10):
        if k == change_at:
            versions.append((len(fleet.log), v2))
        t = T0 + k * 60 * NS
        for i in range(4):
            fleet.usage(f"fac-a-n{i:02d}", "fac-a", t, INFERENCE)
        # (device key, the meter it measures now, its true draw before the PUE)
        now = {"intake": ("intake", 4 * node_w + hidden_w / PUE), "rack": ("rack", 2 * node_w)}
        if k >= change_at:
            if story == "swap":
                now = {"rack": now["intake"], "intake": now["rack"]}
            else:
                now = {"intake2": ("intake2", now["intake"][1]), "intake": now["rack"]}
        for key, (meter_id, true_w) in now.items():

            def as_meter(m: types_pb2.MeterReport, meter_id: str = meter_id) -> None:
                m.meter_id = meter_id

            fleet.meter("fac-a", t, true_w * PUE / 1.2, pue=1.2, name=key, tweak=as_meter)
    # a challenge each minute, logged just before that minute's reports and version
    clock = [
        (next(i for i, r in enumerate(fleet.log) if r.header.period_start_ns >= t) - 1, t)
        for t in (T0 + k * 60 * NS for k in range(1, 10))
    ] + [(len(fleet.log), T0 + 600 * NS)]
    inputs = dataclasses.replace(_inputs(fleet, versions), log_times=clock)
    return evaluate_bucket(inputs, B0)


@pytest.mark.parametrize("story", ["swap", "moved"])
@pytest.mark.parametrize("at", [5, 9])
def test_meters_moved_between_scopes_mid_bucket_read_where_they_were(story: str, at: int) -> None:
    # Each reading counts under what its key was declared to measure when it read. Under
    # rules/5 the bucket's last version said where every key's readings counted: two devices
    # that traded places had each one's readings before the swap counted in the other's scope,
    # and the honest fleet was a VIOLATION (a red team, 2026-12-05).
    v = _meters_moved(at, story)
    assert v.status == types_pb2.VERDICT_STATUS_COMPLIANT, [f.id for f in v.findings]
    # and the same moves hide nothing: a hidden 8-GPU node behind the intake still convicts
    v = _meters_moved(at, story, hidden_w=HIDDEN_W)
    assert v.status == types_pb2.VERDICT_STATUS_VIOLATION, [f.id for f in v.findings]


def test_two_scopes_merged_in_the_bucket_keep_the_fixed_load_each_declared() -> None:
    # Two PDU meters (n00's declaring no fixed load, n01's 1 kW) become the two feeds of one
    # intake measurement declaring the same 1 kW, in the bucket's last minute: the nine
    # minutes before hold both PDU scopes' fixed loads, not the first one matched (0 W).
    from sim.factories import PUE, seeded_signer

    def wire(merged: bool) -> types_pb2.Inventory:
        w = fleet.inventory_wire("fac-a", meter=False)
        for name, node, feed in (("m-a", "fac-a-n00", "a"), ("m-b", "fac-a-n01", "b")):
            m = w.meters.add(meter_id=name, public_key=seeded_signer(name).public_key.raw)
            if merged:
                m.scope, m.feed = types_pb2.METER_SCOPE_FACILITY, feed
            else:
                m.scope = types_pb2.METER_SCOPE_PDU
                m.node_ids.append(node)
                m.overhead.min_ratio, m.overhead.max_ratio = 1.05, 1.4
                m.overhead.fixed_load_w = 1000.0 if node.endswith("n01") else 0.0
        return w

    fleet = Fleet({"fac-a": 2})
    v1 = Inventory.from_wire(wire(merged=False))
    w2 = wire(merged=True)
    w2.version = 2
    v2 = dataclasses.replace(Inventory.from_wire(w2), fixed_load_w=1000.0)
    for k in range(10):
        t = T0 + k * 60 * NS
        fleet.usage("fac-a-n00", "fac-a", t, IDLE)
        fleet.usage("fac-a-n01", "fac-a", t, IDLE)
        fleet.meter("fac-a", t, fleet.node_power(IDLE), name="m-a")
        fleet.meter("fac-a", t, fleet.node_power(IDLE) + 1000.0 / PUE, name="m-b")
    clock = [
        (next(i for i, r in enumerate(fleet.log) if r.header.period_start_ns >= t), t)
        for t in (T0 + k * 60 * NS for k in range(1, 10))
    ] + [(len(fleet.log), T0 + 600 * NS)]
    versions = [(0, v1), (clock[8][0] + 1, v2)]
    bound = commitment(["fac-a"], reporting="[tolerances]\nmax_fixed_load_w = 2000")
    base = dataclasses.replace(fleet.inputs(bound), inventories={"fac-a": v2})
    inputs = dataclasses.replace(base, inventory_versions={"fac-a": versions}, log_times=clock)
    (balance,) = Evaluator(inputs).facts("fac-a", T0).energy
    assert balance.fixed_load_j == pytest.approx(1000.0 * 600)
    assert evaluate_bucket(inputs, B0).status == types_pb2.VERDICT_STATUS_COMPLIANT


def _node_added(at_minute: int, *, reports: bool, hidden_w: float) -> types_pb2.Verdict:
    """One node reporting idle all bucket; version 2, logged in minute ``at_minute``, adds a
    second (which reports from then on where ``reports``); ``hidden_w`` more behind the meter
    all bucket (plus the second node's own draw once it reports)."""
    fleet = Fleet({"fac-a": 2})
    v2 = fleet.inventory("fac-a")
    w1 = fleet.inventory_wire("fac-a")
    del w1.nodes[1]
    w1.version = 1
    for m in w1.meters:
        if "fac-a-n01" in m.node_ids:
            m.node_ids.remove("fac-a-n01")
    v1 = Inventory.from_wire(w1)
    at = 0
    for k in range(10):
        t = T0 + k * 60 * NS
        if k == at_minute:
            at = len(fleet.log)
        fleet.usage("fac-a-n00", "fac-a", t, IDLE)
        on = reports and k >= at_minute
        if on:
            fleet.usage("fac-a-n01", "fac-a", t, IDLE)
        fleet.meter("fac-a", t, fleet.node_power(IDLE) * (2 if on else 1) + hidden_w)  # (the meter adds PUE)
    clock = [
        (next(i for i, r in enumerate(fleet.log) if r.header.period_start_ns >= t), t)
        for t in (T0 + k * 60 * NS for k in range(1, 10))
    ] + [(len(fleet.log), T0 + 600 * NS)]
    inputs = dataclasses.replace(_inputs(fleet, [(0, v1), (at + 1, v2)]), log_times=clock)
    return evaluate_bucket(inputs, B0)


def test_a_node_declared_in_a_buckets_last_minute_is_not_silent_before() -> None:
    # declared in the last minute and never reporting, it was allowed its board power for the
    # whole bucket as silence: a hidden 3 kW load's VIOLATION became INCONCLUSIVE (a review,
    # 2026-12-05); now only its last minute
    v = _node_added(9, reports=False, hidden_w=3000.0)
    assert v.status == types_pb2.VERDICT_STATUS_VIOLATION
    assert any(f.id == "energy.unexplained" for f in v.findings)


def test_a_node_added_mid_bucket_honestly_is_not_a_violation() -> None:
    # the honest twin: added at minute 5 and reporting from then; its first five minutes are
    # not silence to explain, and nothing is hidden: never VIOLATION (INCONCLUSIVE at worst:
    # the bucket's coverage of it is half)
    v = _node_added(5, reports=True, hidden_w=0.0)
    assert v.status != types_pb2.VERDICT_STATUS_VIOLATION
    assert not any(f.id in ("energy.unexplained", "energy.silent_draw") for f in v.findings), [
        (f.id, f.message) for f in v.findings
    ]


@pytest.mark.parametrize(("rename", "hidden_w", "status"), [
    (True, 1500.0, types_pb2.VERDICT_STATUS_VIOLATION),
    (False, 1500.0, types_pb2.VERDICT_STATUS_VIOLATION),
    (True, 0.0, types_pb2.VERDICT_STATUS_COMPLIANT),
])
def test_a_meter_renamed_and_rekeyed_to_loosen_its_accuracy_is_held_to_the_old_one(
    rename: bool, hidden_w: float, status: int
) -> None:
    # The intake (1 %) replaced in minute 9 by "another" meter of 5 % — a new id and key — that
    # reports from then on: the old meter's readings count under the new id, at the accuracy
    # they were declared at (the new one's for the whole bucket was COMPLIANT with 1.5 kW
    # hidden: a red team, 2026-12-05)
    from sim.factories import seeded_signer

    fleet = Fleet({"fac-a": 4})

    def version(n: int, meter_id: str, accuracy: float) -> Inventory:
        w = fleet.inventory_wire("fac-a", meter=False)
        w.version = n
        w.overhead.min_ratio, w.overhead.max_ratio = 1.1, 1.25
        m = w.meters.add(meter_id=meter_id, public_key=seeded_signer(meter_id).public_key.raw)
        m.scope, m.accuracy = types_pb2.METER_SCOPE_FACILITY, accuracy
        return Inventory.from_wire(w)

    new_id = "intake2" if rename else "intake"
    versions = [(0, version(1, "intake", 0.01))]
    clock = []
    for k in range(10):
        t = T0 + k * 60 * NS
        clock.append((len(fleet.log), t))
        for node in fleet.node_ids("fac-a", 4):
            fleet.usage(node, "fac-a", t, INFERENCE)
        if k == 9:
            versions.append((len(fleet.log), version(2, new_id, 0.05)))
        name = new_id if k >= 9 else "intake"

        def relabel(m: types_pb2.MeterReport, name: str = name) -> None:
            m.meter_id = name

        fleet.meter("fac-a", t, 4 * fleet.node_power(INFERENCE) * 1.2 + hidden_w, pue=1.0, name=name, tweak=relabel)
    clock = [*clock[1:], (len(fleet.log), T0 + 600 * NS)]
    bound = commitment(["fac-a"], reporting="[tolerances]\nmax_meter_accuracy = 0.05")
    inputs = dataclasses.replace(_inputs(fleet, versions), commitment=bound, log_times=clock)
    assert evaluate_bucket(inputs, B0).status == status


def test_meter_routes_join_each_declaration_to_one_measurement() -> None:
    # The order of meter_routes' rules, one version pair per rule; versions at log indices 0
    # and 5, the second in force from 300 s of a 600-s bucket.
    from pausewatch.inventory import DeclaredMeter

    intake, rack = types_pb2.METER_SCOPE_FACILITY, types_pb2.METER_SCOPE_RACK

    def inv(version: int, *meters: DeclaredMeter) -> Inventory:
        base = Fleet({"fac-a": 2}).inventory("fac-a")
        return dataclasses.replace(base, version=version, meters=meters, meter_by_key={m.key_id: m for m in meters})

    def m(meter_id: str, key: str, scope: int = intake, nodes: tuple[str, ...] = ()) -> DeclaredMeter:
        return DeclaredMeter(meter_id, key, scope, nodes)

    span = (T0, T0 + 600 * NS)

    def routes(v1: Inventory, v2: Inventory) -> dict[tuple[str, int], str]:
        r = meter_routes([(0, v1), (5, v2)], span, time_at=lambda i: T0 + 300 * NS)
        assert r is not None
        return {
            (key, t): routed[1]
            for key in ("k1", "k2", "k3")
            for t in (0, 1)
            if (routed := r.route(key, T0 + (100 + 400 * t) * NS)) is not None
        }

    r_n = ("fac-a-n00",)
    # 1: the same name and scope (devices that traded places: the name follows the scope)
    swap = routes(inv(1, m("in", "k1"), m("r", "k2", rack, r_n)), inv(2, m("in", "k2"), m("r", "k1", rack, r_n)))
    assert swap == {("k1", 0): "in", ("k1", 1): "r", ("k2", 0): "r", ("k2", 1): "in"}
    # 2: the same key and scope (a rename)
    assert routes(inv(1, m("in", "k1")), inv(2, m("in-b", "k1")))[("k1", 0)] == "in-b"
    # 3: the one meter new to the bucket in that scope (a meter replaced, its key now elsewhere)
    moved = routes(inv(1, m("in", "k1"), m("r", "k2", rack, r_n)), inv(2, m("in2", "k3"), m("r", "k1", rack, r_n)))
    assert (moved[("k1", 0)], moved[("k1", 1)], moved[("k3", 1)]) == ("in2", "r", "in2")
    # 4: the same key whatever its scope (re-declared in place)
    assert routes(inv(1, m("p", "k1", rack, r_n)), inv(2, m("p", "k1")))[("k1", 0)] == "p"
    # each rule over every declaration before the next, whatever their order: the intake
    # dropped and the rack's meter re-declared as a new intake; the old intake's readings join
    # the new one (3), the rack's keep their own scope (5), not the new intake's (4)
    order = routes(inv(1, m("r", "k2", rack, r_n), m("in", "k1")), inv(2, m("in-new", "k2")))
    assert (order[("k1", 0)], order[("k2", 0)], order[("k2", 1)]) == ("in-new", "r", "in-new")
    # 5: else a measurement of its own, named apart from every meter of the bucket's version
    r = meter_routes([(0, inv(1, m("in", "k1"))), (5, inv(2, m("in", "k2", rack, r_n)))], span, time_at=lambda i: None)
    assert r is not None
    assert [d.meter_id for d in r.departed] == ["in~1"]
    # one version: no routes (its meters throughout)
    assert meter_routes([(0, inv(1, m("in", "k1")))], span, time_at=lambda i: None) is None
