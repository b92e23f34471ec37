"""The scenario library, run in worker processes beside the rest of the suite.

The library is most of ``make test``'s CPU (170 stories, each a simulated fleet at 1 Hz per GPU
and a real verifier), and the rest of the suite runs on one CPU. So ``tests/conftest.py`` starts
one worker on the stories as soon as collection ends, runs the library's tests last, and the
library's fixture adds a second worker for what is left when the rest is done: both CPUs busy
from the start to the end.

Each worker is a process of its own (spawned, not forked: a test that ran a scenario in the
pytest process left gRPC's threads there, and a forked child inherits their locks held), fed
one story at a time by a thread here.
"""

from __future__ import annotations

import collections
import multiprocessing
import threading
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from sim.cli import format_result
from sim.runner import run_scenario
from sim.scenario import load_scenario

__all__ = ["SCENARIOS", "LibraryRun"]

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def run_story(name: str) -> tuple[bool, str]:
    """Story ``name`` of the library: whether it met its expectations, and its table (or what
    it raised: an exception may not survive the trip back to the parent)."""
    try:
        result = run_scenario(load_scenario(SCENARIOS / name))
    except Exception:  # a story's own failure is its test's, with the traceback
        return False, f"{name} raised:\n{traceback.format_exc()}"
    return result.ok, format_result(result)


def _work(name: str) -> float:
    """About how long story ``name`` takes: GPU-seconds and node-seconds to simulate (the fleet
    is most of a story's time; 0.74 correlated with wall time over the library)."""
    try:
        scenario = load_scenario(SCENARIOS / name)
    except Exception:  # its run says what is wrong with it
        return 0.0
    units = sum(n.total_devices + 1 for f in scenario.facilities for n in f.nodes)
    return scenario.duration_ns / 1e9 * units


class LibraryRun:
    """``names`` run by workers added one at a time (``add_worker``), each story once, the
    longest first (a long story started last would leave the other worker idle at the end)."""

    def __init__(self, names: list[str]) -> None:
        self._todo = collections.deque(sorted(names, key=_work, reverse=True))
        self._wanted = set(names)
        self._results: dict[str, tuple[bool, str]] = {}
        self._changed = threading.Condition()
        self._pools: list[ProcessPoolExecutor] = []
        self._closed = False

    def add_worker(self) -> None:
        """One more worker process on the stories not yet started."""
        with self._changed:
            if self._closed or not self._todo:
                return
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            self._pools.append(pool)
        threading.Thread(target=self._feed, args=(pool,), name="library-worker", daemon=True).start()

    def _feed(self, pool: ProcessPoolExecutor) -> None:
        while True:
            with self._changed:
                if self._closed or not self._todo:
                    return
                name = self._todo.popleft()
            try:
                result = pool.submit(run_story, name).result()
            except BrokenProcessPool as e:  # the worker died (killed, out of memory): say so, go on
                result = (False, f"the worker running {name} died: {e!r}")
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
                with self._changed:
                    self._pools.append(pool)
            except Exception:  # the trip to the worker and back failed: the test says how
                result = (False, f"running {name} in a worker failed:\n{traceback.format_exc()}")
            with self._changed:
                self._results[name] = result
                self._changed.notify_all()

    def results(self, timeout_s: float) -> dict[str, tuple[bool, str]]:
        """Every story's result, once all are in (TimeoutError after ``timeout_s``)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._wanted <= self._results.keys(), timeout_s):
                missing = sorted(self._wanted - self._results.keys())
                raise TimeoutError(f"{len(missing)} stories unfinished after {timeout_s:.0f} s: {missing[:5]}")
            return dict(self._results)

    def close(self) -> None:
        """Stop handing out stories and end the workers (a story under way is abandoned)."""
        with self._changed:
            self._closed = True
            self._todo.clear()
            pools = list(self._pools)
        for pool in pools:
            # a story still running would hold the interpreter's exit until it ends (minutes):
            # its process is ended first (the executor keeps no public handle on it)
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
