"""Evasions the rules still miss, kept as strict xfails: each scenario under ``misses/`` expects
what the rules should conclude (never COMPLIANT) and gets COMPLIANT today, so that a fix turns it
into an XPASS and the marker must go (and the scenario joins the library). What is left: a facility
load of the lab's own switched with a fall of the others' load for 12 minutes an hour, while every
node reports, tilts the marginal ratio a fall in a silence is read at (rules/11's red team at 5
minutes, 2026-12-06; since rules/13 reads the silence test's noise against the least-squares line,
5 and 10 minutes are caught, ``scenarios/switched-load-tilts-the-fall-for-5-minutes.toml``, and the
rise's tilt at 10, 15 and 19, ``scenarios/switched-load-tilts-the-rise-for-10-minutes.toml``). A
load hidden only while the attestor of an intake meter without an energy register skips a report
is INCONCLUSIVE since rules/19 and joined the library
(``scenarios/hidden-training-while-registerless-intake-skips.toml``). A step of hidden load the ratio
baseline no longer saw where the intake's attestor skipped a report in every bucket (a hunt of
rules/17) is caught since rules/18 and joined the library
(``scenarios/baseline-step-cancelled-by-a-skipped-meter-report.toml``). And since a red team of
rules/19 (2026-12-07): every node's clock set 110 s slow, inside the skew tolerated, claims 110 s
of the next bucket's serving in the bucket of a sharp rise, and hidden training fills it, the
ratio flat. And since a red team of rules/21 (2026-12-08): clocks that jump 112 s ahead in one
bucket and step back in the next, half the fleet each way in turn, so that every bucket's
shortfall is filled and the next one claims it twice, hide an H100; and nodes training and nodes
powered off in one shared silence, the meters reading no change, hide 32 H100s at 370 W for
90 s of every 20 minutes. docs/detection.md says why the four are not fixed. (A red team of rules/20,
2026-12-08, found three more, answered by rules/21 before they were kept here: the library's
``node-clocks-sawtooth-hides-a-gpu.toml``, ``nodes-off-while-silent-fill-hides-a-node.toml`` and
``node-clocks-stepped-back-explain-a-silence.toml``.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.runner import run_scenario
from sim.scenario import load_scenario
from tests.sim.known import strict_xfails

MISSES = Path(__file__).resolve().parent / "misses"


WHY = {
    "slope-tilted-by-a-switched-load-fall.toml": "a marginal ratio tilted by a switched facility load",
    "node-clocks-slow-claim-the-next-buckets-rise.toml": (
        "node clocks 110 s slow claim the next bucket's rise, and hidden training fills it"
    ),
    "node-clocks-jump-and-step-back-across-edges.toml": (
        "clocks that jump ahead in one bucket and step back in the next: the first's shortfall filled,"
        " the next claiming it twice"
    ),
    "training-and-powered-off-nodes-silent-together.toml": (
        "nodes training and nodes powered off in one shared silence: the meters read no change"
    ),
}


@pytest.mark.parametrize("name", strict_xfails(MISSES, "MISS", WHY))
def test_a_known_miss_is_still_missed(name: str) -> None:
    result = run_scenario(load_scenario(MISSES / name))
    assert result.ok, [v.status for v in result.verdicts]
