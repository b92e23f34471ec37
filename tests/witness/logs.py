"""A log for witness tests: a real Merkle tree (pausewatch.tlog_store, in memory), a log key,
signed checkpoints and add-checkpoint requests. It can also fork: ``fork_at(size)`` gives a
second log with the same key and the same first ``size`` entries, then different ones."""

from __future__ import annotations

from pausewatch.checkpoint import Checkpoint, sign_checkpoint
from pausewatch.keys import Ed25519Signer
from pausewatch.note import Ed25519NoteSigner
from pausewatch.tlog_store import MemoryTreeStore, MerkleLog
from pausewatch.tlog_witness import AddCheckpointRequest

ORIGIN = "verifier.test/log"


class TestLog:
    __test__ = False

    def __init__(self, seed: int = 1, origin: str = ORIGIN) -> None:
        self.origin = origin
        self.signer = Ed25519NoteSigner(origin, Ed25519Signer.from_seed(bytes([seed]) * 32))
        self.tree = MerkleLog(MemoryTreeStore())
        self.entries: list[bytes] = []

    @property
    def vkey(self) -> str:
        return self.signer.vkey

    @property
    def size(self) -> int:
        return self.tree.size

    def grow(self, count: int, tag: bytes = b"e") -> int:
        new = [tag + b"-%d" % (len(self.entries) + i) for i in range(count)]
        self.tree.append(new)
        self.entries += new
        return self.size

    def fork_at(self, size: int, tag: bytes = b"fork") -> TestLog:
        other = TestLog.__new__(TestLog)
        other.origin, other.signer = self.origin, self.signer
        other.tree, other.entries = MerkleLog(MemoryTreeStore()), []
        other.tree.append(self.entries[:size])
        other.entries = self.entries[:size]
        other.grow(1, tag)
        return other

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        size = self.size if size is None else size
        return Checkpoint(self.origin, size, self.tree.root(size))

    def note(self, size: int | None = None) -> bytes:
        return sign_checkpoint(self.checkpoint(size), [self.signer]).format()

    def request(self, old: int, new: int | None = None) -> bytes:
        new = self.size if new is None else new
        proof = tuple(self.tree.consistency_proof(old, new)) if old else ()
        return AddCheckpointRequest(old, proof, self.note(new)).format()
