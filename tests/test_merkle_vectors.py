"""RFC 9162 hashing and proofs against external vectors (tests/vectors, copied unchanged)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pausewatch import merkle
from pausewatch.errors import FormatError, PausewatchError, VerificationError
from pausewatch.tlog_store import MemoryTreeStore, MerkleLog

VECTORS = Path(__file__).parent / "vectors"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    assert data["_source"]
    return data


TD = _load("transparency-dev-merkle-testdata.json")
CT = _load("google-certificate-transparency-python-merkle.json")
RFC = _load("rfc6962-section-2.1.3-example-instantiated.json")

# Our one intended difference from transparency-dev (tests/vectors/README.md): its roots are
# 16 bytes ("don't care 2"), and every hash must be exactly 32 bytes here.
INTENDED_DIFFERENCE = "testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"
# The same rule (32-byte hashes; size 0 only with the empty root) applied to the subtree cases
# that are plain consistency proofs (start = 0).
INTENDED_SUBTREE_DIFFERENCES = {
    "testdata/subtreeconsistency/additional/sizes-are-equal-one-and-proof-is-empty.json",
    "testdata/subtreeconsistency/additional/"
    "subtree-is-empty-sizes-are-equal-zero-subtree-root-valid-tree-root-random-proof-is-empty.json",
}


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value is not None else b""


def _proof(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


def _hex(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def _outcome(check: Any, *args: Any) -> bool:
    """True when the check passes; any pausewatch error is a rejection, anything else fails."""
    try:
        check(*args)
    except PausewatchError:
        return False
    return True


# --- transparency-dev/merkle ------------------------------------------------------------


def test_hasher_kats() -> None:
    kat = TD["hasher_kat_hex"]
    assert merkle.EMPTY_ROOT.hex() == kat["empty_root SHA256('')"]
    assert merkle.leaf_hash(b"").hex() == kat["leaf('')"]
    assert merkle.leaf_hash(b"L123456").hex() == kat["leaf('L123456')"]
    # node('N123','N456') hashes non-32-byte strings: our node_hash refuses them on purpose.
    with pytest.raises(merkle.MalformedProofError):
        merkle.node_hash(b"N123", b"N456")


def test_reference_roots() -> None:
    leaves = [merkle.leaf_hash(bytes.fromhex(h)) for h in TD["reference_leaves_hex"]]
    for size, root in TD["reference_roots_hex"].items():
        assert merkle.root_of(leaves[: int(size)]).hex() == root


@pytest.mark.parametrize("name", sorted(TD["inclusion"]))
def test_transparency_dev_inclusion(name: str) -> None:
    case = TD["inclusion"][name]
    ok = _outcome(
        merkle.verify_inclusion,
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        _proof(case["proof"]),
        _b64(case["root"]),
    )
    assert ok == (not case["wantErr"])


@pytest.mark.parametrize("name", sorted(TD["consistency"]))
def test_transparency_dev_consistency(name: str) -> None:
    case = TD["consistency"][name]
    ok = _outcome(
        merkle.verify_consistency,
        case["size1"],
        case["size2"],
        _proof(case["proof"]),
        _b64(case["root1"]),
        _b64(case["root2"]),
    )
    if name == INTENDED_DIFFERENCE:
        assert not case["wantErr"]
        assert not ok
    else:
        assert ok == (not case["wantErr"])


def test_intended_difference_is_rejected_for_hash_length() -> None:
    case = TD["consistency"][INTENDED_DIFFERENCE]
    assert (case["size1"], case["size2"], case["proof"]) == (1, 1, [])
    assert len(_b64(case["root1"])) != merkle.HASH_SIZE
    with pytest.raises(merkle.MalformedProofError, match="exactly 32 bytes"):
        merkle.verify_consistency(1, 1, [], _b64(case["root1"]), _b64(case["root2"]))
    # the same shape with real 32-byte roots is accepted
    root = merkle.leaf_hash(b"")
    merkle.verify_consistency(1, 1, [], root, root)


@pytest.mark.parametrize("name", sorted(n for n, c in TD["subtreeinclusion"].items() if c["start"] == 0))
def test_transparency_dev_subtree_inclusion_from_zero(name: str) -> None:
    """A subtree [0, end) inclusion proof is an inclusion proof in the tree of size end.
    (Subtrees not starting at 0 are not part of our API.)"""
    case = TD["subtreeinclusion"][name]
    ok = _outcome(
        merkle.verify_inclusion,
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["end"],
        _proof(case["proof"]),
        _b64(case["root"]),
    )
    assert ok == (not case["wantErr"])


@pytest.mark.parametrize("name", sorted(n for n, c in TD["subtreeconsistency"].items() if c["start"] == 0))
def test_transparency_dev_subtree_consistency_from_zero(name: str) -> None:
    case = TD["subtreeconsistency"][name]
    ok = _outcome(
        merkle.verify_consistency,
        case["end"],
        case["size"],
        _proof(case["proof"]),
        _b64(case["root1"]),
        _b64(case["root2"]),
    )
    if name in INTENDED_SUBTREE_DIFFERENCES:
        assert not case["wantErr"]
        assert not ok
    else:
        assert ok == (not case["wantErr"])


def test_happy_paths_are_generated_identically() -> None:
    """Every positive 8-leaf probe's proof is exactly what our generator emits."""
    log = MerkleLog(MemoryTreeStore())
    log.append([bytes.fromhex(h) for h in TD["reference_leaves_hex"]])
    checked = 0
    for case in TD["inclusion"].values():
        if (
            not case["wantErr"]
            and case["treeSize"] <= 8
            and merkle.leaf_hash(log.entry(case["leafIdx"])) == _b64(case["leafHash"])
        ):
            assert log.inclusion_proof(case["leafIdx"], case["treeSize"]) == _proof(case["proof"])
            checked += 1
    for case in TD["consistency"].values():
        if (
            not case["wantErr"]
            and case["size1"] > 0
            and case["size2"] <= 8
            and log.root(case["size1"]) == _b64(case["root1"])
        ):
            assert log.consistency_proof(case["size1"], case["size2"]) == _proof(case["proof"])
            checked += 1
    assert checked >= 8


