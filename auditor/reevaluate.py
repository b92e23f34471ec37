"""Re-running the evaluation for every logged verdict and comparing the results.

The verifier evaluates with :mod:`pausewatch.evaluation`; the auditor calls the very same
``Evaluator`` on the inputs each verdict says it read: the commitment version it names (made
effective by the terms in force at that log size, or implied by them for a lab without a
commitment: :class:`pausewatch.terms.TermsInForce`, the verifier's own plan), the
latest inventory of each facility in scope logged before ``evaluated_log_size``, every report
of those facilities logged before it (signatures already verified by the entry pass), and the
ingest findings re-derived from the log (chains with ``derive_ingest_findings``, challenges
with the freshness rule). ``compare_verdicts`` lists every difference; each is a failure
(``verdict.mismatch``). A verdict names the evaluation rules that made it (``rules``; empty
before they were named): one made under other rules than this auditor's
(``pausewatch.evaluation.RULES``) that re-derives the same is what these rules say too; one that
re-derives differently is ``verdict.rules`` — the difference may be the rules', not a lie, and
only a release that implements them can tell — or ``verdict.rules_order`` where the verdicts'
rules do not only move forward (``_rules_disorder``). Staleness is judged whatever the rules.

Two more checks: revisions (``check_revisions``: per bucket 0..n without gaps or repeats,
each superseding the previous one's envelope: ``verdict.revision``) and staleness (the latest
revision of each bucket re-evaluated over the log the verifier had read by its last
evaluation: a verifier that failed to revise, e.g. a compute-to-date cap crossed by late
reports in an earlier bucket, is ``verdict.stale``).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from auditor.outcome import MAX_RECORDED_FAILURES, AuditFailure, AuditOutcome, Observation
from pausewatch.commitment import Commitment
from pausewatch.envelope import envelope_digest
from pausewatch.errors import InputError
from pausewatch.evaluation import RULES, RULES_BEFORE, Evaluator, compare_verdicts, derive_ingest_findings
from pausewatch.evaluation.inputs import BucketRef, EvaluationInput, IngestFinding, LoggedReport
from pausewatch.inventory import Inventory
from pausewatch.terms import IMPLIED_PREFIX, PlannedCommitment, Terms, TermsInForce
from pausewatch.v1 import types_pb2

__all__ = ["check_revisions", "reevaluate_verdicts"]


def check_revisions(verdicts: Sequence[tuple[int, bytes, types_pb2.Verdict]], out: AuditOutcome) -> None:
    """Each (commitment, facility, bucket) holds revisions 0..n, each once, in log order; revision
    0 supersedes nothing and revision k supersedes the SHA-256 of revision k-1's envelope of the
    same bucket. A failure is ``verdict.revision``. Needs only the verdicts (any scope)."""
    buckets: dict[tuple[str, str, int], list[tuple[int, bytes, types_pb2.Verdict]]] = defaultdict(list)
    for entry in verdicts:
        v = entry[2]
        buckets[(v.commitment_id, v.facility_id, v.bucket_start_unix_ns)].append(entry)
    for (commitment_id, facility_id, start), members in buckets.items():
        where = f"{commitment_id}/{facility_id or '*'}@{start}"
        by_revision: dict[int, tuple[int, bytes, types_pb2.Verdict]] = {}
        for index, raw, v in sorted(members, key=lambda m: m[0]):
            if v.revision in by_revision:
                out.fail(
                    "verdict.revision",
                    where,
                    f"revision {v.revision} is logged twice (also at {by_revision[v.revision][0]})",
                    index,
                )
                continue
            by_revision[v.revision] = (index, raw, v)
        expected = 0
        for revision in sorted(by_revision):
            index, _, v = by_revision[revision]
            if revision != expected:
                out.fail(
                    "verdict.revision",
                    where,
                    f"revision {revision} follows revision {expected - 1}: revisions run 0, 1, 2 … no gaps"
                    if expected
                    else f"the first revision logged is {revision}, not 0",
                    index,
                )
            expected = revision + 1
            if revision == 0:
                if v.supersedes:
                    out.fail("verdict.revision", where, "revision 0 supersedes a verdict", index)
                continue
            older = by_revision.get(revision - 1)
            if older is None:
                continue  # the gap is named above
            if older[0] > index:
                out.fail(
                    "verdict.revision",
                    where,
                    f"revision {revision} is logged before revision {revision - 1} (at {older[0]})",
                    index,
                )
            if v.supersedes != envelope_digest(older[1]):
                out.fail(
                    "verdict.revision",
                    where,
                    f"revision {revision} does not supersede revision {revision - 1} (logged at {older[0]})",
                    index,
                )


class _Evaluators:
    """One ``Evaluator`` per (commitment, version, log size), built once from the bundle."""

    def __init__(
        self,
        reports: Sequence[LoggedReport],
        ingest: Sequence[IngestFinding],
        commitments: Sequence[tuple[int, types_pb2.Commitment]],
        inventories: Sequence[tuple[int, types_pb2.Inventory]],
        *,
        terms: Sequence[tuple[int, Terms]],
        log_times: Sequence[tuple[int, int]],
    ) -> None:
        self.reports = reports
        self.ingest = ingest
        self.log_times = log_times
        self.commitments = commitments
        self.inventories = inventories
        self.terms = terms
        self._cache: dict[tuple[str, int, int], Evaluator | str] = {}

    def get(self, commitment_id: str, version: int, size: int) -> Evaluator | str:
        """The evaluator, or why there is none: ``"commitment"`` (no such version logged before
        ``size``) or the input error's message."""
        key = (commitment_id, version, size)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._build(commitment_id, version, size)
        return cached

    def _plan(self, commitment_id: str, version: int, size: int) -> PlannedCommitment | None:
        """What the verifier evaluated under at log size ``size``: the commitment version made
        effective by the terms in force then, or the commitment the terms implied for a lab
        without one — the verifier's scheduler plans with the same ``TermsInForce``."""
        in_force = TermsInForce.latest(t for i, t in self.terms if i < size)
        if commitment_id.startswith(IMPLIED_PREFIX):
            newest: dict[str, types_pb2.Commitment] = {}
            for i, c in self.commitments:
                if i < size and c.version >= newest.get(c.commitment_id, c).version:
                    newest[c.commitment_id] = c
            implied = in_force.implied(Commitment.from_wire(c) for _, c in sorted(newest.items()))
            return next(
                (
                    p
                    for p in implied
                    if p.commitment.commitment_id == commitment_id and p.commitment.version == version
                ),
                None,
            )
        wire = next(
            (
                c
                for i, c in reversed(self.commitments)
                if i < size and c.commitment_id == commitment_id and c.version == version
            ),
            None,
        )
        return None if wire is None else in_force.effective(Commitment.from_wire(wire))

    def _build(self, commitment_id: str, version: int, size: int) -> Evaluator | str:
        try:
            plan = self._plan(commitment_id, version, size)
            if plan is None:
                return "commitment"
            versions: dict[str, list[tuple[int, Inventory]]] = {}
            for i, inv in sorted(self.inventories, key=lambda x: x[0]):
                if i < size:
                    versions.setdefault(inv.facility_id, []).append((i, Inventory.from_wire(inv)))
            inputs = EvaluationInput.planned(
                plan,
                inventories={fid: listed[-1][1] for fid, listed in versions.items()},
                reports=[r for r in self.reports if r.log_index < size],
                ingest_findings=sorted(
                    [f for f in self.ingest if f.log_index < size],
                    key=lambda f: (f.log_index, f.finding_id),
                ),
                evaluated_log_size=size,
                inventory_versions=versions,
                log_times=[t for t in self.log_times if t[0] < size],
            )
            return Evaluator(inputs)
        except InputError as e:
            return str(e)


