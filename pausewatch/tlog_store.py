"""Storage for the transparency log: hash tiles and entries, in memory or in SQLite, and the
``MerkleLog`` that appends to them and answers roots and proofs.

Layout (both stores): the tree's hashes live in C2SP tlog-tiles tiles of height 8. The tile
``(level L, index N)`` holds up to 256 consecutive hashes of tree level ``8·L``, starting at
node ``256·N``: level-0 tiles hold leaf hashes, a level-1 tile holds the roots of 256 full
level-0 tiles, and so on. Only the rightmost tile of each level can be partial; it only ever
grows (a full tile never changes). Any complete subtree hash is one tile slice hashed up at most
7 levels, so a root or a proof on a tree of size ``n`` reads O(log n) tiles and never scans,
and a restart needs no rebuild.

``MerkleLog`` keeps **no state of its own**: every call reads what it needs from the store. A
caller's rollback of the SQLite transaction that held an ``append`` therefore leaves nothing
stale behind, and there is nothing to be told about it. The SQLite store keeps only an LRU of
*committed full* tiles, which no rollback can change (see ``SqliteTreeStore``).

Invariants: ``size`` never shrinks outside a rollback; entry ``i``'s leaf hash is position
``i`` of the level-0 tiles; every tile position below the size at its level is filled.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple, Protocol

from pausewatch import merkle
from pausewatch.errors import EnvironmentFaultError, FormatError, InternalError
from pausewatch.merkle import HASH_SIZE, Node, ProofRequestError

__all__ = [
    "BUNDLE_ENTRIES",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "LogConflictError",
    "LogCorruptionError",
    "MemoryTreeStore",
    "MerkleLog",
    "SqliteTreeStore",
    "Tile",
    "TileKey",
    "TreeStore",
    "open_sqlite_log",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile
_FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE
BUNDLE_ENTRIES = 256  # entries per stored bundle (SQLite store)

TileKey = tuple[int, int]
"""``(tile level, tile index)`` as in C2SP tlog-tiles."""

_sha256 = hashlib.sha256
_NODE_PREFIX = b"\x01"
_LEAF_HASHER = hashlib.sha256(b"\x00")  # copied per hash (no prefix + data concatenation)
_NODE_HASHER = hashlib.sha256(_NODE_PREFIX)
# Where sublevel s (1..7) starts in a full tile's ``inner``, in hashes.
_FULL_INNER_AT = tuple(sum(TILE_WIDTH >> t for t in range(1, s)) for s in range(TILE_HEIGHT))
DEFAULT_TILE_CACHE = 1024  # full tiles (about 16 KiB each) an SqliteTreeStore keeps in memory


class Tile(NamedTuple):
    """One stored tile.

    ``hashes``: the C2SP tile bytes, ``w`` (1 to 256) hashes of the tile's base level.
    ``inner``: the complete nodes above them inside the tile, sublevels 1..7 in order, ``w >> s``
    hashes at sublevel ``s`` (254 for a full tile), so that proofs slice instead of hashing.
    """

    hashes: bytes
    inner: bytes = b""


class LogConflictError(EnvironmentFaultError):
    """The stored log changed under a writer (another sequencer, or a lost transaction)."""


class LogCorruptionError(EnvironmentFaultError):
    """A stored entry does not hash to its leaf in the stored tree: the storage is corrupt."""


class TreeStore(Protocol):
    """Where a ``MerkleLog`` keeps its tiles and entries.

    A store holds no tree logic: ``MerkleLog`` computes tiles and hands them over. Reads see
    the store's current state (for SQLite: the connection's, including an open transaction).
    """

    def read_size(self) -> int:
        """The number of entries in the log."""
        ...

    def read_tiles(self, keys: Sequence[TileKey]) -> dict[TileKey, Tile]:
        """The stored tile for each key; absent if none."""
        ...

    def read_entries(self, start: int, end: int) -> list[bytes]:
        """Entries ``start .. end-1``; ``0 <= start <= end <= size`` is the caller's job."""
        ...

    def write_append(
        self,
        old_size: int,
        new_size: int,
        tiles: Mapping[TileKey, Tile],
        entries: Sequence[bytes],
    ) -> None:
        """Record entries ``old_size .. new_size-1`` and the tiles they changed, atomically
        with whatever else the caller's transaction holds.

        Raises ``LogConflictError`` if the stored size is not ``old_size``.
        """
        ...


# --- tile arithmetic (pure) ------------------------------------------------------------


