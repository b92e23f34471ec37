"""Storage for the transparency log: hash tiles and entries behind the ``TreeStore`` protocol, an
in-memory store, and the ``MerkleLog`` that appends to a store and answers roots and proofs. The
SQLite store is the verifier's (``verifier/tlog_sqlite.py``); this module does no I/O.

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
*committed full* tiles, which no rollback can change (see ``verifier.tlog_sqlite``).

Invariants: ``size`` never shrinks outside a rollback; entry ``i``'s leaf hash is position
``i`` of the level-0 tiles; every tile position below the size at its level is filled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from pausewatch import merkle
from pausewatch.errors import EnvironmentFaultError, FormatError, InternalError
from pausewatch.merkle import HASH_SIZE, Node, ProofRequestError

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "LogConflictError",
    "LogCorruptionError",
    "MemoryTreeStore",
    "MerkleLog",
    "Tile",
    "TileKey",
    "TreeStore",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile
_FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE

TileKey = tuple[int, int]
"""``(tile level, tile index)`` as in C2SP tlog-tiles."""

# Where sublevel s (1..7) starts in a full tile's ``inner``, in hashes.
_FULL_INNER_AT = tuple(sum(TILE_WIDTH >> t for t in range(1, s)) for s in range(TILE_HEIGHT))


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


def _grow_tile(old: Tile, hashes: bytes) -> tuple[Tile, bytes | None]:
    """``old`` grown to ``hashes`` (which extend ``old.hashes``): only the new inner nodes are
    hashed. Returns the tile and, once it is full, its root (a hash of the level above)."""
    old_width, width = len(old.hashes) // HASH_SIZE, len(hashes) // HASH_SIZE
    levels, below, offset = [], hashes, 0
    for sub in range(1, TILE_HEIGHT + 1):
        kept, count = old_width >> sub, width >> sub
        level = old.inner[offset * HASH_SIZE : (offset + kept) * HASH_SIZE]
        level += merkle.parent_hashes(below[2 * kept * HASH_SIZE : 2 * count * HASH_SIZE])
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
        tiles = _extend_tiles(self._store, old_size, merkle.leaf_hashes(entries))
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
        leaves = merkle.leaf_hashes(entries)
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


