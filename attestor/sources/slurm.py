"""What a Slurm scheduler says ran: the reading an accounting attestor beside the scheduler signs.

``read_sacct(window)`` runs ``sacct --allusers --allocations --parsable2 --state=RUNNING
--starttime S --endtime E --format=JobID,State,NodeList,Start,End,Elapsed,AllocTRES`` with
``TZ=UTC`` (sacct prints times in the local zone; this makes them UTC) and returns the exact
bytes it printed together with their parse (``pausewatch.jobs.parse_sacct``): with ``--state``
and a window, sacct lists the allocations that were running at any time in the window, which is
what the evaluation's ``pausewatch.evaluation.jobs.job_findings`` needs. The raw bytes are what a
signed job-accounting report would carry, so that the verifier and an auditor re-parse them with
the same code. Not yet wired: no report message carries them and the daemon does not run this
(docs/telemetry.md, "Job accounting").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from attestor.sources._process import run_tool
from pausewatch.jobs import JobAccounting, parse_sacct

__all__ = ["SACCT_FIELDS", "AccountingCapture", "read_sacct", "sacct_args"]

SACCT_FIELDS = ("JobID", "State", "NodeList", "Start", "End", "Elapsed", "AllocTRES")
_NS = 1_000_000_000


@dataclass(frozen=True)
class AccountingCapture:
    """One accounting read: the window it is complete for, the bytes as printed, their parse."""

    tool: str
    window: tuple[int, int]  # unix ns, [start, end)
    raw: str
    accounting: JobAccounting


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // _NS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def sacct_args(window: tuple[int, int]) -> list[str]:
    """The sacct command line for the allocations running in ``window`` (UTC, whole seconds)."""
    start, end = window
    if end <= start:
        raise ValueError(f"accounting window [{start}, {end}) is empty")
    return [
        "--allusers",
        "--allocations",
        "--parsable2",
        "--state=RUNNING",
        f"--starttime={_iso(start)}",
        f"--endtime={_iso(end)}",
        f"--format={','.join(SACCT_FIELDS)}",
    ]


def read_sacct(
    window: tuple[int, int], *, binary: str = "sacct", timeout_s: float = 30.0
) -> AccountingCapture:
    """Run sacct for ``window`` with ``TZ=UTC``; EnvironmentFaultError when it is missing, fails
    or hangs. ``SLURM_TIME_FORMAT=standard`` keeps the ISO times the parser reads."""
    env = {"TZ": "UTC", "SLURM_TIME_FORMAT": "standard"}
    raw = run_tool(sacct_args(window), binary=binary, timeout_s=timeout_s, env=env)
    return AccountingCapture("sacct", window, raw, parse_sacct(raw))
