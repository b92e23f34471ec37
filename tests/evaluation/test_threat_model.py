"""One test per threat-model row that evaluation answers, each built from signed reports."""

from __future__ import annotations

import random

import pytest

from pausewatch.evaluation import BucketRef, Evaluator, IngestFinding, compare_verdicts, evaluate_bucket
from pausewatch.evaluation.inputs import EvaluationInput
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, INFERENCE, NS, PUE, T0, TRAINING, Behaviour, Fleet, commitment

COMPLIANT = types_pb2.VERDICT_STATUS_COMPLIANT
VIOLATION = types_pb2.VERDICT_STATUS_VIOLATION
INCONCLUSIVE = types_pb2.VERDICT_STATUS_INCONCLUSIVE
CRIT = types_pb2.SEVERITY_CRITICAL
WARN = types_pb2.SEVERITY_WARNING
B0 = BucketRef("fac-a", T0, T0 + 600 * NS)


def ids(v: types_pb2.Verdict, severity: int | None = None) -> set[str]:
    return {f.id for f in v.findings if severity is None or f.severity == severity}


def steady(b: Behaviour):
    return lambda node, k: (b, b)


def honest(nodes: int = 2, behaviour: Behaviour = IDLE, periods: int = 10) -> Fleet:
    f = Fleet({"fac-a": nodes})
    f.run("fac-a", T0, periods, steady(behaviour))
    return f


# ---- honest controls --------------------------------------------------------------------------


def test_idle_fleet_under_strict_compute_cap_is_compliant() -> None:
    fleet = honest()
    c = commitment(["fac-a"], extra_rules="compute_cap_flop = 1e18")
    v = evaluate_bucket(fleet.inputs(c), B0)
    assert v.status == COMPLIANT, v.reason
    assert v.compute_to_date.upper_flop < 1e18
    assert v.compute.lower_flop == 0.0


def test_paused_fleet_doing_allowed_inference_is_compliant() -> None:
    v = evaluate_bucket(honest(behaviour=INFERENCE).inputs(commitment(["fac-a"])), B0)
    assert v.status == COMPLIANT, v.reason
    assert "workload.inference" in ids(v)
    assert not ids(v, CRIT)


# ---- go silent ----------------------------------------------------------------------------------


def test_silent_node_is_a_gap_never_compliant() -> None:
    fleet = Fleet({"fac-a": 2})
    fleet.run("fac-a", T0, 10, lambda n, k: (IDLE, None if (n.endswith("01") and 2 <= k < 6) else IDLE))
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert v.status == INCONCLUSIVE
    gap = next(f for f in v.findings if f.id == "continuity.gap")
    assert gap.subject == "node:fac-a-n01"
    assert {q.name: q.value for q in gap.quantities}["gap_s"] == 240.0


def test_attestor_silent_to_the_end_is_a_timeout_not_a_gap() -> None:
    fleet = Fleet({"fac-a": 2})
    fleet.run("fac-a", T0, 10, lambda n, k: (IDLE, None if (n.endswith("01") and k >= 3) else IDLE))
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert v.status == INCONCLUSIVE
    assert "continuity.timeout" in ids(v)
    assert "continuity.gap" not in ids(v)


def test_silent_time_counts_at_peak_in_the_upper_bound() -> None:
    fleet = Fleet({"fac-a": 1})
    fleet.run("fac-a", T0, 10, lambda n, k: (IDLE, IDLE if k < 5 else None))
    c = commitment(["fac-a"], extra_rules="compute_cap_flop = 1e18")
    v = evaluate_bucket(fleet.inputs(c), B0)
    assert v.compute.upper_flop >= 8 * 300 * 3958e12
    assert "compute.cap_at_risk" in ids(v, WARN)


def test_whole_facility_silent_is_inconclusive_not_violation() -> None:
    fleet = Fleet({"fac-a": 2})
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert v.status == INCONCLUSIVE
    assert "continuity.timeout" in ids(v)


# ---- replay, pre-generation, equivocation, rollback -----------------------------------------------


