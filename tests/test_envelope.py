import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.envelope import (
    MAX_SIGNATURES,
    PayloadType,
    pae,
    parse_envelope,
    sign_envelope,
    verify_envelope,
    verify_threshold,
)
from pausewatch.errors import FormatError, InputError, LimitExceededError, SignatureError
from pausewatch.v1 import types_pb2
from sim.factories import seeded_signer


def test_pae_matches_the_dsse_specification_example() -> None:
    # github.com/secure-systems-lab/dsse protocol.md, "Test case".
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_signed_envelope_verifies_under_its_key_only() -> None:
    alice, mallory = seeded_signer("alice"), seeded_signer("mallory")
    raw = sign_envelope(PayloadType.CHALLENGE, b"payload", [alice])
    env = parse_envelope(raw)
    verify_envelope(env, alice.public_key)
    with pytest.raises(SignatureError):
        verify_envelope(env, mallory.public_key)


def test_a_forged_keyid_cannot_make_a_signature_pass() -> None:
    alice, mallory = seeded_signer("alice"), seeded_signer("mallory")
    raw = sign_envelope(PayloadType.CHALLENGE, b"payload", [mallory])
    env = types_pb2.Envelope.FromString(raw)
    env.signatures[0].keyid = alice.public_key.key_id
    forged = parse_envelope(env.SerializeToString(deterministic=True))
    with pytest.raises(SignatureError):
        verify_envelope(forged, alice.public_key)


def test_signature_covers_the_payload_type() -> None:
    alice = seeded_signer("alice")
    raw = sign_envelope(PayloadType.CHALLENGE, b"payload", [alice])
    env = types_pb2.Envelope.FromString(raw)
    env.payload_type = PayloadType.VERDICT
    swapped = parse_envelope(env.SerializeToString(deterministic=True))
    with pytest.raises(SignatureError):
        verify_envelope(swapped, alice.public_key)


def test_non_canonical_encoding_is_rejected() -> None:
    raw = sign_envelope(PayloadType.CHALLENGE, b"payload", [seeded_signer("a")])
    # An unknown field (number 15, varint 1) appended: same signed content, other bytes.
    with pytest.raises(FormatError, match="canonical"):
        parse_envelope(raw + b"\x78\x01")


def test_limits_are_enforced_before_parsing() -> None:
    with pytest.raises(LimitExceededError, match="limit"):
        parse_envelope(b"\x00" * 100, max_bytes=99)
    signers = [seeded_signer(str(i)) for i in range(MAX_SIGNATURES + 1)]
    raw = sign_envelope(PayloadType.CHALLENGE, b"p", signers)
    with pytest.raises(LimitExceededError, match="signatures"):
        parse_envelope(raw)


def test_unknown_payload_type_and_unsigned_envelopes_are_rejected() -> None:
    env = types_pb2.Envelope(payload=b"x", payload_type="text/plain")
    env.signatures.add(keyid="k", sig=b"s" * 64)
    with pytest.raises(FormatError, match="unknown payload type"):
        parse_envelope(env.SerializeToString(deterministic=True))
    bare = types_pb2.Envelope(payload=b"x", payload_type=PayloadType.CHALLENGE)
    with pytest.raises(FormatError, match="no signatures"):
        parse_envelope(bare.SerializeToString(deterministic=True))


def test_threshold_counts_distinct_trusted_keys() -> None:
    a, b, c = (seeded_signer(x) for x in "abc")
    raw = sign_envelope(PayloadType.COMMITMENT, b"commitment", [a, b])
    env = parse_envelope(raw)
    verify_threshold(env, [a.public_key, b.public_key, c.public_key], 2)
    with pytest.raises(SignatureError, match="2 required"):
        verify_threshold(env, [a.public_key, a.public_key, c.public_key], 2)
    with pytest.raises(SignatureError, match="3 required"):
        verify_threshold(env, [a.public_key, b.public_key, c.public_key], 3)


@given(st.binary(max_size=512))
def test_parser_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(InputError):
        parse_envelope(data)


def test_reordered_fields_are_rejected() -> None:
    raw = sign_envelope(PayloadType.CHALLENGE, b"payload", [seeded_signer("a")])
    env = types_pb2.Envelope.FromString(raw)
    sig = env.signatures[0].SerializeToString(deterministic=True)
    t = PayloadType.CHALLENGE.encode()
    # payload_type (field 2) before payload (field 1): a valid protobuf, not our encoding.
    reordered = b"\x12" + _varint(len(t)) + t + b"\x0a\x07payload" + b"\x1a" + _varint(len(sig)) + sig
    assert types_pb2.Envelope.FromString(reordered) == env
    with pytest.raises(FormatError, match="out of order"):
        parse_envelope(reordered)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
