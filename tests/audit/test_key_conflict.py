"""inventory.key_conflict offline: a verifier that let one facility's inventory enrol another
facility's node key (so that node's honest reports get refused) is caught by the auditor."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pausewatch.audit import AuditOptions, audit_bundle
from pausewatch.audit.trust import LabRoot
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.inventory import KEY_CONFLICT
from pausewatch.keys import Ed25519Key
from pausewatch.policy import parse_policy
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
