"""A declared fixed load (offices, lighting, the cooling plant's base) in the energy balance: the
inventory's ``fixed_load_w``, the commitment's ``tolerances.max_fixed_load_w`` bound (absent:
0), and the balance and ratio baseline subtracting it from every metered figure.

The honest fleet these tests start from: an idle facility whose intake also carries 3 kW no
node reports. Undeclared, the meter exceeds the band by accelerators' worth (a VIOLATION, the
red-team case ``idle-weekend-fixed-load-honest``); declared and allowed, the balance closes."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from pausewatch.commitment import Commitment, commitment_from_toml
from pausewatch.documents import ToleranceError, check_tolerances
from pausewatch.envelope import parse_envelope
from pausewatch.errors import FormatError
from pausewatch.evaluation import BucketRef, Evaluator
from pausewatch.evaluation.bucket import EnergyBalance
from pausewatch.evaluation.evidence import BaselineState, advance_baseline
from pausewatch.evaluation.findings import CRITICAL, WARNING
from pausewatch.evaluation.folds.balance import balance_decision, steady_interior
from pausewatch.evaluation.inputs import EvaluationInput
from pausewatch.inventory import Inventory, inventory_from_toml
from pausewatch.terms import Terms, TermsInForce, TermsViolationError, terms_from_toml
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, INFERENCE, NS, PUE, T0, Fleet, commitment, seeded_signer
from verifier.cli import main as verifier_main

COMPLIANT = types_pb2.VERDICT_STATUS_COMPLIANT
VIOLATION = types_pb2.VERDICT_STATUS_VIOLATION
INCONCLUSIVE = types_pb2.VERDICT_STATUS_INCONCLUSIVE
BUCKET_S = 600
FIXED_W = 3000.0

# ---- the inventory's declaration ----------------------------------------------------------------

KEY = seeded_signer("n1").public_key.raw.hex()
KEY2 = seeded_signer("n2").public_key.raw.hex()
METER_KEY = seeded_signer("m1").public_key.raw.hex()
RACK_KEY = seeded_signer("m2").public_key.raw.hex()


def inventory_text(overhead: str = "", meter_overhead: str = "") -> str:
    return f"""
