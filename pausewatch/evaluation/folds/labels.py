"""Workload per node: each report period of the bucket labelled by the classifier
(``pausewatch.evaluation.workload``), which sees the node's periods just before the bucket too
(its causal history), and the seconds of each label summed per node."""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pausewatch.evaluation.folds.reading import UsageReading
from pausewatch.evaluation.intervals import Cumulative, covered_ns, uncovered
from pausewatch.evaluation.workload import (
    DeviceSignals,
    PeriodSignals,
    Startup,
    WorkloadLabel,
    classify_node_history,
)

__all__ = ["RECENT_S", "LabelledPeriod", "NodeWorkload", "WorkloadFold"]

# How far back before the bucket the node's periods count toward its allowance of lone periods
# without proof (``rules.ISOLATED_UNCERTAIN_SHARE``): an hour, whatever the bucket's length.
RECENT_S = 3600.0


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
    hindsight: bool = False  # training known only from a later period of the bucket: no evidence
    startup: Startup = ""  # uncertain as a "load" or a "start" (``PeriodClass.startup``)
    sparse: bool = False  # uncertain only for want of samples (``PeriodClass.sparse``)
    drawn_w: float | None = None  # its accelerators' mean power, summed; None: a device without power


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
    # the seconds the node's periods covered in the ``RECENT_S`` before the bucket (their union) ...
    recent_s: float = 0.0
    recent_no_proof_s: float = 0.0  # ... and those of them that proved nothing (uncertain, other)
    # the last hour up to the bucket's end (a longer bucket's most silent hour) ...
    silence_window_s: float = 0.0
    silent_s: float = 0.0  # ... and how much of it the node's reports left uncovered ...
    bucket_silent_s: float = 0.0  # ... in the bucket itself
    # the bucket as far as it is evaluated (a log prefix may end inside it), ns
    bucket: tuple[int, int] = (0, 0)

    @property
    def span_s(self) -> float:
        """``bucket``'s length, s."""
        return max(0.0, (self.bucket[1] - self.bucket[0]) / 1e9)


def _in_bucket(start_ns: int, end_ns: int) -> int | None:
    """The bucket starting at ``start_ns`` holds a period ending at ``end_ns`` (0), or not (None)."""
    return 0 if end_ns > start_ns else None


def _drawn_w(devices: Sequence[DeviceSignals]) -> float | None:
    """The accelerators' mean power over a period, summed (a device's energy counter where it
    has one), or None where a device reported neither."""
    total = 0.0
    for d in devices:
        w = d.counter_power_w if d.counter_power_w is not None else d.power_mean_w
        if w is None:
            return None
        total += w
    return total


@dataclass(frozen=True, slots=True)
class _Period:
    seconds: float  # the period's overlap with the bucket
    signals: PeriodSignals
    log_index: int


