"""Per-key rate state kept across restarts (issue 12, row 15).

The per-key quotas (:class:`verifier.ingest.RateLimiter`: reports a minute, report bytes a
minute) lived in memory, so every restart refilled a flooder's budget. Now the server saves
every bucket that is not full — ``(tokens, as of log time)`` per key and quota — to
``<state dir>/rate-state.json`` once a second while they change, and at stop, replacing the file
atomically (mode 0600); :func:`load_rate_state` gives them back at start. A SIGKILL loses at
most the last second's spending. Times are log time (:mod:`verifier.log_time`), which never
goes back across restarts either, so a bucket refills exactly as if the verifier had not
stopped.

A file that cannot be read or parsed is reported (a warning naming it) and the quotas start
full: a damaged rate file must not keep the verifier down.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from pausewatch.errors import EnvironmentFaultError
from verifier.checkpoint_file import write_file_atomically

__all__ = ["RATE_STATE_FILE", "RateState", "load_rate_state", "save_rate_state"]

_log = logging.getLogger("pausewatch.verifier.rate_state")
RATE_STATE_FILE: Final = "rate-state.json"
_VERSION: Final = 1
_MAX_BYTES: Final = 256 << 20

RateState = Mapping[str, Mapping[str, tuple[float, int]]]
"""Quota name ("reports", "bytes") → key id → (tokens, as of unix ns)."""


def save_rate_state(path: Path, state: RateState) -> None:
    """Replace the file with ``state`` (EnvironmentFaultError when the disk refuses)."""
    doc = {
        "version": _VERSION,
        "quotas": {q: {k: [t, at] for k, (t, at) in b.items()} for q, b in state.items()},
    }
    try:
        write_file_atomically(path, json.dumps(doc, separators=(",", ":")).encode())
    except OSError as e:
        raise EnvironmentFaultError(f"{path}: cannot save the rate state: {e.strerror}") from e


def load_rate_state(path: Path) -> dict[str, dict[str, tuple[float, int]]]:
    """The saved state; empty when there is no file, or (warned) when it is unreadable."""
    try:
        with path.open("rb") as f:
            raw = f.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as e:
        _log.warning(
            "cannot read the rate state; quotas start full", extra={"file": str(path), "error": e.strerror}
        )
        return {}
    try:
        if len(raw) > _MAX_BYTES:
            raise ValueError(f"over {_MAX_BYTES} bytes")
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("version") != _VERSION:
            raise ValueError("not a version 1 rate state")
        out: dict[str, dict[str, tuple[float, int]]] = {}
        for quota, buckets in doc["quotas"].items():
            out[str(quota)] = {str(k): (float(v[0]), int(v[1])) for k, v in buckets.items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        _log.warning(
            "the rate state does not parse; quotas start full", extra={"file": str(path), "error": str(e)}
        )
        return {}
    return out
