"""tlog-proof read/write/verify, and end-to-end offline checks on real logs: transparency-dev
formats, Tessera testdata, Sigstore Rekor v2/v1, the sum.golang.org checkpoint and the
litewitness vector's tree (its add-checkpoint sequence runs against the witness daemon in
tests/witness/test_witness_protocol.py)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pausewatch import merkle
from pausewatch.checkpoint import (
    Checkpoint,
    open_checkpoint,
    parse_checkpoint,
    parse_entry_bundle,
    sign_checkpoint,
    tile_path,
)
from pausewatch.errors import (
    FormatError,
    InputError,
    LimitExceededError,
    SignatureError,
    VerificationError,
)
from pausewatch.note import (
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    UnsupportedKeyTypeError,
    key_id_for,
    parse_note,
    verifier_from_spki,
)
from pausewatch.policy import parse_policy
from pausewatch.tlog_proof import (
    MAX_PROOF_HASHES,
    TlogProof,
    parse_tlog_proof,
    verify_tlog_proof,
)
from pausewatch.tlog_store import MemoryTreeStore, MerkleLog

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    assert "_source" in data
    return data


FORMATS = load("transparency-dev-formats-tlog-proof.json")
TESSERA = load("transparency-dev-tessera-testdata-log.json")
REKOR = load("sigstore-python-rekor-bundles.json")
LITEWITNESS = load("filosottile-torchwood-litewitness.json")
C2SP = load("c2sp-spec-examples.json")


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("case", FORMATS["marshal"], ids=lambda c: c["name"])
def test_formats_marshal_byte_exact_and_round_trip(case: dict[str, Any]) -> None:
    extra = b64(case["extra_b64"]) if "extra_b64" in case else None
    proof = TlogProof(
        case["index"], tuple(b64(h) for h in case["hashes_b64"]), case["checkpoint"].encode(), extra
    )
    assert proof.format() == case["want"].encode()
    assert parse_tlog_proof(case["want"].encode()) == proof


@pytest.mark.parametrize("case", FORMATS["unmarshal_errors"], ids=lambda c: c["name"])
def test_formats_unmarshal_errors(case: dict[str, Any]) -> None:
    with pytest.raises(FormatError):
        parse_tlog_proof(case["proof"].encode())


def test_c2sp_tlog_proof_example_parses() -> None:
    ex = C2SP["tlog_proof_example"]
    proof = parse_tlog_proof(ex["text"].encode())
    assert proof.index == 73894
    assert len(proof.hashes) == 5
    assert proof.extra is not None
    assert proof.checkpoint.startswith(b"example.com/fancylog\n109482\n")
    assert proof.format() == ex["text"].encode()


def tessera_policy() -> bytes:
    return f"log {TESSERA['vkey']}\nquorum none\n".encode()


@pytest.mark.parametrize("case", FORMATS["derived_verifiable"], ids=lambda c: c["entry"])
def test_formats_derived_proofs_verify_end_to_end(case: dict[str, Any]) -> None:
    assert case["log_vkey"] == TESSERA["vkey"]
    policy = parse_policy(tessera_policy())
    verified = verify_tlog_proof(case["tlog_proof"].encode(), case["entry"].encode(), policy)
    assert verified.checkpoint.size == 15
    proof = parse_tlog_proof(case["tlog_proof"].encode())
    assert proof.index == case["index"]
    assert proof.format() == case["tlog_proof"].encode()
    with pytest.raises(VerificationError):
        verify_tlog_proof(proof, case["entry"].encode() + b"!", policy)
    moved = replace(proof, index=(proof.index + 1) % 15)
    with pytest.raises(VerificationError):
        verify_tlog_proof(moved, case["entry"].encode(), policy)


# --------------------------------------------------------------------------- tessera


def test_tessera_tree_rebuilt_from_entry_bundles_matches_all_16_checkpoints() -> None:
    verifier = Ed25519NoteVerifier.from_vkey(TESSERA["vkey"])
    bundle = b64(TESSERA["files_base64"]["testdata/log/" + tile_path(-1, 0, 15)])
    entries = parse_entry_bundle(bundle)
    assert entries == [leaf.encode() for leaf in TESSERA["leaves"]]
    log = MerkleLog(MemoryTreeStore())
    log.append(entries)
    leaf_hashes = [merkle.leaf_hash(e) for e in entries]
    for size in range(16):
        note = TESSERA["files_text"][f"testdata/log/checkpoint.{size}"].encode()
        cp = open_checkpoint(note, verifier)
        assert cp.size == size
        assert cp.root_hash == merkle.root_of(leaf_hashes[:size]) == log.root(size)
        # Every entry is provably included, and every older checkpoint is consistent.
        for index in range(size):
            proof = TlogProof(index, tuple(log.inclusion_proof(index, size)), note)
            verify_tlog_proof(proof.format(), entries[index], parse_policy(tessera_policy()))
        if size:
            old = open_checkpoint(
                TESSERA["files_text"][f"testdata/log/checkpoint.{size - 1}"].encode(), verifier
            )
            merkle.verify_consistency(
                old.size, size, log.consistency_proof(old.size, size), old.root_hash, cp.root_hash
            )


def test_attack_proof_against_checkpoint_from_untrusted_key() -> None:
    log = MerkleLog(MemoryTreeStore())
    log.append([b"a", b"b", b"c"])
    impostor = Ed25519NoteSigner.generate(TESSERA["origin"])
    note = sign_checkpoint(Checkpoint(TESSERA["origin"], 3, log.root()), [impostor]).format()
    proof = TlogProof(1, tuple(log.inclusion_proof(1)), note)
    with pytest.raises(SignatureError, match="no verifiable signatures"):
        verify_tlog_proof(proof, b"b", parse_policy(tessera_policy()))


def test_proof_index_beyond_tree_is_a_verification_failure() -> None:
    proof = parse_tlog_proof(FORMATS["derived_verifiable"][0]["tlog_proof"].encode())
    with pytest.raises(VerificationError, match="not in the checkpointed tree of size 15"):
        verify_tlog_proof(replace(proof, index=15), b"one", parse_policy(tessera_policy()))


# --------------------------------------------------------------------------- limits


def test_limits_63_hashes_ok_64_rejected_and_hash_length_exact() -> None:
    header = "c2sp.org/tlog-proof@v1\nindex 0\n"
    line = base64.b64encode(bytes(32)).decode() + "\n"
    ok = parse_tlog_proof((header + line * MAX_PROOF_HASHES + "\ncp\n").encode())
    assert len(ok.hashes) == 63
    with pytest.raises(LimitExceededError, match="at most 63"):
        parse_tlog_proof((header + line * 64 + "\ncp\n").encode())
    for size in (31, 33, 1, 64):
        bad = base64.b64encode(bytes(size)).decode() + "\n"
        with pytest.raises(FormatError, match="must be 32"):
            parse_tlog_proof((header + bad + "\ncp\n").encode())
    with pytest.raises(LimitExceededError):
        TlogProof(0, (bytes(32),) * 64, b"cp\n")
    with pytest.raises(FormatError):
        TlogProof(0, (bytes(31),), b"cp\n")


@pytest.mark.parametrize(
    "text",
    [
        "c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n",
        "c2sp.org/tlog-proof@v1\nindex +1\n\ncp\n",
        "c2sp.org/tlog-proof@v1\nindex 9223372036854775807\n\ncp\n",
        "c2sp.org/tlog-proof@v1\nindex 99999999999999999999\n\ncp\n",
        "c2sp.org/tlog-proof@v1\nindex  1\n\ncp\n",
        "c2sp.org/tlog-proof@v1\nindex 1\n\n",
        "c2sp.org/tlog-proof@v1\nindex 1\n\ncp",
        "c2sp.org/tlog-proof@v1\nindex 1\ncp\n",
        "c2sp.org/tlog-proof@v1\nextra \nindex 1\n\ncp\n",
        "c2sp.org/tlog-proof@v1\nindex 1\nextra YQ==\n\ncp\n",
        "c2sp.org/tlog-proof@v2\nindex 1\n\ncp\n",
        "c2sp.org/tlog-proof@v1\r\nindex 1\n\ncp\n",
    ],
)
def test_malformed_proofs(text: str) -> None:
    with pytest.raises(FormatError):
        parse_tlog_proof(text.encode())


# --------------------------------------------------------------------------- Sigstore Rekor


def test_rekor_v2_ed25519_checkpoint_and_inclusion_verify() -> None:
    v2 = REKOR["rekor_v2_staging_ed25519"]
    proof = v2["inclusionProof"]
    name = v2["derived_vkey"].split("+")[0]
    verifier = verifier_from_spki(name, b64(v2["log_public_key_spki_der_b64"]))
    assert verifier.vkey == v2["derived_vkey"]
    assert verifier.key_id.to_bytes(4, "big") == b64(v2["logId_keyId_b64"])[:4]
    cp = open_checkpoint(proof["checkpoint"]["envelope"].encode(), verifier)
    assert cp.size == int(proof["treeSize"])
    assert cp.root_hash == b64(proof["rootHash"])
    entry = b64(v2["canonicalizedBody_b64"])
    hashes = tuple(b64(h) for h in proof["hashes"])
    merkle.verify_inclusion(merkle.leaf_hash(entry), int(proof["logIndex"]), cp.size, hashes, cp.root_hash)
    # The same data as an offline tlog-proof, checked against a policy.
    tlog_proof = TlogProof(int(proof["logIndex"]), hashes, proof["checkpoint"]["envelope"].encode())
    policy = parse_policy(f"log {v2['derived_vkey']}\nquorum none\n".encode())
    assert verify_tlog_proof(tlog_proof.format(), entry, policy).checkpoint == cp
    with pytest.raises(VerificationError):
        verify_tlog_proof(tlog_proof, entry[:-1], policy)


def test_rekor_v1_ecdsa_parses_and_is_refused_as_unsupported_key_type() -> None:
    v1 = REKOR["rekor_v1_production_ecdsa"]
    proof = v1["inclusionProof"]
    note = parse_note(proof["checkpoint"]["envelope"].encode())
    cp = parse_checkpoint(note.text)
    assert cp.origin == "rekor.sigstore.dev - 1193050959916656506"
    assert cp.size == int(proof["treeSize"])
    assert cp.root_hash == b64(proof["rootHash"])
    sig = note.signatures[0]
    assert sig.name == "rekor.sigstore.dev"
    assert sig.key_id.to_bytes(4, "big") == b64(v1["logId_keyId_b64"])[:4]
    # The Merkle part is plain RFC 6962 and verifies.
    merkle.verify_inclusion(
        merkle.leaf_hash(b64(v1["canonicalizedBody_b64"])),
        int(proof["logIndex"]),
        cp.size,
        [b64(h) for h in proof["hashes"]],
        cp.root_hash,
    )
    # The signature is ECDSA: refused with a clear message, never silently skipped.
    with pytest.raises(UnsupportedKeyTypeError, match="unsupported key type"):
        verifier_from_spki(sig.name, b64(v1["log_public_key_spki_der_b64"]))


def test_spki_that_is_not_a_key_is_a_key_error() -> None:
    with pytest.raises(InputError, match="not a DER SubjectPublicKeyInfo"):
        verifier_from_spki("x", b"\x30\x00")


# --------------------------------------------------------------------------- litewitness


def test_sum_golang_org_real_checkpoint_verifies() -> None:
    real = LITEWITNESS["sum_golang_org_real_checkpoint"]
    verifier = Ed25519NoteVerifier.from_vkey(real["vkey"])
    assert verifier.key_id == 0x033DE0AE
    assert "+" in real["vkey"].split("+", 2)[2]
    cp = open_checkpoint(real["note"].encode(), verifier, origin="go.sum database tree")
    assert cp.size == 35225469
    with pytest.raises(VerificationError, match=re.escape("sum.golang.org")):
        open_checkpoint(real["note"].encode(), verifier)  # origin != key name
    tampered = real["note"].replace("35225469", "35225470").encode()
    with pytest.raises(SignatureError, match=re.escape("invalid signature for key sum.golang.org")):
        open_checkpoint(tampered, verifier, origin="go.sum database tree")


# The litewitness request sequence runs against the real witness daemon (witness/):
# tests/witness/test_witness_protocol.py::test_litewitness_request_sequence.


def test_litewitness_synthetic_tree_roots() -> None:
    leaves = [bytes([0x2A, i]) + bytes(30) for i in range(5)]
    roots = {1: leaves[0], 3: merkle.root_of(leaves[:3]), 5: merkle.root_of(leaves)}
    origin = LITEWITNESS["log_vkey"].split("+")[0]
    log = Ed25519NoteVerifier.from_vkey(LITEWITNESS["log_vkey"])
    assert log.key.raw.hex() == LITEWITNESS["log_public_key_hex"]
    seen = set()
    for step in LITEWITNESS["sequence"]:
        if step["expected_status"] != 200:
            continue
        note = step["request_body"].split("\n\n", 1)[1].encode()
        cp = open_checkpoint(note, log, origin=origin)
        assert roots[cp.size] == cp.root_hash
        seen.add(cp.size)
    assert seen == {1, 3, 5}
    assert key_id_for(origin, 1, log.key.raw) == 0x5202289B
