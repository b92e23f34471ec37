"""What every node and meter does in every report period: a scenario's timeline, unrolled.

``plan(scenario)`` turns the timeline into one ``SubjectPeriod`` per subject (node or meter)
and period: what the hardware really runs, what the attestor claims, whether and how it
reports, when the report reaches the verifier. Both runners (in-process and ``--processes``)
follow this plan, so they cannot disagree about the story. Pure: no keys, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum

from sim.scenario import Action, FaultKind, ReplayMode, Scenario

__all__ = ["Emission", "FleetPlan", "SubjectPeriod", "SubjectPlan", "plan"]


class Emission(Enum):
    """How a period is reported."""

    REPORT = "report"              # a fresh, signed report of the period (truthful or a lie)
    NONE = "none"                  # nothing: the attestor is stopped
    DUPLICATE = "duplicate"        # a byte-identical copy of an envelope signed before `replay_from`
    PREGENERATED = "pregenerated"  # an "idle" report signed before the story, old challenge


@dataclass(frozen=True)
class SubjectPeriod:
    """One subject in one period ``[start, end)`` (offsets from the scenario start, ns)."""

    index: int
    start_ns: int
    end_ns: int
    true_profile: str
    reported_profile: str
    emission: Emission = Emission.REPORT
    new_boot: bool = False          # the attestor (re)started just before this period's report
    fork: bool = False              # also sign a conflicting twin at the same seq
    rollback: int = 0               # before this report, the head goes back this many links
    fault: FaultKind | None = None
    fault_devices: int = 0
    replay_from_ns: int = 0         # DUPLICATE: replays envelopes of periods before this offset
    deliver_ns: int = 0             # when the verifier first receives it (offset, ns)


@dataclass(frozen=True)
class SubjectPlan:
    facility_id: str
    name: str
    subject_id: str       # node id or meter id on the wire
    is_meter: bool
    declared: bool        # in the signed inventory (False: hidden node, never reports)
    devices: int
    model: str
    periods: tuple[SubjectPeriod, ...]


@dataclass(frozen=True)
class FleetPlan:
    subjects: tuple[SubjectPlan, ...]
    outages: tuple[tuple[int, int], ...]   # verifier down [start, end), offsets

    def by_facility(self, facility_id: str) -> tuple[SubjectPlan, ...]:
        return tuple(s for s in self.subjects if s.facility_id == facility_id)

    def verifier_up(self, offset_ns: int) -> bool:
        return not any(a <= offset_ns < b for a, b in self.outages)


def _delivery(end_ns: int, outages: tuple[tuple[int, int], ...]) -> int:
    """A report is sent when its period ends; while the verifier is down it waits in the spool."""
    t = end_ns
    for a, b in sorted(outages):
        if a <= t < b:
            t = b
    return t


def plan(scenario: Scenario) -> FleetPlan:
    """Unroll the timeline. Later entries refine earlier ones only where the parser allows."""
    period = scenario.period_ns
    outages = tuple(
        (ev.start_ns, ev.end_ns) for ev in scenario.timeline if ev.action is Action.VERIFIER_OUTAGE
    )
    subjects: list[SubjectPlan] = []
    for fac in scenario.facilities:
        for node in fac.nodes:
            periods = [
                SubjectPeriod(
                    index=i, start_ns=i * period, end_ns=(i + 1) * period,
                    true_profile=fac.profile, reported_profile=fac.profile,
                    deliver_ns=_delivery((i + 1) * period, outages),
                )
                for i in range(scenario.periods)
            ]
            subjects.append(SubjectPlan(fac.id, node.name, node.node_id, False, node.declared,
                                        node.devices, node.model, tuple(_apply(scenario, fac.id, node.name,
                                                                               periods))))
        for meter in fac.meters:
            periods = [
                SubjectPeriod(
                    index=i, start_ns=i * period, end_ns=(i + 1) * period,
                    true_profile="idle", reported_profile="idle",
                    deliver_ns=_delivery((i + 1) * period, outages),
                )
                for i in range(scenario.periods)
            ]
            subjects.append(SubjectPlan(fac.id, meter.name, meter.meter_id, True, True, 0, "",
                                        tuple(_apply(scenario, fac.id, meter.name, periods))))
    return FleetPlan(tuple(subjects), outages)


def _apply(
    scenario: Scenario, facility_id: str, name: str, periods: list[SubjectPeriod]
) -> list[SubjectPeriod]:
    period = scenario.period_ns
    target = (facility_id, name)
    for ev in scenario.timeline:
        if target not in ev.targets:
            continue
        first, last = ev.start_ns // period, ev.end_ns // period  # [first, last)
        for i in range(first, min(last, len(periods))):
            p = periods[i]
            changes: Mapping[str, object]
            if ev.action is Action.PROFILE:
                # What runs, reported truthfully (the parser forbids a lie at the same time).
                changes = {"true_profile": ev.profile, "reported_profile": ev.profile}
            elif ev.action is Action.LIE:
                changes = {"true_profile": ev.profile, "reported_profile": ev.reports}
            elif ev.action is Action.SILENT:
                changes = {"emission": Emission.NONE}
            elif ev.action is Action.REPLAY:
                mode = Emission.DUPLICATE if ev.replay_mode is ReplayMode.DUPLICATE else Emission.PREGENERATED
                changes = {"emission": mode, "replay_from_ns": ev.start_ns}
            elif ev.action is Action.RESTART:
                changes = {"new_boot": True}
            elif ev.action is Action.FORK:
                changes = {"fork": True}
            elif ev.action is Action.ROLLBACK:
                # Restoring the state directory means restarting the daemon: a new boot.
                changes = {"rollback": ev.rollback_reports, "new_boot": True}
            elif ev.action is Action.FAULT:
                changes = {"fault": ev.fault, "fault_devices": ev.devices}
            else:
                changes = {}
            periods[i] = replace(p, **changes)  # type: ignore[arg-type]  # keys are field names
        if ev.action is Action.SILENT and last < len(periods):
            # A stopped attestor comes back as a new boot.
            periods[last] = replace(periods[last], new_boot=True)
    return periods