def _parents(hashes: bytes) -> bytes:
    """The level above a run of an even number of same-level hashes (concatenated)."""
    copy = _NODE_HASHER.copy
    out = []
    for i in range(0, len(hashes), 2 * HASH_SIZE):
        h = copy()
        h.update(hashes[i : i + 2 * HASH_SIZE])
        out.append(h.digest())
    return b"".join(out)


def _leaf_hashes(entries: Sequence[bytes]) -> bytes:
    """SHA-256(0x00 || entry) of each entry, concatenated."""
    copy = _LEAF_HASHER.copy
    out = []
    for e in entries:
        h = copy()
        h.update(e)
        out.append(h.digest())
    return b"".join(out)


def _grow_tile(old: Tile, hashes: bytes) -> tuple[Tile, bytes | None]:
    """``old`` grown to ``hashes`` (which extend ``old.hashes``): only the new inner nodes are
    hashed. Returns the tile and, once it is full, its root (a hash of the level above)."""
    old_width, width = len(old.hashes) // HASH_SIZE, len(hashes) // HASH_SIZE
    levels, below, offset = [], hashes, 0
    for sub in range(1, TILE_HEIGHT + 1):
        kept, count = old_width >> sub, width >> sub
        level = old.inner[offset * HASH_SIZE : (offset + kept) * HASH_SIZE]
        level += _parents(below[2 * kept * HASH_SIZE : 2 * count * HASH_SIZE])
        offset += kept
        levels.append(level)
        below = level
    root = levels.pop()  # sublevel 8: the tile's root, stored one tile level up
    return Tile(hashes, b"".join(levels)), (root or None)


def _extend_tiles(store: TreeStore, old_size: int, leaf_hashes: bytes) -> dict[TileKey, Tile]:
    """The tiles that change when ``leaf_hashes`` are appended to a tree of ``old_size``.

    Level by level: append the new hashes to the level's rightmost tile (read once, if
    partial), cut into tiles, and hand the roots of tiles that became full to the level
    above.
    """
    changed: dict[TileKey, Tile] = {}
    level, count, new = 0, old_size, leaf_hashes
    while new:
        first_tile, filled = divmod(count, TILE_WIDTH)
        stored = Tile(b"")
        if filled:
            key = (level, first_tile)
            stored = store.read_tiles([key]).get(key, stored)
            if len(stored.hashes) != filled * HASH_SIZE:
                raise InternalError(
                    f"tile {key} holds {len(stored.hashes) // HASH_SIZE} hashes, expected {filled}"
                )
        buf = stored.hashes + new
        roots = []
        for t, pos in enumerate(range(0, len(buf), _FULL_TILE_BYTES)):
            tile, root = _grow_tile(stored if t == 0 else Tile(b""), buf[pos : pos + _FULL_TILE_BYTES])
            changed[(level, first_tile + t)] = tile
            if root is not None:
                roots.append(root)
        level, count, new = level + 1, count // TILE_WIDTH, b"".join(roots)
    return changed


class _TileHashSource:
    """Answers complete-subtree hashes from a store's tiles (``merkle.SubtreeHashSource``).

    Node ``(l, i)`` is at sublevel ``s = l % 8`` of tile level ``l // 8``: a slice of the
    tile's hashes (``s = 0``) or of its stored inner sublevels. No hashing at all.
    """

    def __init__(self, store: TreeStore) -> None:
        self._store = store

    def subtree_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        where: list[tuple[TileKey, int, int]] = []
        for level, index in nodes:
            sub = level & (TILE_HEIGHT - 1)
            where.append(((level >> 3, (index << sub) >> TILE_HEIGHT), sub, index))
        tiles = self._store.read_tiles(sorted({key for key, _, _ in where}))
        out: list[bytes] = []
        for key, sub, index in where:
            tile = tiles.get(key)
            local = index & ((TILE_WIDTH >> sub) - 1)  # position within the tile's sublevel
            if tile is not None and len(tile.hashes) == _FULL_TILE_BYTES:
                if sub == 0:
                    out.append(tile.hashes[local * HASH_SIZE : (local + 1) * HASH_SIZE])
                else:
                    at = (_FULL_INNER_AT[sub] + local) * HASH_SIZE
                    out.append(tile.inner[at : at + HASH_SIZE])
            else:
                out.append(_node_in_tile(tile, key, sub, local))
        return out


