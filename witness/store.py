"""The witness's state: one SQLite database (WAL, ``synchronous=FULL``, mode 0600) in a state
directory that one process holds (:func:`pausewatch.files.statedir.lock_state_dir`).

Tables:

- ``heads``: per log, the size and root of the latest checkpoint cosigned — the only mutable
  row, moved by compare-and-swap inside the transaction that checks the request;
- ``cosigned``: every checkpoint cosigned, in full (the log's note as submitted, with this
  witness's cosignature appended), never updated or deleted: what the witness can later show
  the log told it (litewitness keeps only the latest);
- ``evidence``: requests signed by the log that failed the consistency checks (409 on a root
  mismatch, 422): the log's own signed word for a fork; bounded per log.

:meth:`WitnessStore.add` does check, cosign, store and commit in ONE ``BEGIN IMMEDIATE``
transaction, and the caller answers only after it returns: the race the spec describes (two
requests checked against one size, the smaller stored last) cannot happen, and a cosignature
that left the process is on disk (a SIGKILL between COMMIT and the answer loses an answer, never
a record).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pausewatch.checkpoint import Checkpoint
from pausewatch.errors import EnvironmentFaultError
from pausewatch.files.statedir import ensure_private_file
from pausewatch.merkle import EMPTY_ROOT
from pausewatch.note import NoteSignature, parse_note
from witness.protocol import Rejected, StoredHead, Submission, check_against_head

__all__ = ["CosignedRecord", "EvidenceRecord", "LogStatus", "StoreCorruptError", "WitnessStore"]

SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS heads (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    updated_ns INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS cosigned (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    timestamp INTEGER NOT NULL,
    note BLOB NOT NULL,
    stored_ns INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS cosigned_by_log ON cosigned (origin, size);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    request BLOB NOT NULL,
    received_ns INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS evidence_by_log ON evidence (origin);
"""


class StoreCorruptError(EnvironmentFaultError):
    """The database contradicts itself (a head without its cosigned row, an unknown schema)."""


@dataclass(frozen=True)
class CosignedRecord:
    origin: str
    size: int
    root: bytes
    timestamp: int
    note: bytes


@dataclass(frozen=True)
class EvidenceRecord:
    origin: str
    status: int
    reason: str
    request: bytes
    received_ns: int


@dataclass(frozen=True)
class LogStatus:
    origin: str
    size: int
    root: bytes
    updated_ns: int
    cosigned: int
    evidence: int


