"""Checkpoints, cosignatures and tlog-tiles helpers: spec examples, Go, Sunlight and Tessera
vectors, attacks."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pausewatch.checkpoint import (
    MAX_TIMESTAMP,
    Checkpoint,
    Cosignature,
    CosignatureSigner,
    CosignatureVerifier,
    cosignature_message,
    open_checkpoint,
    parse_checkpoint,
    parse_entry_bundle,
    parse_sumdb_tile_path,
    sign_checkpoint,
    sign_cosignature,
    sumdb_tile_path,
    tile_index_path,
    tile_path,
    tile_paths_for_size,
)
from pausewatch.errors import (
    FormatError,
    LimitExceededError,
    SignatureError,
    VerificationError,
)
from pausewatch.keys import Ed25519Signer
from pausewatch.note import (
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    UnsupportedKeyTypeError,
    open_note,
    parse_note,
    parse_vkey,
)

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    assert "_source" in data
    return data


C2SP = load("c2sp-spec-examples.json")
GO = load("golang-x-mod-sumdb-note.json")
SKYLIGHT = load("filosottile-sunlight-skylight-cosignatures.json")
TESSERA = load("transparency-dev-tessera-testdata-log.json")
TIME = 1767139200


# --------------------------------------------------------------------------- C2SP examples


def test_c2sp_checkpoint_example_parses_byte_exact() -> None:
    ex = C2SP["checkpoint_example"]
    note = parse_note(ex["note"].encode())
    cp = parse_checkpoint(note.text)
    assert cp.origin == ex["parsed"]["origin"]
    assert cp.size == ex["parsed"]["tree_size"]
    assert base64.b64encode(cp.root_hash).decode() == ex["parsed"]["root_hash_b64"]
    assert cp.extensions == ()
    assert cp.format() == note.text


def test_c2sp_cosigned_checkpoint_example_parses_into_a_cosignature() -> None:
    note = parse_note(C2SP["cosigned_checkpoint_example"]["note"].encode())
    assert parse_checkpoint(note.text).size == 20852163
    cosig = Cosignature.from_note_signature(note.signatures[1])
    assert cosig.name == "witness.example.com/w1"
    assert cosig.timestamp == 1679315147  # the same time as the spec's signed-message example
    assert cosig.format() == note.format().decode().splitlines(keepends=True)[-1]


def test_c2sp_cosignature_signed_message_example() -> None:
    ex = C2SP["ed25519_cosignature_signed_message_example"]
    cp = parse_checkpoint(C2SP["checkpoint_example"]["note"].split("\n\n")[0] + "\n")
    assert cosignature_message(cp, ex["timestamp"]) == ex["message"].encode()


def test_c2sp_tlog_tiles_examples() -> None:
    ex = C2SP["tlog_tiles_size_example"]
    assert tile_index_path(1234067) == ex["tile_index_encoding_example"]["1234067"]
    paths = tile_paths_for_size(ex["tree_size"])
    want = ex["expected"]
    level0 = [p for p in paths if p.startswith("tile/0/")]
    assert len(level0) == want["level0_full_tiles"] + 1
    assert level0[-1].endswith(f".p/{want['level0_partial_width']}")
    level1 = [p for p in paths if p.startswith("tile/1/")]
    assert len(level1) == want["level1_full_tiles"] + 1
    assert level1[-1].endswith(f".p/{want['level1_partial_width']}")
    assert [p for p in paths if p.startswith("tile/2/")] == [
        f"tile/2/000.p/{want['level2_partial_width']}"
    ]
    assert "256" in ex["also"]
    assert tile_paths_for_size(256) == ["tile/0/000", "tile/1/000.p/1"]


# --------------------------------------------------------------------------- Go sumdb


def test_go_sumdb_tree_note_golden() -> None:
    tree = GO["sumdb_tree_note"]
    cp = parse_checkpoint(tree["golden"], origin="go.sum database tree")
    assert cp.size == tree["tree_size"]
    assert cp.root_hash == hashlib.sha256(b"\x00" + tree["record"].encode()).digest()
    assert cp.format() == tree["golden"]


def test_go_sumdb_tree_note_bad() -> None:
    bad = GO["sumdb_tree_note"]["bad"]
    with pytest.raises(VerificationError, match=r"expected 'go\.sum database tree'"):
        parse_checkpoint(bad[0], origin="go.sum database tree")
    with pytest.raises(FormatError, match="tree size"):
        parse_checkpoint(bad[1])
    with pytest.raises(FormatError, match="root hash"):
        parse_checkpoint(bad[2])


@pytest.mark.parametrize("case", GO["sumdb_tile_paths"]["cases"], ids=lambda c: c[0])
def test_go_sumdb_tile_paths(case: list[Any]) -> None:
    path, tile = case
    if tile is None:
        with pytest.raises(FormatError):
            parse_sumdb_tile_path(path)
        return
    assert parse_sumdb_tile_path(path) == tuple(tile)
    assert sumdb_tile_path(*tile) == path


# --------------------------------------------------------------------------- Sunlight cosignatures


@pytest.mark.parametrize("case", SKYLIGHT["cosignatures"], ids=lambda c: c["cosigner_vkey"][:20])
def test_skylight_cosignature_verifies_and_resigns_byte_exact(case: dict[str, Any]) -> None:
    verifier = CosignatureVerifier.from_vkey(case["cosigner_vkey"])
    assert verifier.vkey == case["cosigner_vkey"]
    seed = hashlib.sha256(case["seed_string"].encode()).digest()
    signer = Ed25519Signer.from_seed(seed)
    assert signer.public_key.raw == verifier.key.raw
    cp = parse_checkpoint(case["checkpoint_body"])
    line = case["cosignature_line"] + "\n"
    sig = parse_note((case["checkpoint_body"] + "\n" + line).encode()).signatures[0]
    cosig = Cosignature.from_note_signature(sig)
    assert cosig.timestamp == case["timestamp"]
    verifier.verify_cosignature(cosig, cp)
    again = sign_cosignature(cp, verifier.name, signer, case["timestamp"])
    assert again.format() == line
    # As a note verifier it opens the cosigned note.
    opened = open_note(parse_note((case["checkpoint_body"] + "\n" + line).encode()), [verifier])
    assert opened.verified[0][1] == sig


def test_skylight_full_note_with_ecdsa_log_signature_is_ignored_as_unknown() -> None:
    case = SKYLIGHT["cosignatures"][0]
    verifier = CosignatureVerifier.from_vkey(case["cosigner_vkey"])
    opened = open_note(case["full_note"].encode(), [verifier])
    assert [s.name for s in opened.unverified] == ["rome2026h1.example.org"]
    assert parse_checkpoint(opened.text).origin == "rome2026h1.example.org"


def test_attack_cosignature_replayed_on_another_checkpoint() -> None:
    a, b = SKYLIGHT["cosignatures"][0], SKYLIGHT["cosignatures"][1]
    verifier = CosignatureVerifier.from_vkey(a["cosigner_vkey"])
    sig = parse_note((a["checkpoint_body"] + "\n" + a["cosignature_line"] + "\n").encode())
    cosig = Cosignature.from_note_signature(sig.signatures[0])
    with pytest.raises(SignatureError, match="invalid cosignature"):
        verifier.verify_cosignature(cosig, parse_checkpoint(b["checkpoint_body"]))


def test_attack_cosignature_timestamp_changed() -> None:
    case = SKYLIGHT["cosignatures"][0]
    verifier = CosignatureVerifier.from_vkey(case["cosigner_vkey"])
    sig = parse_note((case["checkpoint_body"] + "\n" + case["cosignature_line"] + "\n").encode())
    cosig = Cosignature.from_note_signature(sig.signatures[0])
    moved = Cosignature(cosig.name, cosig.key_id, cosig.timestamp + 1, cosig.signature)
    with pytest.raises(SignatureError, match="time 1767139201"):
        verifier.verify_cosignature(moved, parse_checkpoint(case["checkpoint_body"]))


def test_cosignature_key_must_be_type_0x04() -> None:
    with pytest.raises(UnsupportedKeyTypeError, match="witness key"):
        CosignatureVerifier.from_vkey(GO["peterneumann"]["vkey"])


def test_cosignature_timestamp_limits() -> None:
    cp = Checkpoint("o.example", 1, bytes(32))
    signer = Ed25519Signer.from_seed(bytes(32))
    top = sign_cosignature(cp, "w.example", signer, MAX_TIMESTAMP)
    CosignatureSigner("w.example", signer, 0).verifier.verify_cosignature(top, cp)
    with pytest.raises(FormatError):
        sign_cosignature(cp, "w.example", signer, MAX_TIMESTAMP + 1)
    with pytest.raises(FormatError):
        Cosignature("w.example", 0, -1, bytes(64))
    # A signature line whose timestamp has the top bit set cannot verify.
    verifier = CosignatureSigner("w.example", signer, 0).verifier
    with pytest.raises(SignatureError, match="2\\^63"):
        verifier.verify(cp.body(), b"\x80" + bytes(7) + bytes(64))
    with pytest.raises(SignatureError, match="expected 72"):
        verifier.verify(cp.body(), bytes(64))


# --------------------------------------------------------------------------- Tessera log


def _tessera_verifier() -> Ed25519NoteVerifier:
    return Ed25519NoteVerifier.from_vkey(TESSERA["vkey"])


def test_tessera_skey_matches_vkey() -> None:
    assert Ed25519NoteSigner.from_skey(TESSERA["skey"]).vkey == TESSERA["vkey"]


def test_tessera_all_16_checkpoints_verify_and_resign_byte_exact() -> None:
    verifier = _tessera_verifier()
    signer = Ed25519NoteSigner.from_skey(TESSERA["skey"])
    for size in range(16):
        text = TESSERA["files_text"][f"testdata/log/checkpoint.{size}"]
        cp = open_checkpoint(text.encode(), verifier)
        assert cp.origin == TESSERA["origin"]
        assert cp.size == size
        assert sign_checkpoint(cp, [signer]).format() == text.encode()
    latest = TESSERA["files_text"]["testdata/log/checkpoint"]
    assert open_checkpoint(latest.encode(), verifier).size == 15


def test_tessera_entry_bundles_hold_the_leaves_and_use_tile_paths() -> None:
    leaves = [leaf.encode() for leaf in TESSERA["leaves"]]
    files = TESSERA["files_base64"]
    for width in range(1, 16):
        path = "testdata/log/" + tile_path(-1, 0, width)
        bundle = base64.b64decode(files[path])
        assert parse_entry_bundle(bundle) == leaves[:width]
        level0 = base64.b64decode(files["testdata/log/" + tile_path(0, 0, width)])
        hashes = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves[:width]]
        assert level0 == b"".join(hashes)


def test_entry_bundle_malformed() -> None:
    with pytest.raises(FormatError, match="truncated"):
        parse_entry_bundle(b"\x00")
    with pytest.raises(FormatError, match="claims 3 bytes"):
        parse_entry_bundle(b"\x00\x03ab")
    with pytest.raises(LimitExceededError):
        parse_entry_bundle(b"\x00\x00" * 3, max_entries=2)
    assert parse_entry_bundle(b"") == []
    assert parse_entry_bundle(b"\x00\x00") == [b""]


def test_attack_checkpoint_signed_for_another_origin() -> None:
    signer = Ed25519NoteSigner.generate("log.example")
    note = sign_checkpoint(Checkpoint("other.example", 1, bytes(32)), [signer]).format()
    with pytest.raises(VerificationError, match=r"other\.example"):
        open_checkpoint(note, signer.verifier)
    assert open_checkpoint(note, signer.verifier, origin="other.example").size == 1


def test_checkpoint_extensions_round_trip_and_invariants() -> None:
    cp = Checkpoint("o.example", 5, bytes(range(32)), ("ext one", "ext two"))
    assert parse_checkpoint(cp.format()) == cp
    assert parse_checkpoint(cp.body()) == cp
    for bad in (
        "o\n5\n" + base64.b64encode(bytes(32)).decode() + "\n\n",
        "o\n05\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o\n+1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "o\n1\n" + base64.b64encode(bytes(31)).decode() + "\n",
        "o\n1\n",
        "o\n1\n" + base64.b64encode(bytes(32)).decode(),
        "\n1\n" + base64.b64encode(bytes(32)).decode() + "\n",
    ):
        with pytest.raises(FormatError):
            parse_checkpoint(bad)
    with pytest.raises(LimitExceededError):
        parse_checkpoint("o\n9223372036854775808\n" + base64.b64encode(bytes(32)).decode() + "\n")
    assert parse_checkpoint("o\n9223372036854775807\n" + base64.b64encode(bytes(32)).decode() + "\n").size == (1 << 63) - 1
    with pytest.raises(FormatError):
        Checkpoint("o", 1, bytes(33))
    with pytest.raises(FormatError):
        Checkpoint("o\nx", 1, bytes(32))
    with pytest.raises(FormatError):
        Checkpoint("o", 1, bytes(32), ("",))


def test_vkey_type_names_in_messages() -> None:
    key = parse_vkey(SKYLIGHT["cosignatures"][0]["cosigner_vkey"])
    with pytest.raises(UnsupportedKeyTypeError, match="cosignature/v1 \\(0x04\\)"):
        Ed25519NoteVerifier.from_vkey(key)


def test_c2sp_witness_request_example_carries_a_parsable_checkpoint() -> None:
    ex = C2SP["witness_add_checkpoint_request_example"]
    head, _, note_text = ex["body"].partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "old 20852014"
    assert all(len(base64.b64decode(h)) == 32 for h in lines[1:])
    note = parse_note(note_text.encode())
    assert parse_checkpoint(note.text).size == 20852163
    assert [s.name for s in note.signatures] == ["example.com/behind-the-sofa"] * 2
    assert note.format() == note_text.encode()
