"""Multilateral terms end to end (issue 19): two parties co-sign terms binding two labs; lab
``lab`` commits more strictly than the terms, ``lab-2`` commits to nothing. The verifier's
scheduler evaluates ``lab``'s commitment made effective by the terms (its verdicts name them)
and ``lab-2`` under the terms alone (INCONCLUSIVE, ``terms.no_commitment``, never silence); an
auditor holding its own roots — the parties' keys among them — re-derives every verdict byte for
byte. An auditor that does not trust one of the parties cannot: the terms lack their quorum.

Real sequencer, real SQLite, real signed reports, real scheduler, real export and audit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

from auditor.pipeline import AuditOptions, audit_bundle
from pausewatch import bundle as bf
from pausewatch.clock import SimulatedClock
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.keys import Ed25519Key
from pausewatch.note import Ed25519NoteSigner
from pausewatch.policy import parse_policy
from pausewatch.roots import AuditRoots, LabRoot, PartyRoot, format_roots, parse_roots
from pausewatch.terms import terms_from_toml
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, NS, T0, Fleet, commitment
from sim.factories import seeded_signer as signer
from verifier.export import export_bundle
from verifier.ingest import admit_report
from verifier.registry import TrustRoots, verify_commitment, verify_inventory, verify_terms
from verifier.scheduler import EvaluationScheduler, SchedulerConfig
from verifier.sequencer import LogSequencer
from verifier.sqlite_storage import SqliteStorage

ORIGIN = "test.example/log"
BUCKET_S = 600

TERMS = """
id = "pause-terms"
version = 1
parties = ["party-a", "party-b"]
signatures_required = 2

[[labs]]
lab_id = "lab"

[[labs]]
lab_id = "lab-2"
facilities = ["fac-b"]

[window]
start = 2026-01-01T00:00:00Z
end = 2026-01-02T00:00:00Z

[rules]
compute_cap_flop = 1e24
allowed_workloads = ["idle", "inference"]

[reporting]
bucket_s = 600

