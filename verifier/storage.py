"""The verifier's storage interface: everything ingest, evaluation and export read or write.

One interface, implemented by :class:`verifier.sqlite_storage.SqliteStorage` (SQLite, WAL,
``synchronous=FULL``; the default) and :class:`verifier.pg_storage.PgStorage` (PostgreSQL, for
several verifier hosts on one database), both over the SQL of :mod:`verifier.sql_storage`;
:func:`verifier.storage_backends.open_storage` opens the one a config names. The conformance suite in
``tests/verifier/test_storage_conformance.py`` runs against every implementation.

Shape:

- :class:`StorageReader` — reads. Every object the verifier relies on is also a log entry, and
  every stored record carries its ``log_index``; iteration is always in log order.
- :class:`StorageTransaction` — a reader plus writes, all inside ONE database transaction that
  also holds the Merkle log's writes (``append_entries``): "store the report and append it to
  the log" commits or rolls back as one. Nothing is visible to other connections until commit.
- :class:`Storage` — a reader that opens transactions: ``with storage.transaction() as tx:``
  commits on a clean exit and rolls back on any exception.

Rules every implementation keeps:

- nothing is ever updated in place or deleted: a verdict's new revision, a newer inventory or
  commitment version is a new row; the chain head and the latest checkpoint pointer are the
  only mutable cells, and the latest checkpoint moves only by compare-and-swap
  (:meth:`StorageTransaction.swap_checkpoint`) to a strictly larger tree;
- every signed checkpoint is kept (auditors and witnesses need them all);
- an implementation object is used by one thread at a time (the sequencer's writer thread);
  other readers open their own instance on the same database;
- another writer may share the database (PostgreSQL: several hosts): transactions are
  serialized, and a writer finds at the start of its transaction what others committed since
  its last one (``log_size()`` beyond its own; :meth:`StorageReader.reports_since` and the
  document reads tell it what).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from pausewatch.envelope import envelope_digest
from pausewatch.errors import InternalError
from pausewatch.reports import ReportHeader
from pausewatch.v1 import types_pb2

__all__ = [
    "CheckpointConflictError",
    "Storage",
    "StorageReader",
    "StorageTransaction",
    "StoredChallenge",
    "StoredCheckpoint",
    "StoredDocument",
    "StoredFinding",
    "StoredReport",
    "StoredVerdict",
]


class CheckpointConflictError(InternalError):
    """A checkpoint compare-and-swap lost: another writer moved the log, or a smaller tree."""


@dataclass(frozen=True)
class StoredReport:
    """A usage or meter report as stored: its exact envelope bytes and its validated header."""

    log_index: int
    envelope: bytes
    header: ReportHeader
    received_ns: int

    @cached_property
    def digest(self) -> bytes:
        return envelope_digest(self.envelope)


@dataclass(frozen=True)
class StoredFinding:
    """A finding left by ingest (or evaluation), with the log index of its evidence."""

    facility_id: str
    log_index: int
    finding: types_pb2.Finding

    @property
    def finding_id(self) -> str:
        return self.finding.id


@dataclass(frozen=True)
class StoredDocument:
    """A lab-signed inventory or commitment envelope, one row per version.

    ``document_id`` is the facility id for an inventory, the commitment id for a
    commitment and the terms id for terms; ``lab_id`` for terms names the parties that
    signed them, comma-separated.
    """

    log_index: int
    document_id: str
    lab_id: str
    version: int
    envelope: bytes
    received_ns: int


@dataclass(frozen=True)
class StoredChallenge:
    log_index: int
    seq: int
    nonce: bytes
    issued_ns: int
    expires_ns: int
    envelope: bytes


@dataclass(frozen=True)
class StoredVerdict:
    """A signed verdict envelope; each revision is its own row, never overwritten."""

    log_index: int
    commitment_id: str
    commitment_version: int
    facility_id: str  # "" for the commitment as a whole
    bucket_start_ns: int
    bucket_end_ns: int
    revision: int
    status: int  # types_pb2.VerdictStatus value
    evaluated_ns: int
    envelope: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint the log key signed: the exact signed-note bytes and what they commit to."""

    size: int
    root_hash: bytes
    note: bytes
    signed_ns: int


