"""What a device's model name may claim: the inventory declares it, the report repeats it, and
the peak table turns it into bounds and a board to judge power against. A name the report does
not bear out, or one the table does not hold, is never a base for COMPLIANT."""

from __future__ import annotations

import dataclasses

import pytest

from pausewatch.evaluation import BucketRef, evaluate_bucket
from pausewatch.evaluation.inputs import EvaluationInput
from pausewatch.inventory import Inventory
from pausewatch.peaks import UNKNOWN_MODEL_PEAK, lookup_peak, memory_beyond, same_part
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, NS, T0, TRAINING, Behaviour, Fleet, commitment
from tests.evaluation.test_threat_model import B0, COMPLIANT, INCONCLUSIVE, VIOLATION, WARN, ids

# A flat 200 W with nothing busy: heavy work against an H100's 700 W (quiet ends at 175 W), quiet
# against the table's largest board (then 1,000 W: at most 25 %, 250 W), which a report that
# named no model was judged against.
LIGHT_200W = Behaviour(200.0, 195.0, 4.0, 0.0, 0.0, None, 500 << 20, 0)


def _fleet(
    claimed: Behaviour,
    model: str | None,
    *,
    limit_w: float | None = 700.0,
    later: Behaviour | None = None,
    memory_total: int | None = 80 << 30,
    tensor_field: bool = True,
) -> Fleet:
    """One node of eight H100s (as declared) for ten minutes, each report naming ``model``
    (None: the declared name) for every device and reporting ``limit_w`` (None: no limit) and
    ``memory_total`` (None: none) bytes of memory, and the tensor-pipe field unless not
    ``tensor_field``; ``later``: ten more minutes of that; the meter reads what the devices
    report."""
    fleet = Fleet({"fac-a": 1})

    def edit(r: types_pb2.UsageReport) -> None:
        for a in r.accelerators:
            if model is not None:
                a.model = model
            if memory_total is None:
                a.ClearField("memory_total_bytes")
            else:
                a.memory_total_bytes = memory_total
            if not tensor_field:
                a.ClearField("tensor_active")
            if limit_w is None:
                a.ClearField("power_limit_w")
            else:
                a.power_limit_w = limit_w

    plan = [claimed] * 10 + ([later] * 10 if later is not None else [])
    for k, b in enumerate(plan):
        fleet.usage("fac-a-n00", "fac-a", T0 + k * 60 * NS, b, tweak=edit)
        fleet.meter("fac-a", T0 + k * 60 * NS, fleet.node_power(b))
    return fleet


def _declared_as(fleet: Fleet, inputs: EvaluationInput, model: str) -> EvaluationInput:
    """``inputs`` with every accelerator of the fleet's inventories declared as ``model``."""
    inventories = {}
    for fid in inputs.inventories:
        wire = fleet.inventory_wire(fid)
        for node in wire.nodes:
            for a in node.accelerators:
                a.model = model
        inventories[fid] = Inventory.from_wire(wire)
    return dataclasses.replace(inputs, inventories=inventories)


def test_one_part_under_two_spellings_agrees_and_two_parts_do_not() -> None:
    assert same_part("NVIDIA H100 80GB HBM3", "H100 SXM")  # one entry of the table
    assert same_part("NVIDIA A800-SXM4-80GB", "NVIDIA A100-SXM4-80GB")  # the A800 is read as the A100
    assert same_part("Future Accelerator X", "future-accelerator x")  # no entry: the names agree
    assert not same_part("NVIDIA H100 80GB HBM3", "NVIDIA T4")
    assert not same_part("NVIDIA H100 80GB HBM3", "Mystery Accelerator 9000")
    assert not same_part("Future Accelerator X", "Future Accelerator Y")
    # a name several parts share agrees with each of them (rocm names PCI 0x740C so)
    assert same_part("AMD Instinct MI250X", "AMD Instinct MI250X / MI250")
    assert same_part("NVIDIA TITAN X (Pascal)", "NVIDIA TITAN X")
    assert not same_part("NVIDIA H100 PCIe", "NVIDIA H100")  # the bare name is the SXM part


def test_the_honest_control_is_compliant() -> None:
    v = evaluate_bucket(_fleet(IDLE, None).inputs(commitment(["fac-a"])), B0)
    assert v.status == COMPLIANT, v.reason


def test_a_report_naming_another_part_than_the_inventory_is_never_compliant() -> None:
    # Idle H100s (70 W) reported as T4s: 70 W is within a T4's board, so nothing overdraws; the
    # report contradicts the lab's own declaration, and that alone is no proof of anything.
    v = evaluate_bucket(_fleet(IDLE, "NVIDIA T4").inputs(commitment(["fac-a"])), B0)
    assert v.status == INCONCLUSIVE
    assert "inventory.model_mismatch" in ids(v, WARN)
    f = next(f for f in v.findings if f.id == "inventory.model_mismatch")
    assert f.subject.startswith("device:GPU-fac-a-n00-")
    assert "NVIDIA T4" in f.message