class WorkloadFold:
    """Folds each node's usage reports into its labelled periods."""

    def __init__(
        self, context: Mapping[str, Sequence[PeriodSignals]], start_ns: int = 0, end_ns: int = 0
    ) -> None:
        """``context``: per node, its report periods just before the bucket; ``start_ns`` …
        ``end_ns``: the bucket."""
        self.context = context
        self.start_ns = start_ns
        self.end_ns = end_ns
        self._periods: dict[str, list[_Period]] = defaultdict(list)

    def add(self, reading: UsageReading) -> None:
        self._periods[reading.node_id].append(_Period(reading.at.dt_s, reading.signals, reading.at.log_index))

    def finish(self) -> tuple[NodeWorkload, ...]:
        """Every node that sent a usage report in the bucket, declared or not, by node id."""
        return tuple(self._node(node_id, periods) for node_id, periods in sorted(self._periods.items()))

    def _node(self, node_id: str, periods: Sequence[_Period]) -> NodeWorkload:
        # in order of period end, as the classifier's causal history needs (context periods all
        # end by the bucket's start, the bucket's own after it: overlapping or shifted periods of
        # a hostile attestor keep an order, never break it)
        own = sorted(periods, key=lambda p: (p.signals.end_ns, p.signals.start_ns, p.log_index))
        context = sorted(self.context.get(node_id, ()), key=lambda p: (p.end_ns, p.start_ns))
        # the bucket's verdict sees all of its periods: a job whose training structure shows
        # later in the bucket was training before (hindsight); the context keeps its classes
        every = classify_node_history(
            [*context, *(p.signals for p in own)], bucket=functools.partial(_in_bucket, self.start_ns)
        )
        classes = every[len(context) :]
        since = (own[0].signals.start_ns if own else 0) - round(RECENT_S * 1e9)
        recent = [(p, c.label) for p, c in zip(context, every, strict=False) if p.end_ns > since]
        recent_s = covered_ns(((p.start_ns, p.end_ns) for p, _ in recent), (since, self.start_ns)) / 1e9
        no_proof_s = math.fsum(
            max(0, min(p.end_ns, self.start_ns) - max(p.start_ns, since)) / 1e9
            for p, label in recent
            if label in (WorkloadLabel.UNCERTAIN, WorkloadLabel.OTHER)
        )
        window_s, silent_s, bucket_silent_s = self._silence(
            context, [(p.signals.start_ns, p.signals.end_ns) for p in own]
        )
        seconds: dict[str, float] = dict.fromkeys(WorkloadLabel, 0.0)
        covered = 0.0
        scores: list[float] = []
        evidence: list[int] = []
        labelled: list[LabelledPeriod] = []
        for p, cls in zip(own, classes, strict=True):
            sig = p.signals
            covered += p.seconds
            counts = sorted(d.sample_count for d in sig.signals.devices)
            samples = counts[len(counts) // 2] if counts else 0
            labelled.append(
                LabelledPeriod(
                    sig.start_ns,
                    sig.end_ns,
                    p.seconds,
                    cls.label,
                    cls.training_score,
                    p.log_index,
                    samples,
                    cls.hindsight,
                    cls.startup,
                    cls.sparse,
                    _drawn_w(sig.signals.devices),
                )
            )
            label = cls.label if cls.label in seconds else WorkloadLabel.UNCERTAIN
            seconds[label] += p.seconds
            if label == WorkloadLabel.TRAINING:
                scores.append(cls.training_score)
            if label not in (WorkloadLabel.IDLE, WorkloadLabel.INFERENCE):
                evidence.append(p.log_index)
        return NodeWorkload(
            node_id,
            covered,
            seconds[WorkloadLabel.TRAINING],
            seconds[WorkloadLabel.UNCERTAIN],
            seconds[WorkloadLabel.INFERENCE],
            seconds[WorkloadLabel.IDLE],
            math.fsum(scores) / len(scores) if scores else 0.0,
            len(scores),
            tuple(sorted(set(evidence))),
            tuple(labelled),
            seconds[WorkloadLabel.OTHER],
            recent_s,
            no_proof_s,
            window_s,
            silent_s,
            bucket_silent_s,
            (self.start_ns, self.end_ns),
        )

    def _silence(
        self, context: Sequence[PeriodSignals], spans: Sequence[tuple[int, int]]
    ) -> tuple[float, float, float]:
        """The node's silence over the last hour up to the bucket's end: the window's seconds,
        how many of them no report covers, and how many of those lie in the bucket. The window
        starts no earlier than the node's first period in the context (a node that began
        reporting a moment ago is not silent before it). In a bucket longer than an hour the
        window is its most silent hour (``spans``: the bucket's periods), not the bucket: a day
        bucket's tenth is 2.4 hours, in which a red team's node trained at a cap unseen."""
        bucket_s = max(0.0, (self.end_ns - self.start_ns) / 1e9)
        # the union of the periods, not their sum: overlapping periods would cover a silence twice
        # over (a reviewer's: 5-minute periods every 150 s before two dark hours hid them)
        in_bucket = max(0.0, bucket_s - covered_ns(spans, (self.start_ns, self.end_ns)) / 1e9)
        if bucket_s > RECENT_S:
            return RECENT_S, _most_silent_hour((self.start_ns, self.end_ns), spans), in_bucket
        before_s = max(0.0, RECENT_S - bucket_s)
        begin = self.start_ns - round(before_s * 1e9)
        begin = max(begin, min(p.start_ns for p in context)) if context else self.start_ns
        covered_before = covered_ns(((p.start_ns, p.end_ns) for p in context), (begin, self.start_ns))
        window_s = bucket_s + (self.start_ns - begin) / 1e9
        return window_s, in_bucket + max(0.0, (self.start_ns - begin - covered_before) / 1e9), in_bucket


def _most_silent_hour(bucket: tuple[int, int], spans: Sequence[tuple[int, int]]) -> float:
    """The most seconds of any ``RECENT_S`` window inside ``bucket`` that ``spans`` leave
    uncovered. The most silent window starts where a silence starts or ends where one ends;
    each window's silence is read from ``Cumulative`` (O(log n): a hostile attestor's thousands
    of one-second gaps in a day bucket cost milliseconds, not minutes)."""
    hour = round(RECENT_S * 1e9)
    gaps = uncovered(spans, bucket)
    silence = Cumulative((((a, b), (b - a) / 1e9) for a, b in gaps), bucket[0])
    candidates = (*(a for a, _ in gaps), *(b - hour for _, b in gaps))
    windows = (min(max(s, bucket[0]), bucket[1] - hour) for s in candidates)
    return max((silence.between(lo, lo + hour) for lo in windows), default=0.0)
