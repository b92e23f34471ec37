"""Job accounting as evidence: activity no job explains, and jobs the reports do not cover."""

from __future__ import annotations

import random

import pytest

from pausewatch.evaluation.findings import FindingId, status_of
from pausewatch.evaluation.jobs import DevicePeriod, JobEvidenceSettings, device_periods, job_findings
from pausewatch.jobs import JobRecord, parse_sacct
from pausewatch.v1 import types_pb2
from tests.attestor.data import data_file
from tests.test_jobs import HB_FIELDS

NS = 10**9
H = 3600 * NS
BUCKET = (0, 4 * H)
WINDOW = (0, 4 * H)


def _periods(
    node: str, devices: int, active: bool | None, start: int = 0, end: int = 4 * H
) -> list[DevicePeriod]:
    """Ten-minute report periods of ``devices`` accelerators of ``node``."""
    step = 600 * NS
    return [
        DevicePeriod(node, f"GPU-{node}-{d}", t, t + step, active, log_index=(t // step) * 100 + d)
        for d in range(devices)
        for t in range(start, end, step)
    ]


def _job(job_id: str, nodes: tuple[str, ...], gpus: int, start: int, end: int | None) -> JobRecord:
    return JobRecord(job_id, "COMPLETED" if end else "RUNNING", nodes, gpus, start, end)


def test_activity_with_no_job_is_a_finding_and_a_gpu_job_explains_it() -> None:
    periods = _periods("gpu01", 8, True, 0, 2 * H)
    (f,) = job_findings([], WINDOW, periods, BUCKET)
    assert f.id == FindingId.JOBS_UNEXPLAINED_ACTIVITY
    assert f.subject == "gpu01"
    assert {q.name: q.value for q in f.quantities}["unexplained_device_s"] == 8 * 2 * 3600
    assert f.evidence  # the reports that showed the activity
    assert status_of([f])[0] == types_pb2.VERDICT_STATUS_INCONCLUSIVE  # corroboration, not a breach
    assert job_findings([_job("1", ("gpu01",), 8, 0, 2 * H)], WINDOW, periods, BUCKET) == []


def test_a_cpu_only_job_explains_no_accelerator_activity() -> None:
    periods = _periods("gpu01", 2, True, 0, H)
    findings = job_findings([_job("1", ("gpu01",), 0, 0, H)], WINDOW, periods, BUCKET)
    assert [f.id for f in findings] == [FindingId.JOBS_UNEXPLAINED_ACTIVITY]


def test_idle_or_unreadable_activity_needs_no_job() -> None:
    periods = _periods("gpu01", 8, False) + _periods("gpu02", 8, None)
    assert job_findings([], WINDOW, periods, BUCKET) == []


def test_a_job_on_hardware_the_reports_do_not_cover() -> None:
    # 16 GPUs over gpu[01-02] for an hour; gpu02 reports only 2 of its devices, gpu03 nothing.
    periods = _periods("gpu01", 8, True) + _periods("gpu02", 2, True)
    jobs = [_job("7", ("gpu01", "gpu02"), 16, H, 2 * H), _job("8", ("gpu03",), 4, H, 2 * H)]
    findings = job_findings(jobs, WINDOW, periods, BUCKET)
    assert [(f.id, f.subject) for f in findings] == [
        (FindingId.JOBS_UNEXPLAINED_ACTIVITY, "gpu01"),  # active outside the job's hour
        (FindingId.JOBS_UNEXPLAINED_ACTIVITY, "gpu02"),
        (FindingId.JOBS_UNREPORTED_GPU_SECONDS, "gpu02"),
        (FindingId.JOBS_UNREPORTED_GPU_SECONDS, "gpu03"),
    ]
    unreported = {f.subject: {q.name: q.value for q in f.quantities} for f in findings[2:]}
    assert unreported["gpu02"] == {"job_gpu_s": 8 * 3600.0, "reported_device_s": 2 * 3600.0}
    assert unreported["gpu03"] == {"job_gpu_s": 4 * 3600.0, "reported_device_s": 0.0}


def test_only_the_accounting_window_and_the_bucket_are_judged() -> None:
    periods = _periods("gpu01", 8, True)
    assert job_findings([], (5 * H, 6 * H), periods, BUCKET) == []
    (f,) = job_findings([], (0, H), periods, BUCKET)
    assert {q.name: q.value for q in f.quantities}["unexplained_device_s"] == 8 * 3600
    # A running job explains activity up to the bucket's end.
    assert job_findings([_job("9", ("gpu01",), 8, 0, None)], WINDOW, periods, BUCKET) == []


def test_small_mismatches_are_tolerated() -> None:
    periods = _periods("gpu01", 8, True, 0, H)
    jobs = [_job("1", ("gpu01",), 8, 0, H + 30 * NS)]  # an epilogue 30 s past the last report
    assert job_findings(jobs, WINDOW, periods, BUCKET) == []
    strict = JobEvidenceSettings(min_unexplained_s=0.0, tolerance=0.0)
    assert [f.id for f in job_findings(jobs, WINDOW, periods, BUCKET, settings=strict)] == [
        FindingId.JOBS_UNREPORTED_GPU_SECONDS
    ]
    with pytest.raises(ValueError):
        JobEvidenceSettings(tolerance=1.5)


def test_node_names_map_and_input_order_does_not_matter() -> None:
    periods = _periods("node-a", 4, True, 0, H)
    jobs = [_job("1", ("gpu01",), 4, 0, H // 2), _job("2", ("gpu02",), 4, 0, H)]
    names = {"gpu01": "node-a"}
    first = job_findings(jobs, WINDOW, periods, BUCKET, node_ids=names)
    shuffled = list(periods)
    random.Random(7).shuffle(shuffled)
    assert job_findings(list(reversed(jobs)), WINDOW, shuffled, BUCKET, node_ids=names) == first
    assert {f.subject for f in first} == {"node-a", "gpu02"}


def test_device_periods_from_usage_reports() -> None:
    report = types_pb2.UsageReport(node_id="gpu01", period_start_unix_ns=0, period_end_unix_ns=600 * NS)
    report.accelerators.add(uuid="GPU-a", busy_fraction=0.5)
    report.accelerators.add(uuid="GPU-b", sm_active=0.01, tensor_active=0.0)
    report.accelerators.add(uuid="GPU-c")  # no activity reading
    a, b, c = device_periods([(42, report)])
    assert (a.active, b.active, c.active) == (True, False, None)
    assert a.log_index == 42


def test_real_accounting_against_reports_that_miss_a_gpu_job() -> None:
    text = data_file("slurm", "sacct-hb-jobinfo", "sacct_gpu_jobs.txt").read_text()
    jobs = parse_sacct(text, fields=HB_FIELDS, delimiter="☃").jobs
    job = next(j for j in jobs if j.job_id == "7965768")  # 1 GPU on v100gpu16 for 15:28:22
    assert job.start_ns is not None
    assert job.end_ns is not None
    bucket = (job.start_ns, job.end_ns)
    # The node reported its GPU only for the first hour of the job.
    periods = _periods("v100gpu16", 1, False, job.start_ns, job.start_ns + H)
    findings = job_findings(jobs, bucket, periods, bucket)
    # v100gpu13 ran job 7946767 (1 GPU) in the same hours and reported nothing at all.
    assert [(f.id, f.subject) for f in findings] == [
        (FindingId.JOBS_UNREPORTED_GPU_SECONDS, "v100gpu13"),
        (FindingId.JOBS_UNREPORTED_GPU_SECONDS, "v100gpu16"),
    ]
    q = {q.name: q.value for q in findings[1].quantities}
    assert q["job_gpu_s"] == pytest.approx(55702.0)
    assert q["reported_device_s"] == pytest.approx(3600.0)


def test_several_accounting_windows_or_none() -> None:
    periods = _periods("gpu01", 8, True)
    assert job_findings([], [], periods, BUCKET) == []
    (f,) = job_findings([], [(0, H), (3 * H, 5 * H)], periods, BUCKET)
    assert {q.name: q.value for q in f.quantities}["unexplained_device_s"] == 8 * 2 * 3600
    assert (f.start_ns, f.end_ns) == (0, 4 * H)
