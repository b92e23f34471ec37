"""Detection sensitivity, measured: how small a hidden training run each signal catches.

``python -m sim.sensitivity [--trials N] [--seed S] [--json]`` (also ``make sensitivity``) sweeps
facility size and meter accuracy, and for each signal finds the smallest hidden run — in
accelerators (H100-class, 700 W board power, training at board power) — caught with at least
99 % probability, next to the false-alarm rate of the same rule with nothing hidden. Every
decision goes through the evaluation's own functions (``balance_decision``, ``balance_sigma``,
``advance_baseline``, ``min_training_periods``), so the table describes the code that runs.

Model (stated, not hidden): each node draws ``NODE_W`` (8 accelerators at half their board power
plus an 800 W host), ±10 % from bucket to bucket, the same load seen by the nodes and the meter;
the facility's true overhead is ``TRUE_RATIO`` inside the declared band ``BAND``; the meter's
random error is Gaussian with σ = accuracy / 2 of its reading; Σ node energy has a random error of
``NODE_ENERGY_RANDOM``; buckets are one hour. A hidden run adds its power × the true overhead to
the meter only. Three signals:

- **band** (``energy.unexplained`` CRITICAL → VIOLATION): a run present from the start, so the
  baseline learnt it; caught in one bucket.
- **step** (``energy.baseline_step`` → INCONCLUSIVE): a run that starts after a day of
  calibration; caught within its first hours.
- **labels** (``workload.training`` CRITICAL): a node whose attestor reports truthfully; the run
  must put ``min_training_periods(n)`` periods in one bucket-long window, each labelled
  ``training`` with the classifier's recall ``r`` (docs/classify.md): the hours needed.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from pausewatch.evaluation.bucket import (
    NODE_ENERGY_RANDOM,
    EnergyBalance,
    balance_decision,
    balance_sigma,
    steady_interior,
)
from pausewatch.evaluation.evidence import BaselineState, advance_baseline, min_training_periods

__all__ = ["main"]

ACCELERATOR_W: Final = 700.0
NODE_W: Final = 8 * 350.0 + 800.0
TRUE_RATIO: Final = 1.25
BAND: Final = (1.1, 1.4)
BUCKET_S: Final = 3600.0
CALIBRATION_BUCKETS: Final = 24
SIZES: Final = (8, 64, 512)
ACCURACIES: Final = (0.005, 0.01, 0.02)
CANDIDATES: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


@dataclass(frozen=True)
class Row:
    nodes: int
    accuracy: float
    band_min_accelerators: int | None
    band_false_alarm: float
    step_min_accelerators: dict[int, int | None]
    step_false_alarm: float


def _bucket(rng: random.Random, nodes: int, accuracy: float, hidden_w: float) -> EnergyBalance:
    load = nodes * NODE_W * (1.0 + rng.uniform(-0.1, 0.1))
    reported = load * BUCKET_S * (1.0 + rng.gauss(0.0, NODE_ENERGY_RANDOM))
    metered = (load + hidden_w) * TRUE_RATIO * BUCKET_S * (1.0 + rng.gauss(0.0, accuracy / 2))
    sigma = balance_sigma(accuracy / 2 * metered, reported, BAND[1])
    b = EnergyBalance(
        meters=("m",),
        metered_j=metered,
        reported_j=reported,
        silent_allowance_j=0.0,
        unexplained_j=0.0,
        accelerator_equivalents=0.0,
        evidence=(),
        metered_max_j=metered,
        sigma_j=sigma,
        band=BAND,
        complete=True,
        reference_power_w=ACCELERATOR_W,
    )
    return replace(b, interior=steady_interior(b, BUCKET_S))  # a steady load: its interior pro rata


def _band_rate(rng: random.Random, nodes: int, accuracy: float, k: int, trials: int) -> float:
    hits = sum(
        balance_decision(_bucket(rng, nodes, accuracy, k * ACCELERATOR_W), BUCKET_S) == "violation"
        for _ in range(trials)
    )
    return hits / trials


def _step_rate(rng: random.Random, where: tuple[int, float], k: int, hours: int, trials: int) -> float:
    nodes, accuracy = where
    hits = 0
    for _ in range(trials):
        state = BaselineState()
        for b in range(CALIBRATION_BUCKETS):
            state = advance_baseline(
                state, _bucket(rng, nodes, accuracy, 0.0), b < CALIBRATION_BUCKETS - 1, 0.1
            )
        for _h in range(hours):
            state = advance_baseline(state, _bucket(rng, nodes, accuracy, k * ACCELERATOR_W), False, 0.1)
            if state.step:
                hits += 1
                break
    return hits / trials


def _smallest(rate: Callable[[int], float], limit: int) -> int | None:
    for k in CANDIDATES:
        if k > limit:
            return None
        if rate(k) >= 0.99:
            return k
    return None


def sweep(trials: int, seed: int) -> list[Row]:
    rows = []
    for nodes in SIZES:
        for accuracy in ACCURACIES:
            rows.append(_row(random.Random(f"{seed}/{nodes}/{accuracy}"), nodes, accuracy, trials))
    return rows


def _row(rng: random.Random, nodes: int, accuracy: float, trials: int) -> Row:
    limit = nodes * 8
    point = _Point(rng, nodes, accuracy)
    band = _smallest(lambda k: point.band(k, trials), limit)
    steps = {
        h: _smallest(functools.partial(point.step, hours=h, trials=max(1, trials // 4)), limit)
        for h in (1, 4)
    }
    return Row(
        nodes,
        accuracy,
        band,
        point.band(0, trials * 5),
        steps,
        point.step(0, hours=24, trials=max(1, trials // 2)),
    )


@dataclass(frozen=True)
class _Point:
    rng: random.Random
    nodes: int
    accuracy: float

    def band(self, k: int, trials: int) -> float:
        return _band_rate(self.rng, self.nodes, self.accuracy, k, trials)

    def step(self, k: int, *, hours: int, trials: int) -> float:
        return _step_rate(self.rng, (self.nodes, self.accuracy), k, hours, trials)


def label_hours(recall: float, nodes: int = 1) -> float:
    """Expected hours of a one-node run until one bucket-long window holds enough labels."""
    need = min_training_periods(60 * nodes)
    return need / (60.0 * recall) if recall > 0 else math.inf


def _show(k: int | None) -> str:
    return "—" if k is None else f"≤ {k}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pausewatch-sim sensitivity", description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=400, help="Monte Carlo trials per point (default 400)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    args = ap.parse_args(argv)
    if args.trials < 4:
        print("pausewatch-sim sensitivity: --trials must be at least 4", file=sys.stderr)
        return 2
    rows = sweep(args.trials, args.seed)
    labels = {
        str(r): {"needed_in_window": min_training_periods(60), "hours": label_hours(r)}
        for r in (0.5, 0.9, 1.0)
    }
    if args.json:
        print(
            json.dumps(
                {"trials": args.trials, "rows": [r.__dict__ for r in rows], "labels": labels}, default=str
            )
        )
        return 0
    print(
        "| nodes (×8 acc.) | meter accuracy | band: smallest run (acc.) | band false alarms / bucket |"
        " step ≤1 h | step ≤4 h | step false alarms / day |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        cells = [
            str(row.nodes),
            f"{row.accuracy:.1%}",
            _show(row.band_min_accelerators),
            f"{row.band_false_alarm:.4f}",
            _show(row.step_min_accelerators[1]),
            _show(row.step_min_accelerators[4]),
            f"{row.step_false_alarm:.3f}",
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    for r, v in labels.items():
        print(
            f"labels: recall {r}: {v['needed_in_window']} training periods in one hour's window, from"
            f" {v['hours'] * 60:.0f} min of a one-node run"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