# --- google/certificate-transparency (python) ------------------------------------------


def test_ct_hasher_kats() -> None:
    assert merkle.EMPTY_ROOT.hex() == CT["empty_tree_hash"]
    for kat in CT["leaf_hash_kat"]:
        assert merkle.leaf_hash(bytes.fromhex(kat["leaf_hex"])).hex() == kat["leaf_hash"]
    for kat in CT["node_hash_kat"]:
        node = merkle.node_hash(bytes.fromhex(kat["left"]), bytes.fromhex(kat["right"]))
        assert node.hex() == kat["node_hash"]


def test_ct_roots_and_generated_consistency_proofs() -> None:
    log = MerkleLog(MemoryTreeStore())
    log.append([bytes.fromhex(h) for h in CT["test_vector_leaves_hex"]])
    for size, root in CT["test_vector_roots_by_size"].items():
        assert log.root(int(size)).hex() == root
    for case in CT["consistency_proofs_valid"]:
        proof = _hex(case["proof"])
        root1, root2 = bytes.fromhex(case["root1"]), bytes.fromhex(case["root2"])
        merkle.verify_consistency(case["size1"], case["size2"], proof, root1, root2)
        assert log.consistency_proof(case["size1"], case["size2"]) == proof


@pytest.mark.parametrize("index", range(len(CT["consistency_proofs_invalid"])))
def test_ct_invalid_consistency_proofs(index: int) -> None:
    case = CT["consistency_proofs_invalid"][index]
    with pytest.raises(VerificationError):
        merkle.verify_consistency(
            case["size1"],
            case["size2"],
            _hex(case["proof"]),
            bytes.fromhex(case["root1"]),
            bytes.fromhex(case["root2"]),
        )