def test_the_same_part_under_another_spelling_is_no_mismatch() -> None:
    v = evaluate_bucket(_fleet(IDLE, "NVIDIA H100 SXM5 80GB").inputs(commitment(["fac-a"])), B0)
    assert v.status == COMPLIANT, v.reason
    assert "inventory.model_mismatch" not in ids(v)


def test_a_device_that_names_no_model_is_judged_as_its_declaration() -> None:
    # A source that gives no name (a DCGM exporter without modelName, a replayed log): no
    # mismatch, and its power is judged against the declared H100, not the table's largest
    # board. 200 W flat with nothing busy was "every device quiet" against 1,000 W (then the largest): COMPLIANT.
    honest = evaluate_bucket(_fleet(IDLE, "").inputs(commitment(["fac-a"])), B0)
    assert honest.status == COMPLIANT, honest.reason
    assert "inventory.model_mismatch" not in ids(honest)
    v = evaluate_bucket(_fleet(LIGHT_200W, "").inputs(commitment(["fac-a"])), B0)
    assert v.status != COMPLIANT
    assert "inventory.model_mismatch" not in ids(v)
    # the same draw named as the H100 it is was never quiet either
    named = evaluate_bucket(_fleet(LIGHT_200W, None).inputs(commitment(["fac-a"])), B0)
    assert named.status == v.status


def test_a_part_the_table_does_not_hold_is_never_compliant() -> None:
    # Declared and reported alike as a part the table lacks: its bounds take the table's
    # largest figures, which need not bound a newer part, and its quiet is judged against the
    # largest board. Recorded as a WARNING: add the part to pausewatch/peaks.py.
    model = "Future Accelerator X"
    assert lookup_peak(model) is None
    fleet = _fleet(IDLE, model)
    inputs = _declared_as(fleet, fleet.inputs(commitment(["fac-a"])), model)
    v = evaluate_bucket(inputs, B0)
    assert v.status == INCONCLUSIVE
    assert "compute.unknown_model" in ids(v, WARN)
    assert "inventory.model_mismatch" not in ids(v)


def test_unexplained_energy_is_bounded_at_the_scope_s_most_flop_per_joule() -> None:
    # A scope of GB200s (20 PF at up to 1,200 W) and B200s (18 PF at 1,000 W): metered energy no
    # report explains could have run on either. Counted at the largest board's power with the
    # largest densest figure, it was 16.7 TFLOP per J, under the B200's 18: the upper bound was
    # no bound. It is the most FLOP per joule of any part the scope declares.
    models = {"fac-a-n00": "NVIDIA GB200", "fac-a-n01": "NVIDIA B200"}

    def bucket(hidden_w: float) -> types_pb2.Verdict:
        fleet = Fleet({"fac-a": 2})

        def rename(r: types_pb2.UsageReport) -> None:
            for a in r.accelerators:
                a.model = models[r.node_id]

        for k in range(10):
            for node in models:
                fleet.usage(node, "fac-a", T0 + k * 60 * NS, IDLE, tweak=rename)
            fleet.meter("fac-a", T0 + k * 60 * NS, 2 * fleet.node_power(IDLE) + hidden_w)
        wire = fleet.inventory_wire("fac-a")
        for node_wire in wire.nodes:
            for a in node_wire.accelerators:
                a.model = models[node_wire.node_id]
        inputs = dataclasses.replace(
            fleet.inputs(commitment(["fac-a"])), inventories={"fac-a": Inventory.from_wire(wire)}
        )
        return evaluate_bucket(inputs, B0)

    quiet, hidden = bucket(0.0), bucket(20_000.0)
    f = next(f for f in hidden.findings if f.id == "energy.unexplained")
    unexplained_j = next(q.value for q in f.quantities if q.name == "unexplained_j")
    b200 = lookup_peak("NVIDIA B200")
    assert b200 is not None
    added = hidden.compute.upper_flop - quiet.compute.upper_flop
    assert added == pytest.approx(unexplained_j * b200.densest_flops / b200.board_power_w, rel=1e-9)


