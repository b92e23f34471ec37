"""What the meters read while one node is silent (``_Scopes._silence_steps``).

A node's attestor stopped a few minutes an hour keeps its coverage above the commitment's
minimum, and in a large facility the energy it draws meanwhile is a small share of the bucket,
inside the overhead band: the red team's ``silent-train-in-slack`` trained eight GPUs in every
silence and was COMPLIANT. The meters report every period, though: while the node was silent
they read more than while it reported, beyond what the other nodes' reports explain. That step
(over one accelerator at board power × the band's top, plus 3σ of the scope's own per-period
noise) is ``energy.silent_draw`` WARNING on the node: no proof, so INCONCLUSIVE. And a node
silent a minute or more while no meter around it read either is the same finding: nothing
measured what it drew."""

from __future__ import annotations

import dataclasses

import pytest

from pausewatch.evaluation import BucketRef, Evaluator
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, INFERENCE, NS, T0, TRAINING, Behaviour, Fleet, commitment

COMPLIANT = types_pb2.VERDICT_STATUS_COMPLIANT
INCONCLUSIVE = types_pb2.VERDICT_STATUS_INCONCLUSIVE
NODES = 16
BUCKET_S = 3600
SILENT = range(20, 23)  # n00 silent these 3 minutes of every hour (95 %: the minimum coverage)


def fleet_with_silence(
    truth: Behaviour, *, meter_wobble_w: float = 0.0, node_silent: bool = True, meter_silent: bool = False
) -> Fleet:
    """Sixteen 8-GPU nodes serve for two hours; n00 is silent 3 minutes an hour and does
    ``truth`` meanwhile; the meter may wobble by ``meter_wobble_w`` period to period, and be
    silent in the same minutes."""
    fleet = Fleet({"fac-a": NODES})
    for k in range(120):
        t = T0 + k * fleet.period_ns
        total = 0.0
        for node in fleet.node_ids("fac-a", NODES):
            silent = node.endswith("n00") and k % 60 in SILENT
            total += fleet.node_power(truth if silent else INFERENCE)
            if not (silent and node_silent):
                fleet.usage(node, "fac-a", t, INFERENCE)
        total += meter_wobble_w * (1 if k % 2 else -1)
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


def test_the_price_a_step_under_one_accelerator_is_not_seen() -> None:
    # one GPU of the silent node at its board power beyond its serving: under the floor
    one_more = dataclasses.replace(INFERENCE, power_w=INFERENCE.power_w + 700.0 / 8)
    for v in verdicts(fleet_with_silence(one_more)):
        assert not silent_draw(v)


def test_a_noisy_scope_needs_a_larger_step() -> None:
    # the meter wobbles ±1.5 kW period to period (cooling cycles): 3σ of that is added to the
    # threshold, and eight GPUs training (≈2.2 kW metered) no longer stand out
    quiet = verdicts(fleet_with_silence(TRAINING))
    noisy = verdicts(fleet_with_silence(TRAINING, meter_wobble_w=1500.0))
    assert all(silent_draw(v) for v in quiet)
    for v in noisy:
        assert not silent_draw(v)


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
    # the meter alone silent (the nodes' reports cover it), or the node alone silent honestly
    fleet = fleet_with_silence(INFERENCE, node_silent=node_silent, meter_silent=meter_silent)
    for v in verdicts(fleet):
        assert not silent_draw(v)
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
