"""The evidence model (issue 10): each tactic that once slipped through, and its honest twin.

Built from signed reports with ``tests.evaluation.fleet``; every test names the tactic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import pytest

from pausewatch.commitment import Commitment, commitment_from_toml
from pausewatch.errors import FormatError
from pausewatch.evaluation import BucketRef, Evaluator
from pausewatch.evaluation.bucket import LabelledPeriod, NodeWorkload
from pausewatch.evaluation.evidence import min_training_periods
from pausewatch.evaluation.inputs import EvaluationInput
from pausewatch.inventory import Inventory, inventory_from_toml
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, INFERENCE, NS, PUE, T0, TRAINING, Fleet, commitment
from sim.factories import seeded_signer as signer

COMPLIANT = types_pb2.VERDICT_STATUS_COMPLIANT
VIOLATION = types_pb2.VERDICT_STATUS_VIOLATION
INCONCLUSIVE = types_pb2.VERDICT_STATUS_INCONCLUSIVE
BUCKET = 600 * NS


def ids(v: types_pb2.Verdict, severity: int | None = None) -> set[str]:
    return {f.id for f in v.findings if severity is None or f.severity == severity}


def bucket(k: int, fid: str = "fac-a") -> BucketRef:
    return BucketRef(fid, T0 + k * BUCKET, T0 + (k + 1) * BUCKET)


def inputs(
    fleet: Fleet,
    c: Commitment,
    edit: dict[str, object] | None = None,
) -> EvaluationInput:
    """The fleet's inputs, each inventory changed by ``edit`` (band, extra meters)."""
    invs = {}
    for fid in fleet.facilities:
        wire = fleet.inventory_wire(fid)
        if edit and "band" in edit:
            wire.overhead.min_ratio, wire.overhead.max_ratio = edit["band"]  # type: ignore[misc]
        if edit and "meters" in edit:
            del wire.meters[:]
            for meter_id, feed in edit["meters"]:  # type: ignore[attr-defined]
                wire.meters.add(
                    meter_id=meter_id,
                    public_key=signer(meter_id).public_key.raw,
                    scope=types_pb2.METER_SCOPE_FACILITY,
                    feed=feed,
                )
        invs[fid] = Inventory.from_wire(wire)
    base = fleet.inputs(c)
    return EvaluationInput(c, invs, base.reports, base.ingest_findings, base.evaluated_log_size)


# ---- go silent, briefly and often ---------------------------------------------------------------


def test_stopping_the_attestor_two_periods_in_three_while_training_is_never_compliant() -> None:
    """Each gap (120 s) is under max_gap (180 s), but the device is covered a third of the time."""
    fleet = Fleet({"fac-a": 2})
    fleet.run(
        "fac-a",
        T0,
        20,
        lambda n, k: (TRAINING, None) if n.endswith("01") and k % 3 else (IDLE, IDLE),
    )
    ev = Evaluator(fleet.inputs(commitment(["fac-a"])))
    for k in (0, 1):
        v = ev.verdict(bucket(k))
        assert v.status in (INCONCLUSIVE, VIOLATION), v.reason
        assert "continuity.coverage" in ids(v)
        assert "continuity.gap" not in ids(v)
        assert ids(v) & {"energy.silent_draw", "energy.unexplained"}


def test_a_gap_cut_by_a_bucket_edge_is_measured_whole() -> None:
    fleet = Fleet({"fac-a": 1})
    fleet.run("fac-a", T0, 20, lambda n, k: (IDLE, None if 8 <= k < 12 else IDLE))
    ev = Evaluator(fleet.inputs(commitment(["fac-a"], reporting="min_time_coverage = 0.6")))
    second = ev.verdict(bucket(1))
    gap = next(f for f in second.findings if f.id == "continuity.gap")
    assert {q.name: q.value for q in gap.quantities}["gap_s"] == 240.0


@pytest.mark.parametrize("overlapping", [False, True])
def test_in_a_bucket_longer_than_an_hour_its_most_silent_hour_is_judged(overlapping: bool) -> None:
    """A red team's: with day-long buckets a node went dark for two hours (8.3 % of the day,
    under the tenth) and trained at a cap: COMPLIANT. A bucket longer than an hour is judged by
    its most silent hour: here a 2-hour bucket with 10 silent minutes (a twelfth of the bucket,
    under its tenth; a sixth of its worst hour), under a commitment that tolerates such gaps.
    ``overlapping`` (a reviewer's): before the silence each report claims two minutes, over the
    next one's; the silence is what the union of the periods leaves (9 minutes), not the bucket
    less the sum of their lengths (none: the check was skipped)."""
    fleet = Fleet({"fac-a": 2})
    silent = range(50, 60)  # minutes 50-59 of n01

    def longer(r: types_pb2.UsageReport) -> None:
        r.period_end_unix_ns += 60 * NS

    for k in range(120):
        t = T0 + k * fleet.period_ns
        for node in fleet.node_ids("fac-a", 2):
            if not (node.endswith("01") and k in silent):
                stretch = overlapping and node.endswith("01") and k < silent.start
                fleet.usage(node, "fac-a", t, IDLE, tweak=longer if stretch else None)
        fleet.meter("fac-a", t, 2 * fleet.node_power(IDLE))
    c = commitment(["fac-a"], bucket_s=7200)
    c = dataclasses.replace(
        c, reporting=dataclasses.replace(c.reporting, max_gap_ns=3600 * NS, min_time_coverage=0.8)
    )
    v = Evaluator(fleet.inputs(c)).verdict(BucketRef("fac-a", T0, T0 + 7200 * NS))
    assert v.status == INCONCLUSIVE, v.reason
    low = [f for f in v.findings if f.id == "workload.low_confidence" and f.subject.endswith("01")]
    assert low, v.findings
    seconds = 540 if overlapping else 600
    assert f"silent for {seconds} s of the bucket's most silent hour" in low[0].message, v.findings