def test_equivocation_two_reports_same_seq_is_a_violation() -> None:
    fleet = honest(nodes=1, periods=10)
    node = "fac-a-n00"
    first = next(r for r in fleet.log if r.header.subject_id == node and r.header.seq == 3)
    fleet.usage(node, "fac-a", first.header.period_start_ns, INFERENCE, seq=3, prev=first.header.prev)
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert v.status == VIOLATION
    fork = next(f for f in v.findings if f.id == "chain.fork")
    assert fork.severity == CRIT
    assert fork.evidence_log_indices


def test_rollback_after_restart_is_a_violation() -> None:
    fleet = honest(nodes=1, periods=10)
    node = "fac-a-n00"
    old = next(r for r in fleet.log if r.header.subject_id == node and r.header.seq == 4)
    fleet.chain(node).restart(b"\x01" * 16)  # a new daemon start, restored from an old state
    fleet.usage(
        node,
        "fac-a",
        old.header.period_start_ns,
        IDLE,
        seq=4,
        prev=old.header.prev,
        tweak=lambda r: setattr(r, "attestor_version", "restored"),
    )
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert v.status == VIOLATION
    assert "chain.rollback" in ids(v, CRIT)


def test_restart_is_recorded_but_not_a_violation() -> None:
    fleet = Fleet({"fac-a": 1})
    fleet.run("fac-a", T0, 5, steady(IDLE))
    fleet.chain("fac-a-n00").restart(b"\x02" * 16)
    fleet.run("fac-a", T0 + 5 * 60 * NS, 5, steady(IDLE))
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert v.status == COMPLIANT, v.reason
    assert "chain.new_boot" in ids(v, types_pb2.SEVERITY_INFO)


def test_withheld_reports_leave_a_chain_gap() -> None:
    fleet = Fleet({"fac-a": 1})
    fleet.run("fac-a", T0, 3, steady(IDLE))
    fleet.chain("fac-a-n00").skip(2)
    fleet.run("fac-a", T0 + 5 * 60 * NS, 5, steady(IDLE))
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert v.status == INCONCLUSIVE
    assert "chain.gap" in ids(v, WARN)


def test_stale_challenge_from_ingest_blocks_compliance() -> None:
    fleet = honest(nodes=1)
    r = fleet.log[0]
    stale = IngestFinding(
        "freshness.stale_challenge",
        r.log_index,
        r.header.key_id,
        "fac-a",
        "node:fac-a-n00",
        r.header.period_start_ns,
        r.header.period_end_ns,
        "expired",
    )
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"]), extra_ingest=(stale,)), B0)
    assert v.status == INCONCLUSIVE
    assert "freshness.stale_challenge" in ids(v, WARN)


# ---- fabricated telemetry -------------------------------------------------------------------------


def test_claimed_idle_while_training_shows_as_unexplained_energy() -> None:
    fleet = Fleet({"fac-a": 4})
    fleet.run("fac-a", T0, 10, lambda n, k: (TRAINING, IDLE))
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert v.status == VIOLATION
    f = next(f for f in v.findings if f.id == "energy.unexplained")
    assert f.severity == CRIT
    assert {q.name: q.value for q in f.quantities}["accelerator_equivalents"] > 10


def test_training_signature_where_training_is_forbidden_is_a_violation() -> None:
    v = evaluate_bucket(honest(behaviour=TRAINING).inputs(commitment(["fac-a"])), B0)
    assert v.status == VIOLATION
    assert "workload.training" in ids(v, CRIT)
    assert v.compute.lower_flop > 0


def test_training_allowed_is_only_recorded() -> None:
    c = commitment(["fac-a"], allowed='["idle", "inference", "training"]')
    v = evaluate_bucket(honest(behaviour=TRAINING).inputs(c), B0)
    assert v.status == COMPLIANT, v.reason
    assert "workload.training" in ids(v, types_pb2.SEVERITY_INFO)


def test_power_that_contradicts_activity_is_implausible() -> None:
    hot_idle = Behaviour(450.0, 440.0, 5.0, 0.0, 0.0, None, 1 << 30, 0)
    v = evaluate_bucket(honest(nodes=1, behaviour=hot_idle).inputs(commitment(["fac-a"])), B0)
    assert v.status == INCONCLUSIVE
    assert "plausibility.power_activity" in ids(v, WARN)


