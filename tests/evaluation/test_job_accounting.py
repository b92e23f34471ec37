"""Job accounting end to end in the evaluation: a declared scheduler's signed reports, signed by
the attestor's own builder and chain signer, logged beside the nodes' and the meter's, and the
verdict they corroborate (pausewatch/evaluation/jobs.py, docs/findings.md)."""

from __future__ import annotations

import pytest

from pausewatch.evaluation import BucketRef, EvaluationInput, Evaluator, derive_ingest_findings
from pausewatch.inventory import Inventory
from pausewatch.jobs import JobRecord
from pausewatch.v1 import types_pb2
from sim.factories import INFERENCE, NS, T0, TRAINING, Fleet, commitment
from sim.factories import seeded_signer as signer

COMPLIANT = types_pb2.VERDICT_STATUS_COMPLIANT
INCONCLUSIVE = types_pb2.VERDICT_STATUS_INCONCLUSIVE
VIOLATION = types_pb2.VERDICT_STATUS_VIOLATION
BUCKET = 600 * NS
SCHEDULER = "fac-a-slurm"
SACCT = types_pb2.SourceInfo(kind=types_pb2.SOURCE_KIND_SLURM_SACCT)


def bucket(k: int) -> BucketRef:
    return BucketRef("fac-a", T0 + k * BUCKET, T0 + (k + 1) * BUCKET)


