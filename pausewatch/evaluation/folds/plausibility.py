"""Plausibility of each usage report's values: what the source flagged invalid, counters that
ran backwards, and power that contradicts activity, the board's limit, the model or the energy
counter.

Findings: ``telemetry.invalid``, ``plausibility.counter_backwards``,
``plausibility.power_activity`` (a node's BMC below its accelerators: ``NodeEnergyFold``)."""

from __future__ import annotations

import math
from typing import Final

from pausewatch.evaluation.findings import WARNING, FindingId
from pausewatch.evaluation.folds.integrity import IntegrityFold
from pausewatch.evaluation.folds.reading import DeviceReading, Slice, UsageReading
from pausewatch.peaks import BOARD_OVERDRAW

__all__ = [
    "ENERGY_RESOLUTION_J",
    "ENERGY_SAMPLING_Z",
    "POWER_SENSOR_ACCURACY",
    "PlausibilityFold",
    "energy_tolerance_j",
]

ENERGY_SAMPLING_Z: Final = 4.0  # standard errors of the sampled mean before energy disagrees
POWER_SENSOR_ACCURACY: Final = 0.05  # NVML: power readings within ±5 % of the board's draw
ENERGY_RESOLUTION_J: Final = 1000.0  # counter and sample quantisation over a period


def energy_tolerance_j(
    expected_j: float, energy_j: float, seconds: float, variance_w2: float | None, samples: int
) -> float:
    """How far a device's counter energy may sit from mean sampled power × period, J.

    The mean of ``samples`` point samples of a signal with variance ``variance_w2`` misses the
    true mean by σ/√n (standard error), so the product with the period misses the counter by
    that × ``seconds``; ``ENERGY_SAMPLING_Z`` of those, plus the power sensor's own accuracy
    (``POWER_SENSOR_ACCURACY`` of the reading, NVML's stated ±5 %), plus one sensor step
    (``ENERGY_RESOLUTION_J``). Ten-second sampling of bursty inference gets a wide tolerance;
    one-second sampling of a flat load a narrow one."""
    n = max(1, samples)
    sigma = math.sqrt(max(0.0, variance_w2 or 0.0))
    sampling = ENERGY_SAMPLING_Z * sigma / math.sqrt(n) * seconds
    return ENERGY_RESOLUTION_J + POWER_SENSOR_ACCURACY * max(expected_j, energy_j) + sampling


def _suspect(d: DeviceReading, full_s: float) -> bool:
    """A cheap, conservative pre-check: False only where ``PlausibilityFold._device`` would
    find nothing."""
    limit = d.power_limit_w or d.peak.board_power_w
    mean, busy, energy, power_max = d.power_mean_w, d.busy_fraction, d.energy_j, d.power_max_w
    return (
        d.overdrawn_board_w > 0.0
        or d.tensorless_claim
        or d.memory_beyond_bytes > 0.0
        or (
            mean is not None
            and busy is not None
            and ((busy < 0.05 and mean >= 0.5 * limit) or (busy >= 0.9 and mean < 0.15 * limit))
        )
        or (power_max is not None and power_max > BOARD_OVERDRAW * limit)
        or (
            energy is not None
            and (energy < 0 or (mean is not None and not abs(energy - mean * full_s) <= 1000.0))
        )
    )


