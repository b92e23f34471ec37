"""Tolerances belong to the commitment (issue 10): a lab's inventory may declare a narrower
overhead band than a commitment covering its facility allows, never a wider one; the wider
document is refused at submission, naming the field, and nothing is stored. Real gRPC server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from pausewatch.commitment import commitment_from_toml
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.v1 import verifier_pb2
from tests.verifier.harness import World, running

req = verifier_pb2.SubmitSignedRequest

COMMITMENT = """
id = "pause-2026"
version = 1
lab_id = "lab-1"
facilities = ["fac-a"]
[window]
start = 2026-01-01T00:00:00Z
end = 2026-07-01T00:00:00Z
[tolerances]
overhead_min_ratio = 1.0
overhead_max_ratio = {hi}
"""


def _commitment(world: World, hi: float, version: int = 1) -> bytes:
    msg = commitment_from_toml(
        COMMITMENT.format(hi=hi).replace("version = 1", f"version = {version}"), "c.toml"
    )
    return sign_envelope(PayloadType.COMMITMENT, msg.SerializeToString(deterministic=True), [world.lab])


def test_an_inventory_wider_than_the_commitment_is_refused_and_nothing_stored(tmp_path: Path) -> None:
    async def scenario() -> None:
        world = World(tmp_path)  # its inventory v1 declares 1.05 … 1.6
        async with running(world) as r:
            await r.stub.SubmitCommitment(req(envelope=_commitment(world, 1.6)), timeout=5)
            wide = world.inventory(2)
            wide.overhead.max_ratio = 2.5
            before = r.counts()
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.stub.SubmitInventory(req(envelope=world.sign_inventory(wide)), timeout=5)
            assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "overhead.max_ratio: 2.5" in (e.value.details() or "")
            assert r.counts() == before
            narrow = world.inventory(2)
            narrow.overhead.max_ratio = 1.3
            ok = await r.stub.SubmitInventory(req(envelope=world.sign_inventory(narrow)), timeout=5)
            assert ok.version == 2

    asyncio.run(scenario())


def test_a_commitment_narrower_than_a_stored_inventory_is_refused(tmp_path: Path) -> None:
    """The other order: the stored inventory (1.05 … 1.6) is wider than the new commitment's
    bound 1.4, so the lab must narrow its inventory first; the commitment is not stored."""

    async def scenario() -> None:
        world = World(tmp_path)
        async with running(world) as r:
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.stub.SubmitCommitment(req(envelope=_commitment(world, 1.4)), timeout=5)
            assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "tolerances.overhead_min_ratio/overhead_max_ratio" in (e.value.details() or "")
            s = r.storage()
            try:
                assert s.commitments(None) == []
            finally:
                s.close()

    asyncio.run(scenario())
