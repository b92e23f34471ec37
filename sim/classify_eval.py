"""The workload classifier measured on labelled real telemetry: ``pausewatch-sim classify-eval``.

Every source in ``../shared/data`` that carries a workload label is turned into the samples an
attestor would take, run through the very path of ``pausewatch-sim classify`` (the attestor's
aggregation, ``signals_from_usage``, ``classify_node_history``) and scored **by time**: each
labelled second counts with the class of the report period it falls in.

Sources, labels and the evidence for each (the folders' READMEs have the rest):

- ``h100-training`` (``gpu-power-traces/training-h100-8gpu``, 2 runs, 8×H100, 100 ms): LLM
  training. Labelled from the job's own memory footprint: *training* from the first to the last
  instant at which every GPU holds ≥ 30 GiB (model and optimiser resident; checkpoint stalls
  included), *idle* while no GPU holds more than 256 MiB (no CUDA context: before the job and
  after it released the GPUs). The start-up (context created, weights loading) and the
  wind-down are not scored.
- ``a100-inference`` (``gpu-power-traces/inference-llm``, 2 runs, 1×A100): batched LLM
  generation (job metadata beside each trace); every second *inference*.
- ``rtx4090-eval`` (``gpu-power-traces-more/rtx4090-vlm-eval``): vision-language model
  evaluation, *inference* (the README calls the label probable).
- ``h200-node-bmc`` (``gpu-power-traces-more/cisco-h200-mlperf-bmc-node1``): whole-node BMC power
  of an 8×H200 node, ~11 s; *training* and *idle* per ``segments.csv`` (TRAINING-PROBABLE counted
  as training), the rest not scored.
- ``vllm-pcie`` (``gpu-power-traces-more/inferencex-vllm-pcie``, 5 runs): vLLM online serving,
  *inference*; only PCIe bytes of GPU 0 (no power, no utilisation).
- ``alibaba-pods`` (``alibaba-clusterdata/genai-v2026``, 100 pods): production inference pods, one
  sample a minute of duty cycle and memory; a minute at 0 % duty *idle*, any other *inference*.
- ``snapshots`` (``nvidia-smi/exporter-metrics``, ``dcgm-exporter/metrics``): single scrapes; the
  idle captures *idle*, the load captures (gpu-burn, NVENC video encoding, a T4 busy without
  tensor work) *other*; the A100 MIG capture is left out (workload not documented). Each counts
  as one report period.

**Leave-one-source-out.** The classifier has no fitted parameters: its rules and thresholds are
set by hand in ``pausewatch.evaluation.workload`` and are the same whichever source is held out,
so each source's row *is* its held-out score. What LOSO cannot undo is that the rules were
written by someone who had looked at these sources; the synthetic evasion tests and hidden
traces are the check on that.

Scores: *recall* = training seconds classed ``training``; *specificity* = other seconds not
classed ``training``; *balanced accuracy* = their mean (training vs not, by time). Two errors
must never happen and are counted on their own: a training second classed ``idle`` or
``inference`` (a false proof) and a non-training second classed ``training`` (a false
violation).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import io
import json
import math
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from attestor.sources.dcgm import parse_dcgm_metrics
from attestor.telemetry import DeviceReading, Sample, SourceKind
from pausewatch.peaks import lookup_peak
from sim.classify import (
    DEFAULT_BUCKET_S,
    ClassifiedPeriod,
    classify_samples,
    gpu_trace_samples,
    node_power_samples,
)
from sim.traces import TraceError, parse_gpu_csv, parse_node_power_csv, read_trace_text

__all__ = [
    "DEFAULT_DATA",
    "NODE_POWER_SOURCES",
    "SOURCES",
    "Score",
    "Stream",
    "evaluate",
    "main",
    "streams",
]

DEFAULT_DATA: Final = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_NS: Final = 1_000_000_000
_GIB: Final = 2.0**30
CLASSES: Final = ("idle", "inference", "training", "uncertain", "other")
NODE_POWER_SOURCES: Final = frozenset({"h200-node-bmc"})  # whole-node power, no per-device telemetry
TRUTHS: Final = ("idle", "inference", "training", "other")


@dataclass(frozen=True)
class Stream:
    """One labelled node history: its samples and labelled intervals (unix ns, half-open)."""

    source: str
    name: str
    samples: Sequence[Sample]
    labels: Sequence[tuple[int, int, str]]
    period_s: float = 60.0


@dataclass
class Score:
    """Seconds by (truth, predicted class)."""

    seconds: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    boundary_s: float = 0.0  # seconds of periods where training started or ended: not scored

    def add(self, other: Score) -> None:
        for k, v in other.seconds.items():
            self.seconds[k] += v
        self.boundary_s += other.boundary_s

    def total(self, truth: str | None = None) -> float:
        return math.fsum(v for (t, _), v in self.seconds.items() if truth is None or t == truth)

    @property
    def training_s(self) -> float:
        return self.total("training")

    @property
    def other_s(self) -> float:
        return self.total() - self.training_s

    @property
    def recall(self) -> float | None:
        t = self.training_s
        return self.seconds[("training", "training")] / t if t else None

    @property
    def specificity(self) -> float | None:
        n = self.other_s
        if not n:
            return None
        false = math.fsum(v for (t, p), v in self.seconds.items() if t != "training" and p == "training")
        return 1.0 - false / n

    @property
    def balanced(self) -> float | None:
        parts = [x for x in (self.recall, self.specificity) if x is not None]
        return math.fsum(parts) / len(parts) if parts else None

    @property
    def false_proof_s(self) -> float:
        return self.seconds[("training", "idle")] + self.seconds[("training", "inference")]

    @property
    def false_violation_s(self) -> float:
        return math.fsum(v for (t, p), v in self.seconds.items() if t != "training" and p == "training")

    def as_json(self) -> dict[str, object]:
        return {
            "seconds": {f"{t}->{p}": round(v, 1) for (t, p), v in sorted(self.seconds.items()) if v},
            "training_s": round(self.training_s, 1),
            "not_training_s": round(self.other_s, 1),
            "recall": self.recall,
            "specificity": self.specificity,
            "balanced_accuracy": self.balanced,
            "boundary_s": round(self.boundary_s, 1),
            "training_classed_idle_or_inference_s": round(self.false_proof_s, 1),
            "not_training_classed_training_s": round(self.false_violation_s, 1),
        }


def score_stream(stream: Stream, classified: Sequence[ClassifiedPeriod]) -> Score:
    """Each labelled second with the class of the period it falls in.

    Unreported time is not scored. A period that holds both training and non-training seconds
    (the job started or ended inside it) is not scored either: one class cannot be right for
    both; its seconds are counted as ``boundary_s``.
    """
    score = Score()
    labels = sorted(stream.labels)
    first = 0
    for c in classified:  # periods and labels both in time order: one pass over each
        start, end = c.period.start_ns, c.period.end_ns
        while first < len(labels) and labels[first][1] <= start:
            first += 1
        parts: list[tuple[str, float]] = []
        for lo, hi, truth in labels[first:]:
            if lo >= end:
                break
            overlap = min(hi, end) - max(lo, start)
            if overlap > 0:
                parts.append((truth, overlap / _NS))
        truths = {t for t, _ in parts}
        if "training" in truths and len(truths) > 1:
            score.boundary_s += math.fsum(v for _, v in parts)
            continue
        for truth, seconds in parts:
            score.seconds[(truth, c.result.label)] += seconds
    return score


# ------------------------------------------------------------------ sources


def _h100_training(data: Path) -> Iterator[Stream]:
    base = data / "gpu-power-traces" / "training-h100-8gpu"
    peak = lookup_peak("H100 SXM")
    assert peak is not None  # noqa: S101  # the table has it
    for name in ("h100x8_ckpt1000.csv.gz", "h100x8_ckpt1.csv.gz"):
        path = base / name
        trace = parse_gpu_csv(read_trace_text(path), str(path), 8)
        samples = gpu_trace_samples(trace, peak.model)
        memory = [[d.memory_used_bytes or 0.0 for d in s.devices] for s in samples]
        times = [s.at_ns for s in samples]
        resident = [i for i, m in enumerate(memory) if min(m) >= 30 * _GIB]
        labels: list[tuple[int, int, str]] = []
        if resident:
            labels.append((times[resident[0]], times[resident[-1]] + _NS, "training"))
        touched = False
        for i, m in enumerate(memory):
            touched = touched or max(m) > 256 * 2**20
            if max(m) <= 256 * 2**20 and (not touched or (resident and i > resident[-1])):
                labels.append((times[i], times[i] + _NS, "idle"))
        yield Stream("h100-training", name, samples, _merge(labels))


def _merge(labels: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for lo, hi, truth in sorted(labels):
        if out and out[-1][2] == truth and out[-1][1] >= lo:
            out[-1] = (out[-1][0], max(out[-1][1], hi), truth)
        else:
            out.append((lo, hi, truth))
    return out


def _whole(samples: Sequence[Sample], truth: str) -> list[tuple[int, int, str]]:
    return [(samples[0].at_ns, samples[-1].at_ns + _NS, truth)] if samples else []


def _a100_inference(data: Path) -> Iterator[Stream]:
    base = data / "gpu-power-traces" / "inference-llm"
    for name in ("llama2-13b_1gpu_2024-04-18.csv.gz", "falcon-7b_2024-04-03_10-47-35.csv.gz"):
        path = base / name
        samples = gpu_trace_samples(parse_gpu_csv(read_trace_text(path), str(path), 1), "NVIDIA A100 SXM")
        yield Stream("a100-inference", name, samples, _whole(samples, "inference"))


def _rtx4090(data: Path) -> Iterator[Stream]:
    path = data / "gpu-power-traces-more" / "rtx4090-vlm-eval" / "gpu_log_rtx4090.csv.gz"
    samples = gpu_trace_samples(parse_gpu_csv(read_trace_text(path), str(path), 1), "NVIDIA GeForce RTX 4090")
    yield Stream("rtx4090-eval", path.name, samples, _whole(samples, "inference"))


def _local_ns(text: str) -> int:
    return round(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * _NS)


def _h200_node(data: Path) -> Iterator[Stream]:
    base = data / "gpu-power-traces-more" / "cisco-h200-mlperf-bmc-node1"
    path = base / "power_log_n1_only.csv.gz"
    text = read_trace_text(path)
    trace = parse_node_power_csv(text, str(path))
    first_line = next(line for line in text.splitlines()[1:] if line.strip())
    origin = _local_ns(first_line.split(",")[0])
    samples = node_power_samples(trace)
    shift = samples[0].at_ns - origin  # trace time of the log's first instant
    labels = []
    with (base / "segments.csv").open() as f:
        for row in csv.DictReader(f):
            truth = "training" if row["label"].startswith("TRAINING") else row["label"].lower()
            labels.append((_local_ns(row["start_local"]) + shift, _local_ns(row["end_local"]) + shift, truth))
    yield Stream("h200-node-bmc", path.name, samples, sorted(labels))


def _vllm_pcie(data: Path) -> Iterator[Stream]:
    base = data / "gpu-power-traces-more" / "inferencex-vllm-pcie"
    for path in sorted(base.glob("*_metrics_gpu_transfer.csv.gz")):
        samples = []
        for row in csv.DictReader(io.StringIO(read_trace_text(path))):
            rate = (float(row["tx_pci_mb_per_sec"]) + float(row["rx_pci_mb_per_sec"])) * 1e6
            device = DeviceReading(uuid="GPU-0", model="NVIDIA B200", pcie_rate_bps=rate)
            at = round(float(row["timestamp_sec"]) * _NS)
            samples.append(Sample(at, SourceKind.TRACE_REPLAY, "dmon", (device,)))
        yield Stream(
            "vllm-pcie",
            path.name.removesuffix("_metrics_gpu_transfer.csv.gz"),
            samples,
            _whole(samples, "inference"),
        )


def _alibaba(data: Path) -> Iterator[Stream]:
    base = data / "alibaba-clusterdata" / "genai-v2026"
    memory: dict[tuple[str, str], float] = {}
    with gzip.open(base / "pod_gpu_memory_used_bytes_anon.shared.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            memory[(row["container_ip"], row["timestamp_anon"])] = float(row["value"])
    pods: dict[str, list[tuple[float, float, float | None]]] = defaultdict(list)
    with gzip.open(base / "pod_gpu_duty_cycle_anon.shared.csv.gz", "rt") as f:
        for row in csv.DictReader(f):
            key = (row["container_ip"], row["timestamp_anon"])
            pods[row["container_ip"]].append(
                (float(row["timestamp_anon"]), float(row["value"]), memory.get(key))
            )
    for pod in sorted(pods):
        rows = sorted(pods[pod])
        samples = []
        labels = []
        for i, (t, duty, mem) in enumerate(rows):
            at = round(t * _NS)
            device = DeviceReading(
                uuid=f"GPU-{pod[:8]}", busy_fraction=min(1.0, duty / 100.0), memory_used_bytes=mem
            )
            samples.append(Sample(at, SourceKind.TRACE_REPLAY, "pod", (device,)))
            nxt = round(rows[i + 1][0] * _NS) if i + 1 < len(rows) else at + 60 * _NS
            labels.append((at, min(nxt, at + 60 * _NS), "idle" if duty == 0 else "inference"))
        yield Stream("alibaba-pods", pod[:12], samples, labels)


def _exporter_snapshot(text: str) -> DeviceReading:
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    m: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            m.setdefault(s.name, float(s.value))
    return DeviceReading(
        uuid="GPU-snapshot",
        power_w=m["nvidia_smi_power_draw_watts"],
        power_limit_w=m["nvidia_smi_enforced_power_limit_watts"],
        busy_fraction=m["nvidia_smi_utilization_gpu_ratio"],
        memory_used_bytes=m["nvidia_smi_memory_used_bytes"],
        memory_total_bytes=m["nvidia_smi_memory_total_bytes"],
    )


_SNAPSHOT_MODELS: Final = {
    "h100": "NVIDIA H100 80GB HBM3",
    "l40s": "NVIDIA L40S",
    "rtx-4080": "NVIDIA GeForce RTX 4080 SUPER",
    "l4": "NVIDIA L4",
    "t4": "Tesla T4",
}


def _snapshots(data: Path) -> Iterator[Stream]:
    at = 1_700_000_000 * _NS
    for path in sorted((data / "nvidia-smi" / "exporter-metrics").glob("*.metrics")):
        model = next(v for k, v in _SNAPSHOT_MODELS.items() if k in path.name)
        reading = _exporter_snapshot(path.read_text())
        device = DeviceReading(**{**reading.__dict__, "model": model})
        truth = "idle" if path.name.endswith("__idle.metrics") else "other"
        yield Stream(
            "snapshots",
            path.name.removeprefix("linux-x86_64__nvidia-").removesuffix(".metrics"),
            [Sample(at, SourceKind.NVIDIA_SMI, "", (device,))],
            [(at, at + 60 * _NS, truth)],
        )
    for path in sorted((data / "dcgm-exporter" / "metrics").glob("*.prom")):
        if path.name.startswith("a100_mig"):
            continue  # workload not documented
        devices, _ = parse_dcgm_metrics(path.read_text())
        if "t4_" in path.name:  # the T4 scrape names no model label
            devices = [DeviceReading(**{**d.__dict__, "model": d.model or "Tesla T4"}) for d in devices]
        truth = "idle" if "_idle_" in path.name else "other"
        yield Stream(
            "snapshots",
            path.name,
            [Sample(at, SourceKind.DCGM_EXPORTER, "", tuple(devices))],
            [(at, at + 60 * _NS, truth)],
        )


SOURCES: Final[dict[str, Callable[[Path], Iterator[Stream]]]] = {
    "h100-training": _h100_training,
    "a100-inference": _a100_inference,
    "rtx4090-eval": _rtx4090,
    "h200-node-bmc": _h200_node,
    "vllm-pcie": _vllm_pcie,
    "alibaba-pods": _alibaba,
    "snapshots": _snapshots,
}


def streams(data: Path, sources: Sequence[str] | None = None) -> Iterator[Stream]:
    for name, load in SOURCES.items():
        if sources is None or name in sources:
            yield from load(data)


# ------------------------------------------------------------------ evaluation


@dataclass(frozen=True)
class Evaluation:
    per_source: dict[str, Score]
    per_stream: dict[tuple[str, str], Score]

    def pooled(self, sources: Sequence[str] | None = None) -> Score:
        out = Score()
        for name, s in sorted(self.per_source.items()):
            if sources is None or name in sources:
                out.add(s)
        return out


def evaluate(
    data: Path, sources: Sequence[str] | None = None, bucket_s: float | None = DEFAULT_BUCKET_S
) -> Evaluation:
    """Every source scored as the verdicts of ``bucket_s`` buckets class its periods (None: each
    period from its causal history alone, as the report arrives)."""
    per_source: dict[str, Score] = {}
    per_stream: dict[tuple[str, str], Score] = {}
    for stream in streams(data, sources):
        s = score_stream(stream, classify_samples(stream.samples, stream.period_s, bucket_s))
        per_stream[(stream.source, stream.name)] = s
        per_source.setdefault(stream.source, Score()).add(s)
    return Evaluation(per_source, per_stream)


def _fmt(x: float | None) -> str:
    return "   -  " if x is None else f"{x:6.3f}"


def format_table(ev: Evaluation, *, streams_too: bool = False) -> str:
    head = (
        f"{'source (held out)':<34} {'train min':>9} {'other min':>9} {'recall':>6} {'spec':>6} "
        f"{'bal.acc':>7} {'false proof s':>13} {'false viol s':>12}  seconds by class (truth→class)"
    )
    lines = [head]

    def row(name: str, s: Score) -> str:
        mix = ", ".join(f"{t}→{p} {v / 60:.0f}m" for (t, p), v in sorted(s.seconds.items()) if v >= 30)
        return (
            f"{name:<34} {s.training_s / 60:9.1f} {s.other_s / 60:9.1f} {_fmt(s.recall)} "
            f"{_fmt(s.specificity)} {_fmt(s.balanced):>7} {s.false_proof_s:13.0f} "
            f"{s.false_violation_s:12.0f}  {mix}"
        )

    for name in SOURCES:
        if name in ev.per_source:
            lines.append(row(name, ev.per_source[name]))
            if streams_too:
                for (src, stream), s in sorted(ev.per_stream.items()):
                    if src == name and len([k for k in ev.per_stream if k[0] == src]) > 1:
                        lines.append(row(f"  {stream[:32]}", s))
    gpu = [s for s in ev.per_source if s not in NODE_POWER_SOURCES]
    lines.append(row("pooled: all sources", ev.pooled()))
    lines.append(row("pooled: GPU telemetry", ev.pooled(gpu)))
    macro = [s.balanced for s in ev.per_source.values() if s.balanced is not None and s.training_s]
    macro_text = _fmt(math.fsum(macro) / len(macro)) if macro else "-"
    lines.append(f"macro balanced accuracy over sources with training: {macro_text}")
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "classify-eval",
        help="the workload classifier on every labelled real trace in ../shared/data, per source and pooled",
        description="Score the workload classifier by time on the labelled real traces (docs/classify.md).",
    )
    p.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"the shared data folder (default {DEFAULT_DATA})"
    )
    p.add_argument("--source", action="append", choices=sorted(SOURCES), help="only this source (repeatable)")
    p.add_argument("--streams", action="store_true", help="a row per trace too")
    p.add_argument(
        "--causal",
        action="store_true",
        help="class each period from its causal history alone, as the report arrives (default: as"
        f" the verdict of its {DEFAULT_BUCKET_S}-s bucket classes it, with the bucket's later reports)",
    )
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def run_eval(args: argparse.Namespace) -> int:
    if not args.data.is_dir():
        print(f"pausewatch-sim classify-eval: no data at {args.data}", file=sys.stderr)
        return 2
    try:
        ev = evaluate(args.data, args.source, None if args.causal else DEFAULT_BUCKET_S)
    except (TraceError, OSError, ValueError, KeyError) as e:
        print(f"pausewatch-sim classify-eval: {e}", file=sys.stderr)
        return 2
    if args.json:
        gpu = [s for s in ev.per_source if s not in NODE_POWER_SOURCES]
        print(
            json.dumps(
                {
                    "per_source": {k: v.as_json() for k, v in ev.per_source.items()},
                    "pooled": ev.pooled().as_json(),
                    "pooled_gpu_telemetry": ev.pooled(gpu).as_json(),
                },
                indent=1,
            )
        )
    else:
        print(format_table(ev, streams_too=args.streams))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pausewatch-sim")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run_eval(parser.parse_args(["classify-eval", *(argv if argv is not None else sys.argv[1:])]))


if __name__ == "__main__":
    sys.exit(main())
