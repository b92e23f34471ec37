"""Admission in worker processes (``limits.admission_processes``) gives the same answers as
admission on threads: receipts, precise rejections, and the enrollment as it changes."""

import asyncio
import dataclasses

from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.v1 import verifier_pb2
from sim.factories import seeded_signer
from tests.verifier.harness import World, check_receipt, running
from verifier.config import LimitsConfig
from verifier.errors import UnknownKeyError
from verifier.ingest import AdmittedReport


def test_worker_processes_admit_reject_and_follow_the_enrollment(tmp_path):
    async def scenario():
        world = World(tmp_path, limits=LimitsConfig(admission_processes=1))
        async with running(world) as r:
            assert r.server.admission_processes is not None
            nonce = await r.nonce()
            chain = world.chain(0, nonce)
            envs = [chain.next() for _ in range(4)]
            stranger = sign_envelope(PayloadType.USAGE_REPORT, b"\x01", [seeded_signer("stranger")])
            tampered = bytearray(envs[3])
            tampered[-1] ^= 1
            # concurrent batches are coalesced into one worker task and split back apart
            a, b = await asyncio.gather(r.submit(*envs[:2]), r.submit(envs[2], stranger, bytes(tampered)))
            assert [x.disposition for x in a + b[:1]] == [1, 1, 1]
            for env, res in zip(envs[:3], a + b[:1], strict=True):
                check_receipt(res.receipt, env, world.keys.log.verifier)
            assert [x.disposition for x in b[1:]] == [3, 3]
            assert b[1].code != 0
            assert b[2].code != 0
            # a new inventory version drops node 0's key: the worker learns the new enrollment
            inv = world.inventory(version=2)
            del inv.nodes[0]
            await r.stub.SubmitInventory(
                verifier_pb2.SubmitSignedRequest(envelope=world.sign_inventory(inv)), timeout=5
            )
            (late,) = await r.submit(envs[3])
            assert late.disposition == 3
            ok = await r.submit(world.chain(1, nonce).next())
            assert [x.disposition for x in ok] == [1]
            assert r.counts()["reports"] == 4

    asyncio.run(scenario())


def test_unpack_rebuilds_the_admitted_report(tmp_path):
    from verifier.admission import _admit_chunk, _unpack
    from verifier.ingest import Enrollment, admit_batch

    world = World(tmp_path)
    enrollment = Enrollment.from_inventories([world.inventory()])
    envs = [world.chain(0, b"\x07" * 32).next() for _ in range(2)]
    rows = tuple(
        (k.key.raw, k.kind.value, k.facility_id, k.subject_id, k.inventory_version)
        for k in enrollment.keys.values()
    )
    assert _admit_chunk(-2, None, envs, 1 << 20) is None  # a generation it does not hold: ask for it
    done = _admit_chunk(-2, rows, envs, 1 << 20)
    assert done is not None
    got = _unpack(done[1], envs, enrollment)
    want = admit_batch(envs, enrollment, max_envelope_bytes=1 << 20)
    assert all(isinstance(g, AdmittedReport) for g in got)
    assert [dataclasses.astuple(g.header) for g in got] == [dataclasses.astuple(w.header) for w in want]  # type: ignore[union-attr]
    assert [g.envelope for g in got] == [w.envelope for w in want]  # type: ignore[union-attr]
    missing = _unpack(done[1], envs, Enrollment())
    assert all(isinstance(m, UnknownKeyError) for m in missing)
