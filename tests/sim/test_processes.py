"""``pausewatch-sim run --processes``: a scenario played by real verifier and attestor processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from attestor.config import load_config
from attestor.sources import open_sources
from attestor.sources.simulator import SimulatedDeviceSource, SimulatedMeterSource
from sim.fleet import schedule_of
from sim.processes import _attestor_toml, _ClockPlan, _events, _Layout
from sim.scenario import parse_scenario
from sim.world import plan

REPO = Path(__file__).resolve().parents[2]

# Three idle nodes and a meter; n00-n01 train from 1h to 3h while their attestors report idle
# (the meter sees it: VIOLATION with energy.unexplained); n02's attestor is stopped from 2h to
# 3h (silence that a node at full power could fill, so INCONCLUSIVE with continuity.timeout).
SMALL = """
[scenario]
name = "small-processes"
story = "Two nodes lie about a training run, one goes silent; the meter tells the truth."
start = 2026-03-02T00:00:00Z
duration = "3h"
period = "300s"
sample_interval = "10s"
seed = 7
speedup = 720.0

[[facility]]
id = "fac-x"
lab = "lab-x"
nodes = 3
devices_per_node = 8

[commitment]
id = "pause-x"
version = 1
lab_id = "lab-x"
facilities = ["fac-x"]

[commitment.window]
start = 2026-03-02T00:00:00Z
end = 2026-04-01T00:00:00Z

[commitment.rules]
allowed_workloads = ["idle", "inference"]

[commitment.reporting]
max_report_interval_s = 600
max_gap_s = 900
min_inventory_coverage = 1.0
bucket_s = 3600
timeout_intervals = 3

[[timeline]]
do = "lie"
target = "fac-x/n00..n01"
profile = "training"
reports = "idle"
from = "1h"
to = "3h"

[[timeline]]
do = "silent"
target = "fac-x/n02"
from = "2h"
to = "3h"

[[expect]]
facility = "fac-x"
bucket = "0h"
status = "COMPLIANT"

[[expect]]
facility = "fac-x"
bucket = "1h"
status = "VIOLATION"
findings = ["energy.unexplained"]
absent = ["continuity.timeout"]

[[expect]]
facility = "fac-x"
bucket = "2h"
status = ["VIOLATION", "INCONCLUSIVE"]
findings = ["continuity.timeout"]
"""


def test_meter_config_computes_the_facility_true_draw(tmp_path: Path) -> None:
    """The meter process's simulator, built from its config alone, draws what the in-process
    fleet's true sources draw: the same seed, node ids and true schedules."""
    scenario = parse_scenario(SMALL, "small.toml")
    fleet_plan = plan(scenario)
    layout = _Layout(tmp_path)
    clock = _ClockPlan(scenario.start_unix_ns, 1, scenario.speedup)
    meter = next(s for s in fleet_plan.subjects if s.is_meter)
    path = tmp_path / "meter.toml"
    path.write_text(_attestor_toml(scenario, meter, fleet_plan.subjects, layout, port=1, clock=clock))
    cfg = load_config(path, env={})
    (source,) = open_sources(cfg.sources, subject_id=cfg.subject_id, meter=True)
    truth = SimulatedMeterSource(
        meter.subject_id,
        [SimulatedDeviceSource(s.subject_id, s.devices, schedule_of(scenario, s, reported=False),
                               model=s.model, seed=scenario.seed)
         for s in fleet_plan.subjects if not s.is_meter],
        overhead=scenario.facilities[0].true_overhead, base_w=0.0,
    )
    for offset_s in (0, 1800, 3600 + 40, 7200 + 13, 10_000):
        t = scenario.start_unix_ns + offset_s * 1_000_000_000
        assert source.sample(t).devices[0].power_w == truth.sample(t).devices[0].power_w

    # A lying node's config carries what it reports (idle), not what it runs.
    node = next(s for s in fleet_plan.subjects if s.subject_id == "fac-x-n00")
    path = tmp_path / "node.toml"
    path.write_text(_attestor_toml(scenario, node, fleet_plan.subjects, layout, port=1, clock=clock))
    cfg = load_config(path, env={})
    (node_source,) = open_sources(cfg.sources, subject_id=cfg.subject_id)
    assert isinstance(node_source, SimulatedDeviceSource)
    assert node_source.profile_at(scenario.start_unix_ns + 5400 * 1_000_000_000).kind == "idle"


def test_silence_stops_the_attestor_before_the_range_and_starts_it_at_its_end() -> None:
    scenario = parse_scenario(SMALL.replace('duration = "3h"', 'duration = "4h"'), "small.toml")
    subjects = [s for s in plan(scenario).subjects if s.declared]
    events = [(e.at_ns // 1_000_000_000, e.kind, e.name) for e in _events(scenario, subjects, ())]
    assert events == [(7200 - 15, "stop", "fac-x-n02"), (10_800, "start", "fac-x-n02")]


def test_processes_refuse_what_needs_a_patched_attestor() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", "--processes", "scenarios/attestor-equivocation.toml"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert r.returncode == 2, r.stderr
    assert "runs only in-process" in r.stderr


@pytest.mark.heavy
def test_small_scenario_with_real_processes(tmp_path: Path) -> None:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    state = tmp_path / "run"
    r = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", "--processes", "--json", "--state-dir", str(state), str(path)],
        cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    doc = json.loads(r.stdout)
    (result,) = doc["results"]
    assert result["ok"]
    assert result["mismatches"] == 0
    assert result["dispositions"].get("rejected", 0) == 0
    assert any("5 processes" in n for n in result["notes"])
    # Every file of the run is kept: the configs the processes ran with, the signed documents.
    assert (state / "verifier.toml").is_file()
    assert (state / "attestors" / "fac-x-m0" / "attestor.toml").is_file()
    assert (state / "documents" / "commitment.env").is_file()
    # n02 was stopped for a silence that lasts to the story's end: one boot in its log.
    assert (state / "logs" / "fac-x-n02.log").read_text().count('"attestor started"') == 1
