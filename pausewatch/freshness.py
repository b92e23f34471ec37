"""Challenge freshness and clock skew: one pure rule for the verifier and the auditor.

The rule reads only the log: a report at log index ``i`` is judged against the challenges
logged *before* ``i``. So the verifier, deciding as it appends, and an auditor, replaying the
log offline, reach the same findings — which the verdicts depend on.

Let ``skew`` be the agreed maximum clock skew, and the report's period ``[start, end)``.

- ``freshness.stale_challenge``: the report answers no challenge (an all-zero nonce), or its
  challenge was not live for the period. A challenge is live when it was issued no later than
  ``end + skew`` (the nonce could not be known long before the period) and either it had not
  expired by ``start - skew``, or no newer challenge had been issued before ``start - skew``
  — so a report delivered late after a verifier outage, answering the last challenge the
  verifier issued before going away, is late but not stale (even for the periods just before
  the verifier came back: a challenge issued after a period began cannot be asked of it). An
  attestor that merely lost contact while the verifier kept issuing challenges is stale:
  pre-generated reports look exactly like that.
- ``freshness.unknown_challenge``: the nonce names no challenge logged before the report.
- ``freshness.clock_skew``: the report says it was signed (or its period ended) more than
  ``skew`` after the newest logged challenge expired — it claims a time the log had not
  reached. The newest challenge is the log's own clock: the verifier issues one at start and
  every interval after.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from pausewatch.errors import InternalError
from pausewatch.reports import ReportHeader

__all__ = [
    "CLOCK_SKEW",
    "NO_CHALLENGE",
    "STALE_CHALLENGE",
    "UNKNOWN_CHALLENGE",
    "ChallengeHistory",
    "ChallengeRecord",
    "FreshnessIssue",
    "assess_freshness",
]

NO_CHALLENGE: Final = bytes(32)
STALE_CHALLENGE: Final = "freshness.stale_challenge"
UNKNOWN_CHALLENGE: Final = "freshness.unknown_challenge"
CLOCK_SKEW: Final = "freshness.clock_skew"


@dataclass(frozen=True)
class ChallengeRecord:
    """A logged challenge, as freshness needs it."""

    log_index: int
    nonce: bytes
    issued_ns: int
    expires_ns: int


@dataclass(frozen=True)
class FreshnessIssue:
    finding_id: str
    message: str
    evidence: tuple[int, ...]                          # log indices: the report, then the challenge
    quantities: tuple[tuple[str, float, str], ...] = ()  # (name, value, SI unit)


class ChallengeHistory:
    """The logged challenges in log order, answering freshness's questions about a position."""

    def __init__(self, records: Iterable[ChallengeRecord] = ()) -> None:
        self._indices: list[int] = []
        self._records: list[ChallengeRecord] = []
        self._by_nonce: dict[bytes, int] = {}
        for record in sorted(records, key=lambda r: r.log_index):
            self.add(record)

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: ChallengeRecord) -> None:
        """Append a challenge logged after every one already held."""
        if self._indices and record.log_index <= self._indices[-1]:
            raise InternalError(
                f"challenge at log index {record.log_index} added after {self._indices[-1]}"
            )
        self._by_nonce.setdefault(record.nonce, len(self._records))
        self._indices.append(record.log_index)
        self._records.append(record)

    def answered(
        self, nonce: bytes, before_index: int
    ) -> tuple[ChallengeRecord, ChallengeRecord | None] | None:
        """The challenge with ``nonce`` logged before ``before_index``, and the next one logged
        after it (also before ``before_index``), if any."""
        pos = self._by_nonce.get(nonce)
        if pos is None or self._records[pos].log_index >= before_index:
            return None
        nxt = pos + 1
        successor = (
            self._records[nxt]
            if nxt < len(self._records) and self._records[nxt].log_index < before_index
            else None
        )
        return self._records[pos], successor

    def newest_before(self, index: int) -> ChallengeRecord | None:
        pos = bisect.bisect_left(self._indices, index)
        return self._records[pos - 1] if pos else None


def assess_freshness(
    header: ReportHeader, report_index: int, history: ChallengeHistory, skew_ns: int
) -> list[FreshnessIssue]:
    """The freshness findings of a report logged at ``report_index`` (see the module rule)."""
    issues: list[FreshnessIssue] = []
    start, end = header.period_start_ns, header.period_end_ns
    if header.challenge_nonce == NO_CHALLENGE:
        issues.append(FreshnessIssue(STALE_CHALLENGE, "the report answers no challenge", (report_index,)))
    else:
        found = history.answered(header.challenge_nonce, report_index)
        if found is None:
            issues.append(
                FreshnessIssue(
                    UNKNOWN_CHALLENGE, "the report answers no challenge logged before it", (report_index,)
                )
            )
        else:
            challenge, successor = found
            not_yet_issued = challenge.issued_ns > end + skew_ns
            superseded = successor is not None and successor.issued_ns < start - skew_ns
            expired = challenge.expires_ns < start - skew_ns
            if not_yet_issued or (expired and superseded):
                issues.append(
                    FreshnessIssue(
                        STALE_CHALLENGE,
                        f"challenge {challenge.log_index} was not live during the report's period",
                        (report_index, challenge.log_index),
                        (("expired_before_period_s", (start - challenge.expires_ns) / 1e9, "s"),),
                    )
                )
    newest = history.newest_before(report_index)
    if newest is not None:
        ahead = max(header.signed_ns, end) - newest.expires_ns
        if ahead > skew_ns:
            issues.append(
                FreshnessIssue(
                    CLOCK_SKEW,
                    "the report claims a time after the newest logged challenge expired",
                    (report_index, newest.log_index),
                    (("ahead_s", ahead / 1e9, "s"),),
                )
            )
    return issues