def test_counter_running_backwards_is_flagged() -> None:
    fleet = Fleet({"fac-a": 1})
    fleet.run("fac-a", T0, 10, steady(IDLE))
    fleet.usage(
        "fac-a-n00",
        "fac-a",
        T0 + 9 * 60 * NS,
        IDLE,
        tweak=lambda r: setattr(r.accelerators[0], "energy_j", -500.0),
    )
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert "plausibility.counter_backwards" in ids(v, WARN)


def test_values_flagged_invalid_are_never_evidence_of_compliance() -> None:
    fleet = Fleet({"fac-a": 1})

    def flag(r: types_pb2.UsageReport) -> None:
        r.anomalies.add(
            kind=types_pb2.ANOMALY_KIND_NAN,
            metric="power_w",
            device_uuid=r.accelerators[0].uuid,
            raw_value="nan",
            at_unix_ns=r.period_start_unix_ns,
            count=3,
        )

    for k in range(10):
        fleet.usage("fac-a-n00", "fac-a", T0 + k * 60 * NS, IDLE, tweak=flag)
        fleet.meter("fac-a", T0 + k * 60 * NS, fleet.node_power(IDLE))
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert v.status == INCONCLUSIVE
    assert "telemetry.invalid" in ids(v, WARN)
    assert "continuity.gap" in ids(v, WARN)  # the flagged device is not covered


# ---- hidden or undeclared accelerators ---------------------------------------------------------


def test_undeclared_accelerator_in_a_report() -> None:
    fleet = Fleet({"fac-a": 1})
    for k in range(10):
        fleet.usage(
            "fac-a-n00",
            "fac-a",
            T0 + k * 60 * NS,
            IDLE,
            tweak=lambda r: r.accelerators.add(
                uuid="GPU-smuggled", model="NVIDIA H100 80GB HBM3", sample_count=60, busy_fraction=0.0
            ),
        )
        fleet.meter("fac-a", T0 + k * 60 * NS, fleet.node_power(IDLE))
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    f = next(f for f in v.findings if f.id == "inventory.unknown_device")
    assert f.subject == "device:GPU-smuggled"
    assert v.status == INCONCLUSIVE


def test_declared_accelerator_missing_from_reports() -> None:
    fleet = Fleet({"fac-a": 1})
    for k in range(10):
        fleet.usage("fac-a-n00", "fac-a", T0 + k * 60 * NS, IDLE, tweak=lambda r: r.accelerators.pop())
        fleet.meter("fac-a", T0 + k * 60 * NS, fleet.node_power(IDLE))
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert v.status == INCONCLUSIVE
    assert next(f for f in v.findings if f.id == "inventory.missing").subject == "device:GPU-fac-a-n00-7"


def test_report_from_a_node_not_where_the_inventory_puts_it() -> None:
    fleet = Fleet({"fac-a": 1})
    for k in range(10):
        fleet.usage(
            "fac-a-n00", "fac-a", T0 + k * 60 * NS, IDLE, tweak=lambda r: setattr(r, "facility_id", "fac-z")
        )
        fleet.meter("fac-a", T0 + k * 60 * NS, fleet.node_power(IDLE))
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"])), B0)
    assert "inventory.wrong_location" in ids(v, WARN)


def test_no_meter_means_energy_balance_unverifiable() -> None:
    v = evaluate_bucket(honest().inputs(commitment(["fac-a"]), meters=False), B0)
    assert v.status == INCONCLUSIVE
    assert "energy.balance_unverifiable" in ids(v, WARN)


# ---- caps and splitting ------------------------------------------------------------------------------


def test_metered_power_over_the_cap_is_a_violation() -> None:
    c = commitment(["fac-a"], extra_rules='[[rules.power_caps]]\nfacility = "fac-a"\nmax_power_w = 5000.0')
    v = evaluate_bucket(honest(nodes=2, behaviour=INFERENCE).inputs(c), B0)
    assert v.status == VIOLATION
    f = next(f for f in v.findings if f.id == "power.cap_exceeded")
    assert f.evidence_log_indices


