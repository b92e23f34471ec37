"""From inputs to verdicts: the evaluator the verifier runs live and the auditor re-runs.

``Evaluator(inputs)`` indexes the reports once (each report goes to the facility its key is
declared in, and to every bucket its period overlaps), then answers ``verdict(bucket)`` for any
(facility, bucket) of the commitment, caching each bucket's facts. ``evaluate_bucket`` is the
one-shot form. ``compare_verdicts`` lists the differences between a stored verdict and a
recomputed one, ignoring what is not a function of the inputs (``evaluated_unix_ns``,
``revision``, ``supersedes``) and the rules that made it (``rules``: its reader's to judge).

Every verdict names the evaluation rules that made it (``RULES``, the wire's ``rules``). A
verdict is a function of its inputs *and of the rules*: a release that changes what any verdict
says (``tests/evaluation/test_pinned_verdicts.py`` notices) takes a new ``RULES``, so that an
auditor holding other rules says so instead of calling an honest verdict of an earlier release
a mismatch. An upgraded verifier re-evaluates a bucket only when its inputs change, and then
logs a revision (naming the new rules) only where the result differs: the rules alone revise
nothing (``compare_verdicts`` leaves ``rules`` out).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

from pausewatch.errors import FormatError
from pausewatch.evaluation.bucket import (
    Z_WARN,
    BucketAccumulator,
    BucketFacts,
    EnergyBalance,
    LabelledPeriod,
    is_evidence,
)
from pausewatch.evaluation.evidence import (
    BaselineState,
    TrainingWindow,
    advance_baseline,
    baseline_findings,
    carried_explains,
    drift_explains,
    lower_unproven,
    successor,
    training_window,
    uncalibrated,
    uncalibrated_finding,
    window_words,
)
from pausewatch.evaluation.findings import CRITICAL, INFO, WARNING, Finding, FindingId, status_of
from pausewatch.evaluation.folds.balance import EDGE_SKEW_S, outside_of
from pausewatch.evaluation.folds.meters import usable
from pausewatch.evaluation.folds.reading import UsageReader
from pausewatch.evaluation.inputs import BucketRef, EvaluationInput, IngestFinding, LoggedReport
from pausewatch.evaluation.meter_routes import meter_routes
from pausewatch.evaluation.rules import ComputeCap, RuleContext, rules_for
from pausewatch.evaluation.workload import HISTORY_S, PeriodSignals, signals_from_usage
from pausewatch.inventory import DeclaredNode, Inventory
from pausewatch.reports import ReportKind
from pausewatch.v1 import types_pb2

__all__ = [
    "RULES",
    "RULES_BEFORE",
    "Evaluator",
    "LogClock",
    "arrived_nodes",
    "bucket_inventory",
    "commitment_scope",
    "compare_verdicts",
    "departed_nodes",
    "departures",
    "evaluate_bucket",
    "in_force",
]

# The evaluation rules of this release, and those of every release before it, oldest first (1:
# the first named, 2026-12-05; 2: what sparse samples and energy counters prove, proof that
# missing hardware drew nothing, meter accuracy bounded, 2026-12-05; 3: the training signature
# needs two events, a job's earlier stalls among them, 2026-12-05; 4: each usage report read
# against the inventory version logged last before it, each bucket against the version logged
# before its newest report, 2026-12-05; 5: each bucket against the version logged before it
# closed in log time — the first challenge issued at or after its end —, its fixed load, band
# and meter accuracy each version's for the time it was in force, a node or a meter dropped in
# a bucket counted there as declared before, a node added silent only from then, the baseline's
# CUSUM fed z clipped to 5σ, a meter's unread time counted at its highest power before a
# bucket is COMPLIANT, 2026-12-05; 6: each meter reading counted under what its key was
# declared to measure when it read, not what the bucket's last version says, the training
# window ten minutes at least whatever the bucket, a light load no proof of requests where
# devices that may exchange data move together in two periods of a context, the job carry
# through flat compute at the job's level, an energy VIOLATION's excess standing in the bucket's
# interior too (120 s from each edge: the clock skew the verifier tolerates), 2026-12-06; 7: a
# device drawing over 125 % of its model's board power judged and bounded as an unknown model,
# the intake's own readings deciding its scope's VIOLATION beside a smaller meter over every
# node, calibration's ratios held within the allowed drift of each other (and a fresh one of the
# lowest learnt before it), a bucket beyond that a step, never learnt, 2026-12-06; 8: the energy
# summed over a commitment's facilities held to the interior test each facility's is, a lockstep
# job's earlier stalls joined only through periods within 8 % of its level, 2026-12-06; 9: a
# part the peak table lacks a WARNING, never COMPLIANT (``compute.unknown_model``, INFO before),
# a device reported as another part than declared an ``inventory.model_mismatch`` WARNING and
# judged by the classifier as its declaration (the periods before a bucket too) and bounded as
# either part, the table's new parts, tensor work on a part
# without tensor units a contradiction of its name as overdraw is, a device without a board
# judged against its reported limit or by its utilisation alone, 2026-12-06; 10: a device
# holding more memory than any board of its model carries not that model, as overdraw is, a fall
# in calibration starting it afresh from the lower level, a silence's step held to the node's
# own stray (at most one accelerator) with the others' change at the ratio seen and silences of
# 30 s tested, the baseline never read against a wider σ than calibration learnt from, the
# meters' accuracy summed linearly over facilities, 2026-12-06; 11: stall/compute alternation
# training only where the job's compute levels are steady (a coefficient of variation of 2 %),
# its carry held to ±6 % of its level and ended by drains at unsteady levels, the others' change
# in a silence explained at the marginal ratio (the slope of meters against reports, 3σ to the
# honest side, a rise never above the average ratio), 2026-12-06; 12: where the heard time bounds
# nothing inside the band (under 10 heard meter periods, or a fit whose bound spans it), the
# others' change in a silence read at the band's strict end, a fall at its top and a rise at its
# bottom, instead of a fall at the bottom and a rise at the average; a rise read at most at the
# Theil–Sen slope's upper bound over R², 2026-12-06; 13: hindsight walks back over a lockstep
# job whose devices report no memory, with none reported throughout, as over one whose footprint
# holds (never the carry, which makes evidence); a lone uncertain period no allowance where its
# accelerators drew over 1.15x the node's most drawing proven period of the bucket, or where
# either draw is unknown; the silence test's noise read against the least-squares line of the
# meters against the reports instead of the heard average ratio, 2026-12-07; 14: a light load
# on a device moving data over NVLink no proof of requests, the bucket's excused
# partial period held to the lone periods' draw bound, a power cap exceeded on the meters'
# evidence only beyond their accuracy class and kept only within it (reports over it that the
# meters prove kept no evidence), the interior's reports read at every alignment within the
# clock skew, 2026-12-07; 15: the lone-period allowance counted in time, not periods, a power
# cap exceeded only where the mean stays over it read past the bucket's edges (the most of
# either edge's 120 s left out, or over its interior), the interior's fixed load at each
# moment the most declared within the skew of it, 2026-12-07; 16: a power cap read at the least
# mean over the bucket shifted within the skew, its neighbours' meter readings read there (the
# interior's mean bounds nothing of the bucket's), and kept only at the greatest; no energy
# evidence in a bucket under 5 minutes; feeds' accuracy classes summed linearly; a band declared
# mid-bucket weighted by the reports in its stretch, the interior's at each moment the most
# declared within the skew; the interior read over the time its meters read; lone periods held to
# the share in every hour of a longer bucket, and its interior balanced over each hour too; the
# silence step's noise read run to run where less than over the bucket; a cap read on the
# intake alone, each feed shifted on its own, reports the meters contradict no evidence of it; an
# intake measurement dropped for its unread time energy.balance_unverifiable, 2026-12-07; 17: a
# stretch between two of a meter's reports that neither covers bridged by the meter's energy
# register where both carry it, a register that went backwards there
# plausibility.counter_backwards, 2026-12-07; 18: the ratio baseline read like with like over
# the time the lowest measurement read, and a long bucket's hours over the registers' bridges at
# the most they hold, redundant meters compared over the time both read, 2026-12-07; 19: over
# 10 s of a bucket a top scope's meters left unread between two reports with no register to
# count it energy.balance_unverifiable, a new scope (a node declared or dropped) or one measured
# by other meters carrying on the baseline of the one it succeeds, a meter's readings that claim
# an instant twice counted once at the lower rate in the evidence (10 s or more
# telemetry.invalid), 2026-12-07; 20: the interior's reports read each node's at its own
# alignment within the skew, the reports' power for a cap counting each accelerator at most at
# 125 % of its board, a node dropped in the bucket allowed its silence while still declared,
# 2026-12-07; 21: the ratio baseline fills a node's silence only for what its reports' own
# lengths leave of its time, at their mean, and one every meter reads lower at what they show,
# an instant a node's reports claim twice counted once in the tests that read power in time,
# a light load with a device never near idle in the period no proof of requests unless it
# changes from period to period after busy periods, 2026-12-08). A new
# version moves RULES to the end of RULES_BEFORE: the auditor reads a name missing from both as
# a later release's (verdict.rules_order).
RULES: Final = "pausewatch-rules/21"
RULES_BEFORE: Final[tuple[str, ...]] = (
    "pausewatch-rules/1",
    "pausewatch-rules/2",
    "pausewatch-rules/3",
    "pausewatch-rules/4",
    "pausewatch-rules/5",
    "pausewatch-rules/6",
    "pausewatch-rules/7",
    "pausewatch-rules/8",
    "pausewatch-rules/9",
    "pausewatch-rules/10",
    "pausewatch-rules/11",
    "pausewatch-rules/12",
    "pausewatch-rules/13",
    "pausewatch-rules/14",
    "pausewatch-rules/15",
    "pausewatch-rules/16",
    "pausewatch-rules/17",
    "pausewatch-rules/18",
    "pausewatch-rules/19",
    "pausewatch-rules/20",
)


# The shortest window the training test counts labels in, whatever the bucket: in one-minute
# buckets a node's window held one period, and one period can never be significant (at least two
# are needed), so a whole 8-GPU node trained for 40 minutes and was never a VIOLATION (a red
# team, 2026-12-06). Ten minutes: ten periods of a node, of which three are evidence.
MIN_TRAINING_WINDOW_NS: Final = 600 * 1_000_000_000


def bucket_inventory(
    latest: Inventory | None, versions: Sequence[tuple[int, Inventory]], closed_at: int | None
) -> Inventory | None:
    """The inventory a bucket's fixed load, band, meters and declared hardware are read from:
    the version logged last before the bucket closed in log time — ``closed_at``, the log index
    of the first challenge the verifier issued at or after the bucket's end (``LogClock``)
    — and, for a bucket the log's clock has not yet passed (``None``), the latest.

    Neither the lab's reports nor a version logged after the bucket closed reach into it. Under
    rules/4 the version was the one logged before the bucket's *newest report*, which the lab
    chooses: one late report, logged after a new version, brought a bucket already judged
    under it — a larger fixed load declared after a VIOLATION, and one back-dated report,
    revised it to COMPLIANT, and late reports into calibration buckets re-taught the ratio
    baseline (a red team, 2026-12-05). Before rules/4, every bucket read the latest version."""
    if closed_at is None or len(versions) < 2:
        return latest
    k = bisect.bisect_left([i for i, _ in versions], closed_at) - 1
    return versions[max(0, k)][1]


def in_force(
    versions: Sequence[tuple[int, Inventory]], opened_at: int | None, closed_at: int | None
) -> list[tuple[int, Inventory]]:
    """The versions in force in a bucket, in log order, the last the bucket's own
    (``bucket_inventory``): the one logged last before ``opened_at`` (where the log's clock
    passed the bucket's start; the first where none was), then those logged after it and before
    ``closed_at`` (all, where the bucket is not closed yet). Empty with fewer than two versions
    or no clock: then one version holds the whole bucket, and nothing below applies."""
    if opened_at is None or len(versions) < 2:
        return []
    indices = [i for i, _ in versions]
    lo = max(0, bisect.bisect_left(indices, opened_at) - 1)
    hi = len(versions) if closed_at is None else bisect.bisect_left(indices, closed_at)
    return list(versions[lo:hi]) or [versions[lo]]


def departed_nodes(spanned: Sequence[tuple[int, Inventory]]) -> dict[str, frozenset[str]]:
    """The nodes decommissioned in a bucket, each with the meters that saw it: declared by a
    version in force in it (``spanned``, from ``in_force``) but not by the bucket's own (the
    last). Their reports, read against the version that declared them, count in those meters'
    balances (``pausewatch.evaluation.folds.balance``)."""
    if not spanned:
        return {}
    kept = spanned[-1][1].node_by_id
    out: dict[str, frozenset[str]] = {}
    for _, v in spanned:
        for n in v.nodes:
            if n.node_id not in kept:
                out[n.node_id] = frozenset(m.meter_id for m in v.meters if n.node_id in m.node_ids)
    return out


def departures(
    spanned: Sequence[tuple[int, Inventory]], *, time_at: Callable[[int], int | None]
) -> dict[str, tuple[int, DeclaredNode]]:
    """The nodes decommissioned in a bucket (``departed_nodes``), each with the log time of the
    version that stopped declaring it (the newest challenge logged before it; 0 where none was)
    and the node as last declared. Until then it was there to be silent: a node whose attestor
    crashed, powered off and dropped in the bucket, drew unreported while still declared, and
    with no allowance for that an honest fleet was an ``energy.unexplained`` VIOLATION (an
    honest-fleet hunt of rules/19, 2026-12-07)."""
    if not spanned:
        return {}
    kept = spanned[-1][1].node_by_id
    out: dict[str, tuple[int, DeclaredNode]] = {}
    for (_, before), (index, after) in itertools.pairwise(spanned):
        for n in before.nodes:
            if n.node_id not in after.node_by_id and n.node_id not in kept:
                t = time_at(index)
                out[n.node_id] = (0 if t is None else t, n)
    return out


def arrived_nodes(
    spanned: Sequence[tuple[int, Inventory]], *, time_at: Callable[[int], int | None]
) -> dict[str, int]:
    """The nodes the bucket's own version declares that the version in force at its start did
    not, each with the log time of the version that first declared them in the bucket (the
    newest challenge logged before it). Before that a node was not there to be silent: a node
    declared in a bucket's last minute that never reported was allowed its board power for the
    whole bucket as silence, and turned a VIOLATION into INCONCLUSIVE (a review, 2026-12-05)."""
    if not spanned:
        return {}
    there = set(spanned[0][1].node_by_id)
    bucket = spanned[-1][1].node_by_id
    out: dict[str, int] = {}
    for index, v in spanned[1:]:
        for n in v.nodes:
            if n.node_id not in there and n.node_id not in out and n.node_id in bucket:
                t = time_at(index)
                out[n.node_id] = 0 if t is None else t
    return out


class LogClock:
    """The log's clock: (log index, issue time) of every logged challenge, in log order
    (``EvaluationInput.log_times``). A verifier's clock never goes back (``verifier.log_time``),
    but the time read here is the running maximum all the same, so that a bundle whose times do
    go back still gives one answer (an earlier challenge issued at a later time counts first)."""

    def __init__(self, log_times: Sequence[tuple[int, int]]) -> None:
        self._indices = [i for i, _ in log_times]
        self._running = list(itertools.accumulate((t for _, t in log_times), max))

    def closed_at(self, end_ns: int) -> int | None:
        """The log index of the first challenge issued at or after ``end_ns`` — where the log's
        clock passed it — or None where the log has not reached it."""
        k = bisect.bisect_left(self._running, end_ns)
        return self._indices[k] if k < len(self._indices) else None

    def time_before(self, index: int) -> int | None:
        """The clock at log index ``index``: the issue time of the newest challenge logged
        before it, or None before the first."""
        k = bisect.bisect_left(self._indices, index)
        return self._running[k - 1] if k > 0 else None


def commitment_scope(facilities: Sequence[str]) -> list[str]:
    """The verdicts one bucket gets: each facility's, and — where the commitment spans two or
    more facilities — the commitment-level one (facility ``""``), which sums evidence over them
    all. With one facility the two would say the same thing; only the facility's is signed."""
    return [*facilities, ""] if len(facilities) >= 2 else list(facilities)



