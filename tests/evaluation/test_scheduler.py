"""The scheduler on a real SQLite store and the real log sequencer, on simulated time."""

from __future__ import annotations

from pathlib import Path

from pausewatch.clock import SimulatedClock
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.evaluation import compare_verdicts
from pausewatch.note import Ed25519NoteSigner
from pausewatch.v1 import types_pb2
from tests.evaluation.fleet import IDLE, NS, T0, Fleet, commitment, signer
from verifier.alert_bus import AlertBus
from verifier.ingest import admit_report
from verifier.registry import VerifiedDocument
from verifier.scheduler import EvaluationScheduler, SchedulerConfig
from verifier.sequencer import LogSequencer
from verifier.sqlite_storage import SqliteStorage


async def _scenario(tmp_path: Path) -> None:
    clock = SimulatedClock(start_ns=T0 - 60 * NS)
    storage = SqliteStorage(tmp_path / "verifier.db")
    bus = AlertBus()
    seq = LogSequencer(
        storage,
        log_signer=Ed25519NoteSigner("test.example/log", signer("log")),
        origin="test.example/log",
        clock=clock,
        max_clock_skew_ns=86_400 * NS,
        alert_bus=bus,
    )
    await seq.start()
    try:
        fleet = Fleet({"fac-a": 2})
        c = commitment(["fac-a"])
        challenge = types_pb2.Challenge(
            nonce=b"\x07" * 32,
            issued_unix_ns=T0 - 60 * NS,
            expires_unix_ns=T0 + 86_400 * NS,
            log_origin="test.example/log",
            seq=0,
        )
        await seq.append_challenge(
            sign_envelope(PayloadType.CHALLENGE, challenge.SerializeToString(), [signer("verdict")]),
            challenge,
        )
        inv = fleet.inventory_wire("fac-a")
        inv_env = parse_envelope(sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(), [fleet.lab]))
        await seq.submit_document(VerifiedDocument(inv_env, "fac-a", "lab", 1, inv))
        com_env = parse_envelope(
            sign_envelope(PayloadType.COMMITMENT, c.wire.SerializeToString(), [fleet.lab])
        )
        await seq.submit_document(VerifiedDocument(com_env, c.commitment_id, "lab", 1, c.wire))

        held: list[bytes] = []
        for k in range(10):
            hold = k in (4, 5, 6, 7)
            raw = fleet.usage("fac-a-n01", "fac-a", T0 + k * 60 * NS, IDLE, hold=hold)
            if hold:
                held.append(raw)
            fleet.usage("fac-a-n00", "fac-a", T0 + k * 60 * NS, IDLE)
            fleet.meter("fac-a", T0 + k * 60 * NS, 2 * fleet.node_power(IDLE))
        clock.advance(11 * 60)
        outcomes = await seq.submit_reports(
            [admit_report(r.envelope, seq.enrollment, max_envelope_bytes=1 << 20) for r in fleet.log]
        )
        assert all(o.receipt is not None for o in outcomes)

        sub = bus.subscribe()
        scheduler = EvaluationScheduler(seq, signer("verdict"), clock, SchedulerConfig(grace_s=60), bus)
        assert (await scheduler.tick()).stored == []  # bucket closed, grace not over
        clock.advance(60)
        first = await scheduler.tick()
        assert [v.revision for v in first.stored] == [0]
        v0 = first.stored[0]
        assert v0.status == types_pb2.VERDICT_STATUS_INCONCLUSIVE
        assert "continuity.gap" in {f.id for f in v0.findings}
        alert = await anext(aiter(sub))
        assert alert.finding.id == "continuity.gap"
        assert alert.facility_id == "fac-a"

        again = await scheduler.tick()
        assert again.stored == []
        assert again.evaluated == 0  # nothing new: nothing re-evaluated

        for raw in held:  # the spool drains: the late reports fit the chain
            outcome = (
                await seq.submit_reports([admit_report(raw, seq.enrollment, max_envelope_bytes=1 << 20)])
            )[0]
            assert outcome.receipt is not None
        second = await scheduler.tick()
        assert [v.revision for v in second.stored] == [1]
        v1 = second.stored[0]
        assert v1.status == types_pb2.VERDICT_STATUS_COMPLIANT, v1.reason
        assert "continuity.late" in {f.id for f in v1.findings}
        assert compare_verdicts(v0, v1)

        def stored(reader):  # type: ignore[no-untyped-def]
            return reader.verdicts(c.commitment_id, "fac-a", include_superseded=True)

        rows = await seq.read(stored)
        assert [r.revision for r in rows] == [0, 1]
        assert parse_envelope(rows[1].envelope).payload_type == PayloadType.VERDICT
        latest = types_pb2.Verdict()
        latest.ParseFromString(parse_envelope(rows[1].envelope).payload)
        import hashlib

        assert latest.supersedes == hashlib.sha256(rows[0].envelope).digest()
    finally:
        await seq.stop()
        storage.close()


def test_scheduler_stores_revisions_and_alerts(tmp_path: Path) -> None:
    import asyncio

    asyncio.run(_scenario(tmp_path))
