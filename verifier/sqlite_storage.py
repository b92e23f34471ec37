"""SQLite implementation of :mod:`verifier.storage` (the default).

One file under the state directory, WAL journal, ``synchronous=FULL``: a transaction that
returned from COMMIT survives SIGKILL and power loss. The Merkle log lives in the same file
(``tlog_`` tables of :class:`verifier.tlog_sqlite.SqliteTreeStore`, which never commits by
itself), so a report row and its log entry commit or roll back together.

Integers on the wire are uint64 where SQLite holds int64: ingest refuses sequence numbers and
versions of 2^63 and above before they reach this module.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, Final

from pausewatch.errors import EnvironmentFaultError, InternalError
from pausewatch.files.statedir import ensure_private_file
from pausewatch.reports import MAX_PERIOD_NS, ReportHeader, ReportKind
from pausewatch.tlog_store import MerkleLog
from pausewatch.v1 import types_pb2
from verifier.storage import (
    CheckpointConflictError,
    StoredChallenge,
    StoredCheckpoint,
    StoredDocument,
    StoredFinding,
    StoredReport,
    StoredVerdict,
)
from verifier.tlog_sqlite import SqliteTreeStore

__all__ = ["SCHEMA_VERSION", "SqliteStorage", "scrub_sqlite"]

SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reports (
  log_index INTEGER PRIMARY KEY,
  digest BLOB NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  key_id TEXT NOT NULL,
  facility_id TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  boot_id BLOB NOT NULL,
  seq INTEGER NOT NULL,
  prev BLOB NOT NULL,
  period_start INTEGER NOT NULL,
  period_end INTEGER NOT NULL,
  nonce BLOB NOT NULL,
  signed_ns INTEGER NOT NULL,
  received_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_key_seq ON reports (key_id, seq, log_index);
CREATE INDEX IF NOT EXISTS reports_facility_period ON reports (facility_id, period_start);
CREATE TABLE IF NOT EXISTS chain_heads (key_id TEXT PRIMARY KEY, log_index INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS findings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  facility_id TEXT NOT NULL,
  finding_id TEXT NOT NULL,
  start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL,
  log_index INTEGER NOT NULL,
  body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_facility_time ON findings (facility_id, start_ns);
CREATE TABLE IF NOT EXISTS inventories (
  log_index INTEGER PRIMARY KEY,
  facility_id TEXT NOT NULL,
  lab_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  received_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL,
  UNIQUE (facility_id, version)
);
CREATE TABLE IF NOT EXISTS commitments (
  log_index INTEGER PRIMARY KEY,
  commitment_id TEXT NOT NULL,
  lab_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  received_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL,
  UNIQUE (commitment_id, version)
);
CREATE TABLE IF NOT EXISTS terms (
  log_index INTEGER PRIMARY KEY,
  terms_id TEXT NOT NULL,
  lab_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  received_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL,
  UNIQUE (terms_id, version)
);
CREATE TABLE IF NOT EXISTS challenges (
  log_index INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL UNIQUE,
  nonce BLOB NOT NULL UNIQUE,
  issued_ns INTEGER NOT NULL,
  expires_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS verdicts (
  log_index INTEGER PRIMARY KEY,
  commitment_id TEXT NOT NULL,
  commitment_version INTEGER NOT NULL,
  facility_id TEXT NOT NULL,
  bucket_start INTEGER NOT NULL,
  bucket_end INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  status INTEGER NOT NULL,
  evaluated_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL,
  UNIQUE (commitment_id, facility_id, bucket_start, revision)
);
CREATE TABLE IF NOT EXISTS checkpoints (
  size INTEGER PRIMARY KEY,
  root BLOB NOT NULL,
  note BLOB NOT NULL,
  signed_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoint_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  size INTEGER NOT NULL
);
"""

_REPORT_COLUMNS: Final = (
    "log_index, kind, key_id, facility_id, subject_id, boot_id, seq, prev, period_start,"
    " period_end, nonce, signed_ns, received_ns, envelope"
)


