"""SIGKILL the real verifier process under load, several times.

Afterwards every report that got a receipt is in the log at its receipt's index, with the
exact bytes, and every checkpoint published before or after any restart is consistent with
the final tree (and its signature verifies).
"""

import asyncio
import base64
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from pausewatch import merkle
from pausewatch.checkpoint import open_checkpoint
from pausewatch.files.keyfile import generate_key_file
from pausewatch.note import Ed25519NoteVerifier
from pausewatch.v1 import verifier_pb2, verifier_pb2_grpc
from tests.verifier.harness import ORIGIN, World, check_receipt
from verifier.sqlite_storage import SqliteStorage

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp: Path, world: World) -> Path:
    for name in ("log", "challenge", "verdict"):
        generate_key_file(tmp / f"{name}.key")
    lab = base64.b64encode(world.lab.public_key.raw).decode()
    cfg = tmp / "verifier.toml"
    cfg.write_text(
        f"""
listen = "127.0.0.1:0"
state_dir = "state"
metrics_listen = ""
[log]
origin = "{ORIGIN}"
key_file = "log.key"
[challenge]
key_file = "challenge.key"
interval_s = 1.0
[verdict]
key_file = "verdict.key"
[limits]
max_report_age_s = 315360000  # the reports replay fixed 2026 dates on the system clock
[[labs]]
lab_id = "lab-1"
public_keys = ["{lab}"]
facilities = ["fac-a"]
"""
    )
    return cfg


def start(cfg: Path, tmp: Path) -> tuple[subprocess.Popen, int]:
    ready = tmp / "ready"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "verifier.cli", "serve", "--config", str(cfg), "--ready-file", str(ready)],
        cwd=REPO,
        stderr=open(tmp / "verifier.log", "ab"),  # noqa: SIM115  # the child owns the log file
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"verifier did not start: {(tmp / 'verifier.log').read_text()[-2000:]}")
        time.sleep(0.02)
    return proc, int(ready.read_text())


@pytest.mark.heavy
def test_sigkill_under_load_loses_no_receipted_report_and_never_forks_the_log(tmp_path):
    world = World(tmp_path, nodes=8)
    cfg = write_config(tmp_path, world)
    log_key = Ed25519NoteVerifier(
        ORIGIN, __import__("pausewatch.files.keyfile", fromlist=["x"]).load_key_file(tmp_path / "log.key").public_key
    )
    receipted: dict[int, bytes] = {}
    checkpoints: list[bytes] = []
    chains = None
    pending: list[list[bytes]] = []
    retry: dict[int, list[list[bytes]]] = {}  # batches refused with RESOURCE_EXHAUSTED, per client

    async def load(port: int, kill_after: int, proc: subprocess.Popen, first: bool) -> None:
        nonlocal chains
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = verifier_pb2_grpc.VerifierStub(ch)
            if first:
                await stub.SubmitInventory(
                    verifier_pb2.SubmitSignedRequest(envelope=world.sign_inventory(world.inventory())),
                    timeout=10,
                )
            cp = await stub.GetCheckpoint(verifier_pb2.GetCheckpointRequest(), timeout=10)
            checkpoints.append(cp.checkpoint)
            nonce_env = await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=10)
            from pausewatch.envelope import parse_envelope
            from pausewatch.v1 import types_pb2

            c = types_pb2.Challenge()
            c.ParseFromString(parse_envelope(nonce_env.envelope).payload)
            if chains is None:
                chains = [world.chain(i, bytes(c.nonce)) for i in range(len(world.node_keys))]
            for chain in chains:
                chain.nonce = bytes(c.nonce)

            async def client(i: int) -> None:
                sent = 0
                while True:
                    if retry.get(i):
                        batch = retry[i].pop(0)
                    else:
                        batch = (
                            pending.pop(0) if pending and i == 0 else [chains[i].next() for _ in range(10)]
                        )
                    try:
                        resp = await stub.SubmitReports(
                            verifier_pb2.SubmitReportsRequest(envelopes=batch), timeout=10
                        )
                    except grpc.aio.AioRpcError as e:
                        if e.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:  # backpressure: retry
                            retry.setdefault(i, []).append(batch)  # resent next, before anything new
                            await asyncio.sleep(0.05)
                            continue
                        pending.append(batch)  # no receipt: resend after the restart
                        return
                    for env, res in zip(batch, resp.results, strict=False):
                        assert res.disposition in (1, 2), res
                        check_receipt(res.receipt, env, log_key)
                        receipted[res.receipt.log_index] = env
                        checkpoints.append(res.receipt.checkpoint)
                    sent += len(batch)

            tasks = [asyncio.create_task(client(i)) for i in range(len(chains))]
            start_size = len(receipted)
            while len(receipted) - start_size < kill_after:
                if all(t.done() for t in tasks):  # every client gave up: no receipt can come
                    await asyncio.gather(*tasks)  # a client's own failure, if it failed
                    raise AssertionError(
                        f"{len(receipted) - start_size} receipts before the clients stopped, not {kill_after}:"
                        f" {(tmp_path / 'verifier.log').read_text()[-2000:]}"
                    )
                await asyncio.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            await asyncio.gather(*tasks)

    proc, port = start(cfg, tmp_path)
    try:
        for round_ in range(4):
            asyncio.run(load(port, 150 + 50 * round_, proc, first=round_ == 0))
            proc.wait(10)
            assert proc.returncode == -signal.SIGKILL
            proc, port = start(cfg, tmp_path)

        # Resend what never got a receipt; it is accepted or a duplicate, never lost.
        async def finish() -> None:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = verifier_pb2_grpc.VerifierStub(ch)
                for batch in pending + [b for refused in retry.values() for b in refused]:
                    resp = await stub.SubmitReports(
                        verifier_pb2.SubmitReportsRequest(envelopes=batch), timeout=10
                    )
                    for env, res in zip(batch, resp.results, strict=False):
                        assert res.disposition in (1, 2), res
                        receipted[res.receipt.log_index] = env
                cp = await stub.GetCheckpoint(verifier_pb2.GetCheckpointRequest(), timeout=10)
                checkpoints.append(cp.checkpoint)

        asyncio.run(finish())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0, (tmp_path / "verifier.log").read_text()[-2000:]

    storage = SqliteStorage(tmp_path / "state" / "verifier.sqlite")
    size = storage.log_size()
    final_root = storage.log_root(size)
    for index, env in receipted.items():
        assert storage.log_entries(index, index + 1) == [env]
    stored_cps = {c.size: c for c in storage.checkpoints()}
    assert len(checkpoints) > 10
    for note in checkpoints:
        cp = open_checkpoint(note, log_key)
        assert stored_cps[cp.size].root_hash == cp.root_hash
        merkle.verify_consistency(
            cp.size, size, storage.consistency_proof(cp.size, size), cp.root_hash, final_root
        )
    # Every report chain is intact: no key has two reports with one seq.
    dupes = storage._conn.execute(
        "SELECT key_id, seq, COUNT(*) FROM reports GROUP BY key_id, seq HAVING COUNT(*) > 1"
    ).fetchall()
    assert dupes == []
    storage.close()
