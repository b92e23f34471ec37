"""Lab-signed documents: inventories and commitments, verified against the trust roots.

Pure. Verify before parsing: the signatures are checked against the keys of the lab whose
keys the envelope's key-id hints name — each signature only under the trusted key it names,
so a document costs at most one Ed25519 check per trusted key it names, and a document that
names none is refused without any check — and only then is the payload parsed; the payload
must then name that same lab. The servicer runs these off the event loop.

- An inventory needs ``inventory_threshold`` distinct keys of its lab (default 1); a
  commitment ``max(1, signatures_required)`` distinct keys of its lab. What the signed
  document may say — its own lab, facilities the lab may speak for (else PERMISSION_DENIED),
  well formed by the domain types — is :mod:`pausewatch.documents`, which the auditor runs too.
  A key held by another facility's latest inventory is refused (FAILED_PRECONDITION,
  :func:`pausewatch.inventory.key_conflict`): checked by the sequencer against its
  enrollment, inside the transaction that stores the inventory.
- Terms need k distinct trusted parties they name (:mod:`pausewatch.terms`); a commitment or
  inventory less strict than the terms in force for its lab is refused by the sequencer
  (FAILED_PRECONDITION), as is a new terms version that does not follow the stored one.
- Versions must increase per facility / commitment id: checked by the sequencer against the
  stored latest version (:func:`check_version`), inside the transaction that stores it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pausewatch.documents import verify_lab_commitment, verify_lab_inventory
from pausewatch.envelope import ParsedEnvelope, PayloadType
from pausewatch.errors import FormatError
from pausewatch.keys import PublicKey
from pausewatch.roots import LabRoot, PartyRoot
from pausewatch.terms import verify_terms as verify_signed_terms
from pausewatch.v1 import types_pb2
from verifier.errors import StaleVersionError, UnknownKeyError
from verifier.ingest import MAX_WIRE_INT

__all__ = [
    "TrustRoots",
    "VerifiedDocument",
    "check_version",
    "verify_commitment",
    "verify_inventory",
    "verify_terms",
]


@dataclass(frozen=True)
class TrustRoots:
    labs: Mapping[str, LabRoot]
    parties: Mapping[str, PartyRoot] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, labs: Sequence[LabRoot], parties: Sequence[PartyRoot] = ()) -> TrustRoots:
        return cls({lab.lab_id: lab for lab in labs}, {p.party_id: p for p in parties})

    def party_keys(self) -> dict[str, Sequence[PublicKey]]:
        return {p.party_id: p.keys for p in self.parties.values()}

    def candidates(self, envelope: ParsedEnvelope) -> list[LabRoot]:
        """Labs with a key named by the envelope's hints (none: nothing is verified)."""
        hints = {hint for hint, _ in envelope.signatures}
        return [lab for lab in self.labs.values() if any(k.key_id in hints for k in lab.keys)]


@dataclass(frozen=True)
class VerifiedDocument:
    """A verified inventory, commitment or terms: its id (facility / commitment / terms id),
    lab (for terms: the parties that signed, comma-separated) and version."""

    envelope: ParsedEnvelope
    document_id: str
    lab_id: str
    version: int
    message: types_pb2.Inventory | types_pb2.Commitment | types_pb2.Terms
    lab_facilities: tuple[str, ...] = ()  # a commitment's lab: the facilities it may declare


def verify_inventory(envelope: ParsedEnvelope, trust: TrustRoots) -> VerifiedDocument:
    lab, inv = verify_lab_inventory(envelope, tuple(trust.labs.values()))
    _check_version(inv.version, "inventory")
    return VerifiedDocument(envelope, inv.facility_id, lab.lab_id, inv.version, inv)


def verify_commitment(envelope: ParsedEnvelope, trust: TrustRoots) -> VerifiedDocument:
    lab, com = verify_lab_commitment(envelope, tuple(trust.labs.values()))
    _check_version(com.version, "commitment")
    return VerifiedDocument(envelope, com.commitment_id, lab.lab_id, com.version, com, lab.facilities)


def verify_terms(envelope: ParsedEnvelope, trust: TrustRoots) -> VerifiedDocument:
    """Terms signed by k distinct trusted parties they name (:func:`pausewatch.terms.verify_terms`;
    the succession from a stored version is checked by the sequencer, against storage)."""
    if envelope.payload_type != PayloadType.TERMS:
        raise FormatError(f"expected a terms envelope, got {envelope.payload_type}")
    if not trust.parties:
        raise UnknownKeyError("the verifier trusts no party keys: terms cannot take effect")
    terms, signed_by = verify_signed_terms(envelope, trust.party_keys())
    _check_version(terms.version, "terms")
    return VerifiedDocument(envelope, terms.terms_id, ",".join(signed_by), terms.version, terms.wire)


def check_version(new: VerifiedDocument, latest_version: int | None, kind: str) -> None:
    """A new version must exceed the stored latest one."""
    if latest_version is not None and new.version <= latest_version:
        raise StaleVersionError(
            f"{kind} {new.document_id} version {new.version} does not exceed"
            f" the stored version {latest_version}"
        )


def _check_version(version: int, kind: str) -> None:
    if not 1 <= version <= MAX_WIRE_INT:
        raise FormatError(f"{kind} version must be within 1..2^63-1, got {version}")
