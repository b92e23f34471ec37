"""Bounded time (issue 12, row 12): how far into the past a submission may reach.

A late report revises every closed verdict from its bucket on (compute to date sums them all;
:mod:`verifier.scheduler`), and a commitment evaluates every bucket from its window start. One
report dated ten months back caused 7,359 verdict revisions; one commitment whose window began
eleven months ago, 8,103 verdicts. So, against log time (:mod:`verifier.log_time`):

- a report whose period ended more than ``limits.max_report_age_s`` (7 days) ago is refused,
  FAILED_PRECONDITION, nothing stored: at most that much history is revised by one report —
  about ``max_report_age_s / bucket`` buckets per facility and commitment. Attestors spool and
  deliver late within it (a verifier outage of up to a week costs nothing);
- a commitment whose window starts more than ``limits.max_commitment_backdate_s`` (7 days)
  before log time is refused the same way — unless it is a new version of a commitment whose
  logged window already started there (a lab revising its commitment keeps its window).

Pure: values in, nothing or an error out.
"""

from __future__ import annotations

from typing import Final

from pausewatch.commitment import Commitment
from pausewatch.reports import ReportHeader
from verifier.errors import BackdatedCommitmentError, ReportTooOldError

__all__ = ["DEFAULT_MAX_AGE_S", "check_commitment_window", "check_report_age"]

DEFAULT_MAX_AGE_S: Final = 7 * 86_400.0
_NS_PER_S: Final = 1_000_000_000
_NS_PER_DAY: Final = 86_400 * _NS_PER_S


def _days(ns: int) -> str:
    return f"{ns / _NS_PER_DAY:.2f} days"


def check_report_age(header: ReportHeader, log_time_ns: int, max_age_ns: int) -> None:
    """Raise ReportTooOldError when the report's period ended more than ``max_age_ns`` before
    ``log_time_ns``."""
    age = log_time_ns - header.period_end_ns
    if age > max_age_ns:
        raise ReportTooOldError(
            f"report period ended {_days(age)} before log time; reports older than"
            f" {_days(max_age_ns)} are refused (limits.max_report_age_s)"
        )


def check_commitment_window(
    commitment: Commitment, previous: Commitment | None, log_time_ns: int, max_backdate_ns: int
) -> None:
    """Raise BackdatedCommitmentError when the window starts more than ``max_backdate_ns``
    before ``log_time_ns`` and not at or after the logged previous version's start."""
    backdate = log_time_ns - commitment.window_start_ns
    if backdate <= max_backdate_ns:
        return
    if previous is not None and commitment.window_start_ns >= previous.window_start_ns:
        return  # a new version keeps (or shortens) a window its lab already committed to
    raise BackdatedCommitmentError(
        f"commitment {commitment.commitment_id!r}: window.start is {_days(backdate)} before log time;"
        f" a window may start at most {_days(max_backdate_ns)} back (limits.max_commitment_backdate_s)"
    )
