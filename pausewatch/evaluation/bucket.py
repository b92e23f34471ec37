"""The facts of one (facility, bucket): the reports folded fact by fact, then ``finish``.

``BucketAccumulator.add_usage`` / ``add_meter`` / ``add_accounting`` / ``add_ingest`` take
reports in log order; each is read once and handed to the folds it concerns
(``pausewatch.evaluation.folds``: enrolment, coverage, compute, plausibility, node energy,
meters, workload labels, job accounting, integrity), which keep only what their fact needs.
``finish`` assembles their results, in a fixed order, into ``BucketFacts``: coverage, compute
bounds (``folds.compute``), energy balance per meter scope (``folds.balance``), power,
workload per node, and the findings of continuity, inventory, plausibility and ingest. Rules
(``pausewatch.evaluation.rules``) then decide from the facts. Sums use ``math.fsum`` (exactly
rounded, so independent of order) and findings are sorted: the facts are a pure function of
the set of inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pausewatch.commitment import Commitment
from pausewatch.evaluation.findings import WARNING, Finding, FindingId
from pausewatch.evaluation.folds.accounting import AccountingFold
from pausewatch.evaluation.folds.balance import (
    EDGE_SKEW_S,
    ENERGY_VIOLATION_ACCELERATOR_EQUIVALENTS,
    MAX_FILLED_FRACTION,
    NODE_ENERGY_RANDOM,
    SILENT_NODE_FACTOR,
    Z_VIOLATION,
    Z_WARN,
    EnergyBalance,
    balance_decision,
    balance_sigma,
    energy_facts,
    is_evidence,
    outside_of,
    past_edges,
    proven_quiet,
    steady_interior,
)
from pausewatch.evaluation.folds.compute import (
    EFFICIENCY_FLOOR,
    TENSOR_ISSUE_FLOOR,
    TYPICAL_UTILISATION,
    ComputeFold,
)
from pausewatch.evaluation.folds.coverage import CoverageFold, tolerate
from pausewatch.evaluation.folds.enrolment import Enrolment
from pausewatch.evaluation.folds.integrity import IntegrityFold
from pausewatch.evaluation.folds.labels import LabelledPeriod, NodeWorkload, WorkloadFold
from pausewatch.evaluation.folds.meters import REGISTER_SHORT, REGISTER_SHORT_MIN_S, MeterFold
from pausewatch.evaluation.folds.node_energy import NodeEnergyFold
from pausewatch.evaluation.folds.plausibility import PlausibilityFold, energy_tolerance_j
from pausewatch.evaluation.folds.reading import NS_PER_S, Slice, UsageReader, slice_of
from pausewatch.evaluation.inputs import IngestFinding, LoggedReport
from pausewatch.evaluation.intervals import Interval, clip
from pausewatch.evaluation.meter_routes import MeterRoutes
from pausewatch.evaluation.workload import PeriodSignals
from pausewatch.inventory import DeclaredMeter, DeclaredNode, Inventory
from pausewatch.v1 import types_pb2

__all__ = [
    "EFFICIENCY_FLOOR",
    "ENERGY_VIOLATION_ACCELERATOR_EQUIVALENTS",
    "MAX_FILLED_FRACTION",
    "NODE_ENERGY_RANDOM",
    "SILENT_NODE_FACTOR",
    "TENSOR_ISSUE_FLOOR",
    "TYPICAL_UTILISATION",
    "Z_VIOLATION",
    "Z_WARN",
    "BucketAccumulator",
    "BucketFacts",
    "EnergyBalance",
    "LabelledPeriod",
    "NodeWorkload",
    "balance_decision",
    "balance_sigma",
    "energy_tolerance_j",
    "is_evidence",
    "steady_interior",
]


@dataclass(frozen=True)
class BucketFacts:
    """What one (facility, bucket) showed; rules turn it into findings."""

    facility_id: str
    start_ns: int
    end_ns: int
    compute: tuple[float, float, float]  # lower, best, upper FLOP
    coverage_findings: tuple[Finding, ...]
    integrity_findings: tuple[Finding, ...]
    energy: tuple[EnergyBalance, ...]
    energy_findings: tuple[Finding, ...]
    metered_power_w: float | None  # facility-scope meters, mean over the bucket, when fully covered
    reported_power_w: float  # each accelerator's at most its board's (``NodeEnergyFold.bounded_j``)
    power_evidence: tuple[int, ...]
    workloads: tuple[NodeWorkload, ...]
    report_count: int
    # ``metered_power_w`` as the meters' accuracy bounds it (``EnergyFacts.metered_power_range_w``)
    metered_power_range_w: tuple[float, float] | None = None
    # the bucket's mean power read past its edges (``folds.balance.past_edges``): the intake's
    # least and greatest, with their accuracy (``EnergyFacts``; None unless an intake reads the
    # facility's scope), and the nodes' reports
    metered_low_past_edges_w: float | None = None
    metered_high_past_edges_w: float | None = None  # ``EnergyFacts.metered_high_past_edges_w``
    reported_past_edges_w: float | None = None


class BucketAccumulator:
    """Folds the reports of one (facility, bucket) into ``BucketFacts``: routes each report to
    the folds of the facts it bears on."""

    def __init__(
        self,
        commitment: Commitment,
        facility_id: str,
        inventory: Inventory | None,
        span: Interval,
        previous_log_size: int | None = None,
        *,
        lead_in: Mapping[str, int] | None = None,
        context: Mapping[str, Sequence[PeriodSignals]] | None = None,
        versions: Sequence[tuple[int, Inventory]] = (),
        departed: Mapping[str, frozenset[str]] | None = None,
        routes: MeterRoutes | None = None,
        arrived: Mapping[str, int] | None = None,
        reader: UsageReader | None = None,
        left: Mapping[str, tuple[int, DeclaredNode]] | None = None,
    ) -> None:
        """``lead_in``: per node, the end of its last report period before the bucket (so that
        a gap is measured across the bucket's start); ``context``: per node, its report periods
        just before the bucket, for the classifier's causal history; ``versions``: the
        facility's inventory versions by log index, against which each usage report is read
        (``UsageReader``); ``departed``: the nodes decommissioned in the bucket with the meters
        that saw them (``pausewatch.evaluation.verdict.departed_nodes``); ``routes``: the
        versions in force over the bucket, each for its stretch of it, and the measurement each
        meter's readings count under at each time (``pausewatch.evaluation.meter_routes``; none:
        ``inventory`` throughout); ``arrived``: nodes declared in the
        bucket, with when (``pausewatch.evaluation.verdict.arrived_nodes``); ``reader``: the
        ``UsageReader`` of ``inventory`` and ``versions`` where the caller has one; ``left``: the
        departed nodes with when they were dropped (``pausewatch.evaluation.verdict.departures``)."""
        self.commitment = commitment
        self.facility_id = facility_id
        self.inventory = inventory
        self.span = span
        self.departed = departed or {}
        self.routes = routes
        self.arrived = arrived or {}
        self.left = left or {}
        self.report_count = 0
        self._integrity = IntegrityFold(span)
        self._enrolment = Enrolment(commitment, facility_id, previous_log_size, self._integrity)
        self._reader = reader if reader is not None else UsageReader(inventory, versions)
        self._coverage = CoverageFold(commitment, span, lead_in or {})
        self._compute = ComputeFold(self._integrity)
        self._plausibility = PlausibilityFold(self._integrity)
        self._node_energy = NodeEnergyFold(self._integrity)
        self._workload = WorkloadFold(context or {}, *span)
        self._meters = MeterFold(commitment, span, self._integrity)
        self._accounting = AccountingFold(commitment, inventory, span)

    def _slice(self, r: LoggedReport) -> Slice | None:
        """``r``'s slice of the bucket, counted; None when its period lies outside."""
        at = slice_of(r, self.span)
        if at is not None:
            self.report_count += 1
        return at

    def add_usage(self, r: LoggedReport) -> None:
        usage = r.usage
        if usage is None:
            raise ValueError("add_usage needs a usage report")
        at = self._slice(r)
        if at is None:
            return
        reading = self._reader.read(r, usage, at)
        self._enrolment.usage(r, reading)
        self._accounting.add_usage(reading)
        self._plausibility.add(reading)
        self._coverage.add(reading)
        self._compute.add(reading)
        self._node_energy.add(reading)
        self._workload.add(reading)

    def add_meter(self, r: LoggedReport) -> None:
        meter = r.meter
        if meter is None:
            raise ValueError("add_meter needs a meter report")
        at = self._slice(r)
        if at is None:
            return
        declared, measured = self._measured(r, at)
        meter_id = declared.meter_id if declared is not None else None
        subject = self._enrolment.enrolled(r, at, "meter", meter_id)
        if measured is not None:
            self._meters.add(measured, meter, at, subject)

    def add_meter_outside(self, r: LoggedReport) -> None:
        """A neighbouring bucket's meter report: its readings within ``EDGE_SKEW_S`` of this
        bucket's edges, which a power cap's test reads (``folds.balance.past_edges``); they
        are that bucket's to judge, and count nowhere else here."""
        meter = r.meter
        if meter is None:
            raise ValueError("add_meter_outside needs a meter report")
        for window in outside_of(self.span):
            at = slice_of(r, window)
            if at is None:
                continue
            _, measured = self._measured(r, at)
            if measured is not None:
                self._meters.add_outside(measured, meter, at)

    def add_meter_bridge(self, before: LoggedReport, after: LoggedReport, *, registered: bool) -> None:
        """Two consecutive usable reports of one meter key with a stretch between them that
        neither covers, reaching within ``EDGE_SKEW_S`` of this bucket: what the meter's
        register counted there (``MeterFold.add_bridge``). Where the stretch lies in the
        bucket, a register that went backwards there is ``plausibility.counter_backwards`` (a
        meter reset while its attestor was down), and the register's reading missing from
        either report while the key's other reports around carry one (``registered``) is
        ``telemetry.invalid``: nothing bounds what ran then, and an attestor that left out
        only the readings around its silences would otherwise have them read at the meter's
        highest power."""
        a, b = before.meter, after.meter
        if a is None or b is None:
            raise ValueError("add_meter_bridge needs two meter reports")
        gap = (before.header.period_end_ns, after.header.period_start_ns)
        skew_ns = int(EDGE_SKEW_S * NS_PER_S)
        near = clip(gap, (self.span[0] - skew_ns, self.span[1] + skew_ns))
        if near is None:
            return
        full_s = (gap[1] - gap[0]) / NS_PER_S
        part = clip(gap, self.span)
        readings = a.HasField("energy_counter_last_j") and b.HasField("energy_counter_first_j")
        energy = b.energy_counter_first_j - a.energy_counter_last_j if readings else math.nan
        if not readings and not registered:
            # a meter without a register: its unread time is bounded as before, and its part in
            # the bucket is time nothing read (``MeterReading.unbounded_s``)
            inside = clip(gap, self.span)
            if inside is not None:
                at = Slice(after.log_index, inside, 1.0, (inside[1] - inside[0]) / NS_PER_S, full_s)
                _, measured = self._measured(after, at)
                if measured is not None:
                    self._meters.add_unbounded(measured, gap)
            return

        def flag(fid: str, message: str) -> None:
            # the stretch's part in this bucket is where the finding stands (none: the bucket's
            # neighbour's to say)
            if part is None:
                return
            part_s = (part[1] - part[0]) / NS_PER_S
            at = Slice(after.log_index, part, part_s / full_s, part_s, full_s)
            declared, _ = self._measured(after, at)
            subject = f"meter:{declared.meter_id}" if declared is not None else f"key:{after.header.key_id}"
            self._integrity.flag(fid, WARNING, subject, at, message)

        if not (math.isfinite(energy) and energy >= 0):
            if readings:
                flag(
                    FindingId.PLAUSIBILITY_COUNTER_BACKWARDS,
                    f"the meter's energy register went backwards over {full_s:.0f} s no report covers"
                    f" ({energy:.6g} J): nothing bounds what it measured then",
                )
            else:
                flag(
                    FindingId.TELEMETRY_INVALID,
                    f"the meter's register readings are missing around {full_s:.0f} s no report covers,"
                    " while its other reports carry them: nothing bounds what it measured then",
                )
            return
        at = Slice(after.log_index, near, 1.0, (near[1] - near[0]) / NS_PER_S, full_s)
        _, measured = self._measured(after, at)
        if measured is None:
            return

        def mean_w(r: LoggedReport, m: types_pb2.MeterReport) -> float:
            # the samples' mean: a restarted attestor's first report counts its energy from its
            # first sample, and over the whole period it reads ~2 % low (a second of a minute)
            if m.HasField("power_mean_w"):
                return m.power_mean_w
            return m.energy_j / max(1e-9, (r.header.period_end_ns - r.header.period_start_ns) / NS_PER_S)

        before_w, after_w = mean_w(before, a), mean_w(after, b)
        if full_s >= REGISTER_SHORT_MIN_S and energy < REGISTER_SHORT * full_s * min(before_w, after_w):
            # a register that counted under half of what the meter read on both sides: its clock
            # stepped forward (a "stretch" in which no time passed) or the register is wrong. The
            # stretch is unread, bounded at the meter's highest power as without a register
            flag(
                FindingId.TELEMETRY_INVALID,
                f"the meter's register counted {energy:.6g} J over {full_s:.0f} s no report covers,"
                f" under half of what it read on both sides ({min(before_w, after_w):.6g} W): its clock"
                " stepped or its register is wrong",
            )
            return
        self._meters.add_bridge(measured, gap, energy, before_w, after_w)

    def _measured(self, r: LoggedReport, at: Slice) -> tuple[DeclaredMeter | None, str | None]:
        """The meter ``r``'s key was declared as when it read ``at``, and what it measured."""
        if self.routes is not None:  # what the key measured when it read (``MeterRoutes``)
            routed = self.routes.route(r.header.key_id, (at.part[0] + at.part[1]) // 2)
            return routed if routed is not None else (None, None)
        inv = self.inventory
        declared = inv.meter_by_key.get(r.header.key_id) if inv is not None else None
        return declared, declared.meter_id if declared is not None else None

    def add_accounting(self, r: LoggedReport) -> None:
        """A scheduler's job accounting: corroborating evidence, judged in ``finish``."""
        accounting = r.accounting
        if accounting is None:
            raise ValueError("add_accounting needs an accounting report")
        at = self._slice(r)
        if at is None:
            return
        declared = (
            self.inventory.scheduler_by_key.get(r.header.key_id) if self.inventory is not None else None
        )
        scheduler_id = declared.scheduler_id if declared is not None else None
        self._enrolment.enrolled(r, at, "scheduler", scheduler_id)
        if scheduler_id is not None:
            self._accounting.add(scheduler_id, r.log_index, accounting)

    def add_ingest(self, f: IngestFinding, present_seqs: frozenset[int] | None = None) -> None:
        """Attach an ingest finding; ``present_seqs``: the seqs of its key found in the log."""
        self._integrity.add_ingest(f, present_seqs)

    def finish(self) -> BucketFacts:
        span = self.span
        inv = self.inventory
        bucket_s = (span[1] - span[0]) / NS_PER_S
        coverage = self._coverage.finish(inv, self.facility_id)
        coverage_findings = [
            *coverage.findings,
            *self._meters.coverage_findings(m.meter_id for m in (inv.meters if inv is not None else ())),
        ]
        energy = energy_facts(
            self.commitment,
            self.facility_id,
            inv,
            span,
            meters=self._meters,
            nodes=self._node_energy,
            evidence_of=self._coverage.evidence_of,
            devices=coverage.devices,
            departed=self.departed,
            routes=self.routes,
            arrived=self.arrived,
            left=self.left,
        )
        if energy.balances and not any(f.severity >= WARNING for f in energy.findings):
            coverage_findings = tolerate(
                coverage_findings,
                coverage.devices,
                self.commitment.reporting.min_inventory_coverage,
                self._reader.node_of_device,
                proven_quiet(energy.balances, coverage.devices),
            )
        integrity = self._integrity.finish()
        jobs = self._accounting.finish()
        if jobs:
            integrity = tuple(sorted((*integrity, *jobs), key=Finding.sort_key))
        reported_j = self._node_energy.bounded_j()  # the power the reports show (``node_energy``)
        return BucketFacts(
            facility_id=self.facility_id,
            start_ns=span[0],
            end_ns=span[1],
            compute=self._compute.finish(
                coverage.devices if inv is not None else None, energy.unexplained_flop
            ),
            coverage_findings=tuple(sorted(coverage_findings, key=Finding.sort_key)),
            integrity_findings=integrity,
            energy=energy.balances,
            energy_findings=energy.findings,
            metered_power_w=energy.metered_power_w,
            reported_power_w=reported_j / bucket_s if bucket_s > 0 else 0.0,
            power_evidence=self._meters.evidence,
            workloads=self._workload.finish(),
            report_count=self.report_count,
            metered_power_range_w=energy.metered_power_range_w,
            metered_low_past_edges_w=energy.metered_low_past_edges_w,
            metered_high_past_edges_w=energy.metered_high_past_edges_w,
            reported_past_edges_w=past_edges(span, self._node_energy.bounded_between),
        )
