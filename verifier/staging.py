"""Staging: what one item does to the log's transaction and the state tables, checked against
the stored state *and the items staged before it in the tick*.

:class:`verifier.sequencer.LogSequencer` owns the queue, the tick, the commit (one
transaction, one checkpoint) and the receipts; for each item of a tick it calls
:meth:`Stager.stage`, which returns what became of it — :class:`Appended` at a log index (a
report with its chain and freshness findings), :class:`Duplicate` of an entry logged before,
or :class:`Refused` with the error that refused it alone:

- a report (:class:`ReportItem`): its key still enrolled for its facility and subject in the
  tick's enrolment (an inventory staged before it may have dropped the key), the exact-duplicate
  check, the chain decision (:func:`pausewatch.chain.classify_link`) against the chain head,
  then :func:`verifier.ingest.chain_findings` and :func:`verifier.ingest.freshness_findings`;
- an inventory, commitment or terms (:class:`DocumentItem`): duplicate, version, then an
  inventory's keys held by no other facility and its bands within the commitments and the
  terms in force (it changes the tick's enrolment), a terms' succession, a commitment's window,
  the inventories it bounds and the terms it must be as strict as;
- a challenge (:class:`ChallengeItem`): its seq above the logged one; it joins the challenge
  history at once, so the reports after it in the tick are judged against it;
- a verdict (:class:`VerdictItem`): stored with the index it is logged at.

Checks come before writes: an item that is refused staged nothing, and one item never fails the
others — only a storage fault (:class:`pausewatch.errors.EnvironmentFaultError`) fails the tick.

The :class:`Stager` also keeps the committed state that staging reads without a query per
report: the enrolment, the challenge history, a bounded index of report digests
(:class:`DigestIndex`) and a bounded cache of chain heads. A tick's changes are kept in its
:class:`Batch` and become the committed state only in :meth:`Stager.committed`, after COMMIT;
:meth:`Stager.rolled_back` forgets what a failed tick did.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, TypeVar

from google.protobuf.message import Message

from pausewatch.chain import ChainState, LinkKind, NewLink, classify_link
from pausewatch.commitment import Commitment
from pausewatch.documents import check_tolerances
from pausewatch.envelope import envelope_digest, parse_envelope, parse_message
from pausewatch.errors import EnvironmentFaultError, InputError, InternalError, PausewatchError
from pausewatch.freshness import ChallengeHistory, ChallengeRecord
from pausewatch.inventory import Inventory, KeyHolder, check_key_holders
from pausewatch.terms import Terms, TermsInForce, check_succession
from pausewatch.v1 import types_pb2
from verifier.bounded_time import check_commitment_window
from verifier.errors import NotEnrolledHereError, StaleVersionError
from verifier.ingest import AdmittedReport, Enrollment, chain_findings, freshness_findings
from verifier.registry import VerifiedDocument, check_version
from verifier.storage import (
    StorageReader,
    StorageTransaction,
    StoredChallenge,
    StoredDocument,
    StoredFinding,
    StoredReport,
    StoredVerdict,
)

__all__ = [
    "Appended",
    "Batch",
    "ChallengeItem",
    "DigestIndex",
    "DocumentItem",
    "Duplicate",
    "Refused",
    "ReportItem",
    "Staged",
    "Stager",
    "VerdictItem",
    "Work",
]

# a child of the sequencer's logger: what filtered the sequencer's lines still does
_log = logging.getLogger("pausewatch.verifier.sequencer.staging")
_M = TypeVar("_M", bound=Message)

DIGEST_INDEX_BOUND = 1_000_000  # about 150 MB at most
HEAD_CACHE_BOUND = 200_000  # chain heads kept in memory (each holds its envelope)


# --- the items ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportItem:
    """An admitted report (signature, enrolment and header checked by :mod:`verifier.ingest`)."""

    report: AdmittedReport
    kind: ClassVar[str] = "report"

    @property
    def digest(self) -> bytes:
        """Its envelope digest (:attr:`verifier.ingest.AdmittedReport.digest`: computed once)."""
        return self.report.digest


DocumentKind = Literal["inventory", "commitment", "terms"]


@dataclass(frozen=True)
class DocumentItem:
    """A verified inventory, commitment or terms (:mod:`verifier.registry`)."""

    document: VerifiedDocument

    @property
    def kind(self) -> DocumentKind:
        message = self.document.message
        if isinstance(message, types_pb2.Inventory):
            return "inventory"
        if isinstance(message, types_pb2.Terms):
            return "terms"
        return "commitment"


@dataclass(frozen=True)
class ChallengeItem:
    """A signed challenge: its envelope's exact bytes and its message."""

    envelope: bytes
    challenge: types_pb2.Challenge
    kind: ClassVar[str] = "challenge"


