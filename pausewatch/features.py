"""Shape features of sampled accelerator telemetry: the single implementation.

The attestor aggregates one period of samples (default 60 s at 1 Hz) into the shape fields of
``AcceleratorUsage``; the classifier validation computes the same fields from real recorded
traces. Both must call these functions, so that what the classifier was validated on is what
it sees in production. Everything here is pure and deterministic (``math.fsum``, fixed lag
search order) and needs no third-party numerics.

Definitions (all over one period, samples in time order):

- ``power_mean_w`` / ``power_min_w`` / ``power_max_w``: of the sampled power, W.
- ``power_variance_w2``: population variance of the sampled power, W².
- ``power_dominant_period_s`` and ``power_periodicity``: the sample autocorrelation
  r(k) = Σ (x_t − μ)(x_{t+k} − μ) / Σ (x_t − μ)² is computed for lags 1 … n/2. The dominant
  lag is the lag of the highest local maximum of r after r first drops below zero (so that
  the slow decay of a smooth signal is not taken for a rhythm); its period is lag × the
  median sampling interval. ``power_periodicity`` is r at that lag clipped to 0 … 1; a signal
  with no such maximum, or a flat one (variance below ``FLAT_VARIANCE_W2``), has neither field.
  An optimiser-step rhythm shows up as a clear maximum (training); request-driven inference
  does not repeat at one lag.
- ``synchrony``: Pearson correlation of this device's power with the mean power of the node's
  other devices over the same sample instants (−1 … 1), absent for a single device or a flat
  signal. Data-parallel training moves every device in lockstep (all-reduce), so synchrony is
  high; independent inference replicas are not synchronous.
- ``peer_synchrony`` and ``peer_index``: the highest Pearson correlation of this device's
  power with any *one* other device of the node (−1 … 1; absent as synchrony is), and which
  device that is (its position among the report's accelerators). Training on some of a node's
  devices beside other work on the rest moves the training devices together, but their
  correlation with the mean of all the others is diluted by the other work: ``synchrony``
  alone would hide the job, and without the partner several small lockstep jobs on one node
  would read as one.
- ``busy_fraction``: mean of utilization.gpu / 100 (the share of time *any* kernel ran — not
  a measure of compute; see ``pausewatch.evaluation.workload``).
"""

from __future__ import annotations

import itertools
import math
import operator
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

__all__ = [
    "FLAT_VARIANCE_W2",
    "MAX_LAG_SAMPLES",
    "Peer",
    "PowerShape",
    "busy_fraction",
    "peers",
    "power_shape",
    "synchrony",
]

FLAT_VARIANCE_W2: Final = 0.25  # W²: below this (σ < 0.5 W) the signal is sensor noise
MAX_LAG_SAMPLES: Final = 600  # bounds the autocorrelation cost: O(n × min(n/2, 600))


@dataclass(frozen=True)
class PowerShape:
    """The power-shape fields of one accelerator over one period (SI units)."""

    sample_count: int
    power_mean_w: float
    power_min_w: float
    power_max_w: float
    power_variance_w2: float
    power_dominant_period_s: float | None
    power_periodicity: float | None


def _check(times_s: Sequence[float], values: Sequence[float]) -> None:
    if len(times_s) != len(values):
        raise ValueError(f"{len(times_s)} timestamps for {len(values)} samples")
    if not values:
        raise ValueError("a period needs at least one sample")
    if not all(map(math.isfinite, values)) or not all(map(math.isfinite, times_s)):
        raise ValueError("samples must be finite; drop flagged values before shaping")
    if any(map(operator.lt, times_s[1:], times_s)):
        raise ValueError("sample times must not go backwards")


