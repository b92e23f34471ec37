"""Labelled node-periods from the real telemetry in ../shared/data (never copied into the repo).

Each source is turned into what an attestor would report for a 60-s period — the shape fields
computed by ``pausewatch.features`` from the samples resampled to 1 Hz, the
attestor's sampling rate — and labelled from the dataset's own documentation:

- ``gpu-power-traces/training-h100-8gpu``: 8×H100 LLM training. Period 0 is idle (README: the
  first minute idles at ~72 W with 17 MiB used), period 1 (start-up) and the last (wind-down)
  are left out, every other period is training. One node-period per minute.
- ``gpu-power-traces/inference-llm``: single-A100 batched LLM generation; every period is
  inference. Board power taken as 400 W (A100 SXM4; the traces do not name the board).
- ``alibaba-clusterdata/genai-v2026``: production inference pods, one sample a minute (duty
  cycle %, memory bytes). A minute with 0 % duty is idle, any other minute inference.
- ``nvidia-smi/exporter-metrics`` and ``dcgm-exporter/metrics``: single scrapes. Idle captures
  are idle; the load captures are busy-but-not-ML (gpu-burn, NVENC video encode, a T4 at 91 %
  "utilisation" with no tensor work), labelled ``other``: correct as anything but training.
  The A100 MIG capture is left out: its workload is not documented.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from pausewatch.evaluation.workload import DeviceSignals, NodeSignals
from pausewatch.features import busy_fraction, power_shape, synchrony

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PERIOD_S = 60

Sample = tuple[str, str, NodeSignals]  # (source, label, signals)


def require_data() -> Path:
    if not DATA.is_dir():
        raise FileNotFoundError(
            f"real telemetry not found at {DATA}: the classifier validation needs ../shared/data beside"
            " the repository (CI has it there)"
        )
    return DATA


def _ts(text: str) -> float:
    text = text.strip()
    if text.endswith("."):
        text += "0"
    return dt.datetime.strptime(text, "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=dt.UTC).timestamp()


def _num(text: str) -> float:
    return float(text.strip().split()[0])


def _nvsmi_rows(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt") as f:
        rows = list(csv.reader(f))[1:]
    # A few rows are truncated in the real logs (the logger was killed mid-line): skip them.
    return [r for r in rows if len(r) >= 3 and r[1].strip().endswith("W") and r[2].strip().endswith("%")]


def _periods(rows: list[list[str]], devices: int, limit_w: float, with_memory: bool) -> list[NodeSignals]:
    samples = []
    for i in range(0, len(rows) - devices + 1, devices):
        group = rows[i : i + devices]
        samples.append(
            (
                _ts(group[0][0]),
                [_num(r[1]) for r in group],
                [_num(r[2]) for r in group],
                [_num(r[3]) * 2**20 if with_memory and len(r) > 3 else None for r in group],
            )
        )
    resampled, due = [], samples[0][0]
    for s in samples:  # the attestor samples at 1 Hz: keep the first sample of each second
        if s[0] >= due:
            resampled.append(s)
            due += 1.0
    out = []
    for p in range(len(resampled) // PERIOD_S):
        seg = resampled[p * PERIOD_S : (p + 1) * PERIOD_S]
        times = [s[0] for s in seg]
        devs = []
        for d in range(devices):
            power = [s[1][d] for s in seg]
            shape = power_shape(times, power)
            others = [[s[1][o] for s in seg] for o in range(devices) if o != d]
            mem = seg[-1][3][d]
            devs.append(
                DeviceSignals(
                    power_mean_w=shape.power_mean_w,
                    power_min_w=shape.power_min_w,
                    power_limit_w=limit_w,
                    power_variance_w2=shape.power_variance_w2,
                    busy_fraction=busy_fraction([s[2][d] for s in seg]),
                    memory_used_bytes=mem,
                    memory_total_bytes=80 * 2**30 if mem is not None else None,
                    periodicity=shape.power_periodicity,
                    dominant_period_s=shape.power_dominant_period_s,
                    synchrony=synchrony(power, others),
                )
            )
        out.append(NodeSignals(tuple(devs)))
    return out


def power_traces() -> Iterator[Sample]:
    base = require_data() / "gpu-power-traces"
    for name in ("h100x8_ckpt1000.csv.gz", "h100x8_ckpt1.csv.gz"):
        periods = _periods(_nvsmi_rows(base / "training-h100-8gpu" / name), 8, 700.0, True)
        yield f"training/{name}", "idle", periods[0]
        for p in periods[2:-1]:
            yield f"training/{name}", "training", p
    for name in ("llama2-13b_1gpu_2024-04-18.csv.gz", "falcon-7b_2024-04-03_10-47-35.csv.gz"):
        for p in _periods(_nvsmi_rows(base / "inference-llm" / name), 1, 400.0, False):
            yield f"inference/{name}", "inference", p


def alibaba_pods() -> Iterator[Sample]:
    base = require_data() / "alibaba-clusterdata" / "genai-v2026"
    memory: dict[tuple[str, float], float] = {}
    with gzip.open(base / "pod_gpu_memory_used_bytes_anon.shared.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            memory[(row["container_ip"], float(row["timestamp_anon"]))] = float(row["value"])
    with gzip.open(base / "pod_gpu_duty_cycle_anon.shared.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            duty = float(row["value"])
            mem = memory.get((row["container_ip"], float(row["timestamp_anon"])))
            signals = NodeSignals(
                (DeviceSignals(busy_fraction=min(1.0, duty / 100.0), memory_used_bytes=mem),)
            )
            yield "alibaba/genai-v2026", "idle" if duty == 0 else "inference", signals


def _scrape(path: Path) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            values.setdefault(s.name, s.value)
    return values


def snapshots() -> Iterator[Sample]:
    base = require_data()
    for path in sorted((base / "nvidia-smi" / "exporter-metrics").glob("*.metrics")):
        m = _scrape(path)
        label = "idle" if path.name.endswith("__idle.metrics") else "other"
        yield (
            f"nvidia-smi/{path.name}",
            label,
            NodeSignals(
                (
                    DeviceSignals(
                        power_mean_w=m["nvidia_smi_power_draw_watts"],
                        power_limit_w=m["nvidia_smi_enforced_power_limit_watts"],
                        busy_fraction=m["nvidia_smi_utilization_gpu_ratio"],
                        memory_used_bytes=m["nvidia_smi_memory_used_bytes"],
                        memory_total_bytes=m["nvidia_smi_memory_total_bytes"],
                    ),
                )
            ),
        )
    limits = {"l4": 72.0, "l40s": 350.0, "t4": 70.0}  # board power (datasheets; see pausewatch.peaks)
    for path in sorted((base / "dcgm-exporter" / "metrics").glob("*.prom")):
        if path.name.startswith("a100_mig"):
            continue  # workload undocumented
        m = _scrape(path)
        label = "idle" if "_idle_" in path.name else "other"
        yield (
            f"dcgm/{path.name}",
            label,
            NodeSignals(
                (
                    DeviceSignals(
                        power_mean_w=m["DCGM_FI_DEV_POWER_USAGE"],
                        power_limit_w=limits[path.name.split("_", 1)[0]],
                        busy_fraction=m["DCGM_FI_DEV_GPU_UTIL"] / 100.0,
                        tensor_active=m.get("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"),
                        sm_active=m.get("DCGM_FI_PROF_SM_ACTIVE"),
                        memory_used_bytes=m["DCGM_FI_DEV_FB_USED"] * 2**20
                        if "DCGM_FI_DEV_FB_USED" in m
                        else None,
                    ),
                )
            ),
        )


def all_samples() -> list[Sample]:
    return [*power_traces(), *alibaba_pods(), *snapshots()]


def by_source(samples: list[Sample]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        out[s[0].split("/", 1)[0]].append(s)
    return out