facility_id = "fac-a"
lab_id = "lab"
version = 1
issued = 2026-01-01T00:00:00Z
[overhead]
min_ratio = 1.1
max_ratio = 1.4
{overhead}
[[nodes]]
node_id = "n1"
attestor_public_key = "{KEY}"
[[nodes.accelerators]]
uuid = "GPU-1"
model = "NVIDIA H100 80GB HBM3"
[[nodes]]
node_id = "n2"
attestor_public_key = "{KEY2}"
[[meters]]
meter_id = "intake"
public_key = "{METER_KEY}"
[[meters]]
meter_id = "rack"
public_key = "{RACK_KEY}"
scope = "rack"
node_ids = ["n1"]
{meter_overhead}
"""


def parsed(overhead: str = "", meter_overhead: str = "") -> Inventory:
    return Inventory.from_wire(inventory_from_toml(inventory_text(overhead, meter_overhead), "inv.toml"))


def test_an_inventory_without_a_fixed_load_declares_none_and_its_bytes_are_unchanged() -> None:
    msg = inventory_from_toml(inventory_text(), "inv.toml")
    assert not any(f.name == "fixed_load_w" for f, _ in msg.overhead.ListFields())
    inv = Inventory.from_wire(msg)
    assert inv.fixed_load_w == 0.0
    assert [g.fixed_load_w for g in inv.scope_groups()] == [0.0, 0.0]


def test_the_facility_fixed_load_belongs_to_its_intake_and_a_scope_band_carries_its_own() -> None:
    inv = parsed("fixed_load_w = 3000", 'overhead = { min_ratio = 1.0, max_ratio = 1.2, fixed_load_w = 150 }')
    assert inv.fixed_load_w == 3000.0
    assert {m.meter_id: m.fixed_load_w for m in inv.meters} == {"intake": 0.0, "rack": 150.0}
    assert {g.node_ids: g.fixed_load_w for g in inv.scope_groups()} == {("n1", "n2"): 3000.0, ("n1",): 150.0}


def test_a_fixed_load_is_not_given_to_a_part_scope_without_its_own_band() -> None:
    fleet = Fleet({"fac-a": 2})
    wire = fleet.inventory_wire("fac-a")
    wire.overhead.fixed_load_w = FIXED_W
    wire.meters.add(
        meter_id="rack", public_key=seeded_signer("rack").public_key.raw, scope=types_pb2.METER_SCOPE_RACK,
        node_ids=["fac-a-n00"],
    )  # fmt: skip
    groups = {g.node_ids: g.fixed_load_w for g in Inventory.from_wire(wire).scope_groups()}
    assert groups == {("fac-a-n00", "fac-a-n01"): FIXED_W, ("fac-a-n00",): 0.0}


@pytest.mark.parametrize(
    ("overhead", "meter_overhead", "field"),
    [
        ("fixed_load_w = -1", "", r"inv\.toml:\d+: overhead\.fixed_load_w: need 0 ≤ W"),
        ("fixed_load_w = nan", "", r"overhead\.fixed_load_w: must be finite"),
        ("fixed_load_w = inf", "", r"overhead\.fixed_load_w: must be finite"),
        ("fixed_load_w = 1e12", "", r"overhead\.fixed_load_w: need 0 ≤ W ≤ 1e\+08"),
        ('fixed_load_w = "3 kW"', "", r"overhead\.fixed_load_w: must be a number"),
        ("", "overhead = { min_ratio = 1.0, max_ratio = 1.2, fixed_load_w = -5 }", r"meters\[1\]\.overhead\.fixed_load_w"),
    ],
)  # fmt: skip
def test_a_fixed_load_that_is_not_a_finite_non_negative_wattage_is_refused_naming_the_field(
    overhead: str, meter_overhead: str, field: str
) -> None:
    with pytest.raises(FormatError, match=field):
        parsed(overhead, meter_overhead)


@pytest.mark.parametrize("watts", [math.nan, math.inf, -0.5, 2e8])
def test_a_wire_inventory_with_a_bad_fixed_load_is_refused(watts: float) -> None:
    wire = Fleet({"fac-a": 1}).inventory_wire("fac-a")
    wire.overhead.fixed_load_w = watts
    with pytest.raises(FormatError, match=r"^overhead\.fixed_load_w: need 0 ≤ W"):
        Inventory.from_wire(wire)


def test_meters_of_one_scope_must_declare_one_fixed_load() -> None:
    wire = Fleet({"fac-a": 2}).inventory_wire("fac-a")
    for name, watts in (("rack-1", 100.0), ("rack-2", 200.0)):
        m = wire.meters.add(
            meter_id=name, public_key=seeded_signer(name).public_key.raw, scope=types_pb2.METER_SCOPE_RACK,
            node_ids=["fac-a-n00"],
        )  # fmt: skip
        m.overhead.min_ratio, m.overhead.max_ratio, m.overhead.fixed_load_w = 1.0, 1.2, watts
    with pytest.raises(FormatError, match=r"meters\[rack-2\]\.overhead: .* share one scope"):
        Inventory.from_wire(wire)


# ---- the commitment's bound ---------------------------------------------------------------------


def commitment_text(tolerances: str = "") -> str:
    return (
        'id = "c"\nversion = 1\nlab_id = "lab"\nfacilities = ["fac-a"]\n'
        "[window]\nstart = 2026-01-01T00:00:00Z\nend = 2026-01-02T00:00:00Z\n"
        f"[tolerances]\n{tolerances}\n"
    )


def bound(tolerances: str = "") -> Commitment:
    return Commitment.from_wire(commitment_from_toml(commitment_text(tolerances), "c.toml"))


def test_a_commitment_without_a_bound_allows_no_fixed_load() -> None:
    c = bound()
    assert c.tolerances.max_fixed_load_w == 0.0
    with pytest.raises(ToleranceError, match=r"overhead\.fixed_load_w: 3000 W is above the bound 0 W"):
        check_tolerances([parsed("fixed_load_w = 3000")], [c])
    check_tolerances([parsed()], [c])  # nothing declared: as before


def test_a_fixed_load_within_the_bound_is_accepted_and_one_beyond_it_refused() -> None:
    c = bound("max_fixed_load_w = 5000")
    check_tolerances([parsed("fixed_load_w = 5000")], [c])
    with pytest.raises(ToleranceError, match=r"meters\[rack\]\.overhead\.fixed_load_w: 5001 W"):
        check_tolerances(
            [parsed("", "overhead = { min_ratio = 1.0, max_ratio = 1.2, fixed_load_w = 5001 }")], [c]
        )


@pytest.mark.parametrize(
    ("value", "problem"),
    [("-1.0", "must be within 0"), ("nan", "must be finite"), ("inf", "must be finite"), ("1e9", "must be within 0")],
)  # fmt: skip
def test_a_bound_outside_physical_sense_is_refused_naming_the_key(value: str, problem: str) -> None:
    with pytest.raises(FormatError, match=rf"c\.toml:\d+: tolerances\.max_fixed_load_w: {problem}"):
        bound(f"max_fixed_load_w = {value}")


def terms_in_force(tolerances: str) -> TermsInForce:
    """Terms over lab ``lab`` for the day of ``bound``'s commitments, with ``tolerances``."""
    terms = Terms.from_wire(
        terms_from_toml(
            'id = "t"\nversion = 1\nparties = ["a"]\n[[labs]]\nlab_id = "lab"\n'
            "[window]\nstart = 2026-01-01T00:00:00Z\nend = 2026-01-02T00:00:00Z\n"
            f"[tolerances]\n{tolerances}\n",
            "terms.toml",
        )
    )
    return TermsInForce.latest([terms])