class Accounting:
    """The scheduler's attestor beside ``fleet``'s nodes (``Fleet.accounting``)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet

    def report(self, start: int, end: int, jobs: list[JobRecord], problems: tuple[str, ...] = ()) -> None:
        self.fleet.accounting(SCHEDULER, "fac-a", start, end, jobs, problems=problems, source=SACCT)


def inventory(fleet: Fleet, *, scheduler: bool, host_names: dict[str, str] | None = None) -> Inventory:
    wire = fleet.inventory_wire("fac-a")
    if scheduler:
        sch = wire.schedulers.add(scheduler_id=SCHEDULER, public_key=signer(SCHEDULER).public_key.raw)
        for host, node in (host_names or {}).items():
            sch.host_names.add(host=host, node_id=node)
    return Inventory.from_wire(wire)


def inputs(
    fleet: Fleet, *, scheduler: bool = True, host_names: dict[str, str] | None = None
) -> EvaluationInput:
    return EvaluationInput(
        commitment(["fac-a"]),
        {"fac-a": inventory(fleet, scheduler=scheduler, host_names=host_names)},
        tuple(fleet.log),
        derive_ingest_findings(fleet.log),
        len(fleet.log),
    )


def job(job_id: str, nodes: tuple[str, ...], gpus: int, start: int, end: int | None) -> JobRecord:
    return JobRecord(job_id, "COMPLETED" if end else "RUNNING", nodes, gpus, start, end)


def serving_fleet(periods: int = 10, *, hide: int = 0) -> Fleet:
    """Two 8-GPU nodes serving inference; node n00 leaves ``hide`` of its GPUs out of its reports
    (their draw still reaches the meter as the reports' power)."""
    fleet = Fleet({"fac-a": 2})
    for k in range(periods):
        t = T0 + k * fleet.period_ns
        for node in fleet.node_ids("fac-a", 2):
            if node.endswith("n00") and hide:
                fleet.usage(node, "fac-a", t, INFERENCE, tweak=lambda r: _drop(r, hide))
            else:
                fleet.usage(node, "fac-a", t, INFERENCE)
        fleet.meter("fac-a", t, 2 * fleet.node_power(INFERENCE))
    return fleet


def _drop(report: types_pb2.UsageReport, n: int) -> None:
    del report.accelerators[-n:]


def ids(v: types_pb2.Verdict, at_least: int = types_pb2.SEVERITY_INFO) -> set[str]:
    return {f.id for f in v.findings if f.severity >= at_least}


def test_honest_accounting_leaves_a_compliant_bucket_compliant() -> None:
    fleet = serving_fleet()
    nodes = tuple(fleet.node_ids("fac-a", 2))
    Accounting(fleet).report(T0, T0 + BUCKET, [job("100", nodes, 16, T0 - 3600 * NS, None)])
    v = Evaluator(inputs(fleet)).verdict(bucket(0))
    assert v.status == COMPLIANT, v.reason
    assert not any(f.id.startswith("jobs.") for f in v.findings)


def test_no_scheduler_declared_means_no_job_findings_even_with_reports_logged() -> None:
    fleet = serving_fleet()
    without = Evaluator(inputs(fleet, scheduler=False)).verdict(bucket(0))
    assert without.status == COMPLIANT, without.reason


def test_a_declared_scheduler_that_is_silent_leaves_the_bucket_unproven_never_violated() -> None:
    v = Evaluator(inputs(serving_fleet())).verdict(bucket(0))
    assert v.status == INCONCLUSIVE
    assert ids(v, types_pb2.SEVERITY_WARNING) == {"jobs.accounting_missing"}
    (f,) = [f for f in v.findings if f.id.startswith("jobs.")]
    assert f.subject == f"scheduler:{SCHEDULER}"
    assert {q.name: q.value for q in f.quantities} == {"uncovered_s": 600.0}


def test_activity_no_job_explains() -> None:
    fleet = serving_fleet()
    n00, n01 = fleet.node_ids("fac-a", 2)
    Accounting(fleet).report(T0, T0 + BUCKET, [job("100", (n00,), 8, T0, None)])
    v = Evaluator(inputs(fleet)).verdict(bucket(0))
    assert v.status == INCONCLUSIVE
    (f,) = [f for f in v.findings if f.id.startswith("jobs.")]
    assert (f.id, f.subject) == ("jobs.unexplained_activity", f"node:{n01}")
    assert {q.name: q.value for q in f.quantities} == {"unexplained_device_s": 8 * 600.0}
    accounting_index = len(fleet.log) - 1
    assert accounting_index in f.evidence_log_indices


def test_a_job_on_gpus_the_reports_leave_out() -> None:
    fleet = serving_fleet(hide=4)  # n00 reports 4 of its 8 GPUs; the scheduler gave a job all 8
    nodes = tuple(fleet.node_ids("fac-a", 2))
    Accounting(fleet).report(T0, T0 + BUCKET, [job("100", nodes, 16, T0, None)])
    v = Evaluator(inputs(fleet)).verdict(bucket(0))
    assert v.status == INCONCLUSIVE
    unreported = [f for f in v.findings if f.id == "jobs.unreported_gpu_seconds"]
    assert [f.subject for f in unreported] == [f"node:{nodes[0]}"]
    assert {q.name: q.value for q in unreported[0].quantities} == {
        "job_gpu_s": 8 * 600.0,
        "reported_device_s": 4 * 600.0,
    }


def test_job_findings_corroborate_a_violation_and_never_make_one() -> None:
    fleet = Fleet({"fac-a": 2})
    n00, n01 = fleet.node_ids("fac-a", 2)
    for k in range(10):
        t = T0 + k * fleet.period_ns
        fleet.usage(n00, "fac-a", t, TRAINING)  # reported training: a breach by itself
        fleet.usage(n01, "fac-a", t, INFERENCE)
        fleet.meter("fac-a", t, fleet.node_power(TRAINING) + fleet.node_power(INFERENCE))
    Accounting(fleet).report(T0, T0 + BUCKET, [job("7", (n01,), 8, T0, None)])
    v = Evaluator(inputs(fleet)).verdict(bucket(0))
    assert v.status == VIOLATION
    jobs = [f for f in v.findings if f.id.startswith("jobs.")]
    assert [(f.id, f.severity, f.subject) for f in jobs] == [
        ("jobs.unexplained_activity", types_pb2.SEVERITY_WARNING, f"node:{n00}")
    ]


def test_a_later_report_states_the_end_of_a_job_running_at_an_earlier_ones_end() -> None:
    fleet = serving_fleet()
    nodes = tuple(fleet.node_ids("fac-a", 2))
    acct = Accounting(fleet)
    half = T0 + BUCKET // 2
    acct.report(T0, half, [job("100", nodes, 16, T0, None)])
    acct.report(half, T0 + BUCKET, [job("100", nodes, 16, T0, half + 60 * NS)])
    v = Evaluator(inputs(fleet)).verdict(bucket(0))
    (f, g) = [f for f in v.findings if f.id.startswith("jobs.")]
    assert {f.id, g.id} == {"jobs.unexplained_activity"}  # both nodes, after the job ended
    assert {q.value for q in f.quantities} == {8 * 240.0}


def test_scheduler_host_names_map_to_node_ids() -> None:
    fleet = serving_fleet()
    n00, n01 = fleet.node_ids("fac-a", 2)
    Accounting(fleet).report(T0, T0 + BUCKET, [job("100", ("gpu001", "gpu002"), 16, T0, None)])
    v = Evaluator(inputs(fleet, host_names={"gpu001": n00, "gpu002": n01})).verdict(bucket(0))
    assert v.status == COMPLIANT, v.reason


def test_a_gpu_job_on_a_host_the_inventory_does_not_declare() -> None:
    fleet = serving_fleet()
    nodes = tuple(fleet.node_ids("fac-a", 2))
    jobs = [job("100", nodes, 16, T0, None), job("200", ("shadow01",), 4, T0, None)]
    Accounting(fleet).report(T0, T0 + BUCKET, jobs)
    v = Evaluator(inputs(fleet)).verdict(bucket(0))
    assert v.status == INCONCLUSIVE
    (f,) = [f for f in v.findings if f.id.startswith("jobs.")]
    assert (f.id, f.subject) == ("jobs.unreported_gpu_seconds", "node:shadow01")


@pytest.mark.parametrize("scheduler", [True, False])
def test_verdicts_of_a_log_without_accounting_do_not_depend_on_the_declaration_alone(scheduler: bool) -> None:
    """A declared scheduler changes a bucket only through its own findings: every other finding
    is the same as without it."""
    fleet = serving_fleet(hide=2)
    v = Evaluator(inputs(fleet, scheduler=scheduler)).verdict(bucket(0))
    others = sorted((f.id, f.subject) for f in v.findings if not f.id.startswith("jobs."))
    base = Evaluator(inputs(fleet, scheduler=False)).verdict(bucket(0))
    assert others == sorted((f.id, f.subject) for f in base.findings)


def test_the_accounting_chain_is_checked_like_any_other() -> None:
    fleet = serving_fleet()
    nodes = tuple(fleet.node_ids("fac-a", 2))
    acct = Accounting(fleet)
    half = T0 + BUCKET // 2
    acct.report(T0, half, [job("100", nodes, 16, T0, None)])
    fleet.chain(SCHEDULER).skip(3)  # three reports never sent
    acct.report(half, T0 + BUCKET, [job("100", nodes, 16, T0, None)])
    v = Evaluator(inputs(fleet)).verdict(bucket(0))
    assert v.status == INCONCLUSIVE
    (gap,) = [f for f in v.findings if f.id == "chain.gap"]
    assert gap.subject == f"scheduler:{SCHEDULER}"
    assert not any(f.id.startswith("jobs.") for f in v.findings)


def test_a_running_job_a_later_report_does_not_list_explains_nothing_after_its_last_report() -> None:
    fleet = serving_fleet()
    nodes = tuple(fleet.node_ids("fac-a", 2))
    acct = Accounting(fleet)
    half = T0 + BUCKET // 2
    acct.report(T0, half, [job("100", nodes, 16, T0, None)])  # running when read
    acct.report(half, T0 + BUCKET, [])  # the scheduler lists nothing after
    v = Evaluator(inputs(fleet)).verdict(bucket(0))
    found = sorted((f.id, f.subject) for f in v.findings if f.id.startswith("jobs."))
    assert found == [("jobs.unexplained_activity", f"node:{n}") for n in nodes]
    assert {q.value for f in v.findings if f.id.startswith("jobs.") for q in f.quantities} == {8 * 300.0}
