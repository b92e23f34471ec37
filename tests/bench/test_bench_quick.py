"""`make bench` cannot rot: every registered bench runs at its quick sizes in a real
subprocess (as `make bench-quick` does) and must complete and print its figures as JSON, each
bench beside a reference measured in the same run."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

from bench.__main__ import BENCHES

REPO = Path(__file__).resolve().parents[2]
# A key naming the same-run reference that each bench's figures are compared with.
REFERENCE_WORDS = ("ed25519", "pymerkle", "reference")


def _keys(value: object, prefix: str = "") -> set[str]:
    if not isinstance(value, dict):
        return set()
    out = set()
    for k, v in value.items():
        out.add(prefix + k)
        out |= _keys(v, prefix + k + ".")
    return out


def test_every_bench_takes_quick() -> None:
    for name in BENCHES:
        run = importlib.import_module(f"bench.bench_{name}").run
        assert "quick" in inspect.signature(run).parameters, f"bench_{name}.run has no quick parameter"


def test_every_bench_completes_quick_and_prints_its_json() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"], cwd=REPO, capture_output=True, timeout=240, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    figures = json.loads(proc.stdout)
    assert figures["quick"] is True
    assert set(figures) == {"machine", "quick", *BENCHES}
    for name in BENCHES:
        result = figures[name]
        assert isinstance(result, dict), name
        assert result, name
        keys = _keys(result)
        assert name == "ed25519" or any(w in k.lower() for k in keys for w in REFERENCE_WORDS), (
            f"{name}: no reference in {sorted(keys)}"
        )
    ingest = figures["ingest"]
    for case in ("batch_6", "batch_60"):
        assert ingest[case]["reports_failed"] == 0
        assert ingest[case]["dispositions"] == {"ACCEPTED": ingest[case]["reports_sent"]}
        assert ingest[case]["report_bytes"] > 2000  # full 8-GPU reports
        split = ingest[case]["where_time_goes"]["server_cpu_us_per_report_by_process"]
        assert set(split) == {"core_user", "core_system", "frontends_user", "frontends_system"}
    assert figures["audit"]["entries"] > 0
    for rate in (v for k, v in figures["latency"].items() if k.startswith("rate_")):
        assert rate["status_counts"] == {"OK": rate["calls"]}  # open loop, low rate: every call answered
        assert "frontends_user" in rate["server_cpu_us_per_report_by_process"]
    assert figures["ingest"]["scaling_batch_60"]["frontends_1"]["rpc_status_counts"] == {"OK": 2}


def test_an_unknown_bench_is_refused() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "no-such"], cwd=REPO, capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert b"unknown bench: no-such" in proc.stderr
    assert b"Traceback" not in proc.stderr
