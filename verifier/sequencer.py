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

1. each item is staged (:mod:`verifier.staging`): checked against the stored state *and the
   items before it in the tick* (enrollment — the tick's own, changed by each inventory as it
   is staged, so a report whose key an earlier inventory dropped is refused; a key held by
   another facility is refused to an inventory —, duplicate, chain decision, version,
   freshness) and rejected alone if it fails, even with an error of ours (INTERNAL for that
   item only, logged): checks come before writes, so a rejected item writes nothing, and one
   item never fails the others (only a storage fault fails the tick). Freshness is the shared
   rule of :mod:`pausewatch.freshness`: a report is judged against exactly the challenges
   logged before its own index (the stager's ``ChallengeHistory``, loaded from storage at
   start and extended as each challenge is appended, in log order), as an auditor replaying
   the log judges it;
2. the accepted rows are written, their exact envelope bytes appended to the log, a C2SP
   checkpoint over the new tree signed with the log key and stored by compare-and-swap
   (:meth:`verifier.storage.StorageTransaction.swap_checkpoint`), all in ONE transaction;
3. after COMMIT — only then — every item gets its receipt, on the writer thread: the
   checkpoint and an inclusion proof computed from the in-memory frontier
   (:mod:`verifier.frontier`).

The writer is batch-oriented: no query per report. Duplicates (the stager's caches) are found in an in-memory
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
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from pausewatch import merkle
from pausewatch.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from pausewatch.clock import Clock
from pausewatch.errors import EnvironmentFaultError, InputError, InternalError, PausewatchError
from pausewatch.note import NoteSigner, NoteVerifier
from pausewatch.v1 import types_pb2, verifier_pb2
from verifier.alert_bus import AlertBus
from verifier.checkpoint_file import CheckpointFile
from verifier.disk_reserve import OncePer, is_storage_full
from verifier.errors import status_for
from verifier.frontier import BatchTree, Frontier, frontier_from_log
from verifier.ingest import AdmittedReport, Enrollment, FindingId
from verifier.registry import VerifiedDocument
from verifier.staging import (
    DIGEST_INDEX_BOUND,
    Appended,
    ChallengeItem,
    DocumentItem,
    Duplicate,
    Refused,
    ReportItem,
    Staged,
    Stager,
    VerdictItem,
    Work,
)
from verifier.storage import Storage, StorageReader, StorageTransaction, StoredCheckpoint, StoredVerdict

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
    """One unit of work, stamped when it was submitted; ``staged`` once its tick staged it
    (:meth:`verifier.staging.Stager.stage`), ``receipt`` after COMMIT."""

    work: Work
    received_ns: int
    staged: Staged | None = None
    receipt: types_pb2.Receipt | None = None

    @property
    def error(self) -> PausewatchError | None:
        return self.staged.error if isinstance(self.staged, Refused) else None


@dataclass
class _Request:
    items: list[_Item]
    future: asyncio.Future[list[_Item]]


@dataclass(frozen=True)
class _Committed:
    tree: BatchTree | None
    checkpoint: StoredCheckpoint | None


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
        digest_index_bound: int = DIGEST_INDEX_BOUND,
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
        # what each item does to the transaction, and the committed state that decides it
        self._stager = Stager(
            max_clock_skew_ns=max_clock_skew_ns,
            max_commitment_backdate_ns=max_commitment_backdate_ns,  # None: no limit
            digest_index_bound=digest_index_bound,
        )
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
        self._stager.load(s)
        _log.info("sequencer ready", extra={"log_size": size, "keys_enrolled": len(self.enrollment.keys)})

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
        self._stager.catch_up(tx, ours)
        _log.debug("caught up with other writers", extra={"from_size": ours, "log_size": size})

    def sync(self) -> None:
        """On the writer thread: catch up with other writers now, outside a tick (a host that
        is not sequencing still admits against the current enrolment and challenges)."""
        with self._storage.transaction() as tx:
            self._catch_up(tx)

    # --- submission --------------------------------------------------------------------
    async def submit_reports(self, reports: Sequence[AdmittedReport]) -> list[ReportOutcome]:
        now = self._clock.now_ns()
        items = [_Item(ReportItem(r), now) for r in reports]
        done = await self._submit(items)
        return [self._report_outcome(item) for item in done]

    async def submit_document(self, document: VerifiedDocument) -> types_pb2.Receipt:
        """Store and log a verified inventory, commitment or terms; raise StaleVersionError,
        ToleranceError, TermsViolationError or TermsSuccessionError (nothing stored)."""
        return self._receipt(await self._submit_one(DocumentItem(document)))

    async def append_challenge(self, envelope: bytes, challenge: types_pb2.Challenge) -> int:
        item = await self._submit_one(ChallengeItem(envelope, challenge))
        if not isinstance(item.staged, Appended):
            raise InternalError("a challenge was not appended")
        return item.staged.log_index

    async def append_verdict(self, envelope: bytes, verdict: StoredVerdict) -> types_pb2.Receipt:
        """Store and log a signed verdict (``verdict.log_index`` is ignored and assigned)."""
        return self._receipt(await self._submit_one(VerdictItem(envelope, verdict)))

    async def read(self, fn: Callable[[StorageReader], T]) -> T:
        """Run a read on the writer thread (the storage object is single-threaded)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self._storage)

    def logged_index(self, digest: bytes) -> int | None:
        """The log index of the committed report with envelope ``digest``, if the in-memory
        index holds it. A hint for callers on other threads (the servicer's rate limiter): a
        hit is always a logged report; a miss proves nothing."""
        return self._stager.logged_index(digest)

    @property
    def enrollment(self) -> Enrollment:
        """The committed enrolment (replaced, never changed in place, when an inventory is
        logged: compare it by identity to see a change)."""
        return self._stager.enrollment

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

    async def _submit_one(self, work: Work) -> _Item:
        """Submit one item; raise the error that refused it."""
        item = (await self._submit([_Item(work, self._clock.now_ns())]))[0]
        if item.error is not None:
            raise item.error
        return item

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
                try:  # forget the chain heads it read and the challenges it staged
                    await loop.run_in_executor(self._executor, self._stager.rolled_back, self._storage)
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
            batch = self._stager.begin(tx, self._frontier.size, [item.work for item in items])
            for item in items:  # an item refused stages nothing; a storage fault fails the tick
                item.staged = self._stager.stage(tx, batch, item.work, item.received_ns)
            batch.flush(tx)
            if not batch.entries:
                committed = _Committed(None, None)
            else:
                first = tx.append_entries(batch.entries)
                if first != batch.old_size:
                    raise InternalError(
                        f"log grew under the sequencer: appended at {first}, expected {batch.old_size}"
                    )
                leaves = merkle.leaf_hashes(batch.entries)  # one hasher copied per entry, no prefixed copy
                tree = self._frontier.extend([leaves[i : i + 32] for i in range(0, len(leaves), 32)])
                committed = _Committed(tree, self._sign(tx, tree.size, tree.root()))
        # COMMIT is done: what the tick changed is now the committed state
        if committed.checkpoint is not None and self._checkpoint_file is not None:
            self._write_checkpoint_file(committed.checkpoint.note)
        self._stager.committed(batch)
        self._attach_receipts(items, committed)
        return committed

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
            if not isinstance(item.staged, Appended | Duplicate):
                continue
            index = item.staged.log_index
            if tree is not None and index >= tree.old_size:
                proof, leaf = tree.inclusion_proof(index), tree.leaf_hash(index)
            else:
                proof, leaf = self._storage.inclusion_proof(index, size), self._storage.leaf_hash(index)
            item.receipt = _receipt(index, checkpoint, proof, leaf)

    def _after_commit(self, items: list[_Item]) -> None:
        if self._bus is None:
            return
        for item in items:
            staged, work = item.staged, item.work
            if not isinstance(staged, Appended) or not isinstance(work, ReportItem):
                continue  # only a report's chain findings raise alerts
            for finding in staged.findings:
                if finding.id in _ALERTING_FINDINGS:
                    self._bus.publish(
                        types_pb2.Alert(
                            facility_id=work.report.header.facility_id,
                            finding=finding,
                            raised_unix_ns=item.received_ns,
                            log_index=staged.log_index,
                        )
                    )

    def _report_outcome(self, item: _Item) -> ReportOutcome:
        staged = item.staged
        if isinstance(staged, Refused):
            return ReportOutcome(
                verifier_pb2.DISPOSITION_REJECTED,
                code=status_for(staged.error).value[0],
                message=str(staged.error),
            )
        receipt = self._receipt(item)
        if isinstance(staged, Duplicate):
            return ReportOutcome(verifier_pb2.DISPOSITION_DUPLICATE, receipt=receipt)
        findings = staged.findings if staged is not None else ()
        return ReportOutcome(
            verifier_pb2.DISPOSITION_ACCEPTED, receipt=receipt, finding_ids=tuple(f.id for f in findings)
        )

    @staticmethod
    def _receipt(item: _Item) -> types_pb2.Receipt:
        if item.receipt is None:
            raise InternalError(f"no receipt was attached to a {item.work.kind}")
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