@pytest.mark.parametrize(
    ("cap_of_reading", "status", "finding", "why"),
    [
        # past the edges (rules/16): no neighbour logged, a 10-minute bucket shifted 120 s reads 0.8 of it
        (0.78, VIOLATION, "power.cap_exceeded", ""),  # 0.8 read 2.6 % over: beyond the meter's 1 %
        (0.795, INCONCLUSIVE, "power.cap_unverifiable", "every shift"),  # 0.6 % over: within it
        (0.985, INCONCLUSIVE, "power.cap_unverifiable", "every shift"),  # over only with an edge
        (0.995, INCONCLUSIVE, "power.cap_unverifiable", "within the meters' accuracy"),  # 0.5 % over
        (1.005, INCONCLUSIVE, "power.cap_unverifiable", "within the meters' accuracy"),  # 0.5 % under
        (1.02, COMPLIANT, None, ""),
    ],
)
def test_a_cap_is_judged_with_the_meter_s_accuracy(
    cap_of_reading: float, status: int, finding: str | None, why: str
) -> None:
    # rules/14: a single intake meter of class 0.01 reading 1 % high put an honest fleet at 99.4 %
    # of its cap in VIOLATION (a review, 2026-12-07); exceeded only beyond the meter's accuracy,
    # kept only within it
    fleet = honest(nodes=2, behaviour=INFERENCE)
    reading = 2 * fleet.node_power(INFERENCE) * PUE
    cap = f'[[rules.power_caps]]\nfacility = "fac-a"\nmax_power_w = {reading * cap_of_reading!r}'
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"], extra_rules=cap)), B0)
    assert v.status == status, [(f.id, f.message) for f in v.findings]
    caps = [f for f in v.findings if f.id.startswith("power.cap")]
    assert [f.id for f in caps] == ([finding] if finding else []), caps
    assert why in (caps[0].message if caps else "")


def test_a_cap_is_read_past_the_bucket_s_edges() -> None:
    """rules/15: a clock within the skew tolerated (120 s) reads that much of the bucket before or
    after into a bucket. A demand controller's 3-minute burst after a 15-minute bucket's edge, the
    meter 90 s slow, put the bucket before over its 7.5 kW cap (an honest-fleet hunt,
    2026-12-07, ``scenarios/power-cap-demand-interval-meter-slow-honest.toml``): past its edges
    it is under. rules/16: the interior's mean bounds nothing of the bucket's (a 10-minute burst
    in the middle of an interval idle at its edges, ``power-cap-burst-mid-interval-meter-slow-
    honest.toml``); the least mean over the bucket shifted within the skew counts, its
    neighbours' readings read where they are logged, nothing where they are not."""
    from pausewatch.evaluation.folds.balance import past_edges
    from pausewatch.evaluation.intervals import Cumulative

    span = (0, 900 * NS)

    def read(pieces: list[tuple[float, float, float]]) -> float:
        parts = [((round(a * NS), round(b * NS)), w * (b - a)) for a, b, w in pieces]
        energy = Cumulative(parts, 0)
        cuts = sorted({t for (a, b), _ in parts for t in (a, b)})
        return past_edges(span, lambda w: energy.between(*w), cuts)

    assert read([(0, 810, 6700.0), (810, 900, 18800.0)]) < 7500.0  # the slow meter's bucket: 8.1 kW
    # a burst in the middle, idle edges: 7.67 kW over the bucket, 8.33 over the interior
    mid = [(-120, 150, 5000.0), (150, 750, 9000.0), (750, 1020, 5000.0)]
    assert read(mid) == pytest.approx(7666.67, rel=1e-4)
    assert read(mid) < 7700.0
    # steady over the cap, the neighbours' readings logged: read over it whatever the shift
    assert read([(-120, 1020, 7700.0)]) == pytest.approx(7700.0)
    # the neighbours' readings not (yet) logged: the bucket less either edge's 120 s
    assert read([(0, 900, 7700.0)]) == pytest.approx(7700.0 * 780 / 900)
    assert read([(0, 300, 6000.0), (300, 900, 11000.0)]) > 7500.0  # far over after 5 minutes
    # the least lies between the grid's steps: a step 50 s after the bucket's end
    step = [(-120, 950, 7000.0), (950, 1020, 20000.0)]
    assert read(step) == pytest.approx(7000.0)
    # what it concedes: excess only within 120 s of the edges, the neighbours low
    edges = [(-120, 0, 5000.0), (0, 120, 15000.0), (120, 780, 6000.0), (780, 900, 15000.0), (900, 1020, 5000.0)]
    assert read(edges) < 7500.0
    # kept must hold at every shift: a burst in the bucket's last 2 minutes, its meter 120 s slow,
    # lands in the next bucket's readings, the bucket's own reading 6 kW under a 7 kW cap
    late = [(-120, 900, 6000.0), (900, 1020, 15000.0)]
    parts = [((round(a * NS), round(b * NS)), w * (b - a)) for a, b, w in late]
    energy = Cumulative(parts, 0)
    cuts = sorted({t for (a, b), _ in parts for t in (a, b)})
    assert energy.between(*span) / 900 == pytest.approx(6000.0)
    assert past_edges(span, lambda w: energy.between(*w), cuts, most=True) == pytest.approx(7200.0)
    # a bucket under 5 minutes is read the same way
    short = (0, 240 * NS)
    assert past_edges(short, lambda w: (w[1] - w[0]) / NS * 9000.0) == pytest.approx(9000.0)


