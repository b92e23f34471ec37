"""What a lab may put in the documents it signs: one definition for the verifier, which
refuses a bad document at the door, and the auditor, which re-checks every logged one.

A lab (its id and the facilities its trust root lets it declare) signs inventories and
commitments. Once a signature of that lab verified, the document must name that very lab,
stay within its facilities, and be well formed by the domain types' own validation
(:meth:`pausewatch.inventory.Inventory.from_wire`, :meth:`pausewatch.commitment.Commitment.
from_wire`), so that nothing the verifier logs can later fail the evaluation or the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence

from pausewatch.commitment import Commitment
from pausewatch.enrolment import check_enrolment_proofs
from pausewatch.envelope import ParsedEnvelope, PayloadType, parse_message, verify_threshold
from pausewatch.errors import FormatError, SignatureError, UnknownKeyError, VerificationError
from pausewatch.inventory import Inventory
from pausewatch.reports import check_id
from pausewatch.roots import LabRoot
from pausewatch.terms import IMPLIED_PREFIX
from pausewatch.v1 import types_pb2

__all__ = [
    "DocumentScopeError",
    "ToleranceError",
    "check_commitment",
    "check_inventory",
    "check_tolerances",
    "signing_lab",
    "verify_lab_commitment",
    "verify_lab_inventory",
]


class DocumentScopeError(VerificationError):
    """A lab-signed document that names another lab or a facility the lab may not speak for."""


class ToleranceError(VerificationError):
    """An inventory that declares a tolerance wider than a commitment covering it allows."""


def signing_lab(
    envelope: ParsedEnvelope, labs: Sequence[LabRoot], threshold_of: Callable[[LabRoot], int]
) -> LabRoot:
    """The trusted lab that signed ``envelope`` with ``threshold_of(lab)`` distinct keys.

    Only labs with a key that one of the envelope's key-id hints names are tried, each
    signature only under the trusted key it names: a document costs at most one Ed25519 check
    per trusted key it names, and one that names none is refused without any check
    (:class:`UnknownKeyError`)."""
    if not labs:
        raise UnknownKeyError("no lab keys are trusted")
    hints = {hint for hint, _ in envelope.signatures}
    candidates = [lab for lab in labs if any(k.key_id in hints for k in lab.keys)]
    if not candidates:
        raise UnknownKeyError("no signature on the document names a trusted lab key")
    errors = []
    for lab in candidates:
        try:
            verify_threshold(envelope, list(lab.keys), threshold_of(lab))
        except SignatureError as e:
            errors.append(f"{lab.lab_id}: {e}")
            continue
        return lab
    raise SignatureError("; ".join(errors))


def verify_lab_inventory(
    envelope: ParsedEnvelope, labs: Sequence[LabRoot]
) -> tuple[LabRoot, types_pb2.Inventory]:
    """An inventory signed by ``inventory_threshold`` keys of a trusted lab, for a facility that
    lab may declare, well formed (:func:`check_inventory`): verified before it is parsed."""
    if envelope.payload_type != PayloadType.INVENTORY:
        raise FormatError(f"expected an inventory envelope, got {envelope.payload_type}")
    lab = signing_lab(envelope, labs, lambda lab: lab.inventory_threshold)
    inv = parse_message(envelope.payload, types_pb2.Inventory)
    check_inventory(inv, lab.lab_id, lab.facilities)
    return lab, inv


def verify_lab_commitment(
    envelope: ParsedEnvelope, labs: Sequence[LabRoot]
) -> tuple[LabRoot, types_pb2.Commitment]:
    """A commitment signed by the ``signatures_required`` distinct keys of the trusted lab it
    names, for facilities that lab may speak for, well formed (:func:`check_commitment`).

    The threshold is in the payload, which is not trusted before a signature verified: the lab
    is found by one signature, then the payload is parsed, then the threshold is required."""
    if envelope.payload_type != PayloadType.COMMITMENT:
        raise FormatError(f"expected a commitment envelope, got {envelope.payload_type}")
    lab = signing_lab(envelope, labs, lambda _lab: 1)
    com = parse_message(envelope.payload, types_pb2.Commitment)
    check_commitment(com, lab.lab_id, lab.facilities)
    required = max(1, com.signatures_required)
    if required > len(lab.keys):
        raise FormatError(
            f"commitment requires {required} signatures; lab {lab.lab_id} has {len(lab.keys)} keys"
        )
    verify_threshold(envelope, list(lab.keys), required)
    return lab, com


def _check_lab(named: str, signer_lab: str, kind: str) -> None:
    if named != signer_lab:
        raise DocumentScopeError(f"{kind} names lab {named[:40]!r} but is signed by lab {signer_lab!r}")


def check_inventory(inv: types_pb2.Inventory, lab_id: str, facilities: Collection[str]) -> Inventory:
    """The inventory of a facility ``lab_id`` may declare, well formed; raise otherwise."""
    _check_lab(inv.lab_id, lab_id, "inventory")
    facility = check_id(inv.facility_id, "facility_id")
    if facility not in facilities:
        raise DocumentScopeError(f"lab {lab_id!r} may not declare facility {facility!r}")
    checked = Inventory.from_wire(inv)
    check_enrolment_proofs(inv)  # one check per proof carried: after the lab's own signature
    return checked


def check_commitment(com: types_pb2.Commitment, lab_id: str, facilities: Collection[str]) -> Commitment:
    """A commitment of ``lab_id`` for facilities it may speak for, well formed; raise otherwise."""
    _check_lab(com.lab_id, lab_id, "commitment")
    if com.commitment_id.startswith(IMPLIED_PREFIX):
        raise FormatError(
            f"commitment_id: {IMPLIED_PREFIX!r} names the commitments implied by terms; choose another id"
        )
    for i, f in enumerate(com.facility_ids):
        if check_id(f, f"facility_ids[{i}]") not in facilities:
            raise DocumentScopeError(f"lab {lab_id!r} may not commit for facility {f!r}")
    return Commitment.from_wire(com)


def check_tolerances(inventories: Iterable[Inventory], commitments: Iterable[Commitment]) -> None:
    """Every band of every inventory within the bounds of every commitment that covers its
    facility (``Commitment.tolerances``); raise :class:`ToleranceError` naming the field.

    Run when either kind of document arrives: a lab may declare narrower, never wider."""
    commitments = list(commitments)
    for inv in inventories:
        for c in commitments:
            if c.covers(inv.facility_id, inv.lab_id):
                try:
                    inv.check_bounds(c.tolerances, c.commitment_id)
                except FormatError as e:
                    raise ToleranceError(f"inventory of {inv.facility_id} v{inv.version}: {e}") from e
