"""Commitment rules: small objects behind one protocol, combined with all-of / any-of.

A rule reads the ``RuleContext`` of one (facility, bucket) — the bucket's facts and the
commitment-wide compute to date — and returns findings. The severities of those findings
decide the verdict (``pausewatch.evaluation.findings.status_of``). ``rules_for`` builds the
rule set a commitment asks for; reporting and evidence rules are always part of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pausewatch.commitment import Commitment
from pausewatch.errors import FormatError
from pausewatch.evaluation.bucket import BucketFacts, LabelledPeriod, NodeWorkload
from pausewatch.evaluation.evidence import TrainingWindow, window_words
from pausewatch.evaluation.findings import CRITICAL, INFO, WARNING, Finding, FindingId
from pausewatch.evaluation.folds.balance import EDGE_SKEW_S
from pausewatch.evaluation.folds.labels import RECENT_S
from pausewatch.evaluation.intervals import Cumulative, covered_ns, merge
from pausewatch.evaluation.workload import WorkloadLabel
from pausewatch.v1 import types_pb2

__all__ = [
    "AllOf",
    "AllowedWorkloads",
    "AnyOf",
    "ComputeCap",
    "Continuity",
    "EnergyBalanceRule",
    "EvidenceIntegrity",
    "PowerCap",
    "Rule",
    "RuleContext",
    "rules_for",
]

PERSISTENCE = 0.25  # share of a node's covered time forbidden inference must hold to be called
ISOLATED_UNCERTAIN_SHARE = 0.05  # at most this share of a node's time in lone uncertain periods
_SLACK_S = 1e-6  # seconds: 5 % of 60 periods of 60 s is 180 s, not 180.00000000000003
# ... each drawing at most this much more (its accelerators' power) than the most of the node's
# proven periods of the bucket (rules/13): an honest lone minute is the node's own work at its
# own level (the library's: at most 1.08x), a training burst timed into the allowance is not
# (1.19-1.84x in a red team's bursts of 1 minute every 20-60 minutes)
LONE_DRAW_MAX = 1.15
# At most this share of a node's last hour (of any hour of a longer bucket) silent, for COMPLIANT: what
# ran while no report came is unproven, and the meter check fills a silence at the node's own
# mean power, which capped training can match (the calibration fills no more either).
MAX_SILENT_SHARE = 0.1
_NO_PROOF = frozenset({WorkloadLabel.UNCERTAIN, WorkloadLabel.OTHER})
_PROVEN = frozenset({WorkloadLabel.IDLE, WorkloadLabel.INFERENCE})


@dataclass(frozen=True)
class RuleContext:
    facts: BucketFacts
    compute_to_date: tuple[float, float, float]  # lower, best, upper FLOP: window start … bucket end
    # the most significant training window ending in the bucket, per ``node:ID`` and over the
    # facility (``*``); see ``pausewatch.evaluation.evidence``
    training: Mapping[str, TrainingWindow] = field(default_factory=dict)


class Rule(Protocol):
    def evaluate(self, ctx: RuleContext) -> tuple[Finding, ...]:
        """The findings this rule raises for one bucket (none: the rule holds with proof)."""
        ...


def _blocking(findings: Sequence[Finding]) -> bool:
    return any(f.severity in (WARNING, CRITICAL) for f in findings)


@dataclass(frozen=True)
class AllOf:
    """Holds when every member holds; raises every member's findings."""

    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        if not self.rules:
            raise FormatError("AllOf needs at least one rule")

    def evaluate(self, ctx: RuleContext) -> tuple[Finding, ...]:
        return tuple(f for r in self.rules for f in r.evaluate(ctx))


@dataclass(frozen=True)
class AnyOf:
    """Holds when some member holds (its findings are returned); else raises every member's."""

    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        if not self.rules:
            raise FormatError("AnyOf needs at least one rule")

    def evaluate(self, ctx: RuleContext) -> tuple[Finding, ...]:
        results = [r.evaluate(ctx) for r in self.rules]
        for findings in results:
            if not _blocking(findings):
                return findings
        return tuple(f for findings in results for f in findings)


def _span(ctx: RuleContext) -> tuple[int, int]:
    return ctx.facts.start_ns, ctx.facts.end_ns


