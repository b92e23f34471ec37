"""The challenge freshness rule, one pure definition for the verifier and the auditor.

A report for the period ``[start, end)`` answers its challenge freshly when the challenge was
issued by the verifier and ``issued <= end + skew`` and ``expires >= start - skew``: the nonce
could not have been known long before the period, and was still live when the period began.
An all-zero nonce means "no challenge yet" and is never fresh. (The verifier's
``verifier/ingest.py`` states the same rule; it should call :func:`challenge_is_live`.)
"""

from __future__ import annotations

from typing import Final

__all__ = ["NO_CHALLENGE", "challenge_is_live"]

NO_CHALLENGE: Final = bytes(32)


def challenge_is_live(
    issued_ns: int, expires_ns: int, period_start_ns: int, period_end_ns: int, skew_ns: int
) -> bool:
    """Whether a challenge valid over ``[issued, expires]`` was live for the report period."""
    return issued_ns <= period_end_ns + skew_ns and expires_ns >= period_start_ns - skew_ns