def test_a_cap_kept_steadily_over_is_exceeded_once_the_neighbours_readings_are_logged() -> None:
    """rules/16: the bucket shifted by the skew reads its neighbours' meter readings, so a load
    steadily 1.5 % over the cap is exceeded beyond the meter's 1 % class in a bucket with
    readings logged on both sides; with none logged before it (the window's first bucket) the
    120 s it might have read there count nothing: unverifiable, never exceeded."""
    fleet = honest(nodes=2, behaviour=INFERENCE, periods=30)
    reading = 2 * fleet.node_power(INFERENCE) * PUE
    cap = f'[[rules.power_caps]]\nfacility = "fac-a"\nmax_power_w = {reading * 0.985!r}'
    ev = Evaluator(fleet.inputs(commitment(["fac-a"], extra_rules=cap)))
    first, middle = ev.verdict(B0), ev.verdict(BucketRef("fac-a", T0 + 600 * NS, T0 + 1200 * NS))
    assert "power.cap_exceeded" in ids(middle, CRIT), [(f.id, f.message) for f in middle.findings]
    assert middle.status == VIOLATION
    assert "power.cap_unverifiable" in ids(first)
    assert first.status == INCONCLUSIVE


def test_a_neighbour_s_readings_logged_later_revise_the_cap_as_from_scratch() -> None:
    """The next bucket's first readings change what a bucket's cap reads past its edge: an
    evaluator extended with them drops that bucket's facts and judges it as one that read them
    from the start (the scheduler's incremental evaluation, the auditor's staleness check)."""
    import dataclasses

    fleet = honest(nodes=2, behaviour=INFERENCE, periods=30)
    reading = 2 * fleet.node_power(INFERENCE) * PUE
    cap = f'[[rules.power_caps]]\nfacility = "fac-a"\nmax_power_w = {reading * 0.985!r}'
    whole = fleet.inputs(commitment(["fac-a"], extra_rules=cap))
    middle = BucketRef("fac-a", T0 + 600 * NS, T0 + 1200 * NS)
    end_of_middle = T0 + 1200 * NS
    early = [r for r in whole.reports if r.header.period_end_ns <= end_of_middle]
    size = max(r.log_index for r in early) + 1
    assert all(r.log_index < size for r in early)

    def until_middle(inputs: EvaluationInput) -> Evaluator:
        """An evaluator of what was logged by the middle bucket's end."""
        ingest = tuple(g for g in inputs.ingest_findings if g.end_ns <= end_of_middle)
        return Evaluator(dataclasses.replace(inputs, reports=tuple(early), ingest_findings=ingest, evaluated_log_size=size))

    ev = until_middle(whole)
    assert ev.verdict(middle).status == INCONCLUSIVE  # nothing logged after it yet
    later = [r for r in whole.reports if r.log_index >= size]
    touched = ev.extend(later, [g for g in whole.ingest_findings if g.end_ns > end_of_middle], len(whole.reports))
    assert ("fac-a", middle.start_ns) in touched
    revised, fresh = ev.verdict(middle), Evaluator(whole).verdict(middle)
    assert revised.status == VIOLATION
    assert revised.SerializeToString(deterministic=True) == fresh.SerializeToString(deterministic=True)
    # without a cap nothing reads them: the bucket before is not judged again for them
    ev = until_middle(dataclasses.replace(whole, commitment=commitment(["fac-a"])))
    touched = ev.extend(later, [g for g in whole.ingest_findings if g.end_ns > end_of_middle], len(whole.reports))
    assert ("fac-a", middle.start_ns) not in touched


