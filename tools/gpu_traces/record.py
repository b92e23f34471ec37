"""Record labelled GPU traces through the attestor's own NVML source, one workload after another.

    python tools/gpu_traces/record.py --out DIR [--scale 1.0] [--fake-nvml]

While the phases of ``PHASES`` run one after another (each workload of ``workloads.py`` in its
own process, idle phases with no process), a thread samples every GPU once a second through
``attestor.sources.nvml.NvmlSource`` (the attestor daemon's source, unchanged) and writes:

- ``nvml.csv``: the samples in nvidia-smi's CSV layout (``timestamp, index, name, power.draw
  [W], utilization.gpu [%], memory.used [MiB], memory.total [MiB]``), which ``pausewatch-sim
  classify`` and the trace replay read;
- ``nvml.jsonl``: every field of every sample (GPM SM and tensor activity, PCIe, processes,
  anomalies), one JSON object a line; the board serial number is left out;
- ``labels.csv``: ``start_unix,end_unix,phase,label,exit`` for each phase (``label`` is
  training / inference / idle / other, the classifier's classes); ``events.csv``: what each
  workload did and when (its checkpoints, its batches);
- ``nvidia-smi.csv``: the same GPUs read by nvidia-smi itself (``-lms 1000``), where it exists,
  as an independent record in the format others capture;
- ``meta.json`` and ``log.txt``.

``--fake-nvml`` samples the recorded fake of ``tests/attestor/fake_nvml.py`` instead (a dry run
on a machine with no GPU); ``--scale`` shortens every phase (0.05 for a dry run);
``--device cpu --size tiny`` runs the workloads on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "attestor")]

from fake_nvml import FakeGpu, FakeNvml  # noqa: E402  (the recorded fake, for a dry run)

from attestor.sources.nvml import NvmlSource  # noqa: E402

# (phase, label, workload or None for idle, seconds, the workload's further arguments)
PHASES: list[tuple[str, str, str | None, float, tuple[str, ...]]] = [
    ("idle-start", "idle", None, 15, ()),
    ("train-ckpt", "training", "train-ckpt", 225, ("--ckpt-every", "30")),
    ("train-filler", "training", "train-filler", 80, ("--ckpt-every", "20")),
    ("infer-batched", "inference", "infer-batched", 55, ()),
    ("infer-requests", "inference", "infer-requests", 65, ()),
    ("stress", "other", "stress", 30, ()),
    ("idle-end", "idle", None, 8, ()),
]
MIB = 1024.0 * 1024.0
CSV_HEADER = (
    "timestamp, index, name, power.draw [W], utilization.gpu [%], memory.used [MiB], memory.total [MiB]"
)
SMI_FIELDS = (
    "timestamp,index,name,power.draw,utilization.gpu,utilization.memory,memory.used,"
    "memory.total,clocks.sm,clocks.mem,temperature.gpu,pstate"
)


def smi_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y/%m/%d %H:%M:%S.") + f"{int(t * 1000) % 1000:03d}"


def fmt(value: float | None, unit: str, scale: float = 1.0, digits: int = 2) -> str:
    """A value as nvidia-smi writes it: ``612.34 W``; an absent one ``[N/A]`` (no unit)."""
    return "[N/A]" if value is None else f"{value * scale:.{digits}f} {unit}"


class Recorder(threading.Thread):
    def __init__(self, source: NvmlSource, out: Path, log: Callable[[str], None]) -> None:
        super().__init__(daemon=True)
        self.source = source
        self.csv = (out / "nvml.csv").open("w", buffering=1)
        self.jsonl = (out / "nvml.jsonl").open("w", buffering=1)
        self.log = log
        self.stop = threading.Event()
        self.samples = 0
        self.csv.write(CSV_HEADER + "\n")

    def run(self) -> None:
        tick = time.time()
        while not self.stop.is_set():
            try:
                self._one(time.time())
            except Exception as e:  # a recorder keeps recording; the log says what failed
                self.log(f"sample failed: {type(e).__name__}: {e}")
            tick += 1.0
            self.stop.wait(max(0.0, tick - time.time()))

    def _one(self, t: float) -> None:
        sample = self.source.sample(int(t * 1e9))
        for i, d in enumerate(sample.devices):
            memory = [fmt(m, "MiB", 1 / MIB, 0) for m in (d.memory_used_bytes, d.memory_total_bytes)]
            load = [fmt(d.power_w, "W"), fmt(d.busy_fraction, "%", 100, 0)]
            fields = [smi_time(t), str(i), d.model, *load, *memory]
            self.csv.write(", ".join(fields) + "\n")
        row = {
            "t": round(t, 3),
            "version": sample.version,
            "devices": [
                {k: v for k, v in dataclasses.asdict(d).items() if k != "serial"} for d in sample.devices
            ],
            "anomalies": [dataclasses.asdict(a) for a in sample.anomalies],
        }
        self.jsonl.write(json.dumps(row, default=str) + "\n")
        self.samples += 1


def _phases(args: argparse.Namespace, out: Path, log: Callable[[str], None]) -> None:
    labels = (out / "labels.csv").open("w", buffering=1)
    labels.write("start_unix,end_unix,phase,label,exit\n")
    events = out / "events.csv"
    events.write_text("unix_time,workload,event,detail\n")
    for phase, label, workload, full_s, extra in PHASES:
        seconds = full_s * args.scale
        start = time.time()
        log(f"phase {phase} ({label}) for {seconds:.0f} s")
        rc = 0
        if workload is None:
            time.sleep(seconds)
        else:
            cmd = [
                sys.executable, str(Path(__file__).with_name("workloads.py")), workload,
                "--seconds", str(seconds), "--events", str(events), "--size", args.size,
                "--device", args.device, "--ckpt-dir", args.ckpt_dir, *extra,
            ]  # fmt: skip
            with (out / "log.txt").open("a") as err:
                try:
                    done = subprocess.run(cmd, stdout=err, stderr=err, timeout=seconds + 90, check=False)
                    rc = done.returncode
                except subprocess.TimeoutExpired:
                    rc = -9
        end = time.time()
        labels.write(f"{start:.3f},{end:.3f},{phase},{label},{rc}\n")
        log(f"phase {phase} ended after {end - start:.1f} s, exit {rc}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--fake-nvml", action="store_true")
    p.add_argument("--device", default="cuda")
    p.add_argument("--size", default="big")
    p.add_argument("--ckpt-dir", help="where checkpoints are written (default: a new temporary folder)")
    args = p.parse_args(argv)
    args.ckpt_dir = args.ckpt_dir or tempfile.mkdtemp(prefix="pausewatch-ckpt-")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    logf = (out / "log.txt").open("a", buffering=1)

    def log(msg: str) -> None:
        line = f"{smi_time(time.time())} {msg}"
        print(line, flush=True)
        logf.write(line + "\n")

    source = NvmlSource(FakeNvml([FakeGpu("GPU-fake")]) if args.fake_nvml else None)
    meta = {
        "recorded_by": "tools/gpu_traces/record.py",
        "started_utc": smi_time(time.time()),
        "host": platform.platform(),
        "python": sys.version.split()[0],
        "gpus": [(uuid, model) for uuid, model, _serial in source.inventory()],
        "phases": PHASES,
        "scale": args.scale,
    }
    smi = None
    if not args.fake_nvml and shutil.which("nvidia-smi"):
        query = [f"--query-gpu={SMI_FIELDS}", "--format=csv", "-lms", "1000"]
        smi = subprocess.Popen(["nvidia-smi", *query, "-f", str(out / "nvidia-smi.csv")])
    for cmd in (["nvidia-smi"], ["df", "-h", args.ckpt_dir]):
        if shutil.which(cmd[0]):
            log(subprocess.run(cmd, capture_output=True, text=True, check=False).stdout)
    recorder = Recorder(source, out, log)
    recorder.start()
    try:
        _phases(args, out, log)
    finally:
        time.sleep(min(2.0, 2.0 * args.scale))
        recorder.stop.set()
        recorder.join(timeout=5)
        source.close()
        if smi is not None:
            smi.terminate()
            smi.wait(timeout=5)
        meta["samples"] = recorder.samples
        meta["ended_utc"] = smi_time(time.time())
        (out / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        log(f"recorded {recorder.samples} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