def reevaluate_verdicts(
    reports: Sequence[LoggedReport],
    *,
    verdicts: Sequence[tuple[int, bytes, types_pb2.Verdict]],
    commitments: Sequence[tuple[int, types_pb2.Commitment]],
    inventories: Sequence[tuple[int, types_pb2.Inventory]],
    freshness: Sequence[IngestFinding],
    log_times: Sequence[tuple[int, int]],
    out: AuditOutcome,
    terms: Sequence[tuple[int, Terms]] = (),
    allow_other_rules: bool = False,
) -> None:
    """Re-evaluate each verdict; a difference or a verdict that cannot be re-run is a failure
    (one of other evaluation rules that re-derives differently: ``verdict.rules``, listed
    instead where ``allow_other_rules``). Then check that the verifier's rules never went back
    (``verdict.rules_order``) and that the latest revision of each bucket is not stale
    (``verdict.stale``, see ``_check_stale``). ``verdicts`` are (log index, envelope bytes,
    message) of signature-verified verdicts; ``reports`` every report logged before the largest
    ``evaluated_log_size``, in log order, as the entry pass decoded them; ``log_times`` (log
    index, issue time) of every logged challenge, in log order: the log's clock, which closes
    each bucket (``pausewatch.evaluation.verdict.bucket_inventory``)."""
    if not verdicts:
        return
    evaluators = _Evaluators(
        reports,
        (*derive_ingest_findings(reports), *freshness),
        commitments,
        inventories,
        terms=terms,
        log_times=log_times,
    )
    by_digest = {envelope_digest(raw): v for _, raw, v in verdicts}
    disorder = _rules_disorder(verdicts, out)
    rederived: dict[int, types_pb2.Verdict] = {}  # log index → its re-run at its own log size
    for index, _, verdict in sorted(verdicts, key=lambda m: (m[2].evaluated_log_size, m[0])):
        where = _where(verdict)
        size = verdict.evaluated_log_size
        evaluator = evaluators.get(verdict.commitment_id, verdict.commitment_version, size)
        if isinstance(evaluator, str):
            if evaluator == "commitment":
                out.fail(
                    "verdict.commitment",
                    f"{verdict.commitment_id} v{verdict.commitment_version}",
                    "no such commitment version is logged before it",
                    index,
                )
            else:
                out.fail(
                    "verdict.inputs",
                    f"{verdict.commitment_id} v{verdict.commitment_version}",
                    f"cannot rebuild the evaluation inputs: {evaluator}",
                    index,
                )
            _mark(out, verdict, matches=False)
            continue
        if size > index:
            out.fail(
                "verdict.prefix", where, f"claims to have read {size} entries but is logged at {index}", index
            )
            _mark(out, verdict, matches=False)
            continue
        previous = None
        if verdict.supersedes:
            older = by_digest.get(verdict.supersedes)
            if older is None:
                out.fail("verdict.supersedes", where, "supersedes a verdict that is not in the bundle", index)
                _mark(out, verdict, matches=False)
                continue
            previous = older.evaluated_log_size
        bucket = BucketRef(
            verdict.facility_id, verdict.bucket_start_unix_ns, verdict.bucket_end_unix_ns, previous
        )
        try:
            recomputed = evaluator.verdict(bucket, verdict.evaluated_unix_ns)
        except (InputError, ValueError) as e:
            out.fail("verdict.rerun", where, f"the evaluation could not run: {e}", index)
            _mark(out, verdict, matches=False)
            continue
        rederived[index] = recomputed
        diffs = compare_verdicts(verdict, recomputed)
        if diffs and verdict.rules != RULES and disorder:
            out.fail(
                "verdict.rules_order",
                where,
                f"made under {_rules_text(verdict.rules)} and re-derived differently ({_join(diffs)}),"
                f" in a log whose verdicts' rules do not only move forward ({disorder}): what a"
                " verifier that wants its lies read as differences of rules would sign; not"
                " accepted as unverified",
                index,
            )
            _mark(out, verdict, matches=False, rederived=recomputed, rerun="other rules")
        elif diffs and verdict.rules != RULES:
            _unverified(out, index, verdict, recomputed, diffs, listed=allow_other_rules)
        elif diffs:
            out.fail("verdict.mismatch", where, _join(diffs), index)
            _mark(out, verdict, matches=False, rederived=recomputed)
        else:
            out.verdicts_matched += 1
            _mark(out, verdict, matches=True, rederived=recomputed)
    _check_stale(verdicts, [*commitments, *terms], inventories, evaluators, by_digest, rederived, out)


