"""`make bench`: run every bench/bench_*.py module's ``run()`` and print one JSON object.

Each module returns a dict of figures, always including a reference measured in the same run
(the raw Ed25519 rate, pymerkle) so that results compare across machines. Select modules by
name: ``python -m bench merkle ingest``.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import platform
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = {f"bench_{a}" for a in argv}
    results: dict[str, object] = {
        "machine": {"python": platform.python_version(), "cpus": _cpus(), "platform": platform.platform()},
    }
    for name in names:
        if wanted and name not in wanted:
            continue
        module = importlib.import_module(f"bench.{name}")
        started = time.perf_counter()
        print(f"bench: running {name} ...", file=sys.stderr, flush=True)
        results[name.removeprefix("bench_")] = module.run()
        print(f"bench: {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2, sort_keys=True))
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
