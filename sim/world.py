"""What every node and meter does in every report period: a scenario's timeline, unrolled.

``plan(scenario)`` turns the timeline into one ``SubjectPeriod`` per subject (node or meter)
and period: what the hardware really runs, what the attestor claims, whether and how it
reports, when the report reaches the verifier. Both runners (in-process and ``--processes``)
follow this plan, so they cannot disagree about the story. Pure: no keys, no clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum

from sim.scenario import (
    Action,
    FacilitySpec,
    FaultKind,
    MeterSpec,
    NodeSpec,
    ReplayMode,
    Scenario,
    TimelineEvent,
)

__all__ = [
    "DeviceWork",
    "Emission",
    "FleetPlan",
    "NodeWork",
    "SubjectPeriod",
    "SubjectPlan",
    "inventory_times",
    "meter_factor",
    "node_work",
    "overhead_points",
    "plan",
    "replacements",
]


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
    shift_ns: int = 0               # the report claims its period moved by this much
    forge: tuple[tuple[str, str], ...] = ()  # (node name, claimed profile): also sign in its name


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
    total_devices: int = 0     # with undeclared ones (0: same as devices)
    reported_devices: int = 0  # what its attestor lists (0: same as devices)


@dataclass(frozen=True)
class FleetPlan:
    subjects: tuple[SubjectPlan, ...]
    outages: tuple[tuple[int, int], ...]   # verifier down [start, end), offsets

    def by_facility(self, facility_id: str) -> tuple[SubjectPlan, ...]:
        return tuple(s for s in self.subjects if s.facility_id == facility_id)

    def verifier_up(self, offset_ns: int) -> bool:
        return not any(a <= offset_ns < b for a, b in self.outages)

    def deliver_ns(self, end_ns: int) -> int:
        """When a report of a period ending at ``end_ns`` (offset) reaches the verifier."""
        return _delivery(end_ns, self.outages)


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
                                                                               periods)),
                                        total_devices=node.total_devices,
                                        reported_devices=node.reported_devices))
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
        if ev.action is Action.IMPERSONATE and ev.by == name and any(f == facility_id for f, _ in ev.targets):
            # This node's attestor also signs, on its own chain, a report in each target's name.
            forged = tuple((n, ev.reports or "idle") for f, n in ev.targets if f == facility_id)
            for i in range(ev.start_ns // period, min(ev.end_ns // period, len(periods))):
                periods[i] = replace(periods[i], forge=periods[i].forge + forged)
        if target not in ev.targets:
            continue
        for first, last in _period_spans(ev.windows(), period):  # [first, last)
            _apply_span(ev, periods, first, last)
        if ev.action in (Action.SILENT, Action.IMPERSONATE):
            for _, end in ev.windows():
                last = -(-end // period)
                if last < len(periods):
                    # A stopped attestor comes back as a new boot.
                    periods[last] = replace(periods[last], new_boot=True)
    return periods


def _period_spans(windows: list[tuple[int, int]], period: int) -> list[tuple[int, int]]:
    """The report periods each stretch touches, as [first, last) index pairs."""
    return [(a // period, -(-b // period)) for a, b in windows]


def _apply_span(ev: TimelineEvent, periods: list[SubjectPeriod], first: int, last: int) -> None:
    for i in range(first, min(last, len(periods))):
        p = periods[i]
        changes: Mapping[str, object]
        if ev.action is Action.PROFILE:
            # What runs, reported truthfully (the parser forbids a lie at the same time).
            if ev.device_set.which != "all" or ev.every_ns:
                continue  # a part of the node or of the period: see node_work
            changes = {"true_profile": ev.profile, "reported_profile": ev.profile}
        elif ev.action is Action.LIE:
            if ev.profile is None:
                continue  # a lying meter: see meter_factor
            if ev.device_set.which != "all" or ev.every_ns:
                continue
            changes = {"true_profile": ev.profile, "reported_profile": ev.reports}
        elif ev.action in (Action.SILENT, Action.IMPERSONATE):
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
        elif ev.action is Action.SHIFT:
            changes = {"shift_ns": ev.shift_ns}
        else:
            changes = {}
        periods[i] = replace(p, **changes)  # type: ignore[arg-type]  # keys are field names


# ---------------------------------------------------------------------------------------------
# Below the period: what each accelerator runs and claims, meters, the facility


@dataclass(frozen=True)
class DeviceWork:
    """What one accelerator runs from an offset on: a profile kind and an operator power cap."""

    kind: str
    power_limit_w: float | None = None


@dataclass(frozen=True)
class NodeWork:
    """Per accelerator of a node (declared ones first, then undeclared): (offset, work) segments
    of what it really runs and of what its attestor claims it runs, each starting at offset 0."""

    true: tuple[tuple[tuple[int, DeviceWork], ...], ...]
    reported: tuple[tuple[tuple[int, DeviceWork], ...], ...]


def node_work(scenario: Scenario, fac: FacilitySpec, node: NodeSpec) -> NodeWork:
    """Unroll the `profile` and `lie` entries of one node down to its accelerators and to the
    instant (duty cycles may cut a report period). Where no entry speaks, the facility's
    default profile runs and is reported."""
    target = (fac.id, node.name)
    entries = [ev for ev in scenario.timeline
               if ev.action in (Action.PROFILE, Action.LIE) and target in ev.targets
               and ev.profile is not None]
    spans = [(ev, a, b) for ev in entries for a, b in ev.windows()]
    cuts = sorted({0} | {a for _, a, _ in spans} | {b for _, _, b in spans})
    default = DeviceWork(fac.profile)
    true: list[list[tuple[int, DeviceWork]]] = [[] for _ in range(node.total_devices)]
    reported: list[list[tuple[int, DeviceWork]]] = [[] for _ in range(node.total_devices)]
    for t in cuts:
        live = [(ev, a, b) for ev, a, b in spans if a <= t < b]
        for d in range(node.total_devices):
            truth = claim = default
            for ev, _, _ in live:
                if d in ev.device_set.indices(node):
                    truth = DeviceWork(ev.profile or fac.profile, ev.power_limit_w)
                    claim = truth if ev.action is Action.PROFILE else DeviceWork(ev.reports or fac.profile)
            for series, work in ((true[d], truth), (reported[d], claim)):
                if not series or series[-1][1] != work:
                    series.append((t, work))
    return NodeWork(tuple(tuple(x) for x in true), tuple(tuple(x) for x in reported))


def replacements(scenario: Scenario, fac: FacilitySpec, node: NodeSpec) -> list[tuple[int, int]]:
    """(offset, device index) of every card swap of a node, in time order."""
    out = []
    for ev in scenario.timeline:
        if ev.action is Action.REPLACE and (fac.id, node.name) in ev.targets:
            out += [(ev.start_ns, i) for i in range(ev.devices)]
    return sorted(out)


def inventory_times(scenario: Scenario, facility_id: str) -> list[int]:
    """Offsets at which the lab submits a new inventory version of the facility."""
    return sorted(ev.start_ns for ev in scenario.timeline
                  if ev.action is Action.INVENTORY and ev.targets[0][0] == facility_id)


def overhead_points(
    scenario: Scenario, fac: FacilitySpec
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """Points (offset, value) of the facility's true overhead and of its base load over time:
    linear between points, a step where two share an offset (see ``Ramp``)."""
    ratio: list[tuple[int, float]] = [(0, fac.true_overhead)]
    base: list[tuple[int, float]] = [(0, fac.base_load_w)]
    changes = sorted((ev for ev in scenario.timeline
                      if ev.action is Action.OVERHEAD and ev.targets[0][0] == fac.id),
                     key=lambda ev: (ev.start_ns, ev.end_ns))
    for ev in changes:
        for points, value in ((ratio, ev.ratio), (base, ev.base_load_w)):
            if value is None:
                continue
            before = _value_at(points, ev.start_ns)
            points += [(ev.start_ns, before), (ev.end_ns, value)]
    return ratio, base


def _value_at(points: list[tuple[int, float]], t: int) -> float:
    value = points[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        if t1 <= t:
            value = v1
        elif t0 <= t < t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return value


def meter_factor(scenario: Scenario, fac: FacilitySpec, meter: MeterSpec) -> list[tuple[int, int, float]]:
    """[start, end) offsets during which the meter lies, and the factor it reads with."""
    out = []
    for ev in scenario.timeline:
        if ev.action is Action.LIE and ev.profile is None and (fac.id, meter.name) in ev.targets:
            out += [(a, b, ev.factor) for a, b in ev.windows()]
    return sorted(out)
