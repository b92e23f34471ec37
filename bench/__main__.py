"""`make bench`: run every registered bench's ``run(quick)`` and print one JSON object.

Each bench returns a dict of figures, always including a reference measured in the same run
(the raw Ed25519 rate, pymerkle) so that results compare across machines. Select benches by
name: ``python -m bench merkle ingest``. ``--quick`` (``make bench-quick``, run by ``make
test``) runs each at small sizes in seconds: its figures mean little, but every bench must
complete and print its JSON, so that none can rot unnoticed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time

# One line per bench: module bench.bench_<name>, whose run(quick: bool) returns its figures.
BENCHES = (
    "attestor",
    "audit",
    "core",
    "ed25519",
    "eval",
    "hotpaths",
    "ingest",
    "latency",
    "merkle",
    "postgres",
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benches to run (default: all): {', '.join(BENCHES)}"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, seconds per bench (make bench-quick)"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown bench: {', '.join(unknown)} (known: {', '.join(BENCHES)})")
    results: dict[str, object] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1),
            "platform": platform.platform(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "quick": args.quick,
    }
    for name in BENCHES:
        if args.names and name not in args.names:
            continue
        module = importlib.import_module(f"bench.bench_{name}")
        started = time.perf_counter()
        print(f"bench: running {name}{' (quick)' if args.quick else ''} ...", file=sys.stderr, flush=True)
        results[name] = module.run(quick=args.quick)
        print(f"bench: {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