@dataclass(frozen=True)
class ComputeCap:
    """Compute to date (all facilities, window start … bucket end) must stay under the cap."""

    cap_flop: float

    def evaluate(self, ctx: RuleContext) -> tuple[Finding, ...]:
        lower, best, upper = ctx.compute_to_date
        q = {
            "cap_flop": (self.cap_flop, "FLOP"),
            "lower_flop": (lower, "FLOP"),
            "best_flop": (best, "FLOP"),
            "upper_flop": (upper, "FLOP"),
        }
        subject = f"facility:{ctx.facts.facility_id}"
        if lower > self.cap_flop:
            return (
                Finding.make(
                    FindingId.COMPUTE_CAP_EXCEEDED,
                    CRITICAL,
                    subject,
                    _span(ctx),
                    "the lower bound of compute to date exceeds the cap",
                    q,
                ),
            )
        if upper > self.cap_flop:
            return (
                Finding.make(
                    FindingId.COMPUTE_CAP_AT_RISK,
                    WARNING,
                    subject,
                    _span(ctx),
                    "the upper bound of compute to date exceeds the cap; the lower bound does not",
                    q,
                ),
            )
        return ()


_EXCEEDED, _UNVERIFIABLE = FindingId.POWER_CAP_EXCEEDED, FindingId.POWER_CAP_UNVERIFIABLE


@dataclass(frozen=True)
class PowerCap:
    """Mean facility power over the bucket must stay at or below ``max_power_w``: exceeded where
    the meters read over it beyond their accuracy (``METER_ACCURACY_SIGMAS``) or, the meters not
    proving it kept, where the nodes' own signed reports do; kept where the meters' reading with
    its accuracy stays within it; neither proven in between (INCONCLUSIVE). Reports over the cap
    that the meters contradict (a GPU's energy counter read all at once on its return to the bus)
    are no evidence of it: the balance and plausibility checks speak to them. Exceeded only
    where the mean stays over the cap read past the bucket's edges (``folds.balance.past_edges``:
    a clock within the skew tolerated reads up to ``EDGE_SKEW_S`` of the bucket before or after
    into it; rules/15, rules/16); else INCONCLUSIVE."""

    max_power_w: float

    def evaluate(self, ctx: RuleContext) -> tuple[Finding, ...]:
        f = ctx.facts
        cap = self.max_power_w
        subject = f"facility:{f.facility_id}"
        q = {"cap_w": (cap, "W"), "reported_power_w": (f.reported_power_w, "W")}
        low = high = f.metered_power_w
        if f.metered_power_w is not None:
            q["metered_power_w"] = (f.metered_power_w, "W")
            if f.metered_power_range_w is not None:
                low, high = f.metered_power_range_w
                q["metered_power_low_w"] = (low, "W")
                q["metered_power_high_w"] = (high, "W")
        # and at every shift of the bucket within the skew (rules/16)
        high_past = f.metered_high_past_edges_w
        if high_past is not None:
            q["metered_high_past_edges_w"] = (high_past, "W")
        kept = high is not None and high <= cap and (high_past is None or high_past <= cap)
        metered_over = low is not None and low > cap
        # the reports are evidence only where the meters do not contradict them: a GPU's
        # counter read all at once on its return to the bus put the reports 46 % over the
        # meters' upper bound, with the meters within their class of the cap (a hunt of
        # rules/16, 2026-12-07: VIOLATION on the reports alone)
        reported_over = f.reported_power_w > cap and not kept and (high is None or f.reported_power_w <= high)
        metered_past, reported_past = f.metered_low_past_edges_w, f.reported_past_edges_w
        if metered_past is not None:
            q["metered_low_past_edges_w"] = (metered_past, "W")
        if reported_past is not None:
            q["reported_past_edges_w"] = (reported_past, "W")
        # (finding, severity, message, the meters' readings its evidence)
        why: tuple[str, int, str, bool]
        # exceeded only where it stays so read past the bucket's edges (``past_edges``): a clock
        # off by the skew tolerated moves that much of a load across an edge (rules/15)
        if metered_over and metered_past is not None and metered_past > cap:
            why = (
                _EXCEEDED, CRITICAL, "metered mean power exceeds the cap beyond the meters' accuracy", True
            )
        elif reported_over and reported_past is not None and reported_past > cap:
            why = (_EXCEEDED, CRITICAL, "the nodes' own signed reports exceed the power cap", False)
        elif metered_over or reported_over:
            why = (
                _UNVERIFIABLE,
                WARNING,
                f"{'metered' if metered_over else 'reported'} mean power exceeds the cap, but not at"
                f" every shift of the bucket within the {EDGE_SKEW_S:.0f} s of clock skew tolerated"
                " (what the next or last bucket's readings that shift reads are not logged counts"
                " nothing): a clock within the skew moves that much of a load across an edge",
                metered_over,
            )
        elif f.metered_power_w is None:
            why = (
                _UNVERIFIABLE, WARNING, "no facility meter covers the bucket: the cap cannot be proven", False
            )
        elif not kept and high is not None and high <= cap:
            why = (
                _UNVERIFIABLE,
                WARNING,
                f"metered mean power is within the cap, but not at every shift of the bucket within the"
                f" {EDGE_SKEW_S:.0f} s of clock skew tolerated (the next or last bucket's readings that"
                " shift reads, or their time unread at the meter's highest power): a clock within the"
                " skew moves that much of a load across an edge",
                True,
            )
        elif not kept:
            why = (
                _UNVERIFIABLE,
                WARNING,
                "metered mean power is within the meters' accuracy of the cap: neither kept nor exceeded"
                " is proven",
                True,
            )
        else:
            return ()
        finding_id, severity, message, by_meters = why
        evidence = f.power_evidence if by_meters else ()
        return (Finding.make(finding_id, severity, subject, _span(ctx), message, q, evidence),)


