"""The verifier's transparency-log store in SQLite: the tiles and entries of
``pausewatch.tlog_store`` in four tables, append-only by trigger, with an LRU of committed full
tiles.

Entries are stored in bundles of ``BUNDLE_ENTRIES`` (one row each, with an offset table) once
full, and one row per entry in ``tlog_entry_tail`` until then, so that a large log costs one
row per 256 entries.
"""

from __future__ import annotations

import sqlite3
import struct
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from itertools import accumulate
from pathlib import Path

from pausewatch.errors import EnvironmentFaultError, FormatError, InternalError
from pausewatch.tlog_store import (
    _FULL_TILE_BYTES,
    TILE_HEIGHT,
    LogConflictError,
    MerkleLog,
    Tile,
    TileKey,
)
from verifier.sql_storage import swap_log_size

__all__ = ["BUNDLE_ENTRIES", "DEFAULT_TILE_CACHE", "SqliteTreeStore", "open_sqlite_log"]

BUNDLE_ENTRIES = 256  # entries per stored bundle
DEFAULT_TILE_CACHE = 1024  # full tiles (about 16 KiB each) an SqliteTreeStore keeps in memory


def _tile_query(count: int) -> str:
    """Point reads of ``count`` tiles in one statement (``UNION ALL`` of primary-key lookups;
    a row-value ``IN`` would scan the table)."""
    one = "SELECT level, idx, hashes, inner FROM tlog_tile WHERE level = ? AND idx = ?"
    return " UNION ALL ".join([one] * count)


def _pack_bundle(entries: Sequence[bytes]) -> bytes:
    """A full bundle: 257 big-endian uint32 offsets into the data that follows, then data.

    Entry ``j`` is ``data[off[j]:off[j+1]]``, so one entry is read with two small blob reads.
    """
    offsets = [0, *accumulate(map(len, entries))]
    if offsets[-1] > 0xFFFFFFFF:
        raise FormatError("a bundle of 256 entries must stay under 4 GiB")
    return _OFFSETS.pack(*offsets) + b"".join(entries)


