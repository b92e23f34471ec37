"""Verifying the few signed documents that decide what every report is checked against:
lab inventories and commitments (lab keys from the trust roots), multilateral terms (party
keys from the trust roots: :func:`pausewatch.terms.verify_terms`, the verifier's own rule),
challenges (challenge key) and verdicts (verdict key). Each function verifies before it parses
and raises on failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pausewatch.documents import check_commitment, check_inventory
from pausewatch.envelope import (
    ParsedEnvelope,
    PayloadType,
    parse_envelope,
    parse_message,
    verify_envelope,
    verify_threshold,
)
from pausewatch.errors import FormatError, SignatureError
from pausewatch.roots import AuditRoots, LabRoot
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


def _lab_that_signed(env: ParsedEnvelope, roots: AuditRoots, threshold_of: dict[str, int]) -> LabRoot:
    for lab in roots.labs:
        try:
            verify_threshold(env, lab.keys, threshold_of.get(lab.lab_id, 1))
        except SignatureError:
            continue
        return lab
    raise SignatureError("not signed by enough keys of any lab in the trust roots")


def verify_inventory(raw: bytes, roots: AuditRoots) -> types_pb2.Inventory:
    """A lab-signed inventory: k-of-n of a trusted lab, for a facility that lab may declare."""
    env = _open(raw, PayloadType.INVENTORY)
    lab = _lab_that_signed(env, roots, {lab.lab_id: lab.inventory_threshold for lab in roots.labs})
    inv = parse_message(env.payload, types_pb2.Inventory)
    check_inventory(inv, lab.lab_id, lab.facilities)
    return inv


def verify_commitment(raw: bytes, roots: AuditRoots) -> types_pb2.Commitment:
    """A commitment: the signatures it requires, all from the lab it names."""
    env = _open(raw, PayloadType.COMMITMENT)
    commitment = None
    for lab in roots.labs:
        try:
            verify_envelope(env, lab.keys[0]) if len(lab.keys) == 1 else verify_threshold(env, lab.keys, 1)
        except SignatureError:
            continue
        msg = parse_message(env.payload, types_pb2.Commitment)
        if msg.lab_id != lab.lab_id:
            continue
        verify_threshold(env, lab.keys, max(1, msg.signatures_required))
        check_commitment(msg, lab.lab_id, lab.facilities)
        commitment = msg
        break
    if commitment is None:
        raise SignatureError("commitment is not signed by the lab it names (per the trust roots)")
    return commitment


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
