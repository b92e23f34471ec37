"""The log sequencer: the single writer that stores every accepted object, appends it to the
Merkle log and signs a checkpoint, in one transaction per batch.

Everything that changes the verifier's state goes through :class:`LogSequencer`: report
batches from ``SubmitReports``, inventories and commitments, challenges, and verdicts (the
scheduler's :meth:`LogSequencer.append_verdict`). Work queues on the event loop; a tick takes
everything pending (up to ``max_items_per_tick``; ticks start at most once per
``min_tick_s``, and at most once per ``busy_tick_s`` after a tick that took more than one
caller's work or during which more arrived, so that under concurrent load one commit serves
many calls, while an idle verifier's first item, and a lone caller's items one after
another, go at once) and runs it on one dedicated writer thread:

1. each item is checked against the stored state *and the items before it in the tick*
   (enrollment — the tick's own, changed by each inventory as it is staged, so a report whose
   key an earlier inventory dropped is refused; a key held by another facility is refused to
   an inventory —, duplicate, chain decision, version, freshness) and rejected alone if it
   fails, even with an error of ours (INTERNAL for that item only, logged): checks come
   before writes, so a rejected item writes nothing, and one item never fails the others
   (only a storage fault fails the tick). Freshness is the shared rule of
   :mod:`pausewatch.freshness`: a report is judged against exactly the challenges logged
   before its own index (the sequencer's ``ChallengeHistory``, loaded from storage at start
   and extended as each challenge is appended, in log order), as an auditor replaying the
   log judges it;
2. the accepted rows are written, their exact envelope bytes appended to the log, a C2SP
   checkpoint over the new tree signed with the log key and stored by compare-and-swap
   (:meth:`verifier.storage.StorageTransaction.swap_checkpoint`), all in ONE transaction;
3. after COMMIT — only then — every item gets its receipt, on the writer thread: the
   checkpoint and an inclusion proof computed from the in-memory frontier
   (:mod:`verifier.frontier`).

The writer is batch-oriented: no query per report. Duplicates are found in an in-memory
digest index (bounded; while it holds every stored report a miss means "new", after that
misses are looked up in one query per few hundred), chain heads come from a cache filled by
one query per few hundred unknown keys, and a tick's report, finding and chain-head rows are
written in a few multi-row INSERTs (one SQLite step, one GIL hand-off, per few hundred rows).
The UNIQUE digest column stays the authority: a duplicate that got past the index would fail
the INSERT and roll the tick back. Only the rare backfill, fork or rollback reads stored
reports, after writing the tick's rows so far. Caches change only after COMMIT.

A checkpoint is signed for every tick that appends anything, so one is signed at least once a
second while entries arrive (far more often under load, one per batch, never per report).
The single writer and the CAS make it impossible to sign two inconsistent trees. The latest
checkpoint is also kept in a file beside the database (:mod:`verifier.checkpoint_file`,
compare before COMMIT, swap after). At startup the sequencer refuses to run
(:func:`check_log_at_start`) when the stored log does not reproduce the latest checkpoint's
root, when a stored checkpoint does not verify under the loaded log key, when the database is
empty, older than or inconsistent with the checkpoint file, or when its newest entries do not
hash to the stored tree.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pausewatch import merkle
from pausewatch.chain import ChainState, LinkKind, NewLink, classify_link
from pausewatch.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from pausewatch.clock import Clock
from pausewatch.commitment import Commitment
from pausewatch.documents import check_tolerances
from pausewatch.envelope import envelope_digest, parse_envelope, parse_message
from pausewatch.errors import EnvironmentFaultError, InputError, InternalError, PausewatchError
from pausewatch.freshness import ChallengeHistory, ChallengeRecord
from pausewatch.inventory import Inventory, KeyHolder, check_key_holders
from pausewatch.note import NoteSigner, NoteVerifier
from pausewatch.terms import Terms, TermsInForce, check_succession
from pausewatch.v1 import types_pb2, verifier_pb2
from verifier.alert_bus import AlertBus
from verifier.bounded_time import check_commitment_window
from verifier.checkpoint_file import CheckpointFile
from verifier.disk_reserve import OncePer, is_storage_full
from verifier.errors import NotEnrolledHereError, StaleVersionError, status_for
from verifier.frontier import BatchTree, Frontier, frontier_from_log
from verifier.ingest import (
    AdmittedReport,
    Enrollment,
    FindingId,
    chain_findings,
    freshness_findings,
)
from verifier.registry import VerifiedDocument, check_version
from verifier.storage import (
    Storage,
    StorageReader,
    StorageTransaction,
    StoredChallenge,
    StoredCheckpoint,
    StoredDocument,
    StoredFinding,
    StoredReport,
    StoredVerdict,
)

__all__ = [
    "LogSequencer",
    "LogStartRefusedError",
    "ReportOutcome",
    "SequencerStoppedError",
    "check_log_at_start",
    "next_tick_at",
]

_log = logging.getLogger("pausewatch.verifier.sequencer")
T = TypeVar("T")

_ALERTING_FINDINGS = frozenset({FindingId.FORK, FindingId.ROLLBACK, FindingId.GAP})


class LogStartRefusedError(EnvironmentFaultError):
    """The stored log cannot be continued without forking it or signing with an untrusted key."""


def check_log_at_start(
    storage: StorageReader,
    *,
    origin: str,
    log_verifier: NoteVerifier | None,
    file_note: bytes | None,
    check_entries: int,
) -> None:
    """Refuse (LogStartRefusedError) to continue a log that would fork by accident:

    - the stored latest checkpoint does not verify under the loaded log key (a substituted or
      wrong key would sign a log nobody trusts);
    - the checkpoint file (:mod:`verifier.checkpoint_file`) does not verify under that key;
    - the database is empty, or smaller than the checkpoint file says, or its tree at the
      file's size has another root (a lost, replaced or older database: a new tree under the
      same key would be a signed fork);
    - the newest ``check_entries`` entries do not hash to the stored tree (corruption;
      ``pausewatch-verifier scrub`` checks every entry, tile and checkpoint).
    """
    size = storage.log_size()
    latest = storage.latest_checkpoint()
    if log_verifier is not None:
        key = f"{log_verifier.name}+{log_verifier.key_id:08x}"
        if latest is not None:
            try:
                cp = open_checkpoint(latest.note, log_verifier, origin=origin)
            except InputError as e:
                raise LogStartRefusedError(
                    f"the stored latest checkpoint (size {latest.size}) does not verify under the loaded log"
                    f" key {key} ({e}): a substituted or wrong log key; refusing to sign with it"
                ) from e
            if (cp.size, cp.root_hash) != (latest.size, latest.root_hash):
                raise LogStartRefusedError(
                    f"the stored latest checkpoint's note says size {cp.size}, its row {latest.size}"
                )
        if file_note is not None:
            try:
                pinned = open_checkpoint(file_note, log_verifier, origin=origin)
            except InputError as e:
                raise LogStartRefusedError(
                    f"the checkpoint file does not verify under the loaded log key {key} ({e}):"
                    " a substituted or wrong log key, or another log's state; refusing to start"
                ) from e
            if size == 0:
                raise LogStartRefusedError(
                    f"the database is empty but the checkpoint file holds a signed checkpoint of size"
                    f" {pinned.size} for {origin}: the database was lost or replaced, and a new log"
                    " under the same key would fork the published one; restore the database"
                )
            if pinned.size > size:
                raise LogStartRefusedError(
                    f"the database holds {size} entries but a checkpoint of size {pinned.size} was"
                    " published: the database is an older copy; restore the latest one"
                )
            if storage.log_root(pinned.size) != pinned.root_hash:
                raise LogStartRefusedError(
                    f"the database's tree at size {pinned.size} is not the published one: continuing"
                    " it would fork the log; refusing to start"
                )
    first = max(0, size - check_entries)
    for start in range(first, size, 4096):
        storage.log_entries(start, min(size, start + 4096))  # re-hashed on read (LogCorruptionError)


class SequencerStoppedError(InputError):
    """The sequencer is stopping or stopped; the client should retry elsewhere or later."""


@dataclass(frozen=True)
class ReportOutcome:
    """One report's result. ``code`` is a google.rpc.Code value (0 OK)."""

    disposition: int
    code: int = 0
    message: str = ""
    receipt: types_pb2.Receipt | None = None
    finding_ids: tuple[str, ...] = ()


