"""A declared fixed load offline: the auditor re-derives every verdict with the evaluation code,
so it subtracts the inventory's fixed load (cut to the commitment's bound) as the verifier does,
and a verifier that ignored the declaration fails the audit."""

from __future__ import annotations

import os
from pathlib import Path

from auditor.outcome import AuditOutcome
from auditor.pipeline import AuditOptions, audit_bundle
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.policy import parse_policy
from pausewatch.v1 import types_pb2
from sim import factories
from sim.factories import EnrolledNode
from tests.audit.synth import S, SynthLog, add_verdicts, new_node

FIXED_W = 3000.0
NODE_W = 100.0  # each node's one H100, as SynthLog's reports say (6000 J a minute)


def log_inventory(log: SynthLog, declared_w: float, version: int = 1) -> None:
    """The facility's inventory, declaring ``declared_w`` of fixed load, signed and logged."""
    inv = factories.inventory(
        log.facility,
        "lab-1",
        [EnrolledNode(n.node_id, n.signer.public_key, (n.uuid,)) for n in log.nodes],
        {"meter-1": log.meter.public_key},
        version=version,
        issued_ns=log.now,
        overhead=(1.05, 1.5),
    )
    inv.overhead.fixed_load_w = declared_w
    log.append(sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [log.lab]))


def fixed_load_log(*, declared_w: float, bound_w: float) -> tuple[SynthLog, types_pb2.Commitment]:
    """Three idle one-GPU nodes for 20 minutes behind an intake meter that also sees 3 kW of
    offices; the inventory declares ``declared_w`` of it, the commitment allows ``bound_w``."""
    log = SynthLog()
    log.nodes = [new_node(f"node-{i}") for i in range(3)]
    log_inventory(log, declared_w)
    meter = factories.Chain(log.meter, os.urandom(16))
    for _ in range(20):
        log.add_round()
        report = factories.meter_report(
            meter,
            facility_id=log.facility,
            meter_id="meter-1",
            start_ns=log.now - 60 * S,
            end_ns=log.now,
            power_w=len(log.nodes) * NODE_W * 1.2 + FIXED_W,
            nonce=log.nonce,
        )
        log.append(meter.sign_message(PayloadType.METER_REPORT, report))
    commitment = factories.commitment_message([log.facility], commitment_id="pause-1", bucket_s=600)
    if bound_w:
        commitment.tolerances.max_fixed_load_w = bound_w
    log.append(sign_envelope(PayloadType.COMMITMENT, commitment.SerializeToString(deterministic=True), [log.lab]))
    return log, commitment


def audit(log: SynthLog, tmp_path: Path) -> AuditOutcome:
    directory = log.export(tmp_path / "bundle")
    return audit_bundle(directory, AuditOptions(policy=parse_policy(log.policy_text), roots=log.roots, workers=1))


def logged_statuses(log: SynthLog) -> list[int]:
    out: list[int] = []
    for i in range(log.log.size):
        env = parse_envelope(log.log.entry(i))
        if env.payload_type == PayloadType.VERDICT:
            out.append(types_pb2.Verdict.FromString(env.payload).status)
    return out


def test_the_auditor_rederives_compliant_verdicts_under_a_declared_fixed_load(tmp_path: Path) -> None:
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    assert add_verdicts(log, commitment) == 2
    assert set(logged_statuses(log)) == {types_pb2.VERDICT_STATUS_COMPLIANT}
    out = audit(log, tmp_path)
    assert out.ok, out.failures


def test_a_verifier_that_ignored_the_declaration_fails_the_audit(tmp_path: Path) -> None:
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    ignoring = types_pb2.Commitment()
    ignoring.CopyFrom(commitment)
    ignoring.tolerances.ClearField("max_fixed_load_w")  # evaluated as if no fixed load were allowed
    verdicts = add_verdicts(log, ignoring)
    assert verdicts == 2
    assert set(logged_statuses(log)) == {types_pb2.VERDICT_STATUS_VIOLATION}
    out = audit(log, tmp_path)
    assert not out.ok
    assert out.failed_checks() == ["verdict.mismatch"]


def test_a_declaration_beyond_the_bound_is_cut_and_the_pair_fails_the_audit(tmp_path: Path) -> None:
    # logged beside a later commitment that allows no fixed load: a verifier refuses that
    # commitment at submission, so its log holding the pair fails ``tolerance.commitment``; the
    # verdicts themselves cut the declaration to the bound, as the auditor's re-derivation does
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=0.0)
    add_verdicts(log, commitment)
    assert set(logged_statuses(log)) == {types_pb2.VERDICT_STATUS_VIOLATION}
    out = audit(log, tmp_path)
    assert out.failed_checks() == ["tolerance.commitment"], out.failures
    assert "fixed_load_w" in str(out.failures)


def test_an_inventory_beyond_the_bounds_of_an_earlier_commitment_fails_the_audit(tmp_path: Path) -> None:
    log, _ = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    log_inventory(log, 2 * FIXED_W, version=2)
    out = audit(log, tmp_path)
    assert out.failed_checks() == ["tolerance.inventory"], out.failures
