"""A saturated verifier refuses whole batches at once with RESOURCE_EXHAUSTED and a retry hint,
and a refused batch leaves nothing behind: resent, it is accepted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from pausewatch.v1 import verifier_pb2
from tests.verifier.harness import World, running
from verifier.config import LimitsConfig
from verifier.service import RETRY_AFTER_KEY


def test_a_saturated_verifier_refuses_with_a_retry_hint_and_keeps_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        world = World(tmp_path, nodes=8, limits=LimitsConfig(max_pending_reports=1))
        async with running(world) as r:
            nonce = await r.nonce()
            chains = [world.chain(i, nonce) for i in range(8)]
            batches = [[c.next() for _ in range(3)] for c in chains]

            async def send(batch: list[bytes]) -> tuple[grpc.StatusCode, dict[str, str]]:
                try:
                    await r.stub.SubmitReports(verifier_pb2.SubmitReportsRequest(envelopes=batch), timeout=30)
                except grpc.aio.AioRpcError as e:
                    return e.code(), {k: str(v) for k, v in e.trailing_metadata() or ()}
                return grpc.StatusCode.OK, {}

            outcomes = await asyncio.gather(*(send(b) for b in batches))  # all in flight at once
            codes = [code for code, _ in outcomes]
            assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
            assert grpc.StatusCode.OK in codes  # an idle verifier never refuses the first batch
            assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
            for code, trailers in outcomes:
                if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    assert int(trailers[RETRY_AFTER_KEY]) > 0
            accepted = sum(len(b) for b, c in zip(batches, codes, strict=True) if c is grpc.StatusCode.OK)
            assert r.counts()["reports"] == accepted  # refused batches left nothing behind

            for batch, code in zip(batches, codes, strict=True):  # one at a time: all accepted
                if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    results = await r.submit(*batch)
                    assert [x.disposition for x in results] == [verifier_pb2.DISPOSITION_ACCEPTED] * 3
            assert r.counts()["reports"] == 24

    asyncio.run(scenario())
