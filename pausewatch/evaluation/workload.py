"""Workload class of a node over one report period: idle, inference or training.

The classifier is a transparent score, not a learned model: each signal below contributes
evidence for or against *training* with a weight written next to it, and the score is clipped
to 0 … 1. A node with no active device is IDLE. Otherwise the class is TRAINING when the score
is at least ``TRAINING_THRESHOLD`` and INFERENCE below it; the confidence is how far the score
sits on its side (score for training, 1 − score for inference).

What the signals mean, and what they do not:

- **Utilisation %** (``busy_fraction``) is the share of time *any* kernel ran. A single tiny
  kernel keeps it at 100 %; a training job waiting on checkpoints shows > 50 % at 150 W of a
  700 W board (``h100x8_ckpt1``). It marks a device as active; it is never evidence of compute
  on its own.
- **Sustained power near the board limit** (high *minimum* power over the period, busy ≥ 0.85):
  training keeps every device saturated between steps; request-driven inference dips between
  batches. Weight 0.30.
- **Synchrony across devices** (correlation of each device's power with the others'): data-
  parallel training moves every device in lockstep (all-reduce each step). Weight 0.45, the
  strongest signal in the real traces; needs ≥ 2 active devices.
- **Interconnect traffic** (NVLink bytes per device, InfiniBand bytes per node): gradient
  exchange; ≥ 1 GB/s is full evidence. Weight 0.25.
- **Tensor-pipe activity** (DCGM/GPM, where the source has it): matrix work. Weight 0.20 for,
  and busy-without-tensor-work (tensor < 0.05 while busy) counts 0.40 *against*: video encode,
  graphics and synthetic non-tensor burns look busy but are not ML.
- **Iteration rhythm** (autocorrelation periodicity at a 1–120 s lag): weight 0.10; at 1 Hz
  sampling most step rhythms are too fast to see, so it is weak.
- **Memory residency** (memory used / total ≥ 0.5): weight 0.05; inference servers also keep
  weights resident, so it barely counts.
- **Burstiness** (busy < 0.8, or a power coefficient of variation > 0.25 with low minimum
  power): request-driven work. Weight 0.35 against.

Known blind spots (validated on the real traces in tests/evaluation/test_classifier_traces.py):

- Single-device training has no synchrony: a lone GPU training flat out scores like batched
  offline inference (sustained power, busy ≈ 1), around 0.45 — INFERENCE with low confidence,
  so the bucket is INCONCLUSIVE, never COMPLIANT and never a VIOLATION.
- Tensor-parallel *inference* across the devices of a node is synchronous and moves NVLink
  traffic: it can score as training when it is also sustained. Confidence stays moderate
  unless power is saturated too.
- I/O-bound training (checkpoint every step, ``h100x8_ckpt1``) draws ~20 % of board power; it
  is caught by synchrony alone (score 0.65–0.75: TRAINING, mostly below the violation
  threshold, so such buckets are INCONCLUSIVE rather than VIOLATION).
- A perfectly flat power signal (variance below sensor noise) has no synchrony or rhythm: one
  minute of ``h100x8_ckpt1`` is flat at 150 W and scores 0.2 (missed).
- Without power (the Alibaba pods report only duty cycle and memory) a device at < 50 % duty is
  IDLE, not INFERENCE: right for the training question, wrong for the 3-class one.

Measured (tests/evaluation/test_classifier_traces.py): training recall 15/16, no non-training
period among ~107,700 at or above the violation threshold, balanced training-vs-not accuracy
0.969, 3-class accuracy on the power time series 0.84.
- A synthetic compute burn (gpu-burn) on every device at once, or any non-ML dense matmul,
  is compute like training and can score as training where devices are synchronous;
  on a single device it scores as sustained inference.
- Fabricated telemetry defeats any classifier: that is what the meter energy balance and the
  power/activity plausibility checks are for.
- Fractional or MIG-shared devices report the whole board; per-slice classes are not formed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from pausewatch.peaks import UNKNOWN_MODEL_PEAK, lookup_peak
from pausewatch.v1 import types_pb2

__all__ = [
    "CLASSIFIER_VERSION",
    "TRAINING_THRESHOLD",
    "DeviceSignals",
    "NodeSignals",
    "WorkloadEstimate",
    "accelerator_values",
    "classify_node_period",
    "device_signals",
    "signals_from_usage",
]

CLASSIFIER_VERSION: Final = "score-v1"
TRAINING_THRESHOLD: Final = 0.5


class DeviceSignals(NamedTuple):
    """What the classifier reads of one device over one period (SI units; None: not given).

    A named tuple rather than a frozen dataclass: the evaluation builds one per accelerator
    and report, and a tuple is several times cheaper to build.
    """

    power_mean_w: float | None = None
    power_min_w: float | None = None
    power_limit_w: float | None = None
    power_variance_w2: float | None = None
    busy_fraction: float | None = None
    sm_active: float | None = None
    tensor_active: float | None = None
    memory_used_bytes: float | None = None
    memory_total_bytes: float | None = None
    nvlink_bytes_per_s: float | None = None
    periodicity: float | None = None
    dominant_period_s: float | None = None
    synchrony: float | None = None


class NodeSignals(NamedTuple):
    devices: tuple[DeviceSignals, ...]
    infiniband_bytes_per_s: float | None = None


class WorkloadEstimate(NamedTuple):
    workload: int  # WorkloadClass
    confidence: float
    training_score: float
    active_devices: int


def _clip(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _ratio(d: DeviceSignals, value: float | None) -> float | None:
    if value is None or d.power_limit_w is None or d.power_limit_w <= 0:
        return None
    return value / d.power_limit_w


def _active(d: DeviceSignals) -> bool:
    ratio = _ratio(d, d.power_mean_w)
    return (
        (d.busy_fraction is not None and d.busy_fraction >= 0.5)
        or (ratio is not None and ratio >= 0.3)
        or (d.tensor_active is not None and d.tensor_active >= 0.05)
        or (d.sm_active is not None and d.sm_active >= 0.1)
    )


def _link_evidence(bytes_per_s: float | None) -> float:
    if bytes_per_s is None or bytes_per_s <= 1e8:
        return 0.0
    return _clip(math.log10(bytes_per_s / 1e8))  # 100 MB/s → 0, 1 GB/s → 1


def _device_evidence(d: DeviceSignals) -> dict[str, float]:
    busy = d.busy_fraction
    min_ratio = _ratio(d, d.power_min_w)
    mean_ratio = _ratio(d, d.power_mean_w)
    ev: dict[str, float] = {}
    if min_ratio is not None and (busy is None or busy >= 0.85):
        ev["sustain"] = _clip((min_ratio - 0.3) / 0.3)
    elif mean_ratio is not None and d.power_min_w is None and (busy is None or busy >= 0.85):
        ev["sustain"] = 0.5 * _clip((mean_ratio - 0.3) / 0.3)  # a snapshot: half weight
    if d.tensor_active is not None:
        ev["tensor"] = _clip((d.tensor_active - 0.15) / 0.35)
        if d.tensor_active < 0.05 and busy is not None and busy >= 0.5:
            ev["no_tensor"] = 1.0
    if d.periodicity is not None and d.dominant_period_s is not None and 1.0 <= d.dominant_period_s <= 120.0:
        ev["rhythm"] = _clip((d.periodicity - 0.3) / 0.3)
    if d.memory_used_bytes is not None and d.memory_total_bytes:
        ev["memory"] = _clip((d.memory_used_bytes / d.memory_total_bytes - 0.2) / 0.3)
    ev["link"] = _link_evidence(d.nvlink_bytes_per_s)
    bursty = 0.0
    if busy is not None:
        bursty = _clip((0.8 - busy) / 0.5)
    if d.power_variance_w2 is not None and d.power_mean_w and (min_ratio is None or min_ratio < 0.3):
        cv = math.sqrt(max(0.0, d.power_variance_w2)) / d.power_mean_w
        bursty = max(bursty, _clip((cv - 0.25) / 0.25))
    ev["bursty"] = bursty
    return ev


_WEIGHTS: Final = {
    "sync": 0.45,
    "sustain": 0.30,
    "link": 0.25,
    "tensor": 0.20,
    "rhythm": 0.10,
    "memory": 0.05,
    "bursty": -0.35,
    "no_tensor": -0.40,
}
_PRIOR: Final = 0.15


def classify_node_period(signals: NodeSignals) -> WorkloadEstimate:
    """Classify one node over one period from its devices' signals."""
    active = [d for d in signals.devices if _active(d)]
    if not active:
        quiet = all(
            (_ratio(d, d.power_mean_w) or 0.0) < 0.2 and (d.busy_fraction or 0.0) < 0.1
            for d in signals.devices
        )
        return WorkloadEstimate(types_pb2.WORKLOAD_CLASS_IDLE, 0.95 if quiet else 0.75, 0.0, 0)
    per_device = [_device_evidence(d) for d in active]
    evidence: dict[str, float] = {}
    for name in ("sustain", "tensor", "no_tensor", "rhythm", "memory", "bursty", "link"):
        values = [e[name] for e in per_device if name in e]
        mean = _mean(values)
        if mean is not None:
            evidence[name] = mean
    sync_values = [d.synchrony for d in active if d.synchrony is not None]
    if len(active) >= 2 and sync_values:
        evidence["sync"] = _clip((math.fsum(sync_values) / len(sync_values) - 0.5) / 0.4)
    evidence["link"] = max(evidence.get("link", 0.0), _link_evidence(signals.infiniband_bytes_per_s))
    score = _clip(_PRIOR + math.fsum(_WEIGHTS[k] * v for k, v in sorted(evidence.items())))
    if score >= TRAINING_THRESHOLD:
        return WorkloadEstimate(types_pb2.WORKLOAD_CLASS_TRAINING, score, score, len(active))
    return WorkloadEstimate(types_pb2.WORKLOAD_CLASS_INFERENCE, 1.0 - score, score, len(active))