def _unpack_bundle(blob: bytes, lo: int, hi: int) -> list[bytes]:
    offsets = _OFFSETS.unpack_from(blob)
    base = _OFFSETS.size
    return [blob[base + offsets[j] : base + offsets[j + 1]] for j in range(lo, hi)]


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tlog_meta (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        size INTEGER NOT NULL CHECK (size >= 0))""",
    """CREATE TABLE IF NOT EXISTS tlog_tile (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hashes BLOB NOT NULL CHECK (length(hashes) BETWEEN 32 AND 8192),
        inner BLOB NOT NULL CHECK (length(inner) % 32 = 0 AND length(inner) <= 8128),
        PRIMARY KEY (level, idx))""",
    """CREATE TABLE IF NOT EXISTS tlog_bundle (
        idx INTEGER PRIMARY KEY,
        data BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tlog_entry_tail (
        idx INTEGER PRIMARY KEY,
        data BLOB NOT NULL)""",
    # Append-only, enforced by the database too: the size never shrinks, a tile only grows
    # (a full one never changes), bundles never change.
    """CREATE TRIGGER IF NOT EXISTS tlog_meta_grows BEFORE UPDATE ON tlog_meta
        WHEN NEW.size < OLD.size
        BEGIN SELECT RAISE(ABORT, 'tlog: the log size never shrinks'); END""",
    """CREATE TRIGGER IF NOT EXISTS tlog_tile_grows BEFORE UPDATE ON tlog_tile
        WHEN length(NEW.hashes) <= length(OLD.hashes)
          OR substr(NEW.hashes, 1, length(OLD.hashes)) != OLD.hashes
        BEGIN SELECT RAISE(ABORT, 'tlog: a tile only grows'); END""",
    """CREATE TRIGGER IF NOT EXISTS tlog_tile_keep BEFORE DELETE ON tlog_tile
        BEGIN SELECT RAISE(ABORT, 'tlog: tiles are never deleted'); END""",
    """CREATE TRIGGER IF NOT EXISTS tlog_bundle_fixed BEFORE UPDATE ON tlog_bundle
        BEGIN SELECT RAISE(ABORT, 'tlog: bundles never change'); END""",
    """CREATE TRIGGER IF NOT EXISTS tlog_bundle_keep BEFORE DELETE ON tlog_bundle
        BEGIN SELECT RAISE(ABORT, 'tlog: bundles are never deleted'); END""",
)


_TILES_PER_QUERY = 16
_TILE_QUERIES = tuple(_tile_query(n) for n in range(_TILES_PER_QUERY + 1))

_OFFSETS = struct.Struct(f">{BUNDLE_ENTRIES + 1}I")
_TAIL_LOOKUP = 500  # indices per IN (...) list


class SqliteTreeStore:
    """A ``TreeStore`` in tables ``tlog_*`` of a caller's SQLite connection.

    Tables: ``tlog_meta`` (the size), ``tlog_tile`` (C2SP tiles by ``(level, idx)``, byte for
    byte in ``hashes``, plus a full tile's inner sublevels in ``inner``; the rightmost tile of a
    level is rewritten as it grows), ``tlog_bundle`` (full bundles of 256
    entries, one row each, see ``_pack_bundle``) and ``tlog_entry_tail`` (one row per entry of
    the incomplete last bundle, folded into a bundle when it fills). Bundles keep the row count
    at 1/256 per entry for bulk appends; the tail keeps a one-entry append at one small row
    instead of rewriting a growing bundle. Triggers refuse anything but growth.

    Transactions belong to the caller: the store creates its tables if absent and then never
    begins, commits or rolls back. ``write_append`` runs inside the caller's transaction (or,
    in Python's default mode, opens the implicit one the caller will commit); it refuses to
    run on an autocommit connection with no transaction open, where the append would not be
    atomic. A rollback undoes the append completely.

    Tile cache: up to ``tile_cache`` *full* tiles (256 hashes; LRU; 0 turns it off), per store
    object, so per connection and per log. Only full tiles read while the connection has no
    transaction open are cached: such a read sees committed state only, and a committed full
    tile never changes (the triggers refuse it and the CHECK caps its length), so it cannot be
    undone by any rollback. A tile read inside a transaction (possibly the caller's own
    uncommitted append) is used for that call and not kept. Partial tiles are never cached.
    The cache is dropped on any doubt: a size conflict, a failed append, or a stored size
    smaller than a cached tile implies.
    """

    def __init__(self, conn: sqlite3.Connection, *, tile_cache: int = DEFAULT_TILE_CACHE) -> None:
        self._conn = conn
        self._cache: OrderedDict[TileKey, Tile] = OrderedDict()
        self._cache_max = max(0, tile_cache)
        self._cache_needs = 0  # the smallest log size consistent with every cached tile
        self.cache_hits = 0
        self.cache_misses = 0
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
        except sqlite3.Error as e:
            raise EnvironmentFaultError(f"cannot create the tlog tables: {e}") from e

    def read_size(self) -> int:
        row = self._conn.execute("SELECT size FROM tlog_meta WHERE id = 0").fetchone()
        size = 0 if row is None else int(row[0])  # no row until the first append
        if size < self._cache_needs:  # not the log the cache was filled from: forget it
            self.clear_cache()
        return size

    def read_tiles(self, keys: Sequence[TileKey]) -> dict[TileKey, Tile]:
        out: dict[TileKey, Tile] = {}
        cache = self._cache
        missing: list[TileKey] = []
        for key in keys:
            tile = cache.get(key)
            if tile is None:
                missing.append(key)
            else:
                cache.move_to_end(key)
                out[key] = tile
        self.cache_hits += len(out)
        if not missing:
            return out
        self.cache_misses += len(missing)
        conn = self._conn
        committed = self._cache_max > 0 and not conn.in_transaction
        rows: list[tuple[int, int, bytes, bytes]] = []
        for at in range(0, len(missing), _TILES_PER_QUERY):  # one statement per 16 tiles
            chunk = missing[at : at + _TILES_PER_QUERY]
            rows += conn.execute(_TILE_QUERIES[len(chunk)], [x for key in chunk for x in key]).fetchall()
        committed = committed and not conn.in_transaction
        for level, index, hashes, inner in rows:
            key, tile = (level, index), Tile(bytes(hashes), bytes(inner))
            out[key] = tile
            if committed and len(tile.hashes) == _FULL_TILE_BYTES:
                self._keep(key, tile)
        return out

    def _keep(self, key: TileKey, tile: Tile) -> None:
        """Cache a full tile read from committed state."""
        cache = self._cache
        cache[key] = tile
        if len(cache) > self._cache_max:
            cache.popitem(last=False)
        level, index = key
        self._cache_needs = max(self._cache_needs, (index + 1) << (TILE_HEIGHT * (level + 1)))

    def clear_cache(self) -> None:
        """Forget every cached tile (they are read again from the database when needed)."""
        self._cache.clear()
        self._cache_needs = 0

    @property
    def cached_tiles(self) -> frozenset[TileKey]:
        """The keys of the tiles held in memory now."""
        return frozenset(self._cache)

    def read_entries(self, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return self.read_entries_at([start])
        out: list[bytes] = []
        index = start
        while index < end:
            bundle, lo = divmod(index, BUNDLE_ENTRIES)
            hi = min(BUNDLE_ENTRIES, lo + end - index)
            got = self._read_bundle(bundle, lo, hi)
            if got is None:  # not bundled yet: the tail holds the rest
                rows = self._conn.execute(
                    "SELECT data FROM tlog_entry_tail WHERE idx >= ? AND idx < ? ORDER BY idx",
                    (index, end),
                ).fetchall()
                got = [bytes(r[0]) for r in rows]
                if len(got) != end - index:
                    raise InternalError(f"entries [{index}, {end}) are missing from the store")
            out.extend(got)
            index += len(got)
        return out

    def _read_bundle(self, bundle: int, lo: int, hi: int) -> list[bytes] | None:
        row = self._conn.execute("SELECT data FROM tlog_bundle WHERE idx = ?", (bundle,)).fetchone()
        return None if row is None else _unpack_bundle(bytes(row[0]), lo, hi)

    def read_entries_at(self, indices: Sequence[int]) -> list[bytes]:
        """The entries at ``indices`` (any order), each read alone: a bundle's with incremental
        blob I/O (its offsets read once, then only the entries' bytes, never the whole
        bundle), the tail's in one query per few hundred. What reads a report's envelope."""
        found: dict[int, bytes] = {}
        by_bundle: dict[int, list[int]] = {}
        for index in indices:
            by_bundle.setdefault(index // BUNDLE_ENTRIES, []).append(index)
        tail: list[int] = []
        for bundle, wanted in by_bundle.items():
            try:
                blob = self._conn.blobopen("tlog_bundle", "data", bundle, readonly=True)
            except sqlite3.OperationalError:
                if self._conn.execute("SELECT 1 FROM tlog_bundle WHERE idx = ?", (bundle,)).fetchone():
                    raise  # the bundle is there: a real error
                tail += wanted  # not bundled yet: in the tail
                continue
            with blob:
                offsets = _OFFSETS.unpack(blob.read(_OFFSETS.size))
                for index in wanted:
                    j = index % BUNDLE_ENTRIES
                    blob.seek(_OFFSETS.size + offsets[j])
                    found[index] = blob.read(offsets[j + 1] - offsets[j])
        for at in range(0, len(tail), _TAIL_LOOKUP):
            chunk = tail[at : at + _TAIL_LOOKUP]
            marks = ", ".join("?" * len(chunk))
            found.update(
                (int(i), bytes(d))
                for i, d in self._conn.execute(
                    f"SELECT idx, data FROM tlog_entry_tail WHERE idx IN ({marks})",  # noqa: S608  # placeholders only
                    chunk,
                )
            )
        try:
            return [found[i] for i in indices]
        except KeyError as e:
            raise InternalError(f"entry {e.args[0]} is missing from the store") from None

    def write_append(
        self,
        old_size: int,
        new_size: int,
        tiles: Mapping[TileKey, Tile],
        entries: Sequence[bytes],
    ) -> None:
        conn = self._conn
        if conn.isolation_level is None and not conn.in_transaction:
            raise InternalError("SqliteTreeStore.write_append needs a transaction: BEGIN before appending")
        if new_size - old_size != len(entries):
            raise InternalError(f"{len(entries)} entries do not take {old_size} to {new_size}")
        try:
            try:
                swap_log_size(conn, "?", old_size, new_size)
            except LogConflictError:
                self.clear_cache()
                raise
            conn.executemany(
                "INSERT INTO tlog_tile (level, idx, hashes, inner) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes, inner = excluded.inner",
                [(level, idx, tile.hashes, tile.inner) for (level, idx), tile in tiles.items()],
            )
            self._write_entries(old_size, entries)
        except sqlite3.Error as e:
            self.clear_cache()
            raise EnvironmentFaultError(f"cannot append to the log: {e}") from e

    def _write_entries(self, old_size: int, entries: Sequence[bytes]) -> None:
        conn = self._conn
        first_bundle, pending = divmod(old_size, BUNDLE_ENTRIES)
        items = list(entries)
        if pending and pending + len(items) >= BUNDLE_ENTRIES:
            # the tail bundle fills up: fold its stored rows in
            start = first_bundle * BUNDLE_ENTRIES
            rows = conn.execute(
                "SELECT data FROM tlog_entry_tail WHERE idx >= ? AND idx < ? ORDER BY idx",
                (start, old_size),
            ).fetchall()
            if len(rows) != pending:
                raise InternalError(f"tail holds {len(rows)} entries, expected {pending}")
            conn.execute("DELETE FROM tlog_entry_tail WHERE idx >= ?", (start,))
            items = [bytes(r[0]) for r in rows] + items
            pending = 0
        if pending:  # still inside the incomplete bundle
            conn.executemany(
                "INSERT INTO tlog_entry_tail (idx, data) VALUES (?, ?)",
                zip(range(old_size, old_size + len(items)), items, strict=True),
            )
            return
        full = len(items) // BUNDLE_ENTRIES
        conn.executemany(
            "INSERT INTO tlog_bundle (idx, data) VALUES (?, ?)",
            (
                (first_bundle + b, _pack_bundle(items[b * BUNDLE_ENTRIES : (b + 1) * BUNDLE_ENTRIES]))
                for b in range(full)
            ),
        )
        tail_start = (first_bundle + full) * BUNDLE_ENTRIES
        conn.executemany(
            "INSERT INTO tlog_entry_tail (idx, data) VALUES (?, ?)",
            zip(
                range(tail_start, tail_start + len(items) - full * BUNDLE_ENTRIES),
                items[full * BUNDLE_ENTRIES :],
                strict=True,
            ),
        )


def open_sqlite_log(path: Path) -> tuple[sqlite3.Connection, MerkleLog]:
    """Open (creating if needed) a log database at ``path``: WAL, ``synchronous=FULL``, and a
    64 MiB page cache (tiles of a 10-million-entry log take about 620 MiB; the upper levels
    and the right edge, read by every proof, stay in cache).

    The connection is in Python's default transaction mode with ``BEGIN IMMEDIATE``: the first
    write opens a transaction that takes the write lock at once; the caller commits (``with
    conn:``) or rolls back. The caller closes the connection.
    """
    try:
        conn = sqlite3.connect(str(path), isolation_level="IMMEDIATE")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA cache_size = -65536")  # 64 MiB of pages: the hot tiles stay cached
        store = SqliteTreeStore(conn)
        conn.commit()  # the schema, created inside the implicit transaction of the DDL
    except sqlite3.Error as e:
        raise EnvironmentFaultError(f"cannot open log database {path}: {e}") from e
    return conn, MerkleLog(store)