def _unverified(
    out: AuditOutcome,
    index: int,
    verdict: types_pb2.Verdict,
    recomputed: types_pb2.Verdict,
    diffs: Sequence[str],
    *,
    listed: bool,
) -> None:
    """A verdict of other rules that re-derives differently: the difference may be the rules',
    not a lie, and nothing here tells which (where the re-run agrees, the verdict is what these
    rules say too). ``verdict.rules``: a failure, or ``listed`` as unverified — except where
    these rules find a VIOLATION the verdict did not say."""
    out.verdicts_other_rules += 1
    failure = AuditFailure(
        "verdict.rules",
        _where(verdict),
        f"made under {_rules_text(verdict.rules)}; this auditor implements {RULES!r} and"
        f" re-derives it differently ({_join(diffs)}). It cannot tell a difference of rules"
        " from a false verdict: the verdict is unverified until a pausewatch-audit release"
        " with its rules re-derives it (--allow-other-rules lists it instead of failing)",
        index,
    )
    # A violation these rules find where the verdict said none is never merely unverified: the
    # parties must see it, whatever rules the verdict was made under.
    hidden_violation = (
        recomputed.status == types_pb2.VERDICT_STATUS_VIOLATION
        and verdict.status != types_pb2.VERDICT_STATUS_VIOLATION
    )
    if listed and not hidden_violation:
        if len(out.other_rules) < MAX_RECORDED_FAILURES:  # the count has them all
            out.other_rules.append(failure)
    else:
        out.fail(failure.check, failure.subject, failure.message, failure.index)
    _mark(out, verdict, matches=False, rederived=recomputed, rerun="other rules")


