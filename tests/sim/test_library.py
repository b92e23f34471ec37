"""Every scenario of the library, run in-process against the real verifier: the verdicts must
match the expectations written from each story. Two worker processes keep CI within minutes."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from sim.cli import format_result
from sim.runner import run_scenario
from sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
HEAVY = {"demo-hidden-training.toml"}  # 16 nodes x 8 GPUs x 6 h: run by the demo's heavy test
LIBRARY = sorted(p.name for p in (REPO / "scenarios").glob("*.toml") if p.name not in HEAVY)


def _run(name: str) -> tuple[bool, str]:
    result = run_scenario(load_scenario(REPO / "scenarios" / name))
    return result.ok, format_result(result)


@pytest.fixture(scope="module")
def library_results() -> dict[str, tuple[bool, str]]:
    workers = max(1, min(2, os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return dict(zip(LIBRARY, pool.map(_run, LIBRARY), strict=True))


def test_library_covers_every_threat_row_and_the_controls() -> None:
    wanted = {
        "go-silent-honest.toml", "go-silent-to-train.toml", "replay-duplicates.toml",
        "pregenerated-idle.toml", "attestor-restart.toml", "attestor-rollback.toml",
        "lie-idle-while-training.toml", "hidden-accelerators.toml", "attestor-equivocation.toml",
        "split-across-sites.toml", "verifier-outage.toml", "paused-inference.toml",
        "idle-strict-cap.toml", "hardware-faults.toml",
    }
    assert wanted <= set(LIBRARY)


# Expectations come from the stories, written by hand; every scenario must meet them.
@pytest.mark.parametrize("name", LIBRARY)
def test_scenario_meets_its_expectations(name: str, library_results: dict[str, tuple[bool, str]]) -> None:
    ok, table = library_results[name]
    assert ok, f"\n{table}"

