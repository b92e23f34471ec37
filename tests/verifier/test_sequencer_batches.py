"""The batch-oriented writer: duplicates found through memory, then storage, then the UNIQUE
constraint; chains and receipts as one report at a time would give them. The tick interval:
longer only after a tick during which more work arrived."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from pausewatch import merkle
from pausewatch.clock import SimulatedClock
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.note import Ed25519NoteSigner
from pausewatch.v1 import types_pb2, verifier_pb2
from sim.factories import NS, T0, UsageChain, seeded_signer
from verifier.ingest import AdmittedReport, Enrollment, admit_batch
from verifier.registry import VerifiedDocument
from verifier.sequencer import LogSequencer, next_tick_at
from verifier.sqlite_storage import SqliteStorage

ACCEPTED, DUPLICATE = verifier_pb2.DISPOSITION_ACCEPTED, verifier_pb2.DISPOSITION_DUPLICATE


def _sequencer(path: Path, bound: int) -> LogSequencer:
    return LogSequencer(
        SqliteStorage(path),
        log_signer=Ed25519NoteSigner("o", seeded_signer("log")),
        origin="o",
        clock=SimulatedClock(T0),
        max_clock_skew_ns=120 * NS,
        digest_index_bound=bound,
    )


def test_replays_beyond_the_memory_index_and_across_a_restart_are_duplicates(tmp_path: Path) -> None:
    keys = [seeded_signer(f"node-{i}") for i in range(3)]
    inv = types_pb2.Inventory(facility_id="fac", lab_id="lab", version=1)
    for i, k in enumerate(keys):
        inv.nodes.add(node_id=f"n{i}", attestor_public_key=k.public_key.raw)
    enrollment = Enrollment.from_inventories([inv])
    chains = [
        UsageChain(k, facility_id="fac", node_id=f"n{i}", nonce=b"\x07" * 32) for i, k in enumerate(keys)
    ]
    envs = [[c.next() for _ in range(4)] for c in chains]

    def admit(raws: list[bytes]) -> list[AdmittedReport]:
        out = admit_batch(raws, enrollment, max_envelope_bytes=1 << 20)
        assert all(isinstance(a, AdmittedReport) for a in out)
        return out  # type: ignore[return-value]

    async def scenario() -> None:
        db = tmp_path / "v.sqlite"
        seq = _sequencer(db, bound=2)  # the index forgets all but the last two reports
        await seq.start()
        challenge = types_pb2.Challenge(nonce=b"\x07" * 32, issued_unix_ns=T0, expires_unix_ns=T0 + 600 * NS)
        env = sign_envelope(PayloadType.CHALLENGE, challenge.SerializeToString(), [seeded_signer("c")])
        await seq.append_challenge(env, challenge)
        # the sequencer logs reports only from keys its own (logged) enrollment holds
        signed = sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(), [seeded_signer("lab")])
        await seq.submit_document(VerifiedDocument(parse_envelope(signed), "fac", "lab", 1, inv))
        # one tick: three chains interleaved, a replay inside the tick
        first = await asyncio.gather(*(seq.submit_reports(admit(e[:3])) for e in envs))
        assert [o.disposition for out in first for o in out] == [ACCEPTED] * 9
        again = await seq.submit_reports(admit([envs[0][0], envs[1][2], envs[2][3], envs[2][3]]))
        assert [o.disposition for o in again] == [DUPLICATE, DUPLICATE, ACCEPTED, DUPLICATE]
        receipts = [o.receipt for o in again]
        assert all(r is not None for r in receipts)
        assert receipts[0].log_index == first[0][0].receipt.log_index  # type: ignore[union-attr]
        assert receipts[3].log_index == receipts[2].log_index  # type: ignore[union-attr]
        assert receipts[0].leaf_hash == merkle.leaf_hash(envs[0][0])  # type: ignore[union-attr]
        assert receipts[2].leaf_hash == merkle.leaf_hash(envs[2][3])  # type: ignore[union-attr]
        await seq.stop()
        seq = _sequencer(db, bound=1000)  # restart: the index is loaded from storage
        await seq.start()
        replay = await seq.submit_reports(admit([envs[1][0], envs[1][3]]))
        assert [o.disposition for o in replay] == [DUPLICATE, ACCEPTED]
        assert replay[1].finding_ids == ()  # seq 3 follows the stored head (seq 2) of chain 1
        await seq.stop()

    asyncio.run(scenario())


def test_the_longer_tick_interval_follows_concurrent_callers_only(tmp_path: Path) -> None:
    # min_tick_s after a tick; busy_tick_s after a tick during which more work arrived
    assert next_tick_at(10.0, 0.01, 0.05, busy=False) == pytest.approx(10.01)
    assert next_tick_at(10.0, 0.01, 0.05, busy=True) == pytest.approx(10.05)
    signer = seeded_signer("c")

    def challenge(seq: int) -> tuple[bytes, types_pb2.Challenge]:
        c = types_pb2.Challenge(seq=seq, nonce=bytes([seq]) * 32, issued_unix_ns=T0, expires_unix_ns=T0 + NS)
        return sign_envelope(PayloadType.CHALLENGE, c.SerializeToString(), [signer]), c

    async def scenario() -> None:
        seq = LogSequencer(
            SqliteStorage(tmp_path / "v.sqlite"),
            log_signer=Ed25519NoteSigner("o", seeded_signer("log")),
            origin="o",
            clock=SimulatedClock(T0),
            max_clock_skew_ns=120 * NS,
            min_tick_s=0.0,
            busy_tick_s=0.01,
        )
        await seq.start()
        # a lone caller, one item after the other: nothing arrives while a tick runs
        for n in (1, 2, 3):
            await seq.append_challenge(*challenge(n))
            assert not seq._busy
        # a second caller's item arrives while the first one's tick runs
        in_tick, release = threading.Event(), threading.Event()
        commit = seq._commit

        def held_commit(items: list[Any]) -> Any:
            in_tick.set()
            assert release.wait(30)
            return commit(items)

        seq._commit = held_commit  # type: ignore[method-assign]
        first = asyncio.ensure_future(seq.append_challenge(*challenge(4)))
        assert await asyncio.to_thread(in_tick.wait, 30)
        second = asyncio.ensure_future(seq.append_challenge(*challenge(5)))
        await asyncio.sleep(0)  # the second item is queued
        release.set()
        assert await first == 3  # its log index
        assert seq._busy  # so the next tick waits busy_tick_s after this one's start
        assert await second == 4
        assert not seq._busy
        # two callers' items in one tick
        seq._commit = commit  # type: ignore[method-assign]
        assert await asyncio.gather(
            seq.append_challenge(*challenge(6)), seq.append_challenge(*challenge(7))
        ) == [5, 6]
        assert seq.ticks == 6
        assert seq._busy
        await seq.stop()

    asyncio.run(scenario())
