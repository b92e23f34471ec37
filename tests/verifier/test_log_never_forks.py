"""Rows 4, 5 and 6 of issue 12, with real ``pausewatch-verifier`` processes.

4. An empty, lost or older database would start a new log under the same key: a signed fork.
   The latest checkpoint is also kept in ``<state dir>/checkpoint``; the verifier refuses to
   start (exit 2, one line) against it.
5. A substituted log key — a one-character change that is still valid base64 — would sign a
   log nobody trusts: the stored checkpoints do not verify under it, so it refuses to start.
6. One flipped byte in an entry: refused at start, ``export`` refuses to write it, and
   ``scrub`` names the entry (before: start, quick_check and export all passed; only the
   offline audit failed).
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import grpc

from pausewatch.envelope import parse_envelope
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from tests.verifier.harness import World
from tests.verifier.test_crash import REPO, start, write_config

CLI = [sys.executable, "-m", "verifier.cli"]


def _populate(port: int, world: World, *, reports: int, enrol: bool = True, first_seq: int = 0) -> int:
    """Enrol (optionally) and submit ``reports`` of node 0's chain; return the checkpoint size."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = verifier_pb2_grpc.VerifierStub(ch)
        if enrol:
            stub.SubmitInventory(
                verifier_pb2.SubmitSignedRequest(envelope=world.sign_inventory(world.inventory())), timeout=10
            )
        challenge = types_pb2.Challenge.FromString(
            parse_envelope(stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=10).envelope).payload
        )
        chain = world.chain(0, bytes(challenge.nonce))
        sent = [chain.next() for _ in range(first_seq + reports)][first_seq:]
        results = stub.SubmitReports(verifier_pb2.SubmitReportsRequest(envelopes=sent), timeout=10).results
        assert all(r.disposition == verifier_pb2.DISPOSITION_ACCEPTED for r in results), results
        note = stub.GetCheckpoint(verifier_pb2.GetCheckpointRequest(), timeout=10).checkpoint
        return int(note.split(b"\n")[1])


def _serve_fails(cfg: Path) -> str:
    run = subprocess.run(
        [*CLI, "serve", "--config", str(cfg)], cwd=REPO, check=False, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    return run.stderr


def _stop(proc: subprocess.Popen[bytes], how: signal.Signals = signal.SIGKILL) -> None:
    proc.send_signal(how)
    proc.wait(30)


def _move_db(state: Path, to: Path) -> None:
    to.mkdir(exist_ok=True)
    for p in state.glob("verifier.sqlite*"):
        shutil.move(p, to / p.name)


def test_an_empty_database_with_a_published_checkpoint_refuses_to_start(tmp_path: Path) -> None:
    world = World(tmp_path)
    cfg = write_config(tmp_path, world)
    proc, port = start(cfg, tmp_path)
    size = _populate(port, world, reports=20)
    _stop(proc)  # SIGKILL: the checkpoint file may lag by a tick, never lead
    assert (tmp_path / "state" / "checkpoint").is_file()
    _move_db(tmp_path / "state", tmp_path / "saved")  # the database is lost
    err = _serve_fails(cfg)
    assert "database is empty" in err
    assert "fork" in err
    assert not (tmp_path / "state" / "verifier.sqlite").exists() or _log_size(tmp_path) == 0
    # the database restored: it starts and continues the same log
    for p in (tmp_path / "state").glob("verifier.sqlite*"):
        p.unlink()
    for p in (tmp_path / "saved").glob("*"):
        shutil.move(p, tmp_path / "state" / p.name)
    proc, port = start(cfg, tmp_path)
    try:
        assert _populate(port, world, reports=1, enrol=False, first_seq=20) > size
    finally:
        _stop(proc, signal.SIGTERM)


def test_an_older_copy_of_the_database_refuses_to_start(tmp_path: Path) -> None:
    world = World(tmp_path)
    cfg = write_config(tmp_path, world)
    proc, port = start(cfg, tmp_path)
    _populate(port, world, reports=5)
    _stop(proc, signal.SIGTERM)
    shutil.copytree(tmp_path / "state", tmp_path / "backup")  # a backup, taken cleanly
    proc, port = start(cfg, tmp_path)
    _populate(port, world, reports=5, enrol=False, first_seq=5)
    _stop(proc, signal.SIGTERM)
    _move_db(tmp_path / "state", tmp_path / "newer")
    for p in (tmp_path / "backup").glob("verifier.sqlite*"):
        shutil.copy(p, tmp_path / "state" / p.name)  # restored from the older backup
    err = _serve_fails(cfg)
    assert "older copy" in err


def test_a_substituted_log_key_refuses_to_start(tmp_path: Path) -> None:
    world = World(tmp_path)
    cfg = write_config(tmp_path, world)
    proc, port = start(cfg, tmp_path)
    _populate(port, world, reports=3)
    _stop(proc, signal.SIGTERM)
    key = tmp_path / "log.key"
    header, seed = key.read_text().splitlines()
    flipped = ("B" if seed[0] != "B" else "C") + seed[1:]  # one character, still valid base64
    key.write_text(f"{header}\n{flipped}\n")
    err = _serve_fails(cfg)
    assert "does not verify under the loaded log key" in err


def test_a_flipped_byte_in_an_entry_is_found_at_start_by_export_and_by_scrub(tmp_path: Path) -> None:
    world = World(tmp_path)
    cfg = write_config(tmp_path, world)
    proc, port = start(cfg, tmp_path)
    _populate(port, world, reports=10)
    _stop(proc, signal.SIGTERM)
    clean = subprocess.run(
        [*CLI, "scrub", "--config", str(cfg)], cwd=REPO, check=False, capture_output=True, text=True, timeout=120
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    with sqlite3.connect(tmp_path / "state" / "verifier.sqlite") as db:  # one flipped byte
        (data,) = db.execute("SELECT data FROM tlog_entry_tail WHERE idx = 3").fetchone()
        data = bytearray(data)
        data[len(data) // 2] ^= 0x01
        db.execute("UPDATE tlog_entry_tail SET data = ? WHERE idx = 3", (bytes(data),))
    assert "log entry 3 does not hash" in _serve_fails(cfg)
    export = subprocess.run(
        [*CLI, "export", "--config", str(cfg), "--out", str(tmp_path / "bundle")],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert export.returncode == 2, export.stderr
    assert "log entry 3 does not hash" in export.stderr
    scrub = subprocess.run(
        [*CLI, "scrub", "--config", str(cfg)], cwd=REPO, check=False, capture_output=True, text=True, timeout=120
    )
    assert scrub.returncode == 1, scrub.stdout + scrub.stderr
    assert "log entry 3 does not hash" in scrub.stdout
    assert "Traceback" not in scrub.stderr + export.stderr


def _log_size(tmp: Path) -> int:
    with sqlite3.connect(tmp / "state" / "verifier.sqlite") as db:
        row = db.execute("SELECT size FROM tlog_meta").fetchone()
    return 0 if row is None else int(row[0])
