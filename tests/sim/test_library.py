"""Every scenario of the library, run in-process against the real verifier: the verdicts must
match the expectations written from each story. The stories run in worker processes from the
session's start (``tests/sim/library_run.py``); these tests come last and read their results."""

from __future__ import annotations

import os

import pytest

from tests.sim.library_run import SCENARIOS, LibraryRun

HEAVY = {"demo-hidden-training.toml"}  # 16 nodes x 8 GPUs x 6 h: run by the demo's heavy test
LIBRARY = sorted(p.name for p in SCENARIOS.glob("*.toml") if p.name not in HEAVY)


@pytest.fixture(scope="module")
def library_results(library_run: LibraryRun) -> dict[str, tuple[bool, str]]:
    # the rest of the suite is done: a second worker on what is left (two CPUs in CI)
    if (os.cpu_count() or 1) >= 2:
        library_run.add_worker()
    return library_run.results(timeout_s=2300)


def test_library_covers_every_threat_row_and_the_controls() -> None:
    wanted = {
        "go-silent-honest.toml", "go-silent-to-train.toml", "replay-duplicates.toml",
        "pregenerated-idle.toml", "attestor-restart.toml", "attestor-rollback.toml",
        "lie-idle-while-training.toml", "hidden-accelerators.toml", "attestor-equivocation.toml",
        "split-across-sites.toml", "verifier-outage.toml", "paused-inference.toml",
        "idle-strict-cap.toml", "hardware-faults.toml",
    }
    assert wanted <= set(LIBRARY)


