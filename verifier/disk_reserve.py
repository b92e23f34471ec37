"""A full disk (issue 12, row 15): reported once a minute, challenges kept going.

Before: with the disk full, every sequencer tick failed with a traceback (5 a second under
retrying attestors) and no challenge could be logged any more, so even reports delivered after
the operator freed space answered stale challenges. Now:

- :class:`DiskReserve` holds ``limits.disk_reserve_bytes`` (64 MiB) of real, allocated space in
  ``<state dir>/reserve``. When a tick fails because the storage is full (:func:`is_storage_full`:
  SQLite's SQLITE_FULL, or ENOSPC), the sequencer enters *storage-full* mode and the reserve is
  released: challenges (a few KiB each) keep being logged from it, while reports and documents
  are refused at the door with UNAVAILABLE (the attestors keep them spooled and retry).
- Once free space is back to twice the reserve, the reserve is taken again and the mode ends.
- Environment faults are logged as one line at most once a minute each (:class:`OncePer`), never
  a traceback per attempt; bugs keep their traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__ = ["RESERVE_FILE", "DiskReserve", "OncePer", "is_storage_full"]

RESERVE_FILE: Final = "reserve"


def is_storage_full(error: BaseException) -> bool:
    """Whether ``error`` (or one it was raised from) says the disk or database is full."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, sqlite3.Error) and getattr(seen, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class OncePer:
    """Says yes to a key at most once per ``seconds`` (monotonic): for once-a-minute logging."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._monotonic = monotonic
        self._last: dict[str, float] = {}
        self.suppressed = 0

    def ready(self, key: str) -> bool:
        now = self._monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._seconds:
            self.suppressed += 1
            return False
        self._last[key] = now
        return True


class DiskReserve:
    """``size`` bytes of allocated space in ``path``, given back to the disk when it fills."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    @property
    def armed(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except FileNotFoundError:
            return False

    def arm(self) -> bool:
        """Allocate the reserve (False, nothing kept, when the disk has no room for it)."""
        if self.size <= 0:
            return False
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            self.release()
            return False
        return True

    def release(self) -> None:
        """Give the space back to the disk."""
        self.path.unlink(missing_ok=True)

    def room_again(self) -> bool:
        """Whether the disk has twice the reserve free again (time to re-arm)."""
        try:
            return shutil.disk_usage(self.path.parent).free >= 2 * self.size
        except OSError:
            return False