def test_tensor_work_on_a_part_without_tensor_units_contradicts_its_name() -> None:
    # A red team, 2026-12-06: eight H100s capped at 300 W train under a compute cap, every value
    # true but the name, declared and reported as a Tesla P100 (250 W: 300 W is under 125 % of
    # it, nothing overdraws). Bounded by the P100's FP16 figures the bucket was COMPLIANT; the
    # H100 name breaks the cap (VIOLATION). The P100 has no tensor units, so the tensor-pipe
    # activity its reports carry says it is not one: bounded as a contradicted model is.
    capped = Behaviour(240.0, 100.0, 20000.0, 0.99, 0.6, 0.95, 60 << 30, 60 << 30, 0.5, 8.0, max_w=300.0)
    cap = commitment(
        ["fac-a"], allowed='["idle", "inference", "training"]', extra_rules="compute_cap_flop = 3e17"
    )
    honest = evaluate_bucket(_fleet(capped, None).inputs(cap), B0)
    assert honest.status == VIOLATION
    model = "Tesla P100-PCIE-16GB"
    fleet = _fleet(capped, model)
    v = evaluate_bucket(_declared_as(fleet, fleet.inputs(cap), model), B0)
    assert v.status != COMPLIANT
    assert {"plausibility.power_activity", "compute.unknown_model"} <= ids(v, WARN)
    assert v.compute.upper_flop > honest.compute.lower_flop
    assert any("no tensor units" in f.message for f in v.findings)
    # a P100 that reports no tensor activity and its own 16 GB (nothing says it is not one)
    # keeps its figures
    quiet_tensor = dataclasses.replace(capped, tensor=0.0, memory=12 << 30)
    fleet = _fleet(quiet_tensor, model, memory_total=16_280 << 20)
    v = evaluate_bucket(_declared_as(fleet, fleet.inputs(cap), model), B0)
    assert "compute.unknown_model" not in ids(v)


def test_the_periods_before_a_bucket_are_judged_as_declared_too() -> None:
    # A reviewer's, 2026-12-06: the classifier judged a bucket's own periods as declared but the
    # periods before it by the report's name. A report without a model name or a limit was
    # judged without a board there, and a training job's stalls of the bucket before no longer
    # carried into a bucket of flat compute: VIOLATION became INCONCLUSIVE.
    plateau = Behaviour(560.0, 545.0, 30.0, 0.99, 0.6, 0.95, 60 << 30, 60 << 30, max_w=575.0)
    for model in (None, ""):
        inputs = _fleet(TRAINING, model, limit_w=None, later=plateau).inputs(commitment(["fac-a"]))
        flat = evaluate_bucket(inputs, BucketRef("fac-a", T0 + 600 * NS, T0 + 1200 * NS))
        assert flat.status == VIOLATION, (model, flat.reason)


def test_two_names_bound_compute_as_either_part() -> None:
    # A reviewer's, 2026-12-06: H100 PCIe boards declared by the bare name (the SXM entry) took
    # the denser part's figures for both bounds; the SXM lower bound, 1.3 times the PCIe's,
    # made a compute.cap_exceeded no PCIe part had reached. Bounded as either part: the larger
    # upper figures, the smaller lower bound.
    load = Behaviour(280.0, 100.0, 20000.0, 0.99, 0.6, 0.95, 60 << 30, 60 << 30, 0.5, 8.0, max_w=340.0)
    cap = commitment(
        ["fac-a"], allowed='["idle", "inference", "training"]', extra_rules="compute_cap_flop = 6e17"
    )

    def bucket(declared: str, reported: str) -> types_pb2.Verdict:
        fleet = _fleet(load, reported, limit_w=350.0)
        return evaluate_bucket(_declared_as(fleet, fleet.inputs(cap), declared), B0)

    pcie, sxm = bucket("NVIDIA H100 PCIe", "NVIDIA H100 PCIe"), bucket("NVIDIA H100", "NVIDIA H100")
    for declared, reported in (("NVIDIA H100", "NVIDIA H100 PCIe"), ("NVIDIA H100 PCIe", "NVIDIA H100")):
        v = bucket(declared, reported)
        assert v.status != VIOLATION, v.reason
        assert "inventory.model_mismatch" in ids(v, WARN)
        assert v.compute.lower_flop == pcie.compute.lower_flop
        assert v.compute.upper_flop >= max(pcie.compute.upper_flop, sxm.compute.upper_flop)


# Eight H100s capped at 300 W training under a compute cap their own name breaks, declared and
# reported as Tesla P100s (250 W: nothing overdraws), the tensor field left out as a real P100's
# source leaves it.
P100 = "Tesla P100-PCIE-16GB"
CAPPED_300W = Behaviour(240.0, 100.0, 20000.0, 0.99, 0.6, 0.95, 60 << 30, 60 << 30, 0.5, 8.0, max_w=300.0)
CAP_3E17 = {"allowed": '["idle", "inference", "training"]', "extra_rules": "compute_cap_flop = 3e17"}


