"""What a Slurm scheduler says ran: the reading an accounting attestor beside the scheduler signs.

An attestor in ``mode = "accounting"`` (``docs/attestor-config.md``) reads the scheduler once
per period, for that period's window, with an ``AccountingSource``, and signs the jobs it lists
as one ``AccountingReport`` (``attestor.report.ReportBuilder.accounting``).

``read_sacct(window)`` runs ``sacct --allusers --allocations --parsable2 --state=RUNNING
--starttime S --endtime E --format=JobID,State,NodeList,Start,End,Elapsed,AllocTRES`` with
``TZ=UTC`` (sacct prints times in the local zone; this makes them UTC) and returns the exact
bytes it printed together with their parse (``pausewatch.jobs.parse_sacct``): with ``--state``
and a window, sacct lists the allocations that were running at any time in the window, which is
what the evaluation's ``pausewatch.evaluation.jobs.job_findings`` needs. The exact bytes are
kept beside their parse (``AccountingCapture.raw``) for whoever reads it; the report signs the
parse, so that what the verifier evaluates is what the attestor signed.

``read_slurmrestd(window, fetch)``: slurmrestd's (or slurmdbd's) ``jobs`` JSON, fetched by
``fetch`` (an ``HttpFetcher`` of the URL, with slurmrestd's ``auth/jwt`` headers when a user and
token file are configured, or a reader of a file another process refreshes),
keeping the jobs that held resources at some time in the window. The controller lists jobs
still in its memory (``MinJobAge`` after they end, 300 s by default): poll it at least that
often, or read slurmdbd (``/slurmdb/v0.0.x/jobs``), which keeps every job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from attestor.sources._http import HttpFetcher
from attestor.sources._process import run_tool
from pausewatch.errors import EnvironmentFaultError, LimitExceededError
from pausewatch.jobs import JobAccounting, parse_sacct, parse_slurmrestd_jobs

__all__ = [
    "SACCT_FIELDS",
    "AccountingCapture",
    "AccountingSource",
    "read_sacct",
    "read_slurmrestd",
    "sacct_args",
]

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


def read_slurmrestd(window: tuple[int, int], fetch: Callable[[], str]) -> AccountingCapture:
    """slurmrestd jobs JSON from ``fetch()``, cut to the jobs that held resources in ``window``
    (FormatError when it is not a jobs document; EnvironmentFaultError when the fetch fails)."""
    start, end = window
    if end <= start:
        raise ValueError(f"accounting window [{start}, {end}) is empty")
    raw = fetch()
    parsed = parse_slurmrestd_jobs(raw)
    kept = []
    for job in parsed.jobs:
        span = job.span(end)
        if span is not None and span[0] < end and (span[1] > start or job.end_ns is None):
            kept.append(job)
    return AccountingCapture("slurmrestd", window, raw, JobAccounting(tuple(kept), parsed.problems))


MAX_FILE_BYTES = 64 << 20


def _read_file(path: str) -> str:
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise EnvironmentFaultError(f"{path}: cannot read: {e}") from e
    if len(data) > MAX_FILE_BYTES:
        raise LimitExceededError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    return data.decode("utf-8", "replace")


@dataclass(frozen=True)
class AccountingSource:
    """Where an accounting attestor reads its scheduler: ``tool`` ``sacct`` (``binary``) or
    ``slurmrestd`` (``url``, or ``path`` of a JSON file another process refreshes)."""

    tool: str = "sacct"
    binary: str = "sacct"
    url: str = ""
    path: str = ""
    timeout_s: float = 30.0
    user: str = ""  # slurmrestd: X-SLURM-USER-NAME
    token_file: str = ""  # slurmrestd: a file holding the JWT (X-SLURM-USER-TOKEN), read each time

    def __post_init__(self) -> None:
        if self.tool not in ("sacct", "slurmrestd"):
            raise ValueError(f"accounting tool must be sacct or slurmrestd, got {self.tool!r}")
        if self.tool == "slurmrestd" and bool(self.url) == bool(self.path):
            raise ValueError("slurmrestd needs exactly one of url and path")

    def read(self, window: tuple[int, int]) -> AccountingCapture:
        """The jobs of ``window``; EnvironmentFaultError (or FormatError) when they cannot be read."""
        if self.tool == "sacct":
            return read_sacct(window, binary=self.binary, timeout_s=self.timeout_s)
        if self.url:
            auth = self._auth()
            fetch = HttpFetcher(self.url, timeout_s=self.timeout_s, max_bytes=MAX_FILE_BYTES, headers=auth)
            return read_slurmrestd(window, fetch)
        return read_slurmrestd(window, lambda: _read_file(self.path))

    def _auth(self) -> tuple[tuple[str, str], ...]:
        """slurmrestd's ``auth/jwt`` headers; the token is read anew for each request (tokens
        expire and are replaced in place, e.g. by ``scontrol token`` from cron)."""
        headers: list[tuple[str, str]] = []
        if self.user:
            headers.append(("X-SLURM-USER-NAME", self.user))
        if self.token_file:
            token = _read_file(self.token_file).strip()
            if not token or any(c in token for c in "\r\n"):
                raise EnvironmentFaultError(f"{self.token_file}: not one token line")
            headers.append(("X-SLURM-USER-TOKEN", token.removeprefix("SLURM_JWT=")))
        return tuple(headers)
