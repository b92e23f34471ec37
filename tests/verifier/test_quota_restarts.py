"""Row 15 of issue 12 (rate state): a restart must not refill a flooder's budget.

Before: the per-key quotas lived in memory, so killing or restarting the verifier gave every
key a full bucket again. Now a real ``serve`` process saves them (``rate-state.json`` in its
state directory, within a second of a change) and takes them back at start: a key that spent
its burst is still refused after a SIGKILL and a restart, and another key is not."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import grpc

from pausewatch.envelope import parse_envelope
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from sim.factories import UsageChain
from tests.verifier.harness import World
from tests.verifier.test_crash import start, write_config

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


def _config(tmp: Path, world: World) -> Path:
    """test_crash's config with a burst of three reports per key."""
    cfg = write_config(tmp, world)
    cfg.write_text(
        cfg.read_text().replace("[limits]\n", "[limits]\nreports_per_minute = 0.001\nburst_reports = 3\n")
    )
    return cfg


async def _submit(port: int, *envelopes: bytes) -> list[int]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = verifier_pb2_grpc.VerifierStub(channel)
        resp = await stub.SubmitReports(
            verifier_pb2.SubmitReportsRequest(envelopes=list(envelopes)), timeout=20
        )
        return [r.code for r in resp.results]


async def _setup(port: int, world: World) -> bytes:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = verifier_pb2_grpc.VerifierStub(channel)
        inv = world.sign_inventory(world.inventory())
        await stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=inv), timeout=20)
        challenge = await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=20)
    ch = types_pb2.Challenge()
    ch.ParseFromString(parse_envelope(challenge.envelope).payload)
    return bytes(ch.nonce)


def test_a_killed_and_restarted_verifier_keeps_each_keys_spent_quota(tmp_path: Path) -> None:
    world = World(tmp_path)
    cfg = _config(tmp_path, world)
    first_ns = time.time_ns() - 600 * 1_000_000_000  # recent periods (reports older than 7 days are refused)
    proc, port = start(cfg, tmp_path)
    try:
        nonce = asyncio.run(_setup(port, world))
        flooder = UsageChain(world.node_keys[0], node_id="node-00", nonce=nonce, start_ns=first_ns)
        honest = UsageChain(world.node_keys[1], node_id="node-01", nonce=nonce, start_ns=first_ns)
        codes = [asyncio.run(_submit(port, flooder.next()))[0] for _ in range(4)]
        assert codes == [0, 0, 0, EXHAUSTED]  # burst of 3 spent
        state = tmp_path / "state" / "rate-state.json"
        deadline = time.monotonic() + 30
        while not (state.exists() and world.node_keys[0].public_key.key_id in state.read_text()):
            assert time.monotonic() < deadline, "the rate state was not saved"
            time.sleep(0.05)
        assert state.stat().st_mode & 0o777 == 0o600
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)

    proc, port = start(cfg, tmp_path)
    try:
        # the same flooder, after a SIGKILL and a restart: still over its quota
        assert asyncio.run(_submit(port, flooder.next())) == [EXHAUSTED]
        assert asyncio.run(_submit(port, honest.next())) == [0]  # others unaffected
    finally:
        proc.terminate()
        proc.wait(30)
