"""What the meters read while one node is silent (``_Scopes._silence_steps``).

A node's attestor stopped a few minutes an hour keeps its coverage above the commitment's
minimum, and in a large facility the energy it draws meanwhile is a small share of the bucket,
inside the overhead band: the red team's ``silent-train-in-slack`` trained eight GPUs in every
silence and was COMPLIANT. The meters report every period, though: while the node was silent
they read more than while it reported, beyond what the other nodes' reports explain. That step
(over as much as the node's own load strays over as long, at most one accelerator at board
power, × the band's top, plus 3σ of the scope's own per-period noise) is ``energy.silent_draw``
WARNING on the node: no proof, so INCONCLUSIVE. And a node
silent a minute or more while no meter around it read either is the same finding: nothing
measured what it drew."""

from __future__ import annotations

import dataclasses

import pytest

from pausewatch.evaluation import BucketRef, Evaluator
from pausewatch.evaluation.folds.balance import MARGINAL_K, MIN_FIT_PERIODS, _marginal, _Scopes
from pausewatch.inventory import Inventory, MeterScopeGroup
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, INFERENCE, NS, T0, TRAINING, Behaviour, Fleet, commitment

COMPLIANT = types_pb2.VERDICT_STATUS_COMPLIANT
INCONCLUSIVE = types_pb2.VERDICT_STATUS_INCONCLUSIVE
NODES = 16
BUCKET_S = 3600
SILENT = range(20, 23)  # n00 silent these 3 minutes of every hour (95 %: the minimum coverage)