@pytest.mark.parametrize("index", range(len(CT["consistency_edge_cases_legacy_accepts"])))
def test_ct_legacy_acceptances_are_rejected(index: int) -> None:
    """Legacy CT ignored the proof in these cases; we decided (DESIGN.md) to reject them."""
    case = CT["consistency_edge_cases_legacy_accepts"][index]
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(
            case["size1"],
            case["size2"],
            _hex(case["proof"]),
            bytes.fromhex(case["root1"]),
            bytes.fromhex(case["root2"]),
        )


def test_ct_real_log_inclusion_proof() -> None:
    case = CT["real_ct_log_inclusion_proof"]
    leaf = merkle.leaf_hash(bytes.fromhex(case["raw_leaf_hex"]))
    assert leaf.hex() == case["leaf_hash"]
    proof = _hex(case["audit_path"])
    root = bytes.fromhex(case["expected_root_hash"])
    merkle.verify_inclusion(leaf, case["leaf_index"], case["tree_size"], proof, root)
    flipped = bytes([root[0] ^ 1]) + root[1:]
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(leaf, case["leaf_index"], case["tree_size"], proof, flipped)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(leaf, case["leaf_index"] + 1, case["tree_size"], proof, root)


def test_ct_structural_rightmost_cases() -> None:
    ones, zeros = bytes.fromhex("11" * 32), bytes(32)
    leaf = merkle.leaf_hash(ones)
    h = merkle.node_hash
    cases = [
        (8, 7, [zeros] * 3, h(zeros, h(zeros, h(zeros, leaf)))),
        (5, 4, [zeros], h(zeros, leaf)),
        (6, 5, [zeros] * 2, h(zeros, h(zeros, leaf))),
        (6, 4, [zeros] * 2, h(zeros, h(leaf, zeros))),
    ]
    for size, index, proof, root in cases:
        merkle.verify_inclusion(leaf, index, size, proof, root)
    for wrong in ([zeros] * 3, [zeros]):
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(leaf, 0, 4, wrong, merkle.root_of([leaf] * 4))


# --- RFC 6962 2.1.3 example: generation order -------------------------------------------


def _rfc_log() -> tuple[MerkleLog, dict[str, bytes]]:
    log = MerkleLog(MemoryTreeStore())
    log.append([bytes.fromhex(h) for h in RFC["leaves_hex"]])
    return log, {k: bytes.fromhex(v) for k, v in RFC["nodes_hex"].items()}


def test_rfc_example_nodes_and_roots() -> None:
    log, nodes = _rfc_log()
    assert log.root() == nodes["hash"]
    for label, root in RFC["subtree_roots_hex"].items():
        size = int(label.split("D[0:")[1].split("]")[0])
        assert log.root(size).hex() == root
    for i, letter in enumerate("abcdef"):
        assert log.leaf_hash_at(i) == nodes[letter]
    assert log.leaf_hash_at(6) == nodes["j"]


def test_rfc_example_audit_paths_in_order() -> None:
    log, nodes = _rfc_log()
    for label, letters in RFC["audit_paths"].items():
        index = int(label.split("m=")[1].rstrip(")"))
        expected = [nodes[x] for x in letters]
        assert log.inclusion_proof(index, 7) == expected
        merkle.verify_inclusion(log.leaf_hash_at(index), index, 7, expected, nodes["hash"])


def test_rfc_example_consistency_proofs_in_order() -> None:
    log, nodes = _rfc_log()
    for label, letters in RFC["consistency_proofs"].items():
        old = int(label.split("(")[1].split(",")[0])
        expected = [nodes[x] for x in letters]
        assert log.consistency_proof(old, 7) == expected
        merkle.verify_consistency(old, 7, expected, log.root(old), nodes["hash"])


def test_malformed_inputs_are_format_errors() -> None:
    leaf = merkle.leaf_hash(b"x")
    with pytest.raises(FormatError):
        merkle.verify_inclusion(leaf[:31], 0, 1, [], leaf)
    with pytest.raises(merkle.ProofTooLongError):
        merkle.verify_inclusion(leaf, 0, 1, [b"short"] * 64, leaf)
    with pytest.raises(FormatError):
        merkle.verify_consistency(-1, 1, [], leaf, leaf)
    with pytest.raises(FormatError):
        merkle.verify_consistency(1, 1 << 64, [], leaf, leaf)