def test_terms_bound_the_fixed_load_of_commitments_and_inventories() -> None:
    in_force = terms_in_force("max_fixed_load_w = 2000")
    generous = bound("max_fixed_load_w = 5000")
    with pytest.raises(TermsViolationError, match=r"tolerances\.max_fixed_load_w: 5000 is above the terms' bound"):
        in_force.check_commitment(generous)
    assert in_force.effective(generous).commitment.tolerances.max_fixed_load_w == 2000.0
    with pytest.raises(TermsViolationError, match=r"overhead\.fixed_load_w: 3000 W is above the bound 2000 W"):
        in_force.check_inventory(parsed("fixed_load_w = 3000"))


# ---- the balance --------------------------------------------------------------------------------


def balance(metered_w: float, reported_w: float, fixed_w: float = 0.0) -> EnergyBalance:
    """One hour of a scope of 8 H100s at a 1.1-1.4 band, meter accuracy 1 %."""
    metered, reported = metered_w * 3600, reported_w * 3600
    b = EnergyBalance(
        meters=("m",),
        metered_j=metered,
        reported_j=reported,
        silent_allowance_j=0.0,
        unexplained_j=0.0,
        accelerator_equivalents=0.0,
        evidence=(),
        metered_max_j=metered,
        sigma_j=0.005 * metered,
        band=(1.1, 1.4),
        complete=True,
        reference_power_w=700.0,
        fixed_load_j=fixed_w * 3600,
    )
    return dataclasses.replace(b, interior=steady_interior(b, 3600))  # steady: the interior pro rata


def test_balance_decision_subtracts_the_fixed_load_before_the_band() -> None:
    # an idle node (8 × 70 W + 800 W host) at true overhead 1.2, with 3 kW of offices beside it
    reported = 8 * 70 + 800.0
    metered = reported * 1.2 + FIXED_W
    assert balance_decision(balance(metered, reported), 3600) == "violation"
    assert balance_decision(balance(metered, reported, FIXED_W), 3600) is None
    # the price: hidden hardware up to the declared fixed load is not seen ...
    assert balance_decision(balance(reported * 1.2 + FIXED_W, reported, 2 * FIXED_W), 3600) == "over_reported"
    assert balance_decision(balance(reported * 1.2 + 2 * FIXED_W, reported, 2 * FIXED_W), 3600) is None
    # ... and beyond it, it is
    assert balance_decision(balance(metered + 4 * 700 * 1.2, reported, FIXED_W), 3600) == "violation"


