"""Challenge findings for logged reports, re-derived by the auditor.

The verifier looks a report's nonce up among the challenges it has issued (and logged) so
far; the auditor does the same in log order: a challenge counts only if it was logged before
the report. Freshness is :func:`pausewatch.freshness.challenge_is_live`, the verifier's rule.
Every outcome is authentic evidence the verifier keeps with a finding, so these are
observations, not audit failures; the verdict comparison checks that they were accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass

from pausewatch.freshness import NO_CHALLENGE, challenge_is_live
from pausewatch.reports import ReportHeader

__all__ = ["STALE_CHALLENGE", "UNKNOWN_CHALLENGE", "ChallengeRecord", "check_freshness"]

STALE_CHALLENGE = "freshness.stale_challenge"
UNKNOWN_CHALLENGE = "freshness.unknown_challenge"


@dataclass(frozen=True)
class ChallengeRecord:
    log_index: int
    nonce: bytes
    issued_ns: int
    expires_ns: int


def check_freshness(
    header: ReportHeader, index: int, challenge: ChallengeRecord | None, max_skew_ns: int
) -> tuple[str, str] | None:
    """None when the report answers a fresh challenge logged before it; else (finding, text)."""
    if header.challenge_nonce == NO_CHALLENGE:
        return (STALE_CHALLENGE, "the report answers no challenge")
    if challenge is None or challenge.log_index >= index:
        return (UNKNOWN_CHALLENGE, "the report answers a challenge not logged before it")
    if not challenge_is_live(
        challenge.issued_ns, challenge.expires_ns, header.period_start_ns, header.period_end_ns, max_skew_ns
    ):
        return (STALE_CHALLENGE, f"challenge {challenge.log_index} was not live during the report's period")
    return None
