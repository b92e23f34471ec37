"""The accounting attestor's read of sacct, through a real process standing in for sacct."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attestor.sources.slurm import SACCT_FIELDS, read_sacct, sacct_args
from pausewatch.errors import EnvironmentFaultError

NS = 10**9
WINDOW = (1_767_225_600 * NS, 1_767_229_200 * NS)  # 2026-01-01 00:00 to 01:00 UTC


def test_sacct_runs_in_utc_for_the_window_and_its_bytes_are_kept(tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    tool = tmp_path / "sacct"
    tool.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"json.dump({{'args': sys.argv[1:], 'tz': os.environ.get('TZ')}}, open({str(seen)!r}, 'w'))\n"
        "print('|'.join(%r))\n" % (SACCT_FIELDS,)
        + "print('41|RUNNING|gpu[01-02]|2025-12-31T23:30:00|Unknown|01:30:00|cpu=128,gres/gpu=16,node=2')\n"
        "print('41.0|RUNNING|gpu[01-02]|2025-12-31T23:30:00|Unknown|01:30:00|cpu=128,gres/gpu=16')\n"
    )
    tool.chmod(0o755)
    capture = read_sacct(WINDOW, binary=str(tool))
    asked = json.loads(seen.read_text())
    assert asked["tz"] == "UTC"
    assert "--starttime=2026-01-01T00:00:00" in asked["args"]
    assert "--endtime=2026-01-01T01:00:00" in asked["args"]
    assert "--allocations" in asked["args"]
    assert capture.raw.startswith("JobID|State|")  # the exact bytes, for a signed report
    (job,) = capture.accounting.jobs
    assert (job.job_id, job.gpus, job.nodes, job.end_ns) == ("41", 16, ("gpu01", "gpu02"), None)
    assert job.gpu_seconds(until_ns=WINDOW[1]) == 16 * 5400.0


def test_a_missing_or_failing_sacct_is_an_environment_fault(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentFaultError, match="not found"):
        read_sacct(WINDOW, binary=str(tmp_path / "no-sacct"))
    failing = tmp_path / "sacct"
    failing.write_text("#!/bin/sh\necho 'sacct: error: Slurm accounting storage is disabled' >&2\nexit 1\n")
    failing.chmod(0o755)
    with pytest.raises(EnvironmentFaultError, match="accounting storage is disabled"):
        read_sacct(WINDOW, binary=str(failing))
    with pytest.raises(ValueError, match="empty"):
        sacct_args((WINDOW[1], WINDOW[0]))