def test_the_baseline_ratio_is_taken_after_the_fixed_load() -> None:
    reported = 8 * 70 + 800.0
    state = advance_baseline(BaselineState(), balance(reported * 1.2 + FIXED_W, reported, FIXED_W), True, 0.1)
    assert state.ratio == pytest.approx(1.2)
    # without it the idle ratio is out of the band: calibration does not learn it
    state = advance_baseline(BaselineState(), balance(reported * 1.2 + FIXED_W, reported), True, 0.1)
    assert state.ratio is None


# ---- end to end: signed reports, the real evaluator ---------------------------------------------


def idle_fleet(hidden_w: float = 0.0) -> Fleet:
    """Two idle nodes for an hour; the intake meter also sees ``FIXED_W`` and ``hidden_w``."""
    fleet = Fleet({"fac-a": 2})
    for k in range(60):
        t = T0 + k * fleet.period_ns
        for node in fleet.node_ids("fac-a", 2):
            fleet.usage(node, "fac-a", t, IDLE)
        nodes_w = 2 * fleet.node_power(IDLE)
        fleet.meter("fac-a", t, nodes_w + (FIXED_W + hidden_w) / PUE)
    return fleet


def evaluate(fleet: Fleet, c: Commitment, declared_w: float, buckets: int = 6) -> list[types_pb2.Verdict]:
    wire = fleet.inventory_wire("fac-a")
    wire.overhead.fixed_load_w = declared_w
    base = fleet.inputs(c)
    inputs = EvaluationInput(
        c, {"fac-a": Inventory.from_wire(wire)}, base.reports, base.ingest_findings, base.evaluated_log_size
    )
    ev = Evaluator(inputs)
    return [
        ev.verdict(BucketRef("fac-a", T0 + k * BUCKET_S * NS, T0 + (k + 1) * BUCKET_S * NS)) for k in range(buckets)
    ]


def allowing(watts: float, facilities: tuple[str, ...] = ("fac-a",)) -> Commitment:
    c = commitment(list(facilities), bucket_s=BUCKET_S)
    return dataclasses.replace(c, tolerances=dataclasses.replace(c.tolerances, max_fixed_load_w=watts))


def test_an_idle_fleet_beside_an_undeclared_fixed_load_is_a_violation() -> None:
    verdicts = evaluate(idle_fleet(), allowing(0.0), 0.0)
    assert {v.status for v in verdicts} == {VIOLATION}
    assert all("fixed_load_j" not in {q.name for f in v.findings for q in f.quantities} for v in verdicts)


def test_an_idle_fleet_beside_a_declared_fixed_load_is_compliant() -> None:
    for v in evaluate(idle_fleet(), allowing(FIXED_W), FIXED_W):
        assert v.status == COMPLIANT, v.reason


def test_a_declared_fixed_load_is_cut_to_the_bound_in_force() -> None:
    # an inventory logged before a stricter bound: evaluated with its fixed load cut to it
    verdicts = evaluate(idle_fleet(), allowing(500.0), FIXED_W)
    assert {v.status for v in verdicts} == {VIOLATION}
    (q,) = [q for f in verdicts[0].findings for q in f.quantities if q.name == "fixed_load_j"]
    assert q.value == pytest.approx(500.0 * BUCKET_S)


def test_hardware_hidden_beyond_the_declared_fixed_load_is_a_violation() -> None:
    # four H100s training unseen (4 × 700 W, × the true overhead at the intake)
    for v in evaluate(idle_fleet(hidden_w=4 * 700 * PUE), allowing(FIXED_W), FIXED_W):
        assert v.status == VIOLATION, v.reason
        assert "energy.unexplained" in {f.id for f in v.findings}


# ---- the lab's tool writes it -------------------------------------------------------------------


def test_inventory_sign_carries_the_fixed_load_and_refuses_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verifier_main(["keygen", "--out", str(tmp_path / "lab.key")]) == 0
    sign = ["inventory", "sign", "--key", str(tmp_path / "lab.key"), "--in", str(tmp_path / "inv.toml")]
    (tmp_path / "inv.toml").write_text(inventory_text("fixed_load_w = 3000"))
    assert verifier_main([*sign, "--out", str(tmp_path / "inv.env")]) == 0
    signed = types_pb2.Inventory.FromString(parse_envelope((tmp_path / "inv.env").read_bytes()).payload)
    assert signed.overhead.fixed_load_w == 3000.0
    capsys.readouterr()
    (tmp_path / "inv.toml").write_text(inventory_text("fixed_load_w = -3000"))
    assert verifier_main([*sign, "--out", str(tmp_path / "bad.env")]) == 2
    err = capsys.readouterr().err
    assert "overhead.fixed_load_w: need 0 ≤ W" in err
    assert "Traceback" not in err
    assert not (tmp_path / "bad.env").exists()


