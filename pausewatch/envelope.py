"""Signed envelopes: DSSE's pre-authentication encoding over the exact payload bytes.

An envelope travels as the serialized bytes of ``pausewatch.v1.Envelope``. Receivers parse
those bytes with ``parse_envelope`` (size limits, canonical encoding, known payload type),
verify a signature with ``verify_envelope`` against a key *they* chose, and only then parse the
payload. A signature is only ever checked under the key its key id names, and only the first
signature naming a key is checked, so the work an envelope can cause before it is
trusted is at most one Ed25519 check per trusted key it names — never signatures × keys.
Nothing is ever re-serialized to check a signature or a hash: the digest of an
envelope is SHA-256 of the bytes as received, which is what an attestor's ``prev`` field and
the Merkle leaf commit to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf import unknown_fields
from google.protobuf.message import DecodeError, Message

from pausewatch.errors import FormatError, LimitExceededError, SignatureError
from pausewatch.keys import PublicKey, Signer
from pausewatch.v1 import types_pb2

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "MAX_SIGNATURES",
    "PAYLOAD_TYPES",
    "ParsedEnvelope",
    "PayloadType",
    "envelope_digest",
    "pae",
    "parse_envelope",
    "parse_message",
    "sign_envelope",
    "verify_envelope",
    "verify_threshold",
]

MAX_ENVELOPE_BYTES = 1 << 20  # 1 MiB: a 60-s report of 8 devices is about 2 KiB
MAX_SIGNATURES = 16


class PayloadType:
    """The payload types pausewatch signs. Versioned: a new wire version gets new strings."""

    USAGE_REPORT = "application/vnd.pausewatch.v1.usage-report+proto"
    METER_REPORT = "application/vnd.pausewatch.v1.meter-report+proto"
    ACCOUNTING_REPORT = "application/vnd.pausewatch.v1.accounting-report+proto"
    INVENTORY = "application/vnd.pausewatch.v1.inventory+proto"
    COMMITMENT = "application/vnd.pausewatch.v1.commitment+proto"
    TERMS = "application/vnd.pausewatch.v1.terms+proto"
    CHALLENGE = "application/vnd.pausewatch.v1.challenge+proto"
    VERDICT = "application/vnd.pausewatch.v1.verdict+proto"


PAYLOAD_TYPES: Mapping[str, type[Message]] = {
    PayloadType.USAGE_REPORT: types_pb2.UsageReport,
    PayloadType.METER_REPORT: types_pb2.MeterReport,
    PayloadType.ACCOUNTING_REPORT: types_pb2.AccountingReport,
    PayloadType.INVENTORY: types_pb2.Inventory,
    PayloadType.COMMITMENT: types_pb2.Commitment,
    PayloadType.TERMS: types_pb2.Terms,
    PayloadType.CHALLENGE: types_pb2.Challenge,
    PayloadType.VERDICT: types_pb2.Verdict,
}


_M = TypeVar("_M", bound=Message)


def parse_message(payload: bytes, cls: type[_M]) -> _M:
    """Parse ``payload`` as ``cls``; a decoding failure is a FormatError naming the type."""
    msg = cls()
    try:
        msg.ParseFromString(payload)
    except DecodeError as e:
        raise FormatError(f"payload is not a valid {cls.__name__}: {e}") from e
    return msg


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def envelope_digest(envelope_bytes: bytes) -> bytes:
    """SHA-256 of an envelope's exact bytes: what ``prev`` chains and receipts refer to."""
    return hashlib.sha256(envelope_bytes).digest()


@dataclass(frozen=True)
class ParsedEnvelope:
    """An envelope whose *structure* is valid. Its signatures are not yet verified."""

    raw: bytes
    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]  # (keyid hint, signature)

    @property
    def digest(self) -> bytes:
        return envelope_digest(self.raw)

    def decode_payload(self) -> object:
        """Parse the payload as its declared type. Call only after a signature verified."""
        return parse_message(self.payload, PAYLOAD_TYPES[self.payload_type])


def sign_envelope(payload_type: str, payload: bytes, signers: Iterable[Signer]) -> bytes:
    """Sign ``payload`` with every signer and return the serialized envelope bytes."""
    if payload_type not in PAYLOAD_TYPES:
        raise FormatError(f"unknown payload type {payload_type!r}")
    message = pae(payload_type, payload)
    env = types_pb2.Envelope(payload=payload, payload_type=payload_type)
    for s in signers:
        env.signatures.add(keyid=s.public_key.key_id, sig=s.sign(message))
    if not env.signatures:
        raise FormatError("an envelope needs at least one signature")
    return env.SerializeToString(deterministic=True)


def parse_envelope(data: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> ParsedEnvelope:
    """Check an envelope's structure and limits; raise FormatError / LimitExceededError."""
    if len(data) > max_bytes:
        raise LimitExceededError(f"envelope is {len(data)} bytes; the limit is {max_bytes}")
    env = types_pb2.Envelope()
    try:
        env.ParseFromString(data)
    except DecodeError as e:
        raise FormatError(f"not a serialized Envelope: {e}") from e
    # One encoding per envelope: unknown fields, repeated scalars or reordered fields would let
    # the same signed payload appear under many digests and break chain links.
    if len(unknown_fields.UnknownFieldSet(env)) or any(
        len(unknown_fields.UnknownFieldSet(s)) for s in env.signatures
    ):
        raise FormatError("envelope is not canonically encoded: it carries unknown fields")
    if env.SerializeToString(deterministic=True) != data:
        raise FormatError("envelope is not canonically encoded: fields out of order or repeated")
    if env.payload_type not in PAYLOAD_TYPES:
        raise FormatError(f"unknown payload type {env.payload_type[:80]!r}")
    if not env.signatures:
        raise FormatError("envelope has no signatures")
    if len(env.signatures) > MAX_SIGNATURES:
        raise LimitExceededError(
            f"envelope has {len(env.signatures)} signatures; the limit is {MAX_SIGNATURES}"
        )
    return ParsedEnvelope(
        raw=data,
        payload_type=env.payload_type,
        payload=env.payload,
        signatures=tuple((s.keyid, s.sig) for s in env.signatures),
    )


def verify_envelope(envelope: ParsedEnvelope, key: PublicKey) -> None:
    """Return nothing if the signature that names ``key`` verifies under it; else raise.

    Only the first signature whose key id is ``key``'s derived id is checked: one Ed25519
    check at most. A forged key id cannot cause a pass,
    since the check is made with the key the caller chose; a signature that names no key the
    caller trusts costs nothing.
    """
    for hint, sig in envelope.signatures:
        if hint == key.key_id:
            key.verify(sig, pae(envelope.payload_type, envelope.payload))
            return
    raise SignatureError(f"no signature on the envelope names key {key.key_id[:16]}")


def verify_threshold(envelope: ParsedEnvelope, keys: Iterable[PublicKey], threshold: int) -> None:
    """Return nothing if at least ``threshold`` *distinct* keys signed ``envelope``; else raise."""
    if threshold < 1:
        raise FormatError(f"signature threshold must be at least 1, got {threshold}")
    signed_by: set[bytes] = set()
    for key in keys:
        if key.raw in signed_by:
            continue
        try:
            verify_envelope(envelope, key)
        except SignatureError:
            continue
        signed_by.add(key.raw)
    if len(signed_by) < threshold:
        raise SignatureError(
            f"envelope carries {len(signed_by)} valid signature(s) from trusted keys;"
            f" {threshold} required"
        )
