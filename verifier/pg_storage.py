"""PostgreSQL implementation of :mod:`verifier.storage`, for verifiers on several hosts.

Several ``serve`` processes (hosts), each with its own state directory, share one database.
Any of them admits; their sequencers take turns: every write transaction first takes one
transaction-scoped advisory lock (:data:`WRITER_LOCK`), so exactly one host sequences at a
time, and a host that dies mid-tick loses its connection, which makes PostgreSQL roll its
transaction back and free the lock at once: the next host's tick proceeds. Each tick starts by
catching up with what the other hosts committed (:meth:`verifier.sequencer.LogSequencer`). The
compare-and-swap on the log size (``tlog_meta``) and on the latest checkpoint stays the last
line of defence: two writers can never both extend one tree size.

Transactions run at READ COMMITTED, so that each statement after the lock sees what the
previous holder committed. The connection is in autocommit mode outside transactions: a read
never leaves a transaction (and a snapshot) open.

The Merkle log lives in the same database (``tlog_`` tables of :class:`PgTreeStore`, one row
per entry, C2SP tiles as in :class:`pausewatch.tlog_store.SqliteTreeStore`), so a report row
and its log entry commit or roll back together. Triggers refuse anything but growth.

Schema changes are versioned migrations (``schema_version``: one row per applied version),
applied at open under their own advisory lock; a database newer than this code is refused.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

import psycopg
from psycopg.pq import TransactionStatus

from pausewatch.errors import EnvironmentFaultError, InternalError
from pausewatch.tlog_store import TILE_HEIGHT, MerkleLog, Tile, TileKey
from verifier.sql_storage import SqlDialect, SqlReader, SqlTransaction, swap_log_size
from verifier.tlog_sqlite import DEFAULT_TILE_CACHE

__all__ = ["MIGRATIONS", "WRITER_LOCK", "PgStorage", "PgTreeStore"]

WRITER_LOCK: Final = 0x70617573_65777472  # "pausewtr": held by the one writing transaction
_MIGRATION_LOCK: Final = 0x70617573_65776D67  # "pausewmg": held while migrating
_FULL_TILE_BYTES: Final = 32 << TILE_HEIGHT

_V1: Final = (
    """CREATE TABLE reports (
      log_index BIGINT PRIMARY KEY,
      digest BYTEA NOT NULL UNIQUE,
      kind TEXT NOT NULL,
      key_id TEXT NOT NULL,
      facility_id TEXT NOT NULL,
      subject_id TEXT NOT NULL,
      boot_id BYTEA NOT NULL,
      seq BIGINT NOT NULL,
      prev BYTEA NOT NULL,
      period_start BIGINT NOT NULL,
      period_end BIGINT NOT NULL,
      nonce BYTEA NOT NULL,
      signed_ns BIGINT NOT NULL,
      received_ns BIGINT NOT NULL,
      envelope BYTEA NOT NULL)""",
    "CREATE INDEX reports_key_seq ON reports (key_id, seq, log_index)",
    "CREATE INDEX reports_facility_period ON reports (facility_id, period_start)",
    "CREATE TABLE chain_heads (key_id TEXT PRIMARY KEY, log_index BIGINT NOT NULL)",
    """CREATE TABLE findings (
      id BIGSERIAL PRIMARY KEY,
      facility_id TEXT NOT NULL,
      finding_id TEXT NOT NULL,
      start_ns BIGINT NOT NULL,
      end_ns BIGINT NOT NULL,
      log_index BIGINT NOT NULL,
      body BYTEA NOT NULL)""",
    "CREATE INDEX findings_facility_time ON findings (facility_id, start_ns)",
    *(
        f"""CREATE TABLE {table} (
          log_index BIGINT PRIMARY KEY,
          {id_column} TEXT NOT NULL,
          lab_id TEXT NOT NULL,
          version BIGINT NOT NULL,
          received_ns BIGINT NOT NULL,
          envelope BYTEA NOT NULL,
          UNIQUE ({id_column}, version))"""
        for table, id_column in (
            ("inventories", "facility_id"),
            ("commitments", "commitment_id"),
            ("terms", "terms_id"),
        )
    ),
    """CREATE TABLE challenges (
      log_index BIGINT PRIMARY KEY,
      seq BIGINT NOT NULL UNIQUE,
      nonce BYTEA NOT NULL UNIQUE,
      issued_ns BIGINT NOT NULL,
      expires_ns BIGINT NOT NULL,
      envelope BYTEA NOT NULL)""",
    """CREATE TABLE verdicts (
      log_index BIGINT PRIMARY KEY,
      commitment_id TEXT NOT NULL,
      commitment_version BIGINT NOT NULL,
      facility_id TEXT NOT NULL,
      bucket_start BIGINT NOT NULL,
      bucket_end BIGINT NOT NULL,
      revision BIGINT NOT NULL,
      status INTEGER NOT NULL,
      evaluated_ns BIGINT NOT NULL,
      envelope BYTEA NOT NULL,
      UNIQUE (commitment_id, facility_id, bucket_start, revision))""",
    """CREATE TABLE checkpoints (
      size BIGINT PRIMARY KEY,
      root BYTEA NOT NULL,
      note BYTEA NOT NULL,
      signed_ns BIGINT NOT NULL)""",
    "CREATE TABLE checkpoint_head (id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL)",
    # the Merkle log
    "CREATE TABLE tlog_meta (id INTEGER PRIMARY KEY CHECK (id = 0), size BIGINT NOT NULL)",
    """CREATE TABLE tlog_tile (
      level INTEGER NOT NULL,
      idx BIGINT NOT NULL,
      hashes BYTEA NOT NULL CHECK (length(hashes) BETWEEN 32 AND 8192 AND length(hashes) % 32 = 0),
      inner_hashes BYTEA NOT NULL,
      PRIMARY KEY (level, idx))""",
    "CREATE TABLE tlog_entry (idx BIGINT PRIMARY KEY, data BYTEA NOT NULL)",
    # append-only, enforced by the database too
    """CREATE FUNCTION tlog_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'tlog: %', TG_ARGV[0]; END $$""",
    """CREATE FUNCTION tlog_meta_grows() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.size < OLD.size THEN RAISE EXCEPTION 'tlog: the log size never shrinks'; END IF;
        RETURN NEW;
      END $$""",
    """CREATE FUNCTION tlog_tile_grows() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF length(NEW.hashes) <= length(OLD.hashes)
           OR substring(NEW.hashes FROM 1 FOR length(OLD.hashes)) <> OLD.hashes THEN
          RAISE EXCEPTION 'tlog: a tile only grows';
        END IF;
        RETURN NEW;
      END $$""",
    """CREATE TRIGGER tlog_meta_grows BEFORE UPDATE ON tlog_meta
      FOR EACH ROW EXECUTE FUNCTION tlog_meta_grows()""",
    """CREATE TRIGGER tlog_tile_grows BEFORE UPDATE ON tlog_tile
      FOR EACH ROW EXECUTE FUNCTION tlog_tile_grows()""",
    """CREATE TRIGGER tlog_tile_keep BEFORE DELETE ON tlog_tile
      FOR EACH ROW EXECUTE FUNCTION tlog_refuse('tiles are never deleted')""",
    """CREATE TRIGGER tlog_entry_fixed BEFORE UPDATE OR DELETE ON tlog_entry
      FOR EACH ROW EXECUTE FUNCTION tlog_refuse('entries never change')""",
)

MIGRATIONS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = ((1, _V1),)
"""(version, statements) in order; a new schema is a new version appended here, never an edit."""

_DIALECT: Final = SqlDialect("%s", psycopg.IntegrityError)


class PgTreeStore:
    """A ``TreeStore`` in tables ``tlog_*`` of a caller's PostgreSQL connection: ``tlog_meta``
    (the size), ``tlog_tile`` (C2SP tiles by ``(level, idx)`` plus a full tile's inner
    sublevels) and ``tlog_entry`` (one row per entry). Transactions belong to the caller.

    Tile cache: up to ``tile_cache`` full tiles read while no transaction was open (so
    committed; a committed full tile never changes, whichever host wrote it), as in
    :class:`pausewatch.tlog_store.SqliteTreeStore`.
    """

    def __init__(self, conn: psycopg.Connection[Any], *, tile_cache: int = DEFAULT_TILE_CACHE) -> None:
        self._conn = conn
        self._cache: OrderedDict[TileKey, Tile] = OrderedDict()
        self._cache_max = max(0, tile_cache)

    def _idle(self) -> bool:
        return self._conn.info.transaction_status == TransactionStatus.IDLE

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except psycopg.OperationalError as e:
            raise EnvironmentFaultError(f"cannot read the log: {_one_line(e)}") from e

    def read_size(self) -> int:
        rows = self._query("SELECT size FROM tlog_meta WHERE id = 0")
        return int(rows[0][0]) if rows else 0

    def read_tiles(self, keys: Sequence[TileKey]) -> dict[TileKey, Tile]:
        out: dict[TileKey, Tile] = {}
        missing: list[TileKey] = []
        for key in keys:
            tile = self._cache.get(key)
            if tile is None:
                missing.append(key)
            else:
                self._cache.move_to_end(key)
                out[key] = tile
        if not missing:
            return out
        committed = self._cache_max > 0 and self._idle()
        rows = self._query(
            "SELECT t.level, t.idx, t.hashes, t.inner_hashes FROM tlog_tile t"
            " JOIN unnest(%s::integer[], %s::bigint[]) AS k(level, idx)"
            " ON t.level = k.level AND t.idx = k.idx",
            ([k[0] for k in missing], [k[1] for k in missing]),
        )
        for level, index, hashes, inner in rows:
            key, tile = (int(level), int(index)), Tile(bytes(hashes), bytes(inner))
            out[key] = tile
            if committed and len(tile.hashes) == _FULL_TILE_BYTES:
                self._cache[key] = tile
                if len(self._cache) > self._cache_max:
                    self._cache.popitem(last=False)
        return out

    def read_entries(self, start: int, end: int) -> list[bytes]:
        rows = self._query(
            "SELECT data FROM tlog_entry WHERE idx >= %s AND idx < %s ORDER BY idx", (start, end)
        )
        if len(rows) != end - start:
            raise InternalError(f"entries [{start}, {end}) are missing from the store")
        return [bytes(r[0]) for r in rows]

    def write_append(
        self,
        old_size: int,
        new_size: int,
        tiles: Mapping[TileKey, Tile],
        entries: Sequence[bytes],
    ) -> None:
        conn = self._conn
        if conn.info.transaction_status != TransactionStatus.INTRANS:
            raise InternalError("PgTreeStore.write_append needs a transaction")
        if new_size - old_size != len(entries):
            raise InternalError(f"{len(entries)} entries do not take {old_size} to {new_size}")
        try:
            swap_log_size(conn, _DIALECT.placeholder, old_size, new_size)
            with conn.cursor() as c:
                c.executemany(
                    "INSERT INTO tlog_tile (level, idx, hashes, inner_hashes) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes,"
                    " inner_hashes = excluded.inner_hashes",
                    [(level, idx, tile.hashes, tile.inner) for (level, idx), tile in tiles.items()],
                )
                with c.copy("COPY tlog_entry (idx, data) FROM STDIN") as copy:
                    for i, entry in enumerate(entries, old_size):
                        copy.write_row((i, entry))
        except psycopg.Error as e:
            raise EnvironmentFaultError(f"cannot append to the log: {e}") from e


class PgStorage(SqlReader):
    """The PostgreSQL storage, on the database ``dsn`` names (a libpq connection string)."""

    def __init__(self, dsn: str, *, readonly: bool = False) -> None:
        self.dsn = dsn
        self._readonly = readonly
        self._in_transaction = False
        conn = self._connect(migrating=not readonly)
        super().__init__(conn, MerkleLog(PgTreeStore(conn)), _DIALECT)

    def _connect(self, *, migrating: bool) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as e:
            raise EnvironmentFaultError(f"cannot connect to the PostgreSQL database: {_one_line(e)}") from e
        try:
            conn.execute("SET default_transaction_isolation = 'read committed'")
            if self._readonly:
                conn.execute("SET default_transaction_read_only = on")
            elif migrating:
                migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _reconnect_if_broken(self) -> None:
        """A lost connection (server restart, failover, a killed backend) fails the call that
        found it (EnvironmentFaultError); the next call connects again."""
        if self._conn.broken:
            conn = self._connect(migrating=False)
            self._conn = conn
            self._merkle_log = MerkleLog(PgTreeStore(conn))

    @property
    def _log(self) -> MerkleLog:  # the log reads of SqlReader reconnect too
        self._reconnect_if_broken()
        return self._merkle_log

    @_log.setter
    def _log(self, log: MerkleLog) -> None:
        self._merkle_log = log

    def _run(self, sql: str, args: Sequence[Any] = ()) -> Any:
        self._reconnect_if_broken()
        try:
            return super()._run(sql, args)
        except psycopg.OperationalError as e:
            raise EnvironmentFaultError(f"PostgreSQL query failed: {_one_line(e)}") from e

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """One transaction holding the writer lock: commit on a clean exit, roll back on any
        exception (and when the process dies: PostgreSQL rolls back a lost connection's)."""
        if self._in_transaction:
            raise InternalError("nested storage transaction")
        self._reconnect_if_broken()
        self._in_transaction = True
        try:
            try:
                with self._conn.transaction():
                    self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                    yield SqlTransaction(self._conn, self._log, _DIALECT)
            except psycopg.OperationalError as e:
                raise EnvironmentFaultError(f"PostgreSQL transaction failed: {_one_line(e)}") from e
        finally:
            self._in_transaction = False

    def close(self) -> None:
        self._conn.close()


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Apply the migrations this database lacks, in order, under the migration lock (hosts
    starting together migrate once); return the schema version. A database at a version this
    code does not know is refused."""
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version"
                " (version INTEGER PRIMARY KEY, applied_unix_ns BIGINT NOT NULL)"
            )
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            current = int(row[0]) if row is not None and row[0] is not None else 0
            latest = MIGRATIONS[-1][0]
            if current > latest:
                raise EnvironmentFaultError(
                    f"the database's schema is at version {current}; this verifier knows up to {latest}"
                )
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_unix_ns) VALUES (%s, %s)",
                    (version, time.time_ns()),
                )
                current = version
    except psycopg.Error as e:
        raise EnvironmentFaultError(f"cannot migrate the PostgreSQL schema: {_one_line(e)}") from e
    return current


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())
