"""The log's right edge held in memory, so that a batch gets its root and every receipt's
inclusion proof without re-reading the tree.

A ``Frontier`` is the compact range of ``[0, size)``: the hashes of the maximal complete
subtrees (``merkle.perfect_subtrees(0, size)``), at most 64 of them. Appending a batch of
leaf hashes yields a ``BatchTree``: a ``merkle.SubtreeHashSource`` that answers any complete
subtree that is either one of those frontier subtrees or reaches into the batch, computing
each node once. Proofs and roots come from :mod:`pausewatch.merkle`'s own functions over that
source, so their shape is the one every verifier checks; only the hashing is shared.

Pure: no storage. ``frontier_from_log`` rebuilds a frontier at startup from two public log
reads (the last leaf hash and its inclusion proof).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pausewatch import merkle
from pausewatch.errors import InternalError
from pausewatch.merkle import Node

__all__ = ["BatchTree", "Frontier", "frontier_from_log"]


@dataclass(frozen=True)
class Frontier:
    """Hashes of ``merkle.perfect_subtrees(0, size)``, largest (leftmost) first."""

    size: int
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if len(self.hashes) != len(merkle.perfect_subtrees(0, self.size)):
            raise InternalError(f"a frontier of size {self.size} needs {self.size.bit_count()} hashes")

    @property
    def nodes(self) -> dict[Node, bytes]:
        return dict(zip(merkle.perfect_subtrees(0, self.size), self.hashes, strict=True))

    def root(self) -> bytes:
        if self.size == 0:
            return merkle.EMPTY_ROOT
        h = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            h = merkle.node_hash(left, h)
        return h

    def extend(self, leaf_hashes: Sequence[bytes]) -> BatchTree:
        return BatchTree(self, list(leaf_hashes))


class BatchTree:
    """The tree after appending ``leaf_hashes`` to ``base``: roots and proofs of new leaves."""

    def __init__(self, base: Frontier, leaf_hashes: list[bytes]) -> None:
        self.old_size = base.size
        self.size = base.size + len(leaf_hashes)
        self._leaves = leaf_hashes
        self._memo: dict[Node, bytes] = base.nodes
        self._cuts: dict[int, bytes] = {}
        self._siblings: list[tuple[int, list[bytes | None]]] = []  # built at the first proof

    def _node(self, level: int, index: int) -> bytes:
        memo = self._memo
        got = memo.get((level, index))
        if got is not None:
            return got
        start = index << level
        if level == 0:
            if not self.old_size <= start < self.size:
                raise InternalError(f"leaf {start} is neither new nor on the frontier")
            h = self._leaves[start - self.old_size]
        else:
            if start + (1 << level) <= self.old_size:
                raise InternalError(f"node {(level, index)} lies left of the frontier")
            h = merkle.node_hash(self._node(level - 1, 2 * index), self._node(level - 1, 2 * index + 1))
        memo[(level, index)] = h
        return h

    def subtree_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        return [self._node(level, index) for level, index in nodes]

    def root(self) -> bytes:
        return merkle.tree_root(self.size, self)

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The proof of new leaf ``index`` (``old_size <= index < size``) in this tree.

        The path of :func:`pausewatch.merkle.inclusion_proof` (same nodes, same order), read
        from a table of each level's siblings built once per tick (:meth:`_sibling_rows`):
        a tick proves every leaf it appended, and leaves that share an ancestor share the
        rest of their path."""
        if not self.old_size <= index < self.size:
            raise InternalError(f"leaf {index} is not in this batch")
        proof: list[bytes] = []
        for level, (first, row) in enumerate(self._siblings or self._sibling_rows()):
            sibling = row[(index >> level) - first]
            if sibling is not None:
                proof.append(sibling)
        return proof

    def _sibling_rows(self) -> list[tuple[int, list[bytes | None]]]:
        """Per level, from the leaves up: (the first new leaf's ancestor, the proof's hash at
        this level for each ancestor of a new leaf from it on, None where the path has none
        there). The hash of a right sibling cut by the tree's end is computed once per level."""
        size = self.size
        node = self._node
        rows: list[tuple[int, list[bytes | None]]] = []
        first, end, last, level = self.old_size, size - 1, size - 1, 0
        while last:
            row: list[bytes | None] = []
            for i in range(first, end + 1):
                if i & 1:
                    row.append(node(level, i - 1))
                elif i < last:
                    if i + 1 < last or not size & ((1 << level) - 1):
                        row.append(node(level, i + 1))
                    else:  # the last node of this level is partial: the range up to the tree's end
                        row.append(self._cut((i + 1) << level))
                else:
                    row.append(None)
            rows.append((first, row))
            first >>= 1
            end >>= 1
            last >>= 1
            level += 1
        self._siblings = rows
        return rows

    def _cut(self, start: int) -> bytes:
        """MTH of leaves ``[start, size)``, memoized (at most one per level)."""
        got = self._cuts.get(start)
        if got is None:
            hashes = [self._node(lv, ix) for lv, ix in merkle.perfect_subtrees(start, self.size)]
            got = hashes[-1]
            for left in reversed(hashes[:-1]):
                got = merkle.node_hash(left, got)
            self._cuts[start] = got
        return got

    def leaf_hash(self, index: int) -> bytes:
        return self._leaves[index - self.old_size]

    def frontier(self) -> Frontier:
        nodes = merkle.perfect_subtrees(0, self.size)
        return Frontier(self.size, tuple(self.subtree_hashes(nodes)))


def frontier_from_log(size: int, last_leaf_hash: bytes | None, last_proof: Sequence[bytes]) -> Frontier:
    """Rebuild the frontier of a log of ``size`` from its last leaf hash and that leaf's
    inclusion proof in the tree of ``size`` (both from the log's public reads).

    The proof of the last leaf holds, leaf to root, the left siblings inside the last complete
    subtree and then every earlier frontier subtree, smallest first.
    """
    if size == 0:
        return Frontier(0, ())
    if last_leaf_hash is None:
        raise InternalError("a non-empty log needs its last leaf hash")
    inner = (size & -size).bit_length() - 1  # the last subtree has 2**inner leaves
    if len(last_proof) != inner + size.bit_count() - 1:
        raise InternalError(f"the last leaf's proof has {len(last_proof)} hashes; unexpected")
    h = last_leaf_hash
    for sibling in last_proof[:inner]:
        h = merkle.node_hash(sibling, h)
    earlier = list(reversed(last_proof[inner:]))
    return Frontier(size, (*earlier, h))
