"""Energy balance per meter scope (facility, hall, rack; nested scopes each on their own): the
meters' readings (``MeterFold``) against the energy the scope's nodes report
(``NodeEnergyFold``), with the uncertainty of both (``balance_sigma``) and the decision
(``balance_decision``).

Silence never balances the books: the energy a silent node could have drawn (its accelerators'
board power × ``SILENT_NODE_FACTOR``), and a declared accelerator its reporting node leaves out
or flags invalid (fallen off the bus, still powered: its board power for as long), only decides
between ``energy.unexplained`` CRITICAL (even silence at full power cannot explain the meter)
and ``energy.silent_draw`` WARNING (only silence can). A silence also shows at the meters'
own resolution: when a scope's meters read more while one node was silent than while it
reported, beyond what the other nodes' reports explain (at the marginal ratio, the slope of
metered against reported power while all reported, ``_Scopes._change_ratio``), by more than
the node's own load strays over as long (at most one accelerator at board power) and 3σ of
the scope's own noise at the silence's length, that node gets ``energy.silent_draw`` WARNING
(``_Scopes._silence_steps``). Findings also: ``energy.balance_unverifiable`` (no meter, none
on the facility's intake, nodes behind no meter, meters that do not cover the bucket) and
``meter.disagreement``."""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import statistics
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from pausewatch.commitment import Commitment
from pausewatch.evaluation.findings import CRITICAL, WARNING, Finding, FindingId
from pausewatch.evaluation.folds.coverage import DeviceCoverage
from pausewatch.evaluation.folds.meters import MeterFold, MeterReading
from pausewatch.evaluation.folds.node_energy import NodeEnergyFold
from pausewatch.evaluation.folds.reading import EDGE_SKEW_S, NS_PER_S
from pausewatch.evaluation.intervals import Cumulative, Interval, clip, intersect, merge, uncovered
from pausewatch.evaluation.meter_routes import MeterRoutes
from pausewatch.inventory import DeclaredMeter, DeclaredNode, Inventory, MeterScopeGroup
from pausewatch.peaks import UNKNOWN_MODEL_PEAK, AcceleratorPeak, lookup_peak
from pausewatch.v1 import types_pb2

__all__ = [
    "EDGE_SKEW_S",
    "ENERGY_VIOLATION_ACCELERATOR_EQUIVALENTS",
    "MAX_FILLED_FRACTION",
    "NODE_ENERGY_RANDOM",
    "SILENT_IDLE_RATIO",
    "SILENT_NODE_FACTOR",
    "UNBOUNDED_MAX_S",
    "Z_VIOLATION",
    "Z_WARN",
    "EnergyBalance",
    "EnergyFacts",
    "balance_decision",
    "balance_sigma",
    "disagreements",
    "energy_facts",
    "hidden_room_j",
    "interior_of",
    "is_evidence",
    "outside_of",
    "past_edges",
    "proven_quiet",
    "steady_interior",
]

# Meters that bound a facility's power from outside: only these can show hidden hardware.
_BOUNDARY_SCOPES: Final = frozenset({types_pb2.METER_SCOPE_FACILITY})
# What an idle board draws, share of its board power (H100: ~70-75 W of 700): the most the
# meters must leave room for before they prove a silent accelerator computed nothing. The
# classifier's quiet bound (a maximum, 25 %) is too loose here: summed over a node's eight
# boards it holds one board at full power beside seven idle ones (a reviewer's).
SILENT_IDLE_RATIO: Final = 0.12
MAX_FILLED_FRACTION: Final = 0.1  # silences the ratio baseline fills: at most this share of node-time
# A node's silences in one bucket (gaps of at least MIN_SILENCE_GAP_S, MIN_SILENCE_S in all) are
# compared with the time it reported: the meters must cover MIN_WATCHED_S of each; a silence
# they watched less than that, or MIN_SILENCE_S of which they did not watch, is unmetered
# (``_unread_silences``).
MIN_SILENCE_GAP_S: Final = 5.0
MIN_SILENCE_S: Final = 60.0
MIN_WATCHED_S: Final = 30.0
# Time in a bucket that a measurement of a scope's intake (or, without one, of the scope) left
# unread between two reports with no energy register to count it (a meter read for power only,
# whose attestor skipped): more than this, summed over the measurement's feeds, and what the
# scope drew then is unknown: ``energy.balance_unverifiable`` (rules/19), whether or not a
# redundant measurement read on. Counted at the meter's highest power, as
# before, sixteen hidden 8-GPU nodes training for the 30 s of one skipped report passed
# (``scenarios/hidden-training-while-registerless-intake-skips.toml``, a strict xfail since
# rules/17). Under it: a restart's few seconds, or an NTP step; ten seconds a bucket is at most
# 1 % of a 15-minute one.
UNBOUNDED_MAX_S: Final = 10.0
MIN_STEP_PERIODS: Final = 5  # heard meter periods needed to tell a step from the scope's noise
SILENT_NODE_FACTOR: Final = 1.5  # a silent node may draw its accelerators' board power × 1.5 (host)
ENERGY_VIOLATION_ACCELERATOR_EQUIVALENTS: Final = 1.0  # unexplained ≥ 1 accelerator at board power …
Z_WARN: Final = 3.0  # … a balance off by this many σ blocks COMPLIANT (one-sided 0.13 % per scope-bucket)
Z_VIOLATION: Final = 5.0  # … and by this many σ is evidence (one-sided 3e-7 per scope-bucket)
# A meter's declared accuracy is its class, the error it never exceeds, read as two standard
# uncertainties (``sigma_j`` = accuracy / 2 × reading): a power cap is exceeded on the meters'
# evidence only beyond it, and kept on their proof only within it (conformity read with the
# measurement's uncertainty, as ISO 14253-1 reads a tolerance): a single intake meter reading 1 %
# high, within its class 0.01, put an honest fleet at 99.4 % of its cap in VIOLATION (a review of
# rules/13, 2026-12-07).
METER_ACCURACY_SIGMAS: Final = 2.0
# A clock off by up to the skew the verifier tolerates (``max_clock_skew_s``, 120 s by default)
# moves that much of a load change across a bucket's edge, between the meter's bucket and the
# nodes': a whole fleet starting a job at a bucket's edge, with the meter's clock 60-100 s slow,
# was a VIOLATION with every report true (an honest-fleet hunt, 2026-12-06). A VIOLATION's excess
# must therefore also stand in the bucket's interior, this far from either edge (buckets
# ``2 * EDGE_SKEW_S + MIN_INTERIOR_S`` long at least; shorter ones show no such evidence:
# rules/16, where rules/15 judged them whole and an honest fleet starting work on a 4-minute
# bucket's edge, its meter 90 s slow, was a VIOLATION).
# A step a few minutes before the edge is inside the interior, and there the meter's copy of it
# lands up to the skew away from the reports' copy: a fleet starting a job 3 minutes before a
# 15-minute bucket's end, its meter 100 s slow (or meter and attestors 45 s apart each way), was a
# VIOLATION again (an honest-fleet hunt, 2026-12-07). The interior's reports are therefore read
# at every alignment within the skew (``SKEW_STEPS`` steps each way), the meter's window fixed,
# and the most they explain is what they explain: a steady hidden load gains nothing by it.
# (``EDGE_SKEW_S`` itself lives in ``folds.reading``, which the meters' fold reads too.)
SKEW_STEPS: Final = 6
MIN_INTERIOR_S: Final = 60.0
# A bucket longer than this is also balanced over each of its hours (over its interior, the
# reports read at every alignment within the skew, as the interior's): one ratio for a day hid a
# hidden 8-GPU node's hour of training, and a 6-hour bucket two hidden GPUs' (a red team of
# rules/15, 2026-12-07: COMPLIANT, where hourly buckets were VIOLATION). An hour over the band
# blocks COMPLIANT (``energy.unexplained`` WARNING); VIOLATION stays the whole bucket's (rules/16).
HOUR_S: Final = 3600.0
NODE_ENERGY_RANDOM: Final = 0.005  # random error of Σ node energy per bucket (counters; systematic
# per-board offsets, NVML's ±5 %, are constant and belong to the declared band and the baseline)


def interior_of(span: Interval) -> Interval | None:
    """A bucket's interior, ``EDGE_SKEW_S`` from each edge; None where it is shorter than
    ``MIN_INTERIOR_S`` (the bucket then shows no evidence a clock's skew could have made)."""
    skew_ns = int(EDGE_SKEW_S * NS_PER_S)
    window = (span[0] + skew_ns, span[1] - skew_ns)
    return window if (window[1] - window[0]) / NS_PER_S >= MIN_INTERIOR_S else None


def past_edges(
    span: Interval, between: Callable[[Interval], float], cuts: Sequence[int] = (), *, most: bool = False
) -> float:
    """A bucket's mean power, W, read past its edges (a power cap's test): the least mean over
    the bucket shifted by up to ``EDGE_SKEW_S`` either way, a clock within the skew tolerated
    reading that much of the bucket before or after into it. ``between`` reads any window
    (what it holds nothing of, a neighbour's readings not logged, counts nothing: the least is a
    lower bound), ``cuts`` where its rate changes (the least lies at one of them or at the
    skew's ends: the mean is linear in the shift between them). A fleet's burst of a few
    minutes after a demand interval's edge, its meter 90 s slow, put the interval before over
    the cap with every bucket's true mean under it (an honest-fleet hunt, 2026-12-07; rules/15).
    rules/15 read the bucket's own readings only (the bucket less either edge strip) and, where
    larger, its interior's mean; but a mean over part of the bucket bounds nothing of the whole:
    a demand controller's 10-minute burst in the middle of a 15-minute interval, idle at its
    edges, its meter 90 s slow, was a VIOLATION at 96 % of the cap (the next hunt, 2026-12-07).
    rules/16 reads the neighbours' readings instead, so that a load steadily over the cap is
    read over it past the edges, in a bucket of any length. ``most``: the greatest instead,
    with ``between`` an upper bound (a cap proven kept must be kept at every shift: a burst in
    a bucket's last 2 minutes, read by a meter 2 minutes slow into the next bucket, left the
    bucket's own readings under the cap with its true mean over it; rules/16)."""
    a, b = span
    skew_ns = int(EDGE_SKEW_S * NS_PER_S)
    shifts = {-skew_ns, skew_ns, *(t - x for t in cuts for x in (a, b) if -skew_ns < t - x < skew_ns)}
    pick = max if most else min
    return pick(between((a + s, b + s)) for s in shifts) / ((b - a) / NS_PER_S)


def outside_of(span: Interval) -> tuple[Interval, Interval]:
    """The ``EDGE_SKEW_S`` before a bucket and after it: what ``past_edges`` reads of its
    neighbours."""
    skew_ns = int(EDGE_SKEW_S * NS_PER_S)
    return (span[0] - skew_ns, span[0]), (span[1], span[1] + skew_ns)


def _most_within_skew(
    steps: Sequence[tuple[int, int, float]], window: Interval
) -> list[tuple[int, int, float]]:
    """``window`` cut where any of ``steps`` ((start ns, end ns, value) of each inventory
    version's stretch) comes within ``EDGE_SKEW_S``, each piece with the most any version in
    force within that skew of it declared: what a clock off by the skew may have read then."""
    a, b = window
    skew_ns = int(EDGE_SKEW_S * NS_PER_S)
    wide = [(lo - skew_ns, hi + skew_ns, v) for lo, hi, v in steps]
    cuts = sorted({a, b, *(t for lo, hi, _ in wide for t in (lo, hi) if a < t < b)})
    return [
        (x, y, max((v for lo, hi, v in wide if lo <= x < hi), default=0.0))
        for x, y in itertools.pairwise(cuts)
    ]


