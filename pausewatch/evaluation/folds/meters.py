"""Meter readings: each declared meter's valid energy over the bucket, the stretches it covers,
and what one scope's measurements read.

A stretch between two of a meter's reports that no report covers (its attestor stopped, a
report lost) is *bridged* where both reports carry the meter's energy register
(``energy_counter_last_j`` of the earlier, ``energy_counter_first_j`` of the later): what the
register counted there is what the scope drew there, however it drew it (rules/17). Before, the
stretch counted at the highest power the meter read in the bucket, and a 30-kW load run only
while an intake meter's attestor skipped one 30-s report passed a 7.6-kW power cap (a hunt of
rules/16, 2026-12-07). How a bridge counts in a window:

- wholly inside it: in the highest reading, what the register counted; in the lowest, that
  less ``2 * EDGE_SKEW_S`` at the highest power the meter read around it. The two reports'
  clocks are each trusted only within the skew, so the stretch their times claim can be up to
  twice the skew shorter than the time the register counted over: an intake clock 90 s fast,
  put right while its attestor was down for 2 minutes, had 3.5 minutes of the fleet's energy
  counted in a 2-minute stretch, and an honest fleet at 92-97 % of its power cap was a
  VIOLATION (a hunt of rules/17, 2026-12-07). The register's evidence for a VIOLATION is then
  only what no such skew explains; for a short stretch, none, as before it;
- reaching past it: nothing in the lowest reading; in the highest, the count less its part
  outside at the mean power of the report beside that part (the earlier report's before the
  window, the later's after it). An honest load that stepped in the stretch is charged where
  it ran; a load that rose and fell again within the part outside is charged inside
  (INCONCLUSIVE: the register cannot say on which side of the edge it ran). A load hidden in
  the stretch is charged to at least one side beyond what its highest power allows: where the
  report beside the part outside reads more than that part drew (a fleet whose reported load
  rises as the attestor comes back), the charge moves to the other bucket, whose discount is
  the report on its own far side (a red team of rules/17, 2026-12-07);
- in the highest reading, a stretch wholly inside never less than its time at the higher of
  the two readings beside it, and the part inside of one across an edge never less than its
  time at the meter's highest power (the reading beside that part may be another load's, on
  the edge's other side): a register that counted less proves no quiet stretch (a meter clock
  stepped 90 s forward made a "stretch" in which no time passed, read as ~0 J, and a hidden
  load filled the hole: COMPLIANT, a red team of rules/17, 2026-12-07). rules/17 floored a
  stretch inside at the meter's highest power in the bucket too, which charged an honest idle
  stretch with a busy hour's power (rules/18). A register that counted under
  ``REGISTER_SHORT`` of the stretch at the lower of those readings, over a stretch of
  ``REGISTER_SHORT_MIN_S`` or more, is no bridge at all (``telemetry.invalid``; the stretch is
  unread): a clock that stepped forward.

The ratio baseline and the comparison of redundant meters read the time a meter read or
bridged (``MeterFold.counted``): a stretch counts what its register counted (across an edge,
its part inside placed as above), never less than its time at the lower reading beside it
(rules/18).

A meter without a register is read as before; its stretches between two reports are kept
(``add_unbounded``) as time nothing read: ``MeterReading.unbounded_s``, which the balance reads
(``UNBOUNDED_MAX_S``, rules/19).

Findings: ``telemetry.invalid`` and ``plausibility.counter_backwards`` per report (into the
``IntegrityFold``); ``continuity.gap`` / ``continuity.timeout`` / ``continuity.coverage`` per
meter."""

from __future__ import annotations

import heapq
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from pausewatch.commitment import Commitment
from pausewatch.evaluation.findings import WARNING, Finding, FindingId
from pausewatch.evaluation.folds.integrity import IntegrityFold
from pausewatch.evaluation.folds.reading import EDGE_SKEW_S, INVALID_KINDS, NS_PER_S, Slice
from pausewatch.evaluation.intervals import (
    Cumulative,
    Interval,
    clip,
    covered_ns,
    intersect,
    merge,
    uncovered,
)
from pausewatch.inventory import MeterScopeGroup
from pausewatch.v1 import types_pb2

