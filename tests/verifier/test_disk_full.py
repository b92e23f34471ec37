"""Row 15 of issue 12 (disk full), on a real ``serve`` whose state directory is a real, small
filesystem (a 12 MiB tmpfs in a private mount namespace, ``unshare -rm``) that the test fills.

Before: a full disk logged a traceback five times a second and stopped challenges. Now the
first failing tick puts the verifier in storage-full mode: one log line (not one per attempt,
and no traceback), submissions refused at once with UNAVAILABLE, the reserve given back so
that challenges keep being logged and served; once space is freed, reports are taken again."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from pausewatch.envelope import parse_envelope
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from sim.factories import UsageChain
from tests.verifier.harness import World
from tests.verifier.test_crash import write_config

REPO = Path(__file__).resolve().parents[2]


def _can_mount(tmp: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    (tmp / "probe").mkdir()
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {tmp / 'probe'}"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


_SCRIPT = """
set -e
mount -t tmpfs -o size=12m tmpfs "$MNT"
mkdir -m 700 "$MNT/state"
"$PY" -m verifier.cli serve --config "$CFG" --state-dir "$MNT/state" --ready-file "$T/ready" 2> "$T/verifier.log" &
pid=$!
trap 'kill -TERM $pid; wait $pid; exit 0' TERM
while [ ! -e "$T/fill" ]; do sleep 0.05; kill -0 $pid; done
dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null || true
touch "$T/filled"
while [ ! -e "$T/free" ]; do sleep 0.05; kill -0 $pid; done
rm -f "$MNT/filler"
touch "$T/freed"
wait $pid
"""


def _wait_for(path: Path, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, f"the namespace's shell exited before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


async def _challenge_seq(stub: verifier_pb2_grpc.VerifierStub) -> tuple[int, bytes]:
    envelope = (await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=20)).envelope
    ch = types_pb2.Challenge()
    ch.ParseFromString(parse_envelope(envelope).payload)
    return ch.seq, bytes(ch.nonce)


def test_a_full_disk_is_reported_once_and_challenges_go_on(tmp_path: Path) -> None:
    if not _can_mount(tmp_path):
        pytest.skip("needs an unprivileged mount namespace (unshare -rm) for a small real filesystem")
    world = World(tmp_path)
    cfg = write_config(tmp_path, world)
    cfg.write_text(cfg.read_text().replace("[limits]\n", "[limits]\ndisk_reserve_bytes = 1048576\n"))
    (tmp_path / "mnt").mkdir()
    env = {
        "MNT": str(tmp_path / "mnt"),
        "CFG": str(cfg),
        "T": str(tmp_path),
        "PY": sys.executable,
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.Popen(["unshare", "-rm", "sh", "-c", _SCRIPT], cwd=REPO, env=env)
    try:
        _wait_for(tmp_path / "ready", proc, "the verifier to serve")
        port = int((tmp_path / "ready").read_text())
        asyncio.run(_scenario(port, world, tmp_path, proc))
    finally:
        proc.terminate()
        proc.wait(60)
    log = (tmp_path / "verifier.log").read_text()
    assert "Traceback" not in log
    tick_failures = [ln for ln in log.splitlines() if "sequencer tick failed" in ln]
    assert len(tick_failures) == 1, tick_failures  # once a minute, however often attestors retry
    assert "storage full" in log


async def _scenario(port: int, world: World, tmp: Path, proc: subprocess.Popen[bytes]) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = verifier_pb2_grpc.VerifierStub(channel)
        inv = world.sign_inventory(world.inventory())
        await stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=inv), timeout=20)
        _, nonce = await _challenge_seq(stub)
        chain = UsageChain(
            world.node_keys[0], node_id="node-00", nonce=nonce, start_ns=time.time_ns() - 300 * 10**9
        )

        async def submit(envelope: bytes) -> grpc.StatusCode:
            try:
                resp = await stub.SubmitReports(
                    verifier_pb2.SubmitReportsRequest(envelopes=[envelope]), timeout=20
                )
            except grpc.aio.AioRpcError as e:
                return e.code()
            assert resp.results[0].code == 0, resp.results[0].message
            return grpc.StatusCode.OK

        assert await submit(chain.next()) is grpc.StatusCode.OK
        (tmp / "fill").touch()
        _wait_for(tmp / "filled", proc, "the filesystem to fill")

        pending = chain.next()  # refused while the disk is full, taken once it has room
        codes = [await submit(pending) for _ in range(20)]  # an attestor retrying
        assert set(codes) == {grpc.StatusCode.UNAVAILABLE}, codes

        seq, _ = await _challenge_seq(stub)
        deadline = time.monotonic() + 60
        while (await _challenge_seq(stub))[0] < seq + 3:  # fresh challenges, logged on the reserve
            assert time.monotonic() < deadline, "no new challenge while the disk is full"
            await asyncio.sleep(0.1)

        (tmp / "free").touch()
        _wait_for(tmp / "freed", proc, "the filesystem to be freed")
        deadline = time.monotonic() + 60
        while await submit(pending) is not grpc.StatusCode.OK:
            assert time.monotonic() < deadline, "reports not taken again after space was freed"
            await asyncio.sleep(0.2)