@dataclass(frozen=True)
class EnergyBalance:
    """Metered energy against node-reported energy for one meter scope, J.

    ``metered_j`` is the lowest of the scope's redundant measurements and ``metered_max_j`` the
    highest (equal with one measurement); ``sigma_j`` the standard uncertainty of the balance
    (meter accuracy and node sampling, see ``balance_sigma``); ``band`` the overhead band in
    force (the declared one cut to the commitment's bounds). ``fixed_load_j``: the scope's
    declared fixed load (cut to the commitment's bound) × the bucket's length, which every
    metered figure carries besides the nodes' overhead: the band applies to what the meters
    read beyond it (``net_metered_j``). ``complete``: every node of the scope covered with
    energy the whole bucket (no silence), so the ratio can calibrate.
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
    fixed_load_j: float = 0.0
    # the same balance over the bucket's interior (``EDGE_SKEW_S`` from each edge): (seconds,
    # metered less the fixed load and the reports with every silence at full power, σ); None
    # where the bucket has no interior, or the lowest measurement does not cover it
    interior: tuple[float, float, float] | None = None
    # the meters' part of ``sigma_j``: their accuracy class, an error that stays with a meter
    # and may be shared by meters of one make (summed over facilities, it adds up linearly)
    meter_sigma_j: float = 0.0
    # in a bucket longer than an hour, the same balance over each hour of its interior
    # (``HOUR_S``): (start ns, end ns, metered less the fixed load and the explained, σ)
    hours: tuple[tuple[int, int, float, float], ...] = ()
    # what the ratio baseline compares (``baseline_pair``): the lowest measurement's reading over
    # the time it read or its registers bridged, less the fixed load then, and the share of the
    # reports' energy that falls in that time; None: the whole bucket's figures
    read_j: float | None = None
    read_share: float = 1.0
    read_whole: bool = True  # ``read_j`` is over the whole bucket: calibration learns only then

    def net_metered_j(self) -> tuple[float, float]:
        """The lowest and the highest metered energy less the declared fixed load: what the
        band and the ratio baseline compare with the nodes' reports."""
        return self.metered_j - self.fixed_load_j, self.metered_max_j - self.fixed_load_j

    def beyond_silence_j(self) -> float:
        """The lowest metered energy (less the fixed load) beyond what the band allows the
        reports with every silence at full power: a violation's excess where it is evidence."""
        return self.net_metered_j()[0] - self.band[1] * (self.reported_j + self.silent_allowance_j)

    def beyond_reports_j(self) -> float:
        """The highest metered energy (less the fixed load) beyond what the band allows the
        reports alone: what blocks COMPLIANT."""
        return self.net_metered_j()[1] - self.band[1] * self.reported_j

    def baseline_reported_j(self) -> float | None:
        """The reported energy the ratio baseline divides by: the reports themselves in a complete
        bucket; with short silences (at most ``MAX_FILLED_FRACTION`` of the scope's node-time, no
        node silent throughout) each silence filled at its node's own mean power, so that a node
        kept silent a minute in every bucket cannot keep the baseline from calibrating, and what
        it draws while silent beyond its own mean still raises the ratio; else None."""
        return self.reported_j if self.complete else self.filled_j

    def baseline_pair(self, reported_j: float) -> tuple[float, float]:
        """The (metered, reported) J whose ratio the baseline tracks, ``reported_j`` the
        bucket's (``baseline_reported_j`` or the reports as they are): like with like, over
        the time the lowest measurement read or its registers bridged (``MeterFold.counted``).
        Time a meter left unread and unbridged counts in neither: counted as nothing in the
        metered figure alone, an intake whose attestor skipped one 30-s report in every
        15-minute bucket lowered the ratio by that share, and a step of hidden load as large no
        longer showed (rules/18; a hunt of rules/17, 2026-12-07)."""
        if self.read_j is None:
            return self.net_metered_j()[0], reported_j
        return self.read_j, reported_j * self.read_share

    def subject(self, facility_id: str, all_nodes: tuple[str, ...]) -> str:
        """``facility:ID`` for the scope of every node, ``scope:ID/METERS`` for a part."""
        if self.node_ids == all_nodes:
            return f"facility:{facility_id}"
        return f"scope:{facility_id}/{'+'.join(self.meters)}"


def balance_sigma(metered_sigma_j: float, reported_j: float, overhead_max: float) -> float:
    """Standard uncertainty of one scope's energy balance, J.

    Two independent parts: the meter's (``accuracy`` / 2 × reading, an accuracy class read as a
    2σ bound) and the nodes' (``NODE_ENERGY_RANDOM`` × Σ reported, scaled by the overhead the
    balance applies to it). Thresholds are multiples of it: ``Z_WARN`` for a finding that blocks
    COMPLIANT, ``Z_VIOLATION`` (and at least one accelerator at board power for the bucket) for
    evidence of a violation."""
    return math.sqrt(metered_sigma_j**2 + (NODE_ENERGY_RANDOM * overhead_max * reported_j) ** 2)


def balance_decision(b: EnergyBalance, bucket_s: float) -> str | None:
    """What one scope's balance shows: ``violation`` (even silence at full power cannot explain
    the lowest redundant reading by ``Z_VIOLATION`` σ and one accelerator at board power),
    ``unexplained`` / ``silent_draw`` (the highest reading exceeds the reports by ``Z_WARN`` σ;
    ``silent_draw`` when only silence closes the gap), ``over_reported`` (the nodes claim more
    than the band allows), or None (balanced); every metered figure less the declared fixed load.
    The sensitivity sweep calls this very function."""
    lo, hi = b.band
    metered_max = b.net_metered_j()[1]
    beyond_silence = b.beyond_silence_j()
    # and over the interior (``EnergyBalance.interior``), which no clock within the skew moves
    # across an edge: a bucket without one (under 5 minutes, or its lowest measurement not
    # covering it) shows no evidence a clock's skew could not have made (rules/16: a fleet
    # starting work on a 4-minute bucket's edge, its meter 90 s slow, was a VIOLATION)
    if (
        is_evidence(beyond_silence, b.sigma_j, b.reference_power_w * bucket_s)
        and b.interior is not None
        and is_evidence(b.interior[1], b.interior[2], b.reference_power_w * b.interior[0])
    ):
        return "violation"
    if b.beyond_reports_j() > Z_WARN * b.sigma_j:
        if (
            b.silent_allowance_j > 0
            and metered_max - hi * (b.reported_j + b.silent_allowance_j) <= Z_WARN * b.sigma_j
        ):
            return "silent_draw"
        return "unexplained"
    if worst_hour(b) is not None:
        return "unexplained_hour"
    if metered_max < lo * b.reported_j - Z_WARN * b.sigma_j:
        return "over_reported"
    return None


def worst_hour(b: EnergyBalance) -> tuple[int, int, float, float] | None:
    """The hour of a long bucket (``EnergyBalance.hours``) whose excess over the band stands
    furthest beyond ``Z_WARN`` σ, or None where none does."""
    over = [h for h in b.hours if h[3] > 0 and h[2] > Z_WARN * h[3]]
    return max(over, key=lambda h: h[2] / h[3], default=None)


def steady_interior(b: EnergyBalance, bucket_s: float) -> tuple[float, float, float] | None:
    """The interior balance (``EnergyBalance.interior``) of a scope whose load held steady
    through a bucket of ``bucket_s``: the whole bucket's, pro rata of the interior's time (a
    model's, such as the sensitivity sweep's); None where the bucket has no interior."""
    inside = interior_of((0, round(bucket_s * NS_PER_S)))
    if inside is None:
        return None
    share = (inside[1] - inside[0]) / NS_PER_S / bucket_s
    return bucket_s * share, b.beyond_silence_j() * share, b.sigma_j * share


def is_evidence(beyond_j: float, sigma_j: float, one_accelerator_j: float) -> bool:
    """An excess beyond every explanation is evidence: ``Z_VIOLATION`` σ and at least
    ``ENERGY_VIOLATION_ACCELERATOR_EQUIVALENTS`` accelerators at board power."""
    return (
        beyond_j > Z_VIOLATION * sigma_j
        and beyond_j >= ENERGY_VIOLATION_ACCELERATOR_EQUIVALENTS * one_accelerator_j
    )


def hidden_room_j(b: EnergyBalance) -> float:
    """The most energy hardware behind scope ``b`` that no report covers can have drawn while
    the balance shows nothing, J at the nodes: what the highest reading, ``Z_WARN`` σ up, leaves
    beyond the reports, with the scope's true overhead at least the band's lower bound. The
    declared fixed load is not taken off: the lab declares it, and a load declared but not
    drawn is room (a reviewer's: 2 kW declared, none drawn, hid two H100s at full power)."""
    lo, _ = b.band
    return max(0.0, (b.metered_max_j + Z_WARN * b.sigma_j) / max(lo, 1e-9) - b.reported_j)


def proven_quiet(balances: Sequence[EnergyBalance], devices: Sequence[DeviceCoverage]) -> frozenset[str]:
    """The nodes with accelerators not covered throughout that the meters prove drew no more
    than idle boards while uncovered: every scope holding the node (at least one) leaves less
    room (``hidden_room_j``) than the node's uncovered accelerators draw at
    ``SILENT_IDLE_RATIO`` of board power for as long as they were uncovered — had they
    computed, each balance would show it. Every scope, not any: a part scope's meter (a rack,
    a PDU) that reads nothing proves nothing while the intake leaves room (a reviewer's: a
    rack meter reading 0 excused a node training behind the intake). A band wider than the
    scope's true overhead leaves the room: a node of four silent for two hours, training at a
    150-W cap in a 1.1-1.6 band with 1.15 true, was excused by ``min_inventory_coverage`` =
    0.75 (COMPLIANT) before this proof was asked for (a red team's)."""
    quiet_j: dict[str, float] = {}
    for d in devices:
        if not d.full:
            board = (lookup_peak(d.model) or UNKNOWN_MODEL_PEAK).board_power_w
            quiet_j[d.node_id] = (
                quiet_j.get(d.node_id, 0.0) + SILENT_IDLE_RATIO * board * d.uncovered_ns / NS_PER_S
            )
    proven = set()
    for node, quiet in quiet_j.items():
        scopes = [b for b in balances if node in b.node_ids]
        if scopes and all(hidden_room_j(b) < quiet for b in scopes):
            proven.add(node)
    return frozenset(proven)


