"""Property tests: every generated proof verifies, every single mutation fails, and the
verifiers raise only pausewatch errors on arbitrary input."""

from __future__ import annotations

import contextlib
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pausewatch import merkle
from pausewatch.errors import PausewatchError
from pausewatch.tlog_store import MemoryTreeStore, MerkleLog

MAX_LEAVES = 3000
PROPERTY = settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FUZZ = settings(max_examples=300, derandomize=True, deadline=None)


@cache
def _log() -> MerkleLog:
    log = MerkleLog(MemoryTreeStore())
    log.append([i.to_bytes(4, "big") for i in range(MAX_LEAVES)])
    return log


@cache
def _root(size: int) -> bytes:
    return _log().root(size)


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[(bit // 8) % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


def _fails(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except merkle.ProofError:
        return True
    except merkle.MalformedProofError:
        return True
    return False


@st.composite
def _index_in_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, MAX_LEAVES))
    return draw(st.integers(0, size - 1)), size


@st.composite
def _two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(1, MAX_LEAVES))
    return draw(st.integers(1, new)), new


def test_roots_match_the_reference_mth() -> None:
    log = _log()
    leaves = [log.leaf_hash_at(i) for i in range(MAX_LEAVES)]
    for size in (*range(70), 255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 2999, 3000):
        assert log.root(size) == merkle.root_of(leaves[:size])


@PROPERTY
@given(_index_in_size(), st.data())
def test_inclusion_proofs_verify_and_every_mutation_fails(
    where: tuple[int, int], data: st.DataObject
) -> None:
    index, size = where
    log = _log()
    leaf, root = log.leaf_hash_at(index), _root(size)
    proof = log.inclusion_proof(index, size)
    assert len(proof) <= merkle.MAX_PROOF_HASHES
    merkle.verify_inclusion(leaf, index, size, proof, root)
    assert merkle.root_from_inclusion_proof(leaf, index, size, proof) == root

    bit = data.draw(st.integers(0, 255), label="bit")
    assert _fails(merkle.verify_inclusion, _flip(leaf, bit), index, size, proof, root)
    assert _fails(merkle.verify_inclusion, leaf, index, size, proof, _flip(root, bit))
    for k in range(len(proof)):
        bad = [*proof[:k], _flip(proof[k], bit), *proof[k + 1 :]]
        assert _fails(merkle.verify_inclusion, leaf, index, size, bad, root)
    other = data.draw(st.integers(0, MAX_LEAVES).filter(lambda i: i != index), label="index")
    assert _fails(merkle.verify_inclusion, leaf, other, size, proof, root)
    wrong_size = data.draw(st.integers(1, MAX_LEAVES).filter(lambda s: s != size), label="size")
    # A wrong size is checked with that size's own root: RFC 9162 binds the size to the root
    # only through the tree's shape (leaf 0 has the same path shape in sizes 257 and 258), so
    # sizes and roots are trusted together, as a signed checkpoint carries them.
    assert _fails(merkle.verify_inclusion, leaf, index, wrong_size, proof, _root(wrong_size))
    if proof:
        assert _fails(merkle.verify_inclusion, leaf, index, size, proof[:-1], root)
        assert _fails(merkle.verify_inclusion, leaf, index, size, proof[1:], root)
    extra = bytes(data.draw(st.binary(min_size=32, max_size=32), label="extra"))
    assert _fails(merkle.verify_inclusion, leaf, index, size, [*proof, extra], root)
    assert _fails(merkle.verify_inclusion, leaf, index, size, [extra, *proof], root)