__all__ = [
    "CLAIMED_TWICE_MIN_S",
    "REGISTER_SHORT",
    "REGISTER_SHORT_MIN_S",
    "MeterFold",
    "MeterReading",
    "usable",
]


# A register that counted less than this share of the stretch at the lower of the two readings
# beside it is no bridge (``BucketAccumulator.add_meter_bridge``: ``telemetry.invalid``): the
# meter's clock stepped forward, leaving a "stretch" in which no time passed, or the register is
# wrong. A load that fell that far only while nobody read the meter is rare; it costs COMPLIANT.
# Under ``REGISTER_SHORT_MIN_S`` a stretch is bridged whatever the register counted, at no less
# than its time at the higher reading beside it: an NTP step of a second is a stretch in which
# no time passed too, and what it can hide is within any band's slack.
REGISTER_SHORT: Final = 0.5
REGISTER_SHORT_MIN_S: Final = 10.0
# A meter's reports that claim this much of a bucket twice or more (its clock stepped back) are
# ``telemetry.invalid`` (``coverage_findings``); less is an NTP step's slack, counted once at the
# lower power read there in the evidence and in full in the most (``_once``), with no finding.
CLAIMED_TWICE_MIN_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One measurement of a meter scope over the bucket: one meter, or feeds summed."""

    meters: tuple[str, ...]
    energy_j: float  # what the meters read: a lower bound where they left time unread
    sigma_j: float  # the meters' accuracy, as a standard uncertainty (summed feeds: linearly)
    # the most the time they left unread (at most max_gap each) can have held: each meter's
    # unread time at the highest power it read in the bucket. Counted as nothing, a meter that
    # skipped its last three reports of every bucket hid 2 kW of a training load behind it,
    # COMPLIANT (a red team, 2026-12-05); so COMPLIANT now needs the balance to hold with it
    unread_j: float = 0.0
    # the time of the bucket between two of a feed's reports that no register read (a meter
    # without one whose attestor skipped), summed over the feeds, s: nothing bounds what ran then
    unbounded_s: float = 0.0

    @property
    def most_j(self) -> float:
        """The most the measurement's scope can have drawn in the bucket."""
        return self.energy_j + self.unread_j


class _Around(NamedTuple):
    """One meter's readings in a bucket and within ``EDGE_SKEW_S`` of it (``MeterFold``)."""

    energy: Cumulative  # each instant counted once, at the lowest rate read there (``_once``)
    cover: list[Interval]  # the readings' periods
    peak_w: float  # the highest mean power any of them read
    raw: Cumulative  # each reading in full


class _Bridge(NamedTuple):
    """What a meter's register counted over a stretch none of its reports covers."""

    gap: Interval  # the whole stretch, from the earlier report's end to the later's start
    energy_j: float  # what the register counted over it
    before_w: float  # the earlier report's mean power
    after_w: float  # the later report's

    def share_j(self, window: Interval, floor_w: float, edge_floor_w: float) -> float:
        """What the stretch drew in ``window``, J: wholly inside it, the register's count,
        never less than the stretch at ``floor_w``; across its edge, the count less the part
        outside at the mean power of the report beside that part, never less than the part
        inside at ``edge_floor_w`` (the module's docstring)."""
        g0, g1 = self.gap
        inside = clip(self.gap, window)
        if inside is None:
            return 0.0
        if inside == self.gap:
            return max(self.energy_j, floor_w * _seconds(inside))
        outside_j = (self.before_w * (inside[0] - g0) + self.after_w * (g1 - inside[1])) / NS_PER_S
        return max(edge_floor_w * _seconds(inside), self.energy_j - outside_j)


class _Bridged(NamedTuple):
    """The bridges' share of one window (``MeterFold._bridged``)."""

    least_j: float  # the least those wholly inside it drew there (the module's docstring)
    most_j: float  # the most all of them can hold inside it
    time_ns: int  # the time of the window they bridge
    exact_ns: int  # of which wholly inside it (the rest is still unread for ``max_gap``)


def _peak_w(parts: Iterable[tuple[Interval, float]]) -> float:
    """The highest mean power of any reading ((period, energy J)), W; 0 without one."""
    return max((j / ((b - a) / NS_PER_S) for (a, b), j in parts if b > a), default=0.0)


