"""SQLite implementation of :mod:`verifier.storage` (the default).

One file under the state directory, WAL journal, ``synchronous=FULL``: a transaction that
returned from COMMIT survives SIGKILL and power loss. The Merkle log lives in the same file
(``tlog_`` tables of :class:`verifier.tlog_sqlite.SqliteTreeStore`, which never commits by
itself), so a report row and its log entry commit or roll back together.

A report's envelope is stored once, as its log entry: its ``reports`` row holds the header's
fields, the digest and the log index, and reads take the envelope from the log (schema
version 2; version 1 kept a second copy in the row, ~2.5 KB a report, a 4 KiB page of the
database and of the WAL each; a database migrated from it keeps that column, see
``_reports_envelopes_in_the_log``). Schema changes are versioned migrations
(``_MIGRATIONS``), applied at open in one transaction; a database newer than this code is
refused.

Integers on the wire are uint64 where SQLite holds int64: ingest refuses sequence numbers and
versions of 2^63 and above before they reach this module.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from pausewatch.envelope import envelope_digest
from pausewatch.errors import EnvironmentFaultError, InternalError
from pausewatch.files.statedir import ensure_private_file
from pausewatch.tlog_store import MerkleLog
from verifier.sql_storage import SqlDialect, SqlReader, SqlTransaction
from verifier.tlog_sqlite import SqliteTreeStore

__all__ = ["SCHEMA_VERSION", "SqliteStorage", "scrub_sqlite"]

SCHEMA_VERSION: Final = 2

_META: Final = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"

# The current schema, for a new database (an existing one gets there by _MIGRATIONS).
_SCHEMA: Final = """
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
  received_ns INTEGER NOT NULL
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

_DIALECT: Final = SqlDialect("?", sqlite3.IntegrityError)


# tables whose rows hold their log entry's bytes (a report's row holds its digest)
_ENVELOPE_TABLES: Final = ("inventories", "commitments", "terms", "challenges", "verdicts")


def _reports_envelopes_in_the_log(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2: a report's envelope is read from its log entry, and a new report's row
    holds none. Nothing is rewritten, so the step costs nothing however many reports the
    database holds (dropping the column rewrites the table: ~40 µs a report, minutes for
    millions, one transaction at start that a service manager's start timeout would kill and
    roll back, again at every restart). The rows of version 1 keep their copy, which nothing
    reads (``scrub`` compares it with the log entry); new rows put an empty blob in the
    ``NOT NULL`` column. With the service stopped, ``ALTER TABLE reports DROP COLUMN
    envelope`` then ``VACUUM`` returns the space; the code reads either shape. The version
    number is what keeps the code before it (which would read the empty blobs as
    envelopes) from opening the database."""
    del conn  # nothing to change but the version number


# Version n's migration takes a database at version n - 1 to n, inside the opening transaction.
_MIGRATIONS: Final[dict[int, Callable[[sqlite3.Connection], None]]] = {2: _reports_envelopes_in_the_log}


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
    # (log index, what the row holds, its table, whether that is the entry's digest)
    selects = [
        "SELECT log_index, digest, 'reports', 1 FROM reports",
        *(f"SELECT log_index, envelope, '{t}', 0 FROM {t}" for t in _ENVELOPE_TABLES),  # noqa: S608  # fixed table names
    ]
    if storage.legacy_envelope_column:  # the copies version 1 rows still hold
        selects.append("SELECT log_index, envelope, 'reports', 0 FROM reports WHERE length(envelope) > 0")
    cursor = conn.execute(" UNION ALL ".join(selects) + " ORDER BY 1")
    chunk_at, chunk = -1, None
    while batch := cursor.fetchmany(1024):
        for index, held, table, is_digest in batch:
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
            if chunk is None:
                continue
            entry = chunk[index - at]
            if is_digest and envelope_digest(entry) != bytes(held):
                problems.append(f"{table} row at log index {index} names another digest than the log entry's")
            elif not is_digest and entry != bytes(held):
                problems.append(f"{table} row at log index {index} holds other bytes than the log entry")
    return problems, rebuilt


class SqliteStorage(SqlReader):
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
                conn.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.Error as e:
            raise EnvironmentFaultError(f"{self.path}: cannot open the verifier database: {e}") from e
        self._in_transaction = False
        store = SqliteTreeStore(conn)
        if not readonly:
            self._migrate(conn)
        # a read-only open may find a version 1 database: its reads are the same (the rows'
        # envelope column is not read); only a writer migrates
        try:
            columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(reports)")}
        except sqlite3.Error as e:
            raise EnvironmentFaultError(f"{self.path}: cannot read the verifier database: {e}") from e
        # a database from version 1 keeps its column (_reports_envelopes_in_the_log)
        self.legacy_envelope_column = "envelope" in columns
        super().__init__(
            conn,
            MerkleLog(store),
            _DIALECT,
            store.read_entries_at,
            empty_envelope_column=self.legacy_envelope_column,
        )

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Create the schema in a new database, or bring an existing one to SCHEMA_VERSION, in
        one transaction: a failed migration leaves the database as it was."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_META)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            else:
                version = int(row[0])
                if version > SCHEMA_VERSION:
                    raise EnvironmentFaultError(
                        f"database schema version {version} is newer than this verifier's"
                        f" ({SCHEMA_VERSION}); run the release that wrote it"
                    )
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    _MIGRATIONS[step](conn)
                    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(step),))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """One IMMEDIATE transaction: commit on a clean exit, roll back on any exception."""
        if self._in_transaction:
            raise InternalError("nested storage transaction")
        self._in_transaction = True
        try:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise EnvironmentFaultError(f"{self.path}: cannot begin a transaction: {e}") from e
            tx = SqlTransaction(
                self._conn,
                self._log,
                _DIALECT,
                self._entries_at,
                empty_envelope_column=self.legacy_envelope_column,
            )
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