@dataclass
class _Item:
    """One unit of work; ``index`` set when it appends, ``duplicate_of`` when it is a replay."""

    kind: str
    payload: Any
    received_ns: int
    index: int | None = None
    duplicate_of: int | None = None
    error: BaseException | None = None
    findings: list[types_pb2.Finding] = field(default_factory=list)
    facility_id: str = ""
    receipt: types_pb2.Receipt | None = None
    digest: bytes = b""  # a report's envelope digest, computed once per tick


@dataclass
class _Batch:
    """One tick's work: the log entries it appends and the report rows it writes, buffered
    and written in a few multi-row statements (:meth:`flush`), plus what the tick has changed
    so far — checked before the committed state, which the caches and the database hold."""

    old_size: int
    entries: list[bytes] = field(default_factory=list)
    reports: list[StoredReport] = field(default_factory=list)
    findings: list[StoredFinding] = field(default_factory=list)
    head_rows: dict[str, int] = field(default_factory=dict)
    digests: dict[bytes, int] = field(default_factory=dict)  # appended this tick
    heads: dict[str, StoredReport] = field(default_factory=dict)  # advanced this tick
    stored_digests: dict[bytes, int] = field(default_factory=dict)  # prefetched from storage
    enrollment: Enrollment = field(default_factory=Enrollment)  # with this tick's inventories

    @property
    def next_index(self) -> int:
        """The log index the next :meth:`add` gets."""
        return self.old_size + len(self.entries)

    def add(self, entry: bytes) -> int:
        self.entries.append(entry)
        return self.old_size + len(self.entries) - 1

    def flush(self, tx: StorageTransaction) -> None:
        """Write the buffered rows (before a read that must see them, and at the end)."""
        if self.reports:
            tx.put_reports(self.reports)
            self.reports = []
        if self.findings:
            tx.put_findings(self.findings)
            self.findings = []
        if self.head_rows:
            tx.set_chain_heads(list(self.head_rows.items()))
            self.head_rows = {}


