"""What a lab may put in the documents it signs: one definition for the verifier, which
refuses a bad document at the door, and the auditor, which re-checks every logged one.

A lab (its id and the facilities its trust root lets it declare) signs inventories and
commitments. Once a signature of that lab verified, the document must name that very lab,
stay within its facilities, and be well formed by the domain types' own validation
(:meth:`pausewatch.inventory.Inventory.from_wire`, :meth:`pausewatch.commitment.Commitment.
from_wire`), so that nothing the verifier logs can later fail the evaluation or the audit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from pausewatch.commitment import Commitment
from pausewatch.enrolment import check_enrolment_proofs
from pausewatch.errors import FormatError, VerificationError
from pausewatch.inventory import Inventory
from pausewatch.reports import check_id
from pausewatch.terms import IMPLIED_PREFIX
from pausewatch.v1 import types_pb2

__all__ = ["DocumentScopeError", "ToleranceError", "check_commitment", "check_inventory", "check_tolerances"]


class DocumentScopeError(VerificationError):
    """A lab-signed document that names another lab or a facility the lab may not speak for."""


class ToleranceError(VerificationError):
    """An inventory that declares a tolerance wider than a commitment covering it allows."""


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
                    inv.check_bounds(
                        c.tolerances.overhead_min_ratio, c.tolerances.overhead_max_ratio, c.commitment_id
                    )
                except FormatError as e:
                    raise ToleranceError(f"inventory of {inv.facility_id} v{inv.version}: {e}") from e
