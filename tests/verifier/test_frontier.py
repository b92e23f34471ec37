"""The sequencer's in-memory right edge gives the same roots and proofs as the stored log."""

from __future__ import annotations

import hashlib

import pytest

from pausewatch import merkle
from pausewatch.tlog_store import MemoryTreeStore, MerkleLog
from verifier.frontier import Frontier, frontier_from_log


def _leaf(i: int) -> bytes:
    return f"entry {i}".encode()


@pytest.mark.parametrize(
    ("old", "added"),
    [(0, 1), (0, 7), (1, 1), (5, 11), (8, 8), (255, 3), (256, 1), (300, 213), (1023, 2), (1000, 300)],
)
def test_batch_tree_proofs_and_root_match_the_log(old: int, added: int) -> None:
    log = MerkleLog(MemoryTreeStore())
    log.append([_leaf(i) for i in range(old)])
    size = old
    base = (
        frontier_from_log(size, log.leaf_hash_at(size - 1), log.inclusion_proof(size - 1, size))
        if size
        else Frontier(0, ())
    )
    entries = [_leaf(i) for i in range(old, old + added)]
    log.append(entries)
    tree = base.extend([hashlib.sha256(b"\x00" + e).digest() for e in entries])
    assert tree.root() == log.root()
    for index in range(old, old + added):
        proof = tree.inclusion_proof(index)
        assert proof == log.inclusion_proof(index)
        merkle.verify_inclusion(tree.leaf_hash(index), index, tree.size, proof, tree.root())
    assert tree.frontier().root() == log.root()