def accelerator_values(acc: types_pb2.AcceleratorUsage) -> dict[str, Any]:
    """The fields an accelerator's source gave (absent optional fields are left out)."""
    return {f.name: v for f, v in acc.ListFields()}


def measured_values(acc: types_pb2.AcceleratorUsage) -> dict[str, Any]:
    """What the evaluation reads of ``accelerator_values``, for a fraction of its cost.

    The same keys with the same values for every field the evaluation reads (the optional
    measurements and ``model``); fields it never reads (``pcie_bytes``, ``process_count``,
    the source) are left out. An unset optional field reads as zero, so presence is asked
    only of fields that read zero: one attribute read per field instead of a descriptor walk.
    """
    has = acc.HasField
    out: dict[str, Any] = {}
    x = acc.energy_j
    if x or has("energy_j"):
        out["energy_j"] = x
    x = acc.power_mean_w
    if x or has("power_mean_w"):
        out["power_mean_w"] = x
    x = acc.power_min_w
    if x or has("power_min_w"):
        out["power_min_w"] = x
    x = acc.power_max_w
    if x or has("power_max_w"):
        out["power_max_w"] = x
    x = acc.power_limit_w
    if x or has("power_limit_w"):
        out["power_limit_w"] = x
    x = acc.busy_fraction
    if x or has("busy_fraction"):
        out["busy_fraction"] = x
    x = acc.sm_active
    if x or has("sm_active"):
        out["sm_active"] = x
    x = acc.tensor_active
    if x or has("tensor_active"):
        out["tensor_active"] = x
    x = acc.memory_used_bytes
    if x or has("memory_used_bytes"):
        out["memory_used_bytes"] = x
    x = acc.memory_total_bytes
    if x or has("memory_total_bytes"):
        out["memory_total_bytes"] = x
    x = acc.nvlink_bytes
    if x or has("nvlink_bytes"):
        out["nvlink_bytes"] = x
    x = acc.power_variance_w2
    if x or has("power_variance_w2"):
        out["power_variance_w2"] = x
    x = acc.power_dominant_period_s
    if x or has("power_dominant_period_s"):
        out["power_dominant_period_s"] = x
    x = acc.power_periodicity
    if x or has("power_periodicity"):
        out["power_periodicity"] = x
    x = acc.synchrony
    if x or has("synchrony"):
        out["synchrony"] = x
    if acc.model:
        out["model"] = acc.model
    return out