@dataclass(frozen=True)
class VerdictItem:
    """A signed verdict: its envelope's exact bytes and its row (``log_index`` is assigned)."""

    envelope: bytes
    verdict: StoredVerdict
    kind: ClassVar[str] = "verdict"


Work = ReportItem | DocumentItem | ChallengeItem | VerdictItem
"""One unit of a tick's work."""


# --- what became of an item --------------------------------------------------------------
@dataclass(frozen=True)
class Appended:
    """Appended at ``log_index``; a report with the findings logged with it."""

    log_index: int
    findings: tuple[types_pb2.Finding, ...] = ()


@dataclass(frozen=True)
class Duplicate:
    """The exact bytes of the entry at ``log_index``: nothing appended; its receipt is that entry's."""

    log_index: int


@dataclass(frozen=True)
class Refused:
    """Refused alone, having staged nothing (an error of ours too: INTERNAL for it only)."""

    error: PausewatchError


Staged = Appended | Duplicate | Refused


# --- a tick's staged work ----------------------------------------------------------------
@dataclass
class Batch:
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


class DigestIndex:
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


# --- the stager --------------------------------------------------------------------------
class Stager:
    """Stages a tick's items into its transaction (on the sequencer's writer thread only) and
    keeps the committed state staging reads. ``enrollment`` is replaced, never changed in
    place, and only when an inventory changed it: callers compare it by identity."""

    def __init__(
        self,
        *,
        max_clock_skew_ns: int,
        max_commitment_backdate_ns: int | None = None,
        digest_index_bound: int = DIGEST_INDEX_BOUND,
    ) -> None:
        self._skew_ns = max_clock_skew_ns
        self._max_backdate_ns = max_commitment_backdate_ns  # None: no limit (verifier.bounded_time)
        self.enrollment = Enrollment()
        self._heads: dict[str, StoredReport | None] = {}  # committed heads; None: no chain yet
        self._digests = DigestIndex(digest_index_bound)
        self._challenges = ChallengeHistory()  # every logged challenge, in log order

    # --- the committed state -------------------------------------------------------------
    def load(self, reader: StorageReader) -> None:
        """At start: the enrolment, the challenge history and the recent report digests."""
        self.enrollment = _enrollment(reader)
        self.load_challenges(reader)
        self._digests.load(reader.recent_report_digests(self._digests.bound + 1))

    def load_challenges(self, reader: StorageReader) -> None:
        """The challenge history from storage, in log order (at start, after a failed tick
        whose staged challenges were rolled back, and after another host logged one)."""
        self._challenges = ChallengeHistory(
            ChallengeRecord(c.log_index, c.nonce, c.issued_ns, c.expires_ns) for c in reader.challenges()
        )

    def catch_up(self, reader: StorageReader, since: int) -> None:
        """Take in what other writers appended from log index ``since`` on: their report
        digests, and the enrolment and challenges when they changed; chain heads are read
        again as needed."""
        self._digests.update(dict(reader.report_digests_since(since)))
        self._heads.clear()
        if any(d.log_index >= since for d in reader.inventories()):
            self.enrollment = _enrollment(reader)
        latest_challenge = reader.latest_challenge()
        if latest_challenge is not None and latest_challenge.log_index >= since:
            self.load_challenges(reader)

    def committed(self, batch: Batch) -> None:
        """After COMMIT: what the tick changed is now the committed state."""
        self.enrollment = batch.enrollment
        self._digests.update(batch.digests)
        if len(self._heads) + len(batch.heads) > HEAD_CACHE_BOUND:
            self._heads.clear()  # bounded memory; heads are read again as needed
        self._heads.update(batch.heads)

    def rolled_back(self, reader: StorageReader) -> None:
        """After a failed tick: forget the heads it read and the challenges it staged."""
        self._heads.clear()
        self.load_challenges(reader)

    def logged_index(self, digest: bytes) -> int | None:
        """The log index of the committed report with envelope ``digest`` if the in-memory
        index holds it (a hit is always a logged report; a miss proves nothing)."""
        return self._digests.get(digest)

    # --- a tick --------------------------------------------------------------------------
    def begin(self, tx: StorageTransaction, old_size: int, work: Sequence[Work]) -> Batch:
        """A tick's batch over a log of ``old_size`` entries, with the digests and chain heads
        of its reports from memory or in a few queries (before it writes anything)."""
        batch = Batch(old_size, enrollment=self.enrollment)
        keys: set[str] = set()
        lookup: list[bytes] = []
        for item in work:
            if not isinstance(item, ReportItem):
                continue
            if not self._digests.complete and self._digests.get(item.digest) is None:
                lookup.append(item.digest)
            if item.report.header.key_id not in self._heads:
                keys.add(item.report.header.key_id)
        if lookup:
            batch.stored_digests = tx.log_indices_by_digest(lookup)
        if keys:
            found = tx.chain_heads(keys)
            for key in keys:  # committed state (this transaction has written nothing yet)
                self._heads[key] = found.get(key)
        return batch

    def stage(self, tx: StorageTransaction, batch: Batch, item: Work, received_ns: int) -> Staged:
        """Check ``item`` against the committed state and ``batch``, then stage it; an item
        refused stages nothing. Raises only when the tick must fail: a storage fault, or a
        stage that failed after staging something (a bug)."""
        staged = len(batch.entries)
        try:
            if isinstance(item, ReportItem):
                return self._stage_report(tx, batch, item, received_ns)
            if isinstance(item, DocumentItem):
                return self._stage_document(tx, batch, item, received_ns)
            if isinstance(item, ChallengeItem):
                return self._stage_challenge(tx, batch, item)
            return _stage_verdict(tx, batch, item)
        except EnvironmentFaultError:
            raise  # the storage failed: the transaction itself may be gone; fail the tick
        except PausewatchError as e:  # this item alone: it staged nothing (see _stage_*)
            if len(batch.entries) != staged:  # a stage broke that rule: fail the tick
                raise InternalError(f"a {item.kind} failed after it was staged: {e}") from e
            if not isinstance(e, InputError):
                _log.error("a %s failed with an internal error; only it is refused", item.kind, exc_info=e)
            return Refused(e)

    def _known_digest(self, batch: Batch, digest: bytes) -> int | None:
        """The log index of the report with ``digest`` as far as memory knows: this tick, the
        index, then what :meth:`begin` prefetched (when the index is not complete)."""
        found = batch.digests.get(digest)
        if found is None:
            found = self._digests.get(digest)
            if found is None and not self._digests.complete:
                found = batch.stored_digests.get(digest)
        return found

    def _logged_digest(self, tx: StorageTransaction, batch: Batch, digest: bytes) -> int | None:
        """The log index of the report with ``digest``: memory, then storage."""
        found = self._known_digest(batch, digest)
        if found is None and not self._digests.complete:
            found = tx.log_indices_by_digest([digest]).get(digest)
        return found

    def _head(self, tx: StorageTransaction, batch: Batch, key: str) -> StoredReport | None:
        head = batch.heads.get(key)
        if head is None:
            if key in self._heads:
                head = self._heads[key]
            else:  # prefetched, then dropped from the bounded cache: read it (after our writes)
                batch.flush(tx)
                head = tx.chain_head(key)
        return head

    def _stage_report(
        self, tx: StorageTransaction, batch: Batch, item: ReportItem, received_ns: int
    ) -> Staged:
        admitted = item.report
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
        existing = self._known_digest(batch, item.digest)
        if existing is not None:
            return Duplicate(existing)
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
            state = ChainState(NewLink(head.header, head.envelope, head.digest), at_seq, before, after_prev)
        decision = classify_link(state, NewLink(header, raw, item.digest))
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
        stored = StoredReport(index, raw, header, received_ns)
        vars(stored)["digest"] = item.digest  # its cached property, already known: not hashed again
        batch.digests[item.digest] = index
        batch.reports.append(stored)
        for finding in findings:
            batch.findings.append(StoredFinding(header.facility_id, index, finding))
        if decision.advances_head:
            batch.head_rows[key] = index
            batch.heads[key] = stored
        return Appended(index, tuple(findings))

    def _stage_document(
        self, tx: StorageTransaction, batch: Batch, item: DocumentItem, received_ns: int
    ) -> Staged:
        doc, kind = item.document, item.kind
        history = _document_history(tx, kind, doc.document_id)
        for stored in history:
            if stored.envelope == doc.envelope.raw:
                return Duplicate(stored.log_index)
        latest = max((d.version for d in history), default=None)
        check_version(doc, latest, kind)
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
                check_commitment_window(commitment, logged, received_ns, self._max_backdate_ns)
            check_tolerances(_latest_inventories(tx), [commitment])
            # and is itself at least as strict as the terms in force for its lab
            _terms_in_force(tx).check_commitment(commitment, doc.lab_facilities)
        index = batch.next_index
        record = StoredDocument(
            index, doc.document_id, doc.lab_id, doc.version, doc.envelope.raw, received_ns
        )
        _put_document(tx, kind, record)  # one statement: all or nothing
        batch.add(doc.envelope.raw)
        batch.enrollment = enrollment  # what the reports after it in this tick are checked against
        return Appended(index)

    def _stage_challenge(self, tx: StorageTransaction, batch: Batch, item: ChallengeItem) -> Staged:
        msg = item.challenge
        latest = tx.latest_challenge()
        if latest is not None and msg.seq <= latest.seq:  # another host logged this seq first
            raise StaleVersionError(f"challenge seq {msg.seq} is already logged (latest {latest.seq})")
        index = batch.next_index
        tx.put_challenge(
            StoredChallenge(index, msg.seq, msg.nonce, msg.issued_unix_ns, msg.expires_unix_ns, item.envelope)
        )
        batch.add(item.envelope)
        # visible at once to the reports after it in this tick, which are logged after it
        self._challenges.add(ChallengeRecord(index, msg.nonce, msg.issued_unix_ns, msg.expires_unix_ns))
        return Appended(index)