class StorageReader(Protocol):
    """Reads. Ranges are half-open ``[start, end)``; iteration is in log order."""

    # --- the Merkle log --------------------------------------------------------------------
    def log_size(self) -> int: ...
    def log_root(self, size: int) -> bytes: ...
    def log_entries(self, start: int, end: int) -> list[bytes]: ...
    def leaf_hash(self, index: int) -> bytes: ...
    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...
    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...

    # --- reports and chains ----------------------------------------------------------------
    def report_by_digest(self, digest: bytes) -> StoredReport | None:
        """The report whose envelope bytes hash to ``digest`` (exact-duplicate detection)."""
        ...

    def report_at(self, key_id: str, seq: int) -> StoredReport | None:
        """The FIRST stored report of ``key_id`` with ``seq`` (a fork stores more than one)."""
        ...

    def chain_head(self, key_id: str) -> StoredReport | None:
        """The report that heads ``key_id``'s chain (highest seq accepted as NEXT or GAP)."""
        ...

    def log_indices_by_digest(self, digests: Iterable[bytes]) -> dict[bytes, int]:
        """The log index of every stored report whose envelope digest is among ``digests``
        (absent: not stored). One query per few hundred digests, not one per digest."""
        ...

    def chain_heads(self, key_ids: Iterable[str]) -> dict[str, StoredReport]:
        """:meth:`chain_head` of each of ``key_ids`` that has a chain, in a few queries."""
        ...

    def recent_report_digests(self, limit: int) -> list[tuple[bytes, int]]:
        """(digest, log index) of the ``limit`` most recently logged reports, oldest first."""
        ...

    def report_digests_since(self, log_index: int) -> list[tuple[bytes, int]]:
        """(digest, log index) of every report logged at ``log_index`` or later, in log order
        (what another writer added: a sequencer catching up)."""
        ...


    def reports(
        self, facility_id: str, start_ns: int, end_ns: int, *, after_log_index: int = -1
    ) -> Iterator[StoredReport]:
        """Usage and meter reports of a facility whose period overlaps ``[start_ns, end_ns)``,
        in log order; ``after_log_index`` resumes an earlier iteration."""
        ...

    def findings(
        self, facility_id: str | None = None, start_ns: int | None = None, end_ns: int | None = None
    ) -> Iterator[StoredFinding]:
        """Findings (of a facility, or all), whose time range overlaps the given one."""
        ...

    # --- lab documents ---------------------------------------------------------------------
    def inventories(self, facility_id: str | None = None) -> list[StoredDocument]:
        """Every inventory version (of one facility, or all), in log order."""
        ...

    def latest_inventory(self, facility_id: str) -> StoredDocument | None: ...

    def commitments(self, commitment_id: str | None = None) -> list[StoredDocument]:
        """Every commitment version (of one id, or all), in log order."""
        ...

    def latest_commitment(self, commitment_id: str) -> StoredDocument | None: ...

    def terms(self, terms_id: str | None = None) -> list[StoredDocument]:
        """Every terms version (of one id, or all), in log order; ``lab_id`` holds the parties
        that signed, comma-separated."""
        ...

    # --- challenges ------------------------------------------------------------------------
    def challenge_by_nonce(self, nonce: bytes) -> StoredChallenge | None: ...
    def latest_challenge(self) -> StoredChallenge | None: ...
    def challenges(self, start_ns: int | None = None, end_ns: int | None = None) -> list[StoredChallenge]:
        """Challenges issued in ``[start_ns, end_ns)``, in log order."""
        ...

    # --- verdicts --------------------------------------------------------------------------
    def verdicts(
        self,
        commitment_id: str | None = None,
        facility_id: str | None = None,
        from_ns: int | None = None,
        to_ns: int | None = None,
        *,
        include_superseded: bool = False,
        after: tuple[str, str, int, int] | None = None,
        limit: int | None = None,
    ) -> list[StoredVerdict]:
        """Verdicts whose bucket starts in ``[from_ns, to_ns)``, ordered by (commitment,
        facility, bucket, revision); only the latest revision of each bucket unless
        ``include_superseded``; only those after the key ``after`` (a page's last), at most
        ``limit`` of them."""
        ...

    def latest_verdict(
        self, commitment_id: str, facility_id: str, bucket_start_ns: int
    ) -> StoredVerdict | None: ...

    # --- checkpoints -----------------------------------------------------------------------
    def latest_checkpoint(self) -> StoredCheckpoint | None: ...
    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every checkpoint ever signed, by increasing size."""
        ...

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None: ...


class StorageTransaction(StorageReader, Protocol):
    """Writes inside one database transaction; reads see the transaction's own writes."""

    def append_entries(self, entries: Sequence[bytes]) -> int:
        """Append exact envelope bytes to the Merkle log; return the first new index."""
        ...

    def put_report(self, report: StoredReport) -> None: ...
    def put_reports(self, reports: Sequence[StoredReport]) -> None:
        """Many reports in few statements. A digest already stored raises (and the caller's
        transaction rolls back): the UNIQUE digest is the authority on duplicates. A report's
        envelope must be the log entry at its ``log_index``, appended in the same transaction
        (before or after) or earlier: an implementation may keep the envelope only in the log
        (SQLite does)."""
        ...

    def set_chain_head(self, key_id: str, log_index: int) -> None: ...
    def set_chain_heads(self, heads: Sequence[tuple[str, int]]) -> None:
        """Many chain heads (key ids distinct) in few statements."""
        ...

    def put_finding(self, finding: StoredFinding) -> None: ...
    def put_findings(self, findings: Sequence[StoredFinding]) -> None: ...
    def put_inventory(self, document: StoredDocument) -> None: ...
    def put_commitment(self, document: StoredDocument) -> None: ...
    def put_terms(self, document: StoredDocument) -> None: ...
    def put_challenge(self, challenge: StoredChallenge) -> None: ...
    def put_verdict(self, verdict: StoredVerdict) -> None:
        """A new revision row; raise InternalError if that revision already exists."""
        ...

    def swap_checkpoint(self, expected_size: int | None, checkpoint: StoredCheckpoint) -> None:
        """Store ``checkpoint`` and make it the latest, if the latest is still at
        ``expected_size`` (None: no checkpoint yet) and ``checkpoint`` is larger; else raise
        CheckpointConflictError and change nothing."""
        ...


class Storage(StorageReader, Protocol):
    def transaction(self) -> AbstractContextManager[StorageTransaction]: ...
    def close(self) -> None: ...

