"""Lab-signed documents: inventories and commitments, verified against the trust roots.

Pure. Verify before parsing: the signatures are checked against the keys of the lab whose
keys the envelope's key-id hints name (every trusted key is tried when no hint matches), and
only then is the payload parsed; the payload must then name that same lab.

- An inventory needs ``inventory_threshold`` distinct keys of its lab (default 1), must be for
  a facility the lab may declare (else PERMISSION_DENIED), and enrols nodes and meters: keys
  unique, ids unique, meter scope given. A key held by another facility's latest inventory
  is refused (FAILED_PRECONDITION, :func:`pausewatch.inventory.key_conflict`): checked by the
  sequencer against its enrollment, inside the transaction that stores the inventory.
- A commitment needs ``max(1, signatures_required)`` distinct keys of its lab, may name only
  facilities of its lab, and must be well formed: when ``pausewatch.commitment.
  parse_commitment`` exists (the evaluation issue) it decides; until then a minimal check here
  (window end after start, caps and requirements not negative).
- Versions must increase per facility / commitment id: checked by the sequencer against the
  stored latest version (:func:`check_version`), inside the transaction that stores it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from pausewatch.envelope import ParsedEnvelope, PayloadType, verify_threshold
from pausewatch.errors import FormatError, InputError, SignatureError
from pausewatch.keys import Ed25519Key
from pausewatch.reports import check_id
from pausewatch.v1 import types_pb2
from verifier.config import LabTrust
from verifier.errors import NotEnrolledHereError, StaleVersionError, UnknownKeyError
from verifier.ingest import MAX_WIRE_INT

__all__ = [
    "TrustRoots",
    "VerifiedDocument",
    "check_version",
    "verify_commitment",
    "verify_inventory",
]


@dataclass(frozen=True)
class TrustRoots:
    labs: Mapping[str, LabTrust]

    @classmethod
    def of(cls, labs: Sequence[LabTrust]) -> TrustRoots:
        return cls({lab.lab_id: lab for lab in labs})

    def candidates(self, envelope: ParsedEnvelope) -> list[LabTrust]:
        """Labs with a key named by the envelope's hints; every lab when none is named."""
        hints = {hint for hint, _ in envelope.signatures}
        named = [lab for lab in self.labs.values() if any(k.key_id in hints for k in lab.keys)]
        return named or list(self.labs.values())


@dataclass(frozen=True)
class VerifiedDocument:
    """A verified inventory or commitment: its id (facility / commitment id), lab and version."""

    envelope: ParsedEnvelope
    document_id: str
    lab_id: str
    version: int
    message: types_pb2.Inventory | types_pb2.Commitment


def _signed_by_lab(
    envelope: ParsedEnvelope, trust: TrustRoots, threshold_of: Callable[[LabTrust], int]
) -> LabTrust:
    if not trust.labs:
        raise UnknownKeyError("the verifier trusts no lab keys")
    errors = []
    for lab in trust.candidates(envelope):
        try:
            verify_threshold(envelope, list(lab.keys), threshold_of(lab))
        except SignatureError as e:
            errors.append(f"{lab.lab_id}: {e}")
            continue
        return lab
    if not any(
        k.key_id in {h for h, _ in envelope.signatures} for lab in trust.labs.values() for k in lab.keys
    ):
        raise UnknownKeyError("no signature on the document is by a trusted lab key")
    raise SignatureError("; ".join(errors))


def _parse(envelope: ParsedEnvelope, cls: type[Any]) -> Any:
    msg = cls()
    try:
        msg.ParseFromString(envelope.payload)
    except DecodeError as e:
        raise FormatError(f"payload is not a valid {cls.__name__}: {e}") from e
    return msg