_CLASS_ID = {
    types_pb2.WORKLOAD_CLASS_TRAINING: FindingId.WORKLOAD_TRAINING,
    types_pb2.WORKLOAD_CLASS_INFERENCE: FindingId.WORKLOAD_INFERENCE,
}


@dataclass(frozen=True)
class AllowedWorkloads:
    """Only the listed classes may run. A forbidden class is a VIOLATION on significant evidence
    (training: a sliding window whose count of ``training`` periods the false-label rate cannot
    explain, per node or over the facility; inference: most of a node's covered time); any
    ``training`` period, and any active period without positive evidence of an allowed class
    (``uncertain``, ``other``), blocks COMPLIANT."""

    allowed: frozenset[int]

    def evaluate(self, ctx: RuleContext) -> tuple[Finding, ...]:
        out: list[Finding] = []
        training_ok = types_pb2.WORKLOAD_CLASS_TRAINING in self.allowed
        inference_ok = types_pb2.WORKLOAD_CLASS_INFERENCE in self.allowed
        facility_window = ctx.training.get("*")
        for w in ctx.facts.workloads:
            subject = f"node:{w.node_id}"
            window = ctx.training.get(subject)
            q = {
                "covered_s": (w.covered_s, "s"),
                "training_s": (w.training_s, "s"),
                "ambiguous_s": (w.ambiguous_s + w.other_s, "s"),
                "inference_s": (w.inference_s, "s"),
                "idle_s": (w.idle_s, "s"),
                "training_score": (w.mean_training_score, "1"),
            }
            if window is not None:
                q["window_training_periods"] = (float(window.training_periods), "1")
                q["window_node_periods"] = (float(window.node_periods), "1")
                q["window_needed"] = (float(window.needed), "1")
            if w.training_s > 0:
                significant = (window is not None and window.significant) or (
                    facility_window is not None and facility_window.significant
                )
                severity = INFO if training_ok else (CRITICAL if significant else WARNING)
                out.append(
                    Finding.make(
                        FindingId.WORKLOAD_TRAINING,
                        severity,
                        subject,
                        _span(ctx),
                        f"training signature for {w.training_s:.0f} s of {w.covered_s:.0f} s"
                        + ("" if significant or training_ok else " (not yet significant: not evidence)"),
                        q,
                        window.evidence if window is not None else w.evidence,
                    )
                )
            silent = _too_silent(w)
            if (w.ambiguous_s + w.other_s > 0 or silent) and not training_ok:
                unexcused = _sustained_uncertainty(w)
                sustained = silent is not None or unexcused is not None
                if silent:
                    q["silent_s"] = (w.silent_s, "s")
                    q["silence_window_s"] = (w.silence_window_s, "s")
                out.append(
                    Finding.make(
                        FindingId.WORKLOAD_LOW_CONFIDENCE,
                        WARNING if sustained else INFO,
                        subject,
                        _span(ctx),
                        "; ".join(
                            part
                            for part in (
                                f"{w.ambiguous_s + w.other_s:.0f} s of activity with no positive"
                                " evidence of an allowed class (it cannot be told apart from training)"
                                if w.ambiguous_s + w.other_s > 0
                                else "",
                                "isolated periods between proven ones: recorded" if not sustained else "",
                                unexcused if unexcused and unexcused != _NOT_ISOLATED else "",
                                silent or "",
                            )
                            if part
                        ),
                        q,
                        w.evidence,
                    )
                )
            if w.inference_s > 0:
                forbidden = not inference_ok
                busy_share = w.inference_s / w.covered_s if w.covered_s else 0.0
                severity = INFO if not forbidden else (CRITICAL if busy_share >= PERSISTENCE else WARNING)
                out.append(
                    Finding.make(
                        FindingId.WORKLOAD_INFERENCE,
                        severity,
                        subject,
                        _span(ctx),
                        f"inference-like activity for {w.inference_s:.0f} s",
                        q,
                    )
                )
        if (
            facility_window is not None
            and facility_window.significant
            and not training_ok
            and not any(
                (tw := ctx.training.get(f"node:{w.node_id}")) is not None and tw.significant
                for w in ctx.facts.workloads
            )
        ):
            out.append(
                Finding.make(
                    FindingId.WORKLOAD_TRAINING,
                    CRITICAL,
                    f"facility:{ctx.facts.facility_id}",
                    (facility_window.start_ns, facility_window.end_ns),
                    f"{facility_window.training_periods} training periods among"
                    f" {facility_window.node_periods} node-periods in"
                    f" {window_words(facility_window, ctx.facts.end_ns - ctx.facts.start_ns)}, spread"
                    f" over nodes (evidence from {facility_window.needed})",
                    {
                        "training_periods": (float(facility_window.training_periods), "1"),
                        "node_periods": (float(facility_window.node_periods), "1"),
                        "needed": (float(facility_window.needed), "1"),
                    },
                    facility_window.evidence,
                )
            )
        return tuple(out)


