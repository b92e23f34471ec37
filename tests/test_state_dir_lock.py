"""Row 2 of issue 12: one process per state directory, with real processes.

A second ``pausewatch-verifier serve`` (or ``pausewatch-attestor run``) on a state directory
in use exits 2 naming the holder, and the first keeps serving. The lock dies with its
holder: after a SIGKILL the next process starts.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from pausewatch.files.statedir import LOCK_FILE, StateDirLockedError, lock_state_dir
from pausewatch.v1 import verifier_pb2, verifier_pb2_grpc
from tests.verifier.harness import World
from tests.verifier.test_crash import REPO, start, write_config


def _challenge(port: int) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = verifier_pb2_grpc.VerifierStub(ch)
        return bytes(stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=10).envelope)


def test_second_verifier_on_a_state_dir_exits_2_naming_the_holder(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, World(tmp_path))
    first, port = start(cfg, tmp_path)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "verifier.cli", "serve", "--config", str(cfg)],
            cwd=REPO,
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2, second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert "pausewatch-verifier serve" in second.stderr
        assert "Traceback" not in second.stderr
        assert _challenge(port)  # the first one still serves
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    third, port = start(cfg, tmp_path)  # the kernel dropped the dead holder's lock
    try:
        assert _challenge(port)
    finally:
        third.terminate()
        assert third.wait(30) == 0


def test_second_attestor_on_a_state_dir_exits_2_naming_the_holder(tmp_path: Path) -> None:
    state = tmp_path / "node"
    config = tmp_path / "attestor.toml"
    config.write_text(
        f'state_dir = "{state}"\nfacility_id = "fac-a"\nnode_id = "node-00"\nperiod_s = 60\n'
        '[[sources]]\nkind = "simulator"\ndevices = 1\n'
    )
    argv = [sys.executable, "-m", "attestor.cli", "run", "--config", str(config)]
    first = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not _holder_is(state, first.pid):  # observable: the lock file names it
            assert first.poll() is None, "the first attestor exited"
            assert time.monotonic() < deadline, "the first attestor never took its lock"
            time.sleep(0.02)
        second = subprocess.run(argv, cwd=REPO, check=False, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"pausewatch-attestor run pid {first.pid}" in second.stderr
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    lock = lock_state_dir(state, "test")  # free again once the holder died
    lock.release()


def test_lock_in_one_process_refuses_a_second_holder(tmp_path: Path) -> None:
    lock = lock_state_dir(tmp_path / "s", "role-a")
    try:
        with pytest.raises(StateDirLockedError, match="role-a pid"):
            lock_state_dir(tmp_path / "s", "role-b")
    finally:
        lock.release()
    lock_state_dir(tmp_path / "s", "role-b").release()


def _holder_is(state: Path, pid: int) -> bool:
    try:
        return int(json.loads((state / LOCK_FILE).read_text())["pid"]) == pid
    except (OSError, ValueError, KeyError):
        return False