[tolerances]
overhead_max_ratio = 1.5
"""


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
    fleet = Fleet({"fac-a": 1, "fac-b": 1})
    lab2 = signer("lab-2")
    trust = TrustRoots.of(
        [
            LabRoot("lab", (fleet.lab.public_key,), ("fac-a",)),
            LabRoot("lab-2", (lab2.public_key,), ("fac-b",)),
        ],
        [
            PartyRoot("party-a", (signer("party-a").public_key,)),
            PartyRoot("party-b", (signer("party-b").public_key,)),
        ],
    )
    await seq.start()
    try:
        challenge = types_pb2.Challenge(
            nonce=b"\x07" * 32,
            issued_unix_ns=T0 - 60 * NS,
            expires_unix_ns=T0 + 86_400 * NS,
            log_origin=ORIGIN,
        )
        await seq.append_challenge(
            sign_envelope(PayloadType.CHALLENGE, challenge.SerializeToString(), [signer("challenge")]),
            challenge,
        )
        for fid, lab_id, key in (("fac-a", "lab", fleet.lab), ("fac-b", "lab-2", lab2)):
            inv = fleet.inventory_wire(fid)
            inv.lab_id = lab_id
            env = sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [key])
            await seq.submit_document(verify_inventory(parse_envelope(env), trust))
        terms = terms_from_toml(TERMS, "terms.toml").SerializeToString(deterministic=True)
        cosigned = sign_envelope(PayloadType.TERMS, terms, [signer("party-a"), signer("party-b")])
        await seq.submit_document(verify_terms(parse_envelope(cosigned), trust))
        c = commitment(
            ["fac-a"],
            bucket_s=BUCKET_S,
            extra_rules="compute_cap_flop = 1e23",
            reporting="[tolerances]\noverhead_max_ratio = 1.45",
        )
        env = sign_envelope(PayloadType.COMMITMENT, c.wire.SerializeToString(deterministic=True), [fleet.lab])
        await seq.submit_document(verify_commitment(parse_envelope(env), trust))

        for k in range(3 * BUCKET_S // 60):
            t = T0 + k * 60 * NS
            for fid in ("fac-a", "fac-b"):
                fleet.usage(f"{fid}-n00", fid, t, IDLE)
                fleet.meter(fid, t, fleet.node_power(IDLE))
        clock.advance(60 + 3 * BUCKET_S + 120)
        outcomes = await seq.submit_reports(
            [admit_report(r.envelope, seq.enrollment, max_envelope_bytes=1 << 20) for r in fleet.log]
        )
        assert all(o.receipt is not None for o in outcomes)
        scheduler = EvaluationScheduler(seq, signer("verdict"), clock, SchedulerConfig(grace_s=60))
        verdicts = (await scheduler.tick()).stored
        assert (await scheduler.tick()).stored == []  # settled

        policy = f"log {log_signer.vkey}\nquorum none\n".encode()
        roots = AuditRoots(
            labs=(
                LabRoot("lab", (Ed25519Key(fleet.lab.public_key.raw),), ("fac-a",)),
                LabRoot("lab-2", (Ed25519Key(lab2.public_key.raw),), ("fac-b",)),
            ),
            verdict_key=Ed25519Key(signer("verdict").public_key.raw),
            challenge_key=Ed25519Key(signer("challenge").public_key.raw),
            parties=(
                PartyRoot("party-a", (Ed25519Key(signer("party-a").public_key.raw),)),
                PartyRoot("party-b", (Ed25519Key(signer("party-b").public_key.raw),)),
            ),
        )
        bundle = tmp_path / "bundle"
        export_bundle(
            storage, bundle, origin=ORIGIN, policy=policy, roots=format_roots(roots), scope=bf.Scope()
        )
        return Run(verdicts, bundle, policy, roots)
    finally:
        await seq.stop()
        storage.close()


def test_co_signed_terms_bind_both_labs_and_an_auditor_re_derives_every_verdict(tmp_path: Path) -> None:
    run = asyncio.run(_run(tmp_path))
    by_commitment: dict[str, list[types_pb2.Verdict]] = {}
    for v in run.verdicts:
        by_commitment.setdefault(v.commitment_id, []).append(v)
    assert sorted(by_commitment) == ["pause-test", "terms:pause-terms:lab-2"]
    # the lab that committed more strictly: evaluated under its own (narrower) commitment,
    # the verdict naming the terms it was held to
    for v in by_commitment["pause-test"]:
        assert [(t.terms_id, t.version) for t in v.terms] == [("pause-terms", 1)]
        assert "terms.no_commitment" not in {f.id for f in v.findings}
        assert v.status == types_pb2.VERDICT_STATUS_COMPLIANT, v.reason
    # the lab with no commitment: verdicts, not silence — never COMPLIANT
    implied = by_commitment["terms:pause-terms:lab-2"]
    assert len(implied) == 3
    for v in implied:
        assert v.facility_id == "fac-b"
        assert v.status == types_pb2.VERDICT_STATUS_INCONCLUSIVE
        assert "terms.no_commitment" in {f.id for f in v.findings}
        assert v.commitment_version == 1
    # the auditor's own roots: it re-checks the quorum and re-derives every verdict
    roots_file = parse_roots(format_roots(run.roots))
    assert [p.party_id for p in roots_file.parties] == ["party-a", "party-b"]
    out = audit_bundle(run.bundle, AuditOptions(policy=parse_policy(run.policy), roots=roots_file, workers=1))
    assert out.ok, out.failures
    assert out.pinned
    assert out.verdicts_matched == len(run.verdicts) == 6
    # an auditor that does not trust party-b does not take the terms to be in force
    one_party = replace(run.roots, parties=run.roots.parties[:1])
    out = audit_bundle(run.bundle, AuditOptions(policy=parse_policy(run.policy), roots=one_party, workers=1))
    assert not out.ok
    failed = set(out.failed_checks())
    assert "signature.terms" in failed, out.failures
    assert {"verdict.mismatch", "verdict.commitment"} <= failed, out.failures