def _once(parts: Iterable[tuple[Interval, float]]) -> tuple[list[tuple[Interval, float]], float]:
    """Readings ((period, energy J)) with each instant that several claim counted once, at the
    lowest rate any of them read there; and the time claimed more than once, s. A meter whose
    clock stepped back (NTP putting a fast clock right) signs periods that overlap the ones
    before: each holds energy of its own, and summed in full they put the step's seconds of
    energy twice into the claimed time. An honest fleet at its band's top, its intake meter
    115 s fast and stepped back, was an ``energy.unexplained`` VIOLATION (an honest-fleet hunt
    of rules/18). Counted once at the lower rate, the readings bound what the meters read from
    below; the rest still counts where a reading bounds from above (``MeterReading.unread_j``)."""
    ordered = sorted((p, j) for p, j in parts if p[1] > p[0])
    if all(a[1] <= b[0] for (a, _), (b, _) in itertools.pairwise(ordered)):
        return ordered, 0.0
    rated = [(p, j / _seconds(p)) for p, j in ordered]
    # a sweep over the readings' ends, the lowest rate among those open on a heap: n log n, so
    # a meter that signs thousands of overlapping reports costs its bucket no more than that
    events = sorted(
        [(p[0], 1, i) for i, (p, _) in enumerate(rated)] + [(p[1], 0, i) for i, (p, _) in enumerate(rated)]
    )
    open_: set[int] = set()
    lowest: list[tuple[float, int]] = []
    out: list[tuple[Interval, float]] = []
    twice_ns = 0
    last: int | None = None
    for t, starts, i in events:
        if last is not None and t > last and open_:
            while lowest[0][1] not in open_:
                heapq.heappop(lowest)
            out.append(((last, t), lowest[0][0] * (t - last) / NS_PER_S))
            twice_ns += (len(open_) - 1) * (t - last)
        last = t
        if starts:
            open_.add(i)
            heapq.heappush(lowest, (rated[i][1], i))
        else:
            open_.discard(i)
    return out, twice_ns / NS_PER_S


def _seconds(span: Interval) -> float:
    return (span[1] - span[0]) / NS_PER_S


def _inside(gap: Interval, parts: Sequence[Interval]) -> bool:
    """Whether ``gap`` lies wholly inside ``parts`` (disjoint)."""
    return covered_ns(parts, gap) == gap[1] - gap[0]


def _valid(meter: types_pb2.MeterReport) -> bool:
    """A reading that counts: no anomaly that voids it, samples, an energy figure."""
    return (
        not any(a.kind in INVALID_KINDS for a in meter.anomalies)
        and meter.sample_count > 0
        and meter.HasField("energy_j")
    )


def _backwards(meter: types_pb2.MeterReport) -> bool:
    return any(a.kind == types_pb2.ANOMALY_KIND_COUNTER_RESET for a in meter.anomalies) or (
        meter.HasField("energy_j") and meter.energy_j < 0
    )


def usable(meter: types_pb2.MeterReport) -> bool:
    """Whether a meter report's reading counts (``MeterFold.add`` keeps it)."""
    return _valid(meter) and not _backwards(meter)