def _stage_verdict(tx: StorageTransaction, batch: Batch, item: VerdictItem) -> Staged:
    index = batch.next_index
    tx.put_verdict(dataclasses.replace(item.verdict, log_index=index, envelope=item.envelope))
    batch.add(item.envelope)
    return Appended(index)


# --- the stored documents staging reads ----------------------------------------------------
def _document_history(tx: StorageTransaction, kind: DocumentKind, document_id: str) -> list[StoredDocument]:
    if kind == "inventory":
        return tx.inventories(document_id)
    if kind == "terms":
        return tx.terms(document_id)
    return tx.commitments(document_id)


def _put_document(tx: StorageTransaction, kind: DocumentKind, record: StoredDocument) -> None:
    if kind == "inventory":
        tx.put_inventory(record)
    elif kind == "terms":
        tx.put_terms(record)
    else:
        tx.put_commitment(record)


def _enrollment(reader: StorageReader) -> Enrollment:
    """The enrolment the latest inventory of every facility declares."""
    inventories = []
    for facility in sorted({d.document_id for d in reader.inventories()}):  # deterministic
        doc = reader.latest_inventory(facility)
        if doc is not None:
            inventories.append(_decode(doc.envelope, types_pb2.Inventory))
    return Enrollment.from_inventories(inventories)