def _too_silent(w: NodeWorkload) -> str | None:
    """Why the node's silence leaves the bucket unproven, or None: it left over
    ``MAX_SILENT_SHARE`` of its last hour up to the bucket's end (the bucket, if longer) without
    reports, some of it in this bucket, or over that share of the bucket itself. Short silences
    are filled at the node's mean power by the energy check, so training capped at that power
    could hide in them: a few minutes an hour are tolerated, a few in every short bucket are
    not, nor two of five in a 5-minute bucket while the hour before was clean (the hour alone
    let the first such buckets pass)."""
    if w.bucket_silent_s <= 0:
        return None
    if w.silent_s > MAX_SILENT_SHARE * w.silence_window_s:
        where = f"{w.silent_s:.0f} s of " + (
            "the bucket's most silent hour" if w.span_s > RECENT_S else f"the last {w.silence_window_s:.0f} s"
        )
    elif w.bucket_silent_s > MAX_SILENT_SHARE * w.span_s:
        where = f"{w.bucket_silent_s:.0f} s of the bucket's {w.span_s:.0f} s"
    else:
        return None
    return f"silent for {where} (over {MAX_SILENT_SHARE:.0%}): what ran then is unproven"


_NOT_ISOLATED = "not isolated"


def _sustained_uncertainty(w: NodeWorkload) -> str | None:
    """Why a node's ``uncertain``/``other`` periods block COMPLIANT, or None where they do not.

    Not counted: the first *partial* period of the bucket, sampled less than half as often as
    the node's typical period (the attestor started or stopped inside it: a restart is recorded
    on its own, and a handful of samples cannot tell serving from anything), or quiet but too
    sparsely sampled to prove idle with no energy counter spanning it (``sparse``: a daemon's
    first period, whose counter starts at its first sample). Any further
    partial period is judged like the others: the sample count is the attestor's own claim. The rest block
    COMPLIANT unless each stands alone between periods with positive evidence and they hold at
    most ``ISOLATED_UNCERTAIN_SHARE`` of the node's time (at least one typical period: the
    median length of its periods) — in the bucket, and in the bucket together with the node's
    hour before it (``RECENT_S``), so that short buckets do not each get a lone period of their
    own (one minute in every 5-minute bucket is 20 % of the time); over that window the "at
    least one" holds only where one period is within the share, so a short bucket with no
    history before it excuses none. Time, not periods, since rules/15: the periods' lengths are
    the attestor's own say. In a bucket longer than an hour, in each of its hours too
    (``_densest_hour``, rules/16). The classifier
    leaves a small share of honest serving minutes
    ``uncertain`` (docs/classify.md); a lone minute can hide at most one period's work, which
    the compute bound counts at its upper bound. Start-up periods back to back (a node that
    computes nothing while a model loads, then the minute the job or server started:
    ``LabelledPeriod.startup``) count as one; starts back to back do not. Nor is a lone period
    excused that drew more than ``LONE_DRAW_MAX`` times what the node's accelerators drew in its
    most drawing proven (idle or inference) period of the bucket, or where either draw is
    unknown (a device without power): the allowance is for the node's own work at its own
    level, not for a burst of training timed into it (rules/13). The partial period left out
    above is held to that draw too (rules/14)."""
    periods = sorted(w.periods, key=lambda p: (p.start_ns, p.log_index))
    counts = sorted(p.samples for p in periods)
    typical = counts[len(counts) // 2] if counts else 0
    # a daemon's first period, quiet but with no counter reaching back before its first sample
    # (``LabelledPeriod.sparse``), is a start too
    partial = [p for p in periods if (typical > 0 and 2 * p.samples < typical) or p.sparse]
    # one partial period a bucket is a start or a stop; more are the attestor's say-so (a
    # patched one could claim few samples for every period it wants excused, or restart at every
    # period's end): judged
    excused = {id(partial[0])} if partial else set()
    judged = [p for p in periods if id(p) not in excused]
    # A model loading on a node that computes nothing, minute after minute, and the minute the
    # job or server then started are one start-up: the chain's last period stands for it. Only
    # a load is merged into what follows it, and only where the two meet, so a chain computes in
    # its last minute at most, as any lone period; two starts in a row stay two (a device whose
    # memory is taken away and given back every minute computes in each).
    kept: list[LabelledPeriod] = []
    for p in judged:
        before = kept[-1] if kept else None
        if before is not None and before.startup == "load" and p.startup and before.end_ns == p.start_ns:
            kept[-1] = p
        else:
            kept.append(p)
    judged = kept
    lone = [p for p in judged if p.label in _NO_PROOF]
    # in seconds, not periods: a patched attestor reporting its serving in 30-s periods and each
    # training burst as one 120-s period held 17 % of its time in lone periods that were 5 % of
    # its periods (a red team of rules/14, 2026-12-07); honest periods of one length count as before
    lone_s = math.fsum(p.seconds for p in lone)
    # the union: a hostile attestor's overlapping periods count once
    judged_s = covered_ns(((p.start_ns, p.end_ns) for p in judged), w.bucket) / 1e9
    lengths = sorted(p.seconds for p in judged)
    one = lengths[len(lengths) // 2] if lengths else 0.0  # the node's typical period: the floor of one
    if lone_s > max(one, ISOLATED_UNCERTAIN_SHARE * judged_s) + _SLACK_S:
        return _NOT_ISOLATED
    # over the bucket and the hour before it, no floor of one: a window too short for one
    # period to be within the share (a short bucket with no history before it: a node's first,
    # or its first after an hour of silence) excuses none
    window_s = judged_s + w.recent_s
    if lone_s + w.recent_no_proof_s > ISOLATED_UNCERTAIN_SHARE * window_s + _SLACK_S:
        return _NOT_ISOLATED
    if _densest_hour(lone, judged, w.bucket, one):
        return _NOT_ISOLATED
    run = 0
    for p in judged:
        run = run + 1 if p.label in _NO_PROOF else 0
        if run >= 2:  # two in a row is no longer isolated
            return _NOT_ISOLATED
    # the partial period excused above is held to the same draw: a patched attestor claiming few
    # samples for one period a bucket would otherwise hide a minute at any draw every hour (a
    # sparse one is quiet at every sample it claims: its draw is that, and bounds nothing)
    spared = [p for p in periods if id(p) in excused and p.label in _NO_PROOF and not p.sparse]
    return _outdraws(lone + spared, judged)


def _densest_hour(
    lone: Sequence[LabelledPeriod], judged: Sequence[LabelledPeriod], bucket: tuple[int, int], one: float
) -> bool:
    """Whether the lone periods of a bucket longer than an hour hold more than the share (at
    least one typical period, ``one``) of the node's time in any hour of it: the share over the
    whole bucket let them bunch (a red team of rules/15, 2026-12-07: 71 one-minute training
    bursts, each between proven minutes, inside 3.5 hours of a day bucket, 2 % of the day,
    COMPLIANT; an hourly bucket excuses 3). Each hour starting or ending with a lone period."""
    hour = round(RECENT_S * 1e9)
    if bucket[1] - bucket[0] <= hour or not lone:
        return False
    lone_at = Cumulative((((p.start_ns, p.end_ns), p.seconds) for p in lone), bucket[0])
    union = merge((p.start_ns, p.end_ns) for p in judged)
    judged_at = Cumulative(((iv, (iv[1] - iv[0]) / 1e9) for iv in union), bucket[0])
    for p in lone:
        for start in (p.start_ns, p.end_ns - hour):
            a = min(max(start, bucket[0]), bucket[1] - hour)
            held = lone_at.between(a, a + hour)
            if held > max(one, ISOLATED_UNCERTAIN_SHARE * judged_at.between(a, a + hour)) + _SLACK_S:
                return True
    return False


def _outdraws(lone: Sequence[LabelledPeriod], judged: Sequence[LabelledPeriod]) -> str | None:
    """Why the lone periods are no allowance by their draw (``LONE_DRAW_MAX``), or None."""
    if not lone:
        return None
    proven = [p.drawn_w for p in judged if p.label in _PROVEN]
    if not proven or any(d is None for d in proven) or any(p.drawn_w is None for p in lone):
        return "a lone period's or a proven one's accelerator power unknown: no allowance"
    most = max(d for d in proven if d is not None)
    top = max(p.drawn_w for p in lone if p.drawn_w is not None)
    if top > LONE_DRAW_MAX * most:
        return (
            f"a lone period drew {top:.0f} W on the accelerators, over {LONE_DRAW_MAX:g}x the"
            f" {most:.0f} W of the node's most drawing proven period: no allowance"
        )
    return None


@dataclass(frozen=True)
class Continuity:
    """Every declared device and meter covered by valid reports for the whole bucket."""

    def evaluate(self, ctx: RuleContext) -> tuple[Finding, ...]:
        return ctx.facts.coverage_findings


@dataclass(frozen=True)
class EnergyBalanceRule:
    """Metered energy within the declared overhead band of what the nodes report."""

    def evaluate(self, ctx: RuleContext) -> tuple[Finding, ...]:
        return ctx.facts.energy_findings


@dataclass(frozen=True)
class EvidenceIntegrity:
    """Chains, freshness, inventory, plausibility and telemetry validity of the bucket's reports."""

    def evaluate(self, ctx: RuleContext) -> tuple[Finding, ...]:
        return ctx.facts.integrity_findings


def rules_for(commitment: Commitment, facility_id: str) -> AllOf:
    """The rule set a commitment asks for at one facility."""
    rules: list[Rule] = [Continuity(), EvidenceIntegrity(), EnergyBalanceRule()]
    if commitment.compute_cap_flop is not None:
        rules.append(ComputeCap(commitment.compute_cap_flop))
    cap = commitment.power_cap_for(facility_id)
    if cap is not None:
        rules.append(PowerCap(cap))
    if commitment.allowed_workloads:
        rules.append(AllowedWorkloads(commitment.allowed_workloads))
    return AllOf(tuple(rules))
