"""Signed notes, vkeys and skeys: Go reference vectors, C2SP examples, limits and attacks."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pausewatch.errors import (
    FormatError,
    InputError,
    KeyFileError,
    LimitExceededError,
    SignatureError,
)
from pausewatch.keys import Ed25519Signer
from pausewatch.note import (
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    Note,
    NoteSignature,
    UnsupportedKeyTypeError,
    VerifierKey,
    decode_base64,
    key_id_for,
    open_note,
    parse_note,
    parse_skey,
    parse_vkey,
    sign_note,
    verify_note,
)

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    assert "_source" in data
    return data


GO = load("golang-x-mod-sumdb-note.json")
C2SP = load("c2sp-spec-examples.json")
PETER = GO["peterneumann"]
ENOCH = GO["enochroot"]


def verifiers(vkeys: list[str]) -> list[Ed25519NoteVerifier]:
    return [Ed25519NoteVerifier.from_vkey(v) for v in vkeys]


# --------------------------------------------------------------------------- Go vectors


def test_go_vkeys_parse_and_format_byte_exact() -> None:
    for vkey, key_id in ((PETER["vkey"], 0xC74F20A3), (ENOCH["vkey"], 0xAF0CFE78)):
        key = parse_vkey(vkey)
        assert key.sig_type == SIG_TYPE_ED25519
        assert key.key_id == key_id
        assert key.format() == vkey
        assert Ed25519NoteVerifier.from_vkey(vkey).vkey == vkey


def test_go_key_id_is_sha256_of_name_newline_type_key() -> None:
    key = parse_vkey(PETER["vkey"])
    assert key_id_for("PeterNeumann", 0x01, key.public_key) == 0xC74F20A3


def test_go_skey_parses_formats_and_matches_vkey() -> None:
    signer = parse_skey(PETER["skey"])
    assert signer.name == "PeterNeumann"
    assert signer.key_id == 0xC74F20A3
    assert signer.vkey == PETER["vkey"]
    assert signer.skey == PETER["skey"]
    assert "AYEK" not in repr(signer)  # the seed never shows in a repr


def test_go_sign_reproduces_expected_output_byte_for_byte() -> None:
    signer = Ed25519NoteSigner.from_skey(PETER["skey"])
    note = sign_note(PETER["note_text"], [signer])
    assert note.format() == PETER["expected_sign_output"].encode()
    assert note.format() == PETER["signed_note"].encode()


def test_go_signed_note_verifies_and_text_is_exact() -> None:
    opened = open_note(PETER["signed_note"].encode(), verifiers([PETER["vkey"]]))
    assert opened.text == PETER["note_text"]
    assert [s.name for _, s in opened.verified] == ["PeterNeumann"]
    assert opened.unverified == ()


def test_go_parsed_note_reformats_to_the_same_bytes() -> None:
    for case in GO["open_cases"]:
        if "msg" in case and case["expect"] == "ok":
            assert parse_note(case["msg"].encode()).format() == case["msg"].encode()


def test_go_enoch_signature_line_parses() -> None:
    note = parse_note(PETER["signed_note"].encode() + ENOCH["signature_line"].encode())
    assert note.signatures[1].name == "EnochRoot"
    assert note.signatures[1].key_id == 0xAF0CFE78
    assert note.signatures[1].format() == ENOCH["signature_line"]


def _case_message(case: dict[str, Any]) -> bytes:
    if "msg" in case:
        return str(case["msg"]).encode()
    assert case["msg_construction"] == "text + '\\n' + peter_line*101"
    peter_line = PETER["signed_note"][len(PETER["note_text"]) + 1 :]
    return (PETER["note_text"] + "\n" + peter_line * 101).encode()


@pytest.mark.parametrize("case", GO["open_cases"], ids=lambda c: c["desc"][:50])
def test_go_open_cases(case: dict[str, Any]) -> None:
    msg = _case_message(case)
    known = verifiers(case.get("known_vkeys", [PETER["vkey"]]))
    if case["expect"] == "ok":
        opened = open_note(msg, known)
        verified = sorted(s.name for _, s in opened.verified)
        assert verified == sorted(v.name for v in known)
        if len(known) == 1:
            assert [s.name for s in opened.unverified] == ["EnochRoot"]
        return
    with pytest.raises(InputError) as info:
        open_note(msg, known)
    desc = case["desc"]
    if desc.startswith("no known keys"):
        assert isinstance(info.value, SignatureError)
        assert "no verifiable signatures" in str(info.value)
    elif desc.startswith("101 copies"):
        assert isinstance(info.value, LimitExceededError)
    elif desc.startswith("signature altered"):
        assert isinstance(info.value, SignatureError)
        assert "invalid signature for key PeterNeumann+c74f20a3" in str(info.value)
    else:
        assert desc.startswith("malformed")
        assert isinstance(info.value, FormatError)


def test_go_bad_msg_leading_0xff_is_rejected() -> None:
    assert "0xFF" in GO["bad_msgs_note"]
    with pytest.raises(FormatError, match="UTF-8"):
        parse_note(b"\xff" + PETER["signed_note"].encode())


@pytest.mark.parametrize("vkey", GO["bad_vkeys"])
def test_go_bad_vkeys_are_rejected(vkey: str) -> None:
    with pytest.raises(KeyFileError):
        parse_vkey(vkey)


def test_go_unknown_algorithm_vkey_is_unsupported_not_garbage() -> None:
    with pytest.raises(UnsupportedKeyTypeError, match="0x65"):
        parse_vkey(GO["bad_vkeys"][1])


def test_go_every_proper_substring_of_a_vkey_is_rejected() -> None:
    vkey = PETER["vkey"]
    for i in range(len(vkey)):
        for j in range(i, len(vkey) + 1):
            if (i, j) == (0, len(vkey)):
                continue
            with pytest.raises(KeyFileError):
                parse_vkey(vkey[i:j])


def test_go_every_single_byte_increment_of_a_vkey_is_rejected() -> None:
    vkey = PETER["vkey"]
    for i in range(len(vkey)):
        mutated = vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :]
        with pytest.raises(KeyFileError):
            parse_vkey(mutated)


# --------------------------------------------------------------------------- C2SP examples


def test_c2sp_signed_note_example_verifies() -> None:
    ex = C2SP["signed_note_example"]
    assert ex["verifiable"] is True
    opened = open_note(ex["note"].encode(), verifiers([ex["vkey"]]))
    assert opened.text == ex["expected_text"]
    assert parse_vkey(ex["vkey"]).key_id == 0x530D903A


def test_c2sp_multiline_example_splits_at_last_blank_line() -> None:
    ex = C2SP["signed_note_multiline_example"]
    note = parse_note(ex["note"].encode())
    assert note.text == "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    assert [s.name for s in note.signatures] == ["quasimodo.example/salvatore"]
    assert note.format() == ex["note"].encode()


# --------------------------------------------------------------------------- limits


def _signed_by(n: int) -> tuple[bytes, list[Ed25519NoteVerifier]]:
    signers = [
        Ed25519NoteSigner(f"signer{i}.example", Ed25519Signer.from_seed(bytes([i]) * 32))
        for i in range(n)
    ]
    return sign_note("limit test\n", signers).format(), [s.verifier for s in signers]


def test_limit_16_signatures_all_verified() -> None:
    msg, known = _signed_by(16)
    assert len(open_note(msg, known).verified) == 16


def test_limit_100_signatures_accepted_101_rejected() -> None:
    msg, known = _signed_by(MAX_SIGNATURES)
    assert len(open_note(msg, known).verified) == MAX_SIGNATURES
    extra = NoteSignature("extra.example", 1, b"x" * 64).format().encode()
    with pytest.raises(LimitExceededError, match="at most 100"):
        parse_note(msg + extra)


def test_limit_note_size() -> None:
    signer = Ed25519NoteSigner.generate("size.example")
    body = "a" * 1000 + "\n"
    text = body * ((MAX_NOTE_SIZE - 200) // len(body))
    msg = sign_note(text, [signer]).format()
    assert len(msg) <= MAX_NOTE_SIZE
    verify_note(msg, [signer.verifier])
    big = "a" * MAX_NOTE_SIZE + "\n"
    with pytest.raises(LimitExceededError):
        sign_note(big, [signer])
    with pytest.raises(LimitExceededError, match="1048576"):
        parse_note(big.encode() + b"\n" + msg.splitlines(keepends=True)[-1])


# --------------------------------------------------------------------------- attacks


def test_attack_unknown_key_with_known_name_is_ignored_not_trusted() -> None:
    real = Ed25519NoteSigner.generate("log.example")
    impostor = Ed25519NoteSigner.generate("log.example")
    msg = sign_note("tree\n", [impostor]).format()
    with pytest.raises(SignatureError, match="no verifiable signatures"):
        open_note(msg, [real.verifier])


def test_attack_known_key_bad_signature_rejects_whole_note_even_with_a_good_one() -> None:
    signer = Ed25519NoteSigner.generate("log.example")
    good = sign_note("tree\n", [signer])
    forged = NoteSignature(signer.name, signer.key_id, bytes(64))
    with pytest.raises(SignatureError, match="invalid signature"):
        open_note(good.with_signatures(forged), [signer.verifier])


def test_attack_text_changed_after_signing() -> None:
    signer = Ed25519NoteSigner.generate("log.example")
    msg = sign_note("size 10\n", [signer]).format()
    with pytest.raises(SignatureError):
        open_note(msg.replace(b"size 10", b"size 11"), [signer.verifier])


def test_attack_non_canonical_base64_signature_is_rejected() -> None:
    line = PETER["signed_note"]
    # Flip unused low bits of the last base64 character before the padding ('M' -> 'N').
    mutated = line.replace("JnAM=\n", "JnAN=\n")
    with pytest.raises(FormatError, match="non-canonical"):
        parse_note(mutated.encode())


def test_sign_keeps_other_signatures_and_replaces_own() -> None:
    a = Ed25519NoteSigner.generate("a.example")
    b = Ed25519NoteSigner.generate("b.example")
    first = sign_note("x\n", [a, b])
    again = sign_note("x\n", [a], keep=first.signatures)
    assert [s.name for s in again.signatures] == ["b.example", "a.example"]
    verify_note(again.format(), [a.verifier, b.verifier])


def test_sign_rejects_bad_text() -> None:
    signer = Ed25519NoteSigner.generate("a.example")
    for text in ("no newline", "tab\there\n", "", "nul\x00\n"):
        with pytest.raises(FormatError):
            sign_note(text, [signer])


def test_vkey_for_cosignature_type_parses_and_types_are_enforced() -> None:
    raw = bytes(range(32))
    key = VerifierKey("w.example", SIG_TYPE_COSIGNATURE_V1, raw)
    assert parse_vkey(key.format()) == key
    with pytest.raises(UnsupportedKeyTypeError, match="cosignature"):
        Ed25519NoteVerifier.from_vkey(key.format())


def test_two_different_trusted_keys_with_same_name_and_id_are_refused() -> None:
    v = Ed25519NoteSigner.generate("a.example").verifier
    w = Ed25519NoteSigner.generate("b.example").verifier
    clash = Ed25519NoteVerifier(v.name, w.key)
    object.__setattr__(clash, "key_id", v.key_id)
    with pytest.raises(KeyFileError, match="share key name and ID"):
        open_note(sign_note("x\n", [Ed25519NoteSigner.generate("c.example")]), [v, clash])


def test_decode_base64_is_strict() -> None:
    assert decode_base64("YQ==", "t") == b"a"
    for bad in ("YQ", "YQ=", "Y Q==", "YR==", "YQ==YQ==", "-_==", "YQ==\n"):
        with pytest.raises(FormatError):
            decode_base64(bad, "t")


def test_note_dataclass_invariants() -> None:
    sig = NoteSignature("a", 1, b"s")
    with pytest.raises(FormatError):
        Note("x\n", ())
    with pytest.raises(FormatError):
        NoteSignature("a b", 1, b"s")
    with pytest.raises(FormatError):
        NoteSignature("a+b", 1, b"s")
    with pytest.raises(FormatError):
        NoteSignature("a", 1 << 32, b"s")
    assert Note("x\n", (sig,)).format() == b"x\n\n" + sig.format().encode()
    assert sig.format() == "— a " + base64.b64encode(b"\x00\x00\x00\x01s").decode() + "\n"