MAX_RULES_SHOWN: Final = 64  # characters of a verdict's ``rules`` quoted back (the verifier's text)


def _rules_text(rules: str) -> str:
    """How a message names a verdict's rules."""
    if not rules:
        return "unnamed evaluation rules (a release before verdicts named them)"
    shown = repr(rules[:MAX_RULES_SHOWN]) + ("…" if len(rules) > MAX_RULES_SHOWN else "")
    if rules in RULES_BEFORE or rules == RULES:
        return f"the evaluation rules {shown}"
    return f"the evaluation rules {shown}, which no release up to this one made"


def _rules_rank(rules: str) -> int:
    """Where ``rules`` stand in the releases' order: unnamed first, then ``RULES_BEFORE`` and
    ``RULES``; a name this release does not know is a later release's (or none's), after them
    all — so known rules after it go back. (``RULES_BEFORE`` must name every earlier release.)"""
    order = ("", *RULES_BEFORE, RULES)
    return order.index(rules) if rules in order else len(order)


def _rules_disorder(verdicts: Sequence[tuple[int, bytes, types_pb2.Verdict]], out: AuditOutcome) -> str:
    """How the verdicts' rules fail to only move forward, in log order ("" where they do).

    An honest verifier's verdicts name each release's rules in one unbroken run, in the
    releases' order: a name that comes back after another (``RULES``, x, ``RULES``), or rules
    older than rules before them (a name this release does not know counts as newer than all
    it knows: x, then ``RULES``), is what a verifier would sign that wants lies read as
    differences of rules. Where that happens, a verdict of other rules that re-derives
    differently is ``verdict.rules_order``, never merely unverified; one that re-derives the
    same is harmless (a rollback that changed nothing), and the disorder is an observation."""
    runs: list[tuple[str, int]] = []  # (rules, log index of the run's first verdict)
    for index, _, v in sorted(verdicts, key=lambda m: m[0]):
        if not runs or runs[-1][0] != v.rules:
            runs.append((v.rules, index))
    seen: set[str] = set()
    newest: tuple[int, str] | None = None  # the highest rank so far, and its rules
    for k, (rules, index) in enumerate(runs):
        rank = _rules_rank(rules)
        back = ""
        if rules in seen:
            other, since = runs[k - 1]
            back = (
                f"{_rules_text(rules)} again at log index {index},"
                f" after {other[:MAX_RULES_SHOWN]!r} from {since} on"
            )
        elif newest is not None and rank < newest[0]:
            newer = newest[1][:MAX_RULES_SHOWN]
            back = f"{_rules_text(rules)} at log index {index}, after the newer {newer!r}"
        if back:
            out.observations.append(Observation("verdict.rules_order", "verdicts", index, back))
            return back
        seen.add(rules)
        if newest is None or rank > newest[0]:
            newest = (rank, rules)
    return ""