def disagreements(readings: Sequence[MeterReading], span: Interval, meters: MeterFold) -> list[Finding]:
    """Redundant measurements of one scope that differ beyond their combined accuracy, like with
    like: what each read or bridged over the time both read or bridged (``MeterFold.counted``),
    each one's σ its share of that time. Over the whole bucket, an honest redundant meter
    whose attestor skipped 2 minutes read that much less than the other and was
    ``meter.disagreement`` (rules/18)."""
    out = []
    bucket_ns = span[1] - span[0]
    for i, a in enumerate(readings):
        for b in readings[i + 1 :]:
            pieces, counts = meters.counted((*a.meters, *b.meters), span)
            share = sum(y - x for x, y in pieces) / bucket_ns if bucket_ns > 0 else 0.0
            if share <= 0:
                continue
            ea, eb = (math.fsum(counts[m] for m in r.meters) for r in (a, b))
            limit = Z_WARN * share * math.hypot(a.sigma_j, b.sigma_j)
            if abs(ea - eb) > limit:
                ma, mb = "+".join(a.meters), "+".join(b.meters)
                out.append(
                    Finding.make(
                        FindingId.METER_DISAGREEMENT,
                        WARNING,
                        f"meter:{ma}",
                        span,
                        f"redundant meters of one scope disagree: {ma} {ea:.4g} J, {mb} {eb:.4g} J"
                        f" over the {share:.1%} of the bucket both read (limit {limit:.3g} J):"
                        " at least one is wrong",
                        {
                            "metered_a_j": (ea, "J"),
                            "metered_b_j": (eb, "J"),
                            "limit_j": (limit, "J"),
                            "both_read_share": (share, "1"),
                        },
                    )
                )
    return out


@dataclass(frozen=True)
class EnergyFacts:
    """The bucket's energy balances, their findings (sorted), the compute the unexplained energy
    of the top-level scopes could have done, and the facility meters' mean power (None unless
    the facility's scope is metered for the bucket)."""

    balances: tuple[EnergyBalance, ...] = ()
    findings: tuple[Finding, ...] = ()
    unexplained_flop: float = 0.0
    metered_power_w: float | None = None
    # the facility's mean power as the meters bound it: the lowest reading less its accuracy
    # class, the highest (its unread time at the meter's highest power) plus it
    metered_power_range_w: tuple[float, float] | None = None
    # the lowest of them read past the bucket's edges (``past_edges``), less its accuracy class
    # (None unless the facility's intake reads it and the facility has a power cap)
    metered_low_past_edges_w: float | None = None
    # and the highest, read the most at any shift (``past_edges(most=True)``), plus it
    metered_high_past_edges_w: float | None = None


@dataclass(frozen=True, slots=True)
class _SilenceStep:
    """What the meters of one scope read while one node was silent, beyond the others' reports."""

    group: MeterScopeGroup
    silent_s: float
    excess_w: float
    threshold_w: float
    explained_w: float
    evidence: tuple[int, ...]
    # the node's own mean power while heard, W, and the least any measurement read its silence
    # beyond the others' reports (``excess_w`` is the most): below −``threshold_w``, every one of
    # them read it lower than its mean
    mean_w: float = 0.0
    least_excess_w: float = 0.0
    # the scope's nodes silent with it: 1 + the other silences' overlap with its own, in shares of
    # its silent time (a drop the meters read while several nodes were silent is theirs together)
    cosilent: float = 1.0

    @property
    def score(self) -> float:
        return self.excess_w / self.threshold_w

    def unfilled_j(self, ratio: float) -> float:
        """How much of the node's silence, filled at its mean for the ratio baseline, the meters
        show it did not draw, J (read at ``ratio``, the band's bottom: the most): where every
        measurement read the silence lower than its mean beyond the threshold, else nothing. A
        drop read while other nodes were silent too is shared among them (``cosilent``): eight
        attestors stopped together while two of their nodes power-cycled unfilled all eight
        nodes' silences, and the ratio read 6 % high (a red team of rules/21, 2026-12-08)."""
        if self.least_excess_w >= -self.threshold_w or ratio <= 0.0:
            return 0.0
        return min(self.mean_w, -self.least_excess_w / (ratio * self.cosilent)) * self.silent_s

    @property
    def shows(self) -> bool:
        return self.excess_w > self.threshold_w


@dataclass(frozen=True)
class _NodeTime:
    """One node's reported time in the bucket: what it covered, its mean power then, and its
    silences of ``MIN_SILENCE_GAP_S`` or more."""

    heard: tuple[Interval, ...]  # merged cover
    parts: tuple[tuple[Interval, float], ...]  # (slice, J) per report, silences filled at the mean
    mean_w: float
    silences: tuple[Interval, ...]

    @property
    def silent_s(self) -> float:
        return sum(b - a for a, b in self.silences) / NS_PER_S


# The least a silent node's own load is allowed to stray from its mean (share of that mean):
# power sensors' accuracy (NVML's ±5 %), so that a flat node's silence is not held to nothing.
OWN_STRAY_MIN: Final = 0.05
# How many standard errors the marginal ratio (``_marginal``) is moved towards an honest fleet's
# side before it explains the others' change in a silence: a fall at the lower bound of Sen's
# interval (``_Marginal.sen_bounds``, K of Kendall's standard deviations), a rise at the slope
# plus K (at most Sen's upper bound), each over R² for a rise.
# ``Z_WARN``'s 3: the step it feeds blocks COMPLIANT only, never makes a VIOLATION; at 3σ an
# honest fleet's slope lies beyond it in 0.13 % of silences (one-sided; the standard error
# already widened for residuals correlated from one period to the next, cooling cycles minutes
# long), and an evader keeps 3σ × the change: in the library's fall and rise cases (12 × 8-GPU
# H100 nodes, hourly buckets, 60-s meter periods) σ is ~0.005-0.02 of ratio, 3σ ≈ 0.015-0.06
# against the 0.1-0.25 of slack the band's edges left.
MARGINAL_K: Final = Z_WARN
# heard meter periods a slope needs: fewer (a 10-minute bucket at 60-s periods beside a silence),
# the change is read at the band's strict end, a fall at its top and a rise at its bottom
# (``_Scopes._change_ratio``; rules/11 read a fall at the bottom and a rise at the average)
MIN_FIT_PERIODS: Final = 10


@dataclass(frozen=True, slots=True)
class _Marginal:
    """The marginal ratio over the heard time (``_marginal``): the least-squares slope of metered
    against reported power (W/W), its standard error and the fit's R², read upward for a rise
    (``upper``) and robustly downward for a fall (``lowest``)."""

    slope: float
    slope_sigma: float
    r2: float
    widen: float  # the residuals' autocorrelation factor, sqrt((1 + ρ) / (1 − ρ))
    pairs: Sequence[tuple[float, float]]  # (metered, reported) W, one per heard meter period

    def upper(self) -> float:
        """The most the marginal ratio can be, ``MARGINAL_K`` σ up: the slope divided by R²,
        the reverse regression's. The reports carry noise of their own (sampling, a meter's
        periods not quite a report's), which pulls the slope towards 0 as much as their true
        variation is small beside it: an idle fleet's heard hour fitted 0.24 ± 0.08 where the
        meters showed 1.25 (``scenarios/short-silences-idle-honest.toml``); noise in the
        meters instead pulls the reverse slope away from 0, so the truth lies between the two.
        Where the reports hardly varied R² is small and this is no bound at all."""
        if self.slope <= 0 or self.r2 <= 0:
            return math.inf
        return (self.slope + MARGINAL_K * self.slope_sigma) / self.r2

    def sen_bounds(self) -> tuple[float, float] | None:
        """Sen's interval for the marginal ratio read robustly, ``MARGINAL_K`` standard errors
        either side: the median of the slopes between every two heard periods, its bounds by
        Kendall's rank statistic's standard deviation, widened as the least-squares one. A
        least-squares slope is set by its few widest periods: two minutes an hour of the others'
        load falling with a facility load of the lab's own switched on pulled it from 1.25 to
        1.10 and freed the fall in a silence again (``scenarios/switched-load-tilts-the-fall.toml``);
        a median of slopes moves only when a large share of the periods is made so (twelve minutes
        an hour since rules/13 reads the test's noise against the least-squares line, five
        before: ``tests/sim/misses/``). None where the interval reaches below 0. Read for falls,
        and for rises whose least-squares bound lies inside the band: O(n²) in the periods."""
        points = list(self.pairs)
        if len(points) > SEN_MAX_POINTS:
            size = math.ceil(len(points) / SEN_MAX_POINTS)
            chunks = [points[i : i + size] for i in range(0, len(points), size)]
            points = [
                (math.fsum(m for m, _ in c) / len(c), math.fsum(r for _, r in c) / len(c)) for c in chunks
            ]
        slopes = sorted(
            (m2 - m1) / (r2 - r1)
            for (m1, r1), (m2, r2) in itertools.combinations(points, 2)
            if r2 != r1
        )
        n = len(points)
        spread = MARGINAL_K * self.widen * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
        k = math.floor((len(slopes) - spread) / 2)
        if not slopes or k < 0 or slopes[k] < 0:
            return None
        return slopes[k], slopes[len(slopes) - 1 - k]


# Pairs the Theil–Sen slope reads at most: longer heard times (a day's bucket, 1,440 periods) are
# read as this many means of consecutive periods, so that the slopes of every two stay ~7,000.
SEN_MAX_POINTS: Final = 120


def _least_squares(
    pairs: Sequence[tuple[float, float]],
) -> tuple[float, list[float], float, float, float]:
    """The least-squares line of metered power (``pairs``' first) on reported power (second):
    its slope (0 where the reports did not vary), each pair's residual from it, and the sums
    of squares and products about the means (Sxx, Syy, Sxy). ``pairs`` is not empty."""
    n = len(pairs)
    mean_m = math.fsum(m for m, _ in pairs) / n
    mean_r = math.fsum(r for _, r in pairs) / n
    sxx = math.fsum((r - mean_r) ** 2 for _, r in pairs)
    syy = math.fsum((m - mean_m) ** 2 for m, _ in pairs)
    sxy = math.fsum((r - mean_r) * (m - mean_m) for m, r in pairs)
    slope = sxy / sxx if sxx > 0 else 0.0
    intercept = mean_m - slope * mean_r
    return slope, [m - intercept - slope * r for m, r in pairs], sxx, syy, sxy


def _marginal(pairs: Sequence[tuple[float, float]]) -> _Marginal | None:
    """The marginal ratio over the heard time: the slope of metered power (``pairs``' first) on
    the scope's reported power (second), one pair per meter period in order, by least squares,
    what one more watt reported costs at the meter whatever the scope carries besides (a base
    load the inventory leaves undeclared, or declares too high, moves the intercept, not the
    slope). Its standard errors are widened by sqrt((1 + ρ) / (1 − ρ)), ρ the residuals'
    lag-1 autocorrelation (none below 0): a cooling cycle minutes long makes neighbouring
    periods err alike, and n such periods tell less than n independent ones. None with fewer
    than ``MIN_FIT_PERIODS`` pairs or reports that did not vary."""
    n = len(pairs)
    if n < MIN_FIT_PERIODS:
        return None
    slope, resid, sxx, syy, sxy = _least_squares(pairs)
    if sxx <= 0 or syy <= 0:
        return None
    sse = math.fsum(e * e for e in resid)
    lag = math.fsum(a * b for a, b in itertools.pairwise(resid))
    rho = max(0.0, min(0.9, lag / sse)) if sse > 0 else 0.0
    widen = math.sqrt((1 + rho) / (1 - rho))
    slope_sigma = widen * math.sqrt(sse / (n - 2) / sxx)
    return _Marginal(slope, slope_sigma, sxy * sxy / (sxx * syy), widen, pairs)


def _within(part: Interval, heard: Sequence[Interval]) -> bool:
    """Whether a report or meter period lies inside one of the ``heard`` intervals."""
    return any(a <= part[0] and part[1] <= e for a, e in heard)