def test_reports_over_the_cap_that_the_meters_contradict_are_no_violation() -> None:
    # a GPU's energy counter read all at once as it returns to the bus put three hours of its
    # draw into one report: "the nodes' own signed reports exceed the power cap", VIOLATION, with
    # the meter proving the cap kept (a review, 2026-12-07). Where the meters prove it kept, the
    # reports' excess is theirs to explain (balance, plausibility); without a meter it stands.
    fleet = Fleet({"fac-a": 2})
    fleet.run("fac-a", T0, 10, lambda node, k: (IDLE, TRAINING))
    true_w = 2 * fleet.node_power(IDLE) * PUE
    reported_w = 2 * fleet.node_power(TRAINING)
    assert reported_w > 1.1 * true_w
    cap = f'[[rules.power_caps]]\nfacility = "fac-a"\nmax_power_w = {1.1 * true_w!r}'
    c = commitment(["fac-a"], extra_rules=cap)
    v = evaluate_bucket(fleet.inputs(c), B0)
    assert "power.cap_exceeded" not in ids(v), [(f.id, f.message) for f in v.findings]
    assert v.status != COMPLIANT
    unmetered = evaluate_bucket(fleet.inputs(c, meters=False), B0)
    assert "power.cap_exceeded" in ids(unmetered, CRIT)
    # rules/16: nor where the meters, within their class of the cap, do not prove it kept: the
    # reports stand over the meters' upper bound, which contradicts them (a hunt, 2026-12-07)
    near = commitment(["fac-a"], extra_rules=cap.replace(repr(1.1 * true_w), repr(0.995 * true_w)))
    v = evaluate_bucket(fleet.inputs(near), B0)
    assert "power.cap_exceeded" not in ids(v), [(f.id, f.message) for f in v.findings]
    assert "power.cap_unverifiable" in ids(v)


def test_a_gpu_counter_read_on_its_return_to_the_bus_is_no_evidence_of_a_broken_cap() -> None:
    # rules/20 (an honest-fleet hunt of rules/19): with no meter reading the bucket the reports
    # stand as the cap's evidence, and a GPU's counter read on its return to the bus, three hours
    # of its 200 W in one period of a node without a BMC, put them over it: VIOLATION. An
    # accelerator counts for the cap at most at 125 % of its board over its period.
    fleet = Fleet({"fac-a": 2})
    for k in range(10):
        for i in range(2):
            def tweak(r: types_pb2.UsageReport, back: bool = i == 1 and k == 5) -> None:
                r.node.ClearField("bmc_energy_j")
                if back:
                    r.accelerators[0].energy_j = 200.0 * 3 * 3600
            fleet.usage(f"fac-a-n{i:02d}", "fac-a", T0 + k * 60 * NS, INFERENCE, tweak=tweak)
    cap = f'[[rules.power_caps]]\nfacility = "fac-a"\nmax_power_w = {1.2 * 2 * fleet.node_power(INFERENCE)!r}'
    v = evaluate_bucket(fleet.inputs(commitment(["fac-a"], extra_rules=cap), meters=False), B0)
    assert "power.cap_exceeded" not in ids(v), [(f.id, f.message) for f in v.findings]
    assert "power.cap_unverifiable" in ids(v)


