"""``pausewatch-sim``: exit 0 when the verdicts match, 1 when not, 2 when it cannot run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _small(tmp_path: Path, *, wrong: bool = False) -> Path:
    """A one-node, two-hour version of the restart story (fast)."""
    text = (REPO / "scenarios" / "attestor-restart.toml").read_text()
    text = text.replace('duration = "4h"', 'duration = "3h"').replace("nodes = 3", "nodes = 1")
    text = text.replace('target = "fac-a/n01"', 'target = "fac-a/n00"')
    if wrong:
        text = text.replace('bucket = "2h"\nstatus = "COMPLIANT"', 'bucket = "2h"\nstatus = "VIOLATION"')
    p = tmp_path / ("wrong.toml" if wrong else "small.toml")
    p.write_text(text)
    return p


def _sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300, check=False)


def test_run_match_exits_0_and_prints_the_table(tmp_path: Path) -> None:
    r = _sim("run", str(_small(tmp_path)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout
    assert "chain.new_boot" in r.stdout


def test_run_mismatch_exits_1_with_json(tmp_path: Path) -> None:
    r = _sim("run", "--json", str(_small(tmp_path, wrong=True)))
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is False
    bad = [b for b in doc["results"][0]["buckets"] if not b["ok"]]
    assert bad
    assert "status COMPLIANT, expected VIOLATION" in bad[0]["problems"]


def test_bad_scenario_exits_2_naming_file_line_key(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text((REPO / "scenarios" / "attestor-restart.toml").read_text().replace("seed = 41", "seed = 41\nsed = 1"))
    r = _sim("run", str(p))
    assert r.returncode == 2
    assert f"{p}:" in r.stderr
    assert "scenario.sed" in r.stderr
    assert "unknown key" in r.stderr


def test_check_and_help() -> None:
    r = _sim("check", *(str(p) for p in sorted((REPO / "scenarios").glob("*.toml"))))
    assert r.returncode == 0, r.stderr
    assert _sim("--help").returncode == 0
    assert _sim("run", "--help").returncode == 0
