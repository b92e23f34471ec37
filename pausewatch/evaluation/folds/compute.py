"""Compute bounds: lower, best and upper FLOP of one (facility, bucket).

Per device and period (``dt`` = the period's overlap with the bucket):

- upper = min(active × dt × densest peak, energy × densest peak / (``EFFICIENCY_FLOOR`` ×
  board power)) where active is ``busy_fraction`` (else ``sm_active``, else 1); a device whose
  telemetry is flagged invalid counts as active the whole time. Every uncovered second of a
  declared device adds densest peak × 1 s, and unexplained metered energy adds its
  accelerator-equivalent seconds × the largest densest peak declared.
- best = tensor_active × dt × dense BF16 peak; without tensor activity,
  active × dt × dense BF16 peak × ``TYPICAL_UTILISATION``.
- lower = tensor_active × dt × least dense tensor peak × ``TENSOR_ISSUE_FLOOR`` (DCGM counts
  the tensor pipe 100 % active at one tensor instruction every other cycle), from valid
  telemetry only; no tensor activity, no lower bound.

Finding: ``compute.unknown_model`` W (no peak figures: the table's largest is used, which need
not bound a part newer than the table, and its board power is no base for proof of idle).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from pausewatch.evaluation.findings import WARNING, FindingId
from pausewatch.evaluation.folds.coverage import DeviceCoverage
from pausewatch.evaluation.folds.integrity import IntegrityFold
from pausewatch.evaluation.folds.reading import NS_PER_S, DeviceReading, UsageReading
from pausewatch.peaks import UNKNOWN_MODEL_PEAK, lookup_peak

__all__ = ["EFFICIENCY_FLOOR", "TENSOR_ISSUE_FLOOR", "TYPICAL_UTILISATION", "ComputeFold"]

EFFICIENCY_FLOOR: Final = 0.3  # no device beats peak FLOP/s at 30 % of its board power
TYPICAL_UTILISATION: Final = 0.4  # model-FLOP utilisation of busy time when tensor activity is absent
TENSOR_ISSUE_FLOOR: Final = 0.5  # DCGM: 100 % tensor activity ≈ one instruction every other cycle


def _active(d: DeviceReading) -> float:
    """The share of the period the device was busy, 0 … 1; 1 when its values are invalid or
    give no activity."""
    # ``min(1.0, max(0.0, x))`` written out: the same result for every x, NaN included
    # (NaN → 0.0), without two builtin calls per value.
    if d.invalid:
        return 1.0
    x = d.busy_fraction if d.busy_fraction is not None else d.sm_active
    if x is None:
        return 1.0
    active = x if x > 0.0 else 0.0
    return active if active < 1.0 else 1.0


class ComputeFold:
    """Folds each accelerator's period into the bucket's compute bounds."""

    def __init__(self, flags: IntegrityFold) -> None:
        self.flags = flags
        self._upper: list[float] = []
        self._best: list[float] = []
        self._lower: list[float] = []

    def add(self, reading: UsageReading) -> None:
        at = reading.at
        dt_s, frac = at.dt_s, at.frac
        upper_terms, best_terms, lower_terms = self._upper, self._best, self._lower
        for d in reading.devices:
            peak, invalid = d.peak, d.invalid
            if not d.peak_known:
                self.flags.flag(
                    FindingId.COMPUTE_UNKNOWN_MODEL,
                    WARNING,
                    f"device:{d.uuid}",
                    at,
                    f"model {d.model[:60]!r}: it drew more than that model can; the largest figures"
                    " of the table bound it, that model's its lower bound"
                    if d.overdrawn_board_w
                    else f"model {d.model[:60]!r}: it reported tensor-pipe work, which that model has no"
                    " units for; the largest figures of the table bound it, that model's its lower bound"
                    if d.tensorless_claim
                    else f"model {d.model[:60]!r}: it held more memory than any board of that model carries;"
                    " the largest figures of the table bound it, that model's its lower bound"
                    if d.memory_beyond_bytes
                    else f"no peak figures for model {d.model[:60]!r}: the table's largest stand in, which"
                    " need not bound a newer part, and its power proves nothing against an unknown board",
                )
            active = _active(d)
            upper = active * dt_s * peak.densest_flops
            energy = d.energy_j
            if not invalid and energy is not None and energy >= 0 and peak.board_power_w > 0:
                by_energy = energy * frac * peak.densest_flops / (EFFICIENCY_FLOOR * peak.board_power_w)
                upper = by_energy if by_energy < upper else upper  # min(upper, by_energy)
            upper_terms.append(upper)
            tensor = d.tensor_active
            if tensor is not None and not invalid:
                clipped = tensor if tensor > 0.0 else 0.0
                clipped = clipped if clipped < 1.0 else 1.0
                best_terms.append(clipped * dt_s * peak.dense_bf16_flops)
                lower_terms.append(clipped * dt_s * peak.least_tensor_flops * TENSOR_ISSUE_FLOOR)
            else:
                best_terms.append(active * dt_s * peak.dense_bf16_flops * TYPICAL_UTILISATION)

    def finish(
        self, devices: Sequence[DeviceCoverage] | None, unexplained_flop: float
    ) -> tuple[float, float, float]:
        """(lower, best, upper) FLOP; ``devices``: every declared accelerator's coverage, None
        without an inventory (the upper bound is then infinite); ``unexplained_flop``: what the
        meters' unexplained energy could have computed."""
        if devices is None:
            upper = math.inf
        else:
            uncovered = [
                d.uncovered_ns / NS_PER_S * (lookup_peak(d.model) or UNKNOWN_MODEL_PEAK).densest_flops
                for d in devices
            ]
            upper = math.fsum([*self._upper, *uncovered, unexplained_flop])
        return math.fsum(self._lower), math.fsum(self._best), upper