def _autocorrelation_peak(values: Sequence[float]) -> tuple[int, float] | None:
    n = len(values)
    mean = math.fsum(values) / n
    dev = [v - mean for v in values]
    denom = math.fsum(d * d for d in dev)
    if denom <= 0.0:
        return None
    max_lag = min(n // 2, MAX_LAG_SAMPLES)
    r = [1.0]
    for k in range(1, max_lag + 1):
        r.append(math.fsum(map(operator.mul, dev, dev[k:])) / denom)
    first_negative = next((k for k in range(1, len(r)) if r[k] < 0.0), None)
    if first_negative is None:
        return None
    best: tuple[int, float] | None = None
    for k in range(first_negative + 1, len(r) - 1):
        if r[k] >= r[k - 1] and r[k] >= r[k + 1] and r[k] > 0.0 and (best is None or r[k] > best[1]):
            best = (k, r[k])
    return best


def power_shape(times_s: Sequence[float], power_w: Sequence[float]) -> PowerShape:
    """Shape features of one device's sampled power over one period (samples in time order)."""
    _check(times_s, power_w)
    n = len(power_w)
    mean = math.fsum(power_w) / n
    variance = math.fsum((p - mean) ** 2 for p in power_w) / n
    period: float | None = None
    periodicity: float | None = None
    if n >= 4 and variance >= FLAT_VARIANCE_W2:
        peak = _autocorrelation_peak(power_w)
        if peak is not None:
            steps = [b - a for a, b in itertools.pairwise(times_s)]
            interval = statistics.median(steps) if steps else 0.0
            if interval > 0.0:
                period = peak[0] * interval
                periodicity = min(1.0, max(0.0, peak[1]))
    return PowerShape(
        sample_count=n,
        power_mean_w=mean,
        power_min_w=min(power_w),
        power_max_w=max(power_w),
        power_variance_w2=variance,
        power_dominant_period_s=period,
        power_periodicity=periodicity,
    )


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation of two series sampled at the same instants (clipped to −1 … 1);
    None when either is flat (variance under ``FLAT_VARIANCE_W2``)."""
    n = len(x)
    mx = math.fsum(x) / n
    my = math.fsum(y) / n
    sxx = math.fsum((a - mx) ** 2 for a in x)
    syy = math.fsum((b - my) ** 2 for b in y)
    if sxx / n < FLAT_VARIANCE_W2 or syy / n < FLAT_VARIANCE_W2:
        return None
    sxy = math.fsum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def _aligned(device_w: Sequence[float], others_w: Sequence[Sequence[float]]) -> bool:
    n = len(device_w)
    return bool(others_w) and n >= 3 and all(len(o) == n for o in others_w)


def synchrony(device_w: Sequence[float], others_w: Sequence[Sequence[float]]) -> float | None:
    """Correlation of one device's power with the mean of the node's other devices.

    ``others_w`` holds one series per other device, sampled at the same instants as
    ``device_w``. None when there is no other device or either signal is flat.
    """
    if not _aligned(device_w, others_w):
        return None
    peer = [math.fsum(column) / len(others_w) for column in zip(*others_w, strict=True)]
    return _pearson(device_w, peer)


class Peer(NamedTuple):
    """The other device a device's power follows most closely, and how closely."""

    position: int  # of that device in the series given
    synchrony: float  # their Pearson correlation, −1 … 1


def peers(series: Sequence[Sequence[float]]) -> list[Peer | None]:
    """For each of a node's devices, the one other device whose power correlates best with its
    own. ``series`` holds one power series per device, all sampled at the same instants. None
    for a device that is flat, or when no other device is comparable (fewer than two devices,
    fewer than three samples, every other one flat). Ties go to the lower index. Each series is
    centred once and each pair's product summed once: 28 sums for an 8-GPU node."""
    n = len(series[0]) if series else 0
    out: list[Peer | None] = [None] * len(series)
    if len(series) < 2 or n < 3 or any(len(x) != n for x in series):
        return out
    centred: list[list[float] | None] = []
    norms: list[float] = []
    for x in series:
        mean = math.fsum(x) / n
        c = [v - mean for v in x]
        ss = math.fsum(v * v for v in c)
        centred.append(None if ss / n < FLAT_VARIANCE_W2 else c)
        norms.append(math.sqrt(ss))
    for i, j in itertools.combinations(range(len(series)), 2):
        ci, cj = centred[i], centred[j]
        if ci is None or cj is None:
            continue
        r = max(-1.0, min(1.0, math.fsum(map(operator.mul, ci, cj)) / (norms[i] * norms[j])))
        for me, other in ((i, j), (j, i)):
            best = out[me]
            if best is None or r > best.synchrony:
                out[me] = Peer(other, r)
    return out


def busy_fraction(utilization_percent: Sequence[float]) -> float:
    """Mean of utilization.gpu / 100 over the period, clipped to 0 … 1."""
    if not utilization_percent:
        raise ValueError("a period needs at least one sample")
    mean = math.fsum(utilization_percent) / len(utilization_percent) / 100.0
    return min(1.0, max(0.0, mean))
