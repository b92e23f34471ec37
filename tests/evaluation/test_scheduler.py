"""The scheduler on a real SQLite store and the real log sequencer, on simulated time."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pausewatch.clock import SimulatedClock
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.evaluation import Evaluator, compare_verdicts
from pausewatch.note import Ed25519NoteSigner
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, INFERENCE, NS, T0, Fleet, commitment, commitment_message
from sim.factories import seeded_signer as signer
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

    asyncio.run(_scenario(tmp_path))


async def _started(tmp_path: Path, clock: SimulatedClock) -> tuple[SqliteStorage, LogSequencer]:
    """A real SQLite store and a started sequencer on it (no alert bus)."""
    storage = SqliteStorage(tmp_path / "verifier.db")
    seq = LogSequencer(
        storage,
        log_signer=Ed25519NoteSigner("test.example/log", signer("log")),
        origin="test.example/log",
        clock=clock,
        max_clock_skew_ns=86_400 * NS,
    )
    await seq.start()
    return storage, seq


async def _incremental_day(tmp_path: Path) -> int:
    clock = SimulatedClock(start_ns=T0 - 60 * NS)
    storage, seq = await _started(tmp_path, clock)
    try:
        fleet = Fleet({"fac-a": 2})
        c = commitment(["fac-a"], bucket_s=1800, extra_rules="compute_cap_flop = 1e21")
        challenge = types_pb2.Challenge(
            nonce=b"\x07" * 32,
            issued_unix_ns=T0 - 60 * NS,
            expires_unix_ns=T0 + 2 * 86_400 * NS,
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

        config = SchedulerConfig(interval_s=600, grace_s=120, max_buckets_per_tick=1_000_000)
        incremental = EvaluationScheduler(seq, signer("verdict"), clock, config)

        async def from_scratch(now: int) -> dict[tuple[str, int], bytes]:
            ref = EvaluationScheduler(seq, signer("verdict"), clock, config)  # no state: reads everything
            out: dict[tuple[str, int], bytes] = {}
            for snap in await seq.read(lambda r: ref._load(r, now)):
                snap.state.evaluator.extend(snap.reports, snap.ingest, snap.log_size)
                for _, v in ref._evaluate(snap, ref._plan(snap, now)):
                    out[(v.facility_id, v.bucket_start_unix_ns)] = v.SerializeToString(deterministic=True)
            return out

        held: list[bytes] = []
        compared = 0
        submitted = 0
        released = False
        for k in range(1440):
            t = T0 + k * 60 * NS
            withhold = (k // 90) % 4 == 1 and k % 90 < 20  # n01's uplink down for 20 min, every 6 h
            raw = fleet.usage("fac-a-n01", "fac-a", t, INFERENCE if k % 7 else IDLE, hold=withhold)
            if withhold:
                held.append(raw)
            elif held and k % 90 == 45:  # the spool drains long after the buckets closed
                for h in held:
                    fleet.release(h, "fac-a-n01")
                held.clear()
                released = True
            fleet.usage("fac-a-n00", "fac-a", t, IDLE)
            fleet.meter("fac-a", t, fleet.node_power(IDLE) + fleet.node_power(INFERENCE))
            clock.advance(60)
            if k % 20 == 19:  # a tick every 20 simulated minutes
                batch = fleet.log[submitted:]
                submitted = len(fleet.log)
                await seq.submit_reports(
                    [admit_report(r.envelope, seq.enrollment, max_envelope_bytes=1 << 20) for r in batch]
                )
                now = clock.now_ns()
                # From scratch (costly: the whole prefix) after late deliveries and every 4 h.
                check = released or k % 240 == 239
                expected = await from_scratch(now) if check else None
                released = False
                result = await incremental.tick()
                if expected is None:
                    continue
                assert result.evaluated == len(expected)
                for v in result.stored:
                    w = types_pb2.Verdict()
                    w.CopyFrom(v)
                    w.ClearField("revision")
                    w.ClearField("supersedes")
                    key = (v.facility_id, v.bucket_start_unix_ns)
                    assert w.SerializeToString(deterministic=True) == expected[key]
                    compared += 1
        return compared
    finally:
        await seq.stop()
        storage.close()


def test_incremental_ticks_equal_evaluation_from_scratch_over_a_day(tmp_path: Path) -> None:
    """Each tick reads only new reports, yet every verdict equals a from-scratch evaluation."""

    compared = asyncio.run(_incremental_day(tmp_path))
    assert compared >= 4  # buckets closing and revisions caused by late reports, both checked


def test_late_reports_in_an_early_bucket_revise_every_later_bucket_over_the_cap(tmp_path: Path) -> None:
    """Compute to date sums every facility's buckets from the window start: reports held back
    from fac-a's first bucket, once logged, put fac-b's last bucket over the cap too."""

    from pausewatch.evaluation import commitment_scope
    from tests.evaluation.late_compute import BUCKET_S, FACILITIES, run_late_compute

    run = asyncio.run(run_late_compute(tmp_path))
    scope = commitment_scope(FACILITIES)  # both facilities and the commitment-level verdict ("")
    assert len(run.first) == 3 * len(scope)
    assert all(v.revision == 0 for v in run.first)
    assert all("compute.cap_exceeded" not in {f.id for f in v.findings} for v in run.first)
    revised = {(v.facility_id, (v.bucket_start_unix_ns - T0) // (BUCKET_S * NS)): v for v in run.second}
    assert set(revised) == {(fid, k) for fid in scope for k in range(3)}  # every closed bucket
    last = revised[("fac-b", 2)]
    assert last.revision == 1
    assert last.status == types_pb2.VERDICT_STATUS_VIOLATION, last.reason
    assert "compute.cap_exceeded" in {f.id for f in last.findings}
    assert all(v.status == types_pb2.VERDICT_STATUS_VIOLATION for v in run.second)


async def _one_commitment_fails(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    clock = SimulatedClock(start_ns=T0 - 60 * NS)
    storage, seq = await _started(tmp_path, clock)
    try:
        fleet = Fleet({"fac-a": 1})
        inv = fleet.inventory_wire("fac-a")
        inv_env = parse_envelope(sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(), [fleet.lab]))
        await seq.submit_document(VerifiedDocument(inv_env, "fac-a", "lab", 1, inv))
        for cid in ("a-broken", "b-sound"):
            wire = commitment_message(["fac-a"], commitment_id=cid, lab_id="lab")
            env = parse_envelope(sign_envelope(PayloadType.COMMITMENT, wire.SerializeToString(), [fleet.lab]))
            await seq.submit_document(VerifiedDocument(env, cid, "lab", 1, wire))
        for k in range(10):
            fleet.usage("fac-a-n00", "fac-a", T0 + k * 60 * NS, IDLE)
            fleet.meter("fac-a", T0 + k * 60 * NS, fleet.node_power(IDLE))
        clock.advance(12 * 60)
        await seq.submit_reports(
            [admit_report(r.envelope, seq.enrollment, max_envelope_bytes=1 << 20) for r in fleet.log]
        )
        original = Evaluator.verdict

        def verdict(self, bucket, evaluated_unix_ns=0):  # type: ignore[no-untyped-def]
            if self.inputs.commitment.commitment_id == "a-broken":
                raise OverflowError("a bug some input reaches")
            return original(self, bucket, evaluated_unix_ns)

        monkeypatch.setattr(Evaluator, "verdict", verdict)
        errors: list[None] = []
        scheduler = EvaluationScheduler(
            seq, signer("verdict"), clock, SchedulerConfig(grace_s=60), on_error=lambda: errors.append(None)
        )
        result = await scheduler.tick()
        assert {v.commitment_id for v in result.stored} == {"b-sound"}  # the sound one is judged
        assert errors == [None]  # the failure is counted
        monkeypatch.setattr(Evaluator, "verdict", original)  # mended: the next tick judges it too
        assert {v.commitment_id for v in (await scheduler.tick()).stored} == {"a-broken"}
    finally:
        await seq.stop()
        storage.close()


def test_one_commitments_failing_evaluation_costs_the_others_nothing(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(_one_commitment_fails(tmp_path, monkeypatch))