class _DigestIndex:
    """Envelope digest -> log index of the most recent ``bound`` reports, in memory, so that
    duplicate detection needs no query per report. ``complete`` while it holds every stored
    report (a miss then means "new"); once it has dropped one, misses are looked up in
    storage, one query per few hundred. The UNIQUE digest column stays the authority: a
    duplicate that got past both would fail the tick's INSERT and roll the tick back."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self._index: dict[bytes, int] = {}
        self.complete = True

    def load(self, recent: list[tuple[bytes, int]]) -> None:
        """Fill from storage's most recent ``bound + 1`` reports, oldest first."""
        self._index = dict(recent[-self.bound :]) if self.bound else {}
        self.complete = len(recent) <= self.bound

    def get(self, digest: bytes) -> int | None:
        return self._index.get(digest)

    def update(self, appended: dict[bytes, int]) -> None:
        index = self._index
        index.update(appended)
        excess = len(index) - self.bound
        if excess > 0:
            self.complete = False
            for digest in list(itertools.islice(index, excess)):  # oldest first
                del index[digest]


@dataclass
class _Request:
    items: list[_Item]
    future: asyncio.Future[list[_Item]]


@dataclass(frozen=True)
class _Committed:
    tree: BatchTree | None
    checkpoint: StoredCheckpoint | None


_DIGEST_INDEX_BOUND = 1_000_000  # about 150 MB at most
_HEAD_CACHE_BOUND = 200_000  # chain heads kept in memory (each holds its envelope)