class WitnessStore:
    """One connection, used by one thread at a time (the service serializes calls)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        if readonly:  # `status` beside a running witness: reads only, takes no lock
            try:
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
                self._db.execute("SELECT 1 FROM heads LIMIT 1")
            except sqlite3.Error as e:
                raise EnvironmentFaultError(f"{path}: cannot read the witness database: {e}") from e
            return
        try:
            ensure_private_file(path)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise StoreCorruptError(
                    f"{path}: schema version {row[0]}, this witness reads {SCHEMA_VERSION}"
                )
            ensure_private_file(path)  # the WAL and -shm exist now
        except sqlite3.Error as e:
            raise EnvironmentFaultError(f"{path}: cannot open the witness database: {e}") from e
        self.check()

    def close(self) -> None:
        self._db.close()

    def check(self) -> None:
        """Every head is the newest cosigned row of its log (the two move in one transaction)."""
        rows = self._db.execute(
            "SELECT h.origin, h.size, h.root, c.size, c.root FROM heads h LEFT JOIN cosigned c"
            " ON c.id = (SELECT id FROM cosigned WHERE origin = h.origin ORDER BY size DESC, id DESC LIMIT 1)"
        ).fetchall()
        for origin, size, root, c_size, c_root in rows:
            if (size, bytes(root)) != (c_size, None if c_root is None else bytes(c_root)):
                raise StoreCorruptError(
                    f"{self.path}: log {origin!r}: the head (size {size}) is not the newest cosigned"
                    " checkpoint; refusing to cosign from a state that may roll back"
                )

    def head(self, origin: str) -> StoredHead:
        row = self._db.execute("SELECT size, root FROM heads WHERE origin = ?", (origin,)).fetchone()
        return StoredHead(0, EMPTY_ROOT) if row is None else StoredHead(row[0], bytes(row[1]))

    def add(
        self,
        submission: Submission,
        cosign: Callable[[Checkpoint], NoteSignature],
        now_ns: int,
        *,
        max_evidence: int,
    ) -> NoteSignature:
        """Check the submission against the stored head, cosign it and store it, in one
        transaction; raise :class:`Rejected` (after storing evidence when it is evidence). The
        checkpoint already held, submitted again, gets the cosignature it got then (nothing
        stored: a log repeating itself cannot grow the database)."""
        origin = submission.checkpoint.origin
        cp = submission.checkpoint
        try:
            self._db.execute("BEGIN IMMEDIATE")
            head = self.head(origin)
            try:
                check_against_head(submission, head)
            except Rejected as rejected:
                if rejected.evidence:
                    self._keep_evidence(submission, rejected, now_ns, max_evidence)
                self._db.execute("COMMIT")
                raise
            held = self.latest(origin) if cp.size == head.size else None
            if held is not None:  # the checkpoint held, submitted again: its cosignature
                self._db.execute("COMMIT")
                return parse_note(held.note).signatures[-1]
            signature = cosign(cp)
            note = submission.note.with_signatures(signature).format()
            timestamp = int.from_bytes(signature.signature[:8], "big")
            self._db.execute(
                "INSERT INTO cosigned (origin, size, root, timestamp, note, stored_ns)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (origin, cp.size, cp.root_hash, timestamp, note, now_ns),
            )
            self._db.execute(
                "INSERT INTO heads VALUES (?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE"
                " SET size = excluded.size, root = excluded.root, updated_ns = excluded.updated_ns",
                (origin, cp.size, cp.root_hash, now_ns),
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            self._rollback()
            raise EnvironmentFaultError(f"{self.path}: cannot store the checkpoint: {e}") from e
        except BaseException:
            self._rollback()
            raise
        return signature

    def _keep_evidence(self, submission: Submission, rejected: Rejected, now_ns: int, limit: int) -> None:
        origin = submission.checkpoint.origin
        (count,) = self._db.execute("SELECT COUNT(*) FROM evidence WHERE origin = ?", (origin,)).fetchone()
        if count < limit:
            self._db.execute(
                "INSERT INTO evidence (origin, status, reason, request, received_ns) VALUES (?, ?, ?, ?, ?)",
                (origin, rejected.status, rejected.reason, submission.request.format(), now_ns),
            )

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # unusable: the next call reports it
                self._db.execute("ROLLBACK")

    def latest(self, origin: str) -> CosignedRecord | None:
        row = self._db.execute(
            "SELECT origin, size, root, timestamp, note FROM cosigned WHERE origin = ?"
            " ORDER BY size DESC, id DESC LIMIT 1",
            (origin,),
        ).fetchone()
        return None if row is None else CosignedRecord(row[0], row[1], bytes(row[2]), row[3], bytes(row[4]))

    def cosigned(self, origin: str) -> list[CosignedRecord]:
        rows = self._db.execute(
            "SELECT origin, size, root, timestamp, note FROM cosigned WHERE origin = ? ORDER BY id", (origin,)
        ).fetchall()
        return [CosignedRecord(r[0], r[1], bytes(r[2]), r[3], bytes(r[4])) for r in rows]

    def evidence(self, origin: str) -> list[EvidenceRecord]:
        rows = self._db.execute(
            "SELECT origin, status, reason, request, received_ns FROM evidence WHERE origin = ? ORDER BY id",
            (origin,),
        ).fetchall()
        return [EvidenceRecord(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in rows]

    def status(self) -> list[LogStatus]:
        """Per log with a head or evidence: what is held."""
        rows = self._db.execute(
            "WITH origins AS (SELECT origin FROM heads UNION SELECT origin FROM evidence)"
            " SELECT o.origin, COALESCE(h.size, 0), COALESCE(h.root, ?), COALESCE(h.updated_ns, 0),"
            " (SELECT COUNT(*) FROM cosigned c WHERE c.origin = o.origin),"
            " (SELECT COUNT(*) FROM evidence e WHERE e.origin = o.origin)"
            " FROM origins o LEFT JOIN heads h ON h.origin = o.origin ORDER BY o.origin",
            (EMPTY_ROOT,),
        ).fetchall()
        return [LogStatus(r[0], r[1], bytes(r[2]), r[3], r[4], r[5]) for r in rows]
