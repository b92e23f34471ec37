"""``pausewatch-attestor run`` in accounting mode as a real process: it reads a slurmrestd jobs
document once a period, signs one AccountingReport per period into its chain, and stops cleanly
on SIGTERM, signing the running period."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
from pathlib import Path

from pausewatch.envelope import parse_envelope
from pausewatch.reports import ReportKind, decode_report
from pausewatch.v1 import types_pb2
from tests.attestor.processes import START_LIMIT_S, check_chain, spawn, spool_rows, wait_ready, wait_until

NS = 1_000_000_000


def test_accounting_mode_signs_the_schedulers_jobs_period_by_period(tmp_path: Path) -> None:
    state = tmp_path / "state"
    start_s = 1_767_225_600
    (tmp_path / "jobs.json").write_text(json.dumps({"jobs": [
        {"job_id": 4711, "job_state": "RUNNING", "nodes": "gpu[01-02]", "start_time": start_s - 600,
         "tres_alloc_str": "cpu=64,gres/gpu:h100=16"},
        {"job_id": 4712, "job_state": "RUNNING", "nodes": "cpu01", "start_time": start_s - 600,
         "tres_alloc_str": "cpu=8"},
    ]}))  # fmt: skip
    cfg = tmp_path / "attestor.toml"
    cfg.write_text(f"""
mode = "accounting"
state_dir = "{state}"
facility_id = "fac-a"
scheduler_id = "fac-a-slurm"
period_s = 60
sample_interval_s = 60
[accounting]
tool = "slurmrestd"
path = "jobs.json"
[clock]
mode = "accelerated"
start_unix_ns = {start_s * NS}
speedup = 120
""")
    log = tmp_path / "attestor.log"
    proc = spawn(cfg, log, ready_file=tmp_path / "ready")
    try:
        wait_ready(proc, tmp_path / "ready", log)
        wait_until("two periods were signed", lambda: len(spool_rows(state)) >= 2, proc, log, START_LIMIT_S)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=START_LIMIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    rows = spool_rows(state)
    check_chain(state, rows)
    reports = []
    for _, envelope, _ in rows:
        header, msg = decode_report(parse_envelope(envelope))
        assert header.kind is ReportKind.ACCOUNTING
        assert isinstance(msg, types_pb2.AccountingReport)
        reports.append(msg)
    for a, b in itertools.pairwise(reports):
        assert a.period_end_unix_ns == b.period_start_unix_ns  # unbroken windows
    full = reports[1]
    assert full.period_end_unix_ns - full.period_start_unix_ns == 60 * NS
    assert full.source.kind == types_pb2.SOURCE_KIND_SLURMRESTD
    assert [(j.job_id, list(j.hosts), j.gpus) for j in full.jobs] == [
        ("4711", ["gpu01", "gpu02"], 16), ("4712", ["cpu01"], 0)
    ]
    assert "report signed" in log.read_text()


def test_accounting_mode_without_a_scheduler_id_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "attestor.toml"
    cfg.write_text(f'mode = "accounting"\nstate_dir = "{tmp_path}/s"\nfacility_id = "fac-a"\n')
    done = subprocess.run(
        [sys.executable, "-m", "attestor.cli", "run", "--config", str(cfg)],
        capture_output=True,
        timeout=START_LIMIT_S,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert b"scheduler_id: required" in done.stderr
    assert b"Traceback" not in done.stderr
