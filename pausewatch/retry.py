"""The verifier's retry hint: one name for the server that sends it and the clients that heed it.

A refusal for load (RESOURCE_EXHAUSTED) carries trailing metadata ``pausewatch-retry-after-ms``:
how long the caller should wait before it asks again, in milliseconds. The core books the
refused batch a slot on its future capacity and names it; the front-ends name a fixed pace
(``verifier.service``, ``verifier.frontend``). A client that comes back sooner is refused
again; one that waits its own exponential backoff instead may wait minutes for a slot a second
away.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

__all__ = ["MAX_RETRY_AFTER_S", "RETRY_AFTER_KEY", "retry_after_s"]

RETRY_AFTER_KEY: Final = "pausewatch-retry-after-ms"
MAX_RETRY_AFTER_S: Final = 3600.0  # a hint beyond an hour is not a hint a client should obey


def retry_after_s(metadata: Iterable[Any] | None) -> float | None:
    """The hint in a call's trailing metadata — (key, value) pairs, as ``grpc.aio`` gives them
    (its type stubs say otherwise: ``Any``) —, in seconds; None where there is none, or where it
    is not a whole number of milliseconds within ``0 … MAX_RETRY_AFTER_S`` (a peer's garbage is
    no instruction: the client's own backoff decides then)."""
    for key, value in metadata or ():
        if key != RETRY_AFTER_KEY:
            continue
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        if not text.isascii() or not text.isdigit() or len(text) > 10:
            return None
        seconds = int(text) / 1000
        return seconds if seconds <= MAX_RETRY_AFTER_S else None
    return None