class LogSequencer:
    """The single writer. Create, ``await start()``, submit, ``await stop()``."""

    def __init__(
        self,
        storage: Storage,
        *,
        log_signer: NoteSigner,
        origin: str,
        clock: Clock,
        max_clock_skew_ns: int,
        alert_bus: AlertBus | None = None,
        max_items_per_tick: int = 20_000,
        min_tick_s: float = 0.0,
        busy_tick_s: float | None = None,
        on_commit: Callable[[int, float], None] | None = None,
        digest_index_bound: int = _DIGEST_INDEX_BOUND,
        log_verifier: NoteVerifier | None = None,
        checkpoint_file: CheckpointFile | None = None,
        startup_check_entries: int = 100_000,
        max_commitment_backdate_ns: int | None = None,
        sync_interval_s: float | None = None,
    ) -> None:
        self._storage = storage
        self._signer = log_signer
        self.origin = origin
        self._clock = clock
        self._skew_ns = max_clock_skew_ns
        self._max_backdate_ns = max_commitment_backdate_ns  # None: no limit (verifier.bounded_time)
        # storage-full mode (verifier.disk_reserve): set on a full disk, cleared by the server
        self.storage_full = False
        self.on_storage_full: Callable[[], None] | None = None
        self._faults = OncePer(60.0)
        self._bus = alert_bus
        self._max_items = max_items_per_tick
        self._min_tick_s = min_tick_s  # real seconds between tick starts: batching under load
        # and after a tick of concurrent callers' work: a longer interval, fewer and larger
        # ticks (each costs ~2 ms of CPU and an fsync or two, whatever its size)
        self._busy_tick_s = min_tick_s if busy_tick_s is None else max(min_tick_s, busy_tick_s)
        self._busy = False  # the last tick took several requests, or more arrived while it ran
        self._on_commit = on_commit
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pausewatch-sequencer")
        self._pending: list[_Request] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._frontier = Frontier(0, ())
        self.latest: StoredCheckpoint | None = None
        # verifier.witnesses: told of each new checkpoint (must not block); sets ``published``,
        # the latest checkpoint with its witnesses' cosignatures once they reach the quorum
        self.checkpoint_listeners: list[Callable[[StoredCheckpoint], None]] = []
        self.published: bytes | None = None
        self.enrollment = Enrollment()
        self._heads: dict[str, StoredReport | None] = {}  # committed heads; None: no chain yet
        self._digests = _DigestIndex(digest_index_bound)
        self._challenges = ChallengeHistory()  # every logged challenge, in log order
        self._log_verifier = log_verifier
        self._checkpoint_file = checkpoint_file
        self._startup_check_entries = startup_check_entries
        # other writers share the storage (hosts on one PostgreSQL database): catch up this
        # often while idle, so that admission and challenges follow what they log
        self._sync_interval_s = sync_interval_s
        self._last_tick = 0.0
        self.ticks = 0

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._recover)
        self._task = asyncio.create_task(self._run(), name="pausewatch-sequencer")

    async def stop(self) -> None:
        """Finish the tick in progress, refuse what is still queued, release the thread."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        for request in self._pending:
            if not request.future.done():
                request.future.set_exception(SequencerStoppedError("the verifier is shutting down"))
        self._pending.clear()
        self._executor.shutdown(wait=True)

    def _recover(self) -> None:
        s = self._storage
        check_log_at_start(
            s,
            origin=self.origin,
            log_verifier=self._log_verifier,
            file_note=None if self._checkpoint_file is None else self._checkpoint_file.read(),
            check_entries=self._startup_check_entries,
        )
        # one transaction: a consistent view of the log and its latest checkpoint, even while
        # another host sharing the database appends (it waits for the writer lock meanwhile)
        with s.transaction() as tx:
            size = tx.log_size()
            last = tx.leaf_hash(size - 1) if size else None
            proof = tx.inclusion_proof(size - 1, size) if size else []
            self._frontier = frontier_from_log(size, last, proof)
            latest = tx.latest_checkpoint()
            if latest is not None and (latest.size > size or tx.log_root(latest.size) != latest.root_hash):
                raise LogStartRefusedError(
                    f"the stored log (size {size}) does not reproduce the latest signed checkpoint"
                    f" (size {latest.size}); refusing to sign anything"
                )
            self.latest = latest
            if size and (latest is None or size > latest.size):
                self.latest = self._sign(tx, size, self._frontier.root())
        if self.latest is not None and self._checkpoint_file is not None:
            self._write_checkpoint_file(self.latest.note)
        self.enrollment = _enrollment(s)
        self._load_challenges()
        self._digests.load(s.recent_report_digests(self._digests.bound + 1))
        _log.info("sequencer ready", extra={"log_size": size, "keys_enrolled": len(self.enrollment.keys)})

    def _load_challenges(self, reader: StorageReader | None = None) -> None:
        """The challenge history from storage, in log order (at start, after a failed tick
        whose staged challenges were rolled back, and after another host logged one)."""
        self._challenges = ChallengeHistory(
            ChallengeRecord(c.log_index, c.nonce, c.issued_ns, c.expires_ns)
            for c in (reader or self._storage).challenges()
        )

    def _catch_up(self, tx: StorageReader) -> None:
        """At the start of a transaction (which holds the writer lock): take in what other
        writers committed since this one's last tick (several hosts on one PostgreSQL
        database; with one writer, nothing, at the cost of one query). The in-memory state
        becomes that of the log as stored: frontier, latest checkpoint, report digests,
        enrolment and challenges when they changed; chain heads are read again as needed."""
        ours, size = self._frontier.size, tx.log_size()
        if size == ours:
            return
        if size < ours:
            raise LogStartRefusedError(
                f"the stored log shrank from {ours} to {size} entries; refusing to sign"
            )
        self._frontier = frontier_from_log(size, tx.leaf_hash(size - 1), tx.inclusion_proof(size - 1, size))
        self.latest = tx.latest_checkpoint()
        self._digests.update(dict(tx.report_digests_since(ours)))
        self._heads.clear()
        if any(d.log_index >= ours for d in tx.inventories()):
            self.enrollment = _enrollment(tx)
        latest_challenge = tx.latest_challenge()
        if latest_challenge is not None and latest_challenge.log_index >= ours:
            self._load_challenges(tx)
        _log.debug("caught up with other writers", extra={"from_size": ours, "log_size": size})

    def sync(self) -> None:
        """On the writer thread: catch up with other writers now, outside a tick (a host that
        is not sequencing still admits against the current enrolment and challenges)."""
        with self._storage.transaction() as tx:
            self._catch_up(tx)

    # --- submission --------------------------------------------------------------------
    async def submit_reports(self, reports: Sequence[AdmittedReport]) -> list[ReportOutcome]:
        now = self._clock.now_ns()
        items = [_Item("report", r, now, facility_id=r.header.facility_id) for r in reports]
        done = await self._submit(items)
        return [self._report_outcome(item) for item in done]

    async def submit_document(self, document: VerifiedDocument) -> types_pb2.Receipt:
        """Store and log a verified inventory, commitment or terms; raise StaleVersionError,
        ToleranceError, TermsViolationError or TermsSuccessionError (nothing stored)."""
        kind = {types_pb2.Inventory: "inventory", types_pb2.Terms: "terms"}.get(
            type(document.message), "commitment"
        )
        item = (await self._submit([_Item(kind, document, self._clock.now_ns())]))[0]
        if item.error is not None:
            raise item.error
        return self._receipt(item)

    async def append_challenge(self, envelope: bytes, challenge: types_pb2.Challenge) -> int:
        item = (await self._submit([_Item("challenge", (envelope, challenge), self._clock.now_ns())]))[0]
        if item.error is not None:
            raise item.error
        if item.index is None:
            raise InternalError("a challenge was not appended")
        return item.index

    async def append_verdict(self, envelope: bytes, verdict: StoredVerdict) -> types_pb2.Receipt:
        """Store and log a signed verdict (``verdict.log_index`` is ignored and assigned)."""
        item = (await self._submit([_Item("verdict", (envelope, verdict), self._clock.now_ns())]))[0]
        if item.error is not None:
            raise item.error
        return self._receipt(item)

    async def read(self, fn: Callable[[StorageReader], T]) -> T:
        """Run a read on the writer thread (the storage object is single-threaded)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self._storage)

    def logged_index(self, digest: bytes) -> int | None:
        """The log index of the committed report with envelope ``digest``, if the in-memory
        index holds it. A hint for callers on other threads (the servicer's rate limiter): a
        hit is always a logged report; a miss proves nothing."""
        return self._digests.get(digest)

    @property
    def shared(self) -> bool:
        """Other writers (verifier hosts) share the storage."""
        return self._sync_interval_s is not None

    @property
    def queued(self) -> int:
        return sum(len(r.items) for r in self._pending)

    async def _submit(self, items: list[_Item]) -> list[_Item]:
        if self._stopping:
            raise SequencerStoppedError("the verifier is shutting down")
        future: asyncio.Future[list[_Item]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(items, future))
        self._wakeup.set()
        return await future

    # --- the tick ----------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._sync_interval_s is None:
                await self._wakeup.wait()
            else:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self._sync_interval_s)
                except TimeoutError:
                    try:
                        await loop.run_in_executor(self._executor, self.sync)
                    except Exception:
                        _log.exception("could not catch up with the other writers; retrying")
                    continue
            self._wakeup.clear()
            if not self._pending:
                if self._stopping:
                    return
                continue
            requests = await self._next_tick()
            items = [item for r in requests for item in r.items]
            started = time.perf_counter()
            try:
                committed = await loop.run_in_executor(self._executor, self._commit, items)
            except Exception as e:  # the whole tick failed: nothing was committed
                self._tick_failed(e)
                self._heads.clear()
                try:
                    await loop.run_in_executor(self._executor, self._load_challenges)
                except Exception:
                    _log.exception("could not reload the challenge history after a failed tick")
                for r in requests:
                    if not r.future.done():
                        r.future.set_exception(e)
                continue
            finally:  # concurrent callers: it took several requests, or more arrived while it ran
                self._busy = len(requests) > 1 or bool(self._pending)
            self.ticks += 1
            if self._on_commit is not None:
                self._on_commit(len(items), time.perf_counter() - started)
            if committed.tree is not None:
                self._frontier = committed.tree.frontier()
                self.latest = committed.checkpoint
                if committed.checkpoint is not None:
                    for listener in self.checkpoint_listeners:
                        listener(committed.checkpoint)
            self._after_commit(items)
            for r in requests:
                if not r.future.done():
                    r.future.set_result(r.items)

    async def _next_tick(self) -> list[_Request]:
        """The requests of the next tick, up to ``max_items_per_tick`` items. A timer-batched
        sequencer (:func:`next_tick_at`; idle: the first item goes at once), so that under load
        each fsync and checkpoint serves many items."""
        at = next_tick_at(self._last_tick, self._min_tick_s, self._busy_tick_s, busy=self._busy)
        wait = at - time.monotonic()
        if wait > 0 and not self._stopping:
            await asyncio.sleep(wait)
        self._last_tick = time.monotonic()
        requests: list[_Request] = []
        count = 0
        while self._pending and (not requests or count + len(self._pending[0].items) <= self._max_items):
            request = self._pending.pop(0)
            requests.append(request)
            count += len(request.items)
        if self._pending:
            self._wakeup.set()
        return requests

    def _tick_failed(self, error: Exception) -> None:
        """A full disk enters storage-full mode (verifier.disk_reserve); environment faults are
        one line at most once a minute each; anything else is a bug, with its traceback."""
        full = is_storage_full(error)
        if full and not self.storage_full:
            self.storage_full = True
            if self.on_storage_full is not None:
                self.on_storage_full()
        if full or isinstance(error, EnvironmentFaultError):
            if self._faults.ready("storage full" if full else str(error)[:120]):
                _log.error(
                    "sequencer tick failed, its items were not stored: %s%s",
                    str(error).splitlines()[0][:300] if str(error) else type(error).__name__,
                    f" ({self._faults.suppressed} more failures this past minute not logged)"
                    if self._faults.suppressed
                    else "",
                )
                self._faults.suppressed = 0
            return
        _log.exception("sequencer tick failed; its items were not stored")

    def _commit(self, items: list[_Item]) -> _Committed:
        """On the writer thread: check, write, append, sign, commit; then the receipts, from the
        new tree in memory. Returns the new tree."""
        with self._storage.transaction() as tx:
            self._catch_up(tx)
            batch = _Batch(self._frontier.size, enrollment=self.enrollment)
            self._prefetch(tx, batch, items)
            stage = {
                "report": self._stage_report,
                "inventory": self._stage_document,
                "commitment": self._stage_document,
                "terms": self._stage_document,
                "challenge": self._stage_challenge,
                "verdict": self._stage_verdict,
            }
            for item in items:
                staged = len(batch.entries)
                try:
                    stage[item.kind](tx, batch, item)
                except EnvironmentFaultError:
                    raise  # the storage failed: the transaction itself may be gone; fail the tick
                except PausewatchError as e:  # this item alone: it staged nothing (see _stage_*)
                    if len(batch.entries) != staged:  # a stage broke that rule: fail the tick
                        raise InternalError(f"a {item.kind} failed after it was staged: {e}") from e
                    if not isinstance(e, InputError):
                        _log.error(
                            "a %s failed with an internal error; only it is refused", item.kind, exc_info=e
                        )
                    item.error = e
                    item.index = item.duplicate_of = None
                    item.findings = []
            batch.flush(tx)
            if not batch.entries:
                committed = _Committed(None, None)
            else:
                first = tx.append_entries(batch.entries)
                if first != batch.old_size:
                    raise InternalError(
                        f"log grew under the sequencer: appended at {first}, expected {batch.old_size}"
                    )
                tree = self._frontier.extend([merkle.leaf_hash(e) for e in batch.entries])
                committed = _Committed(tree, self._sign(tx, tree.size, tree.root()))
        # COMMIT is done: what the tick changed is now the committed state
        if committed.checkpoint is not None and self._checkpoint_file is not None:
            self._write_checkpoint_file(committed.checkpoint.note)
        self.enrollment = batch.enrollment
        self._digests.update(batch.digests)
        if len(self._heads) + len(batch.heads) > _HEAD_CACHE_BOUND:
            self._heads.clear()  # bounded memory; heads are read again as needed
        self._heads.update(batch.heads)
        self._attach_receipts(items, committed)
        return committed

    def _prefetch(self, tx: StorageTransaction, batch: _Batch, items: list[_Item]) -> None:
        """Digests and chain heads of the tick's reports, from memory or in a few queries."""
        keys: set[str] = set()
        lookup: list[bytes] = []
        for item in items:
            if item.kind != "report":
                continue
            admitted: AdmittedReport = item.payload
            item.digest = envelope_digest(admitted.envelope.raw)
            if not self._digests.complete and self._digests.get(item.digest) is None:
                lookup.append(item.digest)
            if admitted.header.key_id not in self._heads:
                keys.add(admitted.header.key_id)
        if lookup:
            batch.stored_digests = tx.log_indices_by_digest(lookup)
        if keys:
            found = tx.chain_heads(keys)
            for key in keys:  # committed state (this transaction has written nothing yet)
                self._heads[key] = found.get(key)

    def _sign(self, tx: StorageTransaction, size: int, root: bytes) -> StoredCheckpoint:
        if self._checkpoint_file is not None:
            self._checkpoint_file.check()  # compare (the swap is after COMMIT): no second writer
        note = sign_checkpoint(Checkpoint(self.origin, size, root), [self._signer]).format()
        stored = StoredCheckpoint(size, root, note, self._clock.now_ns())
        tx.swap_checkpoint(None if self.latest is None else self.latest.size, stored)
        return stored

    def _write_checkpoint_file(self, note: bytes) -> None:
        """After COMMIT: the file may lag the database (a crash, a full disk), never lead it."""
        if self._checkpoint_file is None:
            return
        try:
            self._checkpoint_file.write(note)
        except EnvironmentFaultError:
            _log.exception("could not write the checkpoint file; it is rewritten with the next checkpoint")

    # --- stages (writer thread) ----------------------------------------------------------
    def _logged_digest(self, tx: StorageTransaction, batch: _Batch, digest: bytes) -> int | None:
        """The log index of the report with ``digest``: this tick, memory, then storage."""
        found = batch.digests.get(digest)
        if found is None:
            found = self._digests.get(digest)
        if found is None and not self._digests.complete:
            found = batch.stored_digests.get(digest)
            if found is None:
                found = tx.log_indices_by_digest([digest]).get(digest)
        return found

    def _head(self, tx: StorageTransaction, batch: _Batch, key: str) -> StoredReport | None:
        head = batch.heads.get(key)
        if head is None:
            if key in self._heads:
                head = self._heads[key]
            else:  # prefetched, then dropped from the bounded cache: read it (after our writes)
                batch.flush(tx)
                head = tx.chain_head(key)
        return head

    def _stage_report(self, tx: StorageTransaction, batch: _Batch, item: _Item) -> None:
        admitted: AdmittedReport = item.payload
        raw = admitted.envelope.raw
        header = admitted.header
        enrolled = batch.enrollment.keys.get(header.key_id)  # admission's snapshot may be stale
        if enrolled is not admitted.enrolled and (
            enrolled is None
            or (enrolled.kind, enrolled.facility_id, enrolled.subject_id)
            != (header.kind, header.facility_id, header.subject_id)
        ):
            raise NotEnrolledHereError(
                f"key {header.key_id[:16]} is no longer enrolled for {header.facility_id}/"
                f"{header.subject_id}: an inventory logged before this report changed its enrollment"
            )
        existing = batch.digests.get(item.digest)
        if existing is None:
            existing = self._digests.get(item.digest)
            if existing is None and not self._digests.complete:
                existing = batch.stored_digests.get(item.digest)
        if existing is not None:
            item.duplicate_of = existing
            return
        key = header.key_id
        head = self._head(tx, batch, key)
        state = None
        if head is not None:
            at_seq = before = after_prev = None
            if header.seq <= head.header.seq:  # rare: a backfill, fork or rollback
                batch.flush(tx)  # the reads below must see this tick's reports
                found = tx.report_at(key, header.seq)
                at_seq = found.envelope if found else None
                if found is None:
                    prior = tx.report_at(key, header.seq - 1) if header.seq > 0 else None
                    nxt = tx.report_at(key, header.seq + 1)
                    before = prior.envelope if prior else None
                    after_prev = nxt.header.prev if nxt else None
            state = ChainState(NewLink(head.header, head.envelope), at_seq, before, after_prev)
        decision = classify_link(state, NewLink(header, raw))
        if decision.kind is LinkKind.DUPLICATE:  # same bytes: caught by digest above
            raise InternalError("classify_link found a duplicate the digest index missed")
        other: int | None = None
        if decision.proof is not None:
            other = self._logged_digest(tx, batch, envelope_digest(decision.proof.first))
        elif decision.kind is LinkKind.GAP and head is not None:
            other = head.log_index
        index = batch.next_index
        findings = chain_findings(decision, header, index, other) + freshness_findings(
            header, index, self._challenges, skew_ns=self._skew_ns
        )
        # every check has passed: stage the report (nothing below raises)
        batch.add(raw)
        item.index = index
        item.findings = findings
        stored = StoredReport(index, raw, header, item.received_ns)
        batch.digests[item.digest] = index
        batch.reports.append(stored)
        for finding in item.findings:
            batch.findings.append(StoredFinding(header.facility_id, index, finding))
        if decision.advances_head:
            batch.head_rows[key] = index
            batch.heads[key] = stored

    def _stage_document(self, tx: StorageTransaction, batch: _Batch, item: _Item) -> None:
        doc: VerifiedDocument = item.payload
        if item.kind == "inventory":
            history = tx.inventories(doc.document_id)
        elif item.kind == "terms":
            history = tx.terms(doc.document_id)
        else:
            history = tx.commitments(doc.document_id)
        for stored in history:
            if stored.envelope == doc.envelope.raw:
                item.duplicate_of = stored.log_index
                return
        latest = max((d.version for d in history), default=None)
        check_version(doc, latest, item.kind)
        enrollment = batch.enrollment
        if isinstance(doc.message, types_pb2.Inventory):
            # a key belongs to one facility: refuse one that another facility's latest
            # inventory (committed, or staged earlier in this tick) enrols
            keys = enrollment.keys
            check_key_holders(
                doc.message, lambda kid: KeyHolder(k.facility_id, k.proven) if (k := keys.get(kid)) else None
            )
            commitments = _latest_commitments(tx)
            if commitments:
                check_tolerances([Inventory.from_wire(doc.message)], commitments)
            in_force = _terms_in_force(tx)
            if in_force:  # and within the terms in force for its lab (none: as before)
                in_force.check_inventory(Inventory.from_wire(doc.message))
            enrollment = enrollment.replace_facility(doc.message)
        elif isinstance(doc.message, types_pb2.Terms):
            # a new version follows the stored one: same start, no earlier end, its quorum too
            if history:
                previous = max(history, key=lambda d: d.version)
                check_succession(_terms_of(previous), Terms.from_wire(doc.message), doc.lab_id.split(","))
        else:
            # a commitment bounds the bands of the inventories it covers, already stored ones too
            commitment = Commitment.from_wire(doc.message)
            if self._max_backdate_ns is not None:  # its window reaches back a bounded time only
                logged = None
                if history:
                    prior = max(history, key=lambda d: d.version).envelope
                    logged = Commitment.from_wire(_decode(prior, types_pb2.Commitment))
                check_commitment_window(commitment, logged, item.received_ns, self._max_backdate_ns)
            check_tolerances(_latest_inventories(tx), [commitment])
            # and is itself at least as strict as the terms in force for its lab
            _terms_in_force(tx).check_commitment(commitment, doc.lab_facilities)
        index = batch.next_index
        record = StoredDocument(
            index, doc.document_id, doc.lab_id, doc.version, doc.envelope.raw, item.received_ns
        )
        if item.kind == "inventory":
            tx.put_inventory(record)  # one statement: all or nothing
        elif item.kind == "terms":
            tx.put_terms(record)
        else:
            tx.put_commitment(record)
        batch.add(doc.envelope.raw)
        item.index = index
        batch.enrollment = enrollment  # what the reports after it in this tick are checked against

    def _stage_challenge(self, tx: StorageTransaction, batch: _Batch, item: _Item) -> None:
        envelope, msg = item.payload
        latest = tx.latest_challenge()
        if latest is not None and msg.seq <= latest.seq:  # another host logged this seq first
            raise StaleVersionError(f"challenge seq {msg.seq} is already logged (latest {latest.seq})")
        index = batch.next_index
        tx.put_challenge(
            StoredChallenge(index, msg.seq, msg.nonce, msg.issued_unix_ns, msg.expires_unix_ns, envelope)
        )
        batch.add(envelope)
        item.index = index
        # visible at once to the reports after it in this tick, which are logged after it
        self._challenges.add(ChallengeRecord(index, msg.nonce, msg.issued_unix_ns, msg.expires_unix_ns))

    def _stage_verdict(self, tx: StorageTransaction, batch: _Batch, item: _Item) -> None:
        envelope, verdict = item.payload
        index = batch.next_index
        tx.put_verdict(dataclasses.replace(verdict, log_index=index, envelope=envelope))
        batch.add(envelope)
        item.index = index

    # --- after commit ----------------------------------------------------------------------
    def _attach_receipts(self, items: list[_Item], committed: _Committed) -> None:
        """On the writer thread, after COMMIT: a receipt for every appended or duplicate item —
        new entries from the tick's tree in memory, earlier ones from the stored log."""
        checkpoint = committed.checkpoint or self.latest
        if checkpoint is None:
            return
        tree = committed.tree
        size = checkpoint.size
        for item in items:
            index = item.index if item.index is not None else item.duplicate_of
            if index is None:
                continue
            if tree is not None and index >= tree.old_size:
                proof, leaf = tree.inclusion_proof(index), tree.leaf_hash(index)
            else:
                proof, leaf = self._storage.inclusion_proof(index, size), self._storage.leaf_hash(index)
            item.receipt = _receipt(index, checkpoint, proof, leaf)

    def _after_commit(self, items: list[_Item]) -> None:
        for item in items:
            if item.error is not None or item.index is None:
                continue
            if self._bus is not None:
                for finding in item.findings:
                    if finding.id in _ALERTING_FINDINGS:
                        self._bus.publish(
                            types_pb2.Alert(
                                facility_id=item.facility_id,
                                finding=finding,
                                raised_unix_ns=item.received_ns,
                                log_index=item.index,
                            )
                        )

    def _report_outcome(self, item: _Item) -> ReportOutcome:
        if item.error is not None:
            return ReportOutcome(
                verifier_pb2.DISPOSITION_REJECTED,
                code=status_for(item.error).value[0],
                message=str(item.error),
            )
        receipt = self._receipt(item)
        if item.duplicate_of is not None:
            return ReportOutcome(verifier_pb2.DISPOSITION_DUPLICATE, receipt=receipt)
        return ReportOutcome(
            verifier_pb2.DISPOSITION_ACCEPTED, receipt=receipt, finding_ids=tuple(f.id for f in item.findings)
        )

    @staticmethod
    def _receipt(item: _Item) -> types_pb2.Receipt:
        if item.receipt is None:
            raise InternalError(f"no receipt was attached to a {item.kind}")
        return item.receipt