def _check_stale(  # noqa: PLR0917  # one pass over the verdicts with the tables built above
    verdicts: Sequence[tuple[int, bytes, types_pb2.Verdict]],
    commitments: Sequence[tuple[int, object]],
    inventories: Sequence[tuple[int, types_pb2.Inventory]],
    evaluators: _Evaluators,
    by_digest: dict[bytes, types_pb2.Verdict],
    rederived: dict[int, types_pb2.Verdict],
    out: AuditOutcome,
) -> None:
    """A verifier that failed to revise a verdict is caught here: the latest revision of each
    (commitment, facility, bucket) is re-evaluated over every report logged before the
    verifier last evaluated anything — the largest ``evaluated_log_size`` in the bundle, where
    the verifier provably read the log (a late report in an earlier bucket, of any facility,
    changes compute to date) — and must agree with it except for the log size it read.

    The horizon stops early at the next inventory, commitment or terms document (``commitments``
    holds both) logged after the verdict: the verifier does not revise past buckets for a new
    inventory or terms version, so only reports
    count against it. A verdict logged in the same tick as the horizon is up to date by
    construction; nothing past the verifier's last evaluation is held against it."""
    horizon = max(v.evaluated_log_size for _, _, v in verdicts)
    doc_indices = sorted(
        {i for i, _ in inventories} | {i for i, _ in commitments},
    )
    latest: dict[tuple[str, str, int], tuple[int, types_pb2.Verdict]] = {}
    for index, _, v in verdicts:
        key = (v.commitment_id, v.facility_id, v.bucket_start_unix_ns)
        have = latest.get(key)
        if have is None or (v.revision, index) > (have[1].revision, have[0]):
            latest[key] = (index, v)
    for index, v in latest.values():
        size = v.evaluated_log_size
        if size >= horizon:
            continue
        nxt = bisect.bisect_left(doc_indices, size)
        limit = min(horizon, doc_indices[nxt]) if nxt < len(doc_indices) else horizon
        if limit <= size:
            continue
        evaluator = evaluators.get(v.commitment_id, v.commitment_version, limit)
        if isinstance(evaluator, str):
            continue  # the verdict's own re-run names what is wrong with its inputs
        previous = None
        if v.supersedes:
            older = by_digest.get(v.supersedes)
            if older is None:
                continue  # named by verdict.supersedes
            previous = older.evaluated_log_size
        bucket = BucketRef(v.facility_id, v.bucket_start_unix_ns, v.bucket_end_unix_ns, previous)
        try:
            recomputed = evaluator.verdict(bucket, v.evaluated_unix_ns)
        except (InputError, ValueError):
            continue  # named by verdict.rerun
        # Against what these rules make of the log the verdict read (the verdict itself where it
        # is of these rules and matched): a difference is then the log's, never the rules'.
        reference = v if v.rules == RULES else rederived.get(index)
        if reference is None:
            continue  # its own re-run failed, and says why
        diffs = [d for d in compare_verdicts(reference, recomputed) if not d.startswith("evaluated_log_size")]
        if diffs:
            out.fail(
                "verdict.stale",
                _where(v),
                f"revision {v.revision} read {size} entries; over the {limit} the verifier had read"
                f" by its last evaluation it would differ (no new revision was logged): {_join(diffs)}",
                index,
            )
            _mark(out, v, matches=False)


def _where(v: types_pb2.Verdict) -> str:
    return f"{v.commitment_id}/{v.facility_id or '*'}@{v.bucket_start_unix_ns}"


def _join(diffs: Sequence[str]) -> str:
    return "; ".join(diffs[:5]) + (" …" if len(diffs) > 5 else "")


_STATUS_NAMES = {
    types_pb2.VERDICT_STATUS_COMPLIANT: "COMPLIANT",
    types_pb2.VERDICT_STATUS_VIOLATION: "VIOLATION",
    types_pb2.VERDICT_STATUS_INCONCLUSIVE: "INCONCLUSIVE",
}


def _mark(
    out: AuditOutcome,
    verdict: types_pb2.Verdict,
    *,
    matches: bool,
    rederived: types_pb2.Verdict | None = None,
    rerun: str | None = None,
) -> None:
    """Record the re-run's outcome on the verdict's mark (the report and ``audit --json``)."""
    series = out.series.get(verdict.facility_id or "*")
    if series is None:
        return
    key = (verdict.commitment_id, verdict.bucket_start_unix_ns, verdict.revision)
    for k, mark in enumerate(series.verdicts):
        if (mark.commitment_id, mark.start_ns, mark.revision) != key:
            continue
        if not matches and mark.rerun == "mismatch" and rederived is None:
            continue  # keep the status a first re-run found
        status = mark.rederived_status
        if rederived is not None:
            status = _STATUS_NAMES.get(rederived.status, "UNSPECIFIED")
        series.verdicts[k] = replace(
            mark,
            matches=matches and mark.matches,
            rerun=rerun or ("match" if matches and mark.matches else "mismatch"),
            rederived_status=status,
        )