_LOOKUP_CHUNK: Final = 500  # values per IN (...) list
_ROWS_PER_INSERT: Final = 500  # rows per multi-row INSERT: few statements, few GIL round trips


@cache
def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


@cache
def _multi_insert(head: str, width: int, rows: int, tail: str = "") -> str:
    """``head VALUES (?, ...), (?, ...) ... tail`` for ``rows`` rows of ``width`` values: one
    statement (one sqlite3_step, one GIL release) instead of one per row."""
    row = f"({_placeholders(width)})"
    return f"{head} VALUES {', '.join([row] * rows)}{tail}"


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for at in range(0, len(values), size):
        yield values[at : at + size]


def _report_row(report: StoredReport) -> tuple[Any, ...]:
    h = report.header
    return (
        report.digest,
        report.log_index,
        h.kind.value,
        h.key_id,
        h.facility_id,
        h.subject_id,
        h.boot_id,
        h.seq,
        h.prev,
        h.period_start_ns,
        h.period_end_ns,
        h.challenge_nonce,
        h.signed_ns,
        report.received_ns,
        report.envelope,
    )


def _finding_row(finding: StoredFinding) -> tuple[Any, ...]:
    f = finding.finding
    return (
        finding.facility_id,
        f.id,
        f.start_unix_ns,
        f.end_unix_ns,
        finding.log_index,
        f.SerializeToString(deterministic=True),
    )


def _report(row: Sequence[Any]) -> StoredReport:
    header = ReportHeader(
        kind=ReportKind(row[1]),
        key_id=row[2],
        facility_id=row[3],
        subject_id=row[4],
        boot_id=row[5],
        seq=row[6],
        prev=row[7],
        period_start_ns=row[8],
        period_end_ns=row[9],
        challenge_nonce=row[10],
        signed_ns=row[11],
    )
    return StoredReport(log_index=row[0], envelope=row[13], header=header, received_ns=row[12])


def _finding(row: Sequence[Any]) -> StoredFinding:
    msg = types_pb2.Finding()
    msg.ParseFromString(row[2])
    return StoredFinding(facility_id=row[0], log_index=row[1], finding=msg)


_DOC_COLUMNS: Final = "log_index, {id}, lab_id, version, envelope, received_ns"
_CHALLENGE_COLUMNS: Final = "log_index, seq, nonce, issued_ns, expires_ns, envelope"
_VERDICT_COLUMNS: Final = (
    "log_index, commitment_id, commitment_version, facility_id, bucket_start, bucket_end,"
    " revision, status, evaluated_ns, envelope"
)