def next_tick_at(last_start: float, min_tick_s: float, busy_tick_s: float, *, busy: bool) -> float:
    """When the next tick may start (monotonic seconds): ``min_tick_s`` after the last tick
    started, or ``busy_tick_s`` after when that tick took more than one caller's request or
    work arrived while it ran — concurrent callers, whose next items a longer wait gathers
    into one commit. A caller that waits for each receipt before sending more is never held
    back for the longer interval."""
    return last_start + (busy_tick_s if busy else min_tick_s)


def _receipt(index: int, checkpoint: StoredCheckpoint, proof: list[bytes], leaf: bytes) -> types_pb2.Receipt:
    return types_pb2.Receipt(
        log_index=index, checkpoint=checkpoint.note, inclusion_proof=proof, leaf_hash=leaf
    )


def _enrollment(reader: StorageReader) -> Enrollment:
    """The enrolment the latest inventory of every facility declares."""
    inventories = []
    for facility in sorted({d.document_id for d in reader.inventories()}):  # deterministic
        doc = reader.latest_inventory(facility)
        if doc is not None:
            inventories.append(_decode(doc.envelope, types_pb2.Inventory))
    return Enrollment.from_inventories(inventories)


def _decode(envelope: bytes, cls: type[Any]) -> Any:
    env = types_pb2.Envelope()
    env.ParseFromString(envelope)
    msg = cls()
    msg.ParseFromString(env.payload)
    return msg


