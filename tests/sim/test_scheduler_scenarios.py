"""``[facility.scheduler]`` in scenarios: parsed strictly, enrolled in the inventory, and signed
each period by the simulated accounting attestor as the story's scheduler lists its jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pausewatch.envelope import parse_envelope
from pausewatch.inventory import Inventory
from pausewatch.reports import ReportKind, decode_report
from pausewatch.v1 import types_pb2
from sim.fleet import SimulatedFleet
from sim.scenario import ScenarioError, load_scenario, parse_scenario
from sim.world import plan

REPO = Path(__file__).resolve().parents[2]
BASE = (REPO / "scenarios" / "go-silent-to-train.toml").read_text()
NS = 10**9


def _with(scheduler: str) -> str:
    """BASE with a scheduler on its last facility (fac-b: 3 nodes x 4 GPUs)."""
    return BASE.replace("\n[commitment]\n", f"\n{scheduler}\n[commitment]\n", 1)


JOBS = """[facility.scheduler]
[[facility.scheduler.job]]
id = "train-7"
nodes = "n01..n02"
from = "1h"
to = "90m"
[[facility.scheduler.job]]
nodes = ["n00", "hidden"]
gpus = 2
from = "0h"
to = "4h"
"""


@pytest.mark.parametrize(
    ("scheduler", "key", "problem"),
    [
        ("[facility.scheduler]\nflavour = \"pbs\"\n", "facility[1].scheduler.flavour", "unknown key"),
        ("[facility.scheduler]\n[[facility.scheduler.job]]\nnodes = \"n09\"\nfrom = \"0h\"\nto = \"1h\"\n",
         "facility[1].scheduler.job[0].nodes", "no such node"),
        ("[facility.scheduler]\n[[facility.scheduler.job]]\nfrom = \"0h\"\nto = \"1h\"\n",
         "facility[1].scheduler.job[0].nodes", "missing"),
        ("[facility.scheduler]\n[[facility.scheduler.job]]\nnodes = \"n00\"\nfrom = \"1h\"\nto = \"1h\"\n",
         "facility[1].scheduler.job[0].to", "not after"),
        ("[facility.scheduler]\n[[facility.scheduler.job]]\nnodes = \"n00\"\nfrom = \"0h\"\nto = \"90s\"\n",
         "facility[1].scheduler.job[0].to", "report-period boundary"),
        ("[facility.scheduler]\n[[facility.scheduler.job]]\nnodes = \"n00\"\nfrom = \"0h\"\nto = \"9h\"\n",
         "facility[1].scheduler.job[0].to", "past the scenario's end"),
        ("[facility.scheduler]\n[[facility.scheduler.job]]\nnodes = \"n00\"\ngpus = 65\nfrom = \"0h\"\n"
         "to = \"1h\"\n", "facility[1].scheduler.job[0].gpus", "out of range"),
    ],
)
def test_a_misused_scheduler_names_file_line_and_key(scheduler: str, key: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(_with(scheduler), "bad.toml")
    assert info.value.key == key, str(info.value)
    assert problem in info.value.problem, str(info.value)
    assert info.value.line is not None


def test_the_fleet_enrols_the_scheduler_and_signs_what_it_lists() -> None:
    text = _with(JOBS).replace('id = "fac-b"\nlab = "lab-1"\nnodes = 3\ndevices_per_node = 4\nprofile = "idle"\n',
                        'id = "fac-b"\nlab = "lab-1"\nnodes = 3\ndevices_per_node = 4\nprofile = "idle"\n'
                        "hidden_nodes = 1\n", 1)
    s = parse_scenario(text, "ok.toml")
    sched = s.facility("fac-b").scheduler
    assert sched is not None
    assert sched.scheduler_id == "fac-b-slurm"
    assert [(j.job_id, j.nodes, j.gpus) for j in sched.jobs] == [
        ("train-7", ("n01", "n02"), 4), ("2", ("n00", "h00"), 2)
    ]
    assert any(k == "facility[1].scheduler" for _, k, _ in s.in_process_only)
    fleet = SimulatedFleet(s, plan(s))
    inv = Inventory.from_wire(fleet.inventory("fac-b", s.start_unix_ns))
    (declared,) = inv.schedulers
    assert declared.scheduler_id == "fac-b-slurm"
    assert declared.node_ids == ("fac-b-n00", "fac-b-n01", "fac-b-n02")

    def accounting(index: int) -> types_pb2.AccountingReport:
        (out,) = [o for o in fleet.period(index, b"\x01" * 32) if o.subject_id == "fac-b-slurm"]
        header, msg = decode_report(parse_envelope(out.envelope))
        assert header.kind is ReportKind.ACCOUNTING
        assert header.seq == index
        assert isinstance(msg, types_pb2.AccountingReport)
        return msg

    first = accounting(0)
    assert [(j.job_id, list(j.hosts), j.gpus) for j in first.jobs] == [("2", ["fac-b-n00", "fac-b-h00"], 4)]
    for i in range(1, 60):
        accounting(i)
    running = accounting(60)  # 1h: train-7 starts
    assert {j.job_id: j.HasField("end_unix_ns") for j in running.jobs} == {"2": False, "train-7": False}
    for i in range(61, 89):
        accounting(i)
    ended = accounting(89)  # its last minute: the report states its end
    (train,) = [j for j in ended.jobs if j.job_id == "train-7"]
    assert train.end_unix_ns == s.start_unix_ns + 90 * 60 * NS
    assert [j.job_id for j in accounting(90).jobs] == ["2"]


def test_the_library_pair_parses() -> None:
    for name in ("jobs-under-reported.toml", "jobs-honest.toml"):
        s = load_scenario(REPO / "scenarios" / name)
        assert s.facility("fac-a").scheduler is not None