@PROPERTY
@given(_two_sizes(), st.data())
def test_consistency_proofs_verify_and_every_mutation_fails(
    sizes: tuple[int, int], data: st.DataObject
) -> None:
    old, new = sizes
    log = _log()
    old_root, new_root = _root(old), _root(new)
    proof = log.consistency_proof(old, new)
    assert len(proof) <= merkle.MAX_PROOF_HASHES
    merkle.verify_consistency(old, new, proof, old_root, new_root)

    bit = data.draw(st.integers(0, 255), label="bit")
    assert _fails(merkle.verify_consistency, old, new, proof, _flip(old_root, bit), new_root)
    assert _fails(merkle.verify_consistency, old, new, proof, old_root, _flip(new_root, bit))
    for k in range(len(proof)):
        bad = [*proof[:k], _flip(proof[k], bit), *proof[k + 1 :]]
        assert _fails(merkle.verify_consistency, old, new, bad, old_root, new_root)
    if old != new:
        other_old = data.draw(st.integers(1, new).filter(lambda s: s != old), label="old")
        assert _fails(merkle.verify_consistency, other_old, new, proof, _root(other_old), new_root)
        other_new = data.draw(st.integers(old, MAX_LEAVES).filter(lambda s: s != new), label="new")
        assert _fails(merkle.verify_consistency, old, other_new, proof, old_root, _root(other_new))
        assert _fails(merkle.verify_consistency, old, new, proof[:-1], old_root, new_root)
        assert _fails(merkle.verify_consistency, old, new, proof[1:], old_root, new_root)
    extra = bytes(data.draw(st.binary(min_size=32, max_size=32), label="extra"))
    assert _fails(merkle.verify_consistency, old, new, [*proof, extra], old_root, new_root)
    assert _fails(merkle.verify_consistency, old, new, [extra, *proof], old_root, new_root)


@PROPERTY
@given(st.integers(0, MAX_LEAVES))
def test_consistency_from_empty_needs_empty_proof_and_empty_root(new: int) -> None:
    new_root = _root(new)
    merkle.verify_consistency(0, new, [], merkle.EMPTY_ROOT, new_root)
    assert _log().consistency_proof(0, new) == []
    assert _fails(merkle.verify_consistency, 0, new, [new_root], merkle.EMPTY_ROOT, new_root)
    assert _fails(merkle.verify_consistency, 0, new, [], new_root, new_root) or new == 0


# --- fuzz: arbitrary input raises pausewatch errors, never anything else --------------

_hashish = st.one_of(st.binary(max_size=40), st.binary(min_size=32, max_size=32))
_count = st.one_of(
    st.integers(-(1 << 70), 1 << 70), st.integers(0, 70), st.sampled_from([0, 1, (1 << 64) - 1])
)
_proofs = st.lists(_hashish, max_size=70)


def _only_pausewatch_errors(check: Any, *args: Any) -> None:
    with contextlib.suppress(PausewatchError):
        check(*args)


@FUZZ
@given(_hashish, _count, _count, _proofs, _hashish)
def test_fuzz_verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    _only_pausewatch_errors(merkle.verify_inclusion, leaf, index, size, proof, root)
    _only_pausewatch_errors(merkle.root_from_inclusion_proof, leaf, index, size, proof)


@FUZZ
@given(_count, _count, _proofs, _hashish, _hashish)
def test_fuzz_verify_consistency(
    old: int, new: int, proof: list[bytes], old_root: bytes, new_root: bytes
) -> None:
    _only_pausewatch_errors(merkle.verify_consistency, old, new, proof, old_root, new_root)


@FUZZ
@given(
    st.one_of(st.none(), st.text(max_size=3), st.floats(), st.booleans(), st.binary(max_size=3)),
    st.sampled_from(["leaf", "index", "size", "proof", "root"]),
)
def test_fuzz_wrong_types(value: object, slot: str) -> None:
    args: dict[str, object] = {
        "leaf": bytes(32),
        "index": 0,
        "size": 1,
        "proof": [],
        "root": bytes(32),
    }
    args[slot] = value
    _only_pausewatch_errors(
        merkle.verify_inclusion, args["leaf"], args["index"], args["size"], args["proof"], args["root"]
    )
    _only_pausewatch_errors(
        merkle.verify_consistency, args["index"], args["size"], args["proof"], args["leaf"], args["root"]
    )
