"""A role's state directory on disk: one process at a time, owner-only permissions.

The one core module for it, so that the verifier, the attestor and (later) the witness hold
their state directories the same way:

- :func:`lock_state_dir` takes an exclusive ``flock`` on ``<state dir>/LOCK`` for as long as
  the process lives (the kernel drops it when the process dies, even by SIGKILL, so a crash
  never leaves a stale lock behind) and writes the holder — pid, role, host, start time —
  into the file. A second process on the same directory gets :class:`StateDirLockedError`
  naming that holder; its command exits 2. Two writers on one database would each believe
  they own the log's head: the first one wedges, or worse, the log forks.
- :func:`ensure_private_dir` creates the directory ``0700`` (and refuses one that group or
  others may write).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pausewatch.errors import EnvironmentFaultError, KeyFileError

__all__ = [
    "LOCK_FILE",
    "StateDirLock",
    "StateDirLockedError",
    "check_secret_file",
    "ensure_private_dir",
    "ensure_private_file",
    "lock_state_dir",
]

LOCK_FILE: Final = "LOCK"


class StateDirLockedError(EnvironmentFaultError):
    """Another process holds the state directory."""


@dataclass
class StateDirLock:
    """A held lock; :meth:`release` it (or let the process end)."""

    path: Path
    _fd: int

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) if missing; refuse one that group or others may write."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = path.stat()
    except OSError as e:
        raise EnvironmentFaultError(f"{path}: cannot create the state directory: {e.strerror}") from e
    if not stat.S_ISDIR(st.st_mode):
        raise EnvironmentFaultError(f"{path}: the state directory is not a directory")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise EnvironmentFaultError(
            f"{path}: the state directory is writable by group or others (mode {st.st_mode & 0o777:o});"
            " run chmod 700"
        )


def ensure_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if missing, else tighten it to 0600: a database's
    WAL and shared-memory files take its mode, so the database, its WAL and its -shm are
    readable by the owner only."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        for suffix in ("-wal", "-shm", "-journal"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.chmod(0o600)
    except OSError as e:
        raise EnvironmentFaultError(f"{path}: cannot make the file private: {e.strerror}") from e


def check_secret_file(path: Path, what: str) -> None:
    """Refuse a secret file (a TLS private key, a config holding a password) that group or
    others may read: ``KeyFileError`` naming it and the fix."""
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read the {what}: {e.strerror}") from e
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: the {what} is readable by group or others (mode {mode & 0o777:o}); run chmod 600"
        )


def lock_state_dir(state_dir: Path, role: str) -> StateDirLock:
    """Hold ``state_dir`` for this process, or raise StateDirLockedError naming the holder."""
    ensure_private_dir(state_dir)
    path = state_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise EnvironmentFaultError(f"{path}: cannot open the state directory's lock: {e.strerror}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise StateDirLockedError(
            f"{state_dir} is in use by {holder}; one process per state directory"
        ) from None
    except OSError as e:
        os.close(fd)
        raise EnvironmentFaultError(f"{path}: cannot lock the state directory: {e.strerror}") from e
    record = {"pid": os.getpid(), "role": role, "host": socket.gethostname(), "since_unix": int(time.time())}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    except OSError as e:
        os.close(fd)
        raise EnvironmentFaultError(f"{path}: cannot write the state directory's lock: {e.strerror}") from e
    return StateDirLock(path, fd)


def _read_holder(fd: int) -> str:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
        pid, role, host = int(record["pid"]), str(record["role"]), str(record["host"])
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(record["since_unix"])))
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (its lock file names no holder yet)"
    return f"{role} pid {pid} on {host} (since {since})"