def _run_means(values: Sequence[float], parts: Sequence[Interval], silent_s: float) -> list[float] | None:
    """The means of every run of consecutive ``values`` (one per period of ``parts``, in order)
    as long as ``silent_s``, in periods of the parts' median length; None with fewer than
    ``MIN_STEP_PERIODS`` such runs."""
    if not parts:
        return None
    n = max(1, round(silent_s / statistics.median((b - a) / NS_PER_S for a, b in parts)))
    if len(values) - n + 1 < MIN_STEP_PERIODS:
        return None
    return [math.fsum(values[i : i + n]) / n for i in range(len(values) - n + 1)]


def _claimed_once(parts: Iterable[tuple[Interval, float]]) -> list[tuple[Interval, float]]:
    """A node's report slices (slice, J) for the tests that read its power in time: an instant
    that several reports claim counted once, at the lowest rate any of them claims it at. A clock
    stepped back inside the skew makes two reports claim the same seconds, each a real draw of
    other seconds; read at their sum, three nodes' clocks stepped back 112 s over a fourth
    node's 2-minute silences explained the meters' rise while it trained uncapped, COMPLIANT
    (a red team of rules/20, 2026-12-08). What the bucket's balances sum is every report in full."""
    ordered = sorted((sl, j) for sl, j in parts if sl[1] > sl[0])
    if all(a[1] <= b[0] for (a, _), (b, _) in itertools.pairwise(ordered)):
        return ordered
    # one sweep over the cuts, the slices claiming each stretch in a heap by rate (a slice that
    # has ended is dropped when it surfaces): O(n log n) however the reports overlap
    cuts = sorted({t for sl, _ in ordered for t in sl})
    out = []
    active: list[tuple[float, int]] = []  # (rate, end)
    i = 0
    for x, y in itertools.pairwise(cuts):
        while i < len(ordered) and ordered[i][0][0] <= x:
            (a, b), j = ordered[i]
            heapq.heappush(active, (j / (b - a), b))
            i += 1
        while active and active[0][1] <= x:
            heapq.heappop(active)
        if active:
            out.append(((x, y), active[0][0] * (y - x)))
    return out


def _own_stray_w(t: _NodeTime, silent_s: float) -> float:
    """How far a node's own mean power over as long as its silence may stray from its mean for
    the bucket, honestly, W: the most that any run of its consecutive reports as long as the
    silence strayed above it, or ``Z_WARN`` standard deviations of those runs' means, whichever
    is more, and at least ``OWN_STRAY_MIN`` of its mean. ``math.inf`` where the node reported
    too few periods for a run (the caller's bound then applies)."""
    parts = sorted((sl, j) for sl, j in t.parts if sl[1] > sl[0] and _within(sl, t.heard))
    means = _run_means(
        [j / ((b - a) / NS_PER_S) for (a, b), j in parts], [sl for sl, _ in parts], silent_s
    )
    if means is None:
        return math.inf
    return max(max(means) - t.mean_w, Z_WARN * statistics.pstdev(means), OWN_STRAY_MIN * t.mean_w)


@dataclass(frozen=True, slots=True)
class _Reported:
    """What one scope's nodes reported over the bucket."""

    reported_j: float
    silent_allowance_j: float  # what the silent nodes could have drawn
    filled_j: float | None  # reported, each silence filled at its node's own mean power
    complete: bool  # no node of the scope silent
    reference_power_w: float  # the largest board power declared in the scope
    # the largest board's power × the most FLOP per joule of any part declared in the scope: the
    # unexplained energy × this / ``reference_power_w`` bounds what it computed, also where the
    # largest board is not the densest part (a GB200 beside B200s: 16.7 TF/W to the B200's 18)
    reference_peak_flops: float
    evidence: tuple[int, ...]  # the nodes' usage reports
    # what the departed nodes' boards could have computed while silent and still declared: their
    # allowance leaves the unexplained energy, and no declared device's coverage counts them
    departed_silent_flop: float = 0.0


