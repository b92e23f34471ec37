"""RFC 9162 Merkle tree hashing, proof generation from a hash source, and proof verification.

Pure code: nothing here touches disk, network or a clock. The conventions (DESIGN.md,
Conventions: Merkle) are fixed:

- leaf hash = SHA-256(0x00 || entry), node hash = SHA-256(0x01 || left || right), and the root
  of the empty tree is SHA-256("");
- leaf indices are 0-based; a tree of size ``n`` holds leaves ``0 .. n-1``;
- every hash is exactly ``HASH_SIZE`` (32) bytes; anything else is rejected with
  ``MalformedProofError`` before any hashing;
- a proof holds at most ``MAX_PROOF_HASHES`` hashes (checked before anything else);
- a consistency proof from size 0 is accepted only when it is empty and the old root is
  ``EMPTY_ROOT``. This rejects transparency-dev's probe
  ``consistency/additional/sizes-are-equal-one-and-proof-is-empty`` on purpose (its roots are
  not 32 bytes); see tests/vectors/README.md.

Failures split by kind (pausewatch.errors): ``MalformedProofError`` (a ``FormatError``) for
inputs that are not a proof at all (wrong types, wrong hash lengths, negative or 2^64-or-more
sizes, too many hashes); ``ProofError`` (a ``VerificationError``) for well-formed proofs that
do not prove the claim (wrong root, wrong length for the index and size, index not below the
size, old size above the new one). ``verify_*`` return ``None`` or raise.

Proof *generation* needs hashes of complete subtrees only. A complete subtree is named by a
``Node``: ``(level, index)`` spans leaves ``[index * 2**level, (index + 1) * 2**level)``. Any
storage that can answer ``SubtreeHashSource.subtree_hashes`` (a list of leaf hashes, tiles in
SQLite) can produce proofs with ``inclusion_proof``, ``consistency_proof`` and ``tree_root``;
each asks its source once, for O(log n) nodes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol

from pausewatch.errors import (
    FormatError,
    InputError,
    InternalError,
    LimitExceededError,
    VerificationError,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_HASHES",
    "MAX_TREE_SIZE",
    "MalformedProofError",
    "Node",
    "ProofError",
    "ProofRequestError",
    "ProofTooLongError",
    "SubtreeHashSource",
    "SubtreeStack",
    "consistency_proof",
    "consistency_proof_ranges",
    "fold_right",
    "inclusion_proof",
    "inclusion_proof_ranges",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "parent_hashes",
    "perfect_subtrees",
    "root_from_inclusion_proof",
    "root_of",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
MAX_PROOF_HASHES = 63
MAX_TREE_SIZE = (1 << 64) - 1  # sizes and indices are uint64 on the wire (C2SP checkpoints)
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256
_NODE_HASHER = hashlib.sha256(_NODE_PREFIX)  # copied per node hash, never updated itself
_LEAF_HASHER = hashlib.sha256(_LEAF_PREFIX)  # copied per leaf hash, never updated itself

Node = tuple[int, int]
"""A complete subtree ``(level, index)``: leaves ``[index << level, (index + 1) << level)``."""


class ProofError(VerificationError):
    """A well-formed proof that does not prove the claim it is checked against."""


class MalformedProofError(FormatError):
    """Proof inputs that are not a proof at all: wrong types, hash lengths or ranges."""


class ProofTooLongError(MalformedProofError, LimitExceededError):
    """A proof with more than ``MAX_PROOF_HASHES`` hashes; rejected before any work."""


class ProofRequestError(InputError):
    """A proof or root was asked for an index or size the tree cannot prove."""


class SubtreeHashSource(Protocol):
    """Anything that can return the hashes of complete subtrees of one tree."""

    def subtree_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        """Return the hash of each ``(level, index)`` node, in order.

        Every node asked for lies entirely inside the tree the caller is proving; the source
        raises (a pausewatch error) when it cannot answer.
        """
        ...


# --- hashing ---------------------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the hash of a log entry (any length, including empty)."""
    return _sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right); both children must be exactly 32-byte hashes."""
    _check_hash(left, "left child")
    _check_hash(right, "right child")
    return _sha256(_NODE_PREFIX + left + right).digest()


def leaf_hashes(entries: Sequence[bytes]) -> bytes:
    """``leaf_hash`` of each entry, concatenated (the level-0 hashes of a run of entries)."""
    copy = _LEAF_HASHER.copy
    out = []
    for e in entries:
        h = copy()
        h.update(e)
        out.append(h.digest())
    return b"".join(out)


def parent_hashes(hashes: bytes) -> bytes:
    """The level above a run of an even number of same-level hashes (concatenated, 32 bytes
    each): ``node_hash`` of each pair, concatenated. The caller vouches for the lengths."""
    copy = _NODE_HASHER.copy
    out = []
    for i in range(0, len(hashes), 2 * HASH_SIZE):
        h = copy()
        h.update(hashes[i : i + 2 * HASH_SIZE])
        out.append(h.digest())
    return b"".join(out)


class SubtreeStack:
    """The complete subtrees of a tree built left to right, merged as they close: push leaf
    hashes (size 1) or the roots of complete subtrees (size a power of two, each starting where
    the previous one ended), in order; :meth:`root` folds them into the MTH (RFC 9162 2.1.1) of
    everything pushed so far. O(log n) memory, one hash per merge."""

    __slots__ = ("_stack",)

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []

    def push(self, size: int, root: bytes) -> None:
        stack = self._stack
        while stack and stack[-1][0] == size:
            _, left = stack.pop()
            root = _sha256(_NODE_PREFIX + left + root).digest()
            size *= 2
        stack.append((size, root))

    def root(self, tail: bytes | None = None) -> bytes:
        """The MTH of what was pushed (``EMPTY_ROOT`` if nothing), or of what was pushed
        followed by one more complete subtree ``tail`` that is not kept."""
        hashes = [h for _, h in self._stack]
        if tail is not None:
            hashes.append(tail)
        return fold_right(hashes) if hashes else EMPTY_ROOT


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over a list of leaf hashes (RFC 9162 2.1.1); ``EMPTY_ROOT`` for no leaves.

    Runs in O(n) hashes and O(log n) memory: complete subtrees are merged as they close.
    """
    stack = SubtreeStack()
    for i, h in enumerate(leaf_hashes):
        _check_hash(h, f"leaf hash {i}")
        stack.push(1, h)
    return stack.root()


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """H(h0, H(h1, ... H(h_{k-2}, h_{k-1}))): the MTH of consecutive complete subtrees of
    strictly decreasing size (the binary decomposition of a range). ``hashes`` is not empty."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = _sha256(_NODE_PREFIX + h + acc).digest()
    return acc


# --- input checks ----------------------------------------------------------------------


def _check_hash(value: object, what: str) -> None:
    if not isinstance(value, bytes):
        raise MalformedProofError(f"{what}: expected bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise MalformedProofError(f"{what}: a hash must be exactly {HASH_SIZE} bytes, got {len(value)}")


def _check_size(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedProofError(f"{what}: expected an integer, got {type(value).__name__}")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise MalformedProofError(f"{what}: {value} is outside 0 .. 2^64-1")
    return value


def _check_proof(proof: object) -> Sequence[bytes]:
    if not isinstance(proof, (list, tuple)):
        raise MalformedProofError(f"proof: expected a list of hashes, got {type(proof).__name__}")
    if len(proof) > MAX_PROOF_HASHES:
        raise ProofTooLongError(f"proof has {len(proof)} hashes; at most {MAX_PROOF_HASHES} are accepted")
    if proof and ({*map(type, proof)} != {bytes} or {*map(len, proof)} != {HASH_SIZE}):
        for i, h in enumerate(proof):
            _check_hash(h, f"proof[{i}]")
    return proof


def _same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


# --- verification ----------------------------------------------------------------------


def _path_length(index: int, size: int) -> int:
    """Number of hashes in the inclusion path of position ``index`` in a tree of ``size``."""
    n, last = 0, size - 1
    while last:
        if index & 1 or index < last:
            n += 1
        index >>= 1
        last >>= 1
    return n


def _climb(seed: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """Hash ``seed`` at position ``index`` of a ``size``-wide level up to the root.

    At each level a node with an odd index has its sibling on the left; an even one has it on
    the right unless it is the last node of the level, which is promoted unchanged. Raises
    ``ProofError`` unless ``path`` holds exactly the siblings needed.

    The shape is bit logic: below ``inner``, the highest bit where ``index`` and ``size - 1``
    differ, every level has a sibling (left where ``index`` has a 1); from ``inner`` up the
    node is its level's last, so only the 1 bits of ``index`` there bring a (left) sibling.
    The length is checked before any hashing; each step hashes with a copy of the prefixed
    hasher (one fewer allocation than ``sha256(prefix + a + b)``).
    """
    inner = (index ^ (size - 1)).bit_length()
    if len(path) != inner + (index >> inner).bit_count():
        raise ProofError(f"the path needs {_path_length(index, size)} hashes, got {len(path)}")
    base = _NODE_HASHER
    for k in range(inner):
        h = base.copy()
        if index & 1:
            h.update(path[k])
            h.update(seed)
        else:
            h.update(seed)
            h.update(path[k])
        seed = h.digest()
        index >>= 1
    for k in range(inner, len(path)):
        h = base.copy()
        h.update(path[k])
        h.update(seed)
        seed = h.digest()
    return seed


def _climb_both(seed: bytes, index: int, size: int, path: Sequence[bytes]) -> tuple[bytes, bytes]:
    """Like ``_climb``, and also the root of the tree that ends where ``seed`` ends: the fold
    of ``seed`` with the left siblings only. Returns ``(root, left_root)``."""
    sha, prefix = _sha256, _NODE_PREFIX
    root = left_root = seed
    start, last = index, size - 1
    k = 0
    try:
        while last:
            if index & 1:
                sibling = path[k]
                k += 1
                root = sha(prefix + sibling + root).digest()
                left_root = sha(prefix + sibling + left_root).digest()
            elif index < last:
                root = sha(prefix + root + path[k]).digest()
                k += 1
            index >>= 1
            last >>= 1
    except IndexError:
        k = -1
    if k != len(path):
        raise ProofError(f"the path needs {_path_length(start, size)} hashes, got {len(path)}")
    return root, left_root


def root_from_inclusion_proof(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for leaf ``index`` of a tree of ``tree_size``.

    Raises ``MalformedProofError`` for malformed input and ``ProofError`` when the proof has
    the wrong number of hashes for this index and size, or the index is not below the size.
    """
    proof = _check_proof(proof)
    _check_size(index, "leaf index")
    _check_size(tree_size, "tree size")
    _check_hash(leaf_hash, "leaf hash")
    if index >= tree_size:
        raise ProofError(f"leaf index {index} is not below tree size {tree_size}")
    return _climb(leaf_hash, index, tree_size, proof)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    Returns nothing; raises ``ProofError`` or ``MalformedProofError``.
    """
    _check_hash(root, "root")
    computed = root_from_inclusion_proof(leaf_hash, index, tree_size, proof)
    if not _same(computed, root):
        raise ProofError(f"inclusion proof for leaf {index} of {tree_size} does not match root")


def verify_consistency(
    old_size: int,
    new_size: int,
    proof: Sequence[bytes],
    old_root: bytes,
    new_root: bytes,
) -> None:
    """Check that the tree of ``new_size`` with ``new_root`` extends ``old_size``/``old_root``.

    Equal sizes need an empty proof and equal roots. Size 0 needs an empty proof and
    ``old_root == EMPTY_ROOT`` (and, if ``new_size`` is 0 too, ``new_root == EMPTY_ROOT``).
    Otherwise the proof is RFC 9162's: the hash of the old tree's last complete subtree
    (omitted when the old size is a power of two, whose root the verifier knows), then that
    subtree's inclusion path in the new tree. Returns nothing; raises ``ProofError`` or
    ``MalformedProofError``.
    """
    proof = _check_proof(proof)
    _check_size(old_size, "old size")
    _check_size(new_size, "new size")
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == 0:
        _check_from_empty(new_size, proof, old_root, new_root)
        return
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if not _same(old_root, new_root):
            raise ProofError(f"different roots for the same size {old_size}")
        return
    level = (old_size & -old_size).bit_length() - 1  # the old tree's last complete subtree
    index = (old_size >> level) - 1
    width = ((new_size - 1) >> level) + 1  # nodes at that level in the new tree
    if index == 0:  # old size is a power of two: the subtree is the old tree itself
        seed, path = old_root, proof
    else:
        if not proof:
            raise ProofError("consistency proof is empty")
        seed, path = proof[0], proof[1:]
    computed_new, computed_old = _climb_both(seed, index, width, path)
    if not _same(computed_old, old_root):
        raise ProofError(f"consistency proof {old_size} -> {new_size} does not match old root")
    if not _same(computed_new, new_root):
        raise ProofError(f"consistency proof {old_size} -> {new_size} does not match new root")


def _check_from_empty(new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes) -> None:
    if proof:
        raise ProofError("consistency proof from the empty tree must be empty")
    if not _same(old_root, EMPTY_ROOT):
        raise ProofError("the tree of size 0 must have the empty-tree root")
    if new_size == 0 and not _same(new_root, EMPTY_ROOT):
        raise ProofError("the tree of size 0 must have the empty-tree root")


# --- generation ------------------------------------------------------------------------


def _largest_split(width: int) -> int:
    """The largest power of two strictly below ``width`` (``width`` >= 2)."""
    return 1 << ((width - 1).bit_length() - 1)


def inclusion_proof_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """Leaf ranges ``[start, end)`` whose MTHs form RFC 9162 PATH(index, D[tree_size]),
    in proof order (the leaf's sibling first)."""
    _check_request(0 <= index < tree_size <= MAX_TREE_SIZE, f"leaf {index} of {tree_size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, tree_size
    while end - start > 1:
        k = _largest_split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_proof_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTHs form RFC 9162 PROOF(old_size, D[new_size]), in proof order.

    Empty when ``old_size`` is 0 or equals ``new_size`` (see ``verify_consistency``).
    """
    _check_request(0 <= old_size <= new_size <= MAX_TREE_SIZE, f"consistency {old_size} -> {new_size}")
    if old_size in (0, new_size):
        return []
    # SUBPROOF(m, D[start:end], complete), iteratively; m is absolute here (old_size).
    ranges: list[tuple[int, int]] = []
    start, end, complete = 0, new_size, True
    while old_size != end:
        k = _largest_split(end - start)
        if old_size <= start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            complete = False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """The complete subtrees, largest first, whose fold is MTH(D[start:end]).

    ``start`` must be aligned as in every range of an RFC 9162 tree: a multiple of the
    largest power of two not above ``end - start``.
    """
    nodes: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start & ((1 << level) - 1):
            raise InternalError(f"range [{start}, {end}) is not a subtree range")
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def _hashes_of_ranges(ranges: Sequence[tuple[int, int]], source: SubtreeHashSource) -> list[bytes]:
    plans = [perfect_subtrees(a, b) for a, b in ranges]
    wanted = [node for plan in plans for node in plan]
    hashes = source.subtree_hashes(wanted)
    if len(hashes) != len(wanted):
        raise InternalError(f"hash source returned {len(hashes)} hashes for {len(wanted)} nodes")
    out: list[bytes] = []
    pos = 0
    for plan in plans:
        out.append(fold_right(hashes[pos : pos + len(plan)]))
        pos += len(plan)
    return out


def tree_root(tree_size: int, source: SubtreeHashSource) -> bytes:
    """MTH of the first ``tree_size`` leaves, from O(log n) complete-subtree hashes."""
    _check_request(0 <= tree_size <= MAX_TREE_SIZE, f"root of size {tree_size}")
    if tree_size == 0:
        return EMPTY_ROOT
    return _hashes_of_ranges([(0, tree_size)], source)[0]


def inclusion_proof(index: int, tree_size: int, source: SubtreeHashSource) -> list[bytes]:
    """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``tree_size``.

    Walks the path the way ``_climb`` checks it: at each level the sibling is a complete
    subtree (one node) except, at most once, a right sibling cut by the end of the tree, whose
    hash is the fold of that range's complete subtrees. Same result as
    ``inclusion_proof_ranges``; one ``subtree_hashes`` call.
    """
    _check_request(
        isinstance(index, int) and isinstance(tree_size, int) and 0 <= index < tree_size <= MAX_TREE_SIZE,
        f"leaf {index} of {tree_size}",
    )
    nodes: list[Node] = []
    cut_at = cut_len = 0
    i, last, level = index, tree_size - 1, 0
    while last:
        if i & 1:
            nodes.append((level, i - 1))
        elif i < last:
            if i + 1 < last or not tree_size & ((1 << level) - 1):
                nodes.append((level, i + 1))
            else:  # the last node of this level is partial: the range up to the tree's end
                cut = perfect_subtrees((i + 1) << level, tree_size)
                cut_at, cut_len = len(nodes), len(cut)
                nodes += cut
        i >>= 1
        last >>= 1
        level += 1
    hashes = source.subtree_hashes(nodes)
    if len(hashes) != len(nodes):
        raise InternalError(f"hash source returned {len(hashes)} hashes for {len(nodes)} nodes")
    if cut_len > 1:
        hashes[cut_at : cut_at + cut_len] = [fold_right(hashes[cut_at : cut_at + cut_len])]
    return hashes


def consistency_proof(old_size: int, new_size: int, source: SubtreeHashSource) -> list[bytes]:
    """RFC 9162 consistency proof from ``old_size`` to ``new_size``."""
    return _hashes_of_ranges(consistency_proof_ranges(old_size, new_size), source)


def _check_request(ok: bool, what: str) -> None:
    if not ok:
        raise ProofRequestError(f"no proof exists for {what}")
