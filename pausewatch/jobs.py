"""Job accounting: what a Slurm scheduler says ran, parsed into ``JobRecord`` values.

Pure parsers of the bytes a scheduler prints, so that the attestor beside the scheduler, the
verifier and an auditor read a job-accounting capture alike:

- ``parse_sacct``: ``sacct --parsable2`` (``|``-separated, header first) or ``--parsable``
  (a trailing delimiter), any ``--delimiter``, with or without a header (``fields`` names the
  columns when there is none). Only allocation lines count (``123``, ``123_4`` array tasks,
  ``123+0`` het components); step lines (``123.batch``, ``123.extern``, ``123.0``) describe
  the same allocation and are left out, so nothing is counted twice.
- ``parse_slurmrestd_jobs``: ``slurmrestd`` JSON, both the controller's ``/slurm/v0.0.x/jobs``
  (``job_state``, ``nodes``, ``start_time``/``end_time`` as epoch seconds or, from v0.0.40,
  ``{"set", "infinite", "number"}`` objects, ``tres_alloc_str``) and the database's
  ``/slurmdb/v0.0.x/jobs`` (``state.current``, ``time.{start,end,elapsed}``,
  ``tres.allocated[]`` of ``{type, name, count}``).

Conversions: times to unix ns; sacct prints local time, so read it with the ``tz`` the cluster
used (the attestor runs sacct with ``TZ=UTC``); ``Elapsed`` ``[D-]HH:MM:SS`` (also ``MM:SS`` and
fractions like ``23:08.358``) to seconds; GPUs from the allocated TRES: ``gres/gpu=N``, else the
sum of typed ``gres/gpu:<type>=N``; none listed is a CPU-only job, which counts zero
GPU-seconds. ``NodeList`` host ranges are expanded (``gpu[01-04,07]`` -> gpu01..gpu04, gpu07;
``r[1-2]n[1-2]`` -> the product). ``None``/``Unknown``/``None assigned`` are absent, never 0.
A line or job that cannot be read is skipped and listed in ``JobAccounting.problems``; so is one
that cannot be true: more GPUs than ``MAX_ACCELERATORS`` per host, or an end before its start.

``job_to_wire`` / ``job_from_wire``: a ``JobRecord`` as the ``AccountedJob`` an accounting report
signs (``pausewatch.v1.AccountingReport``), and back.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from pausewatch.errors import FormatError
from pausewatch.reports import MAX_ACCELERATORS
from pausewatch.v1 import types_pb2

__all__ = [
    "JobAccounting",
    "JobRecord",
    "expand_hostlist",
    "gpus_from_tres",
    "job_from_wire",
    "job_to_wire",
    "parse_elapsed",
    "parse_sacct",
    "parse_slurmrestd_jobs",
]

_NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_HOSTS = 100_000  # one host list; more is a hostile or broken capture
_ABSENT = {"", "none", "unknown", "none assigned", "(null)", "n/a", "invalid"}
_RUNNING = {"RUNNING", "PENDING", "SUSPENDED", "REQUEUED", "RESIZING", "COMPLETING", "CONFIGURING"}


@dataclass(frozen=True)
class JobRecord:
    """One allocation. ``end_ns`` None: still running (or never started: ``start_ns`` None too)."""

    job_id: str
    state: str
    nodes: tuple[str, ...]
    gpus: int  # allocated over all its nodes; 0 for a CPU-only job
    start_ns: int | None
    end_ns: int | None
    elapsed_s: float | None = None

    def __post_init__(self) -> None:
        if self.gpus < 0 or self.gpus > MAX_ACCELERATORS * max(1, len(self.nodes)):
            raise ValueError(
                f"{self.gpus} GPUs on {len(self.nodes)} host(s): a node holds at most {MAX_ACCELERATORS}"
            )
        if self.start_ns is not None and self.end_ns is not None and self.end_ns < self.start_ns:
            raise ValueError(f"ends ({self.end_ns}) before it starts ({self.start_ns})")
        if self.elapsed_s is not None and not (0 <= self.elapsed_s < float("inf")):
            raise ValueError(f"elapsed time {self.elapsed_s}")

    def gpu_seconds(self, until_ns: int | None = None) -> float:
        """GPUs x run time (to ``until_ns`` for a running job); 0 for a job that never started."""
        if self.gpus == 0 or self.start_ns is None:
            return 0.0
        if self.end_ns is None:
            if until_ns is None:
                return 0.0
            return self.gpus * max(0, until_ns - self.start_ns) / _NS
        seconds = self.elapsed_s if self.elapsed_s is not None else (self.end_ns - self.start_ns) / _NS
        return self.gpus * seconds

    def span(self, until_ns: int) -> tuple[int, int] | None:
        """[start, end) of the allocation, a running one up to ``until_ns``; None if never started."""
        if self.start_ns is None:
            return None
        return self.start_ns, self.end_ns if self.end_ns is not None else max(self.start_ns, until_ns)


@dataclass(frozen=True)
class JobAccounting:
    """The jobs a capture lists, and what in it could not be read (line or job, reason)."""

    jobs: tuple[JobRecord, ...]
    problems: tuple[str, ...] = field(default=())


def _absent(text: str) -> bool:
    return text.strip().lower() in _ABSENT or text.strip().lower().startswith("none")


def expand_hostlist(text: str) -> tuple[str, ...]:
    """Slurm host list -> host names, in order, without duplicates. ValueError if malformed."""
    text = text.strip()
    if _absent(text):
        return ()
    tokens: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"host list {text[:80]!r}: unbalanced ]")
        elif ch == "," and depth == 0:
            tokens.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise ValueError(f"host list {text[:80]!r}: unbalanced [")
    tokens.append(text[start:])
    out: dict[str, None] = {}
    for token in (t.strip() for t in tokens):
        if not token:
            continue
        for host in _expand_token(token, text):
            out[host] = None
            if len(out) > MAX_HOSTS:
                raise ValueError(f"host list {text[:80]!r}: more than {MAX_HOSTS} hosts")
    return tuple(out)


def _expand_token(token: str, whole: str) -> list[str]:
    parts = re.split(r"(\[[^\[\]]*\])", token)
    names = [""]
    for part in parts:
        if part.startswith("["):
            choices: list[str] = []
            for item in (i.strip() for i in part[1:-1].split(",")):
                match = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
                if match is None:
                    raise ValueError(f"host list {whole[:80]!r}: bad range {item!r}")
                low, high = match.group(1), match.group(2) or match.group(1)
                if int(high) < int(low) or int(high) - int(low) > MAX_HOSTS:
                    raise ValueError(f"host list {whole[:80]!r}: bad range {item!r}")
                width = len(low)  # zero padding as written: gpu[01-04] -> gpu01
                choices.extend(f"{n:0{width}d}" for n in range(int(low), int(high) + 1))
            if len(names) * len(choices) > MAX_HOSTS:
                raise ValueError(f"host list {whole[:80]!r}: more than {MAX_HOSTS} hosts")
            names = [n + c for n in names for c in choices]
        else:
            names = [n + part for n in names]
    return names


def parse_elapsed(text: str) -> float | None:
    """``[D-]HH:MM:SS``, ``MM:SS``, ``D-HH[:MM]`` with optional ``.fff`` -> seconds; None if absent."""
    raw = text.strip()
    if _absent(raw) or raw.upper() in ("UNLIMITED", "PARTITION_LIMIT"):
        return None
    match = re.fullmatch(r"(?:(\d+)-)?(\d+(?::\d+){0,2}(?:\.\d+)?)", raw)
    if match is None:
        raise ValueError(f"elapsed time {raw[:40]!r}")
    days, clock = match.groups()
    parts = clock.split(":")
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        parts += ["0"] * (3 - len(parts))
    elif len(parts) == 1:  # a bare number: minutes (Slurm's time convention)
        parts = ["0", parts[0], "0"]
    else:  # MM:SS or HH:MM:SS
        parts = ["0"] * (3 - len(parts)) + parts
    hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
    if "." in parts[0] or "." in parts[1]:
        raise ValueError(f"elapsed time {raw[:40]!r}")
    return int(days or 0) * 86400 + hours * 3600 + minutes * 60 + seconds


def gpus_from_tres(text: str) -> int:
    """GPUs in a TRES string (``billing=8,cpu=8,gres/gpu:v100=1,gres/gpu=1``); 0 when none."""
    total: int | None = None
    typed = 0
    for item in text.split(","):
        name, _, value = item.strip().partition("=")
        name = name.strip().lower()
        if name == "gres/gpu":
            total = _count(value)
        elif name.startswith("gres/gpu:"):
            typed += _count(value)
    return total if total is not None else typed


def _count(value: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*", value)
    if match is None:
        raise ValueError(f"GPU count {value[:40]!r}")
    return int(match.group(1))


def _time_ns(text: str, tz: tzinfo) -> int | None:
    raw = text.strip()
    if _absent(raw):
        return None
    stamp = datetime.fromisoformat(raw)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=tz)
    delta = stamp - _EPOCH  # exact integer arithmetic: no float rounding of ns
    return (delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000


def _state(text: str) -> str:
    return text.strip().split(" ", 1)[0].upper()  # "CANCELLED by 10304007" -> CANCELLED


def _finished(state: str, end_ns: int | None) -> int | None:
    return None if state in _RUNNING else end_ns


def parse_sacct(
    text: str,
    *,
    fields: Sequence[str] | None = None,
    delimiter: str = "|",
    tz: tzinfo = UTC,
) -> JobAccounting:
    """sacct ``--parsable``/``--parsable2`` output. FormatError when a needed column is missing."""
    lines = [line for line in text.splitlines() if line.strip()]
    first_line = 1
    if fields is None:
        if not lines:
            return JobAccounting(())
        fields = [f.strip() for f in lines[0].rstrip(delimiter).split(delimiter)]
        lines = lines[1:]
        first_line = 2
    names = [f.strip().lower() for f in fields]
    col = {n: i for i, n in enumerate(names)}
    missing = [n for n in ("jobid", "state", "nodelist", "start", "end") if n not in col]
    if missing:
        raise FormatError(f"sacct output lacks columns {missing}: ask for them with --format")
    tres_col = col.get("alloctres")
    jobs: list[JobRecord] = []
    problems: list[str] = []
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter, quoting=csv.QUOTE_NONE)
    for line_no, read in enumerate(reader, start=first_line):
        trailing = len(read) == len(names) + 1 and read[-1] == ""  # --parsable: a trailing delimiter
        row = read[:-1] if trailing else read
        if len(row) != len(names):
            problems.append(f"line {line_no}: {len(row)} fields, expected {len(names)}")
            continue
        job_id = row[col["jobid"]].strip()
        if not job_id or "." in job_id:
            continue  # a step of an allocation listed on its own line
        try:
            state = _state(row[col["state"]])
            start = _time_ns(row[col["start"]], tz)
            end = _finished(state, _time_ns(row[col["end"]], tz))
            elapsed = parse_elapsed(row[col["elapsed"]]) if "elapsed" in col else None
            jobs.append(
                JobRecord(
                    job_id=job_id,
                    state=state,
                    nodes=expand_hostlist(row[col["nodelist"]]),
                    gpus=gpus_from_tres(row[tres_col]) if tres_col is not None else 0,
                    start_ns=start,
                    end_ns=end,
                    elapsed_s=None if end is None else elapsed,
                )
            )
        except ValueError as e:
            problems.append(f"job {job_id[:40]}: {e}")
    return JobAccounting(tuple(jobs), tuple(problems))


def _epoch_ns(value: Any) -> int | None:
    """slurmrestd time: epoch seconds, or ``{"set": bool, "infinite": bool, "number": s}``; 0: unset."""
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if value is None:
            return None
        raise ValueError(f"time {str(value)[:40]!r}")
    return None if value <= 0 else int(value) * _NS


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"number {str(value)[:40]!r}")
    return float(value)


def _rest_job(job: dict[str, Any]) -> JobRecord:
    state_field = job.get("job_state", job.get("state"))
    if isinstance(state_field, dict):  # slurmdbd: {"current": "COMPLETED" | ["COMPLETED"], "reason": ...}
        state_field = state_field.get("current")
    if isinstance(state_field, list):  # v0.0.40+: a list of flags, the base state first
        state_field = state_field[0] if state_field else ""
    state = _state(str(state_field or ""))
    time_field = job.get("time")
    times: dict[str, Any] = time_field if isinstance(time_field, dict) else {}
    start = _epoch_ns(job["start_time"]) if "start_time" in job else _epoch_ns(times.get("start"))
    end = _epoch_ns(job["end_time"]) if "end_time" in job else _epoch_ns(times.get("end"))
    elapsed = _number(times.get("elapsed")) if "elapsed" in times else None
    gpus = 0
    tres = job.get("tres")
    if isinstance(tres, dict) and isinstance(tres.get("allocated"), list):
        for item in tres["allocated"]:
            is_gpu = isinstance(item, dict) and item.get("type") == "gres"
            if is_gpu and str(item.get("name", "")).split(":")[0] == "gpu":
                count = item.get("count")
                if isinstance(count, bool) or not isinstance(count, int):
                    raise ValueError(f"GPU count {str(count)[:40]!r}")
                gpus += count
    elif isinstance(job.get("tres_alloc_str"), str):
        gpus = gpus_from_tres(job["tres_alloc_str"])
    nodes = job.get("nodes", "")
    if not isinstance(nodes, str):
        raise ValueError(f"nodes {str(nodes)[:40]!r}")
    end = _finished(state, end)
    return JobRecord(
        job_id=str(job.get("job_id", "")),
        state=state,
        nodes=expand_hostlist(nodes),
        gpus=gpus,
        start_ns=start,
        end_ns=end,
        elapsed_s=None if end is None else elapsed,
    )


def parse_slurmrestd_jobs(text: str) -> JobAccounting:
    """slurmrestd ``jobs`` JSON (controller or database). FormatError if it is not a jobs document."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"slurmrestd jobs: not JSON: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), list):
        raise FormatError("slurmrestd jobs: no 'jobs' list")
    jobs: list[JobRecord] = []
    problems: list[str] = [f"slurmrestd error: {str(e)[:120]}" for e in _errors(doc.get("errors"))]
    for i, job in enumerate(doc["jobs"]):
        if not isinstance(job, dict):
            problems.append(f"jobs[{i}]: not an object")
            continue
        try:
            jobs.append(_rest_job(job))
        except (ValueError, TypeError) as e:
            problems.append(f"jobs[{i}] {str(job.get('job_id', ''))[:40]}: {e}")
    return JobAccounting(tuple(jobs), tuple(problems))


