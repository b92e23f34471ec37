"""The facts of one (facility, bucket): a fold over the bucket's reports, then ``finish``.

``BucketAccumulator.add_usage`` / ``add_meter`` / ``add_ingest`` take reports in log order and
keep only what the bucket needs (intervals, addends, per-period classes, evidence indices);
``finish`` turns that into ``BucketFacts``: coverage, compute bounds, energy balance, power,
workload per node, and the findings of continuity, inventory, plausibility and ingest. Rules
(``pausewatch.evaluation.rules``) then decide from the facts. Sums use ``math.fsum`` (exactly
rounded, so independent of order) and findings are sorted: the facts are a pure function of
the set of inputs.

Compute bounds per device and period (``dt`` = the period's overlap with the bucket):

- upper = min(active × dt × densest peak, energy × densest peak / (``EFFICIENCY_FLOOR`` ×
  board power)) where active is ``busy_fraction`` (else ``sm_active``, else 1); a device whose
  telemetry is flagged invalid counts as active the whole time. Every uncovered second of a
  declared device adds densest peak × 1 s, and unexplained metered energy adds its
  accelerator-equivalent seconds × the largest densest peak declared.
- best = tensor_active × dt × dense BF16 peak; without tensor activity,
  active × dt × dense BF16 peak × ``TYPICAL_UTILISATION``.
- lower = tensor_active × dt × least dense tensor peak × ``TENSOR_ISSUE_FLOOR`` (DCGM counts
  the tensor pipe 100 % active at one tensor instruction every other cycle), from valid
  telemetry only; no tensor activity, no lower bound.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pausewatch.commitment import Commitment
from pausewatch.evaluation.findings import CRITICAL, INFO, WARNING, Finding, FindingId
from pausewatch.evaluation.inputs import IngestFinding, LoggedReport
from pausewatch.evaluation.intervals import Interval, clip, uncovered
from pausewatch.evaluation.jobs import AccountingPeriod, accounting_findings
from pausewatch.evaluation.workload import (
    PeriodSignals,
    WorkloadLabel,
    classify_node_history,
    measured_values,
    signals_from_usage,
)
from pausewatch.inventory import Inventory
from pausewatch.peaks import UNKNOWN_MODEL_PEAK, AcceleratorPeak, lookup_peak
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
]

NS_PER_S: Final = 1_000_000_000
EFFICIENCY_FLOOR: Final = 0.3  # no device beats peak FLOP/s at 30 % of its board power
TYPICAL_UTILISATION: Final = 0.4  # model-FLOP utilisation of busy time when tensor activity is absent
TENSOR_ISSUE_FLOOR: Final = 0.5  # DCGM: 100 % tensor activity ≈ one instruction every other cycle
# Meters that bound a facility's power from outside: only these can show hidden hardware.
_BOUNDARY_SCOPES: Final = frozenset({types_pb2.METER_SCOPE_FACILITY})
MAX_FILLED_FRACTION: Final = 0.1  # silences the ratio baseline fills: at most this share of node-time
SILENT_NODE_FACTOR: Final = 1.5  # a silent node may draw its accelerators' board power × 1.5 (host)
ENERGY_VIOLATION_ACCELERATOR_EQUIVALENTS: Final = 1.0  # unexplained ≥ 1 accelerator at board power …
Z_WARN: Final = 3.0  # … a balance off by this many σ blocks COMPLIANT (one-sided 0.13 % per scope-bucket)
Z_VIOLATION: Final = 5.0  # … and by this many σ is evidence (one-sided 3e-7 per scope-bucket)
ENERGY_SAMPLING_Z: Final = 4.0  # standard errors of the sampled mean before energy disagrees
POWER_SENSOR_ACCURACY: Final = 0.05  # NVML: power readings within ±5 % of the board's draw
ENERGY_RESOLUTION_J: Final = 1000.0  # counter and sample quantisation over a period
NODE_ENERGY_RANDOM: Final = 0.005  # random error of Σ node energy per bucket (counters; systematic
# per-board offsets, NVML's ±5 %, are constant and belong to the declared band and the baseline)
TRAINING_EVIDENCE: Final = 0.75  # a period scoring this high is evidence of training
PROOF_MAX_TRAINING_SCORE: Final = 0.35  # an active period scoring above this cannot prove "not training"
PERSISTENCE: Final = 0.25  # share of a node's covered time that must show a class to call it

_INVALID_KINDS: Final = frozenset(
    {
        types_pb2.ANOMALY_KIND_NAN,
        types_pb2.ANOMALY_KIND_NEGATIVE,
        types_pb2.ANOMALY_KIND_OUT_OF_RANGE,
        types_pb2.ANOMALY_KIND_SOURCE_ERROR,
        types_pb2.ANOMALY_KIND_METRIC_VANISHED,
        types_pb2.ANOMALY_KIND_DEVICE_DISAPPEARED,
    }
)

_NO_KINDS: Final[frozenset[int]] = frozenset()

# Coverage findings that ``min_inventory_coverage`` < 1 may excuse — only while the meters show
# that the uncovered hardware drew nothing the reports do not explain.
_TOLERABLE: Final = frozenset(
    {
        FindingId.CONTINUITY_GAP,
        FindingId.CONTINUITY_TIMEOUT,
        FindingId.CONTINUITY_COVERAGE,
        FindingId.INVENTORY_MISSING,
    }
)

_INGEST_SEVERITY: Final = {
    FindingId.CHAIN_FORK: CRITICAL,
    FindingId.CHAIN_ROLLBACK: CRITICAL,
    FindingId.CHAIN_GAP: WARNING,
    FindingId.CHAIN_NEW_BOOT: INFO,
    FindingId.CHAIN_BACKFILL: INFO,
    FindingId.FRESHNESS_STALE_CHALLENGE: WARNING,
    FindingId.FRESHNESS_UNKNOWN_CHALLENGE: WARNING,
    FindingId.FRESHNESS_CLOCK_SKEW: WARNING,
}

_INGEST_MESSAGE: Final = {
    FindingId.CHAIN_FORK: "equivocation: two signed reports conflict",
    FindingId.CHAIN_ROLLBACK: "the attestor's sequence was rolled back",
    FindingId.CHAIN_GAP: "reports missing from the chain",
    FindingId.CHAIN_NEW_BOOT: "the attestor restarted",
    FindingId.CHAIN_BACKFILL: "a late report filled a hole in the chain",
    FindingId.FRESHNESS_STALE_CHALLENGE: "the report answers an expired challenge",
    FindingId.FRESHNESS_UNKNOWN_CHALLENGE: "the report answers a challenge the verifier never issued",
    FindingId.FRESHNESS_CLOCK_SKEW: "the report's signing time is too far from the verifier's clock",
}


@dataclass(frozen=True)
class EnergyBalance:
    """Metered energy against node-reported energy for one meter scope, J.

    ``metered_j`` is the lowest of the scope's redundant measurements and ``metered_max_j`` the
    highest (equal with one measurement); ``sigma_j`` the standard uncertainty of the balance
    (meter accuracy and node sampling, see ``balance_sigma``); ``band`` the overhead band in
    force (the declared one cut to the commitment's bounds). ``complete``: every node of the
    scope covered with energy the whole bucket (no silence), so the ratio can calibrate.
    """

    meters: tuple[str, ...]
    metered_j: float
    reported_j: float
    silent_allowance_j: float
    unexplained_j: float
    accelerator_equivalents: float
    evidence: tuple[int, ...]
    node_ids: tuple[str, ...] = ()
    metered_max_j: float = 0.0
    sigma_j: float = 0.0
    band: tuple[float, float] = (1.0, 1.0)
    complete: bool = False
    top_level: bool = True
    reference_power_w: float = 0.0
    filled_j: float | None = None  # reported_j with each silence filled at the node's own mean power

    def baseline_reported_j(self) -> float | None:
        """The reported energy the ratio baseline divides by: the reports themselves in a complete
        bucket; with short silences (at most ``MAX_FILLED_FRACTION`` of the scope's node-time, no
        node silent throughout) each silence filled at its node's own mean power, so that a node
        kept silent a minute in every bucket cannot keep the baseline from calibrating, and what
        it draws while silent beyond its own mean still raises the ratio; else None."""
        return self.reported_j if self.complete else self.filled_j

    def subject(self, facility_id: str, all_nodes: tuple[str, ...]) -> str:
        """``facility:ID`` for the scope of every node, ``scope:ID/METERS`` for a part."""
        if self.node_ids == all_nodes:
            return f"facility:{facility_id}"
        return f"scope:{facility_id}/{'+'.join(self.meters)}"


@dataclass(frozen=True)
class LabelledPeriod:
    """One report period of a node with the classifier's label (``WorkloadLabel``)."""

    start_ns: int
    end_ns: int
    seconds: float  # the period's overlap with the bucket
    label: str
    training_score: float
    log_index: int
    samples: int = 0  # the period's sample count (median over its devices)


@dataclass(frozen=True)
class NodeWorkload:
    node_id: str
    covered_s: float
    training_s: float  # seconds classified training with score ≥ TRAINING_EVIDENCE
    ambiguous_s: float  # active seconds that neither prove nor show training
    inference_s: float  # active seconds confidently not training
    idle_s: float
    mean_training_score: float
    training_periods: int
    evidence: tuple[int, ...]
    periods: tuple[LabelledPeriod, ...] = ()
    other_s: float = 0.0  # busy seconds that are not ML-like (burn-in, encode): no proof either


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
    reported_power_w: float
    power_evidence: tuple[int, ...]
    workloads: tuple[NodeWorkload, ...]
    report_count: int


def _peak(model: str) -> AcceleratorPeak | None:
    return lookup_peak(model)


@dataclass
class _Node:
    cover: list[Interval] = field(default_factory=list)
    energy_cover: list[Interval] = field(default_factory=list)
    energy_terms: list[float] = field(default_factory=list)
    seen_devices: set[str] = field(default_factory=set)
    periods: list[tuple[float, PeriodSignals, int]] = field(default_factory=list)
    evidence: list[int] = field(default_factory=list)


class BucketAccumulator:
    """Folds the reports of one (facility, bucket) into ``BucketFacts``."""

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
    ) -> None:
        """``lead_in``: per node, the end of its last report period before the bucket (so that
        a gap is measured across the bucket's start); ``context``: per node, its report periods
        just before the bucket, for the classifier's causal history."""
        self.lead_in = lead_in or {}
        self.context = context or {}
        self.commitment = commitment
        self.facility_id = facility_id
        self.inventory = inventory
        self.span = span
        self.previous_log_size = previous_log_size
        self.nodes: dict[str, _Node] = defaultdict(_Node)
        self.device_cover: dict[str, list[Interval]] = defaultdict(list)
        self.meter_cover: dict[str, list[Interval]] = defaultdict(list)
        self.meter_terms: dict[str, list[float]] = defaultdict(list)
        self.meter_evidence: list[int] = []
        self.upper: list[float] = []
        self.best: list[float] = []
        self.lower: list[float] = []
        self.raw_findings: list[Finding] = []
        self.ingest: list[IngestFinding] = []
        self.present_seqs: dict[str, frozenset[int]] = {}
        self.report_count = 0
        self.declared_model: dict[str, str] = {}
        self.declared_node_of: dict[str, str] = {}
        # job accounting (only where the inventory declares a scheduler): its reports, and the
        # usage reports of the bucket they corroborate (pausewatch.evaluation.jobs)
        self.accounting: dict[str, list[AccountingPeriod]] = defaultdict(list)
        self.job_usage: list[tuple[int, types_pb2.UsageReport]] = []
        self._peaks: dict[tuple[str, str], tuple[AcceleratorPeak, bool]] = {}
        if inventory is not None:
            for n in inventory.nodes:
                for a in n.accelerators:
                    self.declared_model[a.uuid] = a.model
                    self.declared_node_of[a.uuid] = n.node_id

    # -- helpers ------------------------------------------------------------------------------

    def _peak_of(self, model: str, reported_model: str) -> tuple[AcceleratorPeak, bool]:
        """The densest of the peaks of the declared and the reported model (first on a tie),
        and whether either is known; the table's largest when neither is."""
        key = (model, reported_model)
        cached = self._peaks.get(key)
        if cached is None:
            peaks = [p for p in (_peak(model), _peak(reported_model)) if p is not None]
            if peaks:
                cached = (max(peaks, key=lambda p: p.densest_flops), True)
            else:
                cached = (UNKNOWN_MODEL_PEAK, False)
            self._peaks[key] = cached
        return cached

    def _flag(  # noqa: PLR0917  # mirrors the Finding fields, in their order
        self,
        fid: str,
        severity: int,
        subject: str,
        span: Interval,
        message: str,
        evidence: int,
        quantities: Mapping[str, tuple[float, str]] | None = None,
    ) -> None:
        self.raw_findings.append(Finding.make(fid, severity, subject, span, message, quantities, (evidence,)))

    def _overlap(self, start: int, end: int) -> tuple[Interval, float] | None:
        part = clip((start, end), self.span)
        if part is None:
            return None
        return part, (part[1] - part[0]) / (end - start)

    def _late(self, r: LoggedReport, part: Interval, subject: str) -> None:
        h = r.header
        lag_ns = h.signed_ns - h.period_end_ns
        late_by_log = self.previous_log_size is not None and r.log_index >= self.previous_log_size
        if late_by_log or lag_ns > self.commitment.reporting.max_report_interval_ns:
            self._flag(
                FindingId.CONTINUITY_LATE,
                INFO,
                subject,
                part,
                "report delivered after its bucket was evaluated or long after its period",
                r.log_index,
                {"signed_after_period_end_s": (max(0, lag_ns) / NS_PER_S, "s")},
            )

    # -- usage reports ------------------------------------------------------------------------

    def add_usage(self, r: LoggedReport) -> None:  # noqa: PLR0915 -- one fold over a report; its split into per-fact folds is not done
        usage = r.usage
        if usage is None:
            raise ValueError("add_usage needs a usage report")
        h = r.header
        overlap = self._overlap(h.period_start_ns, h.period_end_ns)
        if overlap is None:
            return
        part, frac = overlap
        dt_s = (part[1] - part[0]) / NS_PER_S
        full_s = (h.period_end_ns - h.period_start_ns) / NS_PER_S
        self.report_count += 1
        inv = self.inventory
        declared = inv.node_by_key.get(h.key_id) if inv is not None else None
        node_id = declared.node_id if declared is not None else h.subject_id
        node = self.nodes[node_id]
        node.evidence.append(r.log_index)
        subject = f"node:{node_id}"
        self._late(r, part, subject)
        if declared is not None and inv is not None and inv.schedulers:
            self.job_usage.append((r.log_index, usage))
        if declared is None:
            self._flag(
                FindingId.INVENTORY_UNKNOWN_DEVICE,
                WARNING,
                f"key:{h.key_id}",
                part,
                f"reports from attestor key not declared in the inventory (node {h.subject_id!r})",
                r.log_index,
            )
        elif h.subject_id != declared.node_id or h.facility_id != self.facility_id:
            self._flag(
                FindingId.INVENTORY_WRONG_LOCATION,
                WARNING,
                subject,
                part,
                f"the key of {declared.node_id!r} in {self.facility_id!r} reported as node"
                f" {h.subject_id!r} in facility {h.facility_id!r}",
                r.log_index,
            )
        if h.period_end_ns - h.period_start_ns > self.commitment.reporting.max_report_interval_ns:
            self._flag(
                FindingId.CONTINUITY_GAP,
                WARNING,
                subject,
                part,
                "report period longer than the commitment's maximum report interval",
                r.log_index,
                {"period_s": (full_s, "s")},
            )
        anomalies: dict[str, set[int]] = defaultdict(set)
        for a in usage.anomalies:
            anomalies[a.device_uuid].add(a.kind)
        node_invalid = bool(anomalies.get("", set()) & _INVALID_KINDS)
        if node_invalid:
            self._flag(
                FindingId.TELEMETRY_INVALID,
                WARNING,
                subject,
                part,
                "node-level values flagged invalid by the source",
                r.log_index,
            )
        if any(types_pb2.ANOMALY_KIND_COUNTER_RESET in kinds for kinds in anomalies.values()):
            self._flag(
                FindingId.PLAUSIBILITY_COUNTER_BACKWARDS,
                WARNING,
                subject,
                part,
                "an energy or traffic counter went backwards",
                r.log_index,
            )
        node.cover.append(part)
        energy_terms: list[float] = []
        energy_ok = not node_invalid
        node_acc_energy: list[float] = []
        # The hot loop: one pass per accelerator over plain values read once from the message
        # (``measured_values``), peaks resolved once per model pair, subjects built only when a
        # finding needs one. The arithmetic is written exactly as in ``_compute`` before, term
        # for term, so that every float — and so every verdict byte — is unchanged.
        declared_model = self.declared_model
        declared_node_of = self.declared_node_of
        declared_node_id = declared.node_id if declared is not None else None
        device_cover = self.device_cover
        seen = node.seen_devices
        upper_terms, best_terms, lower_terms = self.upper, self.best, self.lower
        log_index = r.log_index
        all_values: list[dict[str, Any]] = []
        for acc in usage.accelerators:
            values = measured_values(acc)
            all_values.append(values)
            uuid = acc.uuid
            invalid = (
                node_invalid
                or (bool(anomalies) and bool(anomalies.get(uuid, _NO_KINDS) & _INVALID_KINDS))
                or acc.sample_count == 0
            )
            decl_model = declared_model.get(uuid)
            if decl_model is None:
                self._flag(
                    FindingId.INVENTORY_UNKNOWN_DEVICE,
                    WARNING,
                    f"device:{uuid}",
                    part,
                    f"accelerator not declared in the inventory on node {node_id!r}",
                    log_index,
                )
            elif declared_node_id is not None and declared_node_of[uuid] != declared_node_id:
                self._flag(
                    FindingId.INVENTORY_WRONG_LOCATION,
                    WARNING,
                    f"device:{uuid}",
                    part,
                    f"accelerator declared on another node reported by {node_id!r}",
                    log_index,
                )
            if invalid:
                self._flag(
                    FindingId.TELEMETRY_INVALID,
                    WARNING,
                    f"device:{uuid}",
                    part,
                    "values flagged invalid by the source (or no samples): not evidence",
                    log_index,
                )
            else:
                device_cover[uuid].append(part)
            seen.add(uuid)
            reported_model = acc.model
            model = reported_model if decl_model is None else decl_model
            peak, known = self._peak_of(model, reported_model)
            if not known:
                self._flag(
                    FindingId.COMPUTE_UNKNOWN_MODEL,
                    INFO,
                    f"device:{uuid}",
                    part,
                    f"no peak figures for model {model[:60]!r}: the largest in the table is used",
                    log_index,
                )
            get = values.get
            busy = get("busy_fraction")
            tensor = get("tensor_active")
            energy = get("energy_j")
            mean = get("power_mean_w")
            # compute bounds
            # ``min(1.0, max(0.0, x))`` written out: the same result for every x, NaN included
            # (NaN → 0.0), without two builtin calls per value.
            if invalid:
                active = 1.0
            elif busy is not None:
                active = busy if busy > 0.0 else 0.0
                active = active if active < 1.0 else 1.0
            else:
                sm = get("sm_active")
                if sm is not None:
                    active = sm if sm > 0.0 else 0.0
                    active = active if active < 1.0 else 1.0
                else:
                    active = 1.0
            upper = active * dt_s * peak.densest_flops
            if not invalid and energy is not None and energy >= 0 and peak.board_power_w > 0:
                by_energy = energy * frac * peak.densest_flops / (EFFICIENCY_FLOOR * peak.board_power_w)
                upper = by_energy if by_energy < upper else upper  # min(upper, by_energy)
            upper_terms.append(upper)
            if tensor is not None and not invalid:
                clipped = tensor if tensor > 0.0 else 0.0
                clipped = clipped if clipped < 1.0 else 1.0
                best_terms.append(clipped * dt_s * peak.dense_bf16_flops)
                lower_terms.append(clipped * dt_s * peak.least_tensor_flops * TENSOR_ISSUE_FLOOR)
            else:
                best_terms.append(active * dt_s * peak.dense_bf16_flops * TYPICAL_UTILISATION)
            # A cheap, conservative pre-check; ``_plausibility`` decides exactly.
            limit = get("power_limit_w") or peak.board_power_w
            power_max = get("power_max_w")
            if (
                (
                    mean is not None
                    and busy is not None
                    and ((busy < 0.05 and mean >= 0.5 * limit) or (busy >= 0.9 and mean < 0.15 * limit))
                )
                or (power_max is not None and power_max > 1.25 * limit)
                or (
                    energy is not None
                    and (energy < 0 or (mean is not None and not abs(energy - mean * full_s) <= 1000.0))
                )
            ):
                self._plausibility(values, peak, full_s, part, log_index, uuid, acc.sample_count)
            if energy is not None and energy >= 0 and not invalid:
                node_acc_energy.append(energy * frac)
            elif mean is not None and not invalid:
                node_acc_energy.append(mean * dt_s)
            else:
                energy_ok = False
        nu = usage.node
        if nu.HasField("bmc_energy_j") and nu.bmc_energy_j >= 0:
            energy_terms.append(nu.bmc_energy_j * frac)
            acc_sum = math.fsum(node_acc_energy)
            if nu.bmc_energy_j * frac < 0.9 * acc_sum:
                self._flag(
                    FindingId.PLAUSIBILITY_POWER_ACTIVITY,
                    WARNING,
                    subject,
                    part,
                    "node BMC energy is below the sum of its accelerators' energy",
                    r.log_index,
                    {"bmc_energy_j": (nu.bmc_energy_j * frac, "J"), "accelerator_energy_j": (acc_sum, "J")},
                )
            energy_ok = energy_ok or not node_invalid
        else:
            energy_terms.extend(node_acc_energy)
            if nu.HasField("rapl_energy_j") and nu.rapl_energy_j >= 0:
                energy_terms.append(nu.rapl_energy_j * frac)
        if energy_ok:
            node.energy_cover.append(part)
            node.energy_terms.extend(energy_terms)
        signals = PeriodSignals(h.period_start_ns, h.period_end_ns, signals_from_usage(usage, all_values))
        node.periods.append((dt_s, signals, r.log_index))

    def _plausibility(  # noqa: PLR0917  # one device's values and where they came from
        self,
        v: Mapping[str, Any],
        peak: AcceleratorPeak,
        full_s: float,
        part: Interval,
        index: int,
        uuid: str,
        samples: int = 0,
    ) -> None:
        subject = f"device:{uuid}"
        limit = v.get("power_limit_w") or peak.board_power_w
        mean, busy, tensor = v.get("power_mean_w"), v.get("busy_fraction"), v.get("tensor_active")
        fid = FindingId.PLAUSIBILITY_POWER_ACTIVITY
        if (
            mean is not None
            and busy is not None
            and mean >= 0.5 * limit
            and busy < 0.05
            and (tensor or 0.0) < 0.02
        ):
            self._flag(
                fid,
                WARNING,
                subject,
                part,
                "high power while reporting no activity",
                index,
                {"power_mean_w": (mean, "W"), "busy_fraction": (busy, "1")},
            )
        if (
            mean is not None
            and busy is not None
            and tensor is not None
            and busy >= 0.9
            and tensor >= 0.5
            and mean < 0.15 * limit
        ):
            self._flag(
                fid,
                WARNING,
                subject,
                part,
                "heavy tensor activity at idle power",
                index,
                {"power_mean_w": (mean, "W"), "tensor_active": (tensor, "1")},
            )
        power_max = v.get("power_max_w")
        if power_max is not None and power_max > 1.25 * limit:
            self._flag(
                fid,
                WARNING,
                subject,
                part,
                "power above 125 % of the board limit",
                index,
                {"power_max_w": (power_max, "W"), "power_limit_w": (limit, "W")},
            )
        energy = v.get("energy_j")
        if energy is not None:
            if energy < 0:
                self._flag(
                    FindingId.PLAUSIBILITY_COUNTER_BACKWARDS,
                    WARNING,
                    subject,
                    part,
                    "negative energy over a period: the counter ran backwards",
                    index,
                    {"energy_j": (energy, "J")},
                )
            elif mean is not None:
                expected = mean * full_s
                if abs(energy - expected) > energy_tolerance_j(
                    expected, energy, full_s, v.get("power_variance_w2"), samples
                ):
                    self._flag(
                        fid,
                        WARNING,
                        subject,
                        part,
                        "energy disagrees with mean power × period",
                        index,
                        {"energy_j": (energy, "J"), "power_energy_j": (expected, "J")},
                    )

    # -- meter reports ------------------------------------------------------------------------

    def add_meter(self, r: LoggedReport) -> None:
        meter = r.meter
        if meter is None:
            raise ValueError("add_meter needs a meter report")
        h = r.header
        overlap = self._overlap(h.period_start_ns, h.period_end_ns)
        if overlap is None:
            return
        part, frac = overlap
        self.report_count += 1
        declared = self.inventory.meter_by_key.get(h.key_id) if self.inventory is not None else None
        subject = self._enrolled(r, part, "meter", declared.meter_id if declared is not None else None)
        if declared is None:
            return
        invalid = (
            any(a.kind in _INVALID_KINDS for a in meter.anomalies)
            or meter.sample_count == 0
            or not meter.HasField("energy_j")
        )
        if any(a.kind == types_pb2.ANOMALY_KIND_COUNTER_RESET for a in meter.anomalies) or (
            meter.HasField("energy_j") and meter.energy_j < 0
        ):
            self._flag(
                FindingId.PLAUSIBILITY_COUNTER_BACKWARDS,
                WARNING,
                subject,
                part,
                "the meter's energy counter went backwards",
                r.log_index,
            )
            invalid = True
        if invalid:
            self._flag(
                FindingId.TELEMETRY_INVALID,
                WARNING,
                subject,
                part,
                "meter values flagged invalid or missing: not evidence",
                r.log_index,
            )
            return
        self.meter_cover[declared.meter_id].append(part)
        self.meter_terms[declared.meter_id].append(meter.energy_j * frac)
        self.meter_evidence.append(r.log_index)

    def _enrolled(self, r: LoggedReport, part: Interval, noun: str, declared_id: str | None) -> str:
        """The subject of a meter's or a scheduler's report (``noun``), after its lateness, its
        key's declaration (``declared_id``: the id the inventory gives the key, None: not
        declared) and the place it reports from are flagged."""
        h = r.header
        subject = f"{noun}:{declared_id if declared_id is not None else h.subject_id}"
        self._late(r, part, subject)
        if declared_id is None:
            self._flag(
                FindingId.INVENTORY_UNKNOWN_DEVICE,
                WARNING,
                f"key:{h.key_id}",
                part,
                f"{noun} key not declared in the inventory ({noun} {h.subject_id!r})",
                r.log_index,
            )
        elif h.subject_id != declared_id or h.facility_id != self.facility_id:
            self._flag(
                FindingId.INVENTORY_WRONG_LOCATION,
                WARNING,
                subject,
                part,
                f"{noun} {declared_id!r} reported as {h.subject_id!r} in {h.facility_id!r}",
                r.log_index,
            )
        return subject

    # -- accounting reports -------------------------------------------------------------------

    def add_accounting(self, r: LoggedReport) -> None:
        """A scheduler's job accounting: corroborating evidence, judged in ``finish``."""
        accounting = r.accounting
        if accounting is None:
            raise ValueError("add_accounting needs an accounting report")
        h = r.header
        overlap = self._overlap(h.period_start_ns, h.period_end_ns)
        if overlap is None:
            return
        part, _ = overlap
        self.report_count += 1
        declared = self.inventory.scheduler_by_key.get(h.key_id) if self.inventory is not None else None
        self._enrolled(r, part, "scheduler", declared.scheduler_id if declared is not None else None)
        if declared is not None:
            self.accounting[declared.scheduler_id].append(AccountingPeriod(r.log_index, accounting))

    def _job_findings(self) -> list[Finding]:
        """Each declared scheduler's findings (none where the inventory declares no scheduler)."""
        out: list[Finding] = []
        for scheduler in self.inventory.schedulers if self.inventory is not None else ():
            out += accounting_findings(
                scheduler,
                self.accounting.get(scheduler.scheduler_id, []),
                self.job_usage,
                self.span,
                max_gap_ns=self.commitment.reporting.max_gap_ns,
            )
        return out

    def add_ingest(self, f: IngestFinding, present_seqs: frozenset[int] | None = None) -> None:
        if clip((f.start_ns, f.end_ns), self.span) is None:
            return
        """Attach an ingest finding; ``present_seqs``: the seqs of its key found in the log."""
        self.ingest.append(f)
        if present_seqs is not None:
            self.present_seqs[f.key_id] = present_seqs

    # -- finish -------------------------------------------------------------------------------

    def finish(self) -> BucketFacts:
        span = self.span
        rep = self.commitment.reporting
        bucket_s = (span[1] - span[0]) / NS_PER_S
        inv = self.inventory
        coverage: list[Finding] = []
        uncovered_upper: list[float] = []
        devices_total = 0
        devices_full = 0
        tolerable: set[str] = set()  # nodes whose coverage findings min_inventory_coverage may excuse
        if inv is None:
            coverage.append(
                Finding.make(
                    FindingId.INVENTORY_MISSING,
                    WARNING,
                    f"facility:{self.facility_id}",
                    span,
                    "no signed inventory for this facility: nothing can be proven",
                )
            )
        else:
            for n in inv.nodes:
                node = self.nodes.get(n.node_id) or _Node()
                node_full = self._node_coverage(n.node_id, node, coverage)
                node_gaps = uncovered(node.cover, span)
                if not node.cover and n.accelerators and rep.min_time_coverage > 0:
                    coverage.append(
                        Finding.make(
                            FindingId.CONTINUITY_COVERAGE,
                            WARNING,
                            f"node:{n.node_id}",
                            span,
                            f"no valid report in the bucket: covered 0 % of it, under the commitment's"
                            f" minimum {rep.min_time_coverage:.1%}",
                            {
                                "covered_fraction": (0.0, "1"),
                                "uncovered_s": (bucket_s, "s"),
                                "min_time_coverage": (rep.min_time_coverage, "1"),
                            },
                        )
                    )
                for acc in n.accelerators:
                    devices_total += 1
                    peak = _peak(acc.model) or UNKNOWN_MODEL_PEAK
                    gaps = uncovered(self.device_cover.get(acc.uuid, []), span)
                    uncovered_upper.append(sum(b - a for a, b in gaps) / NS_PER_S * peak.densest_flops)
                    device_full = node_full
                    if node.cover and acc.uuid not in node.seen_devices:
                        coverage.append(
                            Finding.make(
                                FindingId.INVENTORY_MISSING,
                                WARNING,
                                f"device:{acc.uuid}",
                                span,
                                f"declared accelerator absent from every report of node {n.node_id!r}",
                                None,
                                node.evidence,
                            )
                        )
                        device_full = False
                    else:
                        own = [g for g in gaps if not any(ga <= g[0] and g[1] <= gb for ga, gb in node_gaps)]
                        for a, b in own:
                            if b - a > rep.max_gap_ns:
                                coverage.append(
                                    Finding.make(
                                        FindingId.CONTINUITY_GAP,
                                        WARNING,
                                        f"device:{acc.uuid}",
                                        (a, b),
                                        f"device not covered by valid values for {(b - a) / NS_PER_S:.0f} s",
                                        {"gap_s": ((b - a) / NS_PER_S, "s")},
                                        node.evidence,
                                    )
                                )
                                device_full = False
                        missing_s = sum(b - a for a, b in gaps) / NS_PER_S
                        share = 1.0 - missing_s / bucket_s if bucket_s > 0 else 1.0
                        if node.cover and share < rep.min_time_coverage and missing_s > 0:
                            coverage.append(
                                Finding.make(
                                    FindingId.CONTINUITY_COVERAGE,
                                    WARNING,
                                    f"device:{acc.uuid}",
                                    span,
                                    f"device covered by valid values for {share:.1%} of the bucket, under the"
                                    f" commitment's minimum {rep.min_time_coverage:.1%} (every gap summed)",
                                    {
                                        "covered_fraction": (share, "1"),
                                        "uncovered_s": (missing_s, "s"),
                                        "min_time_coverage": (rep.min_time_coverage, "1"),
                                    },
                                    node.evidence,
                                )
                            )
                            device_full = False
                    devices_full += device_full
                    if not device_full:
                        tolerable.add(n.node_id)
            for m in inv.meters:
                self._meter_coverage(m.meter_id, coverage)

        energy, energy_findings, unexplained_flop, metered_power = self._energy(span, bucket_s)
        if (
            devices_total
            and devices_full / devices_total >= rep.min_inventory_coverage
            and rep.min_inventory_coverage < 1.0
            and energy
            and not any(f.severity >= WARNING for f in energy_findings)
        ):
            # Tolerated by the commitment, and only because the meters prove that the uncovered
            # hardware drew nothing the reports do not explain: silence is never evidence, but a
            # silent node that the meters show powered down is not hiding work. Recorded, and
            # still counted at peak in the upper bound.
            coverage = [
                Finding(f.id, INFO, f.subject, f.start_ns, f.end_ns, f.message, f.quantities, f.evidence)
                if f.subject.startswith(("node:", "device:"))
                and f.id in _TOLERABLE
                and self._node_of_subject(f.subject) in tolerable
                else f
                for f in coverage
            ]
        integrity = self._integrity()
        jobs = self._job_findings()
        if jobs:
            integrity = tuple(sorted((*integrity, *jobs), key=Finding.sort_key))
        workloads = tuple(self._workload(nid, node) for nid, node in sorted(self.nodes.items()))
        reported_j = math.fsum(t for node in self.nodes.values() for t in node.energy_terms)
        upper = math.fsum([*self.upper, *uncovered_upper, unexplained_flop]) if inv is not None else math.inf
        return BucketFacts(
            facility_id=self.facility_id,
            start_ns=span[0],
            end_ns=span[1],
            compute=(math.fsum(self.lower), math.fsum(self.best), upper),
            coverage_findings=tuple(sorted(coverage, key=Finding.sort_key)),
            integrity_findings=integrity,
            energy=energy,
            energy_findings=energy_findings,
            metered_power_w=metered_power,
            reported_power_w=reported_j / bucket_s if bucket_s > 0 else 0.0,
            power_evidence=tuple(sorted(set(self.meter_evidence))),
            workloads=workloads,
            report_count=self.report_count,
        )

    def _node_of_subject(self, subject: str) -> str:
        kind, _, name = subject.partition(":")
        return self.declared_node_of.get(name, "") if kind == "device" else name

    def _node_coverage(self, node_id: str, node: _Node, coverage: list[Finding]) -> bool:
        """Gap and timeout findings of one declared node; whether it is covered throughout.

        A gap that begins at the bucket's start is measured from the end of the node's last
        report before the bucket (``lead_in``), so cutting a silence at a bucket edge does not
        shorten it."""
        span = self.span
        rep = self.commitment.reporting
        timeout_ns = rep.timeout_intervals * rep.max_report_interval_ns
        full = True
        for a, b in uncovered(node.cover, span):
            length = b - a
            since = a
            if a == span[0]:
                last = self.lead_in.get(node_id)
                if last is not None and last <= a:
                    since = max(last, self.commitment.window_start_ns)
            full_length = b - since
            subject = f"node:{node_id}"
            if b == span[1] and length >= timeout_ns:
                coverage.append(
                    Finding.make(
                        FindingId.CONTINUITY_TIMEOUT,
                        WARNING,
                        subject,
                        (a, b),
                        f"attestor silent for {full_length / NS_PER_S:.0f} s"
                        f" (≥ {rep.timeout_intervals} report intervals) at the bucket's end",
                        {"silent_s": (full_length / NS_PER_S, "s")},
                        node.evidence[-1:],
                    )
                )
                full = False
            elif full_length > rep.max_gap_ns:
                coverage.append(
                    Finding.make(
                        FindingId.CONTINUITY_GAP,
                        WARNING,
                        subject,
                        (a, b),
                        f"no reports for {full_length / NS_PER_S:.0f} s"
                        + (f" ({length / NS_PER_S:.0f} s of it in this bucket)" if since < a else ""),
                        {"gap_s": (full_length / NS_PER_S, "s")},
                        node.evidence[-1:],
                    )
                )
                full = False
        return full

    def _meter_coverage(self, meter_id: str, coverage: list[Finding]) -> None:
        span = self.span
        rep = self.commitment.reporting
        timeout_ns = rep.timeout_intervals * rep.max_report_interval_ns
        gaps = uncovered(self.meter_cover.get(meter_id, []), span)
        for a, b in gaps:
            length = b - a
            fid = (
                FindingId.CONTINUITY_TIMEOUT
                if (b == span[1] and length >= timeout_ns)
                else (FindingId.CONTINUITY_GAP if length > rep.max_gap_ns else None)
            )
            if fid is not None:
                coverage.append(
                    Finding.make(
                        fid,
                        WARNING,
                        f"meter:{meter_id}",
                        (a, b),
                        f"meter not covered for {length / NS_PER_S:.0f} s",
                        {"gap_s": (length / NS_PER_S, "s")},
                    )
                )
        missing_s = sum(b - a for a, b in gaps) / NS_PER_S
        bucket_s = (span[1] - span[0]) / NS_PER_S
        if bucket_s > 0 and missing_s > 0 and 1.0 - missing_s / bucket_s < rep.min_time_coverage:
            coverage.append(
                Finding.make(
                    FindingId.CONTINUITY_COVERAGE,
                    WARNING,
                    f"meter:{meter_id}",
                    span,
                    f"meter covered for {1.0 - missing_s / bucket_s:.1%} of the bucket, under the"
                    f" commitment's minimum {rep.min_time_coverage:.1%}",
                    {"uncovered_s": (missing_s, "s")},
                )
            )

    def _integrity(self) -> tuple[Finding, ...]:
        merged: dict[tuple[str, int, str], list[Finding]] = defaultdict(list)
        for f in self.raw_findings:
            merged[(f.id, f.severity, f.subject)].append(f)
        present = self.present_seqs
        for g in self.ingest:
            severity: int = _INGEST_SEVERITY.get(g.finding_id, WARNING)
            if (
                g.finding_id == FindingId.CHAIN_GAP
                and g.missing_first is not None
                and g.missing_last is not None
            ):
                have = present.get(g.key_id, frozenset())
                if all(s in have for s in range(g.missing_first, g.missing_last + 1)):
                    severity = INFO  # every skipped report arrived later
            # A canonical message: the verifier's stored findings and the auditor's re-derived
            # ones word things differently; the verdict must not depend on the wording.
            message = _INGEST_MESSAGE.get(g.finding_id, "finding left by ingest")
            if g.missing_first is not None and g.missing_last is not None:
                message += f" (seq {g.missing_first}…{g.missing_last})"
            merged[(g.finding_id, severity, g.subject)].append(
                Finding.make(
                    g.finding_id, severity, g.subject, (g.start_ns, g.end_ns), message, None, (g.log_index,)
                )
            )
        out = []
        for (fid, severity, subject), group in merged.items():
            first = min(group, key=lambda f: (f.start_ns, f.message))
            quantities = {"occurrences": (float(len(group)), "1")}
            for q in first.quantities:
                quantities.setdefault(q.name, (q.value, q.unit))
            out.append(
                Finding.make(
                    fid,
                    severity,
                    subject,
                    (min(f.start_ns for f in group), max(f.end_ns for f in group)),
                    first.message,
                    quantities,
                    (i for f in group for i in f.evidence),
                )
            )
        return tuple(sorted(out, key=Finding.sort_key))

    def _energy(  # noqa: PLR0915 -- one balance per scope; its split into per-fact folds is not done
        self, span: Interval, bucket_s: float
    ) -> tuple[tuple[EnergyBalance, ...], tuple[Finding, ...], float, float | None]:
        """Energy balance per meter scope (nested scopes each on their own); see ``balance_sigma``.

        Silence never balances the books: the energy a silent node could have drawn (its
        accelerators' board power × ``SILENT_NODE_FACTOR``) only decides between
        ``energy.unexplained`` CRITICAL (even silence at full power cannot explain the meter) and
        ``energy.silent_draw`` WARNING (only silence can)."""
        inv = self.inventory
        subject = f"facility:{self.facility_id}"
        if inv is None:
            return (), (), 0.0, None
        if not inv.meters:
            return (
                (),
                (
                    Finding.make(
                        FindingId.ENERGY_BALANCE_UNVERIFIABLE,
                        WARNING,
                        subject,
                        span,
                        "no meter declared: node reports cannot be checked against independent energy",
                    ),
                ),
                0.0,
                None,
            )
        tol = self.commitment.tolerances
        accuracy = {m.meter_id: m.accuracy for m in inv.meters}
        balances: list[EnergyBalance] = []
        findings: list[Finding] = []
        unexplained_flop: list[float] = []
        metered_power: float | None = None
        all_nodes = tuple(sorted(n.node_id for n in inv.nodes))
        groups = inv.scope_groups()
        metered_nodes = {nid for g in groups for nid in g.node_ids}
        unmetered = sorted(set(all_nodes) - metered_nodes)
        if not any(m.scope in _BOUNDARY_SCOPES for m in inv.meters):
            findings.append(
                Finding.make(
                    FindingId.ENERGY_BALANCE_UNVERIFIABLE,
                    WARNING,
                    subject,
                    span,
                    "no meter measures the facility's intake (scope facility): power drawn outside"
                    " the metered racks and halls, a hidden rack say, would not show",
                )
            )
        if unmetered:
            findings.append(
                Finding.make(
                    FindingId.ENERGY_BALANCE_UNVERIFIABLE,
                    WARNING,
                    subject,
                    span,
                    f"{len(unmetered)} declared node(s) behind no meter (first {unmetered[0]!r}):"
                    " their reports cannot be checked against independent energy",
                )
            )
        max_gap = self.commitment.reporting.max_gap_ns
        for group in groups:
            scope_set = set(group.node_ids)
            top_level = not any(set(other.node_ids) > scope_set for other in groups if other is not group)
            readings: list[tuple[tuple[str, ...], float, float]] = []  # meters, J, σ J
            for meters in group.measurements:
                gap = max(sum(b - a for a, b in uncovered(self.meter_cover.get(m, []), span)) for m in meters)
                if gap > max_gap:
                    continue
                terms = [t for m in meters for t in self.meter_terms.get(m, [])]
                value = math.fsum(terms)
                sigma = math.sqrt(
                    math.fsum((accuracy[m] / 2 * math.fsum(self.meter_terms.get(m, []))) ** 2 for m in meters)
                )
                readings.append((meters, value, sigma))
            scope_name = (
                "facility" if group.node_ids == all_nodes else f"scope of {len(group.node_ids)} node(s)"
            )
            if not readings:
                findings.append(
                    Finding.make(
                        FindingId.ENERGY_BALANCE_UNVERIFIABLE,
                        WARNING,
                        subject,
                        span,
                        f"meters {', '.join(group.meter_ids)} ({scope_name}) do not cover the bucket",
                    )
                )
                continue
            findings.extend(self._disagreements(readings, span))
            lowest = min(readings, key=lambda r: r[1])
            highest = max(readings, key=lambda r: r[1])
            metered, metered_max = lowest[1], highest[1]
            if group.node_ids == all_nodes:
                metered_power = metered / bucket_s
            reported_terms: list[float] = []
            allowance_terms: list[float] = []
            ref_power = 0.0
            ref_peak = 0.0
            evidence: list[int] = list(self.meter_evidence)
            complete = True
            fill_terms: list[float] = []  # each silence filled with the node's own mean power
            silent_total_s = 0.0
            fillable = True
            for nid in group.node_ids:
                decl = inv.node_by_id[nid]
                board = [(_peak(a.model) or UNKNOWN_MODEL_PEAK) for a in decl.accelerators]
                for p in board:
                    ref_power = max(ref_power, p.board_power_w)
                    ref_peak = max(ref_peak, p.densest_flops)
                node = self.nodes.get(nid)
                cover = node.energy_cover if node is not None else []
                silent_s = sum(b - a for a, b in uncovered(cover, span)) / NS_PER_S
                complete = complete and silent_s == 0.0
                allowance_terms.append(
                    silent_s * math.fsum(p.board_power_w for p in board) * SILENT_NODE_FACTOR
                )
                if node is not None:
                    reported_terms.extend(node.energy_terms)
                    evidence.extend(node.evidence)
                silent_total_s += silent_s
                covered_s = bucket_s - silent_s
                if silent_s > 0.0:
                    if node is None or covered_s <= 0.0:
                        fillable = False
                    else:
                        fill_terms.append(math.fsum(node.energy_terms) / covered_s * silent_s)
            if ref_power == 0.0:
                ref_power, ref_peak = UNKNOWN_MODEL_PEAK.board_power_w, UNKNOWN_MODEL_PEAK.densest_flops
            reported = math.fsum(reported_terms)
            allowance = math.fsum(allowance_terms)
            node_time_s = bucket_s * len(group.node_ids)
            filled = (
                reported + math.fsum(fill_terms)
                if fillable and node_time_s > 0 and silent_total_s <= MAX_FILLED_FRACTION * node_time_s
                else None
            )
            lo, hi = tol.band(*group.overhead)
            sigma = balance_sigma(max(lowest[2], highest[2]), reported, hi)
            by_reports = metered_max - hi * reported
            beyond_silence = metered - hi * (reported + allowance)
            unexplained = max(0.0, metered_max - hi * (reported + allowance))
            equivalents = unexplained / (bucket_s * ref_power) if bucket_s > 0 else 0.0
            balance = EnergyBalance(
                meters=group.meter_ids,
                metered_j=metered,
                reported_j=reported,
                silent_allowance_j=allowance,
                unexplained_j=unexplained,
                accelerator_equivalents=equivalents,
                evidence=tuple(sorted(set(evidence))),
                node_ids=group.node_ids,
                metered_max_j=metered_max,
                sigma_j=sigma,
                band=(lo, hi),
                complete=complete and len(readings) == len(group.measurements),
                top_level=top_level,
                reference_power_w=ref_power,
                filled_j=filled if len(readings) == len(group.measurements) else None,
            )
            balances.append(balance)
            quantities = {
                "metered_j": (metered, "J"),
                "metered_max_j": (metered_max, "J"),
                "reported_j": (reported, "J"),
                "silent_allowance_j": (allowance, "J"),
                "unexplained_j": (max(0.0, by_reports), "J"),
                "beyond_silence_j": (max(0.0, beyond_silence), "J"),
                "sigma_j": (sigma, "J"),
                "accelerator_equivalents": (
                    max(0.0, by_reports) / (bucket_s * ref_power) if bucket_s > 0 else 0.0,
                    "1",
                ),
                "overhead_max_ratio": (hi, "1"),
                "overhead_min_ratio": (lo, "1"),
            }
            if top_level and unexplained > 0:
                unexplained_flop.append(unexplained / ref_power * ref_peak)
            where = f"{scope_name}, meters {', '.join(group.meter_ids)}"
            scope_subject = balance.subject(self.facility_id, all_nodes)
            decision = balance_decision(balance, bucket_s)
            if decision == "violation":
                findings.append(
                    Finding.make(
                        FindingId.ENERGY_UNEXPLAINED,
                        CRITICAL,
                        scope_subject,
                        span,
                        f"{where}: metered energy exceeds what the node reports, and every silent node"
                        f" at full power, can explain by {beyond_silence / (bucket_s * ref_power):.1f}"
                        " accelerator-equivalents",
                        quantities,
                        balance.evidence,
                    )
                )
            elif decision in ("unexplained", "silent_draw"):
                only_silence = decision == "silent_draw"
                findings.append(
                    Finding.make(
                        FindingId.ENERGY_SILENT_DRAW if only_silence else FindingId.ENERGY_UNEXPLAINED,
                        WARNING,
                        scope_subject,
                        span,
                        f"{where}: metered energy exceeds what the reports explain"
                        + (
                            "; only the power silent nodes could have drawn closes the gap"
                            if only_silence
                            else " (under the evidence threshold of a violation)"
                        ),
                        quantities,
                        balance.evidence,
                    )
                )
            elif decision == "over_reported":
                findings.append(
                    Finding.make(
                        FindingId.ENERGY_UNEXPLAINED,
                        WARNING,
                        scope_subject,
                        span,
                        f"{where}: nodes report more energy than the meters measured"
                        " (below the overhead band)",
                        quantities,
                        balance.evidence,
                    )
                )
        return (
            tuple(balances),
            tuple(sorted(findings, key=Finding.sort_key)),
            math.fsum(unexplained_flop),
            metered_power,
        )

    @staticmethod
    def _disagreements(
        readings: Sequence[tuple[tuple[str, ...], float, float]], span: Interval
    ) -> list[Finding]:
        """Redundant measurements of one scope that differ beyond their combined accuracy."""
        out = []
        for i, (ma, va, sa) in enumerate(readings):
            for mb, vb, sb in readings[i + 1 :]:
                limit = Z_WARN * math.sqrt(sa * sa + sb * sb)
                if abs(va - vb) > limit:
                    out.append(
                        Finding.make(
                            FindingId.METER_DISAGREEMENT,
                            WARNING,
                            f"meter:{'+'.join(ma)}",
                            span,
                            f"redundant meters of one scope disagree: {'+'.join(ma)} {va:.4g} J,"
                            f" {'+'.join(mb)} {vb:.4g} J (limit {limit:.3g} J): at least one is wrong",
                            {"metered_a_j": (va, "J"), "metered_b_j": (vb, "J"), "limit_j": (limit, "J")},
                        )
                    )
        return out

    def _workload(self, node_id: str, node: _Node) -> NodeWorkload:
        covered = training = ambiguous = inference = idle = other = 0.0
        scores: list[float] = []
        periods = 0
        evidence: list[int] = []
        # in order of period end, as the classifier's causal history needs (context periods all
        # end by the bucket's start, the bucket's own after it: overlapping or shifted periods of
        # a hostile attestor keep an order, never break it)
        own = sorted(node.periods, key=lambda p: (p[1].end_ns, p[1].start_ns, p[2]))
        context = sorted(self.context.get(node_id, ()), key=lambda p: (p.end_ns, p.start_ns))
        classes = classify_node_history([*context, *(p[1] for p in own)])[len(context) :]
        labelled: list[LabelledPeriod] = []
        for (dt_s, sig, index), cls in zip(own, classes, strict=True):
            covered += dt_s
            counts = sorted(d.sample_count for d in sig.signals.devices)
            samples = counts[len(counts) // 2] if counts else 0
            labelled.append(
                LabelledPeriod(sig.start_ns, sig.end_ns, dt_s, cls.label, cls.training_score, index, samples)
            )
            if cls.label == WorkloadLabel.IDLE:
                idle += dt_s
            elif cls.label == WorkloadLabel.TRAINING:
                training += dt_s
                scores.append(cls.training_score)
                periods += 1
                evidence.append(index)
            elif cls.label == WorkloadLabel.INFERENCE:
                inference += dt_s
            elif cls.label == WorkloadLabel.OTHER:
                other += dt_s
                evidence.append(index)
            else:
                ambiguous += dt_s
                evidence.append(index)
        mean = math.fsum(scores) / len(scores) if scores else 0.0
        return NodeWorkload(
            node_id,
            covered,
            training,
            ambiguous,
            inference,
            idle,
            mean,
            periods,
            tuple(sorted(set(evidence))),
            tuple(labelled),
            other,
        )


def balance_sigma(metered_sigma_j: float, reported_j: float, overhead_max: float) -> float:
    """Standard uncertainty of one scope's energy balance, J.

    Two independent parts: the meter's (``accuracy`` / 2 × reading, an accuracy class read as a
    2σ bound) and the nodes' (``NODE_ENERGY_RANDOM`` × Σ reported, scaled by the overhead the
    balance applies to it). Thresholds are multiples of it: ``Z_WARN`` for a finding that blocks
    COMPLIANT, ``Z_VIOLATION`` (and at least one accelerator at board power for the bucket) for
    evidence of a violation."""
    return math.sqrt(metered_sigma_j**2 + (NODE_ENERGY_RANDOM * overhead_max * reported_j) ** 2)


def energy_tolerance_j(
    expected_j: float, energy_j: float, seconds: float, variance_w2: float | None, samples: int
) -> float:
    """How far a device's counter energy may sit from mean sampled power × period, J.

    The mean of ``samples`` point samples of a signal with variance ``variance_w2`` misses the
    true mean by σ/√n (standard error), so the product with the period misses the counter by
    that × ``seconds``; ``ENERGY_SAMPLING_Z`` of those, plus the power sensor's own accuracy
    (``POWER_SENSOR_ACCURACY`` of the reading, NVML's stated ±5 %), plus one sensor step
    (``ENERGY_RESOLUTION_J``). Ten-second sampling of bursty inference gets a wide tolerance;
    one-second sampling of a flat load a narrow one."""
    n = max(1, samples)
    sigma = math.sqrt(max(0.0, variance_w2 or 0.0))
    sampling = ENERGY_SAMPLING_Z * sigma / math.sqrt(n) * seconds
    return ENERGY_RESOLUTION_J + POWER_SENSOR_ACCURACY * max(expected_j, energy_j) + sampling


def balance_decision(b: EnergyBalance, bucket_s: float) -> str | None:
    """What one scope's balance shows: ``violation`` (even silence at full power cannot explain
    the lowest redundant reading by ``Z_VIOLATION`` σ and one accelerator at board power),
    ``unexplained`` / ``silent_draw`` (the highest reading exceeds the reports by ``Z_WARN`` σ;
    ``silent_draw`` when only silence closes the gap), ``over_reported`` (the nodes claim more
    than the band allows), or None (balanced). The sensitivity sweep calls this very function."""
    lo, hi = b.band
    beyond_silence = b.metered_j - hi * (b.reported_j + b.silent_allowance_j)
    if (
        beyond_silence > Z_VIOLATION * b.sigma_j
        and beyond_silence >= ENERGY_VIOLATION_ACCELERATOR_EQUIVALENTS * b.reference_power_w * bucket_s
    ):
        return "violation"
    if b.metered_max_j - hi * b.reported_j > Z_WARN * b.sigma_j:
        if (
            b.silent_allowance_j > 0
            and b.metered_max_j - hi * (b.reported_j + b.silent_allowance_j) <= Z_WARN * b.sigma_j
        ):
            return "silent_draw"
        return "unexplained"
    if b.metered_max_j < lo * b.reported_j - Z_WARN * b.sigma_j:
        return "over_reported"
    return None