# ---- undeclared, after a busy start: not evidence (``evidence.carried_explains``) -------------


NODES = 8
BASE_W = 4000.0  # inside the band (1.05-1.4) while eight nodes serve (ratio 1.38), out of it idle (1.57)


def serving_then_idle(hidden_w: float = 0.0) -> Fleet:
    """Eight nodes serve for 30 minutes, then idle for an hour; the intake also sees ``BASE_W``
    throughout and, from the idle on, ``hidden_w`` (unseen hardware)."""
    fleet = Fleet({"fac-a": NODES})
    for k in range(90):
        t = T0 + k * fleet.period_ns
        b = INFERENCE if k < 30 else IDLE
        for node in fleet.node_ids("fac-a", NODES):
            fleet.usage(node, "fac-a", t, b)
        extra_w = BASE_W + (hidden_w if k >= 30 else 0.0)
        fleet.meter("fac-a", t, NODES * fleet.node_power(b) + extra_w / PUE)
    return fleet


def energy_findings(v: types_pb2.Verdict) -> dict[str, int]:
    return {f.id: f.severity for f in v.findings if f.id.startswith("energy.")}


def test_an_undeclared_fixed_load_that_stands_out_when_the_fleet_idles_is_no_evidence() -> None:
    """The red team's idle-weekend case: inside the band while serving, out of it once idle —
    the metered power fell with the reports at the true overhead, above the band's lowest ratio:
    no new load, so INCONCLUSIVE with the reason, not VIOLATION. Declared, COMPLIANT."""
    verdicts = evaluate(serving_then_idle(), allowing(BASE_W), 0.0, buckets=9)
    assert [v.status for v in verdicts[:3]] == [COMPLIANT] * 3
    for v in verdicts[3:]:
        assert v.status == INCONCLUSIVE, v.reason
        unexplained = [f for f in v.findings if f.id == "energy.unexplained"]
        assert [f.severity for f in unexplained] == [WARNING]
        assert "not evidence: since the scope was last in control" in unexplained[0].message
    assert {v.status for v in evaluate(serving_then_idle(), allowing(BASE_W), BASE_W, buckets=9)} == {COMPLIANT}


def test_hardware_that_starts_as_the_fleet_idles_is_still_a_violation() -> None:
    """Eight H100s switched on the moment the fleet idles: the metered power fell by less than
    the band's lowest ratio times the reports' fall, by accelerators' worth: new load, VIOLATION."""
    verdicts = evaluate(serving_then_idle(hidden_w=8 * 700 * PUE), allowing(BASE_W), 0.0, buckets=9)
    for v in verdicts[3:]:
        assert v.status == VIOLATION, v.reason
        assert energy_findings(v)["energy.unexplained"] == CRITICAL


def test_the_price_new_load_under_the_slack_of_the_fall_is_inconclusive_not_a_violation() -> None:
    """Just under the threshold: hidden load no larger than (true overhead − the band's lowest
    ratio) × the reports' fall looks like a fixed load standing out; it stays INCONCLUSIVE
    (``energy.unexplained`` WARNING), never COMPLIANT."""
    fleet = Fleet({"fac-a": NODES})
    fall_w = NODES * (fleet.node_power(INFERENCE) - fleet.node_power(IDLE))
    slack_w = (PUE - fleet.inventory_wire("fac-a").overhead.min_ratio) * fall_w * 0.8
    verdicts = evaluate(serving_then_idle(hidden_w=slack_w), allowing(BASE_W), 0.0, buckets=9)
    for v in verdicts[3:]:
        assert v.status == INCONCLUSIVE, v.reason
        assert energy_findings(v)["energy.unexplained"] == WARNING


