"""Overload at the edge of ``serve`` (a front-end process): answered, never reset.

A client that keeps one connection at the verifier's stream cap while the pool is full: every
call is served or refused RESOURCE_EXHAUSTED with the ``pausewatch-retry-after-ms`` hint.
Before, gRPC's allocation-based overload protection answered about a third of them with
RST_STREAM (REFUSED_STREAM), which the client saw as UNAVAILABLE "Stream removed": calls that
no servicer saw, so refusal at the edge could not answer them (docs/scale.md).
"""

import asyncio
import collections
import signal
import subprocess

import grpc

from pausewatch.envelope import parse_envelope, parse_message
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from tests.verifier.harness import World
from tests.verifier.test_crash import start, write_config
from verifier.service import RETRY_AFTER_KEY

CALLS = 400  # single-report calls, all at once, on one connection
STREAMS = 4  # limits.max_streams_per_connection: the connection is always at its cap
POOL = 2  # limits.max_pending_reports: past it, the front-end refuses


def test_a_connection_past_its_streams_and_the_pool_is_refused_with_a_hint_never_reset(tmp_path):
    world = World(tmp_path, nodes=8)
    cfg = write_config(tmp_path, world)
    cfg.write_text(
        cfg.read_text().replace(
            "[limits]\n",
            f"[limits]\nfrontends = 1\nmax_streams_per_connection = {STREAMS}\nmax_pending_reports = {POOL}\n",
        )
    )
    codes: collections.Counter[str] = collections.Counter()
    hints: list[str] = []

    async def flood(port: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = verifier_pb2_grpc.VerifierStub(ch)
            await stub.SubmitInventory(
                verifier_pb2.SubmitSignedRequest(envelope=world.sign_inventory(world.inventory())), timeout=30
            )
            challenge = await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=30)
            nonce = parse_message(parse_envelope(challenge.envelope).payload, types_pb2.Challenge).nonce
            chains = [world.chain(i, nonce) for i in range(len(world.node_keys))]
            reports = [chains[i % len(chains)].next() for i in range(CALLS)]

            async def call(env: bytes) -> None:
                try:
                    await stub.SubmitReports(verifier_pb2.SubmitReportsRequest(envelopes=[env]), timeout=60)
                except grpc.aio.AioRpcError as e:
                    codes[f"{e.code().name}: {e.details()}"[:100]] += 1
                    if e.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                        hints.append(dict(e.trailing_metadata() or ()).get(RETRY_AFTER_KEY, ""))
                    return
                codes["OK"] += 1

            await asyncio.gather(*(call(r) for r in reports))

    proc, port = start(cfg, tmp_path)
    try:
        asyncio.run(flood(port))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, (tmp_path / "verifier.log").read_text()[-2000:]
    assert sum(codes.values()) == CALLS
    # served, or refused at the edge with the hint; nothing reset (UNAVAILABLE) or otherwise failed
    assert all(k == "OK" or k.startswith("RESOURCE_EXHAUSTED: verifier busy") for k in codes), dict(codes)
    assert codes["OK"] >= 1, dict(codes)
    assert hints, dict(codes)  # the pool was exceeded
    assert all(h.isdigit() and int(h) > 0 for h in hints), hints
