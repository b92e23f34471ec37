"""The transparency log on disk against pymerkle 7.0.0's SqliteTree, same data, same run.

Both logs are SQLite files under one temporary directory, in WAL mode with
``synchronous=FULL``, committed once per batch of 1,000 entries. Measured: append rate
(entries/s, commits included), inclusion-proof generation rate and inclusion-proof
verification rate at random indices against the full tree.

The machine is shared, so the two sides are measured *interleaved*: batch by batch for the
appends (ours, then pymerkle's, each timed on its own), pass by pass for proofs and
verification (best of ``REPEATS`` passes each, after the same untimed warm-up; pymerkle fills
its subroot cache there, ours its full-tile cache). A burst of load then hits both sides
instead of one.

``where_time_goes`` is measured in the same run: for appends, our time split into leaf hashing,
tiles and SQL, and the commit (WAL write + fsync, which no code change can shrink at
``synchronous=FULL``); for proofs, SQL statements and tile-cache hits per proof; for
verification, the cost of one node hash (hashlib, measured here) times the hashes per proof,
the floor that any pure-Python verifier pays, pymerkle included. Each section ends with the
ratio that floor allows.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pausewatch import merkle, tlog_store
from verifier import tlog_sqlite
from verifier.tlog_sqlite import SqliteTreeStore, open_sqlite_log

ENTRIES = 1_000_000
ENTRY_BYTES = 256
BATCH = 1_000
PROOFS = 3_000
WARMUP = 300
SEED = 20260101
REPEATS = 3  # proof and verification rates: best of 3 passes over the same indices
HASH_SAMPLES = 20_000  # node hashes timed for the verification floor, after each pass


def _batches(entries: int) -> Iterator[list[bytes]]:
    """Deterministic entries of ENTRY_BYTES each, BATCH at a time (never all in memory)."""
    for start in range(0, entries, BATCH):
        yield [i.to_bytes(8, "big") * (ENTRY_BYTES // 8) for i in range(start, start + BATCH)]


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _node_hash_seconds() -> dict[str, float]:
    """Seconds per node hash, both spellings (one run of ``HASH_SAMPLES`` each)."""
    a, b = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()
    sha, prefix, base = hashlib.sha256, b"\x01", hashlib.sha256(b"\x01")

    def concat() -> None:
        for _ in range(HASH_SAMPLES):
            sha(prefix + a + b).digest()

    def copied() -> None:
        for _ in range(HASH_SAMPLES):
            h = base.copy()
            h.update(a)
            h.update(b)
            h.digest()

    return {"concat": _timed(concat) / HASH_SAMPLES, "copy": _timed(copied) / HASH_SAMPLES}


class _Ours:
    def __init__(self, directory: Path) -> None:
        self.conn, _ = open_sqlite_log(directory / "pausewatch.db")
        self.store = SqliteTreeStore(self.conn)  # kept, to read its cache counters
        self.log = tlog_store.MerkleLog(self.store)
        self.append_s = self.commit_s = 0.0

    def append(self, batch: list[bytes]) -> None:
        started = time.perf_counter()
        self.log.append(batch)
        appended = time.perf_counter()
        self.conn.commit()
        self.append_s += appended - started
        self.commit_s += time.perf_counter() - appended


class _Theirs:
    def __init__(self, directory: Path) -> None:
        from pymerkle import SqliteTree

        self.tree = SqliteTree(str(directory / "pymerkle.db"))
        self.tree.con.execute("PRAGMA journal_mode = WAL")
        self.tree.con.execute("PRAGMA synchronous = FULL")
        self.append_s = 0.0

    def append(self, batch: list[bytes]) -> None:
        started = time.perf_counter()
        self.tree.append_entries(batch)  # one transaction (commit) per call
        self.append_s += time.perf_counter() - started


def _best_interleaved(ours: Callable[[], object], theirs: Callable[[], object]) -> tuple[float, float]:
    best_ours = best_theirs = float("inf")
    for _ in range(REPEATS):
        best_ours = min(best_ours, _timed(ours))
        best_theirs = min(best_theirs, _timed(theirs))
    return best_ours, best_theirs


def _statements_per_proof(conn: sqlite3.Connection, log: tlog_store.MerkleLog, indices: list[int]) -> float:
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    for i in indices:
        log.inclusion_proof(i)
    conn.set_trace_callback(None)
    return len(statements) / len(indices)


def run(quick: bool = False) -> dict[str, object]:
    from pymerkle import verify_inclusion as pymerkle_verify

    entries, proofs, warmup = (5 * BATCH, 200, 20) if quick else (ENTRIES, PROOFS, WARMUP)
    sampled = 1 if quick else 50
    rng = random.Random(SEED)
    indices = [rng.randrange(entries) for _ in range(proofs)]
    with tempfile.TemporaryDirectory(prefix="bench-merkle-") as tmp:
        ours, theirs = _Ours(Path(tmp)), _Theirs(Path(tmp))
        hash_s = 0.0
        for n, batch in enumerate(_batches(entries)):
            ours.append(batch)
            theirs.append(batch)
            if n % sampled == 0:  # leaf hashing alone, every 50th batch (outside the timed appends)
                started = time.perf_counter()
                merkle.leaf_hashes(batch)
                hash_s += time.perf_counter() - started
        hash_s *= sampled  # extrapolated to all batches
        root, tree = ours.log.root(), theirs.tree
        if root != tree.get_root():
            raise RuntimeError("pausewatch and pymerkle disagree on the root of the same entries")

        # proofs: same warm-up, interleaved passes
        for i in indices[:warmup]:
            ours.log.inclusion_proof(i)
            tree.prove_inclusion(i + 1)  # pymerkle counts leaves from one
        our_proofs: list[list[bytes]] = []
        their_proofs: list[Any] = []
        hits0, misses0 = ours.store.cache_hits, ours.store.cache_misses

        def prove_ours() -> None:
            our_proofs[:] = [ours.log.inclusion_proof(i) for i in indices]

        def prove_theirs() -> None:
            their_proofs[:] = [tree.prove_inclusion(i + 1) for i in indices]

        prove_s, their_prove_s = _best_interleaved(prove_ours, prove_theirs)
        hits, misses = ours.store.cache_hits - hits0, ours.store.cache_misses - misses0
        statements = _statements_per_proof(ours.conn, ours.log, indices[:500])

        # verification: the proofs just made, interleaved passes
        leaves = [ours.log.leaf_hash_at(i) for i in indices]
        their_leaves = [tree.get_leaf(i + 1) for i in indices]
        their_root = tree.get_root()

        def verify_ours() -> None:
            for i, leaf, proof in zip(indices, leaves, our_proofs, strict=True):
                merkle.verify_inclusion(leaf, i, entries, proof, root)

        def verify_theirs() -> None:
            for leaf, proof in zip(their_leaves, their_proofs, strict=True):
                pymerkle_verify(leaf, their_root, proof)

        verify_s = their_verify_s = float("inf")
        node_hash = {"concat": float("inf"), "copy": float("inf")}
        for _ in range(REPEATS):  # interleaved, with the hash timing in the same rhythm
            verify_s = min(verify_s, _timed(verify_ours))
            their_verify_s = min(their_verify_s, _timed(verify_theirs))
            sample = _node_hash_seconds()
            node_hash = {k: min(v, sample[k]) for k, v in node_hash.items()}
        hashes_per_proof = sum(map(len, our_proofs)) / len(our_proofs)
        ours.conn.close()
        tree.close()

    rates = {
        "append_per_s": (entries / (ours.append_s + ours.commit_s), entries / theirs.append_s),
        "prove_per_s": (proofs / prove_s, proofs / their_prove_s),
        "verify_per_s": (proofs / verify_s, proofs / their_verify_s),
    }
    batches = entries // BATCH
    floor_us = hashes_per_proof * min(node_hash.values()) * 1e6
    their_verify_us = their_verify_s / proofs * 1e6
    their_batch_ms = theirs.append_s / batches * 1e3
    commit_ms = ours.commit_s / batches * 1e3
    return {
        "setup": (
            f"{entries} entries of {ENTRY_BYTES} B on disk (SQLite WAL, synchronous=FULL), "
            f"one commit per batch of {BATCH}; {proofs} inclusion proofs at random indices "
            f"(seed {SEED}) against the full tree after {warmup} untimed warm-up proofs, "
            f"best of {REPEATS} passes; the two sides interleaved (batch by batch, pass by pass); "
            f"same data and same indices for both; roots checked equal; our tile cache "
            f"{tlog_sqlite.DEFAULT_TILE_CACHE} full tiles (the default)"
        ),
        "entries": entries,
        "batch": BATCH,
        "pausewatch": {k: round(v[0], 1) for k, v in rates.items()},
        "pymerkle_7_0_0": {k: round(v[1], 1) for k, v in rates.items()},
        "ratio_vs_pymerkle": {k: round(v[0] / v[1], 2) for k, v in rates.items()},
        "where_time_goes": {
            "append": {
                "ours_ms_per_batch": round((ours.append_s + ours.commit_s) / batches * 1e3, 2),
                "ours_leaf_hashing_ms_per_batch": round(hash_s / batches * 1e3, 2),
                "ours_tiles_and_sql_ms_per_batch": round((ours.append_s - hash_s) / batches * 1e3, 2),
                "ours_commit_wal_fsync_ms_per_batch": round(commit_ms, 2),
                "pymerkle_ms_per_batch_incl_commit": round(their_batch_ms, 2),
                "max_ratio_if_ours_cost_only_its_commit": round(their_batch_ms / commit_ms, 2),
            },
            "prove": {
                "ours_us_per_proof": round(prove_s / proofs * 1e6, 1),
                "pymerkle_us_per_proof": round(their_prove_s / proofs * 1e6, 1),
                "ours_sql_statements_per_proof": round(statements, 2),
                "ours_tile_cache_hit_rate": round(hits / max(1, hits + misses), 3),
            },
            "verify": {
                "node_hash_ns_concat": round(node_hash["concat"] * 1e9),
                "node_hash_ns_copy": round(node_hash["copy"] * 1e9),
                "hashes_per_proof": round(hashes_per_proof, 2),
                "hashing_floor_us_per_proof": round(floor_us, 2),
                "ours_us_per_proof": round(verify_s / proofs * 1e6, 2),
                "pymerkle_us_per_proof": round(their_verify_us, 2),
                "max_ratio_at_the_hashing_floor": round(their_verify_us / floor_us, 2),
            },
        },
    }