class _Scopes:
    """Balances the meter scopes of one (facility, bucket)."""

    def __init__(
        self,
        commitment: Commitment,
        facility_id: str,
        inventory: Inventory,
        span: Interval,
        *,
        meters: MeterFold,
        nodes: NodeEnergyFold,
        evidence_of: Callable[[str], Sequence[int]],
        devices: Sequence[DeviceCoverage] = (),
        departed: Mapping[str, frozenset[str]],
        routes: MeterRoutes | None = None,
        arrived: Mapping[str, int] | None = None,
        left: Mapping[str, tuple[int, DeclaredNode]] | None = None,
    ) -> None:
        self.commitment = commitment
        self.arrived = arrived or {}
        self.left = left or {}
        self.routes = routes  # none: the inventory throughout
        self.departed_meters = routes.departed if routes is not None else ()
        self.departed = departed
        self.device_gaps: dict[str, list[DeviceCoverage]] = {}
        for d in devices:
            if d.uncovered_ns > 0:
                self.device_gaps.setdefault(d.node_id, []).append(d)
        self.facility_id = facility_id
        self.inventory = inventory
        # the meters at the facility's intake, by the names their readings count under
        self._boundary = frozenset(
            m.meter_id for m in (*inventory.meters, *self.departed_meters) if m.scope in _BOUNDARY_SCOPES
        )
        self.span = span
        self.bucket_s = (span[1] - span[0]) / NS_PER_S
        self.meters = meters
        self.nodes = nodes
        self.evidence_of = evidence_of
        self.all_nodes = tuple(sorted(n.node_id for n in inventory.nodes))
        self._report_cache: dict[tuple[tuple[str, ...], tuple[str, ...]], Cumulative] = {}
        self._node_report_cache: dict[str, Cumulative] = {}
        self._times: dict[str, _NodeTime | None] = {}

    def _unverifiable(self, message: str) -> Finding:
        return Finding.make(
            FindingId.ENERGY_BALANCE_UNVERIFIABLE, WARNING, f"facility:{self.facility_id}", self.span, message
        )

    def facts(self) -> EnergyFacts:
        inv = self.inventory
        if not inv.meters and not self.departed_meters:
            return EnergyFacts(
                findings=(
                    self._unverifiable(
                        "no meter declared: node reports cannot be checked against independent energy"
                    ),
                )
            )
        findings: list[Finding] = []
        groups = self._with_departed_meters(self._declared_groups())
        unmetered = sorted(set(self.all_nodes) - {nid for g in groups for nid in g.node_ids})
        if not self._boundary:
            findings.append(
                self._unverifiable(
                    "no meter measures the facility's intake (scope facility): power drawn outside"
                    " the metered racks and halls, a hidden rack say, would not show"
                )
            )
        if unmetered:
            findings.append(
                self._unverifiable(
                    f"{len(unmetered)} declared node(s) behind no meter (first {unmetered[0]!r}):"
                    " their reports cannot be checked against independent energy"
                )
            )
        accuracy = {m.meter_id: self._declared_accuracy(m) for m in (*inv.meters, *self.departed_meters)}
        balances: list[EnergyBalance] = []
        unexplained_flop: list[float] = []
        metered_power: float | None = None
        metered_range: tuple[float, float] | None = None
        past_edges_low: float | None = None
        past_edges_high: float | None = None
        steps: dict[str, _SilenceStep] = {}  # per node read, the scope where its silence shows most
        for group in groups:
            readings = self.meters.readings(group, accuracy)
            if not readings:
                findings.append(
                    self._unverifiable(
                        f"meters {', '.join(group.meter_ids)} ({self._scope_name(group)})"
                        " do not cover the bucket"
                    )
                )
                continue
            findings.extend(disagreements(readings, self.span, self.meters))
            top_level = not any(
                set(other.node_ids) > set(group.node_ids) for other in groups if other is not group
            )
            balance, reported = self._balance(group, readings, top_level)
            balances.append(balance)
            intake = [m for m in readings if not self._boundary.isdisjoint(m.meters)]
            # any measurement's: the evidence and the ratio baseline read the lowest, which a
            # meter that skipped is, while a redundant one that read on counts only against the
            # band's top (a red team of rules/19: hidden nodes trained in the 30 s the utility
            # meter skipped, the inspector's meter read them within the band's slack, COMPLIANT)
            unbounded = max(m.unbounded_s for m in intake or readings)
            if top_level and unbounded > UNBOUNDED_MAX_S:
                findings.append(
                    self._unverifiable(
                        f"meters {', '.join(group.meter_ids)} ({self._scope_name(group)}) left"
                        f" {unbounded:.0f} s of the bucket unread between two of their reports, with no"
                        " energy register to count it: what the scope drew then is unknown (a load run"
                        " only while a meter's attestor is stopped would not show)"
                    )
                )
            if not intake and any(not self._boundary.isdisjoint(ms) for ms in group.measurements):
                findings.append(
                    self._unverifiable(
                        f"the intake's measurement of {self._scope_name(group)} left more than max_gap of"
                        " the bucket unread: the smaller scopes' meters beside it do not bound what"
                        " runs outside them"
                    )
                )
            if group.node_ids == self.all_nodes and intake:
                cap = self._cap_reading(intake)
                metered_power, metered_range, past_edges_low, past_edges_high = cap
            if top_level and balance.unexplained_j > 0:
                unexplained_flop.append(
                    balance.unexplained_j / reported.reference_power_w * reported.reference_peak_flops
                )
            if top_level:
                unexplained_flop.append(reported.departed_silent_flop)
            finding = self._finding(group, balance)
            if finding is not None:
                findings.append(finding)
            shown = self._silence_steps(group, balance)
            for nid, step in shown.items():
                if nid not in steps or step.score > steps[nid].score:
                    steps[nid] = step
            unfilled = math.fsum(step.unfilled_j(balance.band[0]) for step in shown.values())
            if unfilled > 0.0 and balance.filled_j is not None:
                # a silence the meters read lower than the node's mean is not filled at it for the
                # ratio baseline (a red team of rules/20, 2026-12-08: eight serving nodes powered
                # off 90 s of every 20 minutes, their silences filled at their mean, read the ratio
                # 7 % low, and a hidden 2-GPU node training at 400 W filled that room, COMPLIANT)
                balances[-1] = replace(balance, filled_j=max(balance.reported_j, balance.filled_j - unfilled))
        findings.extend(self._step_finding(nid, s) for nid, s in sorted(steps.items()) if s.shows)
        findings.extend(self._unread_silences(groups, steps.keys()))
        return EnergyFacts(
            tuple(balances),
            tuple(sorted(findings, key=Finding.sort_key)),
            math.fsum(unexplained_flop),
            metered_power,
            metered_range,
            past_edges_low,
            past_edges_high,
        )

    def _cap_reading(
        self, intake: Sequence[MeterReading]
    ) -> tuple[float, tuple[float, float], float | None, float | None]:
        """The facility's mean power as its intake measurements read it, W, for a power cap:
        the lowest; the range its accuracy class bounds (the highest with its unread time at
        the meter's highest power); and read past the bucket's edges (``past_edges``), the
        least and the greatest over every shift within the skew, each meter of a measurement
        shifted on its own (rules/16: summed feeds shifted together, one 110 s slow and one
        on time, or 110 s each way, read an honest fleet 14 % over its true mean and over its
        cap, and an edge burst under it; a hunt of rules/16, 2026-12-07). Only the intake's:
        a PDU over every declared node does not see what runs beside it (the same hunt: the
        intake left 6 minutes unread in two gaps, the PDU's reading kept the cap). The readings
        past the edges only where the facility has a cap: nothing else reads them."""
        lowest = min(intake, key=lambda m: m.energy_j)
        highest = max(intake, key=lambda m: m.most_j)
        margin = METER_ACCURACY_SIGMAS * max(lowest.sigma_j, highest.sigma_j) / self.bucket_s
        power = lowest.energy_j / self.bucket_s
        bounds = (power - margin, highest.most_j / self.bucket_s + margin)
        if self.commitment.power_cap_for(self.facility_id) is None:
            return power, bounds, None, None

        def read(meters: Sequence[str], *, most: bool) -> float:
            reader = self.meters.most_around if most else self.meters.energy_around
            return math.fsum(
                past_edges(self.span, functools.partial(reader, [m]), self.meters.boundaries([m]), most=most)
                for m in meters
            )

        return (
            power,
            bounds,
            read(lowest.meters, most=False) - margin,
            max(read(m.meters, most=True) for m in intake) + margin,
        )

    def _declared_groups(self) -> tuple[MeterScopeGroup, ...]:
        """The bucket version's meter scopes, each with its band and fixed load the means, over
        the versions in force in the bucket, of what each version declared for it: the fixed
        load's over each version's time, the band's over what the scope's nodes reported in
        it (the band multiplies the reports: a site switching from free cooling to chillers as
        its batch work started, each band declared as it came into force, took the time's mean
        of the two for all the bucket's reports, and its load under the wider band was a
        VIOLATION; an honest-fleet hunt, 2026-12-07; rules/16). Each keeps its steps
        (``fixed_load_steps``, ``band_steps``) for the interior.

        A version's declaration for a scope is found by its meters whose readings count in the
        scope's measurements then (``pausewatch.evaluation.meter_routes``: a meter renamed is
        the same meter — a rename in the bucket's last minute brought the new fixed load back
        over the whole bucket, a review, 2026-12-05 —, and two meters that traded places each
        keep their scope): the groups of that version holding any of them, their fixed loads
        added (two scopes merged into one: both), each counted for one scope only; the band
        that group's where it is one, else the version's own. Where none does (a meter new to
        the bucket): for the intake, that version's intake scope, or its own band and the
        fixed loads of its outermost scopes; for a smaller scope, the fixed loads of that
        version's outermost scopes inside it (a scope split in the bucket gains none it did
        not have)."""
        groups = self.inventory.scope_groups()
        if self.routes is None:
            return groups
        intake_ids = {m.meter_id for m in self.inventory.meters if m.scope in _BOUNDARY_SCOPES}
        sums = [[0.0, 0.0, 0.0, 0.0] for _ in groups]  # band min, max and their weight; fixed load
        steps: list[list[tuple[int, int, float]]] = [[] for _ in groups]
        bands: list[list[tuple[int, int, tuple[float, float]]]] = [[] for _ in groups]
        reports = [self._reports(g) for g in groups]
        held = [r.between(*self.span) > 0 for r in reports]  # the time weighs where they hold none
        for w, v, measured, (begin, stop) in self.routes.stretches:
            theirs = v.scope_groups()
            group_of = {mid: k for k, x in enumerate(theirs) for mid in x.meter_ids}
            used: set[int] = set()
            for g, acc, g_steps, g_bands, r, by_reports in zip(
                groups, sums, steps, bands, reports, held, strict=True
            ):
                ids = set(g.meter_ids)
                own = sorted({group_of[m] for m, x in measured.items() if x in ids and m in group_of} - used)
                if own:
                    used.update(own)
                    band = theirs[own[0]].overhead if len(own) == 1 else (v.overhead_min, v.overhead_max)
                    fixed = math.fsum(theirs[k].fixed_load_w for k in own)
                else:
                    band, fixed = self._unmatched(g, bool(intake_ids & ids), v, theirs)
                share = r.between(begin, stop) if by_reports else w  # the reports' energy in it
                acc[0] += share * band[0]
                acc[1] += share * band[1]
                acc[2] += share
                acc[3] += w * fixed
                g_steps.append((begin, stop, fixed))
                g_bands.append((begin, stop, band))
        return tuple(
            replace(
                g,
                overhead=(lo / weight, hi / weight) if weight > 0 else g.overhead,
                fixed_load_w=fixed,
                fixed_load_steps=tuple(st),
                band_steps=tuple(bs),
            )
            for g, (lo, hi, weight, fixed), st, bs in zip(groups, sums, steps, bands, strict=True)
        )

    @staticmethod
    def _unmatched(
        g: MeterScopeGroup, intake: bool, v: Inventory, theirs: Sequence[MeterScopeGroup]
    ) -> tuple[tuple[float, float], float]:
        """What version ``v`` declared for scope ``g`` none of whose meters it had."""
        if intake:
            at_intake = {m.meter_id for m in v.meters if m.scope in _BOUNDARY_SCOPES}
            x = next((x for x in theirs if at_intake & set(x.meter_ids)), None)
            if x is not None:
                return x.overhead, x.fixed_load_w
        nodes = set(g.node_ids)
        inside = [x for x in theirs if intake or set(x.node_ids) <= nodes]
        outermost = [x for x in inside if not any(set(x.node_ids) < set(y.node_ids) for y in inside)]
        return (v.overhead_min, v.overhead_max), math.fsum(x.fixed_load_w for x in outermost)

    def _with_departed_meters(self, groups: Sequence[MeterScopeGroup]) -> tuple[MeterScopeGroup, ...]:
        """``groups`` with each meter a version logged in the bucket dropped, as a measurement of
        its own: in the group of its scope (a facility meter: the facility's; else the group
        of the same nodes), or in a group of its own, with the band it was declared with."""
        if not self.departed_meters:
            return tuple(groups)
        out = list(groups)
        inv = self.inventory
        ids = {m for g in out for m in g.meter_ids}
        known = set(self.all_nodes) | set(self.departed)
        for m in self.departed_meters:
            if m.meter_id in ids:
                continue  # replaced by a meter new to the bucket: one measurement, in its group
            ids.add(m.meter_id)
            nodes = self.all_nodes if m.scope == types_pb2.METER_SCOPE_FACILITY else m.node_ids
            k = next((i for i, g in enumerate(out) if g.node_ids == tuple(nodes)), None)
            if k is not None:
                g = out[k]
                out[k] = replace(g, measurements=tuple(sorted((*g.measurements, (m.meter_id,)))))
                continue
            scoped = tuple(sorted(n for n in m.node_ids if n in known))
            if not scoped:
                continue
            band = m.overhead if m.overhead is not None else (inv.overhead_min, inv.overhead_max)
            out.append(MeterScopeGroup(scoped, ((m.meter_id,),), band, m.fixed_load_w if m.overhead else 0.0))
        return tuple(sorted(out, key=lambda g: (-len(g.node_ids), g.node_ids)))

    def _declared_accuracy(self, meter: DeclaredMeter) -> float:
        """The accuracy of the measurement ``meter`` names, as the commitment bounds it: its
        mean over the versions in force in the bucket, each the accuracy of the declaration
        whose readings counted under it then (``MeterRoutes.accuracies``; a version without
        one: what this one declares). A meter renamed and re-keyed to a looser accuracy in
        the bucket's last minute held the old meter's readings to the new one's for the whole
        bucket (a red team, 2026-12-05)."""
        bound = self.commitment.tolerances.meter_accuracy
        if self.routes is None:
            return bound(meter.accuracy)
        return math.fsum(w * bound(a) for w, a in self.routes.accuracies(meter.meter_id, meter.accuracy))

    def _there(self, nid: str) -> Interval:
        """The part of the bucket the node was declared in: a node declared in the bucket is
        silent only from when it was declared (``arrived_nodes``), one dropped in it only until
        it was dropped (``departures``)."""
        start, end = self.span
        if nid in self.left:
            end = min(end, max(start, self.left[nid][0]))
        return (min(end, max(start, self.arrived.get(nid, start))), end)

    def _node_time(self, nid: str) -> _NodeTime | None:
        """``nid``'s reported time (None: it reported no energy in the bucket), read once."""
        if nid not in self._times:
            node = self.nodes.node(nid)
            time = None
            parts = _claimed_once(zip(node.cover, node.energies, strict=True)) if node is not None else []
            heard = merge(sl for sl, _ in parts)
            heard_s = sum(b - a for a, b in heard) / NS_PER_S
            if heard_s > 0:
                mean_w = math.fsum(j for _, j in parts) / heard_s
                gaps = uncovered(heard, self._there(nid))
                filled = [((a, b), mean_w * (b - a) / NS_PER_S) for a, b in gaps]
                time = _NodeTime(
                    tuple(heard),
                    (*parts, *filled),
                    mean_w,
                    tuple(g for g in gaps if g[1] - g[0] >= MIN_SILENCE_GAP_S * NS_PER_S),
                )
            self._times[nid] = time
        return self._times[nid]

    def _silence_steps(self, group: MeterScopeGroup, b: EnergyBalance) -> dict[str, _SilenceStep]:
        """Per node of the scope silent for ``MIN_SILENCE_S`` or more whose silence the meters
        could read: how much more they read while it was silent than while it was heard, beyond
        what the other nodes' reports explain (``_SilenceStep.shows``: a load it hid)."""
        span = self.span
        times = {nid: self._node_time(nid) for nid in group.node_ids}
        if any(t is None for t in times.values()):
            return {}  # a node silent throughout: the others' share cannot be told
        known = {nid: t for nid, t in times.items() if t is not None}
        # every silence the meters can watch long enough is tested (``MIN_WATCHED_S``): with 30-s
        # reports and 10-minute buckets, each node of a fleet silent 30 s a bucket, training
        # uncapped then, was never tested at ``MIN_SILENCE_S`` (a red team, 2026-12-06)
        silent = {nid: t for nid, t in known.items() if t.silent_s >= MIN_WATCHED_S}
        if not silent:
            return {}
        lo, hi = b.band
        reported = Cumulative((p for t in known.values() for p in t.parts), span[0])  # silences filled
        most = ENERGY_VIOLATION_ACCELERATOR_EQUIVALENTS * hi * b.reference_power_w
        out: dict[str, _SilenceStep] = {}
        for nid, t in silent.items():
            # heard: while the node reported and no other node of the scope was silent (their
            # fills would carry their own hidden steps into this node's reference and noise)
            others = merge(g for other, o in silent.items() if other != nid for g in o.silences)
            heard = [h for x in t.heard for h in uncovered(others, x)]
            heard_s = sum(e - a for a, e in heard) / NS_PER_S
            if heard_s <= 0:
                continue
            # the others' mean power, silences filled at their means: the node's own fill in
            # its silence, and its reports while heard, taken out of the whole
            own_heard = Cumulative(t.parts, span[0]).over(heard)
            others_silent_w = reported.over(t.silences) / t.silent_s - t.mean_w
            heard_j = reported.over(heard)  # every node of the scope, while heard
            heard_w = heard_j / heard_s
            others_heard_w = (heard_j - own_heard) / heard_s
            change = others_silent_w - others_heard_w
            # what the node itself may have drawn beyond its mean while silent, honestly: as much
            # as its own load strays over as long as the silence (``_own_stray_w``), at most one
            # accelerator at board power (a node that trained all eight H100s at 280 W in 6
            # silent minutes an hour stayed under that one accelerator: COMPLIANT, a red team's)
            floor = min(most, hi * _own_stray_w(t, t.silent_s))
            steps = []
            for meters in group.measurements:
                m_silent = self.meters.power_in(meters, t.silences, MIN_WATCHED_S)
                m_heard = self.meters.power_in(meters, heard, MIN_WATCHED_S)
                if m_silent is None or m_heard is None:
                    continue  # this measurement did not watch enough: the others decide
                parts, pairs = self._heard_pairs(meters, heard, reported)
                noise = self._step_noise(parts, pairs, t.silent_s)
                if noise is None:
                    continue
                ratio = self._change_ratio(
                    group, (lo, hi), change, m_heard=m_heard, heard_w=heard_w, fit=_marginal(pairs)
                )
                explained = ratio * change
                excess = m_silent - m_heard - explained
                steps.append(
                    _SilenceStep(group, t.silent_s, excess, floor + Z_WARN * noise, explained, b.evidence)
                )
            # every measurement that watched must show it
            if steps:
                least = max(steps, key=lambda x: x.score)
                shared_ns = sum(
                    b - a
                    for other, o in silent.items()
                    if other != nid
                    for a, b in intersect(t.silences, o.silences)
                )
                out[nid] = replace(
                    min(steps, key=lambda x: x.score),
                    mean_w=t.mean_w,
                    least_excess_w=least.excess_w,
                    cosilent=1.0 + shared_ns / NS_PER_S / t.silent_s,
                )
        return out

    @staticmethod
    def _change_ratio(
        group: MeterScopeGroup,
        band: tuple[float, float],
        change: float,
        *,
        m_heard: float,
        heard_w: float,
        fit: _Marginal | None,
    ) -> float:
        """The ratio the other nodes' change of load in a silence is explained at: the marginal
        ratio over the heard time (``_marginal``), moved ``MARGINAL_K`` standard errors to the
        honest side and held in the band.

        A fall at the Theil–Sen slope's lower bound (``_Marginal.sen_bounds``: a few wide minutes
        set a least-squares slope, and a lab could tilt it), at the band's bottom at the lowest.
        At the bottom outright, (true ratio − band min) × a fall timed to the silence was freed
        for the silent node: eleven nodes falling from serving to idle hid eight H100s training
        at 300 W (``scenarios/others-fall-in-a-silence.toml``).

        Where the heard time bounds nothing inside the band, what the change cost is unknown
        within it, and it is read at the end that leaves the silent node the least (rules/12): a
        fall at the band's top where there is no fit (fewer than ``MIN_FIT_PERIODS`` heard
        periods) or Sen's interval spans the whole band, a rise at the band's bottom where there
        is no fit or its upper bound is the band's top or more (reports that hardly varied: an
        idle fleet's heard time, whose change in a silence is its noise, a few watts). Rules/11 read
        such a fall at the bottom and such a rise at the average ratio: in 10-minute buckets
        (9 heard periods beside a one-minute silence) a fall timed to the silence hid eight H100s
        at 300 W (``scenarios/others-fall-in-a-short-bucket-silence.toml``), and a rise beside a
        base load left undeclared eight at 350 W (``…/others-ramp-in-a-short-bucket-silence.toml``).
        The average ratio is no fallback for a fall: 1.5-3 kW of fixed load declared and not
        drawn deflates it to the bottom (``…/short-bucket-fall-over-declared-fixed-load.toml``).
        The price: an honest change of the others' load timed to a silence in such a bucket is
        ``energy.silent_draw``, INCONCLUSIVE, unless the band is narrow (±1 % around the truth
        held a fall of ~30 kW: ``…/others-fall-in-a-short-bucket-silence-honest.toml``; 1.1-1.4
        did not: ``…/short-bucket-fall-wide-band-honest.toml``); a steady fleet's silence (an
        attestor restarting) is not touched, the change being its noise.

        A rise at the fit's upper bound (``_Marginal.upper``: slope plus K σ, over R²), or at the
        Theil–Sen slope's upper bound over R² where that is less (rules/12: two minutes an hour
        of the others serving with 1.2 kW of the lab's own load switched on set least squares at
        1.27 against the true 1.15, ``scenarios/switched-load-tilts-the-rise.toml``; ten minutes
        moved the median, caught since rules/13 reads the test's noise against the least-squares
        line, ``scenarios/switched-load-tilts-the-rise-for-10-minutes.toml``), at most
        the ratio the meters showed while everyone reported (within the band; at the band's
        top, a rise freed (top − true ratio) × the rise, a whole 8-GPU node training uncapped
        in a wide band: ``scenarios/others-ramp-in-a-silence.toml``). That average carries every
        base load the inventory does not declare, and so overstates what a rise costs: 1.5 kW
        undeclared beside twelve idle nodes hid eight H100s at 350 W
        (``scenarios/others-ramp-undeclared-base-load.toml``). The average stays the cap where
        the fit's bound lies between it and the band's top. The average is never exceeded:
        where it understates a rise (a fixed load declared too high, overhead growing faster
        than the reports) an honest rise in a silence is ``energy.silent_draw``, INCONCLUSIVE,
        as before
        (``scenarios/others-ramp-over-declared-fixed-load-honest.toml``). Lifting the cap where
        the fit's intercept lies under the declared fixed load, as a first version did, gave an
        evader the band's top back wherever he makes overhead grow faster than his reports (a
        facility load of his own switched with them): the case this cap closed."""
        lo, hi = band
        if change <= 0:
            bounds = fit.sen_bounds() if fit is not None else None
            if bounds is None or (bounds[0] <= lo and bounds[1] >= hi):
                return hi  # the heard time bounds nothing inside the band
            return min(hi, max(lo, bounds[0]))
        if fit is None:
            return lo  # the heard time bounds nothing inside the band
        upper = fit.upper()
        if upper < hi and (bounds := fit.sen_bounds()) is not None:
            upper = min(upper, bounds[1] / fit.r2)  # r2 > 0: else upper is inf
        if upper >= hi:
            return lo
        seen = min(hi, max(lo, (m_heard - group.fixed_load_w) / heard_w)) if heard_w > 0 else hi
        return min(seen, max(lo, upper))

    def _heard_pairs(
        self, meters: Sequence[str], heard: Sequence[Interval], reported: Cumulative
    ) -> tuple[list[Interval], list[tuple[float, float]]]:
        """The first meter's report periods inside the heard time, each with (metered power of
        the measurement, the scope's reported power with silences filled), W."""
        parts = sorted(p for p in self.meters.parts(meters[0]) if _within(p, heard))
        pairs = []
        for p in parts:
            m = self.meters.power_in(meters, [p], 0.9 * (p[1] - p[0]) / NS_PER_S)
            if m is not None:
                pairs.append((m, reported.between(*p) / ((p[1] - p[0]) / NS_PER_S)))
        return parts, pairs

    @staticmethod
    def _step_noise(
        parts: Sequence[Interval], pairs: Sequence[tuple[float, float]], silent_s: float
    ) -> float | None:
        """How much a mean over as long as the silence strays, W: the standard deviation of the
        means of every run of consecutive report periods of the first meter, as many as span
        ``silent_s``, over the heard time, of metered power − the least-squares line of metered
        power against the reports (silences filled; ``_heard_pairs``). Read at the silence's own
        length, cooling cycles minutes long count in full and noise that averages out over the
        silence (a meter's jitter, a load toggled every other period to widen the threshold)
        does not. What the reports explain is not noise: against the heard *average* ratio
        (rules/12 and before), a base load made the residuals of two report levels differ, and
        the others serving on for 4 minutes after a silence in a 10-minute bucket widened the
        threshold from ~0.4 to ~2.1 kW, over eight H100s at 350 W (rules/13; for runs of one
        period the line's slope is the one whose residuals stray least, so there it never
        widens the threshold the ratio gave). Reports that never varied: the metered power's
        own spread. None with fewer than ``MIN_STEP_PERIODS`` such runs. Where the runs' means
        drift (the overhead following the weather through a day bucket), what a mean strays
        from its neighbours' is the noise, not their spread over the day: the root mean square
        of the differences between each run and the next one clear of it, over √2, where less
        (rules/16: a daily swing of the overhead, 1.15 to 1.35, spread the runs' means 16-fold
        and hid a node training 4 minutes an hour while silent in a day bucket, COMPLIANT; a
        red team, 2026-12-07)."""
        if not pairs:
            return None
        _, resid, *_ = _least_squares(pairs)
        means = _run_means(resid, parts, silent_s)
        if means is None:
            return None
        n = len(resid) - len(means) + 1  # periods per run
        steps = [means[i + n] - means[i] for i in range(len(means) - n)]
        spread = statistics.pstdev(means)
        if len(steps) >= MIN_STEP_PERIODS:
            spread = min(spread, math.sqrt(math.fsum(d * d for d in steps) / len(steps) / 2))
        return spread

    def _unread_silences(self, groups: Sequence[MeterScopeGroup], read: Collection[str]) -> list[Finding]:
        """Nodes silent for ``MIN_SILENCE_S`` or more of the bucket whose silence no meter scope
        around them could read: unwatched by every measurement for ``MIN_SILENCE_S`` of it, or
        for all but ``MIN_WATCHED_S`` (the least the step needs), or watched but with too little
        time to compare it with (``read``: the nodes ``_silence_steps`` could read; other
        nodes' silences, a short bucket). What they drew then nothing shows was nothing (a node
        and its meters stopped together hide a load from every check, and so would silences
        of other nodes spread over the bucket to leave no reference)."""
        span = self.span
        watched: dict[str, list[Interval]] = {}
        for group in groups:
            seen: list[Interval] = []
            for meters in group.measurements:
                every: list[Interval] = [span]
                for m in meters:
                    every = intersect(every, self.meters.parts(m))
                seen.extend(every)
            for nid in group.node_ids:
                watched.setdefault(nid, []).extend(seen)
        out = []
        for nid in sorted(watched):
            t = self._node_time(nid)
            if t is None or t.silent_s < MIN_SILENCE_S:
                continue  # silent throughout (its coverage is the finding), or not long enough
            unmetered_s = sum(b - a for g in t.silences for a, b in uncovered(watched[nid], g)) / NS_PER_S
            if unmetered_s < MIN_SILENCE_S and t.silent_s - unmetered_s >= MIN_WATCHED_S:
                if nid not in read:
                    out.append(
                        self._silent_draw(
                            nid,
                            f"the node was silent for {t.silent_s:.0f} s and no meter scope around it"
                            " had the time to compare that with (its own reports, no other node"
                            " silent): what it drew then is not shown",
                            {"silent_s": (t.silent_s, "s")},
                        )
                    )
            else:
                out.append(
                    self._silent_draw(
                        nid,
                        f"the node was silent for {unmetered_s:.0f} s while no meter around it read:"
                        " what it drew then was not measured",
                        {"unmetered_silent_s": (unmetered_s, "s")},
                    )
                )
        return out

    def _silent_draw(
        self,
        nid: str,
        message: str,
        quantities: dict[str, tuple[float, str]],
        evidence: Sequence[int] | None = None,
    ) -> Finding:
        """``energy.silent_draw`` WARNING on a node over the bucket (evidence: its reports)."""
        return Finding.make(
            FindingId.ENERGY_SILENT_DRAW,
            WARNING,
            f"node:{nid}",
            self.span,
            message,
            quantities,
            self.evidence_of(nid) if evidence is None else evidence,
        )

    def _step_finding(self, nid: str, step: _SilenceStep) -> Finding:
        where = f"{self._scope_name(step.group)}, meters {', '.join(step.group.meter_ids)}"
        return self._silent_draw(
            nid,
            f"{where}: while the node was silent ({step.silent_s:.0f} s), the meters read"
            f" {step.excess_w:.0f} W more than while it reported, beyond what the other nodes'"
            f" reports explain (threshold {step.threshold_w:.0f} W: as much as its own load strays"
            " over as long, at most one accelerator at board power, and 3σ of the meters' noise):"
            " its silence hid a load",
            {
                "silent_s": (step.silent_s, "s"),
                "excess_w": (step.excess_w, "W"),
                "threshold_w": (step.threshold_w, "W"),
                "explained_w": (step.explained_w, "W"),
            },
            step.evidence,
        )

    def _scope_name(self, group: MeterScopeGroup) -> str:
        return "facility" if group.node_ids == self.all_nodes else f"scope of {len(group.node_ids)} node(s)"

    def _reported(self, group: MeterScopeGroup) -> _Reported:
        """What the scope's nodes reported, what their silences allow, and the scope's
        reference accelerator."""
        bucket_s = self.bucket_s
        reported_terms: list[float] = []
        allowance_terms: list[float] = []
        ref_power = 0.0
        flops_per_j = 0.0
        evidence: list[int] = []
        complete = True
        fill_terms: list[float] = []  # each silence filled with the node's own mean power
        departed_flop: list[float] = []
        silent_total_s = 0.0
        fillable = True
        for nid in group.node_ids:
            board = self._board(nid)
            for p in board:
                ref_power = max(ref_power, p.board_power_w)
                flops_per_j = max(flops_per_j, p.densest_flops / p.board_power_w)
            node = self.nodes.node(nid)
            cover = node.cover if node is not None else []
            silent_s = sum(b - a for a, b in uncovered(cover, self._there(nid))) / NS_PER_S
            complete = complete and silent_s == 0.0
            allowance_terms.extend(self._allowance(nid, board, cover, silent_s, self.span))
            if node is not None:
                reported_terms.extend(node.terms)
                evidence.extend(self.evidence_of(nid))
            silent_total_s += silent_s
            if silent_s > 0.0:
                # filled for what the reports' own durations leave of the node's time, at their
                # mean: a clock crept forward in steps claims gaps no real second is missing from,
                # and one stepped back claims seconds twice, each report a real draw (a red
                # team, 2026-12-08: every node's clock crept 3 s a report to +112 s and stepped
                # back, 10 % of the fleet's energy filled that nobody drew, and a 2-GPU node
                # training behind the intake was COMPLIANT where the ratio's step caught it)
                a, b = self._there(nid)
                claimed = (clip(c, (a, b)) for c in cover)
                claimed_s = sum(c[1] - c[0] for c in claimed if c is not None) / NS_PER_S
                if node is None or claimed_s <= 0.0:
                    fillable = False
                else:
                    missing_s = max(0.0, (b - a) / NS_PER_S - claimed_s)
                    fill_terms.append(math.fsum(node.terms) / claimed_s * missing_s)
        for nid in self._departed_in(group):
            node = self.nodes.node(nid)
            if node is not None:
                reported_terms.extend(node.terms)
                evidence.extend(self.evidence_of(nid))
            if nid in self.left:  # silent while still declared: allowed, never filled
                cover = node.cover if node is not None else []
                silent_s = sum(b - a for a, b in uncovered(cover, self._there(nid))) / NS_PER_S
                board = self._board(nid)
                allowance_terms.extend(self._allowance(nid, board, cover, silent_s, self.span))
                departed_flop.append(silent_s * math.fsum(p.densest_flops for p in board))
        if ref_power == 0.0:
            ref_power = UNKNOWN_MODEL_PEAK.board_power_w
            flops_per_j = UNKNOWN_MODEL_PEAK.densest_flops / ref_power
        ref_peak = ref_power * flops_per_j
        reported = math.fsum(reported_terms)
        node_time_s = bucket_s * len(group.node_ids)
        filled = (
            reported + math.fsum(fill_terms)
            if fillable and node_time_s > 0 and silent_total_s <= MAX_FILLED_FRACTION * node_time_s
            else None
        )
        return _Reported(
            reported,
            math.fsum(allowance_terms),
            filled,
            complete,
            ref_power,
            ref_peak,
            tuple(evidence),
            math.fsum(departed_flop),
        )

    def _departed_in(self, group: MeterScopeGroup) -> list[str]:
        """The nodes declared when the bucket began and decommissioned in it (a version logged
        in the bucket no longer declares them) that a meter of ``group`` saw: what they reported
        while declared is what those meters read of them. Their reports only — no silence
        allowance or fill: they are gone. (Without them an honest decommission declared at once
        was energy.unexplained.)"""
        meter_ids = set(group.meter_ids)
        return [nid for nid, seen_by in sorted(self.departed.items()) if seen_by & meter_ids]

    def _board(self, nid: str) -> list[AcceleratorPeak]:
        """The peaks of declared node ``nid``'s accelerators (an unknown model: the largest); a
        departed node's as it was declared."""
        node = self.inventory.node_by_id.get(nid)
        accelerators = node.accelerators if node is not None else self.left[nid][1].accelerators
        return [(lookup_peak(a.model) or UNKNOWN_MODEL_PEAK) for a in accelerators]

    def _allowance(
        self,
        nid: str,
        board: Sequence[AcceleratorPeak],
        cover: Sequence[Interval],
        silent_s: float,
        window: Interval,
    ) -> list[float]:
        """What declared node ``nid`` may have drawn unreported within ``window`` (J terms): its
        silence there (``silent_s``: over the whole bucket) at its boards' power ×
        ``SILENT_NODE_FACTOR``; and each declared accelerator missing from its reports beyond
        that silence (fallen off the bus, its values invalid) at its board power, for the
        window's share of the bucket."""
        there = self._there(nid)
        silent_in = silent_s
        if window != self.span:
            inside = (max(there[0], window[0]), min(there[1], window[1]))
            silent_in = 0.0
            if inside[1] > inside[0]:
                silent_in = sum(b - a for a, b in uncovered(cover, inside)) / NS_PER_S
        share = (window[1] - window[0]) / (self.span[1] - self.span[0])
        absent_s = (there[0] - self.span[0]) / NS_PER_S  # before it was declared
        return [
            silent_in * math.fsum(p.board_power_w for p in board) * SILENT_NODE_FACTOR,
            *(
                max(0.0, d.uncovered_ns / NS_PER_S - absent_s - silent_s)
                * share
                * (lookup_peak(d.model) or UNKNOWN_MODEL_PEAK).board_power_w
                for d in self.device_gaps.get(nid, ())
            ),
        ]

    def _balance(
        self, group: MeterScopeGroup, readings: Sequence[MeterReading], top_level: bool
    ) -> tuple[EnergyBalance, _Reported]:
        r = self._reported(group)
        # the lowest reading, what the meters read, decides VIOLATION (evidence); the highest,
        # its unread time at the meter's highest power, decides whether COMPLIANT is proven.
        # Where a meter of a smaller scope lists every declared node, it shares the intake's
        # group, but it sees those nodes only, not what runs beside them behind the intake: a
        # red team's honest PDU over all four declared nodes took the VIOLATION test from the
        # intake, and a hidden training node behind it was INCONCLUSIVE (2026-12-06). The
        # intake's own readings decide, then; the PDU's still count in COMPLIANT's test and
        # in the meters' agreement.
        at_intake = [m for m in readings if not self._boundary.isdisjoint(m.meters)]
        lowest = min(at_intake or readings, key=lambda m: m.energy_j)
        highest = max(readings, key=lambda m: m.most_j)
        lo, hi = self.commitment.tolerances.band(*group.overhead)
        fixed_j = self.commitment.tolerances.fixed_load(group.fixed_load_w) * self.bucket_s
        unexplained = max(0.0, highest.most_j - fixed_j - hi * (r.reported_j + r.silent_allowance_j))
        every_measurement = len(readings) == len(group.measurements)
        balance = EnergyBalance(
            meters=group.meter_ids,
            metered_j=lowest.energy_j,
            reported_j=r.reported_j,
            silent_allowance_j=r.silent_allowance_j,
            unexplained_j=unexplained,
            accelerator_equivalents=(
                unexplained / (self.bucket_s * r.reference_power_w) if self.bucket_s > 0 else 0.0
            ),
            evidence=tuple(sorted({*self.meters.evidence, *r.evidence})),
            node_ids=group.node_ids,
            metered_max_j=highest.most_j,
            sigma_j=balance_sigma(max(lowest.sigma_j, highest.sigma_j), r.reported_j, hi),
            meter_sigma_j=max(lowest.sigma_j, highest.sigma_j),
            band=(lo, hi),
            complete=r.complete and every_measurement,
            top_level=top_level,
            reference_power_w=r.reference_power_w,
            filled_j=r.filled_j if every_measurement else None,
            fixed_load_j=fixed_j,
            interior=self._interior(group, lowest, hi),
            hours=self._hours(group, lowest, hi),
            **self._read_part(group, lowest),
        )
        return balance, r

    def _read_part(self, group: MeterScopeGroup, lowest: MeterReading) -> dict[str, Any]:
        """``EnergyBalance.read_j``, ``read_share`` and ``read_whole``: ``lowest``'s reading
        over the time its every meter read or its registers bridged (``MeterFold.counted``),
        less the fixed load then; the share of the scope's reports that falls there; and
        whether that is the whole bucket (``EnergyBalance.baseline_pair``)."""
        pieces, counts = self.meters.counted(lowest.meters, self.span)
        reports = self._reports(group)
        whole = reports.between(*self.span)
        if not pieces or whole <= 0:
            return {}
        seconds = sum(b - a for a, b in pieces) / NS_PER_S
        fixed = self.commitment.tolerances.fixed_load(group.fixed_load_w) * seconds
        share = math.fsum(reports.between(*p) for p in pieces) / whole
        return {
            "read_j": math.fsum(counts.values()) - fixed,
            "read_share": min(1.0, max(0.0, share)),
            "read_whole": pieces == [self.span],
        }

    def _reports(self, group: MeterScopeGroup) -> Cumulative:
        """The energy the scope's nodes reported (and the departed ones its meters saw), each
        report's pro rata of its time, as a ``Cumulative`` (built once per scope)."""
        key = (group.node_ids, group.meter_ids)
        if key not in self._report_cache:
            parts: list[tuple[Interval, float]] = []
            for nid in (*group.node_ids, *self._departed_in(group)):
                node = self.nodes.node(nid)
                if node is not None:
                    parts.extend(zip(node.cover, node.energies, strict=True))
            self._report_cache[key] = Cumulative(parts, self.span[0])
        return self._report_cache[key]

    def _node_reports(self, nid: str) -> Cumulative:
        """What node ``nid`` reported, as ``_reports`` counts it (built once per node)."""
        if nid not in self._node_report_cache:
            node = self.nodes.node(nid)
            parts = list(zip(node.cover, node.energies, strict=True)) if node is not None else []
            self._node_report_cache[nid] = Cumulative(parts, self.span[0])
        return self._node_report_cache[nid]

    def _allowances(self, nid: str, shifts: Sequence[int], pieces: Sequence[Interval]) -> list[list[float]]:
        """What declared node ``nid`` may have drawn unreported in ``pieces`` moved by each of
        ``shifts`` (``_allowance``'s terms per shift); a departed node's only while it was still
        declared (``departures``), as over the whole bucket."""
        allowance: list[list[float]] = [[] for _ in shifts]
        if nid in self.departed and nid not in self.left:
            return allowance
        node = self.nodes.node(nid)
        cover = node.cover if node is not None else []
        silent_s = sum(b - a for a, b in uncovered(cover, self._there(nid))) / NS_PER_S
        board = self._board(nid)
        for k, s in enumerate(shifts):
            for a, b in pieces:
                allowance[k].extend(self._allowance(nid, board, cover, silent_s, (a + s, b + s)))
        return allowance

    def _group_allowances(
        self, group: MeterScopeGroup, shifts: Sequence[int], pieces: Sequence[Interval]
    ) -> list[list[float]]:
        """``_allowances`` of every node of ``group``, per shift."""
        allowance: list[list[float]] = [[] for _ in shifts]
        for nid in (*group.node_ids, *self._departed_in(group)):
            for k, terms in enumerate(self._allowances(nid, shifts, pieces)):
                allowance[k].extend(terms)
        return allowance

    def _interior(
        self, group: MeterScopeGroup, lowest: MeterReading, hi: float
    ) -> tuple[float, float, float] | None:
        """The balance of ``group`` over the bucket's interior, ``EDGE_SKEW_S`` from each edge
        (``EnergyBalance.interior``), over the time the lowest measurement's every meter read
        there (rules/16: its mean over that time, times the whole interior, counted a gap of
        4 idle minutes at the busy minutes' power; an honest-fleet hunt, 2026-12-07), from its
        readings then and the nodes' reports then (each report's energy pro rata of its time
        inside), every silence then allowed at full power: (seconds read, metered less the
        fixed load and the explained, σ). The band at each moment is the most any version
        declared within ``EDGE_SKEW_S`` of it (``_most_within_skew``), as the fixed load's."""
        window = interior_of(self.span)
        return None if window is None else self._within(group, lowest, hi, window, each_node=True)

    def _hours(
        self, group: MeterScopeGroup, lowest: MeterReading, hi: float
    ) -> tuple[tuple[int, int, float, float], ...]:
        """``EnergyBalance.hours``: the interior's balance over each of its hours (the last
        one ending at the interior's end), in a bucket longer than ``HOUR_S``. An hour blocks
        COMPLIANT, so it reads what the meters' registers bridged in it at the most they can
        hold (never less than their time at the higher of the readings beside them), with the
        reports there (``MeterFold.read_or_bridged``): read only where the meters read, an hour
        left out the minutes an intake's attestor skipped, and eight hidden nodes training
        those 4 minutes of a 4-hour bucket were COMPLIANT, where the hour the meter read was
        not (rules/18; a hunt of rules/17, 2026-12-07)."""
        window = interior_of(self.span)
        if window is None or self.bucket_s <= HOUR_S:
            return ()
        hour = round(HOUR_S * NS_PER_S)
        out = []
        for a in range(window[0], window[1], hour):
            at = (a, a + hour) if a + hour <= window[1] else (max(window[0], window[1] - hour), window[1])
            got = self._within(group, lowest, hi, at, bridged=True)
            if got is not None:
                out.append((*at, got[1], got[2]))
        return tuple(out)

    def _within(
        self,
        group: MeterScopeGroup,
        lowest: MeterReading,
        hi: float,
        window: Interval,
        *,
        bridged: bool = False,
        each_node: bool = False,
    ) -> tuple[float, float, float] | None:
        """The balance of ``group`` over ``window`` inside the interior (``_interior``); with
        ``bridged``, over the registers' bridges too, at the most they hold (``_hours``). The
        reports are read at the alignment within the skew that explains the most: one for
        them all, or with ``each_node`` each node's at its own (the VIOLATION's interior)."""
        if bridged:
            pieces, bridged_j = self.meters.read_or_bridged(lowest.meters, window)
        else:
            pieces, bridged_j = self.meters.covered_by(lowest.meters, window), 0.0
        seconds = sum(b - a for a, b in pieces) / NS_PER_S
        least_s = (window[1] - window[0] - self.commitment.reporting.max_gap_ns) / NS_PER_S
        if seconds <= 0 or seconds < least_s:
            return None
        metered = math.fsum([*(self.meters.energy_between(lowest.meters, p) for p in pieces), bridged_j])
        band = self.commitment.tolerances.band
        cut_bands = [(lo, hi_v, band(*b)[1]) for lo, hi_v, b in group.band_steps]
        his = [
            (x, y, h)
            for p in pieces
            for x, y, h in (
                _most_within_skew(cut_bands, p) if len({h for *_, h in cut_bands}) > 1 else [(*p, hi)]
            )
        ]
        top = max(h for *_, h in his)
        # the reports at each alignment of the meter's clock within the skew: inside the
        # bucket, since the interior is the skew from each edge
        skew_ns = int(EDGE_SKEW_S * NS_PER_S)
        shifts = [skew_ns * k // SKEW_STEPS for k in range(-SKEW_STEPS, SKEW_STEPS + 1)]
        units = [
            (self._node_reports(nid), self._allowances(nid, shifts, pieces))
            for nid in (*group.node_ids, *self._departed_in(group))
        ] if each_node else [(self._reports(group), self._group_allowances(group, shifts, pieces))]
        explained = reported_j = 0.0
        for reports, allowance in units:
            most, read = max(
                (math.fsum(h * e for h, e in got) + top * math.fsum(a), math.fsum(e for _, e in got))
                for s, a in zip(shifts, allowance, strict=True)
                for got in ([(h, reports.between(x + s, y + s)) for x, y, h in his],)
            )
            explained += most
            reported_j += read
        fixed = math.fsum(self._fixed_load_j(group, p) for p in pieces)
        beyond = metered - fixed - explained
        sigma = balance_sigma(lowest.sigma_j * seconds / self.bucket_s, reported_j, top)
        return seconds, beyond, sigma

    def _fixed_load_j(self, group: MeterScopeGroup, window: Interval) -> float:
        """The declared fixed load of ``group`` over ``window``, J: at each moment the most any
        version declared within ``EDGE_SKEW_S`` of it (``_most_within_skew``), where versions
        logged in the bucket declared it differently. A load switched on as its version was
        logged shows on a meter whose clock is off (by up to the skew tolerated) before or
        after that: a storage cluster switched on mid-bucket, declared that minute, its meter
        90 s slow, was a VIOLATION (an honest-fleet hunt, 2026-12-07). The whole bucket's
        balance keeps each version's load for its time; this is its interior's, where a
        VIOLATION must also stand."""
        cut = self.commitment.tolerances.fixed_load
        steps = group.fixed_load_steps
        if len({f for _, _, f in steps}) < 2:
            return cut(group.fixed_load_w) * (window[1] - window[0]) / NS_PER_S
        return math.fsum(
            f * (y - x) / NS_PER_S
            for x, y, f in _most_within_skew([(a, b, cut(f)) for a, b, f in steps], window)
        )

    def _finding(self, group: MeterScopeGroup, b: EnergyBalance) -> Finding | None:
        """The finding ``balance_decision`` makes of one scope's balance, if any."""
        bucket_s = self.bucket_s
        lo, hi = b.band
        by_reports = b.beyond_reports_j()
        beyond_silence = b.beyond_silence_j()
        quantities = {
            "metered_j": (b.metered_j, "J"),
            "metered_max_j": (b.metered_max_j, "J"),
            **({"fixed_load_j": (b.fixed_load_j, "J")} if b.fixed_load_j else {}),
            "reported_j": (b.reported_j, "J"),
            "silent_allowance_j": (b.silent_allowance_j, "J"),
            "unexplained_j": (max(0.0, by_reports), "J"),
            "beyond_silence_j": (max(0.0, beyond_silence), "J"),
            "sigma_j": (b.sigma_j, "J"),
            "accelerator_equivalents": (
                max(0.0, by_reports) / (bucket_s * b.reference_power_w) if bucket_s > 0 else 0.0,
                "1",
            ),
            "overhead_max_ratio": (hi, "1"),
            "overhead_min_ratio": (lo, "1"),
        }
        where = f"{self._scope_name(group)}, meters {', '.join(group.meter_ids)}"
        subject = b.subject(self.facility_id, self.all_nodes)
        decision = balance_decision(b, bucket_s)
        if decision == "violation":
            return Finding.make(
                FindingId.ENERGY_UNEXPLAINED,
                CRITICAL,
                subject,
                self.span,
                f"{where}: metered energy exceeds what the node reports, and every silent node"
                f" at full power, can explain by {beyond_silence / (bucket_s * b.reference_power_w):.1f}"
                " accelerator-equivalents",
                quantities,
                b.evidence,
            )
        if decision in ("unexplained", "silent_draw"):
            only_silence = decision == "silent_draw"
            return Finding.make(
                FindingId.ENERGY_SILENT_DRAW if only_silence else FindingId.ENERGY_UNEXPLAINED,
                WARNING,
                subject,
                self.span,
                f"{where}: metered energy exceeds what the reports explain"
                + (
                    "; only the power silent nodes could have drawn closes the gap"
                    if only_silence
                    else " (under the evidence threshold of a violation)"
                ),
                quantities,
                b.evidence,
            )
        hour = worst_hour(b)
        if decision == "unexplained_hour" and hour is not None:
            a, z, beyond, sigma = hour
            hour_q = {**quantities, "hour_unexplained_j": (beyond, "J"), "hour_sigma_j": (sigma, "J")}
            return Finding.make(
                FindingId.ENERGY_UNEXPLAINED,
                WARNING,
                subject,
                (a, z),
                f"{where}: metered energy over an hour of the bucket exceeds what the reports explain"
                f" by {beyond / sigma:.1f} σ (a load of an hour hides in a long bucket's balance)",
                hour_q,
                b.evidence,
            )
        if decision == "over_reported":
            return Finding.make(
                FindingId.ENERGY_UNEXPLAINED,
                WARNING,
                subject,
                self.span,
                f"{where}: nodes report more energy than the meters measured (below the overhead band)",
                quantities,
                b.evidence,
            )
        return None


def energy_facts(
    commitment: Commitment,
    facility_id: str,
    inventory: Inventory | None,
    span: Interval,
    *,
    meters: MeterFold,
    nodes: NodeEnergyFold,
    evidence_of: Callable[[str], Sequence[int]],
    devices: Sequence[DeviceCoverage] = (),
    departed: Mapping[str, frozenset[str]] | None = None,
    routes: MeterRoutes | None = None,
    arrived: Mapping[str, int] | None = None,
    left: Mapping[str, tuple[int, DeclaredNode]] | None = None,
) -> EnergyFacts:
    """The energy facts of one (facility, bucket); none without an inventory.
    ``evidence_of``: the log indices of a node's usage reports in the bucket; ``devices``: each
    declared accelerator's coverage (a device its node's reports leave out is silent too);
    ``departed``: nodes an inventory version logged in the bucket stopped declaring, each with
    the meters that saw it then (``departed_nodes``); ``routes``: the versions in force over the
    bucket and what each meter measured in each (``pausewatch.evaluation.meter_routes``; none:
    the inventory throughout): each scope's band and fixed load, and each meter's accuracy, are
    their means over them, and a meter the bucket's version lacks is a measurement of the scope
    it had; ``arrived``: nodes declared in the bucket, silent only from then (``arrived_nodes``);
    ``left``: the departed nodes, each with when it was dropped and as it was declared
    (``departures``): silent only until then, at its own boards' power."""
    if inventory is None:
        return EnergyFacts()
    return _Scopes(
        commitment,
        facility_id,
        inventory,
        span,
        meters=meters,
        nodes=nodes,
        evidence_of=evidence_of,
        devices=devices,
        departed=departed or {},
        routes=routes,
        arrived=arrived or {},
        left=left,
    ).facts()
