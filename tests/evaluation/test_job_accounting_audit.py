"""Job accounting through the real verifier and back out to an auditor: a declared scheduler's
signed reports admitted by the verifier's ingest, sequenced into the Merkle log beside the nodes'
and the meter's, evaluated by the verifier's scheduler, exported in a bundle, and re-derived
verdict for verdict by the auditor with the same evaluation code.

Real sequencer, real SQLite, real signed reports, real scheduler, real export and audit."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from auditor.pipeline import AuditOptions, audit_bundle
from pausewatch import bundle as bf
from pausewatch.clock import SimulatedClock
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.keys import Ed25519Key
from pausewatch.note import Ed25519NoteSigner
from pausewatch.policy import parse_policy
from pausewatch.roots import AuditRoots, LabRoot, format_roots
from pausewatch.v1 import types_pb2
from sim.factories import INFERENCE, NS, T0, Fleet, commitment
from sim.factories import seeded_signer as signer
from tests.evaluation.test_job_accounting import SCHEDULER, Accounting, job
from verifier.export import export_bundle
from verifier.ingest import admit_report
from verifier.registry import TrustRoots, verify_commitment, verify_inventory
from verifier.scheduler import EvaluationScheduler, SchedulerConfig
from verifier.sequencer import LogSequencer
from verifier.sqlite_storage import SqliteStorage

ORIGIN = "test.example/log"
BUCKET = 600 * NS


@dataclass(frozen=True)
class Run:
    verdicts: list[types_pb2.Verdict]
    bundle: Path
    policy: bytes
    roots: AuditRoots


async def _run(tmp_path: Path) -> Run:
    clock = SimulatedClock(start_ns=T0 - 60 * NS)
    storage = SqliteStorage(tmp_path / "verifier.db")
    log_signer = Ed25519NoteSigner(ORIGIN, signer("log"))
    seq = LogSequencer(
        storage, log_signer=log_signer, origin=ORIGIN, clock=clock, max_clock_skew_ns=86_400 * NS
    )
    fleet = Fleet({"fac-a": 2})
    trust = TrustRoots.of([LabRoot("lab", (fleet.lab.public_key,), ("fac-a",))])
    await seq.start()
    try:
        challenge = types_pb2.Challenge(
            nonce=b"\x07" * 32, issued_unix_ns=T0 - 60 * NS, expires_unix_ns=T0 + 86_400 * NS, log_origin=ORIGIN
        )
        await seq.append_challenge(
            sign_envelope(PayloadType.CHALLENGE, challenge.SerializeToString(), [signer("challenge")]), challenge
        )
        inv = fleet.inventory_wire("fac-a")
        inv.schedulers.add(scheduler_id=SCHEDULER, public_key=signer(SCHEDULER).public_key.raw)
        env = sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [fleet.lab])
        await seq.submit_document(verify_inventory(parse_envelope(env), trust))
        c = commitment(["fac-a"], bucket_s=600)
        env = sign_envelope(PayloadType.COMMITMENT, c.wire.SerializeToString(deterministic=True), [fleet.lab])
        await seq.submit_document(verify_commitment(parse_envelope(env), trust))

        n00, n01 = fleet.node_ids("fac-a", 2)
        accounting = Accounting(fleet)
        for k in range(30):
            t = T0 + k * fleet.period_ns
            for node in (n00, n01):
                fleet.usage(node, "fac-a", t, INFERENCE)
            fleet.meter("fac-a", t, 2 * fleet.node_power(INFERENCE))
        # bucket 0: both nodes' serving job; bucket 1: only n00's; bucket 2: no accounting at all
        accounting.report(T0, T0 + BUCKET, [job("1", (n00, n01), 16, T0, None)])
        accounting.report(T0 + BUCKET, T0 + 2 * BUCKET, [job("1", (n00, n01), 16, T0, T0 + BUCKET),
                                                         job("2", (n00,), 8, T0 + BUCKET, None)])  # fmt: skip
        clock.advance(60 + 1800 + 120)
        outcomes = await seq.submit_reports(
            [admit_report(r.envelope, seq.enrollment, max_envelope_bytes=1 << 20) for r in fleet.log]
        )
        assert all(o.receipt is not None for o in outcomes)
        scheduler = EvaluationScheduler(seq, signer("verdict"), clock, SchedulerConfig(grace_s=60))
        verdicts = (await scheduler.tick()).stored
        policy = f"log {log_signer.vkey}\nquorum none\n".encode()
        roots = AuditRoots(
            labs=(LabRoot("lab", (Ed25519Key(fleet.lab.public_key.raw),), ("fac-a",)),),
            verdict_key=Ed25519Key(signer("verdict").public_key.raw),
            challenge_key=Ed25519Key(signer("challenge").public_key.raw),
        )
        bundle = tmp_path / "bundle"
        export_bundle(storage, bundle, origin=ORIGIN, policy=policy, roots=format_roots(roots), scope=bf.Scope())
        return Run(verdicts, bundle, policy, roots)
    finally:
        await seq.stop()
        storage.close()


def test_accounting_reports_are_logged_evaluated_exported_and_re_derived(tmp_path: Path) -> None:
    run = asyncio.run(_run(tmp_path))
    by_bucket = {(v.bucket_start_unix_ns - T0) // BUCKET: v for v in run.verdicts}
    assert sorted(by_bucket) == [0, 1, 2]
    jobs = {k: sorted(f.id for f in v.findings if f.id.startswith("jobs.")) for k, v in by_bucket.items()}
    assert jobs == {0: [], 1: ["jobs.unexplained_activity"], 2: ["jobs.accounting_missing"]}
    assert by_bucket[0].status == types_pb2.VERDICT_STATUS_COMPLIANT, by_bucket[0].reason
    assert {v.status for k, v in by_bucket.items() if k} == {types_pb2.VERDICT_STATUS_INCONCLUSIVE}
    manifest = json.loads((run.bundle / bf.MANIFEST_FILE).read_text())
    assert manifest["counts"]["accounting_reports"] == 2
    out = audit_bundle(run.bundle, AuditOptions(policy=parse_policy(run.policy), roots=run.roots, workers=1))
    assert out.ok, out.failures
    assert out.verdicts_matched == len(run.verdicts) == 3
