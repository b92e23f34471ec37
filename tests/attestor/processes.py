"""Helpers for tests that run ``pausewatch-attestor run`` as a real process: start it, wait until
it says it is ready (bounded, on what it reports, never on how long start-up "should" take),
read and check its spool."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from pausewatch.envelope import envelope_digest, parse_envelope, verify_envelope
from pausewatch.files.keyfile import load_key_file
from pausewatch.reports import decode_report

# Real seconds: only a process that hangs (a bug) or a machine that cannot run it at all takes
# this long. Waits poll what the process writes (its ready file, its spool) in between.
START_LIMIT_S = 120.0
_POLL_S = 0.05


def spawn(
    cfg: Path,
    log: Path,
    *,
    ready_file: Path | None = None,
    log_level: str = "info",
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``pausewatch-attestor run --config cfg``, stderr (its JSON log) appended to ``log``. A
    ``ready_file`` is removed first, so that only this process can write it."""
    argv = [sys.executable, "-m", "attestor.cli", "run", "--config", str(cfg), "--log-level", log_level]
    if ready_file is not None:
        ready_file.unlink(missing_ok=True)
        argv += ["--ready-file", str(ready_file)]
    with log.open("ab") as err:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)


def log_tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


def wait_until(
    what: str, done: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, limit_s: float
) -> None:
    """Until ``done()``; fails at once if ``proc`` exits first, and after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while not done():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before {what}:\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {limit_s:.0f} s:\n{log_tail(log)}")
        time.sleep(_POLL_S)


def wait_ready(proc: subprocess.Popen[bytes], ready_file: Path, log: Path) -> None:
    """Until ``proc`` has written its own id to ``ready_file`` (``run --ready-file``)."""

    def ready() -> bool:
        try:
            return ready_file.read_text().strip() == str(proc.pid)
        except FileNotFoundError:
            return False

    wait_until("it was ready", ready, proc, log, START_LIMIT_S)


def spool_rows(state: Path) -> list[tuple[int, bytes, str]]:
    """(seq, envelope, state) of every report in ``state``'s spool; [] if there is none yet."""
    path = state / "spool.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT seq, envelope, state FROM reports ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []  # killed before the schema was created, or the daemon is creating it now
    finally:
        db.close()
    return [(int(s), bytes(e), str(st)) for s, e, st in rows]


def check_chain(state: Path, rows: list[tuple[int, bytes, str]]) -> None:
    """Seqs 0..n-1, each report signed by the state's node key and linked to the one before."""
    assert [s for s, _, _ in rows] == list(range(len(rows))), "a signed report vanished from the spool"
    if not rows:
        return
    signer = load_key_file(state / "node.key")
    previous: bytes | None = None
    for seq, envelope, _ in rows:
        env = parse_envelope(envelope)
        verify_envelope(env, signer.public_key)
        header, _ = decode_report(env)
        assert header.seq == seq
        assert header.prev == (b"" if previous is None else envelope_digest(previous))
        previous = envelope