def _latest_commitments(tx: StorageTransaction) -> list[Commitment]:
    latest: dict[str, StoredDocument] = {}
    for d in tx.commitments(None):
        if d.document_id not in latest or d.version > latest[d.document_id].version:
            latest[d.document_id] = d
    return [
        Commitment.from_wire(parse_message(parse_envelope(d.envelope).payload, types_pb2.Commitment))
        for d in latest.values()
    ]


def _terms_of(stored: StoredDocument) -> Terms:
    return Terms.from_wire(parse_message(parse_envelope(stored.envelope).payload, types_pb2.Terms))


def _terms_in_force(tx: StorageTransaction) -> TermsInForce:
    """The latest version of every stored terms id (verified when each arrived)."""
    return TermsInForce.latest(_terms_of(d) for d in tx.terms(None))


def _latest_inventories(tx: StorageTransaction) -> list[Inventory]:
    latest: dict[str, StoredDocument] = {}
    for d in tx.inventories(None):
        if d.document_id not in latest or d.version > latest[d.document_id].version:
            latest[d.document_id] = d
    out = []
    for d in latest.values():
        try:
            out.append(
                Inventory.from_wire(parse_message(parse_envelope(d.envelope).payload, types_pb2.Inventory))
            )
        except PausewatchError:
            continue  # never stored through submission (tests write rows directly): nothing to bound
    return out
