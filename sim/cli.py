"""``pausewatch-sim``: run scenarios and compare the verdicts with the expected ones.

    pausewatch-sim run SCENARIO.toml [SCENARIO.toml ...] [--json] [--state-dir DIR] [--processes]
    pausewatch-sim check SCENARIO.toml [...]     # parse and validate only
    pausewatch-sim classify TRACE --gpus N --gpu-model MODEL [--window D] [--json] [--node-power]
    pausewatch-sim classify-eval [--data DIR] [--json]   # the classifier on the labelled real traces

Exit codes: 0 every expectation met (or every file valid); 1 a verdict differs from the
expectation; 2 a scenario could not be run (bad file, the verifier failed). ``classify`` and
``classify-eval``: docs/classify.md (0 done, 2 bad input).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pausewatch.entrypoint import version_text
from pausewatch.errors import PausewatchError
from sim import classify, classify_eval
from sim._units import format_duration
from sim.processes import run_with_processes
from sim.runner import RunResult, run_scenario
from sim.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["format_result", "main"]

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pausewatch-sim",
        description="Run pausewatch scenarios (docs/scenarios.md) and compare verdicts with expectations.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {version_text()}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run scenarios; exit 0 when every expectation is met, 1 when not")
    run.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO.toml")
    run.add_argument("--json", action="store_true", help="one JSON document on stdout")
    run.add_argument("--state-dir", type=Path, help="keep the verifier's state here (one scenario only)")
    run.add_argument("--processes", action="store_true",
                     help="real verifier and attestor processes on an accelerated clock (slower; "
                          "--state-dir then keeps every file of the run)")
    run.add_argument("-v", "--verbose", action="store_true", help="log the verifier's JSON lines on stderr")
    check = sub.add_parser("check", help="parse and validate scenario files")
    check.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO.toml")
    check.add_argument("--json", action="store_true")
    classify.add_parser(sub)
    classify_eval.add_parser(sub)
    return p


def format_result(result: RunResult) -> str:
    """The human table: one line per judged or observed (facility, bucket)."""
    s = result.scenario
    lines = [f"scenario {s.name}  ({s.path})",
             f"  {len(s.facilities)} facilities, {format_duration(s.duration_ns)} simulated in "
             f"{result.wall_s:.1f} s; reports {_counts(result.dispositions)}; log size {result.log_size}"]
    lines += [f"  note: {n}" for n in result.notes]
    header = f"  {'facility':<10} {'bucket':<7} {'expected':<24} {'got':<13} findings"
    lines.append(header)
    for r in result.judgement.rows:
        expected = "/".join(r.expected_status) if r.judged else "(not judged)"
        mark = "ok " if r.ok and r.judged else ("   " if r.ok else "XX ")
        lines.append(f"{mark}{r.facility or '(all)':<10} {format_duration(r.bucket_start_ns):<7} "
                     f"{expected:<24} {r.status or '(none)':<13} {', '.join(r.finding_ids) or '-'}")
        lines += [f"      ! {p}" for p in r.problems]
    lines += [f"  ! {p}" for p in result.judgement.range_problems]
    verdict = "PASS" if result.ok else f"FAIL ({result.judgement.mismatches} mismatches)"
    lines.append(f"  {verdict}")
    return "\n".join(lines)


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"


def _result_json(result: RunResult) -> dict[str, object]:
    return {
        "scenario": result.scenario.name, "path": result.scenario.path, "ok": result.ok,
        "wall_s": round(result.wall_s, 3), "dispositions": result.dispositions, "log_size": result.log_size,
        "notes": list(result.notes), "mismatches": result.judgement.mismatches,
        "buckets": [r.as_json() for r in result.judgement.rows],
        "range_problems": list(result.judgement.range_problems),
    }


def _load_all(paths: Sequence[Path]) -> tuple[list[Scenario], list[ScenarioError]]:
    scenarios, errors = [], []
    for p in paths:
        try:
            scenarios.append(load_scenario(p))
        except ScenarioError as e:
            errors.append(e)
    return scenarios, errors


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "classify":
        return classify.run_classify(args)
    if args.command == "classify-eval":
        return classify_eval.run_eval(args)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        stream=sys.stderr, format="%(message)s")
    scenarios, errors = _load_all(args.scenarios)
    for e in errors:
        print(f"pausewatch-sim: {e}", file=sys.stderr)
    if args.command == "check":
        if args.json:
            print(json.dumps({"ok": not errors, "valid": [s.path for s in scenarios],
                              "errors": [str(e) for e in errors]}, indent=2))
        else:
            for s in scenarios:
                print(f"ok  {s.path}: {s.name}, {len(s.timeline)} timeline entries, "
                      f"{len(s.expectations)} expectations")
        return EXIT_ERROR if errors else EXIT_OK
    if errors:
        return EXIT_ERROR
    if args.state_dir is not None and len(scenarios) != 1:
        print("pausewatch-sim: --state-dir takes exactly one scenario", file=sys.stderr)
        return EXIT_ERROR
    results: list[RunResult] = []
    failed_to_run = False
    for s in scenarios:
        try:
            if args.processes:
                progress = None if args.json else (lambda line: print(f"  {line}", flush=True))
                result = run_with_processes(s, work_dir=args.state_dir, progress=progress)
            else:
                result = run_scenario(s, state_dir=args.state_dir)
        except KeyboardInterrupt:
            print("pausewatch-sim: interrupted; every process it started is stopped", file=sys.stderr)
            return EXIT_ERROR
        except PausewatchError as e:
            print(f"pausewatch-sim: {s.path}: could not run: {e}", file=sys.stderr)
            failed_to_run = True
            continue
        results.append(result)
        if not args.json:
            print(format_result(result))
            print()
    if args.json:
        print(json.dumps({"ok": all(r.ok for r in results) and not failed_to_run,
                          "results": [_result_json(r) for r in results]}, indent=2))
    if failed_to_run:
        return EXIT_ERROR
    return EXIT_OK if all(r.ok for r in results) else EXIT_MISMATCH


if __name__ == "__main__":
    sys.exit(main())