# Issue 10, item 8: each tactic of the threat model as an evader and an honest twin that looks
# alike (the twin may serve two evaders).
PAIRS = (
    ("power-capped-training.toml", "tp-inference-honest.toml"),
    ("train-half-of-every-period.toml", "inference-on-off.toml"),
    ("silent-5-of-6-minutes.toml", "crash-looping-attestor.toml"),
    ("silent-under-coverage.toml", "brief-silences-idle.toml"),
    ("train-on-2-of-48.toml", "inference-on-2-of-48.toml"),
    ("undeclared-gpus-hidden.toml", "extra-gpus-declared.toml"),
    ("undeclared-gpus-reported.toml", "extra-gpus-declared.toml"),
    ("backdate-to-cover-silence.toml", "attestor-clock-slow.toml"),
    ("one-key-two-nodes.toml", "maintenance-power-off.toml"),
    ("lies-cancel-in-total.toml", "rack-meters-honest.toml"),
    ("lying-utility-meter.toml", "redundant-meters-honest.toml"),
    ("silent-feed-meter.toml", "ab-feeds-honest.toml"),
    ("overhead-step-hidden-node.toml", "overhead-step-chiller.toml"),
    ("reissue-inventory-to-recalibrate.toml", "gpu-replaced-declared.toml"),
    ("rack-meters-only-hidden-rack.toml", "rack-meters-honest.toml"),
    ("silent-minutes-every-bucket.toml", "brief-silences-idle.toml"),
    ("noisy-calibration-then-train.toml", "hardware-faults.toml"),
    ("hidden-load-creep.toml", "overhead-drift-weather.toml"),
    ("training-reported-as-burn-in.toml", "burn-in-honest.toml"),
    ("training-reported-as-batch-generation.toml", "batch-generation-honest.toml"),
    ("gpu-replaced-undeclared.toml", "gpu-replaced-declared.toml"),
    ("go-silent-to-train.toml", "go-silent-honest.toml"),
    ("lie-idle-while-training.toml", "paused-inference.toml"),
    ("hidden-accelerators.toml", "paused-inference.toml"),
    ("silent-feed-meter.toml", "meter-maintenance-silent.toml"),
    ("jobs-under-reported.toml", "jobs-honest.toml"),  # issue 17: job accounting corroborates
    ("fixed-load-hides-a-training-node.toml", "idle-night-fixed-load-declared.toml"),
    ("idle-calibration-fixed-load-hides-a-gpu.toml", "idle-calibration-fixed-load-declared.toml"),
    ("fixed-load-declared-after-bucket.toml", "fixed-load-declared-ahead.toml"),  # rules/5
    ("fixed-load-declared-at-bucket-end.toml", "fixed-load-cut-declared-promptly.toml"),
    ("train-in-bursts-beside-serving.toml", "serving-honest.toml"),  # rules/6
    ("pdu-over-every-node-hides-a-node.toml", "pdu-over-every-node-honest.toml"),  # rules/7
    ("long-buckets-calibrate-a-hidden-node.toml", "long-buckets-weather-honest.toml"),  # rules/7
    ("short-buckets-hide-training.toml", "short-buckets-idle-honest.toml"),
    ("calibration-starts-on-hidden-load.toml", "calibration-overhead-falls-honest.toml"),  # rules/10
    ("silent-minutes-train-capped.toml", "silent-minutes-serving-honest.toml"),
    ("others-ramp-in-a-silence.toml", "others-ramp-in-a-silence-honest.toml"),
    ("others-fall-in-a-silence.toml", "others-fall-in-a-silence-honest.toml"),  # tests/sim/misses before
    ("switched-load-tilts-the-fall.toml", "others-fall-in-a-silence-honest.toml"),
    ("others-ramp-undeclared-base-load.toml", "others-ramp-undeclared-base-load-honest.toml"),  # the same
    ("short-silences-train-from-start.toml", "short-silences-idle-honest.toml"),
    ("meter-accuracy-loosened-hides-a-gpu.toml", "meter-accuracy-loosened-honest.toml"),
    ("training-at-a-wandering-cap.toml", "tp-inference-ten-minute-drains-honest.toml"),  # rules/11
    ("others-fall-in-a-short-bucket-silence.toml", "others-fall-in-a-short-bucket-silence-honest.toml"),  # rules/12
    ("short-bucket-fall-over-declared-fixed-load.toml", "short-bucket-fall-wide-band-honest.toml"),
    ("others-ramp-in-a-short-bucket-silence.toml", "others-ramp-in-a-short-bucket-silence-honest.toml"),
    ("train-a-minute-every-20-minutes.toml", "serving-honest.toml"),  # rules/13 (its own twin facility too)
    ("others-ramp-outlasts-a-short-bucket-silence.toml", "others-ramp-outlasts-a-short-bucket-silence-honest.toml"),
    ("switched-load-tilts-the-fall-for-5-minutes.toml", "others-fall-in-a-silence-honest.toml"),  # rules/13
    ("switched-load-tilts-the-rise-for-10-minutes.toml", "others-ramp-undeclared-base-load-honest.toml"),
    ("switched-load-tilts-the-rise.toml", "others-ramp-undeclared-base-load-honest.toml"),
    ("train-on-2-of-8-gpus-in-capped-bursts.toml", "serving-honest.toml"),  # rules/14 (its own twin too)
    # rules/17: a meter's energy register bridges the stretches its attestor leaves unread
    ("hidden-training-while-intake-attestor-skips.toml", "meter-register-bridges-a-step-on-the-edge-honest.toml"),
    ("hidden-training-while-intake-attestor-skips-across-edge.toml",
     "meter-register-bridges-a-step-on-the-edge-honest.toml"),
    ("power-cap-burst-while-intake-attestor-skips.toml", "meter-register-bridges-a-fall-on-the-edge-honest.toml"),
    ("meter-clock-steps-forward-hides-training.toml", "meter-clock-slow-load-before-edge-honest.toml"),
    ("hidden-load-before-edge-charged-to-the-next-bucket.toml", "burst-in-an-unread-stretch-past-the-edge-honest.toml"),
    ("power-cap-burst-while-intake-attestor-skips.toml", "meter-clock-put-right-while-down-near-cap-honest.toml"),
)


def test_every_evader_has_an_honest_twin_and_the_library_is_large_enough() -> None:
    for evader, twin in PAIRS:
        assert evader in LIBRARY, evader
        assert twin in LIBRARY, twin
    assert len(LIBRARY) + len(HEAVY) >= 30


# Expectations come from the stories, written by hand; every scenario must meet them. The first
# case's setup waits for the stories still running (the whole library took over 15 minutes on two
# CPUs here when it started there), which the suite's 600-s timeout per test does not hold; the
# timeout is there to end a hang, which 40 minutes still does.
@pytest.mark.timeout(2400)
@pytest.mark.parametrize("name", LIBRARY)
def test_scenario_meets_its_expectations(name: str, library_results: dict[str, tuple[bool, str]]) -> None:
    ok, table = library_results[name]
    assert ok, f"\n{table}"