def _decode(envelope: bytes, cls: type[_M]) -> _M:
    """The payload of a stored envelope (checked when it was logged) as ``cls``."""
    env = types_pb2.Envelope()
    env.ParseFromString(envelope)
    msg = cls()
    msg.ParseFromString(env.payload)
    return msg


def _latest_versions(docs: Iterable[StoredDocument]) -> list[StoredDocument]:
    """The latest version of each document id, in the order the ids first appear."""
    latest: dict[str, StoredDocument] = {}
    for d in docs:
        if d.document_id not in latest or d.version > latest[d.document_id].version:
            latest[d.document_id] = d
    return list(latest.values())


def _latest_commitments(tx: StorageTransaction) -> list[Commitment]:
    return [
        Commitment.from_wire(parse_message(parse_envelope(d.envelope).payload, types_pb2.Commitment))
        for d in _latest_versions(tx.commitments(None))
    ]


def _terms_of(stored: StoredDocument) -> Terms:
    return Terms.from_wire(parse_message(parse_envelope(stored.envelope).payload, types_pb2.Terms))


def _terms_in_force(tx: StorageTransaction) -> TermsInForce:
    """The latest version of every stored terms id (verified when each arrived)."""
    return TermsInForce.latest(_terms_of(d) for d in tx.terms(None))


def _latest_inventories(tx: StorageTransaction) -> list[Inventory]:
    out = []
    for d in _latest_versions(tx.inventories(None)):
        try:
            out.append(
                Inventory.from_wire(parse_message(parse_envelope(d.envelope).payload, types_pb2.Inventory))
            )
        except PausewatchError:
            continue  # never stored through submission (tests write rows directly): nothing to bound
    return out
