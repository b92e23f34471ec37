"""``make demo`` end to end: the hidden run is caught, the bundle exported and audited."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.heavy
def test_demo_catches_facility_b_and_audits(tmp_path: Path) -> None:
    """Real processes (a verifier, 16 node attestors, 2 meters) on an accelerated clock."""
    out = tmp_path / "demo-out"
    r = subprocess.run([sys.executable, "-m", "sim.demo", "--out", str(out)], cwd=REPO, capture_output=True,
                       text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "19 processes: 1 verifier, 16 node attestors, 2 meter attestors" in r.stdout
    # the honest facility is never a VIOLATION; on a loaded machine its attestors drop samples
    # and a period can prove nothing, INCONCLUSIVE (scenarios/demo-hidden-training.toml)
    assert re.search(r"fac-a: [CI]( [CI]){5} +\(0 of 6 hours VIOLATION\)", r.stdout), r.stdout[-3000:]
    assert "fac-b: C V V V V" in r.stdout
    assert "ok fac-b      1h      VIOLATION" in r.stdout
    assert "e.g. energy.unexplained [facility:fac-b]" in r.stdout
    assert "e.g. continuity.timeout [node:fac-b-n00]" in r.stdout
    assert "pausewatch-audit verify    -> exit 0" in r.stdout
    assert (out / "report.html").stat().st_size > 0
    assert (out / "bundle").is_dir()
    assert (out / "attestors" / "fac-b-m0" / "attestor.toml").is_file()
    assert "stopped fac-b-n00" in r.stdout
    # each party's witness cosigned, and the audit required both (--witness-checkpoint too)
    assert "witnesses up: party-a at http://127.0.0.1:" in r.stdout
    for party in ("party-a", "party-b"):
        assert (out / "witnesses" / party / "latest-checkpoint.note").stat().st_size > 0
    assert "witnesses: witness.party-a.invalid, witness.party-b.invalid" in (out / "audit.log").read_text()
