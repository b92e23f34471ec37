"""Proof of possession at enrolment: no lab can enrol a key it does not hold.

An inventory entry (a node, a meter or a scheduler) may carry ``enrolment_proof``: the entry's
own key's Ed25519 signature over its *enrolment statement* — a domain prefix, then the facility
id, the kind (``node``, ``meter`` or ``scheduler``), the node, meter or scheduler id and the raw
public key, each on its own line. ``pausewatch-attestor init`` makes it with the key it creates
(or reuses), so the entry it prints can only be enrolled for that facility and that node; a lab
that copies another lab's entry (or only its public key) into its own inventory has no valid
proof for it.

Entries without a proof. Inventories written before proofs existed stay valid, so an entry
with no proof is still accepted — but it holds its key only *weakly*: a later inventory of
another facility whose entry for the same key carries a valid proof takes the key over
(:func:`pausewatch.inventory.check_key_holders`); the weak holder's reports under that key are
refused from then on, and its own inventory can no longer enrol the key without a proof. A
proven holder keeps its key against everyone (first come, first served, as before). So a
squatter that enrolled someone else's key can delay nobody: the key's real owner re-runs
``pausewatch-attestor init`` (the key is reused; the printed entry now carries a proof) and
submits. A proof that is present but does not verify refuses the whole inventory.

Pure: the checks take bytes and raise; the verifier and the auditor call the same functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from pausewatch.errors import FormatError, SignatureError, VerificationError
from pausewatch.keys import ED25519_SIGNATURE_SIZE, Ed25519Key, Signer, key_id
from pausewatch.v1 import types_pb2

__all__ = [
    "ENROLMENT_DOMAIN",
    "EnrolmentProofError",
    "check_enrolment_proofs",
    "enrolment_statement",
    "proven_key_ids",
    "sign_enrolment",
]

ENROLMENT_DOMAIN: Final = b"pausewatch enrolment v1\n"
_KINDS: Final = ("node", "meter", "scheduler")


class EnrolmentProofError(VerificationError):
    """An inventory entry whose proof of possession does not verify under the entry's key."""


def enrolment_statement(facility_id: str, kind: str, subject_id: str, public_key: bytes) -> bytes:
    """The exact bytes a key signs to consent to its enrolment as ``kind`` ``subject_id`` of
    ``facility_id``. Ids are checked printable elsewhere; a newline in one is refused here, so
    that no two statements share bytes."""
    if kind not in _KINDS:
        raise FormatError(f"enrolment kind must be one of {_KINDS}, got {kind!r}")
    for name, value in (("facility_id", facility_id), ("subject_id", subject_id)):
        if "\n" in value:
            raise FormatError(f"enrolment {name}: a newline is not allowed")
    return b"".join(
        (
            ENROLMENT_DOMAIN,
            facility_id.encode(),
            b"\n",
            kind.encode(),
            b"\n",
            subject_id.encode(),
            b"\n",
            public_key,
        )
    )


def sign_enrolment(signer: Signer, facility_id: str, kind: str, subject_id: str) -> bytes:
    """The proof for ``signer``'s own public key (what ``pausewatch-attestor init`` prints)."""
    return signer.sign(enrolment_statement(facility_id, kind, subject_id, signer.public_key.raw))


def _entries(inv: types_pb2.Inventory) -> Iterator[tuple[str, str, bytes, bytes, str]]:
    """(kind, subject id, public key, proof, where) for every node, meter and scheduler entry."""
    for i, n in enumerate(inv.nodes):
        yield "node", n.node_id, n.attestor_public_key, n.enrolment_proof, f"nodes[{i}] ({n.node_id})"
    for i, m in enumerate(inv.meters):
        yield "meter", m.meter_id, m.public_key, m.enrolment_proof, f"meters[{i}] ({m.meter_id})"
    for i, sch in enumerate(inv.schedulers):
        yield (
            "scheduler",
            sch.scheduler_id,
            sch.public_key,
            sch.enrolment_proof,
            f"schedulers[{i}] ({sch.scheduler_id})",
        )


def check_enrolment_proofs(inv: types_pb2.Inventory) -> None:
    """Verify every proof ``inv`` carries (one Ed25519 check each); raise
    :class:`EnrolmentProofError` naming the first entry whose proof does not verify. Entries
    without a proof pass here (see the module docstring for what they may hold)."""
    for kind, subject, raw_key, proof, where in _entries(inv):
        if not proof:
            continue
        if len(proof) != ED25519_SIGNATURE_SIZE:
            raise EnrolmentProofError(f"{where}.enrolment_proof: {len(proof)} bytes, not a signature")
        statement = enrolment_statement(inv.facility_id, kind, subject, raw_key)
        try:
            Ed25519Key(raw_key).verify(proof, statement)
        except (SignatureError, FormatError) as e:
            raise EnrolmentProofError(
                f"{where}.enrolment_proof: not this key's signature over its enrolment as {kind}"
                f" {subject!r} of facility {inv.facility_id!r} (an entry made for another"
                " facility or node, or by another key)"
            ) from e


def proven_key_ids(inv: types_pb2.Inventory) -> frozenset[str]:
    """Key ids of the entries of ``inv`` that carry a proof (verified by
    :func:`check_enrolment_proofs` before the inventory was accepted)."""
    return frozenset(key_id(raw) for _, _, raw, proof, _ in _entries(inv) if proof)