def _p100_bucket(behaviour: Behaviour, memory_total: int | None) -> types_pb2.Verdict:
    fleet = _fleet(behaviour, P100, memory_total=memory_total, tensor_field=False)
    return evaluate_bucket(_declared_as(fleet, fleet.inputs(commitment(["fac-a"], **CAP_3E17)), P100), B0)


def test_more_memory_than_the_named_part_carries_contradicts_its_name() -> None:
    # A red team's, 2026-12-06 (the tensor field left out): bounded by the P100's 21 TF the
    # bucket was COMPLIANT. Each device held 60 GiB of its 80: a P100 carries 16 at most.
    for memory_total in (80 << 30, None):  # the total, or the memory used alone, says it
        v = _p100_bucket(CAPPED_300W, memory_total)
        assert v.status != COMPLIANT, memory_total
        assert {"plausibility.power_activity", "compute.unknown_model"} <= ids(v, WARN)
        assert any("more memory than any board" in f.message for f in v.findings)
    # the honest twin: a P100 holding 12 of its 16 GiB (NVML: 16,280 MiB) keeps its figures
    honest = _p100_bucket(dataclasses.replace(CAPPED_300W, tensor=0.0, memory=12 << 30), 16_280 << 20)
    assert "compute.unknown_model" not in ids(honest)
    assert not any("memory" in f.message for f in honest.findings)


def test_real_boards_hold_no_more_than_their_entry_allows() -> None:
    # memory.total as the drivers report it (nvidia-smi -q, rocm-smi; ../shared/data and
    # vendor documentation): each within its part's entry, and a data-centre part's memory
    # beyond the smaller parts an evader would name.
    real = {
        "NVIDIA H100 80GB HBM3": 81_559 << 20,
        "NVIDIA H100 NVL": 95_830 << 20,
        "NVIDIA H200": 143_771 << 20,
        "NVIDIA A100-SXM4-80GB": 81_920 << 20,
        "NVIDIA A10G": 23_028 << 20,
        "Tesla T4": 15_360 << 20,
        "NVIDIA L40S": 46_068 << 20,
        "NVIDIA RTX 4000 Ada Generation": 20_475 << 20,
        "AMD Instinct MI100": 34_342_961_152,
        "AMD Instinct MI300X": 205_822_885_888,
        "NVIDIA GeForce RTX 4090": 49_140 << 20,  # a refitted 48 GB card: still a 4090's die
    }
    for name, total in real.items():
        peak = lookup_peak(name)
        assert peak is not None, name
        assert not memory_beyond(peak, total), name
    h100 = 81_559 << 20
    for smaller in (
        "Tesla P100-PCIE-16GB",
        "Tesla T4",
        "NVIDIA L4",
        "NVIDIA A10G",
        "NVIDIA GeForce RTX 4090",
    ):
        peak = lookup_peak(smaller)
        assert peak is not None, smaller
        assert memory_beyond(peak, h100), smaller
    assert not memory_beyond(UNKNOWN_MODEL_PEAK, 1 << 50)  # a part the table lacks: any amount


@pytest.mark.xfail(
    strict=True,
    reason=(
        "MISS (a lie consistent with the meters): H100s capped at 300 W, named P100s, with the tensor"
        " field left out and the memory reported within a P100's 16 GiB, are bounded by the P100's"
        " 21 TF and COMPLIANT under a cap their own name breaks; only inspection of the declared part"
        " answers it"
    ),
)
def test_a_weaker_part_named_without_tensor_telemetry_is_never_compliant() -> None:
    v = _p100_bucket(dataclasses.replace(CAPPED_300W, memory=15 << 30), 16_280 << 20)
    assert v.status != COMPLIANT


@pytest.mark.xfail(strict=True, reason=(
    "MISS (just under the memory and power checks): H100 80GBs capped at 480 W, named A100 80GBs,"
    " hold no more memory than an A100 80GB board and draw under 125 % of its 400 W: their lower"
    " bound is the A100's, a third of theirs, and a cap their own name breaks is INCONCLUSIVE"
))
def test_a_weaker_part_with_as_much_memory_is_no_cover_for_a_broken_cap() -> None:
    load = Behaviour(450.0, 150.0, 20000.0, 0.99, 0.6, 0.95, 60 << 30, 60 << 30, 0.5, 8.0, max_w=480.0)
    cap = commitment(["fac-a"], allowed='["idle", "inference", "training"]', extra_rules="compute_cap_flop = 6e17")
    assert evaluate_bucket(_fleet(load, None, limit_w=500.0).inputs(cap), B0).status == VIOLATION
    model = "NVIDIA A100-SXM4-80GB"
    fleet = _fleet(load, model, limit_w=500.0)
    v = evaluate_bucket(_declared_as(fleet, fleet.inputs(cap), model), B0)
    assert v.status == VIOLATION, v.reason