def test_splitting_a_run_across_sites_and_buckets_still_exceeds_the_cap() -> None:
    fleet = Fleet({"fac-a": 1, "fac-b": 1})
    fleet.run("fac-a", T0, 10, steady(TRAINING))
    fleet.run("fac-b", T0 + 600 * NS, 10, steady(TRAINING))
    ev = Evaluator(
        fleet.inputs(commitment(["fac-a", "fac-b"], extra_rules="compute_cap_flop = 1e18", allowed="[]"))
    )
    first = ev.verdict(B0)
    per_site = first.compute.lower_flop
    assert 0 < per_site < 1e18  # no single site and bucket crosses the cap
    assert "compute.cap_exceeded" not in ids(first)
    second = ev.verdict(BucketRef("fac-b", T0 + 600 * NS, T0 + 1200 * NS))
    assert second.compute.lower_flop < 1e18
    assert second.compute_to_date.lower_flop > 1e18
    assert "compute.cap_exceeded" in ids(second, CRIT)
    assert second.status == VIOLATION


# ---- late delivery and determinism -------------------------------------------------------------------


def test_late_reports_change_the_verdict_and_are_recorded() -> None:
    fleet = Fleet({"fac-a": 1})
    c = commitment(["fac-a"])
    held: list[bytes] = []
    for k in range(10):
        # Reports 3..6 sit in the attestor's spool while the verifier is unreachable.
        raw = fleet.usage("fac-a-n00", "fac-a", T0 + k * 60 * NS, IDLE, hold=3 <= k <= 6)
        if 3 <= k <= 6:
            held.append(raw)
        fleet.meter("fac-a", T0 + k * 60 * NS, fleet.node_power(IDLE))
    before = evaluate_bucket(fleet.inputs(c), B0)
    assert before.status == INCONCLUSIVE
    assert "continuity.gap" in ids(before)
    size = len(fleet.log)
    for raw in held:
        fleet.release(raw, "fac-a-n00")
    after = evaluate_bucket(fleet.inputs(c), BucketRef("fac-a", T0, T0 + 600 * NS, previous_log_size=size))
    assert after.status == COMPLIANT, after.reason
    assert "continuity.late" in ids(after, types_pb2.SEVERITY_INFO)
    assert compare_verdicts(before, after)


def test_verdict_is_a_pure_function_of_the_inputs() -> None:
    fleet = Fleet({"fac-a": 3})
    fleet.run("fac-a", T0, 10, lambda n, k: (INFERENCE, INFERENCE if k != 3 else None))
    inputs = fleet.inputs(commitment(["fac-a"], extra_rules="compute_cap_flop = 1e21"))
    reference = evaluate_bucket(inputs, B0, evaluated_unix_ns=1)
    shuffled = list(inputs.reports)
    random.Random(7).shuffle(shuffled)
    again = evaluate_bucket(
        EvaluationInput(
            inputs.commitment,
            dict(reversed(list(inputs.inventories.items()))),
            tuple(shuffled),
            tuple(reversed(inputs.ingest_findings)),
            inputs.evaluated_log_size,
        ),
        B0,
        evaluated_unix_ns=2,
    )
    assert compare_verdicts(reference, again) == []
    again.evaluated_unix_ns = 1
    assert reference.SerializeToString(deterministic=True) == again.SerializeToString(deterministic=True)


def test_compare_verdicts_names_what_differs() -> None:
    v = evaluate_bucket(honest().inputs(commitment(["fac-a"])), B0)
    w = types_pb2.Verdict()
    w.CopyFrom(v)
    w.status = VIOLATION
    w.compute.upper_flop += 1
    del w.findings[:]
    w.findings.add(id="chain.fork", severity=CRIT, subject="node:x")
    diffs = compare_verdicts(v, w)
    assert any(d.startswith("status") for d in diffs)
    assert any(d.startswith("compute:") for d in diffs)
    assert any("chain.fork" in d for d in diffs)


def test_reports_beyond_the_evaluated_log_size_are_refused() -> None:
    fleet = honest(nodes=1, periods=2)
    with pytest.raises(Exception, match="beyond the evaluated log size"):
        EvaluationInput(commitment(["fac-a"]), {"fac-a": fleet.inventory("fac-a")}, tuple(fleet.log), (), 1)
