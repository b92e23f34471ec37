"""Evaluation on a schedule: verdicts as buckets close, new revisions when late reports arrive.

Every ``interval_s`` of the injected clock, ``EvaluationScheduler.tick``:

1. reads (on the sequencer's thread) the latest version of every stored commitment, the latest
   inventory of each facility in its scope, the reports and ingest findings of its window up
   to now, the log size, and the latest stored verdict of each bucket;
2. evaluates (off the event loop, with the pure ``pausewatch.evaluation`` functions) every
   (facility, bucket) that closed at least ``grace_s`` ago and has no verdict yet (revision 0),
   or whose stored verdict predates reports logged since for that bucket *or any earlier
   bucket of any facility in scope* — compute to date sums them all, so a report held back
   from an early bucket can put every later verdict over the cap — or names an older
   commitment version (a re-evaluation with ``previous_log_size``; stored as revision n+1 with
   ``supersedes`` = SHA-256 of the previous envelope — only when the result differs: nothing
   is ever silently overwritten);
3. signs each new verdict with the verdict key (``PayloadType.VERDICT``), appends it to the log
   and stores it through the sequencer, and publishes alerts for its findings.

Under multilateral terms (``pausewatch.terms``) each commitment is evaluated as made effective
by the terms in force (the stricter of the two), and a lab the terms cover without a commitment
is evaluated under the terms alone (commitment ``terms:<terms id>:<lab id>``, INCONCLUSIVE at
best with ``terms.no_commitment``). A new terms version, like a new inventory, starts the state
afresh and revises no past bucket by itself.

Stored documents, reports and findings were verified on arrival; the scheduler only decodes them.

Cost: incremental. The scheduler keeps, per commitment, an ``Evaluator`` that holds the
reports read so far, per-bucket facts and the newest log index seen per bucket. A tick reads
only the reports logged since the last one (``after_log_index``), hands them to
``Evaluator.extend`` — which drops the cached facts of just the buckets they touch — and
evaluates the buckets that closed, and every closed bucket from the earliest one the late
reports touch on (in every facility): a late report costs a re-evaluation of every later
closed bucket, and ``_differs`` keeps the unchanged ones out of the log. Each verdict evaluated
is exactly what an evaluation from scratch over the same log prefix gives
(tests/evaluation/test_scheduler.py checks this over a simulated day with late reports), and
after a tick that ``max_buckets_per_tick`` did not cut short, the latest revision of every
closed bucket agrees with such an evaluation, up to ``evaluated_log_size`` (the auditor checks
this: ``verdict.stale``). One exception: a new inventory version starts the state afresh but
revises no past bucket by itself (the auditor's staleness check stops at the next logged
inventory or commitment for the same reason).
Ingest findings are still listed whole each tick (the storage API has no ``after_log_index``
for findings; they are few) but only new ones are decoded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from pausewatch.clock import Clock
from pausewatch.commitment import Commitment
from pausewatch.envelope import PayloadType, envelope_digest, parse_envelope, parse_message, sign_envelope
from pausewatch.errors import InputError
from pausewatch.evaluation import (
    BucketRef,
    EvaluationInput,
    Evaluator,
    IngestFinding,
    LoggedReport,
    commitment_scope,
    compare_verdicts,
)
from pausewatch.inventory import Inventory
from pausewatch.keys import Signer
from pausewatch.reports import ReportHeader
from pausewatch.terms import Terms, TermsInForce
from pausewatch.v1 import types_pb2
from verifier.alert_bus import AlertBus
from verifier.sequencer import LogSequencer
from verifier.storage import StorageReader, StoredVerdict

__all__ = ["ALERT_FINDINGS", "EvaluationScheduler", "SchedulerConfig", "TickResult"]

_log = logging.getLogger("pausewatch.verifier.scheduler")
NS_PER_S: Final = 1_000_000_000

ALERT_FINDINGS: Final = frozenset(
    {
        "workload.training",
        "workload.inference",
        "compute.cap_exceeded",
        "power.cap_exceeded",
        "continuity.gap",
        "continuity.timeout",
        "chain.fork",
        "chain.rollback",
        "energy.unexplained",
    }
)
"""Finding ids that raise an alert (at WARNING or CRITICAL severity)."""


@dataclass(frozen=True)
class SchedulerConfig:
    """Scheduling knobs; defaults in brackets, limits enforced when built."""

    interval_s: float = 30.0  # [30] how often to look for closed buckets
    grace_s: float = 120.0  # [120] wait after a bucket closes for in-flight reports
    max_buckets_per_tick: int = 2000  # [2000] bounds one tick's work; the rest waits

    def __post_init__(self) -> None:
        if not (0.1 <= self.interval_s <= 3600):
            raise InputError("scheduler.interval_s must be within 0.1 … 3600")
        if not (0 <= self.grace_s <= 86_400):
            raise InputError("scheduler.grace_s must be within 0 … 86400")
        if not (1 <= self.max_buckets_per_tick <= 1_000_000):
            raise InputError("scheduler.max_buckets_per_tick must be within 1 … 1000000")


@dataclass
class _State:
    """What the scheduler keeps of one commitment between ticks (see the module docstring)."""

    identity: tuple[bytes, ...]  # digests of the commitment and inventory envelopes it was built on
    evaluator: Evaluator
    cursor: dict[str, int] = field(default_factory=dict)  # facility → last log index read
    pending: list[LoggedReport] = field(default_factory=list)  # read, period not yet begun by `now`
    admitted: set[int] = field(default_factory=set)  # log indices handed to the evaluator
    headers: dict[int, ReportHeader] = field(default_factory=dict)
    attached: set[tuple[str, int, int]] = field(default_factory=set)  # (facility, log index, nth)
    newest: dict[tuple[str, int], int] = field(default_factory=dict)  # (facility, bucket) → log index


@dataclass(frozen=True)
class _Snapshot:
    commitment: Commitment
    state: _State
    reports: tuple[LoggedReport, ...]  # newly admitted this tick
    ingest: tuple[IngestFinding, ...]  # newly attached this tick
    log_size: int
    latest: dict[tuple[str, int], tuple[StoredVerdict, types_pb2.Verdict]]


@dataclass
class TickResult:
    evaluated: int = 0
    stored: list[types_pb2.Verdict] = field(default_factory=list)
    unchanged: int = 0
    revisions: int = 0  # stored verdicts that revise an earlier one
    earliest_revised_ns: int | None = None  # the oldest bucket they revise

    def count_revision(self, verdict: types_pb2.Verdict) -> None:
        self.revisions += 1
        start = verdict.bucket_start_unix_ns
        self.earliest_revised_ns = min(start, self.earliest_revised_ns or start)


_LOUD_REVISIONS: Final = 100  # one tick revising this many verdicts is logged as a warning


class EvaluationScheduler:
    """Evaluates closed buckets on the injected clock; see the module docstring."""

    def __init__(
        self,
        sequencer: LogSequencer,
        verdict_signer: Signer,
        clock: Clock,
        config: SchedulerConfig | None = None,
        alert_bus: AlertBus | None = None,
        *,
        on_tick: Callable[[TickResult], None] | None = None,
        horizon: Callable[[], int] | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        """``on_tick`` gets each tick's result (metrics: verdicts by status, revisions);
        ``on_error`` is called for each failed tick."""
        self._on_error = on_error
        self._seq = sequencer
        self._signer = verdict_signer
        self._clock = clock
        self.config = config or SchedulerConfig()
        self._bus = alert_bus
        self._stopping = asyncio.Event()
        self._states: dict[str, _State] = {}
        self._on_tick = on_tick  # metrics: revisions per tick
        # verdicts only for buckets ended by this time (≤ now; log time's settled_ns after a
        # forward clock step, verifier.log_time)
        self._horizon = horizon or clock.now_ns

    async def run(self) -> None:
        """Tick until ``stop``; a failing tick is logged and retried next interval (whatever
        failed: the task that makes every verdict never ends on one input)."""
        while not self._stopping.is_set():
            try:
                await self.tick()
            except InputError as e:
                _log.error("evaluation tick failed on stored input", extra={"error": str(e)})
                if self._on_error is not None:
                    self._on_error()
            except Exception:
                _log.exception("evaluation tick failed")
                if self._on_error is not None:
                    self._on_error()
            await self._clock.sleep(self.config.interval_s)

    def _failed(self, snap: _Snapshot, what: str) -> None:
        """One commitment's evaluation raised: logged and counted; the others go on."""
        _log.exception(what, extra={"commitment_id": snap.commitment.commitment_id})
        if self._on_error is not None:
            self._on_error()

    def stop(self) -> None:
        self._stopping.set()

    async def tick(self) -> TickResult:
        now = self._clock.now_ns()
        snapshots = await self._seq.read(lambda r: self._load(r, now))
        result = TickResult()
        budget = self.config.max_buckets_per_tick
        # One commitment's failure (a bug an input reaches) costs that commitment its verdicts
        # this tick, never another's: a verdict is a function of its own commitment's inputs.
        failed: set[int] = set()
        for k, snap in enumerate(snapshots):  # every commitment's state takes what it read
            try:
                await asyncio.to_thread(snap.state.evaluator.extend, snap.reports, snap.ingest, snap.log_size)
            except Exception:
                self._failed(snap, "evaluation failed to read a commitment's new entries")
                self._states.pop(snap.commitment.commitment_id, None)  # read again from the store
                failed.add(k)
        horizon = min(now, self._horizon())
        for k, snap in enumerate(snapshots):
            if k in failed:
                continue
            plans = self._plan(snap, horizon)[:budget]
            budget -= len(plans)
            if not plans:
                continue
            try:
                verdicts = await asyncio.to_thread(self._evaluate, snap, plans)
            except Exception:
                self._failed(snap, "evaluation of a commitment's buckets failed")
                continue
            for previous, verdict in verdicts:
                result.evaluated += 1
                if previous is not None and not _differs(previous[1], verdict):
                    result.unchanged += 1
                    continue
                await self._store(snap, previous, verdict, now)
                result.stored.append(verdict)
                if previous is not None:
                    result.count_revision(verdict)
            if budget <= 0:
                break
        self._report(result)
        return result

    def _report(self, result: TickResult) -> None:
        """Revisions are visible: counted (``on_tick``: metrics), logged, loudly when many."""
        if self._on_tick is not None:
            self._on_tick(result)
        if not result.revisions:
            return
        extra = {"revisions": result.revisions, "earliest_bucket_ns": result.earliest_revised_ns}
        if result.revisions >= _LOUD_REVISIONS:
            _log.warning("one evaluation tick revised many verdicts (late reports?)", extra=extra)
        else:
            _log.info("verdicts revised", extra=extra)

    # --- reading (sequencer thread) -------------------------------------------------------
    def _load(self, reader: StorageReader, now: int) -> list[_Snapshot]:
        latest_docs: dict[str, bytes] = {}
        versions: dict[str, int] = {}
        for doc in reader.commitments():
            if doc.version >= versions.get(doc.document_id, 0):
                versions[doc.document_id] = doc.version
                latest_docs[doc.document_id] = doc.envelope
        out = []
        log_size = reader.log_size()
        # Multilateral terms: every commitment made effective by the terms in force, plus the
        # commitments the terms imply for covered labs without one (pausewatch.terms — the
        # auditor plans its re-evaluation with the same function).
        terms_docs = _latest_terms(reader)
        in_force = TermsInForce.latest(
            Terms.from_wire(parse_message(parse_envelope(d).payload, types_pb2.Terms)) for d in terms_docs
        )
        terms_identity = tuple(envelope_digest(d) for d in terms_docs)
        commitments = [
            Commitment.from_wire(parse_message(parse_envelope(env).payload, types_pb2.Commitment))
            for _, env in sorted(latest_docs.items())
        ]
        for plan in in_force.plan(commitments):
            commitment = plan.commitment
            cid = commitment.commitment_id
            facility_ids = set(commitment.facility_ids)
            if commitment.all_facilities_of_lab:
                facility_ids |= {d.document_id for d in reader.inventories() if d.lab_id == commitment.lab_id}
            inv_docs = {fid: reader.latest_inventory(fid) for fid in sorted(facility_ids)}
            identity = (
                b"" if plan.implied else envelope_digest(latest_docs[cid]),
                *terms_identity,
                *(b"" if d is None else envelope_digest(d.envelope) for d in inv_docs.values()),
            )
            state = self._states.get(cid)
            if state is None or state.identity != identity:
                inventories: dict[str, Inventory] = {}
                logged: dict[str, list[tuple[int, Inventory]]] = {}
                for fid, inv_doc in inv_docs.items():
                    if inv_doc is None:
                        continue
                    # every version logged up to the latest: each report is read against the
                    # version logged last before it (``UsageReader``)
                    for doc in reader.inventories(fid):
                        if doc.log_index <= inv_doc.log_index:
                            wire = parse_message(parse_envelope(doc.envelope).payload, types_pb2.Inventory)
                            logged.setdefault(fid, []).append((doc.log_index, Inventory.from_wire(wire)))
                    inventories[fid] = logged[fid][-1][1]
                # the log's clock, for each bucket's inventory version (``bucket_inventory``):
                # read once per build, as the versions are. A challenge logged after the build
                # closes buckets under the latest version, which it still is: a new version
                # changes ``identity`` and rebuilds
                clock = [
                    (ch.log_index, ch.issued_ns)
                    for ch in reader.challenges(start_ns=commitment.window_start_ns)
                    if ch.log_index < log_size
                ]
                inputs = EvaluationInput.planned(
                    plan, inventories, (), inventory_versions=logged, log_times=clock
                )
                state = _State(identity, Evaluator(inputs))
                self._states[cid] = state
            end = min(now, commitment.window_end_ns)
            admitted = self._read_reports(reader, state, commitment, sorted(facility_ids), end, log_size)
            ingest = self._read_findings(reader, state, commitment, sorted(facility_ids), end)
            latest: dict[tuple[str, int], tuple[StoredVerdict, types_pb2.Verdict]] = {}
            for fid in commitment_scope(sorted(facility_ids)):
                for start, _ in commitment.buckets(until_ns=end):
                    sv = reader.latest_verdict(cid, fid, start)
                    if sv is not None:
                        v = parse_message(parse_envelope(sv.envelope).payload, types_pb2.Verdict)
                        latest[(fid, start)] = (sv, v)
            out.append(_Snapshot(commitment, state, tuple(admitted), tuple(ingest), log_size, latest))
        return out

    @staticmethod
    def _read_reports(  # noqa: PLR0917  # one commitment's read, in its parts
        reader: StorageReader,
        state: _State,
        c: Commitment,
        facility_ids: list[str],
        end: int,
        log_size: int,
    ) -> list[LoggedReport]:
        """Reports logged since the last tick; those whose period began before ``end`` are
        admitted (the rest wait in ``pending``, exactly as a read up to ``end`` leaves them out)."""
        fresh = list(state.pending)
        for fid in facility_ids:
            cursor = state.cursor.get(fid, -1)
            for stored in reader.reports(fid, c.window_start_ns, c.window_end_ns, after_log_index=cursor):
                if stored.log_index >= log_size:
                    break
                fresh.append(LoggedReport.from_verified(stored.log_index, parse_envelope(stored.envelope)))
                state.headers[stored.log_index] = stored.header
                cursor = stored.log_index
            state.cursor[fid] = cursor
        admitted = [r for r in fresh if r.header.period_start_ns < end]
        state.pending = [r for r in fresh if r.header.period_start_ns >= end]
        bucket_ns = c.reporting.bucket_ns
        for r in admitted:
            state.admitted.add(r.log_index)
            start = max(r.header.period_start_ns, c.window_start_ns)
            k = (start - c.window_start_ns) // bucket_ns
            while c.window_start_ns + k * bucket_ns < min(r.header.period_end_ns, c.window_end_ns):
                key = (r.header.facility_id, c.window_start_ns + k * bucket_ns)
                state.newest[key] = max(state.newest.get(key, -1), r.log_index)
                k += 1
        return admitted

    @staticmethod
    def _read_findings(
        reader: StorageReader, state: _State, c: Commitment, facility_ids: list[str], end: int
    ) -> list[IngestFinding]:
        """Chain and freshness findings of admitted reports not handed to the evaluator yet."""
        out: list[IngestFinding] = []
        for fid in facility_ids:
            nth: dict[int, int] = {}
            for f in reader.findings(fid, c.window_start_ns, end):
                n = nth.get(f.log_index, 0)
                nth[f.log_index] = n + 1
                key = (fid, f.log_index, n)
                if key in state.attached or f.log_index not in state.admitted:
                    continue
                h = state.headers.get(f.log_index)
                if h is None or not f.finding.id.startswith(("chain.", "freshness.")):
                    continue
                state.attached.add(key)
                q = {x.name: x.value for x in f.finding.quantities}
                first = int(q["first_missing_seq"]) if "first_missing_seq" in q else None
                count = int(q.get("missing_reports", 0))
                kind = h.kind.subject_prefix
                out.append(
                    IngestFinding(
                        finding_id=f.finding.id,
                        log_index=f.log_index,
                        key_id=h.key_id,
                        facility_id=fid,
                        subject=kind + h.subject_id,
                        start_ns=h.period_start_ns,
                        end_ns=h.period_end_ns,
                        message=f.finding.message,
                        missing_first=first,
                        missing_last=None if first is None or count < 1 else first + count - 1,
                    )
                )
        return out

    # --- planning and evaluation (pure) ----------------------------------------------------
    def _plan(self, snap: _Snapshot, now: int) -> list[BucketRef]:
        c = snap.commitment
        grace = int(self.config.grace_s * NS_PER_S)
        newest = snap.state.newest
        scope = sorted(set(c.facility_ids) | set(snap.state.evaluator.inputs.inventories))
        facilities = commitment_scope(scope)
        newest_by_start: dict[int, int] = {}  # bucket start → newest log index, any facility
        for (_, start), index in newest.items():
            newest_by_start[start] = max(newest_by_start.get(start, -1), index)
        plans = []
        newest_to_date = -1  # newest log index of a report in any facility's bucket up to here
        for start, end in c.buckets(until_ns=now):
            newest_to_date = max(newest_to_date, newest_by_start.get(start, -1))
            if end + grace > now:
                continue
            for fid in facilities:
                previous = snap.latest.get((fid, start))
                if previous is None:
                    plans.append(BucketRef(fid, start, end))
                elif (
                    # Not only this bucket's reports: compute to date sums every facility's
                    # buckets from the window start, so a late report in an earlier bucket
                    # (of any facility) can change this verdict (``compute.cap_exceeded``).
                    newest_to_date >= previous[1].evaluated_log_size
                    or previous[1].commitment_version != c.version
                ):
                    plans.append(BucketRef(fid, start, end, previous_log_size=previous[1].evaluated_log_size))
        return plans

    def _evaluate(
        self, snap: _Snapshot, plans: Sequence[BucketRef]
    ) -> list[tuple[tuple[StoredVerdict, types_pb2.Verdict] | None, types_pb2.Verdict]]:
        evaluator = snap.state.evaluator
        now = self._clock.now_ns()
        return [(snap.latest.get((b.facility_id, b.start_ns)), evaluator.verdict(b, now)) for b in plans]

    # --- storing and alerting ----------------------------------------------------------------
    async def _store(
        self,
        snap: _Snapshot,
        previous: tuple[StoredVerdict, types_pb2.Verdict] | None,
        verdict: types_pb2.Verdict,
        now: int,
    ) -> None:
        if previous is not None:
            verdict.revision = previous[0].revision + 1
            verdict.supersedes = envelope_digest(previous[0].envelope)
        envelope = sign_envelope(
            PayloadType.VERDICT, verdict.SerializeToString(deterministic=True), [self._signer]
        )
        record = StoredVerdict(
            log_index=0,
            commitment_id=verdict.commitment_id,
            commitment_version=verdict.commitment_version,
            facility_id=verdict.facility_id,
            bucket_start_ns=verdict.bucket_start_unix_ns,
            bucket_end_ns=verdict.bucket_end_unix_ns,
            revision=verdict.revision,
            status=verdict.status,
            evaluated_ns=verdict.evaluated_unix_ns,
            envelope=envelope,
        )
        receipt = await self._seq.append_verdict(envelope, record)
        _log.info(
            "verdict stored",
            extra={
                "commitment_id": verdict.commitment_id,
                "facility_id": verdict.facility_id,
                "bucket_start_ns": verdict.bucket_start_unix_ns,
                "revision": verdict.revision,
                "status": types_pb2.VerdictStatus.Name(verdict.status),
                "log_index": receipt.log_index,
                "reason": verdict.reason,
            },
        )
        if self._bus is None:
            return
        for f in verdict.findings:
            if f.id in ALERT_FINDINGS and f.severity >= types_pb2.SEVERITY_WARNING:
                alert = types_pb2.Alert(
                    commitment_id=verdict.commitment_id,
                    facility_id=verdict.facility_id,
                    status=verdict.status,
                    raised_unix_ns=now,
                    log_index=receipt.log_index,
                )
                alert.finding.CopyFrom(f)
                self._bus.publish(alert)


def _latest_terms(reader: StorageReader) -> list[bytes]:
    """The envelope of the latest version of every stored terms id, by id."""
    latest: dict[str, tuple[int, bytes]] = {}
    for doc in reader.terms():
        if doc.version >= latest.get(doc.document_id, (0, b""))[0]:
            latest[doc.document_id] = (doc.version, doc.envelope)
    return [latest[k][1] for k in sorted(latest)]


def _differs(previous: types_pb2.Verdict, new: types_pb2.Verdict) -> bool:
    """Whether a re-evaluation changed the result (the log size it read does not count)."""
    return any(not d.startswith("evaluated_log_size") for d in compare_verdicts(previous, new))