def test_load_carried_before_is_no_evidence_summed_over_sites_either() -> None:
    """Two sites under one commitment, each with an undeclared fixed load standing out once its
    fleet idles: each site is INCONCLUSIVE, and so is the commitment — the sum over sites leaves
    out what a site's own baseline shows is no new load (it used to add both excesses up into a
    VIOLATION). Hardware switched on at one site as it idles is still one, site and sum."""
    sites = ("fac-a", "fac-b")

    def run(hidden_w: float) -> list[types_pb2.Verdict]:
        fleet = Fleet(dict.fromkeys(sites, NODES))
        for fid in sites:
            for k in range(90):
                t = T0 + k * fleet.period_ns
                b = INFERENCE if k < 30 else IDLE
                for node in fleet.node_ids(fid, NODES):
                    fleet.usage(node, fid, t, b)
                extra_w = BASE_W + (hidden_w if k >= 30 and fid == "fac-a" else 0.0)
                fleet.meter(fid, t, NODES * fleet.node_power(b) + extra_w / PUE)
        ev = Evaluator(fleet.inputs(allowing(BASE_W, sites)))
        span = (T0 + 6 * BUCKET_S * NS, T0 + 7 * BUCKET_S * NS)
        return [ev.verdict(BucketRef(fid, *span)) for fid in (*sites, "")]

    *per_site, total = run(0.0)
    assert [v.status for v in per_site] == [INCONCLUSIVE, INCONCLUSIVE]
    assert total.status == INCONCLUSIVE, total.reason
    *per_site, total = run(8 * 700 * PUE)
    assert [v.status for v in per_site] == [VIOLATION, INCONCLUSIVE]
    assert total.status == VIOLATION, total.reason


@pytest.mark.parametrize(("after", "step"), [(1.271, False), (1.406, True), (1.39, True)])
def test_the_first_bucket_after_calibration_is_tested_not_learnt(after: float, step: bool) -> None:
    """A red team's: a hidden GPU switched on right as a two-bucket calibration ended. The first
    bucket after it was learnt, not tested — the only prediction error its σ came from, too
    unsteady, so calibration began afresh from the hidden load — and one just over the band's
    top (1.406 against 1.4, within the balance's noise) was not even learnt: COMPLIANT while
    the scope's ratio had stepped from 1.27. Now μ₀ and σ are what calibration saw, and that
    bucket is tested: a step of 0.12-0.14 is ``step``; the same ratio again is not."""
    reported = 6000.0
    state = BaselineState()
    for ratio in (1.2707, 1.2708):
        state = advance_baseline(state, balance(reported * ratio, reported), True, 0.1)
    assert state.level0 is None  # calibrating
    state = advance_baseline(state, balance(reported * after, reported), False, 0.1)
    assert state.level0 == pytest.approx(1.27075)
    assert state.step is step


@pytest.mark.parametrize(("second", "step"), [(1.2, False), (1.34, False), (1.37, True)])
def test_a_jump_in_calibration_beyond_the_allowed_drift_is_a_step_not_learnt(second: float, step: bool) -> None:
    """A red team's (2026-12-06): with 3-hour buckets calibration lasts two of them, and a
    hidden node switched on in the second moved the ratio 1.18 -> ~1.4 inside a 1.1-1.5 band:
    learnt as overhead, COMPLIANT. A calibration bucket whose ratio rose from what calibration
    had seen by more than ``max_overhead_drift`` (0.1) and 3σ of its own balance (here 0.5 % of
    the metered energy: ~0.02 of the ratio) is a step, and not learnt; a move inside that is
    learnt, as before."""
    reported = 6000.0
    state = advance_baseline(BaselineState(), balance(reported * 1.23, reported), True, 0.1)
    state = advance_baseline(state, balance(reported * second, reported), True, 0.1)
    assert state.step is step
    assert state.calibration == ((1.23,) if step else (1.23, pytest.approx(second)))
    assert state.in_calibration is step