def fleet_with_silence(
    truth: Behaviour,
    *,
    meter_wobble_w: float = 0.0,
    wobble_periods: int = 2,
    node_silent: bool = True,
    meter_silent: bool = False,
) -> Fleet:
    """Sixteen 8-GPU nodes serve for two hours; n00 is silent 3 minutes an hour and does
    ``truth`` meanwhile; the meter may wobble by ±``meter_wobble_w`` in a square wave of
    ``wobble_periods`` periods (a load toggled, a cooling cycle), and be silent in the same
    minutes."""
    fleet = Fleet({"fac-a": NODES})
    for k in range(120):
        t = T0 + k * fleet.period_ns
        total = 0.0
        for node in fleet.node_ids("fac-a", NODES):
            silent = node.endswith("n00") and k % 60 in SILENT
            total += fleet.node_power(truth if silent else INFERENCE)
            if not (silent and node_silent):
                fleet.usage(node, "fac-a", t, INFERENCE)
        total += meter_wobble_w * (1 if (2 * k // wobble_periods) % 2 else -1)
        if not (meter_silent and k % 60 in SILENT):
            fleet.meter("fac-a", t, total)
    return fleet


def verdicts(fleet: Fleet) -> list[types_pb2.Verdict]:
    c = commitment(["fac-a"], bucket_s=BUCKET_S)
    ev = Evaluator(fleet.inputs(c))
    return [
        ev.verdict(BucketRef("fac-a", T0 + k * BUCKET_S * NS, T0 + (k + 1) * BUCKET_S * NS)) for k in range(2)
    ]


def silent_draw(v: types_pb2.Verdict) -> list[types_pb2.Finding]:
    return [f for f in v.findings if f.id == "energy.silent_draw"]


def test_training_in_a_nodes_silences_shows_as_a_step_of_the_meter() -> None:
    for v in verdicts(fleet_with_silence(TRAINING)):
        assert v.status == INCONCLUSIVE, v.reason
        (f,) = silent_draw(v)
        assert (f.subject, f.severity) == ("node:fac-a-n00", types_pb2.SEVERITY_WARNING)
        q = {x.name: x.value for x in f.quantities}
        assert q["silent_s"] == 180
        assert q["excess_w"] > q["threshold_w"]
        # the bucket's balance alone sees nothing: the step is the only energy finding
        assert [x.id for x in v.findings if x.id.startswith("energy.")] == ["energy.silent_draw"]


@pytest.mark.parametrize("truth", [INFERENCE, IDLE], ids=["kept-serving", "rebooted"])
def test_an_honest_silence_is_no_step(truth: Behaviour) -> None:
    # the attestor crashed and the node kept serving, or the node rebooted: the meters read the
    # same or less while it was silent
    for v in verdicts(fleet_with_silence(truth)):
        assert v.status == COMPLIANT, v.reason


def test_a_step_under_one_accelerator_beyond_a_steady_node_s_own_load_is_seen() -> None:
    # One GPU of the silent node at its board power beyond its serving: under the floor of one
    # accelerator at board power this was the price. A red team (2026-12-06) trained all eight
    # H100s of a serving node at a 280-W cap in 6 silent minutes an hour under it, COMPLIANT. The
    # floor is now as much as the node's own load strays over as long (this one serves steadily:
    # 5 % of its mean), at most one accelerator.
    one_more = dataclasses.replace(INFERENCE, power_w=INFERENCE.power_w + 700.0 / 8)
    for v in verdicts(fleet_with_silence(one_more)):
        assert v.status == INCONCLUSIVE, v.reason
        (f,) = silent_draw(v)
        q = {x.name: x.value for x in f.quantities}
        assert q["threshold_w"] < 0.1 * 8 * INFERENCE.power_w * 1.4, q


def test_the_price_a_step_within_the_node_s_own_swings_is_not_seen() -> None:
    # n00 serves 250 W a GPU ± 60 W in 3-minute swings (as long as its silence): its means over
    # as long stray ±480 W (3σ of them more), so a silence drawing 400 or 700 W more than its
    # mean is what an honest node at the top of a swing might draw: not seen, as under the
    # old floor of one accelerator at board power, which still bounds it; 1,400 W more is.
    def swinging(extra_w: float) -> list[types_pb2.Verdict]:
        fleet = Fleet({"fac-a": NODES})
        high = dataclasses.replace(INFERENCE, power_w=INFERENCE.power_w + 60.0)
        low = dataclasses.replace(INFERENCE, power_w=INFERENCE.power_w - 60.0)
        silent_truth = dataclasses.replace(INFERENCE, power_w=INFERENCE.power_w + extra_w / 8)
        for k in range(120):
            t = T0 + k * fleet.period_ns
            total = 0.0
            for node in fleet.node_ids("fac-a", NODES):
                silent = node.endswith("n00") and k % 60 in SILENT
                mine = (high if (k // 3) % 2 else low) if node.endswith("n00") else INFERENCE
                total += fleet.node_power(silent_truth if silent else mine)
                if not silent:
                    fleet.usage(node, "fac-a", t, mine)
            fleet.meter("fac-a", t, total)
        return verdicts(fleet)

    for extra_w in (400.0, 700.0):
        for v in swinging(extra_w):
            assert not silent_draw(v)
    for v in swinging(1400.0):
        assert silent_draw(v)


def test_a_noisy_scope_needs_a_larger_step() -> None:
    # the meter swings ±1.5 kW in a 10-minute cooling cycle: means over the silence's 3 minutes
    # stray by that much, 3σ of them is added to the threshold, and eight GPUs training
    # (≈2.2 kW metered) no longer stand out
    quiet = verdicts(fleet_with_silence(TRAINING))
    noisy = verdicts(fleet_with_silence(TRAINING, meter_wobble_w=1500.0, wobble_periods=10))
    assert all(silent_draw(v) for v in quiet)
    for v in noisy:
        assert not silent_draw(v)


def test_a_load_toggled_every_period_widens_the_threshold_by_a_third_only() -> None:
    # the evader's trick: an unreported 700-W load switched on and off every period. Per period
    # it strays ±700 W (3σ: 2.1 kW, enough to hide eight GPUs' 2.2 kW); over the silence's three
    # periods, by a third of that, and the step shows. (A load toggled at the silence's own
    # length widens it as a cooling cycle does: the test above.)
    for v in verdicts(fleet_with_silence(TRAINING, meter_wobble_w=700.0, wobble_periods=2)):
        (f,) = silent_draw(v)
        q = {x.name: x.value for x in f.quantities}
        assert q["threshold_w"] < 1.05 * 700 * 1.4 + 3 * 700 / 2, q


def test_a_node_silent_while_its_meters_are_silent_too_is_unmetered() -> None:
    # the node and the intake meter stopped together: no step can show, and nothing measured
    # what the node drew in those minutes
    for v in verdicts(fleet_with_silence(TRAINING, meter_silent=True)):
        assert v.status == INCONCLUSIVE, v.reason
        (f,) = silent_draw(v)
        assert f.subject == "node:fac-a-n00"
        assert {q.name: q.value for q in f.quantities} == {"unmetered_silent_s": 180}


@pytest.mark.parametrize(("node_silent", "meter_silent"), [(False, True), (True, False)])
def test_either_silence_alone_is_watched_by_the_other(node_silent: bool, meter_silent: bool) -> None:
    # the meter alone silent (the nodes' reports cover it), or the node alone silent honestly:
    # no silent draw either way. The meter here keeps no energy register, so since rules/19 its
    # 3 minutes unread are time nothing read, and its buckets are not proven COMPLIANT
    fleet = fleet_with_silence(INFERENCE, node_silent=node_silent, meter_silent=meter_silent)
    for v in verdicts(fleet):
        assert not silent_draw(v)
        if meter_silent:
            assert v.status == INCONCLUSIVE, v.reason
            assert v.reason == "not proven: energy.balance_unverifiable"
        else:
            assert v.status == COMPLIANT, v.reason


def test_a_short_meter_gap_inside_the_silence_does_not_hide_the_step() -> None:
    # 30-s periods: n00 silent 3 minutes an hour, training; the meter skips 30 s inside those
    # minutes — too little to be unmetered, and the step is read from the 150 s it covered
    fleet = Fleet({"fac-a": NODES}, period_s=30)
    for k in range(240):
        t = T0 + k * fleet.period_ns
        silent_node = k % 120 in range(40, 46)
        total = 0.0
        for node in fleet.node_ids("fac-a", NODES):
            silent = node.endswith("n00") and silent_node
            total += fleet.node_power(TRAINING if silent else INFERENCE)
            if not silent:
                fleet.usage(node, "fac-a", t, INFERENCE)
        if k % 120 != 42:
            fleet.meter("fac-a", t, total)
    for v in verdicts(fleet):
        assert v.status == INCONCLUSIVE, v.reason
        (f,) = silent_draw(v)
        assert "excess_w" in {q.name for q in f.quantities}


THREE_GPUS = dataclasses.replace(INFERENCE, power_w=INFERENCE.power_w + 3 * 430.0 / 8)


def test_staggered_silences_do_not_cover_for_each_other() -> None:
    # two nodes, each drawing three GPUs' worth more while silent, at different minutes: each
    # caught alone, and still caught together (the other's silence is not this node's reference)
    fleet = Fleet({"fac-a": NODES})
    for k in range(120):
        t = T0 + k * fleet.period_ns
        total = 0.0
        for i, node in enumerate(fleet.node_ids("fac-a", NODES)):
            silent = i < 2 and k % 60 in range(20 + 20 * i, 23 + 20 * i)
            total += fleet.node_power(THREE_GPUS if silent else INFERENCE)
            if not silent:
                fleet.usage(node, "fac-a", t, INFERENCE)
        fleet.meter("fac-a", t, total)
    for v in verdicts(fleet):
        assert v.status == INCONCLUSIVE, v.reason
        assert sorted(f.subject for f in silent_draw(v)) == ["node:fac-a-n00", "node:fac-a-n01"]


def test_a_redundant_meter_that_stops_inside_the_silence_does_not_veto_the_other() -> None:
    # two meters on the intake; the second stops for the node's whole silence: the first, which
    # watched it, decides (and the node's silence was watched, so it is not unmetered)
    fleet = fleet_with_silence(TRAINING)
    for k in range(120):
        if k % 60 not in SILENT:
            t = T0 + k * fleet.period_ns
            fleet.meter("fac-a", t, sum(fleet.node_power(INFERENCE) for _ in range(NODES)), name="fac-a-m2")
    wire = fleet.inventory_wire("fac-a")
    wire.meters.add(
        meter_id="fac-a-m2",
        public_key=fleet.chain("fac-a-m2").signer.public_key.raw,
        scope=wire.meters[0].scope,
    )
    c = commitment(["fac-a"], bucket_s=BUCKET_S)
    base = fleet.inputs(c)
    inputs = dataclasses.replace(base, inventories={"fac-a": Inventory.from_wire(wire)})
    ev = Evaluator(inputs)
    for k in range(2):
        v = ev.verdict(BucketRef("fac-a", T0 + k * BUCKET_S * NS, T0 + (k + 1) * BUCKET_S * NS))
        assert v.status == INCONCLUSIVE, v.reason
        (f,) = silent_draw(v)
        assert "excess_w" in {q.name for q in f.quantities}


@pytest.mark.parametrize(("meter_off", "unmetered"), [(range(41, 46), True), (range(41, 44), False)])
def test_a_silence_the_meters_watched_too_little_of_to_read_a_step_is_unmetered(
    meter_off: range, unmetered: bool
) -> None:
    # 10-s periods, 10-min bucket: n00 silent 70 s (periods 40-46) training. With the meter off
    # 50 s of it, too little is unmetered (under a minute) and too little watched (20 s) for the
    # step: that silence is unmetered. Off 30 s, the 40 s watched are enough for the step.
    fleet = Fleet({"fac-a": 4}, period_s=10)
    for k in range(60):
        t = T0 + k * fleet.period_ns
        total = 0.0
        for node in fleet.node_ids("fac-a", 4):
            silent = node.endswith("n00") and k in range(40, 47)
            total += fleet.node_power(TRAINING if silent else INFERENCE)
            if not silent:
                fleet.usage(node, "fac-a", t, INFERENCE)
        if k not in meter_off:
            fleet.meter("fac-a", t, total)
    c = commitment(["fac-a"], bucket_s=600)
    v = Evaluator(fleet.inputs(c)).verdict(BucketRef("fac-a", T0, T0 + 600 * NS))
    assert v.status == INCONCLUSIVE, v.reason
    (f,) = silent_draw(v)
    names = {q.name for q in f.quantities}
    assert names == (
        {"unmetered_silent_s"} if unmetered else {"silent_s", "excess_w", "threshold_w", "explained_w"}
    )


@pytest.mark.parametrize("truth", [TRAINING, INFERENCE], ids=["evader", "rolling-restarts"])
def test_silences_spread_to_leave_no_reference_are_unproven(truth: Behaviour) -> None:
    # twenty nodes, each silent 3 minutes of the hour, one after another: every node's
    # reference (its own reports while no other node was silent) is gone, so no step can be
    # read. Training in those minutes was COMPLIANT; now every silent node is unproven — and so
    # is an honest fleet restarting its attestors in a rolling wave over the whole hour (the price)
    nodes = 20
    fleet = Fleet({"fac-a": nodes})
    for k in range(60):
        t = T0 + k * fleet.period_ns
        total = 0.0
        for i, node in enumerate(fleet.node_ids("fac-a", nodes)):
            silent = k // 3 == i
            total += fleet.node_power(truth if silent else INFERENCE)
            if not silent:
                fleet.usage(node, "fac-a", t, INFERENCE)
        fleet.meter("fac-a", t, total)
    c = commitment(["fac-a"], bucket_s=BUCKET_S)
    v = Evaluator(fleet.inputs(c)).verdict(BucketRef("fac-a", T0, T0 + BUCKET_S * NS))
    assert v.status == INCONCLUSIVE, v.reason
    found = silent_draw(v)
    assert len(found) == nodes
    assert all({q.name for q in f.quantities} == {"silent_s"} for f in found)


# The ratio the others' change in a silence is explained at (``_Scopes._change_ratio``): the
# marginal ratio, the slope of metered against reported power over the heard time.
def _pairs(
    ratio: float, base_w: float, loads: list[float], meter_noise: list[float]
) -> list[tuple[float, float]]:
    return [(base_w + ratio * r + e, r) for r, e in zip(loads, meter_noise, strict=True)]


LOADS = [40_000.0 + 3_000.0 * ((7 * i) % 11 - 5) / 5 for i in range(50)]  # a serving fleet
NOISE = [60.0 * ((13 * i) % 7 - 3) / 3 for i in range(50)]


def test_the_marginal_ratio_ignores_a_base_load_the_average_carries() -> None:
    fit = _marginal(_pairs(1.15, 1500.0, LOADS, NOISE))
    assert fit is not None
    assert abs(fit.slope - 1.15) < 3 * fit.slope_sigma + 1e-3
    group = MeterScopeGroup(("n00",), (("m",),), (1.1, 1.4), 0.0)
    heard_w = sum(LOADS) / len(LOADS)
    m_heard = 1500.0 + 1.15 * heard_w  # the average: 1.15 + 1500 / 40 kW
    rise = _Scopes._change_ratio(group, (1.1, 1.4), 9000.0, m_heard=m_heard, heard_w=heard_w, fit=fit)
    fall = _Scopes._change_ratio(group, (1.1, 1.4), -9000.0, m_heard=m_heard, heard_w=heard_w, fit=fit)
    assert 1.15 <= rise < m_heard / heard_w  # above the slope, under the inflated average
    assert 1.1 < fall <= 1.15  # under the slope, above the band's bottom


def test_reports_that_hardly_varied_read_the_change_at_the_band_s_strict_end() -> None:
    flat = [40_000.0 + 5.0 * ((3 * i) % 5 - 2) for i in range(50)]  # the reports' own noise only
    fit = _marginal(_pairs(1.25, 0.0, flat, NOISE))
    assert fit is not None
    assert fit.upper() >= 1.4  # a fit, but one that bounds nothing inside the band
    group = MeterScopeGroup(("n00",), (("m",),), (1.1, 1.4), 0.0)
    m_heard, heard_w = 1.25 * 40_000.0, 40_000.0
    # no bound on the slope: what a fall cost is unknown within the band, and it is read at the
    # end that leaves the silent node the least (rules/11 read it at the bottom, the most)
    assert _Scopes._change_ratio(group, (1.1, 1.4), -9000.0, m_heard=m_heard, heard_w=heard_w, fit=fit) == 1.4
    # nor the average (1.25 here): a base load the inventory leaves undeclared inflates it
    assert _Scopes._change_ratio(group, (1.1, 1.4), 9000.0, m_heard=m_heard, heard_w=heard_w, fit=fit) == 1.1


@pytest.mark.parametrize("periods", [2, MIN_FIT_PERIODS - 1])
def test_too_few_heard_periods_read_the_change_at_the_band_s_strict_end(periods: int) -> None:
    # a 10-minute bucket at 60-s meter periods holds at most 9 heard periods beside a silence:
    # no slope, and neither the average ratio (a fixed load declared too high deflates it, one
    # left undeclared inflates it) nor the band's lenient end may explain the change
    pairs = _pairs(1.25, 1500.0, LOADS[:periods], NOISE[:periods])
    fit = _marginal(pairs)
    assert fit is None
    group = MeterScopeGroup(("n00",), (("m",),), (1.1, 1.4), 3000.0)
    heard_w = sum(r for _, r in pairs) / periods
    m_heard = sum(m for m, _ in pairs) / periods
    assert _Scopes._change_ratio(group, (1.1, 1.4), -9000.0, m_heard=m_heard, heard_w=heard_w, fit=fit) == 1.4
    assert _Scopes._change_ratio(group, (1.1, 1.4), 9000.0, m_heard=m_heard, heard_w=heard_w, fit=fit) == 1.1


def test_a_few_wide_minutes_do_not_set_the_fall_s_ratio() -> None:
    # a serving fleet's heard hour at the true 1.25, and two minutes in which the others fall by
    # 9 kW while 1.5 kW of the lab's own load goes on: least squares follows those two minutes
    # far below the truth, the Theil-Sen bound that explains a fall does not
    pairs = _pairs(1.25, 0.0, LOADS, NOISE)
    pumped = [*pairs[:40], *[(1.25 * 31_000.0 + 1500.0 + e, 31_000.0) for e in NOISE[:2]], *pairs[42:]]
    fit = _marginal(pumped)
    assert fit is not None
    bounds = fit.sen_bounds()
    assert bounds is not None
    assert fit.slope - MARGINAL_K * fit.slope_sigma < 1.15  # the tilt
    assert 1.2 < bounds[0] <= 1.25 <= bounds[1]
    clean = _marginal(pairs)
    assert clean is not None
    clean_bounds = clean.sen_bounds()
    assert clean_bounds is not None
    assert 1.2 < clean_bounds[0] <= 1.25 <= clean_bounds[1] < 1.4  # informative: inside the band


def test_a_few_wide_minutes_do_not_set_the_rise_s_ratio() -> None:
    # the rise's side of the tilt: two minutes in which the others serve 12 kW more while 1.2 kW
    # of the lab's own load goes on pull least squares above the truth (1.15), and a base load
    # left undeclared lifts the average over it too; the Theil-Sen bound (over R²) caps the
    # ratio a rise in a silence is explained at near the truth
    pairs = _pairs(1.15, 3000.0, LOADS, NOISE)
    pumped = [*pairs[:40], *[(3000.0 + 1.15 * 52_000.0 + 1200.0 + e, 52_000.0) for e in NOISE[:2]], *pairs[42:]]
    fit = _marginal(pumped)
    assert fit is not None
    assert fit.upper() > 1.2  # the tilt
    heard_w = sum(r for _, r in pumped) / len(pumped)
    m_heard = sum(m for m, _ in pumped) / len(pumped)
    assert m_heard / heard_w > 1.2  # the average
    group = MeterScopeGroup(("n00",), (("m",),), (1.1, 1.4), 0.0)
    rise = _Scopes._change_ratio(group, (1.1, 1.4), 9000.0, m_heard=m_heard, heard_w=heard_w, fit=fit)
    assert 1.15 <= rise < 1.18