def _node_in_tile(tile: Tile | None, key: TileKey, sub: int, local: int) -> bytes:
    """The hash at position ``local`` of sublevel ``sub`` of the tile ``key``."""
    width = 0 if tile is None else len(tile.hashes) // HASH_SIZE
    if local >= width >> sub or tile is None:
        raise InternalError(f"tile {key} lacks position {local} at sublevel {sub}")
    if sub == 0:
        return tile.hashes[local * HASH_SIZE : (local + 1) * HASH_SIZE]
    at = sum(width >> s for s in range(1, sub)) + local
    return tile.inner[at * HASH_SIZE : (at + 1) * HASH_SIZE]


# --- the log ---------------------------------------------------------------------------


class MerkleLog:
    """An append-only RFC 9162 log over a ``TreeStore``.

    Holds no state: every method reads the store (the size included), so a rolled-back SQLite
    transaction cannot leave it stale. Sizes default to the current size; indices are 0-based.
    """

    def __init__(self, store: TreeStore) -> None:
        self._store = store
        self._source = _TileHashSource(store)

    @property
    def size(self) -> int:
        """The number of entries in the log."""
        return self._store.read_size()

    def append(self, entries: Sequence[bytes]) -> int:
        """Append ``entries`` (bytes each, stored as given) and return the first one's index.

        Appending nothing returns the current size. With SQLite, the append is part of the
        caller's transaction and is undone by its rollback.
        """
        for i, entry in enumerate(entries):
            if not isinstance(entry, bytes):
                raise FormatError(f"entry {i}: expected bytes, got {type(entry).__name__}")
        old_size = self._store.read_size()
        if not entries:
            return old_size
        tiles = _extend_tiles(self._store, old_size, _leaf_hashes(entries))
        self._store.write_append(old_size, old_size + len(entries), tiles, entries)
        return old_size

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` entries, from O(log n) tile reads."""
        return merkle.tree_root(self._resolve(size), self._source)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion proof of entry ``index`` in the tree of ``size``."""
        return merkle.inclusion_proof(index, self._resolve(size), self._source)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 consistency proof from ``old_size`` to ``new_size``."""
        return merkle.consistency_proof(old_size, self._resolve(new_size), self._source)

    def leaf_hash_at(self, index: int) -> bytes:
        """The leaf hash of entry ``index``."""
        self._check_range(index, index + 1)
        return self._source.subtree_hashes([(0, index)])[0]

    def entry(self, index: int) -> bytes:
        """Entry ``index`` as appended, re-hashed against its leaf (LogCorruptionError)."""
        return self.entries(index, index + 1)[0]

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entries ``start .. end-1`` as appended. Every entry read is re-hashed and compared
        with its leaf hash in the stored tiles: a corrupt byte in the storage is
        LogCorruptionError here, never an export or answer that fails only in an audit."""
        self._check_range(start, end)
        entries = self._store.read_entries(start, end)
        self.check_entries(start, entries)
        return entries

    def check_entries(self, start: int, entries: Sequence[bytes]) -> None:
        """Raise LogCorruptionError unless ``entries`` hash to the leaves from ``start`` on."""
        if not entries:
            return
        end = start + len(entries)
        first, last = start // TILE_WIDTH, (end - 1) // TILE_WIDTH
        tiles = self._store.read_tiles([(0, t) for t in range(first, last + 1)])
        leaves = _leaf_hashes(entries)
        for tile_index in range(first, last + 1):
            lo, hi = max(start, tile_index * TILE_WIDTH), min(end, (tile_index + 1) * TILE_WIDTH)
            stored = tiles.get((0, tile_index), Tile(b"")).hashes
            at = (lo - tile_index * TILE_WIDTH) * HASH_SIZE
            want = stored[at : at + (hi - lo) * HASH_SIZE]
            got = leaves[(lo - start) * HASH_SIZE : (hi - start) * HASH_SIZE]
            if want != got:
                bad = next(
                    i
                    for i in range(lo, hi)
                    if want[(i - lo) * HASH_SIZE : (i - lo + 1) * HASH_SIZE]
                    != got[(i - lo) * HASH_SIZE : (i - lo + 1) * HASH_SIZE]
                )
                raise LogCorruptionError(
                    f"log entry {bad} does not hash to its leaf in the stored tree: the storage is corrupt"
                )

    def scrub(self, *, chunk: int = 4096) -> tuple[list[str], MerkleLog]:
        """Check everything the store holds: every entry re-hashed against its leaf, and every
        tile compared with the tile rebuilt from the entries. Returns one line per problem
        and the rebuilt log (tiles only, no entries: roots and proofs of any size, to check
        checkpoints against)."""
        tiles = _TileOnlyStore()
        rebuilt = MerkleLog(tiles)
        problems: list[str] = []
        size = self.size
        for start in range(0, size, chunk):
            entries = self._store.read_entries(start, min(size, start + chunk))
            try:
                self.check_entries(start, entries)
            except LogCorruptionError as e:
                problems.append(str(e))
            rebuilt.append(entries)
        keys = sorted(tiles.keys())
        for at in range(0, len(keys), 256):
            part = keys[at : at + 256]
            stored = self._store.read_tiles(part)
            want = tiles.read_tiles(part)
            for key in part:
                if stored.get(key) != want[key]:
                    problems.append(f"tile {key} differs from the tile rebuilt from the entries")
        return problems, rebuilt

    def _resolve(self, size: int | None) -> int:
        current = self._store.read_size()
        if size is None:
            return current
        if not isinstance(size, int) or not 0 <= size <= current:
            raise ProofRequestError(f"size {size} is outside the log (size {current})")
        return size

    def _check_range(self, start: int, end: int) -> None:
        current = self._store.read_size()
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= current):
            raise ProofRequestError(f"entries [{start}, {end}) are outside the log (size {current})")


# --- stores ----------------------------------------------------------------------------


class MemoryTreeStore:
    """A ``TreeStore`` in process memory, for tests and offline audits. Not transactional."""

    def __init__(self) -> None:
        self._size = 0
        self._tiles: dict[TileKey, Tile] = {}
        self._entries: list[bytes] = []

    def read_size(self) -> int:
        return self._size

    def read_tiles(self, keys: Sequence[TileKey]) -> dict[TileKey, Tile]:
        return {k: self._tiles[k] for k in keys if k in self._tiles}

    def read_entries(self, start: int, end: int) -> list[bytes]:
        return self._entries[start:end]

    def write_append(
        self,
        old_size: int,
        new_size: int,
        tiles: Mapping[TileKey, Tile],
        entries: Sequence[bytes],
    ) -> None:
        if old_size != self._size or new_size - old_size != len(entries):
            raise LogConflictError(f"log size is {self._size}, writer expected {old_size}")
        self._tiles.update(tiles)
        if self._keeps_entries:
            self._entries.extend(entries)
        self._size = new_size

    _keeps_entries = True


class _TileOnlyStore(MemoryTreeStore):
    """A memory store that keeps tiles and drops entries (a scrub's rebuilt tree)."""

    _keeps_entries = False

    def keys(self) -> list[TileKey]:
        return list(self._tiles)


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


def _tile_query(count: int) -> str:
    """Point reads of ``count`` tiles in one statement (``UNION ALL`` of primary-key lookups;
    a row-value ``IN`` would scan the table)."""
    one = "SELECT level, idx, hashes, inner FROM tlog_tile WHERE level = ? AND idx = ?"
    return " UNION ALL ".join([one] * count)


_TILES_PER_QUERY = 16
_TILE_QUERIES = tuple(_tile_query(n) for n in range(_TILES_PER_QUERY + 1))

_OFFSETS = struct.Struct(f">{BUNDLE_ENTRIES + 1}I")
_OFFSET = struct.Struct(">I")


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
        out: list[bytes] = []
        index = start
        while index < end:
            bundle, lo = divmod(index, BUNDLE_ENTRIES)
            hi = min(BUNDLE_ENTRIES, lo + end - index)
            one = end - index == 1
            got = self._read_one(bundle, lo) if one else self._read_bundle(bundle, lo, hi)
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

    def _read_one(self, bundle: int, j: int) -> list[bytes] | None:
        """One entry of a bundle with incremental blob I/O: no whole-bundle read."""
        exists = self._conn.execute("SELECT 1 FROM tlog_bundle WHERE idx = ?", (bundle,)).fetchone()
        if exists is None:
            return None
        with self._conn.blobopen("tlog_bundle", "data", bundle, readonly=True) as blob:
            blob.seek(_OFFSET.size * j)
            first, last = struct.unpack(">II", blob.read(2 * _OFFSET.size))
            blob.seek(_OFFSETS.size + first)
            return [blob.read(last - first)]

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
            if old_size == 0:  # compare-and-swap on the size; the row appears at first append
                cur = conn.execute(
                    "INSERT INTO tlog_meta (id, size) VALUES (0, ?) ON CONFLICT (id) "
                    "DO UPDATE SET size = excluded.size WHERE tlog_meta.size = 0",
                    (new_size,),
                )
            else:
                cur = conn.execute(
                    "UPDATE tlog_meta SET size = ? WHERE id = 0 AND size = ?", (new_size, old_size)
                )
            if cur.rowcount != 1:
                self.clear_cache()
                raise LogConflictError(f"log size changed under the writer (expected {old_size})")
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
