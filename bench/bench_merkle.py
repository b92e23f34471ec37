"""The transparency log on disk against pymerkle 7.0.0's SqliteTree, same data, same run.

Both logs are SQLite files under one temporary directory, in WAL mode with
``synchronous=FULL``, committed once per batch. Measured: append rate (entries/s, including
commits), inclusion-proof generation rate and inclusion-proof verification rate at random
indices against the full tree. Proof rates are taken after a short untimed warm-up of the same
kind of calls for both (pymerkle fills its subroot cache there), best of a few passes because
the machine is shared.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pausewatch import merkle
from pausewatch.tlog_store import open_sqlite_log

ENTRIES = 1_000_000
ENTRY_BYTES = 256
BATCH = 1_000
PROOFS = 3_000
WARMUP = 300
SEED = 20260101
REPEATS = 3  # proof and verification rates: best of 3 passes over the same indices


def _batches() -> Iterator[list[bytes]]:
    """Deterministic entries of ENTRY_BYTES each, BATCH at a time (never all in memory)."""
    for start in range(0, ENTRIES, BATCH):
        yield [i.to_bytes(8, "big") * (ENTRY_BYTES // 8) for i in range(start, start + BATCH)]


def _rate(count: int, fn: Callable[[], object], repeats: int = 1) -> float:
    """``count / seconds`` of the fastest of ``repeats`` runs of ``fn`` (the machine is shared)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return count / best


def _ours(directory: Path, indices: list[int]) -> dict[str, Any]:
    conn, log = open_sqlite_log(directory / "pausewatch.db")

    def append_all() -> None:
        for batch in _batches():
            with conn:
                log.append(batch)

    append = _rate(ENTRIES, append_all)
    root = log.root()
    for i in indices[:WARMUP]:
        log.inclusion_proof(i)
    proofs: list[list[bytes]] = []
    prove = _rate(len(indices), lambda: proofs.extend(log.inclusion_proof(i) for i in indices), REPEATS)
    proofs = proofs[: len(indices)]
    leaves = [log.leaf_hash_at(i) for i in indices]

    def verify_all() -> None:
        for i, leaf, proof in zip(indices, leaves, proofs, strict=True):
            merkle.verify_inclusion(leaf, i, ENTRIES, proof, root)

    verify = _rate(len(indices), verify_all, REPEATS)
    conn.close()
    return {"append_per_s": append, "prove_per_s": prove, "verify_per_s": verify, "root": root}


def _pymerkle(directory: Path, indices: list[int]) -> dict[str, Any]:
    from pymerkle import SqliteTree, verify_inclusion

    tree = SqliteTree(str(directory / "pymerkle.db"))
    tree.con.execute("PRAGMA journal_mode = WAL")
    tree.con.execute("PRAGMA synchronous = FULL")

    def append_all() -> None:
        for batch in _batches():
            tree.append_entries(batch)  # one transaction (commit) per call

    append = _rate(ENTRIES, append_all)
    root = tree.get_root()
    for i in indices[:WARMUP]:
        tree.prove_inclusion(i + 1)  # pymerkle counts leaves from one
    proofs: list[Any] = []
    prove = _rate(len(indices), lambda: proofs.extend(tree.prove_inclusion(i + 1) for i in indices), REPEATS)
    proofs = proofs[: len(indices)]
    leaves = [tree.get_leaf(i + 1) for i in indices]

    def verify_all() -> None:
        for leaf, proof in zip(leaves, proofs, strict=True):
            verify_inclusion(leaf, root, proof)

    verify = _rate(len(indices), verify_all, REPEATS)
    tree.close()
    return {"append_per_s": append, "prove_per_s": prove, "verify_per_s": verify, "root": root}


def run() -> dict[str, object]:
    rng = random.Random(SEED)
    indices = [rng.randrange(ENTRIES) for _ in range(PROOFS)]
    with tempfile.TemporaryDirectory(prefix="bench-merkle-") as tmp:
        ours = _ours(Path(tmp), indices)
        theirs = _pymerkle(Path(tmp), indices)
    if ours.pop("root") != theirs.pop("root"):
        raise RuntimeError("pausewatch and pymerkle disagree on the root of the same entries")
    return {
        "setup": (
            f"{ENTRIES} entries of {ENTRY_BYTES} B on disk (SQLite WAL, synchronous=FULL), "
            f"one commit per batch of {BATCH}; {PROOFS} inclusion proofs at random indices "
            f"(seed {SEED}) against the full tree after {WARMUP} untimed warm-up proofs, "
            f"best of {REPEATS} passes; "
            "same data and same indices for both; roots checked equal"
        ),
        "entries": ENTRIES,
        "batch": BATCH,
        "pausewatch": {k: round(v, 1) for k, v in ours.items()},
        "pymerkle_7_0_0": {k: round(v, 1) for k, v in theirs.items()},
        "ratio_vs_pymerkle": {k: round(ours[k] / theirs[k], 2) for k in ours},
    }
