"""README's "Running it for real" walkthrough, run as written: real processes, system clock."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.heavy
def test_quickstart_runs_as_the_readme_says(tmp_path: Path) -> None:
    work = tmp_path / "real"
    done = subprocess.run(
        ["bash", "deploy/local/quickstart.sh", str(work)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "accepted: version 1" in done.stdout  # the lab-signed inventory was logged
    assert "alarms      none" in done.stdout  # the attestor checked its receipts
    assert "pinned" in done.stdout
    assert "RESULT       VERIFIED" in done.stdout
    assert (work / "report.html").stat().st_size > 0
