"""UploadReports on a real verifier (real gRPC on localhost): each batch of the stream is
checked and answered exactly as SubmitReports answers it, in order; the stream is bounded
(limits.max_upload_batches), and a hostile stream ends alone."""

import asyncio

import grpc
import pytest

from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.v1 import verifier_pb2
from sim.factories import seeded_signer
from tests.verifier.harness import World, check_receipt, running
from verifier.config import LimitsConfig


def _request(*envelopes: bytes) -> verifier_pb2.SubmitReportsRequest:
    return verifier_pb2.SubmitReportsRequest(envelopes=list(envelopes))


def test_each_batch_is_answered_in_order_as_submit_reports_answers_it(tmp_path):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            nonce = await r.nonce()
            chain = world.chain(0, nonce)
            envs = [chain.next() for _ in range(5)]
            stranger = sign_envelope(PayloadType.USAGE_REPORT, b"\x01", [seeded_signer("stranger")])
            tampered = bytearray(world.chain(1, nonce).next())
            tampered[-1] ^= 1
            call = r.stub.UploadReports(timeout=10)
            answers = []
            for batch in (
                [envs[0], envs[1]],
                [envs[2], stranger, bytes(tampered), b"junk"],
                [envs[3], envs[0]],
            ):
                await call.write(_request(*batch))
                answers.append(await call.read())
            await call.done_writing()
            assert await call.read() is grpc.aio.EOF
            assert [[x.disposition for x in a.results] for a in answers] == [[1, 1], [1, 3, 3, 3], [1, 2]]
            assert all(x.code != 0 for x in answers[1].results[1:])
            for env, res in zip(
                [envs[0], envs[1], envs[2], envs[3], envs[0]],
                [*answers[0].results, answers[1].results[0], *answers[2].results],
                strict=True,
            ):
                check_receipt(res.receipt, env, world.keys.log.verifier)
            # the stream and a unary call see one log
            (last,) = await r.submit(envs[4])
            assert last.disposition == 1
            assert r.counts()["reports"] == 5

    asyncio.run(scenario())


def test_a_stream_is_bounded_and_ends_alone(tmp_path):
    async def scenario():
        world = World(tmp_path, limits=LimitsConfig(max_upload_batches=2, max_batch_reports=10))
        async with running(world) as r:
            nonce = await r.nonce()
            chain = world.chain(0, nonce)
            call = r.stub.UploadReports(timeout=10)
            for _ in range(2):
                await call.write(_request(chain.next()))
                assert [x.disposition for x in (await call.read()).results] == [1]
            await call.write(_request(chain.next()))
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await call.read()
            assert e.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_upload_batches" in e.value.details()
            # a batch over the per-batch cap ends that stream only; the others are served
            hostile = r.stub.UploadReports(timeout=10)
            await hostile.write(_request(*[b"x"] * 11))
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await hostile.read()
            assert e.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            other = world.chain(1, nonce)
            assert [x.disposition for x in await r.submit(other.next())] == [1]
            assert r.counts()["reports"] == 3

    asyncio.run(scenario())
