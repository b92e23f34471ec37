"""Lab-signed documents offline, under the verifier's own rules: an inventory enrolling another
facility's node key (inventory.key_conflict) and a document beyond its lab's scope both fail."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from auditor.pipeline import AuditOptions, audit_bundle
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.inventory import KEY_CONFLICT
from pausewatch.keys import Ed25519Key
from pausewatch.policy import parse_policy
from pausewatch.roots import LabRoot
from pausewatch.v1 import types_pb2
from tests.audit.synth import small_log


def test_a_second_facility_enrolling_a_held_key_fails_the_audit(tmp_path: Path) -> None:
    log = small_log(rounds=2, nodes=2)
    taken = log.nodes[0].signer.public_key.raw
    grab = types_pb2.Inventory(
        facility_id="fac-b",
        lab_id="lab-1",
        version=1,
        issued_unix_ns=log.now,
        overhead=types_pb2.OverheadBand(min_ratio=1.05, max_ratio=1.5),
    )
    grab.nodes.add(node_id="b-node-0", attestor_public_key=taken)
    log.append(sign_envelope(PayloadType.INVENTORY, grab.SerializeToString(deterministic=True), [log.lab]))
    directory = log.export(tmp_path / "bundle")
    roots = replace(
        log.roots, labs=(LabRoot("lab-1", (Ed25519Key(log.lab.public_key.raw),), ("fac-a", "fac-b"), 1),)
    )
    out = audit_bundle(directory, AuditOptions(policy=parse_policy(log.policy_text), roots=roots, workers=1))
    assert KEY_CONFLICT in out.failed_checks(), out.failures
    assert any("fac-a" in f.message and f.subject == "fac-b" for f in out.failures)


def test_distinct_keys_per_facility_pass(tmp_path: Path) -> None:
    log = small_log(rounds=2, nodes=2)
    directory = log.export(tmp_path / "bundle")
    out = audit_bundle(directory, AuditOptions(policy=parse_policy(log.policy_text), roots=log.roots, workers=1))
    assert out.ok, out.failures


def test_a_logged_document_beyond_its_labs_scope_fails_the_audit(tmp_path: Path) -> None:
    """The auditor holds lab-signed documents to the same rules as the verifier
    (pausewatch.documents): a commitment for a facility the lab may not speak for fails."""
    from pausewatch.documents import check_commitment
    from tests.audit.synth import add_commitment

    log = small_log(rounds=2, nodes=2)
    commitment = add_commitment(log)
    check_commitment(commitment, "lab-1", ("fac-a",))  # the honest one is in scope
    stray = types_pb2.Commitment()
    stray.CopyFrom(commitment)
    stray.commitment_id, stray.facility_ids[0] = "pause-2", "fac-elsewhere"
    log.append(sign_envelope(PayloadType.COMMITMENT, stray.SerializeToString(deterministic=True), [log.lab]))
    directory = log.export(tmp_path / "bundle")
    out = audit_bundle(directory, AuditOptions(policy=parse_policy(log.policy_text), roots=log.roots, workers=1))
    assert "signature.commitment" in out.failed_checks(), out.failures
    assert any("fac-elsewhere" in f.message for f in out.failures)
