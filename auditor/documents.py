"""Verifying the few signed documents that decide what every report is checked against:
lab inventories and commitments (lab keys from the trust roots), multilateral terms (party
keys from the trust roots: :func:`pausewatch.terms.verify_terms`, the verifier's own rule),
challenges (challenge key) and verdicts (verdict key). Each function verifies before it parses
and raises on failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pausewatch.documents import verify_lab_commitment, verify_lab_inventory
from pausewatch.envelope import (
    ParsedEnvelope,
    PayloadType,
    parse_envelope,
    parse_message,
    verify_envelope,
)
from pausewatch.errors import FormatError
from pausewatch.roots import AuditRoots
from pausewatch.terms import Terms, check_succession
from pausewatch.terms import verify_terms as verify_signed_terms
from pausewatch.v1 import types_pb2

__all__ = [
    "VerifiedDocument",
    "verify_challenge",
    "verify_commitment",
    "verify_inventory",
    "verify_terms",
    "verify_verdict",
]


@dataclass(frozen=True)
class VerifiedDocument:
    index: int
    envelope: bytes
    message: object


def _open(raw: bytes, payload_type: str) -> ParsedEnvelope:
    env = parse_envelope(raw)
    if env.payload_type != payload_type:
        want = payload_type.rsplit(".", maxsplit=1)[-1]
        raise FormatError(f"expected a {want} entry, found {env.payload_type}")
    return env


def verify_inventory(raw: bytes, roots: AuditRoots) -> types_pb2.Inventory:
    """A lab-signed inventory (:func:`pausewatch.documents.verify_lab_inventory`, the verifier's rule)."""
    return verify_lab_inventory(_open(raw, PayloadType.INVENTORY), roots.labs)[1]


def verify_commitment(raw: bytes, roots: AuditRoots) -> types_pb2.Commitment:
    """A lab-signed commitment (:func:`pausewatch.documents.verify_lab_commitment`, the verifier's rule)."""
    return verify_lab_commitment(_open(raw, PayloadType.COMMITMENT), roots.labs)[1]


def verify_terms(raw: bytes, roots: AuditRoots, latest: Mapping[str, Terms]) -> Terms:
    """Terms co-signed by k distinct parties they name, per the auditor's own party keys; a new
    version also follows the latest verified one of its id (same start, no earlier end, its
    quorum too: :class:`pausewatch.terms.TermsSuccessionError`)."""
    env = _open(raw, PayloadType.TERMS)
    terms, signed_by = verify_signed_terms(env, roots.party_keys())
    previous = latest.get(terms.terms_id)
    if previous is not None:
        check_succession(previous, terms, signed_by)
    return terms


def verify_challenge(raw: bytes, roots: AuditRoots) -> types_pb2.Challenge:
    env = _open(raw, PayloadType.CHALLENGE)
    verify_envelope(env, roots.challenge_key)
    msg = parse_message(env.payload, types_pb2.Challenge)
    if len(msg.nonce) != 32:
        raise FormatError(f"challenge nonce must be 32 bytes, got {len(msg.nonce)}")
    if msg.expires_unix_ns < msg.issued_unix_ns:
        raise FormatError("challenge expires before it is issued")
    return msg


def verify_verdict(raw: bytes, roots: AuditRoots) -> types_pb2.Verdict:
    env = _open(raw, PayloadType.VERDICT)
    verify_envelope(env, roots.verdict_key)
    return parse_message(env.payload, types_pb2.Verdict)