def verify_inventory(envelope: ParsedEnvelope, trust: TrustRoots) -> VerifiedDocument:
    if envelope.payload_type != PayloadType.INVENTORY:
        raise FormatError(f"expected an inventory envelope, got {envelope.payload_type}")
    lab = _signed_by_lab(envelope, trust, lambda lab: lab.inventory_threshold)
    inv: types_pb2.Inventory = _parse(envelope, types_pb2.Inventory)
    if inv.lab_id != lab.lab_id:
        raise NotEnrolledHereError(f"inventory names lab {inv.lab_id[:40]!r} but is signed by {lab.lab_id}")
    facility = check_id(inv.facility_id, "facility_id")
    if facility not in lab.facilities:
        raise NotEnrolledHereError(f"lab {lab.lab_id} may not declare facility {facility}")
    _check_version(inv.version, "inventory")
    keys: set[bytes] = set()
    ids: set[str] = set()
    for i, node in enumerate(inv.nodes):
        _unique(check_id(node.node_id, f"nodes[{i}].node_id"), ids, "node/meter id")
        _unique(_key(node.attestor_public_key, f"nodes[{i}].attestor_public_key"), keys, "key")
        uuids: set[str] = set()
        for j, acc in enumerate(node.accelerators):
            _unique(check_id(acc.uuid, f"nodes[{i}].accelerators[{j}].uuid"), uuids, "accelerator uuid")
    for i, meter in enumerate(inv.meters):
        _unique(check_id(meter.meter_id, f"meters[{i}].meter_id"), ids, "node/meter id")
        _unique(_key(meter.public_key, f"meters[{i}].public_key"), keys, "key")
        if meter.scope == types_pb2.METER_SCOPE_UNSPECIFIED:
            raise FormatError(f"meters[{i}].scope is unspecified")
    band = inv.overhead
    if inv.HasField("overhead") and not 0 < band.min_ratio <= band.max_ratio:
        raise FormatError("overhead band needs 0 < min_ratio <= max_ratio")
    return VerifiedDocument(envelope, facility, lab.lab_id, inv.version, inv)


def verify_commitment(envelope: ParsedEnvelope, trust: TrustRoots) -> VerifiedDocument:
    if envelope.payload_type != PayloadType.COMMITMENT:
        raise FormatError(f"expected a commitment envelope, got {envelope.payload_type}")
    # The threshold is in the payload, which we may not trust before a signature verified:
    # first find the lab by one signature, then parse, then require the threshold.
    lab = _signed_by_lab(envelope, trust, lambda _lab: 1)
    com: types_pb2.Commitment = _parse(envelope, types_pb2.Commitment)
    if com.lab_id != lab.lab_id:
        raise NotEnrolledHereError(f"commitment names lab {com.lab_id[:40]!r} but is signed by {lab.lab_id}")
    required = max(1, com.signatures_required)
    if required > len(lab.keys):
        raise FormatError(
            f"commitment requires {required} signatures; lab {lab.lab_id} has {len(lab.keys)} keys"
        )
    verify_threshold(envelope, list(lab.keys), required)
    commitment_id = check_id(com.commitment_id, "commitment_id")
    for f in com.facility_ids:
        if check_id(f, "facility_ids") not in lab.facilities:
            raise NotEnrolledHereError(f"lab {lab.lab_id} may not commit for facility {f}")
    _check_version(com.version, "commitment")
    _check_commitment_structure(com)
    return VerifiedDocument(envelope, commitment_id, lab.lab_id, com.version, com)


def _check_commitment_structure(com: types_pb2.Commitment) -> None:
    try:
        module = importlib.import_module("pausewatch.commitment")
    except ImportError:
        module = None
    parse = getattr(module, "parse_commitment", None)
    if parse is not None:
        parse(com)
        return
    if com.window_end_unix_ns <= com.window_start_unix_ns:
        raise FormatError("commitment window must end after it starts")
    if not com.facility_ids and not com.all_facilities_of_lab:
        raise FormatError("commitment names no facility")
    rules = com.rules
    if rules.HasField("compute_cap_flop") and not rules.compute_cap_flop >= 0:
        raise FormatError("rules.compute_cap_flop must be >= 0")
    for cap in rules.power_caps:
        if not cap.max_power_w >= 0:
            raise FormatError("rules.power_caps[].max_power_w must be >= 0")
    rep = com.reporting
    if (
        min(rep.max_report_interval_ns, rep.max_gap_ns, rep.bucket_ns) < 0
        or not 0 <= rep.min_inventory_coverage <= 1
    ):
        raise FormatError("reporting requirements must be non-negative; coverage within 0..1")


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


def _key(raw: bytes, where: str) -> bytes:
    try:
        Ed25519Key(raw)
    except InputError as e:
        raise FormatError(f"{where}: {e}") from e
    return raw


def _unique(value: Any, seen: set[Any], what: str) -> Any:
    if value in seen:
        raise FormatError(f"{what} {str(value)[:40]!r} appears twice")
    seen.add(value)
    return value
