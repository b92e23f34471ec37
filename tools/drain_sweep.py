"""Count the hours an honest tensor-parallel server drained on a schedule is called a violator.

The library's ``scenarios/tp-inference-half-hourly-drain.toml`` (two 8-GPU nodes serving one
sharded model; the feed drains for seconds, every GPU idle, the model resident) run at every
seed and cadence given, four hourly buckets each; prints one JSON object: per cadence, the
VIOLATION buckets of all runs, and per run its statuses. The figures behind rules/11
(docs/classify.md, "Since rules/11"):

    python tools/drain_sweep.py --seeds 0 1 2 3 4 5 401 --every 60:15 120:20 300:30 600:30 720:30 1800:30
    python tools/drain_sweep.py --seeds 6 7 8 9 10 11 --every 60:10 120:45 240:20 480:40 900:30

``EVERY:DRAIN`` in seconds. Runs in parallel over ``--jobs`` processes (each run is a few seconds
of simulated fleet on this machine's CPUs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sim.runner import run_scenario
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "tp-inference-half-hourly-drain.toml"
NS = 1_000_000_000


def run_drained(case: tuple[int, int, int]) -> tuple[tuple[int, int, int], list[str]]:
    seed, every_s, drain_s = case
    scenario = load_scenario(SCENARIO)
    on_ns = (every_s - drain_s) * NS
    timeline = tuple(dataclasses.replace(t, every_ns=every_s * NS, on_ns=on_ns) for t in scenario.timeline)
    result = run_scenario(dataclasses.replace(scenario, seed=seed, timeline=timeline))
    return case, [v.status for v in result.verdicts]


def _cadence(text: str) -> tuple[int, int]:
    every, _, drain = text.partition(":")
    try:
        e, d = int(every), int(drain)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected EVERY:DRAIN in seconds, e.g. 600:30") from None
    if not 0 < d < e:
        raise argparse.ArgumentTypeError(f"{text!r}: the drain must be shorter than its cadence")
    return e, d


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--every", type=_cadence, nargs="+", required=True, metavar="EVERY:DRAIN")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    cases = [(seed, e, d) for e, d in args.every for seed in args.seeds]
    if args.jobs <= 1:  # in this process (a process that already runs gRPC threads cannot fork)
        results = [run_drained(case) for case in cases]
    else:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(run_drained, cases))
    runs: dict[str, dict[str, list[str]]] = {}
    for (seed, e, d), statuses in results:
        runs.setdefault(f"{e}:{d}", {})[str(seed)] = statuses
    out = {
        cadence: {
            "violation_buckets": sum(s.count("VIOLATION") for s in by_seed.values()),
            "buckets": sum(len(s) for s in by_seed.values()),
            "runs": by_seed,
        }
        for cadence, by_seed in runs.items()
    }
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
