"""The commitment bounds the meter accuracy an inventory declares (``tolerances.max_meter_accuracy``,
absent: 0.05, the hard limit, so that older files keep their meaning; the terms should set it).

Every energy threshold is a multiple of the balance's σ, and a meter's part of σ is half its
declared accuracy class times its reading: a lab declaring its meters loose widened its own
band. Found by a red team: a hidden GPU's 1.9 MJ an hour above the band was 9 σ with the meter
declared at 1 %, under the 3-σ warning at 5 % (COMPLIANT for three hours)."""

from __future__ import annotations

import dataclasses

import pytest

from pausewatch.documents import ToleranceError, check_tolerances
from pausewatch.errors import FormatError
from pausewatch.evaluation import BucketRef, Evaluator
from pausewatch.inventory import Inventory
from pausewatch.terms import TermsViolationError
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, T0, Fleet, commitment
from tests.evaluation.test_fixed_load import bound, terms_in_force

COMPLIANT = types_pb2.VERDICT_STATUS_COMPLIANT


def declared(accuracy: float) -> Inventory:
    wire = Fleet({"fac-a": 2}).inventory_wire("fac-a")
    wire.meters[0].accuracy = accuracy
    return Inventory.from_wire(wire)


def test_absent_the_bound_is_the_hard_limit_and_every_older_declaration_fits() -> None:
    c = bound()
    assert c.tolerances.max_meter_accuracy == 0.05
    check_tolerances([declared(0.01), declared(0.005), declared(0.05)], [c])
    strict = bound("max_meter_accuracy = 0.02")
    with pytest.raises(
        ToleranceError, match=r"meters\[fac-a-meter\]\.accuracy: 0\.05 is above the bound 0\.02"
    ):
        check_tolerances([declared(0.05)], [strict])


def test_a_tighter_bound_refuses_a_looser_meter() -> None:
    c = bound("max_meter_accuracy = 0.005")
    check_tolerances([declared(0.005)], [c])
    with pytest.raises(
        ToleranceError, match=r"meters\[fac-a-meter\]\.accuracy: 0\.01 is above the bound 0\.005"
    ):
        check_tolerances([declared(0.01)], [c])


@pytest.mark.parametrize("value", ["0", "0.0005", "0.1", "nan", "-0.01"])
def test_a_bound_outside_the_meter_classes_is_refused_naming_the_key(value: str) -> None:
    with pytest.raises(FormatError, match=r"c\.toml:\d+: tolerances\.max_meter_accuracy"):
        bound(f"max_meter_accuracy = {value}")


def test_terms_bound_the_meter_accuracy_of_commitments_and_inventories() -> None:
    in_force = terms_in_force("max_meter_accuracy = 0.005")
    generous = bound("max_meter_accuracy = 0.02")
    with pytest.raises(
        TermsViolationError, match=r"tolerances\.max_meter_accuracy: 0\.02 is above the terms' bound"
    ):
        in_force.check_commitment(generous)
    assert in_force.effective(generous).commitment.tolerances.max_meter_accuracy == 0.005
    with pytest.raises(
        TermsViolationError, match=r"meters\[fac-a-meter\]\.accuracy: 0\.01 is above the bound 0\.005"
    ):
        in_force.check_inventory(declared(0.01))


def _hidden_load(accuracy: float, max_accuracy: float) -> types_pb2.Verdict:
    """Two idle 8-GPU nodes report; the meter reads them × 1.1 and 300 W no report explains (a
    hidden GPU at a cap), at the top of the band with the reports' hosts. The inventory declares
    its meter at ``accuracy``; the commitment bounds it at ``max_accuracy`` (an inventory
    already logged is evaluated with its class cut to the bound)."""
    fleet = Fleet({"fac-a": 2})
    for k in range(10):
        t = T0 + k * fleet.period_ns
        for node in fleet.node_ids("fac-a", 2):
            fleet.usage(node, "fac-a", t, IDLE)
        fleet.meter("fac-a", t, 1.1 * (2 * fleet.node_power(IDLE)) + 300.0)
    c = commitment(["fac-a"])
    c = dataclasses.replace(c, tolerances=dataclasses.replace(c.tolerances, max_meter_accuracy=max_accuracy))
    wire = fleet.inventory_wire("fac-a")
    wire.meters[0].accuracy = accuracy
    inputs = dataclasses.replace(fleet.inputs(c), inventories={"fac-a": Inventory.from_wire(wire)})
    return Evaluator(inputs).verdict(BucketRef("fac-a", T0, T0 + 10 * fleet.period_ns))


def test_a_loose_declaration_is_evaluated_at_the_bound() -> None:
    loose = _hidden_load(0.05, 0.05)  # a commitment that allows 5 %: σ hides the 300 W
    assert loose.status == COMPLIANT, loose.reason
    cut = _hidden_load(0.05, 0.01)  # declared 5 %, bounded at 1 %: evaluated at 1 %
    assert cut.status != COMPLIANT, cut.reason
    assert "energy.unexplained" in {f.id for f in cut.findings}
    assert _hidden_load(0.01, 0.01).status == cut.status