def _errors(value: Any) -> Iterable[Any]:
    return value if isinstance(value, list) else ()


def job_to_wire(job: JobRecord) -> types_pb2.AccountedJob:
    """The signed form of ``job``: hosts as the scheduler names them; an end without a start (a
    job cancelled before it ran) is left out: such a job held nothing."""
    msg = types_pb2.AccountedJob(job_id=job.job_id, state=job.state, gpus=job.gpus)
    msg.hosts.extend(job.nodes)
    if job.start_ns is not None:
        msg.start_unix_ns = job.start_ns
        if job.end_ns is not None:
            msg.end_unix_ns = job.end_ns
            if job.elapsed_s is not None:
                msg.elapsed_s = job.elapsed_s
    return msg


def job_from_wire(msg: types_pb2.AccountedJob, node_of: Callable[[str], str] = str) -> JobRecord:
    """A signed job as a ``JobRecord``, each host renamed by ``node_of`` (scheduler host name ->
    node id). ValueError for a job that cannot be true (``pausewatch.reports`` refuses a report
    holding one before it gets here)."""
    return JobRecord(
        job_id=msg.job_id,
        state=msg.state,
        nodes=tuple(dict.fromkeys(node_of(h) for h in msg.hosts)),
        gpus=msg.gpus,
        start_ns=msg.start_unix_ns if msg.HasField("start_unix_ns") else None,
        end_ns=msg.end_unix_ns if msg.HasField("end_unix_ns") else None,
        elapsed_s=msg.elapsed_s if msg.HasField("elapsed_s") else None,
    )
