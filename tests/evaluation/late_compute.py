"""A lab that holds back an early bucket's reports to hide a compute-cap violation.

Two facilities, one node each, 30 simulated minutes in 10-minute buckets. fac-a's node runs
inference for the first bucket and holds those ten reports back; everything else (fac-a's
later reports, fac-b, both meters) is logged on time. The scheduler judges all six closed
buckets (the missing reports count at peak in the upper bound: ``compute.cap_at_risk``,
INCONCLUSIVE). Then the held reports are delivered: their lower bound alone (≈ 1.8e17 FLOP)
is over the 1e17 cap, so compute to date is over the cap at the end of *every* bucket of
*both* facilities, and a correct scheduler revises every one of them to VIOLATION with
``compute.cap_exceeded``. ``PerBucketScheduler`` is the old planning (re-evaluate only the
buckets the late reports fall in): a verifier that fails to revise, for the auditor to catch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pausewatch import bundle as bf
from pausewatch.clock import SimulatedClock
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.evaluation import BucketRef
from pausewatch.keys import Ed25519Key
from pausewatch.note import Ed25519NoteSigner
from pausewatch.roots import AuditRoots, LabRoot, format_roots
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, INFERENCE, NS, T0, Fleet, commitment
from sim.factories import seeded_signer as signer
from verifier.export import export_bundle
from verifier.ingest import admit_report
from verifier.registry import VerifiedDocument
from verifier.scheduler import NS_PER_S, EvaluationScheduler, SchedulerConfig, _Snapshot
from verifier.sequencer import LogSequencer
from verifier.sqlite_storage import SqliteStorage

ORIGIN = "test.example/log"
CAP_FLOP = 1e17
BUCKET_S = 600
FACILITIES = ("fac-a", "fac-b")


class PerBucketScheduler(EvaluationScheduler):
    """The planning before the fix: a bucket is re-evaluated only for reports inside it."""

    def _plan(self, snap: _Snapshot, now: int) -> list[BucketRef]:
        c = snap.commitment
        grace = int(self.config.grace_s * NS_PER_S)
        newest = snap.state.newest
        facilities = sorted(set(c.facility_ids) | set(snap.state.evaluator.inputs.inventories))
        plans = []
        for start, end in c.buckets(until_ns=now):
            if end + grace > now:
                continue
            for fid in facilities:
                previous = snap.latest.get((fid, start))
                if previous is None:
                    plans.append(BucketRef(fid, start, end))
                elif newest.get((fid, start), -1) >= previous[1].evaluated_log_size:
                    plans.append(BucketRef(fid, start, end, previous_log_size=previous[1].evaluated_log_size))
        return plans


@dataclass(frozen=True)
class LateRun:
    first: list[types_pb2.Verdict]  # stored by the tick before the held reports arrive
    second: list[types_pb2.Verdict]  # stored by the tick after
    bundle: Path | None
    policy: bytes
    roots: bytes


async def run_late_compute(
    tmp_path: Path, scheduler_type: type[EvaluationScheduler] = EvaluationScheduler, *, export: bool = False
) -> LateRun:
    clock = SimulatedClock(start_ns=T0 - 60 * NS)
    storage = SqliteStorage(tmp_path / "verifier.db")
    log_signer = Ed25519NoteSigner(ORIGIN, signer("log"))
    seq = LogSequencer(
        storage, log_signer=log_signer, origin=ORIGIN, clock=clock, max_clock_skew_ns=86_400 * NS
    )
    fleet = Fleet(dict.fromkeys(FACILITIES, 1))
    await seq.start()
    try:
        c = commitment(list(FACILITIES), bucket_s=BUCKET_S, extra_rules=f"compute_cap_flop = {CAP_FLOP}")
        challenge = types_pb2.Challenge(
            nonce=b"\x07" * 32,
            issued_unix_ns=T0 - 60 * NS,
            expires_unix_ns=T0 + 86_400 * NS,
            log_origin=ORIGIN,
            seq=0,
        )
        await seq.append_challenge(
            sign_envelope(PayloadType.CHALLENGE, challenge.SerializeToString(), [signer("challenge")]),
            challenge,
        )
        for fid in FACILITIES:
            inv = fleet.inventory_wire(fid)
            env = parse_envelope(sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(), [fleet.lab]))
            await seq.submit_document(VerifiedDocument(env, fid, "lab", 1, inv))
        com_env = parse_envelope(
            sign_envelope(PayloadType.COMMITMENT, c.wire.SerializeToString(), [fleet.lab])
        )
        await seq.submit_document(VerifiedDocument(com_env, c.commitment_id, "lab", 1, c.wire))

        held: list[bytes] = []
        for k in range(3 * BUCKET_S // 60):
            t = T0 + k * 60 * NS
            behaviour = INFERENCE if k < BUCKET_S // 60 else IDLE
            raw = fleet.usage("fac-a-n00", "fac-a", t, behaviour, hold=k < BUCKET_S // 60)
            if k < BUCKET_S // 60:
                held.append(raw)
            fleet.meter("fac-a", t, fleet.node_power(behaviour))
            fleet.usage("fac-b-n00", "fac-b", t, IDLE)
            fleet.meter("fac-b", t, fleet.node_power(IDLE))
        clock.advance(60 + 3 * BUCKET_S + 120)  # every bucket closed, grace over
        outcomes = await seq.submit_reports(
            [admit_report(r.envelope, seq.enrollment, max_envelope_bytes=1 << 20) for r in fleet.log]
        )
        assert all(o.receipt is not None for o in outcomes)
        scheduler = scheduler_type(seq, signer("verdict"), clock, SchedulerConfig(grace_s=60))
        first = (await scheduler.tick()).stored

        clock.advance(60)
        outcomes = await seq.submit_reports(
            [admit_report(raw, seq.enrollment, max_envelope_bytes=1 << 20) for raw in held]
        )
        assert all(o.receipt is not None for o in outcomes)
        second = (await scheduler.tick()).stored
        assert (await scheduler.tick()).stored == []  # settled

        policy = f"log {log_signer.vkey}\nquorum none\n".encode()
        roots = format_roots(
            AuditRoots(
                labs=(LabRoot("lab", (Ed25519Key(fleet.lab.public_key.raw),), FACILITIES),),
                verdict_key=Ed25519Key(signer("verdict").public_key.raw),
                challenge_key=Ed25519Key(signer("challenge").public_key.raw),
            )
        )
        bundle = None
        if export:
            bundle = tmp_path / "bundle"
            export_bundle(storage, bundle, origin=ORIGIN, policy=policy, roots=roots, scope=bf.Scope())
        return LateRun(first, second, bundle, policy, roots)
    finally:
        await seq.stop()
        storage.close()