class _SqliteReader:
    """Reads over one connection; shared by the storage and its transactions."""

    def __init__(self, conn: sqlite3.Connection, log: MerkleLog) -> None:
        self._conn = conn
        self._log = log

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, args).fetchone()

    # --- log ---------------------------------------------------------------------------
    def log_size(self) -> int:
        return int(self._log.size)

    def log_root(self, size: int) -> bytes:
        return bytes(self._log.root(size))

    def log_entries(self, start: int, end: int) -> list[bytes]:
        return [bytes(e) for e in self._log.entries(start, end)]

    def leaf_hash(self, index: int) -> bytes:
        return bytes(self._log.leaf_hash_at(index))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return list(self._log.inclusion_proof(index, size))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return list(self._log.consistency_proof(old_size, new_size))

    # --- reports -----------------------------------------------------------------------
    def report_by_digest(self, digest: bytes) -> StoredReport | None:
        row = self._one(f"SELECT {_REPORT_COLUMNS} FROM reports WHERE digest = ?", (digest,))  # noqa: S608  # constant columns
        return None if row is None else _report(row)

    def report_at(self, key_id: str, seq: int) -> StoredReport | None:
        row = self._one(
            f"SELECT {_REPORT_COLUMNS} FROM reports WHERE key_id = ? AND seq = ?"  # noqa: S608  # constant columns
            " ORDER BY log_index LIMIT 1",
            (key_id, seq),
        )
        return None if row is None else _report(row)

    def chain_head(self, key_id: str) -> StoredReport | None:
        row = self._one(
            f"SELECT {_REPORT_COLUMNS} FROM reports WHERE log_index ="  # noqa: S608  # constant columns
            " (SELECT log_index FROM chain_heads WHERE key_id = ?)",
            (key_id,),
        )
        return None if row is None else _report(row)

    def log_indices_by_digest(self, digests: Iterable[bytes]) -> dict[bytes, int]:
        out: dict[bytes, int] = {}
        for chunk in _chunks(list(digests), _LOOKUP_CHUNK):
            rows = self._conn.execute(
                f"SELECT digest, log_index FROM reports WHERE digest IN ({_placeholders(len(chunk))})",  # noqa: S608  # placeholders only
                chunk,
            ).fetchall()
            out.update((bytes(d), int(i)) for d, i in rows)
        return out

    def chain_heads(self, key_ids: Iterable[str]) -> dict[str, StoredReport]:
        out: dict[str, StoredReport] = {}
        columns = ", ".join(f"r.{c.strip()}" for c in _REPORT_COLUMNS.split(","))
        for chunk in _chunks(list(key_ids), _LOOKUP_CHUNK):
            rows = self._conn.execute(
                f"SELECT {columns} FROM chain_heads h JOIN reports r ON r.log_index = h.log_index"  # noqa: S608  # constant columns, placeholders
                f" WHERE h.key_id IN ({_placeholders(len(chunk))})",
                chunk,
            ).fetchall()
            for row in rows:
                report = _report(row)
                out[report.header.key_id] = report
        return out

    def recent_report_digests(self, limit: int) -> list[tuple[bytes, int]]:
        rows = self._conn.execute(
            "SELECT digest, log_index FROM reports ORDER BY log_index DESC LIMIT ?", (limit,)
        ).fetchall()
        return [(bytes(d), int(i)) for d, i in reversed(rows)]

    def reports(
        self, facility_id: str, start_ns: int, end_ns: int, *, after_log_index: int = -1
    ) -> Iterator[StoredReport]:
        cursor = self._conn.execute(
            f"SELECT {_REPORT_COLUMNS} FROM reports WHERE facility_id = ?"  # noqa: S608  # constant columns
            " AND period_start < ? AND period_start > ? AND period_end > ? AND log_index > ?"
            " ORDER BY log_index",
            (facility_id, end_ns, start_ns - MAX_PERIOD_NS - 1, start_ns, after_log_index),
        )
        for row in cursor:
            yield _report(row)

    def findings(
        self, facility_id: str | None = None, start_ns: int | None = None, end_ns: int | None = None
    ) -> Iterator[StoredFinding]:
        where = ["1 = 1"]
        args: list[Any] = []
        if facility_id is not None:
            where.append("facility_id = ?")
            args.append(facility_id)
        if start_ns is not None:
            where.append("end_ns > ?")
            args.append(start_ns)
        if end_ns is not None:
            where.append("start_ns < ?")
            args.append(end_ns)
        sql = "SELECT facility_id, log_index, body FROM findings WHERE " + " AND ".join(where)  # noqa: S608  # constant fragments, values bound
        for row in self._conn.execute(sql + " ORDER BY log_index, id", args):
            yield _finding(row)

    # --- documents ---------------------------------------------------------------------
    def _documents(self, table: str, id_column: str, document_id: str | None) -> list[StoredDocument]:
        sql = f"SELECT {_DOC_COLUMNS.format(id=id_column)} FROM {table}"  # noqa: S608  # constant names
        args: tuple[Any, ...] = ()
        if document_id is not None:
            sql += f" WHERE {id_column} = ?"
            args = (document_id,)
        rows = self._conn.execute(sql + " ORDER BY log_index", args).fetchall()
        return [StoredDocument(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def inventories(self, facility_id: str | None = None) -> list[StoredDocument]:
        return self._documents("inventories", "facility_id", facility_id)

    def latest_inventory(self, facility_id: str) -> StoredDocument | None:
        docs = self._documents("inventories", "facility_id", facility_id)
        return max(docs, key=lambda d: d.version) if docs else None

    def commitments(self, commitment_id: str | None = None) -> list[StoredDocument]:
        return self._documents("commitments", "commitment_id", commitment_id)

    def latest_commitment(self, commitment_id: str) -> StoredDocument | None:
        docs = self._documents("commitments", "commitment_id", commitment_id)
        return max(docs, key=lambda d: d.version) if docs else None

    def terms(self, terms_id: str | None = None) -> list[StoredDocument]:
        return self._documents("terms", "terms_id", terms_id)

    # --- challenges --------------------------------------------------------------------
    def challenge_by_nonce(self, nonce: bytes) -> StoredChallenge | None:
        row = self._one(f"SELECT {_CHALLENGE_COLUMNS} FROM challenges WHERE nonce = ?", (nonce,))  # noqa: S608  # constant columns
        return None if row is None else StoredChallenge(*row)

    def latest_challenge(self) -> StoredChallenge | None:
        row = self._one(f"SELECT {_CHALLENGE_COLUMNS} FROM challenges ORDER BY seq DESC LIMIT 1")  # noqa: S608  # constant columns
        return None if row is None else StoredChallenge(*row)

    def challenges(self, start_ns: int | None = None, end_ns: int | None = None) -> list[StoredChallenge]:
        lo = -(1 << 63) if start_ns is None else start_ns
        hi = (1 << 63) - 1 if end_ns is None else end_ns
        rows = self._conn.execute(
            f"SELECT {_CHALLENGE_COLUMNS} FROM challenges"  # noqa: S608  # constant columns
            " WHERE issued_ns >= ? AND issued_ns < ? ORDER BY log_index",
            (lo, hi),
        ).fetchall()
        return [StoredChallenge(*r) for r in rows]

    # --- verdicts ----------------------------------------------------------------------
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
        where = ["1 = 1"]
        if after is not None:
            where.append("(v.commitment_id, v.facility_id, v.bucket_start, v.revision) > (?, ?, ?, ?)")
            args_after: list[Any] = list(after)
        else:
            args_after = []
        args: list[Any] = []
        for column, value in (("commitment_id", commitment_id), ("facility_id", facility_id)):
            if value is not None:
                where.append(f"v.{column} = ?")
                args.append(value)
        if from_ns is not None:
            where.append("v.bucket_start >= ?")
            args.append(from_ns)
        if to_ns is not None:
            where.append("v.bucket_start < ?")
            args.append(to_ns)
        if not include_superseded:
            where.append(
                "v.revision = (SELECT MAX(w.revision) FROM verdicts w WHERE w.commitment_id ="
                " v.commitment_id AND w.facility_id = v.facility_id AND w.bucket_start = v.bucket_start)"
            )
        columns = ", ".join(f"v.{c.strip()}" for c in _VERDICT_COLUMNS.split(","))
        sql = f"SELECT {columns} FROM verdicts v WHERE " + " AND ".join(where)  # noqa: S608  # constant fragments, values bound
        sql += " ORDER BY v.commitment_id, v.facility_id, v.bucket_start, v.revision"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [StoredVerdict(*r) for r in self._conn.execute(sql, args_after + args).fetchall()]

    def latest_verdict(
        self, commitment_id: str, facility_id: str, bucket_start_ns: int
    ) -> StoredVerdict | None:
        row = self._one(
            f"SELECT {_VERDICT_COLUMNS} FROM verdicts WHERE commitment_id = ? AND facility_id = ?"  # noqa: S608  # constant columns
            " AND bucket_start = ? ORDER BY revision DESC LIMIT 1",
            (commitment_id, facility_id, bucket_start_ns),
        )
        return None if row is None else StoredVerdict(*row)

    # --- checkpoints -------------------------------------------------------------------
    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self._one(
            "SELECT c.size, c.root, c.note, c.signed_ns FROM checkpoints c"
            " JOIN checkpoint_head h ON h.size = c.size WHERE h.id = 1"
        )
        return None if row is None else StoredCheckpoint(*row)

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._conn.execute("SELECT size, root, note, signed_ns FROM checkpoints ORDER BY size")
        return [StoredCheckpoint(*r) for r in rows.fetchall()]

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        row = self._one("SELECT size, root, note, signed_ns FROM checkpoints WHERE size = ?", (size,))
        return None if row is None else StoredCheckpoint(*row)


class _SqliteTransaction(_SqliteReader):
    """Writes inside the transaction the storage opened."""

    def append_entries(self, entries: Sequence[bytes]) -> int:
        return int(self._log.append(list(entries)))

    def put_report(self, report: StoredReport) -> None:
        self.put_reports([report])

    def put_reports(self, reports: Sequence[StoredReport]) -> None:
        self._insert_rows(
            f"INSERT INTO reports (digest, {_REPORT_COLUMNS})", [_report_row(r) for r in reports]
        )

    def put_findings(self, findings: Sequence[StoredFinding]) -> None:
        self._insert_rows(
            "INSERT INTO findings (facility_id, finding_id, start_ns, end_ns, log_index, body)",
            [_finding_row(f) for f in findings],
        )

    def set_chain_heads(self, heads: Sequence[tuple[str, int]]) -> None:
        self._insert_rows(
            "INSERT INTO chain_heads (key_id, log_index)",
            list(heads),
            " ON CONFLICT (key_id) DO UPDATE SET log_index = excluded.log_index",
        )

    def _insert_rows(self, head: str, rows: Sequence[tuple[Any, ...]], tail: str = "") -> None:
        if not rows:
            return
        width = len(rows[0])
        for chunk in _chunks(rows, _ROWS_PER_INSERT):
            self._conn.execute(
                _multi_insert(head, width, len(chunk), tail), [v for row in chunk for v in row]
            )

    def set_chain_head(self, key_id: str, log_index: int) -> None:
        self._conn.execute(
            "INSERT INTO chain_heads (key_id, log_index) VALUES (?, ?)"
            " ON CONFLICT (key_id) DO UPDATE SET log_index = excluded.log_index",
            (key_id, log_index),
        )

    def put_finding(self, finding: StoredFinding) -> None:
        self.put_findings([finding])

    def put_inventory(self, document: StoredDocument) -> None:
        self._put_document("inventories", "facility_id", document)

    def put_commitment(self, document: StoredDocument) -> None:
        self._put_document("commitments", "commitment_id", document)

    def put_terms(self, document: StoredDocument) -> None:
        self._put_document("terms", "terms_id", document)

    def _put_document(self, table: str, id_column: str, d: StoredDocument) -> None:
        self._conn.execute(
            f"INSERT INTO {table} (log_index, {id_column}, lab_id, version, received_ns, envelope)"  # noqa: S608  # constant names
            " VALUES (?, ?, ?, ?, ?, ?)",
            (d.log_index, d.document_id, d.lab_id, d.version, d.received_ns, d.envelope),
        )

    def put_challenge(self, challenge: StoredChallenge) -> None:
        c = challenge
        self._conn.execute(
            f"INSERT INTO challenges ({_CHALLENGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608  # constant columns
            (c.log_index, c.seq, c.nonce, c.issued_ns, c.expires_ns, c.envelope),
        )

    def put_verdict(self, verdict: StoredVerdict) -> None:
        v = verdict
        try:
            self._conn.execute(
                f"INSERT INTO verdicts ({_VERDICT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608  # constant columns
                (
                    v.log_index,
                    v.commitment_id,
                    v.commitment_version,
                    v.facility_id,
                    v.bucket_start_ns,
                    v.bucket_end_ns,
                    v.revision,
                    v.status,
                    v.evaluated_ns,
                    v.envelope,
                ),
            )
        except sqlite3.IntegrityError as e:
            raise InternalError(
                f"verdict revision {v.revision} of {v.commitment_id}/{v.facility_id}"
                f"@{v.bucket_start_ns} already stored"
            ) from e

    def swap_checkpoint(self, expected_size: int | None, checkpoint: StoredCheckpoint) -> None:
        head = self._one("SELECT size FROM checkpoint_head WHERE id = 1")
        current = None if head is None else int(head[0])
        if current != expected_size:
            raise CheckpointConflictError(f"latest checkpoint is at size {current}, expected {expected_size}")
        if current is not None and checkpoint.size <= current:
            raise CheckpointConflictError(
                f"refusing to sign size {checkpoint.size}: not larger than the latest ({current})"
            )
        self._conn.execute(
            "INSERT INTO checkpoints (size, root, note, signed_ns) VALUES (?, ?, ?, ?)",
            (checkpoint.size, checkpoint.root_hash, checkpoint.note, checkpoint.signed_ns),
        )
        self._conn.execute(
            "INSERT INTO checkpoint_head (id, size) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET size = excluded.size",
            (checkpoint.size,),
        )


_LOGGED_TABLES: Final = ("reports", "inventories", "commitments", "terms", "challenges", "verdicts")


def scrub_sqlite(storage: SqliteStorage) -> tuple[list[str], MerkleLog]:
    """Everything in the database checked: SQLite's own integrity check, every log entry
    re-hashed, every tile rebuilt and compared (:meth:`MerkleLog.scrub`), and every row that
    names a log index holding that entry's exact bytes. One line per problem; the rebuilt
    tree (tiles only) to check checkpoints against."""
    conn = storage._conn  # this module's own connection
    problems: list[str] = []
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as e:
        return [f"SQLite cannot check the database: {e}"], MerkleLog(SqliteTreeStore(conn))
    if rows != ["ok"]:
        problems += [f"SQLite integrity_check: {r}" for r in rows[:20]]
    log = storage._log  # this module's own log
    log_problems, rebuilt = log.scrub()
    problems += log_problems
    size = log.size
    union = " UNION ALL ".join(
        f"SELECT log_index, envelope, '{t}' FROM {t}"  # noqa: S608  # fixed table names
        for t in _LOGGED_TABLES
    )
    cursor = conn.execute(union + " ORDER BY 1")
    chunk_at, chunk = -1, None
    while batch := cursor.fetchmany(1024):
        for index, envelope, table in batch:
            if not 0 <= index < size:
                problems.append(f"{table} row at log index {index} is outside the log (size {size})")
                continue
            at = index - index % 4096
            if at != chunk_at:
                chunk_at = at
                try:
                    chunk = log.entries(at, min(size, at + 4096))
                except EnvironmentFaultError:
                    chunk = None  # a corrupt entry: reported above
            if chunk is not None and chunk[index - at] != bytes(envelope):
                problems.append(f"{table} row at log index {index} holds other bytes than the log entry")
    return problems, rebuilt


class SqliteStorage(_SqliteReader):
    """The SQLite storage. ``path`` ``":memory:"`` gives a private in-memory database."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = str(path)
        try:
            if readonly:
                conn = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
                )
            else:
                if self.path != ":memory:":
                    ensure_private_file(Path(self.path))  # 0600, and so its WAL and -shm
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as e:
            raise EnvironmentFaultError(f"{self.path}: cannot open the verifier database: {e}") from e
        self._in_transaction = False
        store = SqliteTreeStore(conn)
        if not readonly:
            self._migrate(conn)
        super().__init__(conn, MerkleLog(store))

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise EnvironmentFaultError(
                    f"database schema version {row[0]} is not {SCHEMA_VERSION}; no migration known"
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def transaction(self) -> Iterator[_SqliteTransaction]:
        """One IMMEDIATE transaction: commit on a clean exit, roll back on any exception."""
        if self._in_transaction:
            raise InternalError("nested storage transaction")
        self._in_transaction = True
        try:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise EnvironmentFaultError(f"{self.path}: cannot begin a transaction: {e}") from e
            tx = _SqliteTransaction(self._conn, self._log)
            try:
                yield tx
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._log_reset()
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as e:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                self._log_reset()
                raise EnvironmentFaultError(f"{self.path}: commit failed: {e}") from e
        finally:
            self._in_transaction = False

    def _log_reset(self) -> None:
        """After a rollback, forget any size the log object cached from inside the transaction."""
        self._log = MerkleLog(SqliteTreeStore(self._conn))

    def close(self) -> None:
        self._conn.close()