class MeterFold:
    """Folds the declared meters' reports of one (facility, bucket)."""

    def __init__(self, commitment: Commitment, span: Interval, flags: IntegrityFold) -> None:
        self.commitment = commitment
        self.span = span
        self.flags = flags
        self._cover: dict[str, list[Interval]] = defaultdict(list)
        # readings within ``EDGE_SKEW_S`` outside the bucket, from its neighbours' reports (a
        # power cap's test reads the bucket shifted by the skew): (period part, energy) per meter
        self._outside: dict[str, list[tuple[Interval, float]]] = defaultdict(list)
        self._around: dict[str, _Around] = {}
        self._terms: dict[str, list[float]] = defaultdict(list)
        self._evidence: list[int] = []
        self._cumulative: dict[str, Cumulative] = {}  # per meter, built once its reports are in
        self._bridges: dict[str, list[_Bridge]] = defaultdict(list)
        self._unbounded: dict[str, list[Interval]] = defaultdict(list)
        self._once_of: dict[str, tuple[list[tuple[Interval, float]], float]] = {}  # built once

    def add(self, meter_id: str, meter: types_pb2.MeterReport, at: Slice, subject: str) -> None:
        """One report of the declared meter ``meter_id`` (``subject``: ``meter:ID``)."""
        invalid = not _valid(meter)
        if _backwards(meter):
            self.flags.flag(
                FindingId.PLAUSIBILITY_COUNTER_BACKWARDS,
                WARNING,
                subject,
                at,
                "the meter's energy counter went backwards",
            )
            invalid = True
        if invalid:
            self.flags.flag(
                FindingId.TELEMETRY_INVALID,
                WARNING,
                subject,
                at,
                "meter values flagged invalid or missing: not evidence",
            )
            return
        self._cover[meter_id].append(at.part)
        self._terms[meter_id].append(meter.energy_j * at.frac)
        self._cumulative.pop(meter_id, None)
        self._once_of.pop(meter_id, None)
        self._evidence.append(at.log_index)
        self._around.pop(meter_id, None)

    def add_outside(self, meter_id: str, meter: types_pb2.MeterReport, at: Slice) -> None:
        """A neighbouring bucket's report of ``meter_id``, cut to within ``EDGE_SKEW_S`` of
        this bucket's edges: read only by ``energy_around``; its findings are its bucket's."""
        if _valid(meter) and meter.energy_j >= 0:
            self._outside[meter_id].append((at.part, meter.energy_j * at.frac))
            self._around.pop(meter_id, None)

    def add_bridge(
        self, meter_id: str, gap: Interval, energy_j: float, before_w: float, after_w: float
    ) -> None:
        """What meter ``meter_id``'s register counted over ``gap``, a stretch between two of
        its reports that none covers, J (the module's docstring); ``before_w``, ``after_w``:
        the mean powers of the report before it and of the one after."""
        self._bridges[meter_id].append(_Bridge(gap, energy_j, before_w, after_w))

    def add_unbounded(self, meter_id: str, gap: Interval) -> None:
        """A stretch between two of meter ``meter_id``'s reports that none covers and no
        register read (a meter without one): what ran then is unknown (``MeterReading.unbounded_s``)."""
        self._unbounded[meter_id].append(gap)

    def _unbounded_s(self, meter_id: str) -> float:
        """The time of the bucket in meter ``meter_id``'s stretches that no register read and
        none of its readings covers, s."""
        cover = self._cover.get(meter_id, [])
        parts = merge(p for g in self._unbounded.get(meter_id, ()) if (p := clip(g, self.span)) is not None)
        return sum(b - a for p in parts for a, b in uncovered(cover, p)) / NS_PER_S

    def _bridged(self, m: str, window: Interval, cover: Sequence[Interval], peak_w: float) -> _Bridged:
        """The bridges of meter ``m`` in ``window``, each bounded as the module's docstring
        says (its part inside at least at ``peak_w``, the highest power the meter read); a
        bridge that any reading of ``cover`` overlaps (another key's, measuring the same) is
        not counted."""
        least, most, time_ns, exact_ns = [], [], 0, 0
        skew_s = 2 * EDGE_SKEW_S
        for bridge in self._open_bridges(m, cover):
            (g0, g1), energy, before_w, after_w = bridge
            inside = clip((g0, g1), window)
            if inside is None:
                continue
            t_in = inside[1] - inside[0]
            time_ns += t_in
            # never less than the time at the higher of the readings beside it: a register that
            # counted less than that over a stretch no report covers is no proof of a quiet
            # stretch (a meter clock stepped 90 s forward left a 90-s "stretch" the register read
            # as ~0 J, and a hidden load filled the hole: COMPLIANT, a red team of rules/17,
            # 2026-12-07). At the meter's highest power in the window, as the first rules/17 had
            # it, an honest fleet near its band's top that served for 20 minutes of an hour, its
            # intake's attestor down 5 idle minutes of it, made the hour energy.unexplained (an
            # honest-fleet hunt of rules/18). A stretch across the window's edge keeps the
            # highest power: the reading beside its part inside may be another load's, on the
            # edge's other side (a fleet stepping up on an edge while its intake's attestor was
            # down across it would be charged with the new load before the edge)
            most.append(bridge.share_j(window, max(before_w, after_w), peak_w))
            if inside == (g0, g1):
                least.append(max(0.0, energy - skew_s * max(peak_w, before_w, after_w)))
                exact_ns += t_in
        return _Bridged(math.fsum(least), math.fsum(most), time_ns, exact_ns)

    def _open_bridges(self, m: str, cover: Sequence[Interval]) -> list[_Bridge]:
        """Meter ``m``'s bridges that no reading of ``cover`` overlaps (a reading there, another
        key's measuring the same, reads the stretch instead)."""
        return [b for b in self._bridges.get(m, ()) if covered_ns(cover, b.gap) == 0]

    def energy_around(self, meters: Sequence[str], window: Interval) -> float:
        """The energy one measurement (``meters`` summed) read in ``window``, which may reach
        up to ``EDGE_SKEW_S`` past the bucket's edges into its neighbours' readings, and what
        its registers counted over stretches wholly inside it that no reading covers, J (what
        neither covers counts nothing)."""
        total: list[float] = []
        for m in meters:
            around = self._around_of(m)
            bridged = self._bridged(m, window, around.cover, around.peak_w)
            total.extend((around.energy.between(*window), bridged.least_j))
        return math.fsum(total)

    def most_around(self, meters: Sequence[str], window: Interval) -> float:
        """The most one measurement can have drawn in ``window`` (as ``energy_around`` reads
        it): what it read, what its registers bound over the stretches no reading covers, and
        each meter's time there that neither covers at the highest power any reading read, J."""
        total: list[float] = []
        for m in meters:
            around = self._around_of(m)
            bridged = self._bridged(m, window, around.cover, around.peak_w)
            unread = (sum(b - a for a, b in uncovered(around.cover, window)) - bridged.time_ns) / NS_PER_S
            total.extend((around.raw.between(*window), bridged.most_j, unread * around.peak_w))
        return math.fsum(total)

    def boundaries(self, meters: Sequence[str]) -> list[int]:
        """Where the readings ``energy_around`` reads start and end: where their rate changes."""
        return sorted({t for m in meters for part in self._around_of(m).cover for t in part})

    def _around_of(self, m: str) -> _Around:
        """Meter ``m``'s readings in the bucket and within ``EDGE_SKEW_S`` of it (built once)."""
        if m not in self._around:
            parts = [*zip(self._cover.get(m, []), self._terms.get(m, []), strict=True), *self._outside[m]]
            once, _ = _once(parts)
            origin = self.span[0]
            self._around[m] = _Around(
                Cumulative(once, origin), [p for p, _ in parts], _peak_w(parts), Cumulative(parts, origin)
            )
        return self._around[m]

    @property
    def evidence(self) -> tuple[int, ...]:
        """The log indices of the valid meter reports, sorted, without repeats."""
        return tuple(sorted(set(self._evidence)))

    def _peak_w(self, meter_id: str) -> float:
        """The highest mean power of any of the meter's reports in the bucket, W."""
        return _peak_w(zip(self._cover.get(meter_id, []), self._terms.get(meter_id, []), strict=True))

    def _uncovered_ns(self, meter_id: str) -> int:
        return sum(b - a for a, b in uncovered(self._cover.get(meter_id, []), self.span))

    def coverage_findings(self, meter_ids: Iterable[str]) -> list[Finding]:
        """The gap, timeout and coverage findings of the declared meters, in their order."""
        span = self.span
        rep = self.commitment.reporting
        timeout_ns = rep.timeout_intervals * rep.max_report_interval_ns
        bucket_s = (span[1] - span[0]) / NS_PER_S
        out: list[Finding] = []
        for meter_id in meter_ids:
            gaps = uncovered(self._cover.get(meter_id, []), span)
            for a, b in gaps:
                length = b - a
                fid = (
                    FindingId.CONTINUITY_TIMEOUT
                    if (b == span[1] and length >= timeout_ns)
                    else (FindingId.CONTINUITY_GAP if length > rep.max_gap_ns else None)
                )
                if fid is not None:
                    out.append(
                        Finding.make(
                            fid,
                            WARNING,
                            f"meter:{meter_id}",
                            (a, b),
                            f"meter not covered for {length / NS_PER_S:.0f} s",
                            {"gap_s": (length / NS_PER_S, "s")},
                        )
                    )
            _, twice_s = self._read_once(meter_id)
            if twice_s >= CLAIMED_TWICE_MIN_S:
                out.append(
                    Finding.make(
                        FindingId.TELEMETRY_INVALID,
                        WARNING,
                        f"meter:{meter_id}",
                        span,
                        f"the meter's reports claim {twice_s:.0f} s of the bucket twice: its clock"
                        " stepped back; each instant counts once, at the lower power read there, in"
                        " the evidence, and in full in what the meters may have drawn",
                        {"claimed_twice_s": (twice_s, "s")},
                    )
                )
            missing_s = sum(b - a for a, b in gaps) / NS_PER_S
            if bucket_s > 0 and missing_s > 0 and 1.0 - missing_s / bucket_s < rep.min_time_coverage:
                out.append(
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
        return out

    def parts(self, meter_id: str) -> list[Interval]:
        """The stretches of the bucket the meter's valid reports cover, one per report."""
        return list(self._cover.get(meter_id, []))

    def power_in(
        self, meters: Sequence[str], windows: Sequence[Interval], min_covered_s: float
    ) -> float | None:
        """The mean power one measurement (``meters`` summed) read over ``windows`` (disjoint),
        W: each meter's energy in them over the time its reports cover there; None when a meter
        covers less than ``min_covered_s`` of them (or nothing)."""
        powers = []
        for m in meters:
            cover = self._cover.get(m, [])
            covered = sum(covered_ns(cover, w) for w in windows)
            if covered <= 0 or covered < min_covered_s * NS_PER_S:
                return None
            energy = self._read(m).over(windows)
            powers.append(energy / (covered / NS_PER_S))
        return math.fsum(powers)

    def covered_by(self, meters: Sequence[str], window: Interval) -> list[Interval]:
        """The parts of ``window`` every one of ``meters`` read (their reports' periods)."""
        pieces = [window]
        for m in meters:
            pieces = intersect(pieces, self._cover.get(m, []))
        return pieces

    def read_or_bridged(self, meters: Sequence[str], window: Interval) -> tuple[list[Interval], float]:
        """The parts of ``window`` every one of ``meters`` read, and the whole of each stretch
        in the bucket that touches it and that their registers bridged (the window stretched
        to hold it; a stretch across the bucket's edge, its part inside), and the most those
        stretches can hold there, J (``_Bridge.share_j``: wholly inside the bucket, never less
        than its time at the higher of the two readings beside it)."""
        pieces, bridges = self._whole_bridges(meters, window)
        return pieces, math.fsum(
            b.share_j(self.span, max(b.before_w, b.after_w), self._peak_w(m))
            for m in meters
            for b in bridges[m]
        )

    def counted(self, meters: Sequence[str], window: Interval) -> tuple[list[Interval], dict[str, float]]:
        """The parts of ``window`` (the bucket) every one of ``meters`` read or bridged, and per
        meter what it read there and what its register counted over those stretches, J (each
        wholly inside no less than its time at the lower of the two readings beside it; across
        the bucket's edge, its part inside as ``_Bridge.share_j`` places it, no less than that
        part at the lower reading): what the ratio baseline and the comparison of redundant
        meters read, like with like. A stretch bridged counts as read, so a meter whose every
        stretch is bridged is read over the whole bucket, and the reports with it: cut at a
        stretch's edges instead, the reports of nodes whose clocks run 100 s fast put a fleet's
        serving minute on the meter's side of the cut and an idle one on theirs, and an honest
        fleet was ``energy.baseline_step`` (an honest-fleet hunt of rules/18); a load run only
        while the attestor skipped a report was in neither, and so was one run only in 4-minute
        skips across every edge (red teams of rules/18). What a stretch across an edge costs:
        an honest load that changed inside it is placed by the readings beside it, a minute's
        error at most in the ratio of one of the two buckets."""
        pieces, bridges = self._whole_bridges(meters, window)
        counts = {}
        for m in meters:
            read = [self.energy_between((m,), p) for p in pieces]
            lows = [min(b.before_w, b.after_w) for b in bridges[m]]
            bridged = [b.share_j(self.span, w, w) for b, w in zip(bridges[m], lows, strict=True)]
            counts[m] = math.fsum([*read, *bridged])
        return pieces, counts

    def _whole_bridges(
        self, meters: Sequence[str], window: Interval
    ) -> tuple[list[Interval], dict[str, list[_Bridge]]]:
        """The parts of ``window``, stretched to hold each bridge in the bucket that touches it
        (its part inside the bucket), that every one of ``meters`` read or bridged, and per
        meter those bridges: a stretch one meter bridged and another neither read nor bridged
        is read by none."""
        covers = {m: self._cover.get(m, []) for m in meters}
        parts = {
            m: [
                (b, p)
                for b in self._open_bridges(m, covers[m])
                if (p := clip(b.gap, self.span)) is not None and clip(p, window) is not None
            ]
            for m in meters
        }
        stretched = merge([window, *(p for m in meters for _, p in parts[m])])
        while True:
            pieces = stretched
            for m in meters:
                pieces = intersect(pieces, [*covers[m], *(p for _, p in parts[m])])
            whole = {m: [(b, p) for b, p in parts[m] if _inside(p, pieces)] for m in meters}
            if whole == parts:
                return pieces, {m: [b for b, _ in parts[m]] for m in meters}
            parts = whole

    def energy_between(self, meters: Sequence[str], window: Interval) -> float:
        """The energy one measurement (``meters`` summed) read in ``window``, each reading's
        pro rata of its time there, J (what it did not read counts nothing)."""
        total = []
        for m in meters:
            if self._cover.get(m):
                total.append(self._read(m).between(*window))
        return math.fsum(total)

    def _read_once(self, m: str) -> tuple[list[tuple[Interval, float]], float]:
        """Meter ``m``'s readings in the bucket, each instant counted once (``_once``; built once)."""
        if m not in self._once_of:
            self._once_of[m] = _once(zip(self._cover.get(m, []), self._terms.get(m, []), strict=True))
        return self._once_of[m]

    def _read(self, m: str) -> Cumulative:
        """Meter ``m``'s readings as a ``Cumulative`` (built once)."""
        if m not in self._cumulative:
            self._cumulative[m] = Cumulative(self._read_once(m)[0], self.span[0])
        return self._cumulative[m]

    def readings(self, group: MeterScopeGroup, accuracy: Mapping[str, float]) -> list[MeterReading]:
        """The measurements of one scope whose every meter covers the bucket but for at most
        ``max_gap``, in the group's order."""
        max_gap = self.commitment.reporting.max_gap_ns
        out = []
        for meters in group.measurements:
            bridged = {
                m: self._bridged(m, self.span, self._cover.get(m, []), self._peak_w(m)) for m in meters
            }
            # a stretch across the bucket's edge is bounded, not read: it counts toward max_gap
            if max(self._uncovered_ns(m) - bridged[m].exact_ns for m in meters) > max_gap:
                continue
            unread_ns = {m: self._uncovered_ns(m) - bridged[m].time_ns for m in meters}
            once = {m: math.fsum(j for _, j in self._read_once(m)[0]) for m in meters}
            value = math.fsum([*once.values(), *(bridged[m].least_j for m in meters)])
            # feeds summed: their classes add linearly, as across facilities (rules/10): a class
            # bounds an error that stays with a meter, and meters of one make err alike. In
            # quadrature, eight honest feeds each reading 1 % high, their class, put a fleet at
            # 99.4 % of its power cap over it, and sixteen beside a declared fixed load made
            # ``energy.unexplained`` a VIOLATION (an honest-fleet hunt, 2026-12-07; rules/16)
            sigma = math.fsum(accuracy[m] / 2 * (once[m] + bridged[m].least_j) for m in meters)
            # the most: each reading in full (what ``_once`` left out of a stepped-back clock's)
            unread = math.fsum(
                unread_ns[m] / NS_PER_S * self._peak_w(m)
                + bridged[m].most_j
                - bridged[m].least_j
                + math.fsum(self._terms.get(m, []))
                - once[m]
                for m in meters
            )
            unbounded = math.fsum(self._unbounded_s(m) for m in meters)
            out.append(MeterReading(meters, value, sigma, unread, unbounded))
        return out
