"""The latest signed checkpoint, kept a second time in a file beside the database.

Why (as Sunlight keeps its latest checkpoint apart from its tiles): the database alone cannot
tell an empty log from a lost one. A verifier whose database was deleted, restored from an old
copy or replaced would start a new tree under the same log key and sign a checkpoint that
forks every checkpoint it published before. The file outlives such accidents and the
sequencer refuses to start against it (:func:`verifier.sequencer.check_log_at_start`).

Writes are compare-and-swap: :meth:`CheckpointFile.check` (inside the tick's transaction,
before COMMIT) refuses when the file no longer holds the checkpoint this process last wrote or
read, so a second writer is caught before anything is signed; :meth:`CheckpointFile.write`
(after COMMIT) replaces it atomically — a temporary file, fsync, rename, fsync of the
directory. Written after COMMIT, the file may lag the database by one tick after a crash,
never lead it. Mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from pausewatch.errors import EnvironmentFaultError

__all__ = ["CHECKPOINT_FILE", "CheckpointFile", "CheckpointFileConflictError", "write_file_atomically"]

CHECKPOINT_FILE: Final = "checkpoint"
_MAX_BYTES: Final = 64 * 1024


def write_file_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (mode 0600) so that a crash leaves the old file or the new
    one: a temporary file, fsync, rename, fsync of the directory. Raises OSError."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class CheckpointFileConflictError(EnvironmentFaultError):
    """The checkpoint file changed under this process: another writer."""


class CheckpointFile:
    """``<state dir>/checkpoint``: the signed note of the latest checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._expected: bytes | None = None

    def read(self) -> bytes | None:
        """The note in the file (None: no file), remembered as what the next swap expects."""
        self._expected = self._read()
        return self._expected

    def check(self) -> None:
        """Compare: the file still holds what this process last read or wrote."""
        current = self._read()
        if current != self._expected:
            raise CheckpointFileConflictError(
                f"{self.path} changed under this verifier (another process signs for this log?);"
                " refusing to sign"
            )

    def write(self, note: bytes) -> None:
        """Swap in ``note`` (call :meth:`check` first, inside the transaction)."""
        try:
            write_file_atomically(self.path, note)
        except OSError as e:
            raise EnvironmentFaultError(f"{self.path}: cannot write the checkpoint file: {e.strerror}") from e
        self._expected = note

    def _read(self) -> bytes | None:
        try:
            with self.path.open("rb") as f:
                data = f.read(_MAX_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise EnvironmentFaultError(f"{self.path}: cannot read the checkpoint file: {e.strerror}") from e
        if len(data) > _MAX_BYTES:
            raise EnvironmentFaultError(f"{self.path}: the checkpoint file is over {_MAX_BYTES} bytes")
        return data