def device_signals(values: Mapping[str, Any], seconds: float) -> DeviceSignals:
    """The classifier's view of one accelerator (``accelerator_values``) over ``seconds``."""
    limit = values.get("power_limit_w")
    if limit is None or limit <= 0:
        limit = (lookup_peak(values.get("model", "")) or UNKNOWN_MODEL_PEAK).board_power_w
    nvlink = values.get("nvlink_bytes")
    return DeviceSignals(
        power_mean_w=values.get("power_mean_w"),
        power_min_w=values.get("power_min_w"),
        power_limit_w=limit,
        power_variance_w2=values.get("power_variance_w2"),
        busy_fraction=values.get("busy_fraction"),
        sm_active=values.get("sm_active"),
        tensor_active=values.get("tensor_active"),
        memory_used_bytes=values.get("memory_used_bytes"),
        memory_total_bytes=values.get("memory_total_bytes"),
        nvlink_bytes_per_s=None if nvlink is None else nvlink / seconds,
        periodicity=values.get("power_periodicity"),
        dominant_period_s=values.get("power_dominant_period_s"),
        synchrony=values.get("synchrony"),
    )


def signals_from_usage(
    report: types_pb2.UsageReport, values: Sequence[Mapping[str, Any]] | None = None
) -> NodeSignals:
    """The classifier's view of a usage report (power limit defaults to the model's board power)."""
    seconds = max(1e-9, (report.period_end_unix_ns - report.period_start_unix_ns) / 1e9)
    if values is None:
        values = [accelerator_values(a) for a in report.accelerators]
    devices = tuple(device_signals(v, seconds) for v in values)
    ib = float(report.node.infiniband_bytes) / seconds if report.node.HasField("infiniband_bytes") else None
    return NodeSignals(devices, ib)


# --- the seam with the evaluation (issue 11 replaces the implementation) ---------------------

CONTEXT_S: Final = 600.0


class WorkloadLabel:
    IDLE = "idle"
    INFERENCE = "inference"
    TRAINING = "training"
    UNCERTAIN = "uncertain"
    OTHER = "other"


class PeriodSignals(NamedTuple):
    start_ns: int
    end_ns: int
    signals: NodeSignals


class PeriodClass(NamedTuple):
    label: str
    training_score: float
    confidence: float
    active_devices: int
    workload: int


def classify_node_history(periods: Sequence[PeriodSignals]) -> tuple[PeriodClass, ...]:
    """One class per period (causal: a period's class depends on no later period)."""
    out = []
    for p in periods:
        est = classify_node_period(p.signals)
        if est.workload == types_pb2.WORKLOAD_CLASS_IDLE:
            label = WorkloadLabel.IDLE
        elif est.training_score >= 0.75:
            label = WorkloadLabel.TRAINING
        elif est.training_score > 0.35:
            label = WorkloadLabel.UNCERTAIN
        else:
            label = WorkloadLabel.INFERENCE
        out.append(PeriodClass(label, est.training_score, est.confidence, est.active_devices, est.workload))
    return tuple(out)
