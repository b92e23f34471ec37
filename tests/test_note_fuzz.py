"""Fuzzing every parser of this layer (note, vkey, skey, checkpoint, cosignature, tlog-proof,
policy): malformed input raises a specific pausewatch InputError with a message, and nothing
else ever escapes. Derandomized and without deadlines, so runs are deterministic."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pausewatch.checkpoint import (
    Checkpoint,
    Cosignature,
    CosignatureSigner,
    parse_checkpoint,
    parse_entry_bundle,
    parse_sumdb_tile_path,
    sign_checkpoint,
)
from pausewatch.errors import FormatError, KeyFileError, LimitExceededError, SignatureError
from pausewatch.keys import Ed25519Signer
from pausewatch.note import (
    Ed25519NoteSigner,
    Note,
    NoteSignature,
    open_note,
    parse_note,
    parse_skey,
    parse_vkey,
    sign_note,
)
from pausewatch.policy import parse_policy, verify_checkpoint
from pausewatch.tlog_proof import TlogProof, parse_tlog_proof

pytestmark = pytest.mark.heavy

FUZZ = settings(
    derandomize=True,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)
EXPECTED = (FormatError, LimitExceededError, KeyFileError)

LOG = Ed25519NoteSigner("fuzz.example/log", Ed25519Signer.from_seed(bytes(32)))
WITNESS = CosignatureSigner("w.example", Ed25519Signer.from_seed(bytes([1]) * 32), 1_700_000_000)
CP = Checkpoint("fuzz.example/log", 12, hashlib.sha256(b"fuzz").digest(), ("ext",))
NOTE = sign_checkpoint(CP, [LOG, WITNESS]).format()
POLICY = (
    f"log {LOG.vkey}\nwitness W {WITNESS.verifier.vkey}\ngroup G any W\nquorum G\n".encode()
)
PROOF = TlogProof(3, (bytes(32), bytes(range(32))), NOTE, b"extra").format()


def expect_clean(parse: Callable[[Any], object], data: Any) -> None:
    """``parse(data)`` either succeeds or raises a specific InputError with a message."""
    error: Exception | None = None
    try:
        parse(data)
    except EXPECTED as e:
        error = e
    if error is not None:
        assert str(error).strip(), f"{type(error).__name__} without a message"


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few byte insertions, deletions, replacements or line swaps."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "dup"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif kind == "replace" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 40))]
    return bytes(data)


DEFAULT_BYTES = st.binary(max_size=600)


# --------------------------------------------------------------------------- notes


@FUZZ
@given(st.one_of(DEFAULT_BYTES, mutated(NOTE)))
def test_fuzz_parse_note(data: bytes) -> None:
    expect_clean(parse_note, data)


@FUZZ
@given(mutated(NOTE))
def test_fuzz_open_mutated_note_never_crashes_and_never_accepts_changed_text(data: bytes) -> None:
    error: Exception | None = None
    try:
        opened = open_note(data, [LOG.verifier, WITNESS.verifier])
    except (*EXPECTED, SignatureError) as e:
        error = e
    if error is not None:
        assert str(error)
    else:
        assert opened.text == CP.format()


@FUZZ
@given(st.one_of(st.text(max_size=120), st.just(LOG.vkey), st.builds(
    lambda s, i, c: s[:i] + c + s[i + 1 :],
    st.just(LOG.vkey), st.integers(0, len(LOG.vkey) - 1), st.characters(codec="utf-8"),
)))
def test_fuzz_parse_vkey(text: str) -> None:
    expect_clean(parse_vkey, text)


@FUZZ
@given(st.one_of(st.text(max_size=120), st.builds(
    lambda s, i, c: s[:i] + c + s[i + 1 :],
    st.just(LOG.skey), st.integers(0, len(LOG.skey) - 1), st.characters(codec="utf-8"),
)))
def test_fuzz_parse_skey(text: str) -> None:
    expect_clean(parse_skey, text)


@FUZZ
@given(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), max_size=40).map(
        lambda s: s.replace("\n\n", "\n") + "\n"
    ),
    st.lists(st.sampled_from(["a.example", "b.example/x", "ü.example"]), min_size=1, max_size=3),
)
def test_property_sign_parse_round_trip(text: str, names: list[str]) -> None:
    signers = [Ed25519NoteSigner(n, Ed25519Signer.from_seed(hashlib.sha256(n.encode()).digest())) for n in names]
    note = sign_note(text, signers)
    assert parse_note(note.format()) == note
    open_note(note.format(), [s.verifier for s in signers])


@FUZZ
@given(st.integers(0, 2**32 - 1), st.binary(min_size=1, max_size=100))
def test_property_signature_line_round_trip(key_id: int, sig: bytes) -> None:
    line = NoteSignature("k.example", key_id, sig)
    note = Note("t\n", (line,))
    assert parse_note(note.format()).signatures == (line,)


# --------------------------------------------------------------------------- checkpoints


@FUZZ
@given(st.one_of(DEFAULT_BYTES, mutated(CP.body()), st.text(max_size=200)))
def test_fuzz_parse_checkpoint(data: bytes | str) -> None:
    expect_clean(parse_checkpoint, data)


@FUZZ
@given(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1, max_size=30),
    st.integers(0, 2**63 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1, max_size=10), max_size=3),
)
def test_property_checkpoint_round_trip(origin: str, size: int, root: bytes, ext: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(ext))
    assert parse_checkpoint(cp.format()) == cp


@FUZZ
@given(st.binary(max_size=120))
def test_fuzz_cosignature_from_signature_bytes(sig: bytes) -> None:
    expect_clean(lambda s: Cosignature.from_note_signature(NoteSignature("w.example", 1, s)), sig or b"x")


@FUZZ
@given(st.one_of(st.text(max_size=60), st.just("tile/8/0/x001/234.p/5")))
def test_fuzz_tile_paths(path: str) -> None:
    expect_clean(parse_sumdb_tile_path, path)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_entry_bundle(data: bytes) -> None:
    expect_clean(parse_entry_bundle, data)


# --------------------------------------------------------------------------- tlog-proof


@FUZZ
@given(st.one_of(DEFAULT_BYTES, mutated(PROOF)))
def test_fuzz_parse_tlog_proof(data: bytes) -> None:
    expect_clean(parse_tlog_proof, data)


@FUZZ
@given(
    st.integers(0, 2**63 - 2),
    st.lists(st.binary(min_size=32, max_size=32), max_size=63),
    st.one_of(st.none(), st.binary(min_size=1, max_size=50)),
)
def test_property_tlog_proof_round_trip(index: int, hashes: list[bytes], extra: bytes | None) -> None:
    proof = TlogProof(index, tuple(hashes), NOTE, extra)
    assert parse_tlog_proof(proof.format()) == proof


# --------------------------------------------------------------------------- policy


@FUZZ
@given(st.one_of(DEFAULT_BYTES, mutated(POLICY)))
def test_fuzz_parse_policy(data: bytes) -> None:
    expect_clean(parse_policy, data)


@FUZZ
@given(mutated(POLICY))
def test_fuzz_mutated_policy_still_verifies_or_fails_cleanly(data: bytes) -> None:
    try:
        policy = parse_policy(data)
    except EXPECTED:
        return
    error: Exception | None = None
    try:
        verify_checkpoint(NOTE, policy)
    except (*EXPECTED, SignatureError) as e:
        error = e
    assert error is None or str(error)


def test_fuzz_sanity_seeds_are_valid() -> None:
    parse_note(NOTE)
    parse_tlog_proof(PROOF)
    assert verify_checkpoint(NOTE, parse_policy(POLICY)) == CP
    assert base64.b64decode(LOG.vkey.split("+")[2])[0] == 1
