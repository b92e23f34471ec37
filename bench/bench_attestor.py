"""The attestor daemon's footprint: CPU share and resident memory while it samples 8 simulated
devices every second (real clock), signs a report every 10 s (6x the default rate) and spools it.
No verifier runs, so reports buffer in the spool (upload cost is not included).

CPU share = (utime + stime from /proc/PID/stat) / wall time over a window that starts once the
daemon has written its ready file (imports and start-up excluded); memory = VmRSS and VmHWM from /proc/PID/status at the end.
Targets: under 1 % of one core and under 80 MB. The Ed25519 sign rate of this machine, measured
in the same run, is the reference for comparing machines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_ed25519 import ed25519_sign_rate

START_LIMIT_S = 120.0  # real seconds the daemon may take to be ready: a bound on a hang
WINDOW_S = 25.0
CPU_TARGET = 0.01
RSS_TARGET_MB = 80.0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5), in clock ticks
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return float("nan")


def run(quick: bool = False) -> dict[str, object]:
    window_s = 2.0 if quick else WINDOW_S
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "attestor.toml"
        cfg.write_text(f"""
state_dir = "{tmp}/state"
facility_id = "fac-bench"
node_id = "bench-node"
period_s = 10
sample_interval_s = 1
[[sources]]
kind = "simulator"
devices = 8
profile = "training"
""")
        ready = Path(tmp) / "attestor.ready"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "attestor.cli",
                "run",
                "--config",
                str(cfg),
                "--log-level",
                "warning",
                "--ready-file",
                str(ready),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + START_LIMIT_S
            while not ready.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    err = proc.stderr.read().decode()[-500:] if proc.stderr else ""
                    raise RuntimeError(f"attestor never became ready (exit {proc.wait()}): {err}")
                time.sleep(0.05)
            cpu0, t0 = _cpu_s(proc.pid), time.monotonic()
            time.sleep(window_s)
            cpu1, t1 = _cpu_s(proc.pid), time.monotonic()
            rss_kb = _status_kb(proc.pid, "VmRSS")
            hwm_kb = _status_kb(proc.pid, "VmHWM")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
    share = (cpu1 - cpu0) / (t1 - t0)
    return {
        "setup": "8 simulated devices, 1 s sampling, 10 s reports, spool only (no verifier), real clock",
        "cpu_share_of_one_core": round(share, 5),
        "cpu_target": CPU_TARGET,
        "cpu_within_target": share < CPU_TARGET,
        "rss_mb": round(rss_kb / 1024, 1),
        "peak_rss_mb": round(hwm_kb / 1024, 1),
        "rss_target_mb": RSS_TARGET_MB,
        "rss_within_target": hwm_kb / 1024 < RSS_TARGET_MB,
        "clean_exit_on_sigterm": code == 0,
        "window_s": window_s,
        "reference_ed25519_sign_per_s": round(ed25519_sign_rate(0.5), 1),
    }