def test_the_most_silent_hour_is_every_hour_window_at_its_worst() -> None:
    """``_most_silent_hour`` against a second-by-second count, on random spans (unsorted,
    overlapping, empty, reversed, reaching outside the bucket)."""
    import random

    from pausewatch.evaluation.folds.labels import _most_silent_hour

    def counted(length_s: int, spans: list[tuple[int, int]]) -> float:
        covered = [False] * length_s
        for s, e in spans:
            for i in range(max(0, s // NS), min(length_s, e // NS)):
                covered[i] = True
        prefix = [0]
        for c in covered:
            prefix.append(prefix[-1] + (not c))
        return float(max(prefix[i + 3600] - prefix[i] for i in range(length_s - 3600 + 1)))

    rng = random.Random(7)
    for _ in range(40):
        length = rng.choice([3601, 5000, 9000])
        spans = []
        for _ in range(rng.randint(0, 25)):
            a = rng.randint(-500, length + 500)
            spans.append((a * NS, (a + rng.randint(-100, 3000)) * NS))
        assert _most_silent_hour((0, length * NS), spans) == counted(length, spans), spans
    hour = 3600 * NS
    assert _most_silent_hour((0, 4 * hour), [(0, 4 * hour)]) == 0.0
    assert _most_silent_hour((0, 2 * hour), []) == 3600.0


def test_silence_never_balances_another_nodes_books() -> None:
    """A silent node may explain the meter only as far as INCONCLUSIVE: min_inventory_coverage
    below 1 excuses silence only where the meter shows the silent node drew nothing."""
    fleet = Fleet({"fac-a": 4})
    fleet.run("fac-a", T0, 10, lambda n, k: (TRAINING, None) if n.endswith("03") else (IDLE, IDLE))
    c = commitment(["fac-a"], reporting="min_inventory_coverage = 0.7")
    v = Evaluator(fleet.inputs(c)).verdict(bucket(0))
    assert v.status == INCONCLUSIVE, v.reason
    assert "energy.silent_draw" in ids(v, types_pb2.SEVERITY_WARNING)


def test_a_powered_down_node_is_excused_by_min_inventory_coverage() -> None:
    fleet = Fleet({"fac-a": 4})
    for k in range(10):  # n03 is powered down, host and all: it draws nothing and sends nothing
        t = T0 + k * fleet.period_ns
        for node in fleet.node_ids("fac-a", 3):
            fleet.usage(node, "fac-a", t, IDLE)
        fleet.meter("fac-a", t, 3 * fleet.node_power(IDLE))
    c = commitment(["fac-a"], reporting="min_inventory_coverage = 0.7")
    v = Evaluator(fleet.inputs(c)).verdict(bucket(0))
    assert not ids(v) & {"energy.silent_draw", "energy.unexplained"}, v.reason


def _silent_node_fleet(hidden_w: float, overhead: float) -> Fleet:
    """Four nodes; three serve and report, n03 sends nothing and draws ``hidden_w``; the meter
    reads every node's power × ``overhead``."""
    fleet = Fleet({"fac-a": 4})
    for k in range(10):
        t = T0 + k * fleet.period_ns
        for node in fleet.node_ids("fac-a", 3):
            fleet.usage(node, "fac-a", t, INFERENCE)
        fleet.meter("fac-a", t, overhead * (3 * fleet.node_power(INFERENCE) + hidden_w))
    return fleet


@pytest.mark.parametrize(
    ("band", "hidden_w", "excused"),
    # the meter reads 1.38 × the reports
    [
        ((1.35, 1.4), 0.0, True),  # powered down, a band the meter can see through: excused
        ((1.05, 1.6), 0.0, False),  # powered down, but the band leaves room for a node at work
        ((1.05, 1.6), 8 * 150.0, False),  # the evader: training at a 150-W cap in that room
    ],
)
def test_min_inventory_coverage_excuses_only_a_node_the_meter_proves_quiet(
    band: tuple[float, float], hidden_w: float, excused: bool
) -> None:
    """A red team's: a lab signs ``min_inventory_coverage`` = 0.75, stops one node of four and
    trains on it at a 150-W cap, under a 1.1-1.6 band with the true overhead 1.15: the meter
    balanced, the silence was excused, COMPLIANT. Excused now only where the room the balance
    leaves (``balance.hidden_room_j``) is less than the node's accelerators at an idle board's
    draw (``SILENT_IDLE_RATIO``)."""
    fleet = _silent_node_fleet(hidden_w, 1.15)
    c = commitment(["fac-a"], reporting="min_inventory_coverage = 0.7")
    v = Evaluator(inputs(fleet, c, {"band": band})).verdict(bucket(0))
    coverage = {f.severity for f in v.findings if f.id == "continuity.coverage"}
    assert not ids(v) & {"energy.unexplained", "energy.silent_draw"}, v.reason
    if excused:
        assert coverage == {types_pb2.SEVERITY_INFO}, v.reason
        assert v.status == COMPLIANT, v.reason
    else:
        assert types_pb2.SEVERITY_WARNING in coverage, v.reason
        assert v.status == INCONCLUSIVE, v.reason


def test_the_proof_of_a_quiet_node_takes_no_declared_load_and_every_scope() -> None:
    """``balance.proven_quiet`` over hand-made balances (an hour; n1 silent throughout, eight
    H100s: 8 × 12 % × 700 W = 672 W at an idle board's draw). The room is the reading over the
    band's lower bound less the reports, the declared fixed load *not* taken off (declared and
    not drawn, it is room: a reviewer hid two H100s at full power in 2 kW of it); and every
    scope holding the node must prove it (a rack meter reading nothing proves nothing while the
    intake leaves room)."""
    from pausewatch.evaluation.folds.balance import EnergyBalance, proven_quiet
    from pausewatch.evaluation.folds.coverage import DeviceCoverage

    hour = 3600.0
    devices = [
        DeviceCoverage("n1", f"GPU-{j}", "NVIDIA H100 80GB HBM3", round(hour * 1e9), False) for j in range(8)
    ]

    def scope(
        metered_w: float, reported_w: float, nodes: tuple[str, ...], fixed_w: float = 0.0
    ) -> EnergyBalance:
        j = hour
        return EnergyBalance(
            ("m",), metered_w * j, reported_w * j, 0.0, 0.0, 0.0, (), nodes, metered_w * j, 0.0, (1.2, 1.4),
            fixed_load_j=fixed_w * j,
        )  # fmt: skip

    intake = ("n0", "n1")
    assert proven_quiet([scope(1.2 * 10_000 + 500, 10_000, intake)], devices) == {"n1"}  # 417 W of room
    assert proven_quiet([scope(1.2 * 10_000 + 1000, 10_000, intake)], devices) == frozenset()  # 833 W
    # 2 kW declared as a fixed load and not drawn: still 833 W of room, not none
    assert proven_quiet([scope(1.2 * 10_000 + 1000, 10_000, intake, fixed_w=2000.0)], devices) == frozenset()
    rack = scope(0.0, 0.0, ("n1",))  # a rack meter around n1 reading nothing
    assert proven_quiet([scope(1.2 * 10_000 + 1000, 10_000, intake), rack], devices) == frozenset()
    assert proven_quiet([scope(1.2 * 10_000 + 500, 10_000, intake), rack], devices) == {"n1"}


# ---- the lab sets its own tolerance -------------------------------------------------------------


def test_a_wide_declared_band_is_cut_to_the_commitments_bounds() -> None:
    """Band 1.0–3.0 declared; the commitment's default bound is 1.6: a hidden training node shows."""
    fleet = Fleet({"fac-a": 2})
    for k in range(10):
        t = T0 + k * fleet.period_ns
        for node in fleet.node_ids("fac-a", 2):
            fleet.usage(node, "fac-a", t, IDLE)
        fleet.meter("fac-a", t, 2 * fleet.node_power(IDLE) + 2 * fleet.node_power(TRAINING))
    v = Evaluator(inputs(fleet, commitment(["fac-a"]), {"band": (1.0, 3.0)})).verdict(bucket(0))
    assert v.status == VIOLATION, v.reason
    assert "energy.unexplained" in ids(v, types_pb2.SEVERITY_CRITICAL)
    q = {x.name: x.value for f in v.findings if f.id == "energy.unexplained" for x in f.quantities}
    assert q["overhead_max_ratio"] == 1.6


def test_a_commitment_cannot_grant_an_unphysical_band(tmp_path: object) -> None:
    text = commitment_text("[tolerances]\noverhead_max_ratio = 5.0\n")
    with pytest.raises(FormatError, match=r"c\.toml:\d+: tolerances\.overhead_max_ratio"):
        commitment_from_toml(text, "c.toml")


def test_a_commitment_cannot_switch_off_the_baseline_with_an_endless_calibration() -> None:
    # no step is looked for while a scope calibrates: a year of it would be a year unwatched
    with pytest.raises(FormatError, match=r"c\.toml:\d+: tolerances\.calibration_s: .*at most a week"):
        commitment_from_toml(commitment_text("[tolerances]\ncalibration_s = 31536000\n"), "c.toml")
    week = commitment_from_toml(commitment_text("[tolerances]\ncalibration_s = 604800\n"), "c.toml")
    assert Commitment.from_wire(week).tolerances.calibration_ns == 604_800 * 10**9


def test_an_inventory_wider_than_the_commitment_is_refused_naming_the_field() -> None:
    c = Commitment.from_wire(commitment_from_toml(commitment_text(""), "c.toml"))
    inv = Fleet({"fac-a": 1}).inventory_wire("fac-a")
    inv.overhead.min_ratio, inv.overhead.max_ratio = 1.0, 1.9
    with pytest.raises(FormatError, match=r"overhead\.max_ratio: 1\.9"):
        Inventory.from_wire(inv).check_bounds(c.tolerances, c.commitment_id)


def commitment_text(extra: str) -> str:
    return (
        'id = "c"\nversion = 1\nlab_id = "lab"\nfacilities = ["fac-a"]\n'
        "[window]\nstart = 2026-01-01T00:00:00Z\nend = 2026-01-02T00:00:00Z\n" + extra
    )


# ---- meters summed blindly ----------------------------------------------------------------------


def redundant_fleet(lie: float = 1.0, feeds: bool = False) -> EvaluationInput:
    fleet = Fleet({"fac-a": 2})
    for k in range(10):
        t = T0 + k * fleet.period_ns
        for node in fleet.node_ids("fac-a", 2):
            fleet.usage(node, "fac-a", t, INFERENCE)
        total = 2 * fleet.node_power(INFERENCE)
        share = 0.5 if feeds else 1.0
        fleet.meter("fac-a", t, total * share, name="utility")
        fleet.meter("fac-a", t, total * share * lie, name="inspector")
    meters = [("utility", "A" if feeds else ""), ("inspector", "B" if feeds else "")]
    return inputs(fleet, commitment(["fac-a"]), {"meters": meters})


def test_two_meters_on_one_intake_are_compared_not_added() -> None:
    v = Evaluator(redundant_fleet()).verdict(bucket(0))
    assert v.status == COMPLIANT, v.reason


def test_a_redundant_meter_that_reads_low_is_a_disagreement() -> None:
    v = Evaluator(redundant_fleet(lie=0.8)).verdict(bucket(0))
    assert v.status == INCONCLUSIVE, v.reason
    assert "meter.disagreement" in ids(v)


def test_declared_feeds_are_added() -> None:
    v = Evaluator(redundant_fleet(feeds=True)).verdict(bucket(0))
    assert v.status == COMPLIANT, v.reason


def meter_toml(meters: str) -> str:
    key = signer("x").public_key.raw.hex()
    nodes = "".join(
        f'[[nodes]]\nnode_id = "n{i}"\nattestor_public_key = "{signer(f"n{i}").public_key.raw.hex()}"\n'
        for i in range(3)
    )
    return (
        'facility_id = "fac-a"\nlab_id = "lab"\nversion = 1\nissued = 2026-01-01T00:00:00Z\n'
        "[overhead]\nmin_ratio = 1.1\nmax_ratio = 1.4\n" + nodes + meters.replace("KEY", key)
    )


def test_partly_overlapping_meter_scopes_are_refused() -> None:
    meters = (
        '[[meters]]\nmeter_id = "r1"\npublic_key = "KEY"\nscope = "rack"\nnode_ids = ["n0", "n1"]\n'
        f'[[meters]]\nmeter_id = "r2"\npublic_key = "{signer("y").public_key.raw.hex()}"\n'
        'scope = "rack"\nnode_ids = ["n1", "n2"]\n'
    )
    with pytest.raises(FormatError, match="overlaps the scope of meter 'r1'"):
        inventory_from_toml(meter_toml(meters), "inv.toml")


def test_a_meter_scope_naming_an_unknown_node_is_refused_with_its_line() -> None:
    meters = '[[meters]]\nmeter_id = "r1"\npublic_key = "KEY"\nscope = "pdu"\nnode_ids = ["n9"]\n'
    with pytest.raises(FormatError, match=r"inv\.toml:\d+: meters\[0\]\.node_ids: 'n9'"):
        inventory_from_toml(meter_toml(meters), "inv.toml")


def test_a_meter_without_a_scope_covers_the_facility() -> None:
    inv = Inventory.from_wire(
        inventory_from_toml(meter_toml('[[meters]]\nmeter_id = "m"\npublic_key = "KEY"\n'), "i")
    )
    assert inv.meters[0].node_ids == ("n0", "n1", "n2")


# ---- the calibrated baseline --------------------------------------------------------------------


def baseline_fleet(pue_of: dict[int, float], buckets: int = 10) -> Evaluator:
    fleet = Fleet({"fac-a": 2})
    for k in range(buckets * 10):
        t = T0 + k * fleet.period_ns
        for node in fleet.node_ids("fac-a", 2):
            fleet.usage(node, "fac-a", t, INFERENCE)
        fleet.meter("fac-a", t, 2 * fleet.node_power(INFERENCE), pue=pue_of.get(k // 10, PUE))
    return Evaluator(fleet.inputs(commitment(["fac-a"])))


def test_a_step_of_the_ratio_inside_the_band_is_a_finding() -> None:
    """1.18 → 1.34: both inside the declared band 1.05–1.4, and a hidden node's worth."""
    ev = baseline_fleet({k: 1.18 if k < 6 else 1.34 for k in range(10)})
    assert ev.verdict(bucket(5)).status == COMPLIANT
    for k in range(6, 10):
        v = ev.verdict(bucket(k))
        assert "energy.baseline_step" in ids(v), (k, v.reason)
        assert v.status == INCONCLUSIVE


def test_a_steady_ratio_raises_no_baseline_finding() -> None:
    ev = baseline_fleet({})
    for k in range(10):
        assert ev.verdict(bucket(k)).status == COMPLIANT


def _node_dropped_at(change: int, pue_after: float, buckets: int = 12, *, rename: bool = False) -> Evaluator:
    """Three nodes serving inference at ratio 1.18; from bucket ``change`` n02 is decommissioned
    and a version without it logged as it goes (``rename``: instead, the version gives the
    intake meter another id, its key and every node kept), and the ratio is ``pue_after``."""
    fleet = Fleet({"fac-a": 3})
    wire = fleet.inventory_wire("fac-a")
    wire.version = 2
    if rename:
        wire.meters[0].meter_id = "fac-a-intake-2"
    else:
        del wire.nodes[2]
    v1, v2 = fleet.inventory("fac-a"), Inventory.from_wire(wire)
    at = 0
    for k in range(buckets * 10):
        t = T0 + k * fleet.period_ns
        nodes = 3 if k < change * 10 or rename else 2
        if k == change * 10:
            at = len(fleet.log)
        for node in fleet.node_ids("fac-a", nodes):
            fleet.usage(node, "fac-a", t, INFERENCE)
        pue = PUE if k < change * 10 else pue_after
        fleet.meter("fac-a", t, nodes * fleet.node_power(INFERENCE), pue=pue)
    clock = [
        (next(i for i, r in enumerate(fleet.log) if r.header.period_start_ns >= t), t)
        for t in (T0 + k * fleet.period_ns for k in range(1, buckets * 10))
    ]
    base = fleet.inputs(commitment(["fac-a"]))
    inputs = dataclasses.replace(
        base, inventories={"fac-a": v2}, inventory_versions={"fac-a": [(0, v1), (at, v2)]}, log_times=clock
    )
    return Evaluator(inputs)


def test_a_node_dropped_from_the_inventory_does_not_restart_the_baseline() -> None:
    """A scope is its node ids, and a version without a decommissioned node made the intake a
    new scope whose baseline calibrated afresh: a hidden load switched on with the change was
    learnt as overhead, COMPLIANT for 5 hours where the same load without the change was
    ``energy.baseline_step`` (a red team of rules/18). The new scope carries on the baseline
    of the one it succeeds (rules/19); the honest decommission stays COMPLIANT."""
    hidden = _node_dropped_at(6, 1.34)
    for k in range(6, 12):
        v = hidden.verdict(bucket(k))
        assert "energy.baseline_step" in ids(v), (k, v.reason)
        assert v.status == INCONCLUSIVE
    honest = _node_dropped_at(6, PUE)
    for k in range(12):
        assert honest.verdict(bucket(k)).status == COMPLIANT, (k, honest.verdict(bucket(k)).reason)


def test_a_meter_renamed_in_a_new_version_keeps_its_scopes_baseline() -> None:
    """The same nodes measured by a meter of another id: the scope carries on its own baseline
    (``successor`` counts the scope itself: looking only among scopes sharing a meter, it would
    find none, calibrate afresh and learn a step made with the rename)."""
    hidden = _node_dropped_at(6, 1.34, rename=True)
    for k in range(6, 12):
        assert "energy.baseline_step" in ids(hidden.verdict(bucket(k))), k
    # (the meter's reports still name the old id, ``inventory.wrong_location``: no step, though)
    honest = _node_dropped_at(6, PUE, rename=True)
    for k in range(12):
        assert "energy.baseline_step" not in ids(honest.verdict(bucket(k))), k


def test_a_slow_drift_out_of_the_band_is_inconclusive_not_a_violation() -> None:
    ev = baseline_fleet({k: 1.30 + 0.012 * k for k in range(20)}, buckets=20)
    late = ev.verdict(bucket(19))  # ratio 1.53 > 1.4, reached slowly
    assert late.status == INCONCLUSIVE, late.reason
    assert "energy.baseline_drift" in ids(late)


# ---- evidence accumulates -----------------------------------------------------------------------


def test_training_rotated_between_nodes_adds_up_over_the_facility() -> None:
    """Each of three nodes trains six periods in turn (training from its fifth: its start-up
    period, then two stalls resumed from): no node alone shows enough training periods to be
    evidence, the facility does."""
    fleet = Fleet({"fac-a": 6})
    turn = {f"fac-a-n{i:02d}": (6 * i, 6 * i + 6) for i in range(3)}
    fleet.run(
        "fac-a",
        T0,
        20,
        lambda n, k: (TRAINING, TRAINING) if n in turn and turn[n][0] <= k < turn[n][1] else (IDLE, IDLE),
    )
    ev = Evaluator(fleet.inputs(commitment(["fac-a"])))
    v = ev.verdict(bucket(1))
    assert v.status == VIOLATION, v.reason
    critical = [
        f for f in v.findings if f.id == "workload.training" and f.severity == types_pb2.SEVERITY_CRITICAL
    ]
    assert critical
    per_node = [f for f in v.findings if f.id == "workload.training" and f.subject.startswith("node:")]
    assert all(
        {q.name: q.value for q in f.quantities}["window_training_periods"]
        < {q.name: q.value for q in f.quantities}["window_needed"]
        for f in per_node
    )


def test_one_training_like_period_blocks_compliance_but_is_not_evidence() -> None:
    fleet = Fleet({"fac-a": 2})
    fleet.run(
        "fac-a", T0, 10, lambda n, k: (TRAINING, TRAINING) if (n.endswith("00") and k == 4) else (IDLE, IDLE)
    )
    v = Evaluator(fleet.inputs(commitment(["fac-a"]))).verdict(bucket(0))
    assert v.status == INCONCLUSIVE, v.reason
    assert ids(v, types_pb2.SEVERITY_WARNING) & {"workload.training", "workload.low_confidence"}


def test_training_split_across_a_bucket_edge_is_counted_whole() -> None:
    """Training from period 5 to 11 (labelled from period 9: its start-up period, then two
    stalls resumed from): the labels in bucket 1 alone are too few; the window that reaches
    back over the edge has enough."""
    fleet = Fleet({"fac-a": 1})
    fleet.run("fac-a", T0, 20, lambda n, k: (TRAINING, TRAINING) if 5 <= k < 12 else (IDLE, IDLE))
    ev = Evaluator(fleet.inputs(commitment(["fac-a"])))
    first, second = ev.verdict(bucket(0)), ev.verdict(bucket(1))
    assert first.status == INCONCLUSIVE, first.reason
    assert second.status == VIOLATION, second.reason
    tr = next(f for f in second.findings if f.id == "workload.training")
    q = {x.name: x.value for x in tr.quantities}
    assert q["window_training_periods"] >= q["window_needed"]
    assert q["training_s"] / 60 < q["window_needed"]  # bucket 1 alone would not be evidence


def test_the_commitment_level_verdict_sums_energy_over_sites() -> None:
    """Four sites each hide a little under their own threshold; the sum is evidence."""
    sites = [f"fac-{c}" for c in "abcd"]
    fleet = Fleet(dict.fromkeys(sites, 2))
    for fid in sites:
        for k in range(10):
            t = T0 + k * fleet.period_ns
            for node in fleet.node_ids(fid, 2):
                fleet.usage(node, fid, t, IDLE)
            hidden = 700.0 * 1.4  # ~1 accelerator at 700 W, after the band's 1.4
            fleet.meter(fid, t, 2 * fleet.node_power(IDLE) + hidden / PUE * 1.05, pue=PUE)
    ev = Evaluator(fleet.inputs(commitment(sites)))
    per_site = [ev.verdict(bucket(0, fid)) for fid in sites]
    assert all(v.status != VIOLATION for v in per_site)
    total = ev.verdict(BucketRef("", T0, T0 + BUCKET))
    assert total.facility_id == ""
    assert total.status == VIOLATION, total.reason
    assert "energy.unexplained" in ids(total, types_pb2.SEVERITY_CRITICAL)


def test_binomial_evidence_threshold() -> None:
    assert min_training_periods(1) == 2
    assert min_training_periods(60) == 4
    assert min_training_periods(6000) > min_training_periods(60)


def test_documents_are_checked_against_the_commitments_that_cover_them() -> None:
    from pausewatch.documents import ToleranceError, check_tolerances

    c = Commitment.from_wire(
        commitment_from_toml(commitment_text("[tolerances]\noverhead_max_ratio = 1.5\n"), "c")
    )
    wide = Fleet({"fac-a": 1}).inventory_wire("fac-a")
    wide.overhead.max_ratio = 1.55
    with pytest.raises(ToleranceError, match=r"overhead\.max_ratio"):
        check_tolerances([Inventory.from_wire(wide)], [c])
    narrow = Fleet({"fac-a": 1}).inventory_wire("fac-a")
    check_tolerances([Inventory.from_wire(narrow)], [c])  # 1.05–1.4 sits inside 1.0–1.5
    other = Fleet({"fac-z": 1}).inventory_wire("fac-z")
    other.overhead.max_ratio = 2.5
    check_tolerances([Inventory.from_wire(other)], [c])  # not covered by c


def test_silence_kept_under_every_coverage_threshold_still_shows_in_the_baseline() -> None:
    """After calibration, n01's attestor stops two periods of ten (120 s < max_gap, 80 % ≥
    min_time_coverage) and the node trains meanwhile. The band (1.05–1.6) has room for it; the
    scope's calibrated ratio does not."""
    fleet = Fleet({"fac-a": 2})
    for k in range(80):
        t = T0 + k * fleet.period_ns
        evading = k >= 40 and k % 10 in (3, 4)
        total = 0.0
        for node in fleet.node_ids("fac-a", 2):
            if node.endswith("01") and evading:
                total += fleet.node_power(TRAINING)
                continue
            fleet.usage(node, "fac-a", t, INFERENCE)
            total += fleet.node_power(INFERENCE)
        fleet.meter("fac-a", t, total)
    ev = Evaluator(inputs(fleet, commitment(["fac-a"]), {"band": (1.05, 1.6)}))
    assert all(ev.verdict(bucket(k)).status == COMPLIANT for k in range(4))
    for k in range(4, 8):
        v = ev.verdict(bucket(k))
        assert v.status == INCONCLUSIVE, (k, v.reason)
        assert {"energy.baseline_step", "energy.silent_draw"} <= ids(v), (k, v.reason)


def test_overlapping_and_shifted_periods_never_break_the_evaluation() -> None:
    """A hostile attestor signs periods out of order and overlapping (shifted timestamps): the
    classifier still gets a time-ordered history and the bucket is judged, not crashed."""
    fleet = Fleet({"fac-a": 1})
    node = fleet.node_ids("fac-a", 1)[0]
    for start_s in (0, 120, 60, 30, 90, 200, 150, 400, 300, 330):
        fleet.usage(node, "fac-a", T0 + start_s * NS, INFERENCE)
    for k in range(10):
        fleet.meter("fac-a", T0 + k * fleet.period_ns, fleet.node_power(INFERENCE))
    v = Evaluator(fleet.inputs(commitment(["fac-a"]))).verdict(bucket(0))
    assert v.status in (INCONCLUSIVE, VIOLATION, COMPLIANT)
    assert v.findings  # the gaps at least


def _bucket(periods: Sequence[LabelledPeriod]) -> tuple[int, int]:
    """The bucket a test's periods fill: from the first one's start to the last one's end."""
    return periods[0].start_ns, periods[-1].end_ns


def _minutes(labels_samples: Sequence[tuple[str, int]]) -> NodeWorkload:
    """A node's one-minute periods, each (label, samples), drawing 900 W, in a bucket they fill."""
    periods = tuple(
        LabelledPeriod(T0 + k * 60 * NS, T0 + (k + 1) * 60 * NS, 60.0, label, 0.5, k, n, drawn_w=900.0)
        for k, (label, n) in enumerate(labels_samples)
    )
    uncertain = 60.0 * sum(p.label == "uncertain" for p in periods)
    return NodeWorkload(
        "n", 60.0 * len(periods), 0.0, uncertain, 0.0, 0.0, 0.0, 0, (), periods, bucket=_bucket(periods)
    )


def test_a_claimed_low_sample_count_excuses_one_uncertain_period_at_most() -> None:
    """A start or stop leaves one partial period; an attestor claiming few samples for every
    uncertain period it wants excused gets no more than that one."""
    from pausewatch.evaluation.rules import _sustained_uncertainty

    workload = _minutes
    start_only = [("uncertain", 2)] + [("inference", 60)] * 19
    assert not _sustained_uncertainty(workload(start_only))
    claimed = [("uncertain", 2) if k % 4 == 0 else ("inference", 60) for k in range(20)]
    assert _sustained_uncertainty(workload(claimed))


def test_one_sparse_start_a_bucket_is_excused_not_one_every_period() -> None:
    """A daemon's first period, quiet but sampled too sparsely to prove idle with no energy
    counter spanning it (``LabelledPeriod.sparse``), is a start like a partial period: one a
    bucket is excused. An attestor restarted at every period's end (a reviewer's: its counters
    then missed the time between its lives) makes every period one: judged."""
    from pausewatch.evaluation.bucket import LabelledPeriod, NodeWorkload
    from pausewatch.evaluation.rules import _sustained_uncertainty

    def workload(sparse: list[bool]) -> NodeWorkload:
        periods = tuple(
            LabelledPeriod(
                T0 + k * 60 * NS,
                T0 + (k + 1) * 60 * NS,
                60.0,
                "uncertain" if x else "idle",
                0.05,
                k,
                30,
                sparse=x,
                drawn_w=600.0,
            )
            for k, x in enumerate(sparse)
        )
        uncertain = 60.0 * sum(sparse)
        return NodeWorkload(
            "n", 60.0 * len(periods), 0.0, uncertain, 0.0, 0.0, 0.0, 0, (), periods, bucket=_bucket(periods)
        )

    assert not _sustained_uncertainty(workload([True] + [False] * 14))  # a 15-minute bucket, no history
    assert _sustained_uncertainty(workload([True, False, False] * 5))


def test_start_up_periods_back_to_back_are_one_start_up() -> None:
    """A model loading on a node that computes nothing, minute after minute, then the minute the
    server started serving on it: one start-up, not unproven periods in a row (which block
    COMPLIANT). Two starts in a row are two — a device whose memory is taken away and given back
    every minute computes in each (a red team's rotation: an hour of light compute was one
    start-up, COMPLIANT) — and so is anything else after a start, or a load that does not meet
    what follows it."""
    from pausewatch.evaluation.bucket import LabelledPeriod, NodeWorkload
    from pausewatch.evaluation.rules import _sustained_uncertainty
    from pausewatch.evaluation.workload import Startup

    def workload(labels: list[tuple[str, Startup]], gap_after: int | None = None) -> NodeWorkload:
        periods = []
        for k, (label, start) in enumerate(labels):
            shift = 60 * NS if gap_after is not None and k > gap_after else 0
            begin = T0 + k * 60 * NS + shift
            periods.append(
                LabelledPeriod(begin, begin + 60 * NS, 60.0, label, 0.5, k, 60, startup=start, drawn_w=900.0)
            )
        uncertain = 60.0 * sum(p.label == "uncertain" for p in periods)
        return NodeWorkload(  # with an hour of clean history before the bucket
            "n", 60.0 * len(periods), 0.0, uncertain, 0.0, 0.0, 0.0, 0, (), tuple(periods), recent_s=3600.0,
            bucket=_bucket(periods),
        )

    serving: list[tuple[str, Startup]] = [("inference", "")] * 9
    load: tuple[str, Startup] = ("uncertain", "load")
    start: tuple[str, Startup] = ("uncertain", "start")
    unproven: tuple[str, Startup] = ("uncertain", "")
    assert not _sustained_uncertainty(workload([*serving, load, start, *serving]))
    assert not _sustained_uncertainty(workload([*serving, load, load, load, start, *serving]))
    assert _sustained_uncertainty(workload([*serving, start, start, *serving]))
    assert _sustained_uncertainty(workload([*serving, start, load, *serving]))
    assert _sustained_uncertainty(workload([*serving, load, unproven, *serving]))
    assert _sustained_uncertainty(workload([*serving, unproven, start, *serving]))
    assert _sustained_uncertainty(
        workload([*serving, load, start, *serving], gap_after=9)
    )  # they do not meet


def test_lone_periods_without_proof_are_counted_over_the_hour_not_per_bucket() -> None:
    """One lone uncertain period is excused per bucket only while the node's hour before the
    bucket leaves room: 5 % of its periods over the bucket and that hour. Short buckets no
    longer each get one of their own (a minute in every 5-minute bucket is 20 % of the time)."""
    from pausewatch.evaluation.bucket import LabelledPeriod, NodeWorkload
    from pausewatch.evaluation.rules import _sustained_uncertainty

    def workload(labels: list[str], recent: int, recent_no_proof: int) -> NodeWorkload:
        periods = tuple(
            LabelledPeriod(T0 + k * 60 * NS, T0 + (k + 1) * 60 * NS, 60.0, label, 0.5, k, 60, drawn_w=900.0)
            for k, label in enumerate(labels)
        )
        uncertain = 60.0 * labels.count("uncertain")
        return NodeWorkload(
            "n",
            60.0 * len(periods),
            0.0,
            uncertain,
            0.0,
            0.0,
            0.0,
            0,
            (),
            periods,
            recent_s=60.0 * recent,
            recent_no_proof_s=60.0 * recent_no_proof,
            bucket=_bucket(periods),
        )

    five = ["inference", "inference", "uncertain", "inference", "inference"]
    # no history (a node's first bucket, or its first after an hour of silence): one minute of 5
    # is 20 %, not excused (it was: the red team's lone-batchgen-5min-buckets passed its first
    # bucket so) …
    assert _sustained_uncertainty(workload(five, recent=0, recent_no_proof=0))
    # … while 15 minutes of history make one period 5 % of the window
    assert not _sustained_uncertainty(workload(five, recent=15, recent_no_proof=0))
    assert _sustained_uncertainty(workload(five, recent=14, recent_no_proof=0))
    assert not _sustained_uncertainty(workload(five, recent=55, recent_no_proof=2))  # 3 in 60
    assert _sustained_uncertainty(workload(five, recent=55, recent_no_proof=3))  # 4 in 60
    assert _sustained_uncertainty(workload(five, recent=55, recent_no_proof=11))  # one a bucket
    # an hourly bucket keeps its 5 % (three lone periods) after a clean hour
    hour = ["uncertain" if k % 20 == 10 else "inference" for k in range(60)]
    assert not _sustained_uncertainty(workload(hour, recent=60, recent_no_proof=0))
    assert not _sustained_uncertainty(workload(hour, recent=60, recent_no_proof=3))
    assert _sustained_uncertainty(workload(hour, recent=60, recent_no_proof=4))


def test_lone_periods_are_counted_in_time_not_in_periods() -> None:
    """The lone-period allowance is 5 % of the node's time: the periods' lengths are the
    attestor's own say. A red team of rules/14 (2026-12-07): serving reported in 30-s periods and
    each capped training burst as one 60-s period, a burst every 12 minutes, held 8 % of the
    node's time in lone periods that were 4 % of its periods; 120-s bursts between 10-s periods,
    37 %. Periods of one length count as before, and overlapping periods count once."""
    from pausewatch.evaluation.bucket import LabelledPeriod, NodeWorkload
    from pausewatch.evaluation.rules import _sustained_uncertainty

    def node(proven_s: int, lone_s: int, every: int, start: int) -> list[LabelledPeriod]:
        out, t, k = [], start, 0
        while t < start + 3600 * NS:
            lone = k % (every + 1) == 0
            length = (lone_s if lone else proven_s) * NS
            label = "uncertain" if lone else "inference"
            out.append(LabelledPeriod(t, t + length, length / NS, label, 0.2, k, length // NS, drawn_w=1400.0))
            t, k = t + length, k + 1
        return out

    def workload(proven_s: int, lone_s: int, every: int) -> NodeWorkload:
        before, periods = node(proven_s, lone_s, every, T0 - 3600 * NS), node(proven_s, lone_s, every, T0)
        in_bucket = [p for p in periods if p.end_ns <= T0 + 3600 * NS]
        lone = [p for p in before if p.label == "uncertain"]
        return NodeWorkload(
            "n", 3600.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, (), tuple(in_bucket),
            recent_s=3600.0, recent_no_proof_s=sum(p.seconds for p in lone), bucket=(T0, T0 + 3600 * NS),
        )

    assert _sustained_uncertainty(workload(30, 60, 23))  # 5 x 60 s: 8 % of the time
    assert _sustained_uncertainty(workload(30, 120, 21))  # 17 %
    assert _sustained_uncertainty(workload(10, 120, 21))  # 37 %
    assert not _sustained_uncertainty(workload(30, 30, 39))  # 3 x 30 s of 3600: within 5 %
    assert not _sustained_uncertainty(workload(60, 60, 19))  # one minute in 20, as always
    assert _sustained_uncertainty(workload(60, 60, 15))  # one in 16: 3.75 lone minutes an hour
    # serving minutes reported twice over count once in the node's time: 4 lone minutes of 60
    # stay over the share (by periods, 4 of 116 were within it)
    four = workload(60, 60, 14)
    doubled = (*four.periods, *(p for p in four.periods if p.label == "inference"))
    assert _sustained_uncertainty(dataclasses.replace(four, periods=doubled))


def test_a_lone_period_that_outdraws_the_node_s_proven_ones_is_no_allowance() -> None:
    """The lone-period allowance is for the node's own work at its own level: a lone period
    whose accelerators drew over ``LONE_DRAW_MAX`` times the node's most drawing proven period
    of the bucket is not excused (a red team's training bursts of one minute every 20-60
    minutes, truthfully reported, drew 1.19-1.84x and were COMPLIANT before rules/13), nor
    one whose draw or a proven period's is unknown."""
    from pausewatch.evaluation.bucket import LabelledPeriod, NodeWorkload
    from pausewatch.evaluation.rules import LONE_DRAW_MAX, _sustained_uncertainty

    def workload(draws: list[tuple[str, float | None]]) -> NodeWorkload:
        periods = tuple(
            LabelledPeriod(T0 + k * 60 * NS, T0 + (k + 1) * 60 * NS, 60.0, label, 0.36, k, 60, drawn_w=w)
            for k, (label, w) in enumerate(draws)
        )
        uncertain = 60.0 * sum(label == "uncertain" for label, _ in draws)
        return NodeWorkload(
            "n", 60.0 * len(periods), 0.0, uncertain, 0.0, 0.0, 0.0, 0, (), periods, recent_s=3600.0,
            bucket=_bucket(periods),
        )

    def hour(lone_w: float | None, serving_w: float | None = 1000.0) -> NodeWorkload:
        serving = [("inference", 800.0)] * 19 + [("inference", serving_w)]
        return workload(serving + [("uncertain", lone_w)] + [("inference", 800.0)] * 39)

    assert _sustained_uncertainty(hour(1000.0)) is None  # the node's own level
    assert _sustained_uncertainty(hour(1000.0 * LONE_DRAW_MAX)) is None  # at the bound
    why = _sustained_uncertainty(hour(1000.0 * LONE_DRAW_MAX + 1.0))
    assert why is not None
    assert "drew 1151 W" in why, why
    assert "the 1000 W of the node's most drawing proven period" in why, why
    assert _sustained_uncertainty(hour(1800.0)) is not None  # a burst at full power
    assert _sustained_uncertainty(hour(None)) is not None  # its draw unknown
    assert _sustained_uncertainty(hour(900.0, serving_w=None)) is not None  # a proven one's unknown
    # an idle node's lone heavy minute: the price (an honest one-minute burst from idle too)
    idle = [("idle", 480.0)] * 30 + [("uncertain", 1400.0)] + [("idle", 480.0)] * 29
    assert _sustained_uncertainty(workload(idle)) is not None


def test_the_partial_period_left_out_is_held_to_the_same_draw() -> None:
    """A bucket's first partial period (under half the node's typical samples: an attestor that
    started or stopped in it) is left out of the lone-period count, but not out of its draw
    bound: the sample count is the attestor's claim, and a patched one claiming few samples for
    one period a bucket hid a minute of training at any draw every hour (rules/14)."""
    from pausewatch.evaluation.bucket import LabelledPeriod, NodeWorkload
    from pausewatch.evaluation.rules import LONE_DRAW_MAX, _sustained_uncertainty

    def hour(partial_w: float | None, label: str = "uncertain") -> NodeWorkload:
        periods = tuple(
            LabelledPeriod(
                T0 + k * 60 * NS,
                T0 + (k + 1) * 60 * NS,
                60.0,
                label if k == 30 else "inference",
                0.36,
                k,
                12 if k == 30 else 30,
                drawn_w=partial_w if k == 30 else 1000.0,
            )
            for k in range(60)
        )
        return NodeWorkload(
            "n", 3600.0, 0.0, 60.0, 0.0, 0.0, 0.0, 0, (), periods, recent_s=3600.0, bucket=_bucket(periods)
        )

    assert _sustained_uncertainty(hour(1000.0)) is None  # a restart at the node's own level
    assert _sustained_uncertainty(hour(1000.0 * LONE_DRAW_MAX)) is None
    why = _sustained_uncertainty(hour(2800.0))  # a minute of training claimed as a restart
    assert why is not None
    assert "drew 2800 W" in why, why
    assert _sustained_uncertainty(hour(None)) is not None
    # a partial period with proof needs no allowance, whatever it drew
    assert _sustained_uncertainty(hour(2800.0, label="inference")) is None


def test_a_node_silent_over_a_tenth_of_its_hour_leaves_the_bucket_without_proof() -> None:
    """Silences are filled at the node's own mean power in the energy check, so what ran in them
    (training capped at that power) is unproven: over 10 % of the node's last hour silent, some
    of it in this bucket, and the bucket cannot be COMPLIANT; short gaps spread over short
    buckets add up over the hour."""
    fleet = Fleet({"fac-a": 2})
    a, b = fleet.node_ids("fac-a", 2)
    c = commitment(["fac-a"], bucket_s=900)
    # 15-minute buckets; node b silent 3 minutes of every 15 (20 % of its time), node a never
    for k in range(60):
        fleet.usage(a, "fac-a", T0 + k * fleet.period_ns, INFERENCE)
        if k % 15 not in (5, 6, 7):
            fleet.usage(b, "fac-a", T0 + k * fleet.period_ns, INFERENCE)
        fleet.meter("fac-a", T0 + k * fleet.period_ns, 2 * fleet.node_power(INFERENCE))
    ev = Evaluator(fleet.inputs(c))
    span = 900 * NS
    silent = []
    for q in range(4):
        v = ev.verdict(BucketRef("fac-a", T0 + q * span, T0 + (q + 1) * span))
        flagged = [
            f
            for f in v.findings
            if f.id == "workload.low_confidence" and f.subject == f"node:{b}" and "silent for" in f.message
        ]
        silent.append(bool(flagged) and flagged[0].severity == types_pb2.SEVERITY_WARNING)
        assert v.status != COMPLIANT or not flagged
    # 3 of 15 minutes in the first bucket is 20 % of what the node has reported so far: flagged,
    # and so is every later bucket (the hour's silence adds up: 6, 9, 12 of up to 60 minutes)
    assert silent == [True, True, True, True]


def test_a_device_its_node_stops_reporting_may_have_drawn_its_board_power() -> None:
    """Four of a node's eight GPUs fall off the bus but keep drawing power (the meter sees them);
    the node's reports go on without them. Like a silent node, a missing device may have drawn
    its board power meanwhile: the excess is silence's (energy.silent_draw, INCONCLUSIVE), never
    a VIOLATION — and never COMPLIANT."""
    fleet = Fleet({"fac-a": 2})
    lost, other = fleet.node_ids("fac-a", 2)

    def drop_four(r: types_pb2.UsageReport) -> None:
        kept = list(r.accelerators)[4:]
        del r.accelerators[:]
        r.accelerators.extend(kept)

    for k in range(10):
        t = T0 + k * fleet.period_ns
        fleet.usage(lost, "fac-a", t, IDLE, tweak=drop_four if k >= 2 else None)
        fleet.usage(other, "fac-a", t, IDLE)
        # the lost GPUs draw 650 W each: far over what the band can hide
        lost_w = fleet.node_power(IDLE) + (4 * (650.0 - IDLE.power_w) if k >= 2 else 0.0)
        fleet.meter("fac-a", t, lost_w + fleet.node_power(IDLE))
    v = Evaluator(fleet.inputs(commitment(["fac-a"]))).verdict(bucket(0))
    assert v.status == INCONCLUSIVE, [(f.id, f.severity, f.message) for f in v.findings]
    assert "energy.silent_draw" in ids(v)
    assert "inventory.missing" in ids(v) or "continuity.coverage" in ids(v) or "continuity.gap" in ids(v)


def _silence_flags(bucket_s: int, periods: int, silent: Callable[[int], bool]) -> list[bool]:
    """One node of two reports every minute except where ``silent(k)``; for each bucket, whether
    its verdict flags that node's silence (and then is not COMPLIANT)."""
    fleet = Fleet({"fac-a": 2})
    a, b = fleet.node_ids("fac-a", 2)
    for k in range(periods):
        fleet.usage(a, "fac-a", T0 + k * fleet.period_ns, INFERENCE)
        if not silent(k):
            fleet.usage(b, "fac-a", T0 + k * fleet.period_ns, INFERENCE)
        fleet.meter("fac-a", T0 + k * fleet.period_ns, 2 * fleet.node_power(INFERENCE))
    ev = Evaluator(fleet.inputs(commitment(["fac-a"], bucket_s=bucket_s)))
    out = []
    for q in range(periods * 60 // bucket_s):
        v = ev.verdict(BucketRef("fac-a", T0 + q * bucket_s * NS, T0 + (q + 1) * bucket_s * NS))
        flagged = any(
            f.id == "workload.low_confidence" and f.subject == f"node:{b}" and "silent for" in f.message
            for f in v.findings
        )
        assert v.status != COMPLIANT or not flagged
        out.append(flagged)
    return out


def test_a_node_silent_over_a_tenth_of_the_bucket_itself_is_not_proven_even_after_a_clean_hour() -> None:
    """Over the hour alone, a node that begins to stop 2 minutes of every 5 after a clean hour
    passed its first 5-minute buckets (2, 4, 6 silent minutes of 60). The bucket's own share
    counts too; what sits just under it, and the honest restart, are shown beside it."""
    # clean for an hour, then 2 of every 5 minutes silent: every such bucket flagged at once
    evader = _silence_flags(300, 90, lambda k: k >= 60 and k % 5 in (1, 2))
    assert evader == [False] * 12 + [True] * 6
    # just under: 30 s would be a tenth; a whole-minute gap is the least the reports can show,
    # so one silent minute in a 15-minute bucket (6.7 %) after a clean hour stays proven …
    restart = _silence_flags(900, 90, lambda k: k == 67)
    assert restart == [False] * 6
    # … and in a 5-minute bucket (20 %) it is not: that bucket alone is INCONCLUSIVE
    short = _silence_flags(300, 90, lambda k: k == 67)
    assert short == [False] * 13 + [True] + [False] * 4


def test_lone_periods_bunched_into_one_hour_of_a_long_bucket_are_not_lone() -> None:
    """rules/16: the lone-period share held over a bucket longer than an hour let its lone
    periods bunch (a red team, 2026-12-07: 12 one-minute training bursts inside one hour of a
    4-hour bucket, 3 % of it, COMPLIANT); every hour of it is held to the share too."""
    from pausewatch.evaluation.rules import _sustained_uncertainty

    def workload(lone_at: set[int]) -> NodeWorkload:
        return _minutes([("uncertain" if k in lone_at else "inference", 60) for k in range(240)])

    spread = set(range(5, 240, 20))  # 12 of 240 minutes, 3 an hour
    assert not _sustained_uncertainty(workload(spread))
    bunched = set(range(122, 182, 5))  # the same 12 inside one hour
    assert _sustained_uncertainty(workload(bunched))
    # just under: 3 in any hour (any 60 minutes, not the clock's hours), 5 % of it
    assert not _sustained_uncertainty(workload({125, 145, 165} | set(range(5, 120, 20))))
    assert _sustained_uncertainty(workload({122, 137, 152, 167} | set(range(5, 120, 20))))


def test_the_interior_takes_each_moment_s_band_and_fixed_load_within_the_skew() -> None:
    """rules/15 for the fixed load, rules/16 for the band: the most any inventory version in
    force declared within ``EDGE_SKEW_S`` of each moment."""
    from pausewatch.evaluation.folds.balance import EDGE_SKEW_S, _most_within_skew

    skew = int(EDGE_SKEW_S * NS)
    steps = [(0, 1800 * NS, 1.15), (1800 * NS, 3600 * NS, 1.4)]
    got = _most_within_skew(steps, (120 * NS, 3480 * NS))
    assert got == [
        (120 * NS, 1800 * NS - skew, 1.15),
        (1800 * NS - skew, 1800 * NS + skew, 1.4),
        (1800 * NS + skew, 3480 * NS, 1.4),
    ]
    falling = [(0, 1800 * NS, 1.4), (1800 * NS, 3600 * NS, 1.15)]
    assert _most_within_skew(falling, (120 * NS, 3480 * NS))[-1] == (1800 * NS + skew, 3480 * NS, 1.15)


def test_a_steady_interior_is_the_bucket_pro_rata_and_a_long_bucket_s_hour_shows() -> None:
    """``steady_interior`` models a load steady through the bucket; ``worst_hour`` finds the
    hour of a long bucket over the band by 3 σ (rules/16: one ratio a day hid an hour of a
    hidden node's training)."""
    import dataclasses

    from pausewatch.evaluation.bucket import EnergyBalance, balance_decision, steady_interior
    from pausewatch.evaluation.folds.balance import worst_hour

    day = 86400.0
    b = EnergyBalance(
        meters=("m",),
        metered_j=1.3e4 * day,
        reported_j=1e4 * day,
        silent_allowance_j=0.0,
        unexplained_j=0.0,
        accelerator_equivalents=0.0,
        evidence=(),
        metered_max_j=1.3e4 * day,
        sigma_j=0.005 * 1.3e4 * day,
        band=(1.1, 1.3),
        complete=True,
        reference_power_w=700.0,
    )
    inside = steady_interior(b, day)
    assert inside is not None
    assert inside[0] == day - 240.0
    assert inside[1] == pytest.approx(0.0, abs=1e-3)
    assert steady_interior(b, 240.0) is None  # a 4-minute bucket has no interior
    assert balance_decision(dataclasses.replace(b, interior=inside), day) is None
    quiet = (0, 3600 * NS, 0.0, 0.005 * 1.3e4 * 3600)
    loud = (3600 * NS, 7200 * NS, 7000.0 * 3600, 0.005 * 1.3e4 * 3600)
    assert worst_hour(dataclasses.replace(b, hours=(quiet,))) is None
    over = dataclasses.replace(b, interior=inside, hours=(quiet, loud))
    assert worst_hour(over) == loud
    assert balance_decision(over, day) == "unexplained_hour"


def test_the_silence_step_s_noise_is_read_run_to_run_not_over_a_day_s_drift() -> None:
    """rules/16: a daily swing of the overhead spread the runs' means over the day and widened
    the silence step's threshold 16-fold (a red team, 2026-12-07: a node training 4 minutes an
    hour while silent in a day bucket, COMPLIANT). The noise is what a run strays from the next
    one clear of it, where that is less; jitter reads as before."""
    import math
    import random

    from pausewatch.evaluation.folds.balance import _Scopes

    rng = random.Random(7)
    n = 24 * 60
    parts = [(k * 60 * NS, (k + 1) * 60 * NS) for k in range(n)]
    reports = [10_000.0] * n
    jitter = [12_000.0 + rng.gauss(0.0, 30.0) for _ in range(n)]
    swing = [j + 1_000.0 * math.sin(2 * math.pi * k / n) for k, j in enumerate(jitter)]
    flat = _Scopes._step_noise(parts, list(zip(jitter, reports, strict=True)), 240.0)
    drifting = _Scopes._step_noise(parts, list(zip(swing, reports, strict=True)), 240.0)
    assert flat is not None
    assert drifting is not None
    assert flat == pytest.approx(15.0, rel=0.15)  # 30 W over √4 minutes
    assert drifting < 1.2 * flat  # was ~700 W: the swing's spread
    # toggling every other period (to widen the threshold) averages out over the run as before
    toggled = [j + (400.0 if k % 2 else -400.0) for k, j in enumerate(jitter)]
    got = _Scopes._step_noise(parts, list(zip(toggled, reports, strict=True)), 240.0)
    assert got is not None
    assert got < 1.2 * flat
