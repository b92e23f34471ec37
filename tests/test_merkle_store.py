"""One conformance suite for every TreeStore behind MerkleLog, plus SQLite's transactions,
rollback, restart and append-only guards."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pausewatch import merkle
from pausewatch.errors import FormatError, InternalError
from pausewatch.tlog_store import LogConflictError, MemoryTreeStore, MerkleLog, TreeStore
from verifier import tlog_sqlite
from verifier.tlog_sqlite import SqliteTreeStore, open_sqlite_log


class _Harness:
    """A log plus how to make an append durable (a commit for SQLite, nothing in memory)."""

    def __init__(self, log: MerkleLog, store: TreeStore, conn: sqlite3.Connection | None) -> None:
        self.log, self.store, self.conn = log, store, conn

    def append(self, entries: list[bytes]) -> int:
        if self.conn is None:
            return self.log.append(entries)
        with self.conn:
            return self.log.append(entries)


@pytest.fixture(params=["memory", "sqlite"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Harness]:
    if request.param == "memory":
        store = MemoryTreeStore()
        yield _Harness(MerkleLog(store), store, None)
        return
    conn, log = open_sqlite_log(tmp_path / "log.db")
    try:
        yield _Harness(log, SqliteTreeStore(conn), conn)
    finally:
        conn.close()


def _entries(start: int, count: int) -> list[bytes]:
    # varied lengths, including empty entries, so bundle offsets are exercised
    return [b"e%d" % i * (i % 5) for i in range(start, start + count)]


def test_empty_log(harness: _Harness) -> None:
    log = harness.log
    assert log.size == 0
    assert log.root() == merkle.EMPTY_ROOT
    assert log.consistency_proof(0, 0) == []
    with pytest.raises(merkle.ProofRequestError):
        log.inclusion_proof(0)
    with pytest.raises(merkle.ProofRequestError):
        log.entry(0)
    assert log.entries(0, 0) == []
    assert harness.append([]) == 0


def test_appends_across_tile_and_bundle_boundaries(harness: _Harness) -> None:
    """Batch sizes that start, fill and straddle 256-wide tiles and bundles."""
    expected: list[bytes] = []
    for count in (1, 1, 253, 1, 1, 300, 255, 1, 512, 20, 700, 1):
        first = harness.append(_entries(len(expected), count))
        assert first == len(expected)
        expected += _entries(len(expected), count)
        assert harness.log.size == len(expected)
    log = harness.log
    leaves = [merkle.leaf_hash(e) for e in expected]
    assert log.entries(0, len(expected)) == expected
    for i in (0, 1, 255, 256, 257, 511, 512, 1023, 1024, len(expected) - 1):
        assert log.entry(i) == expected[i]
        assert log.leaf_hash_at(i) == leaves[i]
        assert log.entries(i, min(i + 300, len(expected))) == expected[i : i + 300]
    for size in (1, 2, 255, 256, 257, 258, 511, 512, 513, 767, 768, 1500, len(expected)):
        root = log.root(size)
        assert root == merkle.root_of(leaves[:size])
        for index in {0, size // 2, size - 1}:
            merkle.verify_inclusion(leaves[index], index, size, log.inclusion_proof(index, size), root)
        for old in {1, size // 3, size - 1, size}:
            merkle.verify_consistency(old, size, log.consistency_proof(old, size), log.root(old), root)


def test_second_tile_level(harness: _Harness) -> None:
    """Past 65,536 leaves the tree reaches tile level 2; roots and proofs still agree."""
    leaves: list[bytes] = []
    for _ in range(3):
        batch = _entries(len(leaves), 23_000)
        harness.append(batch)
        leaves += [merkle.leaf_hash(e) for e in batch]
    log = harness.log
    for size in (65_535, 65_536, 65_537, 69_000):
        root = log.root(size)
        assert root == merkle.root_of(leaves[:size])
        for index in {0, 65_534, size - 1}:
            proof = log.inclusion_proof(index, size)
            merkle.verify_inclusion(leaves[index], index, size, proof, root)
        merkle.verify_consistency(65_535, size, log.consistency_proof(65_535, size), log.root(65_535), root)


def test_out_of_range_requests(harness: _Harness) -> None:
    harness.append(_entries(0, 10))
    log = harness.log
    for bad in (
        lambda: log.root(11),
        lambda: log.root(-1),
        lambda: log.inclusion_proof(10),
        lambda: log.inclusion_proof(3, 3),
        lambda: log.inclusion_proof(-1),
        lambda: log.consistency_proof(5, 4),
        lambda: log.consistency_proof(5, 11),
        lambda: log.entry(10),
        lambda: log.entries(5, 11),
        lambda: log.leaf_hash_at(10),
    ):
        with pytest.raises(merkle.ProofRequestError):
            bad()


def test_non_bytes_entries_are_refused_whole(harness: _Harness) -> None:
    harness.append(_entries(0, 3))
    with pytest.raises(FormatError):
        harness.append([b"ok", "text"])  # type: ignore[list-item]  # the wrong type is the point
    assert harness.log.size == 3


def test_stale_writer_is_refused(harness: _Harness) -> None:
    harness.append(_entries(0, 5))

    def stale_write() -> None:
        if harness.conn is None:
            harness.store.write_append(4, 5, {}, [b"x"])
        else:
            with harness.conn:
                harness.store.write_append(4, 5, {}, [b"x"])

    with pytest.raises(LogConflictError):
        stale_write()
    assert harness.log.size == 5
    assert harness.log.entries(0, 5) == _entries(0, 5)


# --- SQLite specifics -------------------------------------------------------------------


def _fresh_memory_log(entries: list[bytes]) -> MerkleLog:
    log = MerkleLog(MemoryTreeStore())
    log.append(entries)
    return log


def test_rollback_of_the_callers_transaction_leaves_the_log_as_it_was(tmp_path: Path) -> None:
    conn, log = open_sqlite_log(tmp_path / "log.db")
    conn.execute("CREATE TABLE report (id INTEGER PRIMARY KEY, body BLOB)")
    before = _entries(0, 300)
    with conn:
        log.append(before)
    snapshot = (log.size, log.root(), log.inclusion_proof(299), log.consistency_proof(10))

    class _RejectedError(Exception):
        pass

    def ingest_then_reject() -> None:  # the verifier's shape: report row + log entry, one txn
        with conn:
            conn.execute("INSERT INTO report (body) VALUES (?)", (b"report",))
            log.append(_entries(300, 500))  # fills a bundle and a tile, starts new ones
            assert log.size == 800  # visible inside the transaction
            raise _RejectedError

    with pytest.raises(_RejectedError):
        ingest_then_reject()
    assert conn.execute("SELECT COUNT(*) FROM report").fetchone()[0] == 0
    assert (log.size, log.root(), log.inclusion_proof(299), log.consistency_proof(10)) == snapshot
    assert log.entries(0, 300) == before

    after = [b"different %d" % i for i in range(500)]
    with conn:
        log.append(after)
    reference = _fresh_memory_log(before + after)
    assert log.root() == reference.root()
    assert log.entries(0, 800) == before + after
    assert log.inclusion_proof(555) == reference.inclusion_proof(555)
    conn.close()


def test_restart_needs_no_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    conn, log = open_sqlite_log(path)
    with conn:
        log.append(_entries(0, 70_000))
    with conn:
        log.append(_entries(70_000, 77))
    expected = (log.root(), log.root(1234), log.inclusion_proof(69_999), log.consistency_proof(700))
    conn.close()

    conn, log = open_sqlite_log(path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    assert log.inclusion_proof(69_999) == expected[2]
    # O(log n) point reads, no scan, no rebuild: the size, then at most one tile per node
    assert len(statements) <= 1 + 20
    assert all("tlog_tile WHERE level" in s or "tlog_meta" in s for s in statements)
    conn.set_trace_callback(None)
    assert (log.root(), log.root(1234), log.inclusion_proof(69_999), log.consistency_proof(700)) == expected
    assert log.size == 70_077
    with conn:
        log.append([b"after restart"])
    assert log.entry(70_077) == b"after restart"
    conn.close()


def test_tile_reads_use_the_primary_key(tmp_path: Path) -> None:
    conn, _ = open_sqlite_log(tmp_path / "log.db")
    for query in (
        "SELECT hashes FROM tlog_tile WHERE level = 0 AND idx = 5",
        "SELECT data FROM tlog_bundle WHERE idx = 5",
        "SELECT data FROM tlog_entry_tail WHERE idx >= 5 AND idx < 9 ORDER BY idx",
    ):
        plan = " ".join(str(row[-1]) for row in conn.execute("EXPLAIN QUERY PLAN " + query))
        assert "SEARCH" in plan, plan
        assert "SCAN" not in plan, plan
    # the batched tile read: one primary-key lookup per tile
    batched = "EXPLAIN QUERY PLAN " + tlog_sqlite._tile_query(3)
    plan = " ".join(str(row[-1]) for row in conn.execute(batched, [0, 1, 0, 2, 1, 0]))
    assert plan.count("SEARCH tlog_tile") == 3, plan
    assert "SCAN" not in plan, plan
    conn.close()


def test_pragmas(tmp_path: Path) -> None:
    conn, _ = open_sqlite_log(tmp_path / "log.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn.close()


def test_autocommit_connection_without_transaction_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    log = MerkleLog(SqliteTreeStore(conn))
    with pytest.raises(InternalError):
        log.append([b"x"])
    assert log.size == 0
    conn.execute("BEGIN IMMEDIATE")
    log.append([b"x"])
    conn.execute("ROLLBACK")
    assert log.size == 0
    conn.close()


def test_store_never_commits(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    conn, log = open_sqlite_log(path)
    log.append(_entries(0, 600))
    assert conn.in_transaction  # still the caller's to finish
    other = sqlite3.connect(path)
    assert MerkleLog(SqliteTreeStore(other)).size == 0  # nothing committed behind its back
    other.close()
    conn.rollback()
    assert log.size == 0
    conn.close()


def test_database_refuses_rewrites(tmp_path: Path) -> None:
    conn, log = open_sqlite_log(tmp_path / "log.db")
    with conn:
        log.append(_entries(0, 600))
    for statement in (
        "UPDATE tlog_meta SET size = 1",
        "UPDATE tlog_tile SET hashes = zeroblob(8192) WHERE level = 0 AND idx = 0",
        "UPDATE tlog_tile SET hashes = substr(hashes, 1, 32) WHERE level = 0 AND idx = 2",
        "DELETE FROM tlog_tile",
        "UPDATE tlog_bundle SET data = x'00'",
        "DELETE FROM tlog_bundle",
    ):
        with pytest.raises(sqlite3.IntegrityError), conn:
            conn.execute(statement)
    assert log.size == 600
    conn.close()


# --- the SQLite store's tile cache ------------------------------------------------------


def test_rolled_back_full_tile_never_enters_the_cache(tmp_path: Path) -> None:
    """An append that fills a tile inside a transaction, proofs read inside it (they read that
    full tile), then a rollback: the tile must not be cached, and the different entries that
    later fill the same tile must be the ones proved."""
    conn, _ = open_sqlite_log(tmp_path / "log.db")
    store = SqliteTreeStore(conn)
    log = MerkleLog(store)
    with conn:
        log.append(_entries(0, 100))

    class _RejectedError(Exception):
        pass

    def append_prove_then_reject() -> None:
        with conn:
            log.append([b"rejected %d" % i for i in range(400)])  # fills (0, 0), starts (0, 1)
            assert conn.in_transaction
            for i in (0, 150, 255, 300):  # read the uncommitted full tile, twice
                log.inclusion_proof(i)
                log.inclusion_proof(i)
            assert (0, 0) not in store.cached_tiles
            raise _RejectedError

    with pytest.raises(_RejectedError):
        append_prove_then_reject()
    assert log.size == 100
    assert store.cached_tiles == frozenset()

    kept = [b"kept %d" % i for i in range(400)]
    with conn:
        log.append(kept)
    reference = _fresh_memory_log(_entries(0, 100) + kept)
    for i in (0, 150, 255, 300, 499):  # outside a transaction: committed, cacheable
        assert log.inclusion_proof(i) == reference.inclusion_proof(i)
    assert (0, 0) in store.cached_tiles
    assert (0, 1) not in store.cached_tiles  # partial: never cached
    for i in (0, 150, 255, 300, 499):  # now served from the cache
        assert log.inclusion_proof(i) == reference.inclusion_proof(i)
    assert log.root() == reference.root()
    conn.close()


def test_tiles_read_inside_a_committed_transaction_are_not_cached_either(tmp_path: Path) -> None:
    """Inside any open transaction a read may see uncommitted rows, so nothing read there is
    kept, even if the transaction later commits; the next read outside one caches it."""
    conn, _ = open_sqlite_log(tmp_path / "log.db")
    store = SqliteTreeStore(conn)
    log = MerkleLog(store)
    with conn:
        log.append(_entries(0, 300))
        log.inclusion_proof(10)
    assert store.cached_tiles == frozenset()
    log.inclusion_proof(10)
    assert store.cached_tiles == {(0, 0)}
    conn.close()


def test_a_cache_never_serves_another_logs_tiles(tmp_path: Path) -> None:
    """Two logs with the same tile keys and different contents, used alternately from one
    process, each answer from their own tiles; a store opened afresh starts empty."""
    logs = []
    for name in ("a", "b"):
        conn, _ = open_sqlite_log(tmp_path / f"{name}.db")
        store = SqliteTreeStore(conn)
        log = MerkleLog(store)
        entries = [b"%s %d" % (name.encode(), i) for i in range(1000)]
        with conn:
            log.append(entries)
        logs.append((conn, store, log, _fresh_memory_log(entries)))
    for _ in range(2):  # the second round is served from the caches
        for _, _, log, reference in logs:
            for i in (0, 255, 256, 700, 999):
                assert log.inclusion_proof(i) == reference.inclusion_proof(i)
            assert log.root() == reference.root()
    assert logs[0][1].cached_tiles == logs[1][1].cached_tiles == {(0, 0), (0, 1), (0, 2)}
    assert logs[0][2].root() != logs[1][2].root()
    fresh = SqliteTreeStore(logs[0][0])
    assert fresh.cached_tiles == frozenset()
    for conn, _, _, _ in logs:
        conn.close()


def test_cache_is_bounded_and_dropped_when_the_log_is_not_the_one_cached(tmp_path: Path) -> None:
    conn, _ = open_sqlite_log(tmp_path / "log.db")
    store = SqliteTreeStore(conn, tile_cache=2)
    log = MerkleLog(store)
    entries = _entries(0, 1300)
    with conn:
        log.append(entries)
    reference = _fresh_memory_log(entries)
    for i in (0, 300, 600, 900, 1200, 0):
        assert log.inclusion_proof(i) == reference.inclusion_proof(i)
        assert len(store.cached_tiles) <= 2
    assert store.cached_tiles == {(0, 4), (0, 0)}  # least recently used evicted first

    # a size below what the cached tiles imply means this is not the log they came from
    conn.execute("DROP TRIGGER tlog_meta_grows")
    with conn:
        conn.execute("UPDATE tlog_meta SET size = 10")
    assert log.size == 10
    assert store.cached_tiles == frozenset()

    off = SqliteTreeStore(conn, tile_cache=0)
    MerkleLog(off).root()
    assert off.cached_tiles == frozenset()
    conn.close()


def test_a_size_conflict_drops_the_cache(tmp_path: Path) -> None:
    conn, _ = open_sqlite_log(tmp_path / "log.db")
    store = SqliteTreeStore(conn)
    log = MerkleLog(store)
    with conn:
        log.append(_entries(0, 600))
    log.inclusion_proof(5)
    assert store.cached_tiles
    with pytest.raises(LogConflictError), conn:
        store.write_append(599, 600, {}, [b"x"])
    assert store.cached_tiles == frozenset()
    conn.close()