class PlausibilityFold:
    """Flags the implausible values of each usage report; keeps no state of its own."""

    def __init__(self, flags: IntegrityFold) -> None:
        self.flags = flags

    def add(self, reading: UsageReading) -> None:
        at, subject = reading.at, reading.subject
        if reading.node_invalid:
            self.flags.flag(
                FindingId.TELEMETRY_INVALID,
                WARNING,
                subject,
                at,
                "node-level values flagged invalid by the source",
            )
        if reading.counter_reset:
            self.flags.flag(
                FindingId.PLAUSIBILITY_COUNTER_BACKWARDS,
                WARNING,
                subject,
                at,
                "an energy or traffic counter went backwards",
            )
        for d in reading.devices:
            if d.invalid:
                self.flags.flag(
                    FindingId.TELEMETRY_INVALID,
                    WARNING,
                    f"device:{d.uuid}",
                    at,
                    "values flagged invalid by the source (or no samples): not evidence",
                )
            if _suspect(d, at.full_s):
                self._device(d, at)

    def _device(self, d: DeviceReading, at: Slice) -> None:
        subject = f"device:{d.uuid}"
        flag = self.flags.flag
        limit = d.power_limit_w or d.peak.board_power_w
        mean, busy, tensor = d.power_mean_w, d.busy_fraction, d.tensor_active
        fid = FindingId.PLAUSIBILITY_POWER_ACTIVITY
        if (
            mean is not None
            and busy is not None
            and mean >= 0.5 * limit
            and busy < 0.05
            and (tensor or 0.0) < 0.02
        ):
            flag(
                fid,
                WARNING,
                subject,
                at,
                "high power while reporting no activity",
                quantities={"power_mean_w": (mean, "W"), "busy_fraction": (busy, "1")},
            )
        if (
            mean is not None
            and busy is not None
            and tensor is not None
            and busy >= 0.9
            and tensor >= 0.5
            and mean < 0.15 * limit
        ):
            flag(
                fid,
                WARNING,
                subject,
                at,
                "heavy tensor activity at idle power",
                quantities={"power_mean_w": (mean, "W"), "tensor_active": (tensor, "1")},
            )
        power_max = d.power_max_w
        if power_max is not None and power_max > BOARD_OVERDRAW * limit:
            flag(
                fid,
                WARNING,
                subject,
                at,
                "power above 125 % of the board limit",
                quantities={"power_max_w": (power_max, "W"), "power_limit_w": (limit, "W")},
            )
        if d.overdrawn_board_w > 0.0:
            flag(
                fid,
                WARNING,
                subject,
                at,
                f"drew more than {BOARD_OVERDRAW:.0%} of the board power of model {d.model[:60]!r}:"
                " not that model, its peak figures not used",
                quantities={
                    "power_drawn_w": (max(mean or 0.0, power_max or 0.0), "W"),
                    "board_power_w": (d.overdrawn_board_w, "W"),
                },
            )
        if d.tensorless_claim:
            flag(
                fid,
                WARNING,
                subject,
                at,
                f"tensor-pipe activity on model {d.model[:60]!r}, which has no tensor units:"
                " not that model, its peak figures not used",
                quantities={"tensor_active": (d.tensor_active or 0.0, "1")},
            )
        if d.memory_beyond_bytes > 0.0:
            flag(
                fid,
                WARNING,
                subject,
                at,
                f"holds more memory than any board of model {d.model[:60]!r} carries:"
                " not that model, its peak figures not used",
                quantities={
                    "memory_bytes": (d.memory_beyond_bytes, "bytes"),
                    "model_memory_bytes": (d.memory_claim_gib * 2**30, "bytes"),
                },
            )
        self._energy(d, at, mean)

    def _energy(self, d: DeviceReading, at: Slice, mean: float | None) -> None:
        """A device's energy counter: backwards, or off mean power × period."""
        energy = d.energy_j
        if energy is None:
            return
        subject = f"device:{d.uuid}"
        if energy < 0:
            self.flags.flag(
                FindingId.PLAUSIBILITY_COUNTER_BACKWARDS,
                WARNING,
                subject,
                at,
                "negative energy over a period: the counter ran backwards",
                quantities={"energy_j": (energy, "J")},
            )
        elif mean is not None:
            expected = mean * at.full_s
            if abs(energy - expected) > energy_tolerance_j(
                expected, energy, at.full_s, d.power_variance_w2, d.sample_count
            ):
                self.flags.flag(
                    FindingId.PLAUSIBILITY_POWER_ACTIVITY,
                    WARNING,
                    subject,
                    at,
                    "energy disagrees with mean power × period",
                    quantities={"energy_j": (energy, "J"), "power_energy_j": (expected, "J")},
                )
