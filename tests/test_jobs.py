"""Slurm job accounting parsers on the real captures in ../shared/data/slurm (read, never copied)
and on slurmrestd documents built from Slurm's OpenAPI reference for newer versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pausewatch.errors import FormatError
from pausewatch.jobs import (
    expand_hostlist,
    gpus_from_tres,
    parse_elapsed,
    parse_sacct,
    parse_slurmrestd_jobs,
)
from tests.attestor.data import data_file

NS = 10**9
# The --format list the capture was made with (its README): no header, "☃" delimiter, --parsable.
_HB_FORMAT = (
    "JobID,JobName,User,Partition,NodeList,NNodes,NCPUs,NTasks,State,Submit,Start,End,Timelimit,Elapsed,"
    "TotalCPU,CPUTime,UserCPU,SystemCPU,ReqMem,MaxRSS,MaxVMSize,ReqTRES,AllocTRES,TRESUsageInMax,"
    "TRESUsageInTot,TRESUsageOutTot,MaxDiskRead,MaxDiskWrite,MaxRSSNode,MaxRSSTask,MaxVMSizeNode,"
    "MaxVMSizeTask,MaxDiskReadNode,MaxDiskReadTask,MaxDiskWriteNode,MaxDiskWriteTask,Comment"
)
HB_FIELDS = _HB_FORMAT.split(",")


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * NS


def _hb_text() -> str:
    return data_file("slurm", "sacct-hb-jobinfo", "sacct_gpu_jobs.txt").read_text()


def test_real_sacct_capture() -> None:
    acc = parse_sacct(_hb_text(), fields=HB_FIELDS, delimiter="☃")
    assert acc.problems == ()
    jobs = {j.job_id: j for j in acc.jobs}
    assert len(jobs) == 12  # 18 lines: the .batch/.extern steps describe the same allocations
    gpu = jobs["7965768"]
    assert gpu.state == "CANCELLED"  # "CANCELLED by 10314909"
    assert gpu.nodes == ("v100gpu16",)
    assert gpu.gpus == 1  # gres/gpu=1 beside gres/gpu:v100=1: not counted twice
    assert gpu.start_ns == _ns("2024-04-04T21:45:17")
    assert gpu.gpu_seconds() == 15 * 3600 + 28 * 60 + 22  # Elapsed 15:28:22
    array = jobs["5908801_3"]
    assert array.elapsed_s == 86400 + 4 * 3600 + 37 * 60 + 26  # 1-04:37:26
    assert array.gpus == 0  # no gres in its TRES: CPU-only as accounted, zero GPU-seconds
    assert array.gpu_seconds() == 0.0
    never = jobs["4047445"]
    assert (never.nodes, never.start_ns, never.gpu_seconds()) == ((), None, 0.0)  # "None assigned"


def test_the_same_jobs_as_parsable2_with_a_header() -> None:
    rows = [line.removesuffix("☃").replace("☃", "|") for line in _hb_text().splitlines()]  # no trailing one
    text = "|".join(HB_FIELDS) + "\n" + "\n".join(rows) + "\n"
    assert parse_sacct(text) == parse_sacct(_hb_text(), fields=HB_FIELDS, delimiter="☃")


def test_sacct_in_another_time_zone_and_running_jobs() -> None:
    text = (
        "JobID|State|NodeList|Start|End|Elapsed|AllocTRES\n"
        "9|RUNNING|gpu[01-04,07]|2026-01-01T00:00:00|Unknown|01:00:00|cpu=640,gres/gpu=40,node=5\n"
        "9.0|RUNNING|gpu[01-04,07]|2026-01-01T00:00:00|Unknown|01:00:00|cpu=640,gres/gpu=40\n"
    )
    (job,) = parse_sacct(text).jobs
    assert job.start_ns is not None
    assert job.nodes == ("gpu01", "gpu02", "gpu03", "gpu04", "gpu07")
    assert job.gpus == 40
    assert job.end_ns is None
    assert job.gpu_seconds(until_ns=job.start_ns + 10 * NS) == 400.0  # to a given time, not Elapsed
    cet = datetime.fromisoformat("2026-01-01T00:00:00+01:00").tzinfo
    assert cet is not None
    (local,) = parse_sacct(text, tz=cet).jobs
    assert local.start_ns == job.start_ns - 3600 * NS


def test_real_slurmrestd_jobs() -> None:
    acc = parse_slurmrestd_jobs(data_file("slurm", "slurmrestd-telegraf", "jobs.json").read_text())
    assert acc.problems == ()
    states = {j.job_id: (j.state, j.nodes, j.gpus, j.end_ns) for j in acc.jobs}
    assert states["20464"] == ("RUNNING", ("naboo222",), 0, None)  # end_time is only the limit
    assert states["23772"][0] == "COMPLETED"
    assert states["23772"][3] == 1723463525 * NS


def test_slurmrestd_v0040_and_slurmdbd_shapes() -> None:
    # Built from Slurm's OpenAPI reference: v0.0.40+ times as {set, infinite, number}, state a
    # list; slurmdbd jobs with time.{start,end,elapsed} and tres.allocated[].
    ctld = {
        "jobs": [
            {
                "job_id": 41,
                "job_state": ["COMPLETED"],
                "nodes": "gpu[01-02]",
                "start_time": {"set": True, "infinite": False, "number": 1767225600},
                "end_time": {"set": True, "infinite": False, "number": 1767229200},
                "tres_alloc_str": "cpu=128,mem=1T,node=2,billing=128,gres/gpu=16",
            }
        ],
        "errors": [],
    }
    dbd = {
        "jobs": [
            {
                "job_id": 42,
                "state": {"current": ["COMPLETED"], "reason": "None"},
                "nodes": "gpu[01-02]",
                "time": {"start": 1767225600, "end": 1767409445, "elapsed": 183845},
                "tres": {
                    "allocated": [
                        {"type": "cpu", "name": "", "count": 128},
                        {"type": "gres", "name": "gpu", "count": 16},
                    ]
                },
            },
            "not a job",
        ]
    }
    (a,) = parse_slurmrestd_jobs(json.dumps(ctld)).jobs
    assert (a.gpus, a.gpu_seconds()) == (16, 16 * 3600.0)
    acc = parse_slurmrestd_jobs(json.dumps(dbd))
    (b,) = acc.jobs
    assert b.gpu_seconds() == 16 * 183845.0  # 2-03:04:05
    assert acc.problems == ("jobs[1]: not an object",)


def test_elapsed_tres_and_host_lists() -> None:
    assert parse_elapsed("2-03:04:05") == 2 * 86400 + 3 * 3600 + 4 * 60 + 5
    assert parse_elapsed("23:08.358") == pytest.approx(23 * 60 + 8.358)
    assert parse_elapsed("1-04") == 86400 + 4 * 3600
    assert parse_elapsed("UNLIMITED") is None
    assert parse_elapsed("") is None
    assert gpus_from_tres("billing=8,cpu=8,gres/gpu:v100=1,gres/gpu=1,mem=10G,node=1") == 1
    assert gpus_from_tres("cpu=8,gres/gpu:a100=2,gres/gpu:h100=4") == 6
    assert gpus_from_tres("billing=24,cpu=8,mem=199G,node=1") == 0
    assert expand_hostlist("r[1-2]n[08-09],login1") == ("r1n08", "r1n09", "r2n08", "r2n09", "login1")
    assert expand_hostlist("None assigned") == ()


@pytest.mark.parametrize("bad", ["n[1-100000000]", "n[1-", "n]1[", "n[a-b]", "n[5-1]"])
def test_hostile_host_lists_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="host list"):
        expand_hostlist(bad)


def test_hostile_accounting_is_skipped_with_a_reason() -> None:
    text = (
        "JobID|State|NodeList|Start|End|Elapsed|AllocTRES\n"
        "1|COMPLETED|n1|2026-01-01T00:00:00|2026-01-01T01:00:00|01:00:00|gres/gpu=lots\n"
        "2|COMPLETED|n[1-|2026-01-01T00:00:00|2026-01-01T01:00:00|01:00:00|gres/gpu=1\n"
        "3|COMPLETED|n1|yesterday|2026-01-01T01:00:00|01:00:00|gres/gpu=1\n"
        "4|COMPLETED|n1\n"
        "5|COMPLETED|n1|2026-01-01T00:00:00|2026-01-01T01:00:00|01:00:00|gres/gpu=2\n"
    )
    acc = parse_sacct(text)
    assert [j.job_id for j in acc.jobs] == ["5"]
    assert len(acc.problems) == 4
    with pytest.raises(FormatError, match="columns"):
        parse_sacct("JobID|JobName\n1|x\n")
    for doc in ("[]", "{", '{"jobs": 3}'):
        with pytest.raises(FormatError):
            parse_slurmrestd_jobs(doc)
    gres = {"type": "gres", "name": "gpu", "count": "8"}  # a string where a count belongs
    bad_count = {"jobs": [{"job_id": 1, "nodes": "n1", "tres": {"allocated": [gres]}}]}
    assert len(parse_slurmrestd_jobs(json.dumps(bad_count)).problems) == 1


def test_every_accounting_capture_in_the_folder_reads() -> None:
    """Any capture in ../shared/data/slurm: sacct text (with a header, or in the hb-jobinfo
    --format) and slurmrestd jobs JSON parse, and no job gets negative or invented GPU time."""
    folder = data_file("slurm")
    read = 0
    for path in sorted(folder.rglob("*")):
        text = path.read_text() if path.is_file() else ""
        if path.name.startswith("sacct") and text.strip():
            first = text.splitlines()[0]
            delimiter = "☃" if "☃" in first else "|"
            header = "jobid" in first.lower()
            acc = parse_sacct(text, fields=None if header else HB_FIELDS, delimiter=delimiter)
        elif path.suffix == ".json" and '"jobs"' in text:
            acc = parse_slurmrestd_jobs(text)
        else:
            continue
        read += 1
        assert acc.jobs, path.name
        for job in acc.jobs:
            assert job.job_id
            assert job.gpus >= 0
            assert job.gpu_seconds(until_ns=job.start_ns) >= 0
            assert job.start_ns is None or job.end_ns is None or job.end_ns >= job.start_ns
    assert read >= 2