def test_a_fall_in_calibration_beyond_the_allowed_drift_starts_it_afresh_from_the_lower_level() -> None:
    """A ratio that fell from what calibration had learnt by more than the allowed drift says the
    load it learnt from is gone; hidden load only ever raises the ratio. Calibration kept its
    first level and refused the lower one as a step: a hidden GPU on in calibration's first
    bucket and every other one after it was learnt as overhead (``scenarios/
    calibration-starts-on-hidden-load.toml``, COMPLIANT from 2h). It starts afresh from the lower
    level, no finding in the bucket, and the hidden load back on is a step again."""
    reported = 6000.0
    state = advance_baseline(BaselineState(), balance(reported * 1.37, reported), True, 0.1)
    state = advance_baseline(state, balance(reported * 1.23, reported), True, 0.1)
    assert not state.step
    assert state.calibration == (pytest.approx(1.23),)
    state = advance_baseline(state, balance(reported * 1.37, reported), True, 0.1)
    assert state.step
    assert state.in_calibration
    assert state.calibration == (pytest.approx(1.23),)
    # a fall within the drift allowed is learnt, as before
    state = advance_baseline(state, balance(reported * 1.20, reported), True, 0.1)
    assert not state.step
    assert state.calibration == (pytest.approx(1.23), pytest.approx(1.20))


def test_a_fall_in_a_bucket_with_a_filled_silence_is_a_step_not_a_fresh_start() -> None:
    """A reviewer's (2026-12-06): a node rebooted in calibration, its 5 silent minutes filled at
    its mean though it was off, read as a fall; calibration started afresh from it, and the
    facility's normal level after it was a step in every bucket to the end. A fall is a fresh
    start only in a complete bucket; with a silence filled it is a step, as a rise is."""
    reported = 6000.0
    state = advance_baseline(BaselineState(), balance(reported * 1.30, reported), True, 0.1)
    filled = dataclasses.replace(
        balance(reported * 1.15, reported), complete=False, filled_j=reported * 3600
    )
    state = advance_baseline(state, filled, True, 0.1)
    assert state.step
    assert state.calibration == (pytest.approx(1.30),)
    state = advance_baseline(state, balance(reported * 1.30, reported), True, 0.1)
    assert not state.step
    assert state.calibration == (pytest.approx(1.30), pytest.approx(1.30))


def test_hidden_gpus_switched_on_one_by_one_in_calibration_are_held_to_its_spread() -> None:
    """A second red team's (2026-12-06): three hidden GPUs switched on one by one, each step
    +0.055 of the ratio, each held as long as everything before it, kept the calibration's
    median in step (no bucket 0.12 from it) and were learnt, COMPLIANT for 8 hours. The spread
    of what calibration learnt is held to ``max_overhead_drift`` and 3σ: the third step is one."""
    reported = 6000.0
    state = BaselineState()
    for ratio in (1.24, 1.24, 1.295, 1.295, 1.35, 1.35):
        state = advance_baseline(state, balance(reported * ratio, reported), True, 0.1)
        assert not state.step, ratio
    state = advance_baseline(state, balance(reported * 1.405, reported), True, 0.1)
    assert state.step
    assert state.in_calibration
    assert max(state.calibration) == pytest.approx(1.35)


@pytest.mark.parametrize(("after", "step"), [(1.25, False), (1.40, True)])
def test_a_calibration_started_afresh_is_held_to_the_lowest_ratio_learnt(after: float, step: bool) -> None:
    """A calibration too unsteady to learn from (a hidden load switched on and off through it)
    starts afresh; the same red team switched its GPUs on for good just before, and the fresh
    calibration learnt them as overhead. It is held to the lowest ratio learnt before: a fresh
    start 0.2 above it is a step, and not learnt, bucket after bucket; 0.05 above it starts
    calibrating."""
    reported = 6000.0
    state = BaselineState()
    for ratio in (1.20, 1.30, 1.20, 1.30, 1.20, 1.30):
        state = advance_baseline(state, balance(reported * ratio, reported), True, 0.1)
    state = advance_baseline(state, balance(reported * after, reported), False, 0.1)
    assert state.level0 is None  # too unsteady: calibrating afresh
    assert state.floor == pytest.approx(1.20)
    assert state.step is step
    assert state.calibration == (() if step else (pytest.approx(after),))
    state = advance_baseline(state, balance(reported * after, reported), True, 0.1)
    assert state.step is step