def _usable_meter(r: LoggedReport) -> bool:
    """A meter report whose reading counts (``folds.meters.usable``)."""
    return r.meter is not None and usable(r.meter)


def _has_register(r: LoggedReport) -> bool:
    """A meter report that carries its meter's energy register."""
    return r.meter is not None and r.meter.HasField("energy_counter_last_j")

class Evaluator:
    """Evaluates every (facility, bucket) of one commitment over one log prefix.

    ``extend`` grows the prefix: the reports and ingest findings logged since are indexed, and
    only the cached facts of the buckets they touch are dropped, so that a scheduler pays per
    new report rather than per report of the window. ``Evaluator(inputs)`` then
    ``extend(more, …, size)`` answers exactly as ``Evaluator`` over the whole prefix would: a
    bucket's reports are folded in log order whatever order they were added in, and ingest
    findings fold to the same facts in any order.
    """

    def __init__(self, inputs: EvaluationInput) -> None:
        self.inputs = inputs
        self.evaluated_log_size = inputs.evaluated_log_size
        self._key_facility: dict[str, str] = {}
        for fid in inputs.facilities:
            inv = inputs.inventories.get(fid)
            if inv is not None:
                for key in (*inv.node_by_key, *inv.meter_by_key, *inv.scheduler_by_key):
                    self._key_facility[key] = fid
        self._scope = frozenset(inputs.facilities)
        self._clock = LogClock(inputs.log_times)
        self._by_bucket: dict[tuple[str, int], list[LoggedReport]] = defaultdict(list)
        # meter reports within ``EDGE_SKEW_S`` outside a bucket: what its power cap reads past
        # its edges (``BucketAccumulator.add_meter_outside``); kept only for facilities with a
        # cap, so that elsewhere a report does not make the bucket before it be judged again
        self._outside: dict[tuple[str, int], list[LoggedReport]] = defaultdict(list)
        # per (facility, meter key): its reports by (period start, log index), for the stretches
        # between them that its register bridges (``BucketAccumulator.add_meter_bridge``)
        self._meter_chains: dict[tuple[str, str], list[tuple[int, int, LoggedReport]]] = defaultdict(list)
        self._seqs: dict[str, set[int]] = defaultdict(set)
        self._ingest_list: list[IngestFinding] = []
        self._ingest: dict[tuple[str, int], list[int]] = defaultdict(list)
        self._gap_buckets: dict[str, set[tuple[str, int]]] = defaultdict(set)  # key → buckets with chain.gap
        self._facts: dict[tuple[str, int, int | None], BucketFacts] = {}
        # per attestor key: its usage reports ordered by period end (lead-in and classifier context)
        self._key_reports: dict[str, list[tuple[int, int, LoggedReport]]] = defaultdict(list)
        self._node_key: dict[tuple[str, str], str] = {}  # (facility, node id) → declared key id
        for fid in inputs.facilities:
            inv = inputs.inventories.get(fid)
            if inv is not None:
                for n in inv.nodes:
                    self._node_key[(fid, n.node_id)] = n.attestor_key_id
        self._baseline: dict[str, dict[int, dict[tuple[str, ...], BaselineState]]] = defaultdict(dict)
        self._index(inputs.reports, inputs.ingest_findings)

    def extend(
        self,
        reports: Sequence[LoggedReport],
        ingest_findings: Sequence[IngestFinding],
        evaluated_log_size: int,
    ) -> set[tuple[str, int]]:
        """Add what was logged since (index ≥ the previous size, < ``evaluated_log_size``);
        returns the (facility, bucket start) whose facts changed."""
        if evaluated_log_size < self.evaluated_log_size:
            raise ValueError("the evaluated log size must not shrink")
        for r in reports:
            if r.log_index >= evaluated_log_size:
                raise FormatError(
                    f"report at log index {r.log_index} is beyond the evaluated log size {evaluated_log_size}"
                )
        self.evaluated_log_size = evaluated_log_size
        touched = self._index(reports, ingest_findings)
        for key in [k for k in self._facts if (k[0], k[1]) in touched]:
            del self._facts[key]
        earliest: dict[str, int] = {}
        for fid, start in touched:
            earliest[fid] = min(start, earliest.get(fid, start))
        for fid, start in earliest.items():
            states = self._baseline.get(fid, {})
            for b in [b for b in states if b >= start]:
                del states[b]
        return touched

    def _index(
        self, reports: Sequence[LoggedReport], ingest_findings: Sequence[IngestFinding]
    ) -> set[tuple[str, int]]:
        c = self.inputs.commitment
        we = c.window_end_ns
        bucket_ns = c.reporting.bucket_ns
        key_facility, scope = self._key_facility, self._scope
        touched: set[tuple[str, int]] = set()
        new_seq_keys: set[str] = set()
        reach: dict[tuple[str, str], tuple[int, int]] = {}  # (facility, key) → span whose later facts change
        for r in sorted(reports, key=lambda x: x.log_index):
            h = r.header
            facility = key_facility.get(h.key_id, h.facility_id)
            if facility not in scope:
                continue
            if h.kind is ReportKind.USAGE:
                bisect.insort(self._key_reports[h.key_id], (h.period_end_ns, r.log_index, r))
                lo, hi = reach.get((facility, h.key_id), (h.period_start_ns, h.period_end_ns))
                reach[(facility, h.key_id)] = (min(lo, h.period_start_ns), max(hi, h.period_end_ns))
            seqs = self._seqs[h.key_id]
            if h.seq not in seqs:
                seqs.add(h.seq)
                new_seq_keys.add(h.key_id)
            if h.kind is ReportKind.METER and c.power_cap_for(facility) is not None:
                for b_start in self._bordering(h.period_start_ns, h.period_end_ns):
                    self._outside[(facility, b_start)].append(r)
                    touched.add((facility, b_start))
            if h.kind is ReportKind.METER:
                touched |= self._chain_meter(facility, r)
            for b_start in self._bucket_starts(h.period_start_ns, h.period_end_ns):
                self._by_bucket[(facility, b_start)].append(r)
                touched.add((facility, b_start))
        for g in ingest_findings:
            i = len(self._ingest_list)
            self._ingest_list.append(g)
            facility = key_facility.get(g.key_id, g.facility_id)
            if facility not in scope:
                continue
            for b_start in self._bucket_starts(g.start_ns, g.end_ns):
                bucket = (facility, b_start)
                self._ingest[bucket].append(i)
                touched.add(bucket)
                if g.finding_id == FindingId.CHAIN_GAP:
                    self._gap_buckets[g.key_id].add(bucket)
        for key in new_seq_keys:  # a chain.gap turns INFO once every skipped seq is logged
            touched |= self._gap_buckets.get(key, set())
        # A usage report is lead-in (the last report before a bucket) for every later bucket up
        # to the key's next report, and classifier history for HISTORY_S after its end: the
        # cached facts of those buckets are stale too (uncached ones are computed afresh).
        horizon = round(HISTORY_S * 1_000_000_000)
        reach_of: dict[str, tuple[int, int]] = {}
        for (facility, key), (lo, hi) in reach.items():
            listed = self._key_reports[key]
            i = bisect.bisect_right(listed, (hi, 1 << 62))
            until = listed[i][2].header.period_start_ns if i < len(listed) else we
            until = max(until, hi + horizon)
            a, b = reach_of.get(facility, (lo, until))
            reach_of[facility] = (min(a, lo), max(b, until))
        if reach_of:
            for fid, start, _ in self._facts:
                span = reach_of.get(fid)
                if span is not None and span[0] < start + bucket_ns and start < span[1]:
                    touched.add((fid, start))
        return touched

    def _chain_meter(self, facility: str, r: LoggedReport) -> set[tuple[str, int]]:
        """File a meter report in its key's time order; the buckets within ``EDGE_SKEW_S`` of
        a stretch it opens or closes between it and its neighbours, whose bridges change."""
        h = r.header
        chain = self._meter_chains[(facility, h.key_id)]
        i = bisect.bisect_left(chain, (h.period_start_ns, r.log_index))
        chain.insert(i, (h.period_start_ns, r.log_index, r))
        stretches = []
        if i > 0:
            stretches.append((chain[i - 1][2].header.period_end_ns, h.period_start_ns))
        if i + 1 < len(chain):
            stretches.append((h.period_end_ns, chain[i + 1][0]))
        skew = round(EDGE_SKEW_S * 1e9)
        return {(facility, b) for a, z in stretches if a < z for b in self._bucket_starts(a - skew, z + skew)}

    def _bucket_starts(self, start_ns: int, end_ns: int) -> range:
        """The starts of the commitment's buckets that [start_ns, end_ns) overlaps."""
        c = self.inputs.commitment
        ws, bucket_ns = c.window_start_ns, c.reporting.bucket_ns
        lo, hi = max(start_ns, ws), min(end_ns, c.window_end_ns)
        if lo >= hi:
            return range(0)
        return range(ws + (lo - ws) // bucket_ns * bucket_ns, hi, bucket_ns)

    def _bridges(self, facility: str, span: tuple[int, int]) -> list[tuple[LoggedReport, LoggedReport, bool]]:
        """Each meter key's pairs of consecutive usable reports with a stretch between them
        that neither covers and that comes within ``EDGE_SKEW_S`` of ``span``, and whether any
        of the key's reports read there carries the meter's register."""
        skew = round(EDGE_SKEW_S * 1e9)
        lo, hi = span[0] - skew, span[1] + skew
        out: list[tuple[LoggedReport, LoggedReport, bool]] = []
        for (fid, _), chain in self._meter_chains.items():
            if fid != facility:
                continue
            i = bisect.bisect_left(chain, (lo, -1))
            # from the last usable report that starts before the window (a stretch from it
            # may reach into the window), past at most 64 unusable ones: a stretch bridged from
            # further back is left unread, as without a register
            i -= 1
            floor = max(0, i - 64)
            while i > floor and not _usable_meter(chain[i][2]):
                i -= 1
            last: LoggedReport | None = None
            pairs = []
            registered = False
            for j in range(max(0, i), len(chain)):  # from i on: neither a copy nor a walk from 0
                start, _, r = chain[j]
                if not _usable_meter(r):
                    continue
                registered = registered or _has_register(r)
                if last is not None and last.header.period_end_ns < start and last.header.period_end_ns < hi:
                    pairs.append((last, r))
                if start >= hi:
                    break  # the first usable report past the window closes the stretch into it
                if last is None or r.header.period_end_ns > last.header.period_end_ns:
                    last = r
            out.extend((a, b, registered) for a, b in pairs)
        return out

    def _bordering(self, start_ns: int, end_ns: int) -> list[int]:
        """The starts of the buckets within ``EDGE_SKEW_S`` of whose edges, outside them, a
        period [start_ns, end_ns) lies in part (``outside_of``)."""
        c = self.inputs.commitment
        skew = round(EDGE_SKEW_S * 1e9)
        ws, bucket_ns = c.window_start_ns, c.reporting.bucket_ns
        out = []
        k = max(0, (start_ns - skew - ws) // bucket_ns - 1)
        while ws + k * bucket_ns < min(end_ns + skew, c.window_end_ns):
            span = c.bucket_of(ws + k * bucket_ns)
            if span is not None and any(a < end_ns and start_ns < b for a, b in outside_of(span)):
                out.append(span[0])
            k += 1
        return out

    def facts(self, facility_id: str, start_ns: int, previous_log_size: int | None = None) -> BucketFacts:
        """The facts of one (facility, bucket), computed once."""
        key = (facility_id, start_ns, previous_log_size)
        cached = self._facts.get(key)
        if cached is not None:
            return cached
        c = self.inputs.commitment
        span = c.bucket_of(start_ns)
        if span is None or span[0] != start_ns:
            raise ValueError(f"{start_ns} is not the start of a bucket of {c.commitment_id!r}")
        lead_in: dict[str, int] = {}
        context: dict[str, list[PeriodSignals]] = {}
        horizon = round(HISTORY_S * 1_000_000_000)
        inv = self.inputs.inventories.get(facility_id)
        versions = self.inputs.inventory_versions.get(facility_id, ())
        closed_at, opened_at = self._clock.closed_at(span[1]), self._clock.closed_at(span[0])
        bucket_inv = bucket_inventory(inv, versions, closed_at)
        # the periods before the bucket are read as its own are: each against the inventory
        # version in force when it was logged (``UsageReader.classifier_values``)
        reader = UsageReader(bucket_inv, versions)
        for n in inv.nodes if inv is not None else ():
            listed = self._key_reports.get(n.attestor_key_id)
            if not listed:
                continue
            i = bisect.bisect_right(listed, (start_ns, 1 << 62))
            if i > 0:
                lead_in[n.node_id] = listed[i - 1][0]
            earlier = []
            j = i - 1
            while j >= 0 and listed[j][0] > start_ns - horizon:
                r = listed[j][2]
                if r.usage is not None and r.header.period_start_ns < r.header.period_end_ns:
                    earlier.append(
                        PeriodSignals(
                            r.header.period_start_ns,
                            r.header.period_end_ns,
                            signals_from_usage(r.usage, reader.classifier_values(r.usage, r.log_index)),
                        )
                    )
                j -= 1
            if earlier:
                context[n.node_id] = sorted(earlier, key=lambda p: (p.end_ns, p.start_ns))
        reports = self._by_bucket.get((facility_id, start_ns), [])
        if any(a.log_index > b.log_index for a, b in itertools.pairwise(reports)):
            reports.sort(key=lambda x: x.log_index)  # added out of log order by ``extend``
        spanned = in_force(versions, opened_at, closed_at)
        acc = BucketAccumulator(
            c,
            facility_id,
            bucket_inv,
            span,
            previous_log_size,
            lead_in=lead_in,
            context=context,
            versions=versions,
            reader=reader,
            departed=departed_nodes(spanned),
            left=departures(spanned, time_at=self._clock.time_before),
            arrived=arrived_nodes(spanned, time_at=self._clock.time_before),
            routes=meter_routes(spanned, span, time_at=self._clock.time_before),
        )
        for r in reports:
            if r.header.kind is ReportKind.USAGE:
                acc.add_usage(r)
            elif r.header.kind is ReportKind.ACCOUNTING:
                acc.add_accounting(r)
            else:
                acc.add_meter(r)
        for r in sorted(self._outside.get((facility_id, start_ns), []), key=lambda x: x.log_index):
            acc.add_meter_outside(r)
        for before, after, registered in self._bridges(facility_id, span):
            acc.add_meter_bridge(before, after, registered=registered)
        for i in self._ingest.get((facility_id, start_ns), []):
            g = self._ingest_list[i]
            acc.add_ingest(g, frozenset(self._seqs.get(g.key_id, set())))
        facts = acc.finish()
        self._facts[key] = facts
        return facts

    def compute_to_date(self, end_ns: int) -> tuple[float, float, float]:
        """Σ of every facility's bucket bounds from the window start to ``end_ns``."""
        lower: list[float] = []
        best: list[float] = []
        upper: list[float] = []
        for fid in self.inputs.facilities:
            for start, _ in self.inputs.commitment.buckets(until_ns=end_ns):
                lo, be, up = self.facts(fid, start).compute
                lower.append(lo)
                best.append(be)
                upper.append(up)
        if any(math.isinf(u) for u in upper):
            return math.fsum(lower), math.fsum(best), math.inf
        return math.fsum(lower), math.fsum(best), math.fsum(upper)

    def verdict(self, bucket: BucketRef, evaluated_unix_ns: int = 0) -> types_pb2.Verdict:
        """The unsigned verdict for one (facility, bucket); facility ``""``: the commitment's."""
        c = self.inputs.commitment
        if bucket.facility_id == "":
            return self._commitment_verdict(bucket, evaluated_unix_ns)
        if bucket.facility_id not in self.inputs.facilities:
            raise ValueError(f"facility {bucket.facility_id!r} is not in the scope of {c.commitment_id!r}")
        facts = self.facts(bucket.facility_id, bucket.start_ns, bucket.previous_log_size)
        if facts.end_ns != bucket.end_ns:
            raise ValueError(f"bucket ends at {facts.end_ns}, not {bucket.end_ns}")
        to_date = self.compute_to_date(bucket.end_ns)
        windows = self._training_windows([bucket.facility_id], bucket.start_ns)
        findings = list(rules_for(c, bucket.facility_id).evaluate(RuleContext(facts, to_date, windows)))
        findings = self._with_baseline(bucket.facility_id, facts, findings)
        return self._wire(bucket, facts.compute, to_date, findings, evaluated_unix_ns)

    def _wire(
        self,
        bucket: BucketRef,
        compute: tuple[float, float, float],
        to_date: tuple[float, float, float],
        findings: Sequence[Finding],
        evaluated_unix_ns: int,
    ) -> types_pb2.Verdict:
        c = self.inputs.commitment
        if self.inputs.implied:
            findings = [*findings, self._no_commitment(bucket)]
        ordered = sorted(findings, key=Finding.sort_key)
        status, reason = status_of(ordered)
        v = types_pb2.Verdict(
            commitment_id=c.commitment_id,
            commitment_version=c.version,
            facility_id=bucket.facility_id,
            bucket_start_unix_ns=bucket.start_ns,
            bucket_end_unix_ns=bucket.end_ns,
            status=status,  # type: ignore[arg-type]  # VerdictStatus enum value
            reason=reason,
            evaluated_log_size=self.evaluated_log_size,
            evaluated_unix_ns=evaluated_unix_ns,
            rules=RULES,
        )
        v.compute.lower_flop, v.compute.best_flop, v.compute.upper_flop = compute
        v.compute_to_date.lower_flop, v.compute_to_date.best_flop, v.compute_to_date.upper_flop = to_date
        v.findings.extend(f.to_wire() for f in ordered)
        for ref in self.inputs.terms:
            v.terms.add(terms_id=ref.terms_id, version=ref.version)
        return v

    def _no_commitment(self, bucket: BucketRef) -> Finding:
        """A lab the terms cover but that committed to nothing: evaluated under the terms
        alone, never COMPLIANT — silence is not compliance."""
        c = self.inputs.commitment
        terms = ", ".join(f"{t.terms_id} v{t.version}" for t in self.inputs.terms)
        return Finding.make(
            FindingId.TERMS_NO_COMMITMENT,
            WARNING,
            f"lab:{c.lab_id}",
            (bucket.start_ns, bucket.end_ns),
            f"lab {c.lab_id} is bound by terms {terms} but has logged no commitment under them;"
            " evaluated under the terms alone",
            {},
            (),
        )

    # -- evidence across buckets --------------------------------------------------------------

    def _periods(
        self, facility_ids: Sequence[str], start_ns: int, window_ns: int
    ) -> dict[str, list[LabelledPeriod]]:
        """Per node (``FACILITY/NODE``), its labelled periods of this bucket and of the buckets
        a window of ``window_ns`` ending in it reaches back into."""
        c = self.inputs.commitment
        bucket_ns = c.reporting.bucket_ns
        out: dict[str, list[LabelledPeriod]] = defaultdict(list)
        back = -(-window_ns // bucket_ns)  # buckets before this one the window can reach
        reach = (start_ns - k * bucket_ns for k in range(back, -1, -1))
        starts = [b for b in reach if b >= c.window_start_ns]
        for fid in facility_ids:
            for b in starts:
                for w in self.facts(fid, b).workloads:
                    out[f"{fid}/{w.node_id}"].extend(
                        p for p in w.periods if b == start_ns or p.end_ns <= start_ns
                    )
        return out

    def _training_windows(self, facility_ids: Sequence[str], start_ns: int) -> dict[str, TrainingWindow]:
        """The most significant training window per node (``node:ID``) and over all of
        ``facility_ids`` (key ``*``), for windows ending inside the bucket: a bucket long, and
        at least ``MIN_TRAINING_WINDOW_NS``."""
        c = self.inputs.commitment
        span = c.bucket_of(start_ns)
        if span is None:
            return {}
        window_ns = max(c.reporting.bucket_ns, MIN_TRAINING_WINDOW_NS)
        per_node = self._periods(facility_ids, start_ns, window_ns)
        out: dict[str, TrainingWindow] = {}
        for name, periods in sorted(per_node.items()):
            w = training_window(periods, span, window_ns)
            if w is not None:
                out[f"node:{name.split('/', 1)[1]}"] = w
        overall = training_window((p for ps in per_node.values() for p in ps), span, window_ns)
        if overall is not None:
            out["*"] = overall
        return out

    def _baseline_states(self, facility_id: str, start_ns: int) -> dict[tuple[str, ...], BaselineState]:
        """Each meter scope's baseline after the bucket starting at ``start_ns``."""
        c = self.inputs.commitment
        cache = self._baseline[facility_id]
        if start_ns in cache:
            return cache[start_ns]
        buckets = [b for b, _ in c.buckets(until_ns=start_ns + 1)]
        i = len(buckets) - 1
        while i >= 0 and buckets[i] not in cache:
            i -= 1
        states = dict(cache[buckets[i]]) if i >= 0 else {}
        # A scope calibrates over its first ``calibration_ns`` of complete buckets from the
        # window's start, whatever inventory version is in force: a new version of the same
        # hardware must not wipe the baseline (a hidden node started with it would be learnt as
        # overhead), nor one that declares or drops a node: the new set of node ids carries on the
        # baseline of the scope it succeeds (``successor``). Hardware declared later leaves the
        # buckets before it incomplete (its nodes were silent), so the scope then calibrates
        # once they report.
        calibration_ns = c.tolerances.calibration_ns
        for b in buckets[i + 1 :]:
            if b + c.reporting.bucket_ns <= c.window_start_ns:
                cache[b] = {}
                continue
            facts = self.facts(facility_id, b)
            by_scope = {bal.node_ids: bal for bal in facts.energy}
            end = b + c.reporting.bucket_ns
            known = dict(states)
            for scope in sorted(set(states) | set(by_scope)):
                balance = by_scope.get(scope)
                state = known.get(scope, BaselineState())
                if balance is not None and (scope not in known or set(state.meters) != set(balance.meters)):
                    # a new scope (a node declared or dropped), or other meters: what it succeeds
                    state = successor(known, scope, balance, by_scope)
                since = state.since_ns if state.since_ns is not None else b
                calibrating = end <= since + calibration_ns
                state = advance_baseline(state, balance, calibrating, c.tolerances.max_overhead_drift)
                if balance is not None:
                    state = replace(state, meters=balance.meters, top_level=balance.top_level, last_ns=b)
                if state.since_ns is None and state.level is not None:
                    state = replace(state, since_ns=b)
                if state.seen_ns is None and balance is not None:
                    state = replace(state, seen_ns=b)
                states[scope] = state
            cache[b] = dict(states)
        return cache[start_ns]

    def _with_baseline(self, facility_id: str, facts: BucketFacts, findings: list[Finding]) -> list[Finding]:
        states = self._baseline_states(facility_id, facts.start_ns)
        inv = self.inputs.inventories.get(facility_id)
        if inv is None:
            return findings
        all_nodes = tuple(sorted(n.node_id for n in inv.nodes))
        unproven: dict[str, str] = {}
        extra: list[Finding] = []
        calibration_ns = self.inputs.commitment.tolerances.calibration_ns
        for bal in facts.energy:
            state = states.get(bal.node_ids)
            subject = bal.subject(facility_id, all_nodes)
            if state is not None and uncalibrated(state, facts.end_ns, calibration_ns):
                extra.append(uncalibrated_finding(state, bal, subject, (facts.start_ns, facts.end_ns)))
            if state is None:
                continue
            if state.ratio is not None:
                extra.extend(self._ratio_findings(state, bal, subject, (facts.start_ns, facts.end_ns)))
            note = _not_evidence(state, bal, (facts.end_ns - facts.start_ns) / 1e9)
            if note is not None:
                unproven[subject] = note
        return [*lower_unproven(findings, unproven), *extra]

    @staticmethod
    def _ratio_findings(
        state: BaselineState, bal: EnergyBalance, subject: str, span: tuple[int, int]
    ) -> list[Finding]:
        """The baseline's findings of a bucket it tested, and silent draw where the ratio rose."""
        out = baseline_findings(state, bal, subject, span)
        if state.step and state.last_z > 0 and bal.silent_allowance_j > 0:
            out.append(
                Finding.make(
                    FindingId.ENERGY_SILENT_DRAW,
                    WARNING,
                    subject,
                    span,
                    f"meters {', '.join(bal.meters)}: the metered/reported ratio rose above its"
                    " calibrated level while nodes of the scope were silent",
                    {"z": (state.last_z, "1"), "silent_allowance_j": (bal.silent_allowance_j, "J")},
                    bal.evidence,
                )
            )
        return out

    def _commitment_verdict(self, bucket: BucketRef, evaluated_unix_ns: int) -> types_pb2.Verdict:
        """Evidence summed over every facility of the commitment, and each facility's outcome."""
        c = self.inputs.commitment
        span = c.bucket_of(bucket.start_ns)
        if span is None or span != (bucket.start_ns, bucket.end_ns):
            raise ValueError(f"({bucket.start_ns}, {bucket.end_ns}) is not a bucket of {c.commitment_id!r}")
        subject = f"commitment:{c.commitment_id}"
        facts = [self.facts(fid, bucket.start_ns) for fid in self.inputs.facilities]
        compute = (
            math.fsum(f.compute[0] for f in facts),
            math.fsum(f.compute[1] for f in facts),
            math.fsum(f.compute[2] for f in facts),
        )
        to_date = self.compute_to_date(bucket.end_ns)
        findings: list[Finding] = []
        if c.compute_cap_flop is not None and facts:
            findings.extend(
                replace(f, subject=subject)
                for f in ComputeCap(c.compute_cap_flop).evaluate(RuleContext(facts[0], to_date))
            )
        findings.extend(self._summed_energy(facts, subject, span))
        training_forbidden = (
            bool(c.allowed_workloads) and types_pb2.WORKLOAD_CLASS_TRAINING not in c.allowed_workloads
        )
        overall = self._training_windows(list(self.inputs.facilities), bucket.start_ns).get("*")
        if overall is not None and overall.significant:
            findings.append(
                Finding.make(
                    FindingId.WORKLOAD_TRAINING,
                    CRITICAL if training_forbidden else INFO,
                    subject,
                    (overall.start_ns, overall.end_ns),
                    f"{overall.training_periods} training periods among {overall.node_periods} node-periods"
                    f" of every facility in {window_words(overall, bucket.end_ns - bucket.start_ns)}"
                    f" (evidence from {overall.needed})",
                    {
                        "training_periods": (float(overall.training_periods), "1"),
                        "node_periods": (float(overall.node_periods), "1"),
                        "needed": (float(overall.needed), "1"),
                    },
                    overall.evidence,
                )
            )
        for fid in self.inputs.facilities:
            v = self.verdict(BucketRef(fid, bucket.start_ns, bucket.end_ns))
            for f in v.findings:
                if f.severity in (WARNING, CRITICAL) and f.id != FindingId.TERMS_NO_COMMITMENT:
                    findings.append(
                        Finding.make(
                            f.id,
                            f.severity,
                            f"{fid}/{f.subject}",
                            (f.start_unix_ns, f.end_unix_ns),
                            f.message,
                            {q.name: (q.value, q.unit) for q in f.quantities},
                            f.evidence_log_indices,
                        )
                    )
        return self._wire(bucket, compute, to_date, findings, evaluated_unix_ns)

    def _summed_energy(
        self, facts: Sequence[BucketFacts], subject: str, span: tuple[int, int]
    ) -> list[Finding]:
        """Unexplained energy of every facility's top-level scope, summed: small excesses that
        stay under each facility's threshold add up here."""
        top = [(f.facility_id, b) for f in facts for b in f.energy if b.top_level]
        if len(top) < 2:
            return []
        balances = [b for _, b in top]
        # evidence of a VIOLATION allows the meters to err alike (``_summed_sigma``); what blocks
        # COMPLIANT does not: each site's slack adds up against the σ of independent meters, and
        # read as alike, twenty sites each hiding 1 % beyond their band were COMPLIANT (a
        # reviewer's, 2026-12-06)
        sigma = _summed_sigma([(b, b.sigma_j, 1.0) for b in balances])
        independent = math.sqrt(math.fsum(b.sigma_j**2 for b in balances))
        bucket_s = (span[1] - span[0]) / 1e9
        states = {fid: self._baseline_states(fid, span[0]) for fid, _ in top}
        # what a facility's own baseline shows is no evidence (a drift, load carried before) is
        # none summed either; it still blocks COMPLIANT below (``by_reports``)
        counted = [
            b
            for fid, b in top
            if _not_evidence(states[fid].get(b.node_ids, BaselineState()), b, bucket_s) is None
        ]
        beyond_silence = math.fsum(max(0.0, b.beyond_silence_j()) for b in counted)
        by_reports = math.fsum(max(0.0, b.beyond_reports_j()) for b in balances)
        ref_power = max(b.reference_power_w for b in balances)
        q = {
            "unexplained_j": (by_reports, "J"),
            "beyond_silence_j": (beyond_silence, "J"),
            "sigma_j": (sigma, "J"),
            "independent_sigma_j": (independent, "J"),
            "accelerator_equivalents": (by_reports / (ref_power * bucket_s) if bucket_s > 0 else 0.0, "1"),
        }
        evidence = sorted({i for b in balances for i in b.evidence})
        if is_evidence(beyond_silence, sigma, ref_power * bucket_s) and _interior_evidence(
            counted, balances, bucket_s, ref_power
        ):
            return [
                Finding.make(
                    FindingId.ENERGY_UNEXPLAINED,
                    CRITICAL,
                    subject,
                    span,
                    "summed over every facility, metered energy exceeds what reports and silence can explain",
                    q,
                    evidence,
                )
            ]
        if by_reports > Z_WARN * independent:
            return [
                Finding.make(
                    FindingId.ENERGY_UNEXPLAINED,
                    WARNING,
                    subject,
                    span,
                    "summed over every facility, metered energy exceeds what the reports explain",
                    q,
                    evidence,
                )
            ]
        return []

    def verdicts(self, until_ns: int, evaluated_unix_ns: int = 0) -> list[types_pb2.Verdict]:
        """Verdicts for every facility and every bucket that ends at or before ``until_ns``."""
        out = []
        for start, end in self.inputs.commitment.buckets(until_ns=until_ns):
            if end > until_ns:
                continue
            for fid in commitment_scope(self.inputs.facilities):
                out.append(self.verdict(BucketRef(fid, start, end), evaluated_unix_ns))
        return out


def _interior_evidence(
    counted: Sequence[EnergyBalance], balances: Sequence[EnergyBalance], bucket_s: float, ref_power_w: float
) -> bool:
    """The sum's excess stands in the bucket's interior too, as each scope's must
    (``balance_decision``): a load that a meter's clock moved across a bucket's edge is no more
    evidence summed over facilities than in one (a red team, 2026-12-06: an honest fleet
    starting a job on a bucket's edge beside a slow meter clock, VIOLATION once the commitment
    covered a second, idle facility). As over the whole bucket, each ``counted`` scope adds its
    excess, never its slack (an honest facility's band must not cancel another's hidden load),
    and σ is over every scope (``balances``). A scope without an interior balance adds no
    excess, only its σ pro rata of the interior's time: what it shows is not known to lie in
    the interior. Where no scope has an interior, nothing is evidence (``balance_decision``:
    a bucket too short for one cannot tell a load from a clock's skew; rules/16)."""
    inside = [b.interior for b in balances if b.interior is not None]
    if not inside:
        return False
    seconds = inside[0][0]
    beyond = math.fsum(max(0.0, b.interior[1]) for b in counted if b.interior is not None)
    share = seconds / bucket_s
    sigma = _summed_sigma(
        [(b, b.interior[2] if b.interior is not None else b.sigma_j * share, share) for b in balances]
    )
    return is_evidence(beyond, sigma, ref_power_w * seconds)


def _summed_sigma(parts: Sequence[tuple[EnergyBalance, float, float]]) -> float:
    """The standard uncertainty of balances summed over facilities, from each (balance, its σ
    over the time summed, that time's share of the bucket): the nodes' sampling noise in
    quadrature, the meters' accuracy linearly. An accuracy class bounds an error that stays with
    a meter, and meters of one make calibrated alike err alike: ten honest sites, each intake
    reading 2 % high (within its class) at its band's top, were COMPLIANT each and a VIOLATION
    summed, their excesses adding up linearly against a σ that grew as the square root (an
    honest-fleet hunt, 2026-12-06)."""
    meters = [b.meter_sigma_j * share for b, _, share in parts]
    noise = math.fsum(max(0.0, sigma**2 - m**2) for (_, sigma, _), m in zip(parts, meters, strict=True))
    return math.sqrt(math.fsum(meters) ** 2 + noise)


def _not_evidence(state: BaselineState, bal: EnergyBalance, bucket_s: float) -> str | None:
    """Why a scope's excess over the band is no evidence of a violation, as a note for its
    ``energy.unexplained`` ("" for a drift, whose message stays as it was), or None."""
    if state.ratio is not None and drift_explains(state, bal):
        return ""
    # a bucket out of the band is not learnt from (its ratio is None during calibration)
    if carried_explains(state, bal, bucket_s):
        return (
            "; not evidence: since the scope was last in control the metered power fell with"
            " the reports at no less than the band's lowest ratio, so the excess is load it"
            " carried then (a fixed load outside the nodes not declared as fixed_load_w, or"
            " load hidden within the band)"
        )
    return None


def evaluate_bucket(
    inputs: EvaluationInput, bucket: BucketRef, evaluated_unix_ns: int = 0
) -> types_pb2.Verdict:
    """The unsigned verdict for one (facility, bucket): a pure function of the inputs."""
    return Evaluator(inputs).verdict(bucket, evaluated_unix_ns)


# not a function of the inputs; ``rules`` is compared by its reader (the auditor: a verdict of
# other rules that re-derives the same is what these rules say too; the verifier: an upgrade that
# changes nothing in a verdict revises nothing)
_IGNORED = frozenset({"evaluated_unix_ns", "revision", "supersedes", "rules"})


def compare_verdicts(expected: types_pb2.Verdict, recomputed: types_pb2.Verdict) -> list[str]:
    """Differences between a stored verdict and a recomputed one; empty when they agree."""
    diffs: list[str] = []
    for field in types_pb2.Verdict.DESCRIPTOR.fields:
        if field.name in _IGNORED or field.name == "findings":
            continue
        a, b = getattr(expected, field.name), getattr(recomputed, field.name)
        if a != b:
            diffs.append(f"{field.name}: stored {_show(a)} ≠ recomputed {_show(b)}")
    fa = [_finding_key(f) for f in expected.findings]
    fb = [_finding_key(f) for f in recomputed.findings]
    if fa != fb:
        only_a = sorted(set(fa) - set(fb))
        only_b = sorted(set(fb) - set(fa))
        for k in only_a:
            diffs.append(f"finding only in the stored verdict: {k[0]} {k[2]} {k[3]}…{k[4]}")
        for k in only_b:
            diffs.append(f"finding only in the recomputed verdict: {k[0]} {k[2]} {k[3]}…{k[4]}")
        if not only_a and not only_b:
            diffs.append("findings differ in order or multiplicity")
    return diffs


def _finding_key(f: types_pb2.Finding) -> tuple[str, int, str, int, int, bytes]:
    return (
        f.id,
        f.severity,
        f.subject,
        f.start_unix_ns,
        f.end_unix_ns,
        f.SerializeToString(deterministic=True),
    )


def _show(value: object) -> str:
    if isinstance(value, types_pb2.ComputeBounds):
        return f"[{value.lower_flop:.6g}, {value.best_flop:.6g}, {value.upper_flop:.6g}]"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
