"""Recorded telemetry traces, read tolerantly: ``nvidia-smi --query-gpu`` CSV logs and node power logs.

Two formats (documented for users in ``docs/classify.md``):

- **GPU log**: the output of ``nvidia-smi --query-gpu=timestamp,power.draw,... --format=csv
  [-lms N]``, optionally gzipped, with its header line. Columns are found by name (the header
  may hold them in any order): ``timestamp``; ``index`` (or ``uuid`` / ``pci.bus_id``) naming the
  device, optional; ``power.draw`` (or ``power.draw.instant`` / ``power.draw.average``: the first
  that holds a value); ``utilization.gpu``; ``memory.used``; ``memory.total``;
  ``enforced.power.limit`` (or ``power.limit``); ``name``. Every other column
  (``utilization.memory``, clocks, temperatures) is read past. Without a device column, each
  sample is ``gpus`` consecutive rows, GPU 0 first, whose timestamps may differ by milliseconds:
  the rows are cut into instants where they are further apart than the log's own gaps within a
  sample (``_instant_gap``), the log's rows per instant must be ``gpus``, and a sample that lacks
  rows is left out rather than joined to the next. With one, rows may come in any order.
- **Node power log**: ``timestamp,watts`` (e.g. a BMC's Redfish ``PowerConsumedWatts`` polled by
  a script); a reading of 0 or below is a failed poll and is left out.

Values may carry their unit (``547.76 W``, ``94 %``, ``41285 MiB``) or not (the header's
``[unit]`` then applies); ``[N/A]``, ``N/A``, any bracketed value (``[Not Supported]``,
``[GPU is lost]``), ``None``, ``nan``, ``null``, ``ERR!`` and empty fields are absent, never
zero. Timestamps: ``YYYY/MM/DD HH:MM:SS[.fff]`` (nvidia-smi), ISO 8601, or numbers (a string of
digits is always a number); without a zone they are read as UTC (only differences matter).

Conversions to SI, here: W as given; ``%`` → fraction (/100); MiB → bytes (×1,048,576), also
KiB and GiB where the header or value says so.

Tolerance and refusal: read past with a warning are lines before the header (a banner), copies
of the header (runs appended to one file; each starts its samples afresh), nvidia-smi's message
lines among the rows, the last line of a run when it does not parse (a logger killed
mid-write), an incomplete sample, and the unreadable end of a gzip stream cut short. Any other
line that does not parse is refused with ``TraceError`` naming the file, the line and the
reason, as is a file that is not text (or is bz2, xz, zip), has no recognisable header, or whose
rows do not group into samples of ``gpus`` devices. Pure: parsing takes text; only
``read_trace`` touches the file.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from pausewatch.errors import FormatError

__all__ = [
    "MAX_TRACE_BYTES",
    "DeviceRow",
    "GpuTrace",
    "NodePowerTrace",
    "TraceError",
    "TraceText",
    "parse_gpu_csv",
    "parse_node_power_csv",
    "read_trace",
    "read_trace_text",
]

MAX_TRACE_BYTES: Final = 2 * 1024**3  # decompressed; a day of 8-GPU 100-ms logging is ~0.5 GiB

# what loggers write for a value they could not read: nvidia-smi's, and a script's (Python's None
# and nan, JSON's null, nvidia-smi's ERR! in its table view)
_ABSENT: Final = frozenset(
    {"", "n/a", "[n/a]", "[not supported]", "not supported", "[unknown error]", "unknown error", "-"}
    | {"none", "null", "nan", "-nan", "err!", "error"}
)
_MIB: Final = 1024.0 * 1024.0
_SCALE: Final = {
    "w": 1.0,
    "mw": 1e-3,
    "kw": 1e3,
    "%": 0.01,
    "b": 1.0,
    "kib": 1024.0,
    "mib": _MIB,
    "gib": _MIB * 1024.0,
}
_POWER_COLUMNS: Final = ("power.draw", "power.draw.instant", "power.draw.average")
_LIMIT_COLUMNS: Final = ("enforced.power.limit", "power.limit")
_DEVICE_COLUMNS: Final = ("index", "uuid", "pci.bus_id")
_NODE_POWER_COLUMNS: Final = (
    "watts",
    "power",
    "power_w",
    "power_watts",
    "node_power_w",
    "node_power_watts",
    "power_consumed_watts",
    "powerconsumedwatts",  # Redfish's PowerConsumedWatts as a column name
    "reading",
)
# the clock of a node power log: an absolute time first, then seconds since its start
_NODE_TIME_COLUMNS: Final = ("timestamp", "time", "datetime", "date_time", "time_seconds", "time_s")
_R = TypeVar("_R")  # a parsed line


class TraceError(FormatError):
    """A trace that cannot be read: ``path:line: reason`` (line 0: the file as a whole)."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class DeviceRow:
    """One device at one instant, in SI units; None: not in the trace at that row."""

    power_w: float | None = None
    busy_fraction: float | None = None
    memory_used_bytes: float | None = None
    memory_total_bytes: float | None = None
    power_limit_w: float | None = None


@dataclass(frozen=True)
class GpuTrace:
    """A GPU log: per instant (s since the first), one row per device, GPU 0 first."""

    name: str
    devices: int
    times_s: tuple[float, ...]
    rows: tuple[tuple[DeviceRow, ...], ...]
    model_names: tuple[str, ...]  # the ``name`` column's distinct values, if any
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class NodePowerTrace:
    """A node power log: instants (s since the first) and the node's power in W."""

    name: str
    times_s: tuple[float, ...]
    power_w: tuple[float, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class TraceText:
    """A trace file's text, and what reading it had to tolerate."""

    text: str
    warnings: tuple[str, ...]


# Compressions other than gzip, by their magic bytes: named, so that the refusal says what to do.
_OTHER_ARCHIVES: Final = ((b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"))
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")


def read_trace(path: Path) -> TraceText:
    """The file's text: gunzipped when it starts with the gzip magic, UTF-16 decoded when it
    starts with a UTF-16 byte order mark (PowerShell's ``>`` writes it), else UTF-8.

    A gzip stream that ends early (a logger killed before it closed the file, a copy cut short)
    is read as far as it decompresses, its last, possibly cut, line left out with a warning.
    TraceError otherwise."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TRACE_BYTES + 1)
    except OSError as e:
        raise TraceError(str(path), 0, f"cannot read: {e}") from e
    if len(data) > MAX_TRACE_BYTES:
        raise TraceError(str(path), 0, f"larger than {MAX_TRACE_BYTES} bytes")
    warnings: list[str] = []
    if data[:2] == b"\x1f\x8b":
        data, complete = _gunzip(data, str(path))
        if not complete:
            cut = data.rfind(b"\n") + 1
            warnings.append(
                f"{path}: the gzip stream ends early (no end marker): read the {cut} bytes that"
                " decompress, up to the last whole line"
            )
            data = data[:cut]
    for magic, kind in _OTHER_ARCHIVES:
        if data.startswith(magic):
            raise TraceError(str(path), 0, f"{kind} compressed: decompress it first (gzip is read as is)")
    if data[:2] in _UTF16_BOMS:
        try:
            return TraceText(data.decode("utf-16"), tuple(warnings))
        except UnicodeDecodeError as e:
            raise TraceError(str(path), 0, f"not a CSV text file (bad UTF-16: {e.reason})") from e
    if b"\x00" in data[:65536]:
        raise TraceError(str(path), 1, "not a CSV text file (binary data)")
    try:
        return TraceText(data.decode("utf-8-sig"), tuple(warnings))
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise TraceError(str(path), line, f"not a CSV text file (not UTF-8: {e.reason})") from e


def read_trace_text(path: Path) -> str:
    """``read_trace(path).text``."""
    return read_trace(path).text


def _gunzip(data: bytes, path: str) -> tuple[bytes, bool]:
    """The gzip stream's members, decompressed, and whether the last one ended with its end
    marker. Zero padding after a member is read past, as ``gzip`` does."""
    out: list[bytes] = []
    size = 0
    while True:
        member = zlib.decompressobj(wbits=31)
        try:
            chunk = member.decompress(data, MAX_TRACE_BYTES + 1 - size)
        except zlib.error as e:
            raise TraceError(path, 0, f"cannot read: not a valid gzip stream ({e})") from e
        out.append(chunk)
        size += len(chunk)
        if size > MAX_TRACE_BYTES:
            raise TraceError(path, 0, f"larger than {MAX_TRACE_BYTES} bytes")
        if not member.eof:
            return b"".join(out), False
        data = member.unused_data.lstrip(b"\x00")
        if not data:
            return b"".join(out), True
        if data[:2] != b"\x1f\x8b":
            raise TraceError(path, 0, "cannot read: data after the gzip stream that is not gzip")


# ------------------------------------------------------------------ fields


def _split(line: str) -> list[str]:
    """A CSV line of nvidia-smi's kind: comma-separated, no quoting of its own."""
    if '"' in line:
        import csv  # noqa: PLC0415  # rare: quoted fields, e.g. a device name with a comma

        return [f.strip() for f in next(csv.reader([line], skipinitialspace=True))]
    return [f.strip() for f in line.split(",")]


def _header(fields: Sequence[str]) -> list[tuple[str, str]]:
    """(name, unit) per column: ``power.draw [W]`` → (``power.draw``, ``w``)."""
    out = []
    for f in fields:
        name, unit = f, ""
        if f.endswith("]") and " [" in f:
            name, _, rest = f.partition(" [")
            unit = rest[:-1]
        out.append((name.strip().lower(), unit.strip().lower()))
    return out


def _is_absent(text: str) -> bool:
    raw = text.strip()
    # nvidia-smi brackets what it could not read: [GPU is lost], [Unknown Error]
    return raw.lower() in _ABSENT or (raw.startswith("[") and raw.endswith("]"))


def _number(text: str, unit: str) -> float | None:
    """A value with or without its unit; None when absent. ValueError when it does not parse."""
    raw = text.strip()
    if _is_absent(raw):
        return None
    parts = raw.split()
    if len(parts) == 2:
        unit = parts[1].lower()
    elif len(parts) != 1:
        raise ValueError(f"{raw!r} is not a number")
    value = float(parts[0].rstrip("%"))
    if parts[0].endswith("%"):
        unit = "%"
    if not math.isfinite(value):
        raise ValueError(f"{raw!r} is not a finite number")
    if unit and unit not in _SCALE:
        raise ValueError(f"{raw!r}: unknown unit {unit!r}")
    return value * _SCALE.get(unit, 1.0)


_TIME_FORMATS: Final = ("%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S")
# a numeric timestamp's unit, where the header names it (``timestamp [ms]``)
_TIME_UNITS: Final = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("ms", "msec", "millisecond", "milliseconds"), 1e-3),
    **dict.fromkeys(("us", "µs", "μs", "usec", "microsecond", "microseconds"), 1e-6),  # micro sign, mu
    **dict.fromkeys(("ns", "nsec", "nanosecond", "nanoseconds"), 1e-9),
}
# Without one, unix time by magnitude: seconds below 1e11 (the year 5138), then milliseconds,
# microseconds, nanoseconds — what loggers and exporters write (Prometheus and JavaScript: ms;
# Go and DCGM: µs or ns). Read as seconds, a log in ms spans 1000 times its length.
_UNIX_MAGNITUDES: Final = ((1e17, 1e-9), (1e14, 1e-6), (1e11, 1e-3))


_NUMERIC: Final = re.compile(r"\d+(\.\d*)?|\.\d+")


def _timestamp(text: str) -> tuple[float, bool, bool]:
    """(value, zone-less, numeric): a date and time in seconds (nvidia-smi's, ISO 8601; a
    zone-less one read as UTC) or a number as written."""
    raw = text.strip()
    if _NUMERIC.fullmatch(raw) and math.isfinite(float(raw)):
        # a number, never a date: Python 3.11's fromisoformat reads '1778010100024' (unix ms) as
        # the ISO 8601 basic date 1778-01-01 00:24
        return float(raw), False, True
    for fmt in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(raw, fmt).replace(tzinfo=dt.UTC).timestamp(), True, False
        except ValueError:
            pass
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        if when.tzinfo is None:
            return when.replace(tzinfo=dt.UTC).timestamp(), True, False
        return when.timestamp(), False, False
    try:
        value = float(raw)
    except ValueError as e:
        raise ValueError(f"{raw!r} is not a timestamp") from e
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{raw!r} is not a timestamp")
    return value, False, True


class _Clock:
    """A log's timestamp column, read in seconds.

    - A number is in the unit the header names (``timestamp [ms]``), else unix time by its
      magnitude (``_UNIX_MAGNITUDES``) — the unit is chosen once, from the log's first number,
      so that a clock crossing a magnitude mid-log is not read in two units. A unit the header
      names that is no time unit is refused at the first number (over dates it says nothing:
      ``timestamp [UTC]``).
    - Zone-less dates are local time (nvidia-smi writes it): where the clock falls back at the
      end of daylight saving time and an hour repeats (a step back of 59 to 60 minutes), that
      row and the later ones are read an hour on, with a warning. A zoned date or a number
      never falls back; any other step back is left for the caller to refuse.
    """

    HOUR_S: Final = 3600.0
    FALL_BACK_MIN_S: Final = 3540.0  # a step back from a sample before the change to one after
    FALL_BACK_MAX_S: Final = 3601.0
    MAX_SPAN_S: Final = 10 * 365.25 * 86400.0  # no log spans ten years: a unit misread, or a fault

    def __init__(self, path: str, unit: str, warnings: list[str]) -> None:
        self.path, self.unit, self.warnings = path, unit, warnings
        self.scale: float | None = _TIME_UNITS.get(unit) if unit else None
        self.first: float | None = None
        self.shift = 0.0
        self.high = -math.inf

    def __call__(self, text: str, line: int) -> float:
        """Seconds of the timestamp ``text`` at ``line``; ValueError when it does not parse."""
        t, zoneless, numeric = _timestamp(text)
        if numeric:
            if self.unit and self.unit not in _TIME_UNITS:  # the header's fault: never a cut line
                why = f"the header's timestamp unit {self.unit!r} is not a time unit (s, ms, us, ns)"
                raise TraceError(self.path, line, why)
            scale = next((unit for bound, unit in _UNIX_MAGNITUDES if t >= bound), 1.0)
            if self.scale is None:
                self.scale = scale  # read from the first number's magnitude, for the whole log
            elif not self.unit and scale != self.scale:
                raise ValueError(
                    f"timestamp {text.strip()!r} reads as unix time in another unit than the log's"
                    " first number: name the unit in the header (timestamp [ms])"
                )
            t *= self.scale
        if zoneless:
            t += self.shift
            if self.FALL_BACK_MIN_S <= self.high - t <= self.FALL_BACK_MAX_S:
                self.shift += self.HOUR_S
                t += self.HOUR_S
                self.warnings.append(
                    f"{self.path}:{line}: the time falls back an hour: read as the end of daylight"
                    " saving time (nvidia-smi writes local time), this row and later ones an hour on"
                )
        if self.first is None:
            self.first = t
        elif t - self.first > self.MAX_SPAN_S:
            raise ValueError(f"timestamp {text.strip()!r} is over ten years after the log's first")
        self.high = max(self.high, t)
        return t


# nvidia-smi writes these among its rows when it cannot read a device ("Unable to determine the
# device handle for GPU 0000:9B:00.0: Unknown Error", "WARNING: infoROM is corrupted at gpu ..."):
# a line of one field (no comma), read past; that device's row is missing from the sample
_MESSAGE: Final = re.compile(
    r"(unable to determine|warning:|error:|failed to|no devices were found|nvidia-smi has failed"
    r"|gpu is lost)",
    re.IGNORECASE,
)
_BANNER_MAX: Final = 10  # lines before the header read past (a script's "# started on node17")


def _is_header(fields: Sequence[str]) -> bool:
    return any(name in ("timestamp", "time") for name, _ in _header(fields))


@dataclass
class _Lines:
    """A log's header line, and its body as runs: a log that several runs of ``nvidia-smi ... >>
    log.csv`` appended to holds one run after each copy of the header. Non-empty lines, with
    their 1-based line numbers."""

    path: str
    header: tuple[int, str]
    runs: list[list[tuple[int, str]]]
    warnings: list[str]

    @classmethod
    def of(cls, path: str, text: str) -> _Lines:
        """Lines before the header (a banner, a comment) and nvidia-smi's messages among the rows
        are read past with a warning; a different header in the body is a line that does not
        parse, refused where it stands."""
        numbered = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if not numbered:
            raise TraceError(path, 1, "empty file: no header line")
        start = next((k for k, (_, line) in enumerate(numbered[:_BANNER_MAX]) if _is_header(_split(line))), 0)
        warnings = []
        if start:
            warnings.append(f"{path}:{numbered[0][0]}: {start} line(s) before the header read past")
        header_line, header_text = numbered[start]
        header = _split(header_text)
        glued = header_text.strip()
        runs: list[list[tuple[int, str]]] = [[]]
        repeated = messages = 0
        for i, line in numbered[start + 1 :]:
            fields = _split(line)
            if fields == header:
                repeated += 1
                runs.append([])
                continue
            if len(fields) == 1 and _MESSAGE.match(fields[0]):
                messages += 1
                continue
            if line.rstrip().endswith(glued):
                # a logger killed mid-line, then a new run appending its header right after it
                warnings.append(f"{path}:{i}: a line cut short by the next run's header: left out")
                repeated += 1
                runs.append([])
                continue
            if _is_header(fields):
                why = f"a header naming other columns than line {header_line}'s: one log per file"
                raise TraceError(path, i, why)
            runs[-1].append((i, line))
        if repeated:
            warnings.append(
                f"{path}: {repeated} repeated header line(s) read past (a log appended to by several runs)"
            )
        if messages:
            warnings.append(
                f"{path}: {messages} nvidia-smi message line(s) read past (a device it could not read:"
                " its row is missing from that sample)"
            )
        return cls(path, (header_line, header_text), runs, warnings)


def _find(names: Sequence[str], candidates: Sequence[str]) -> int | None:
    for c in candidates:
        if c in names:
            return names.index(c)
    return None


def _rows_of_runs(
    lines: _Lines, ncolumns: int, parse: Callable[[list[str], int], _R]
) -> list[list[_R]]:
    """Each run's lines parsed by ``parse``. The last line of a run that does not parse is a line a
    killed logger cut short: left out with a warning. Any other is refused: TraceError."""
    runs: list[list[_R]] = []
    for run in lines.runs:
        rows: list[_R] = []
        for position, (line_no, line) in enumerate(run):
            fields = _split(line)
            try:
                if len(fields) != ncolumns:
                    raise ValueError(f"{len(fields)} fields, the header names {ncolumns}")
                rows.append(parse(fields, line_no))
            except ValueError as e:
                if position == len(run) - 1:
                    lines.warnings.append(f"{lines.path}:{line_no}: truncated last line left out ({e})")
                    break
                raise TraceError(lines.path, line_no, str(e)) from e
        runs.append(rows)
    return runs


# ------------------------------------------------------------------ GPU logs


@dataclass(frozen=True)
class _Row:
    line: int
    time_s: float
    device: str | None
    model: str | None
    values: DeviceRow


def _column_with_values(lines: _Lines, columns: Sequence[int]) -> int | None:
    """The first of ``columns`` that holds a value in some row (``power.draw`` is [N/A] on boards
    that report only ``power.draw.instant``), else the first."""
    if len(columns) > 1:
        for col in columns:
            for run in lines.runs:
                for _, line in run:
                    fields = _split(line)
                    if col < len(fields) and not _is_absent(fields[col]):
                        return col
    return columns[0] if columns else None


def parse_gpu_csv(text: str, path: str, gpus: int) -> GpuTrace:
    """Parse an ``nvidia-smi --query-gpu ... --format=csv`` log of ``gpus`` devices."""
    if gpus < 1:
        raise TraceError(path, 0, f"--gpus must be at least 1, not {gpus}")
    lines = _Lines.of(path, text)
    header_line, header_text = lines.header
    columns = _header(_split(header_text))
    names = [n for n, _ in columns]
    t_col = _find(names, ("timestamp", "time"))
    p_col = _column_with_values(lines, [names.index(c) for c in _POWER_COLUMNS if c in names])
    u_col = _find(names, ("utilization.gpu",))
    if t_col is None or (p_col is None and u_col is None):
        raise TraceError(
            path,
            header_line,
            "no recognisable header: expected an nvidia-smi --query-gpu CSV header naming timestamp and"
            f" power.draw or utilization.gpu, got {header_text[:120]!r}",
        )
    m_col = _find(names, ("memory.used",))
    mt_col = _find(names, ("memory.total",))
    l_col = _find(names, _LIMIT_COLUMNS)
    d_col = _find(names, _DEVICE_COLUMNS)
    n_col = _find(names, ("name",))
    units = [u for _, u in columns]
    defaults = {"power": "w", "util": "%", "mem": "mib"}

    def unit(col: int, kind: str) -> str:
        return units[col] or defaults[kind]

    clock = _Clock(path, units[t_col], lines.warnings)

    def row(fields: list[str], line_no: int) -> _Row:
        values = DeviceRow(
            power_w=_number(fields[p_col], unit(p_col, "power")) if p_col is not None else None,
            busy_fraction=_number(fields[u_col], unit(u_col, "util")) if u_col is not None else None,
            memory_used_bytes=_number(fields[m_col], unit(m_col, "mem")) if m_col is not None else None,
            memory_total_bytes=_number(fields[mt_col], unit(mt_col, "mem")) if mt_col is not None else None,
            power_limit_w=_number(fields[l_col], unit(l_col, "power")) if l_col is not None else None,
        )
        return _Row(
            line_no,
            clock(fields[t_col], line_no),
            fields[d_col] if d_col is not None else None,
            fields[n_col] if n_col is not None else None,
            values,
        )

    runs = _rows_of_runs(lines, len(columns), row)
    rows = [r for run in runs for r in run]
    if not rows:
        raise TraceError(path, header_line + 1, "no data rows after the header")
    warnings = lines.warnings
    if d_col is not None:
        times, grouped = _group_by_device(rows, path, gpus)
    else:
        times, grouped = _group_by_position([run for run in runs if run], path, gpus, warnings)
    models = tuple(sorted({r.model for r in rows if r.model}))
    return GpuTrace(Path(path).name, gpus, times, grouped, models, tuple(warnings))


_INSTANT_SPLIT: Final = 4.0  # gaps between samples are at least this many times those within one


def _instant_gap(gaps: Sequence[float]) -> float | None:
    """The gap between rows that parts one instant from the next, where the log's gaps fall in two
    groups far apart (between rows of one sample; between samples), else None.

    Found from the log itself, so that it holds at any sampling rate: the split of the gaps'
    logarithms (in 1/20 decades, below 1 ms as 1 ms: timestamps in ms) with the largest variance
    between the two sides (Otsu's), taken halfway between the sides' means, where those are at
    least ``_INSTANT_SPLIT`` apart. A fixed gap would not do: rows of an 8-GPU sample are up to 25 ms
    apart at 1 s, and samples 100 ms apart at ``-lms 100``."""
    if len(gaps) < 8:
        return None
    bins = Counter(round(20 * math.log10(max(g, 1e-3))) for g in gaps)
    keys = sorted(bins)
    total, total_sum = len(gaps), sum(k * n for k, n in bins.items())
    best: tuple[float, float, float] | None = None
    low = low_sum = 0
    for k in keys[:-1]:
        low += bins[k]
        low_sum += k * bins[k]
        m0, m1 = low_sum / low, (total_sum - low_sum) / (total - low)
        spread = low * (total - low) * (m1 - m0) ** 2
        if best is None or spread > best[0]:
            best = (spread, m0, m1)
    if best is None or best[2] - best[1] < 20 * math.log10(_INSTANT_SPLIT):
        return None
    return 10 ** ((best[1] + best[2]) / 40)


def _instants(run: Sequence[_Row], gap: float | None) -> list[list[_Row]]:
    """``run`` cut where consecutive rows are more than ``gap`` apart (None: each row alone)."""
    out: list[list[_Row]] = []
    for r in run:
        if out and gap is not None and r.time_s - out[-1][-1].time_s <= gap:
            out[-1].append(r)
        else:
            out.append([r])
    return out


def _group_by_position(
    runs: list[list[_Row]], path: str, gpus: int, warnings: list[str]
) -> tuple[tuple[float, ...], tuple[tuple[DeviceRow, ...], ...]]:
    """Samples of ``gpus`` consecutive rows, GPU 0 first, checked against how the rows cluster in
    time: the log's own count of rows per instant must be ``gpus``; a sample that lacks rows
    (an unreadable device, a run killed mid-sample) is left out, not joined to the next."""
    rows = [r for run in runs for r in run]
    gap = _instant_gap([b.time_s - a.time_s for run in runs for a, b in itertools.pairwise(run)])
    instants = [i for run in runs for i in _instants(run, gap)]
    observed = _rows_per_instant(instants, gap)
    if observed is not None and observed != gpus:
        if observed % gpus == 0 and all(r.time_s.is_integer() for r in rows):
            raise TraceError(
                path,
                rows[0].line,
                f"{observed} rows share each timestamp: the timestamps lack sub-second precision, so"
                " samples logged faster than once a second cannot be told apart (log nvidia-smi's own"
                " timestamps, or add an index column)",
            )
        extra = len(rows) % gpus
        if extra:
            raise TraceError(
                path,
                rows[-extra].line,
                f"{len(rows)} data rows do not divide into samples of --gpus {gpus} rows"
                f" ({extra} left over from here); the log writes {_rows(observed)} per instant",
            )
        why = f"the log writes {_rows(observed)} per instant, but --gpus is {gpus}"
        raise TraceError(path, rows[0].line, why)
    samples: list[list[_Row]] = []
    dropped: list[str] = []
    whole_seconds = all(r.time_s.is_integer() for r in rows)
    for run in runs:
        if whole_seconds:
            samples += _whole_second_samples(run, gpus, path)
        else:
            samples += _samples(_instants(run, gap), gpus, dropped)
    if dropped:
        warnings.append(
            f"{path}: {len(dropped)} incomplete sample(s) left out (rows missing at line"
            f" {', '.join(dropped[:5])}{', …' if len(dropped) > 5 else ''})"
        )
    if not samples:
        raise TraceError(path, 0, f"no complete sample of --gpus {gpus} rows")
    if observed is None:
        _check_one_instant_each(samples, path, gpus)
    times: list[float] = []
    grouped: list[tuple[DeviceRow, ...]] = []
    t0 = samples[0][0].time_s
    for group in samples:
        t = group[0].time_s - t0
        if times and t < times[-1]:
            if t < times[-1] - 1.0:
                raise TraceError(path, group[0].line, f"timestamp goes back {times[-1] - t:.3f} s")
            t = times[-1]  # clock jitter of a logger: keep time order
        times.append(t)
        grouped.append(tuple(r.values for r in group))
    return tuple(times), tuple(grouped)


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


def _whole_second_samples(run: Sequence[_Row], gpus: int, path: str) -> list[list[_Row]]:
    """One run's rows as samples of ``gpus`` consecutive rows, where every timestamp is a whole
    second. A second's change says nothing of where a sample begins: a sample logged across
    one (rows 0-3 at 12:00:00, 4-7 at 12:00:01) shares its second with the next one's first
    rows, and cutting at the change joined one sample's tail to the next one's head, every
    later sample's devices shifted (a review, 2026-12-07). So rows are taken in order, and a
    run whose rows do not divide into samples is refused: where a row is missing cannot be
    seen."""
    extra = len(run) % gpus
    if extra:
        raise TraceError(
            path,
            run[0].line,
            f"this run's {len(run)} rows do not divide into samples of --gpus {gpus} rows, and its"
            " timestamps (whole seconds) cannot show which sample lacks one: add an index column"
            " (nvidia-smi --query-gpu=index,...) or log millisecond timestamps",
        )
    out = [list(run[k : k + gpus]) for k in range(0, len(run), gpus)]
    for sample in out:
        if sample[-1].time_s - sample[0].time_s > 1.0:
            raise TraceError(
                path,
                sample[0].line,
                f"the {gpus} rows of one sample span {sample[-1].time_s - sample[0].time_s:.0f} s:"
                " is --gpus right, or is a row missing before this line?",
            )
    return out


def _samples(instants: list[list[_Row]], gpus: int, dropped: list[str]) -> list[list[_Row]]:
    """One run's rows as samples of ``gpus`` rows, in order, from its instants.

    Rows are taken in the order written, an instant's rows completing the sample begun before it
    where together they make whole samples: a sample spread over two instants (rows logged late,
    1.4 % of the samples of the real 100-ms 8-GPU log) is kept. Where they do not, the rows
    before the instant are a sample that lacks some: left out (``dropped`` gets its first line),
    never joined to the next sample's rows, which would shift every later sample's devices."""
    out: list[list[_Row]] = []
    pending: list[_Row] = []
    for instant in instants:
        if pending and len(pending) + len(instant) > gpus and (len(pending) + len(instant)) % gpus:
            dropped.append(str(pending[0].line))
            pending = []
        pending += instant
        while len(pending) >= gpus:
            out.append(pending[:gpus])
            pending = pending[gpus:]
    if pending:
        dropped.append(str(pending[0].line))
    return out


def _rows_per_instant(instants: Sequence[Sequence[_Row]], gap: float | None) -> int | None:
    """How many rows the log writes per instant, where it says so clearly, else None: the size most
    instants have, or 1 where the gaps between rows are all of one kind and not zero (each row its
    own instant: one device)."""
    if len(instants) < 4:
        return None
    if gap is None:
        rows = [r for i in instants for r in i]
        distinct = sum(1 for a, b in itertools.pairwise(rows) if b.time_s != a.time_s)
        return 1 if distinct >= 0.8 * (len(rows) - 1) else None
    size, count = Counter(len(i) for i in instants).most_common(1)[0]
    return size if count >= 0.8 * len(instants) else None


def _check_one_instant_each(samples: Sequence[Sequence[_Row]], path: str, gpus: int) -> None:
    """Where the log's instants say nothing clear (gaps of one kind, sizes of no one kind), its
    samples still must not span most of the time to the next: a sample's rows are logged within
    a small part of it. Where most samples span more than a quarter of it, ``--gpus`` joins
    several instants into one."""
    if gpus == 1 or len(samples) < 4:
        return
    wide = sum(
        1
        for a, b in itertools.pairwise(samples)
        if a[-1].time_s - a[0].time_s > 0.25 * (b[0].time_s - a[0].time_s) > 0
    )
    if wide > 0.2 * (len(samples) - 1):
        raise TraceError(
            path,
            samples[0][0].line,
            f"samples of --gpus {gpus} rows span several of the log's instants ({wide} of"
            f" {len(samples) - 1}): the log writes fewer rows per instant",
        )


def _group_by_device(
    rows: list[_Row], path: str, gpus: int
) -> tuple[tuple[float, ...], tuple[tuple[DeviceRow, ...], ...]]:
    """Samples keyed by the device column, in time order: a new sample starts when a device
    repeats. Rows may come in any order across devices (a log sorted by GPU, per-GPU files
    concatenated); each device's own clock must not go back."""
    order: dict[str, int] = {}
    latest: dict[str, float] = {}
    for r in rows:
        device = r.device or ""
        if device not in order:
            if len(order) == gpus:
                raise TraceError(path, r.line, f"device {device!r} is one more than --gpus {gpus}")
            order[device] = len(order)
        elif r.time_s < latest[device] - 1.0:
            raise TraceError(
                path, r.line, f"timestamp goes back {latest[device] - r.time_s:.3f} s for device {device!r}"
            )
        latest[device] = max(latest.get(device, -math.inf), r.time_s)
    if len(order) != gpus:
        raise TraceError(path, 0, f"the log names {len(order)} devices, but --gpus is {gpus}")
    if all(d.isdigit() for d in order):
        order = {d: i for i, d in enumerate(sorted(order, key=int))}
    rows = sorted(rows, key=lambda r: r.time_s)  # stable: rows of one instant keep their order
    times: list[float] = []
    grouped: list[tuple[DeviceRow, ...]] = []
    current: dict[int, DeviceRow] = {}
    t0 = rows[0].time_s
    start: float | None = None

    def flush() -> None:
        if start is None or not current:
            return
        times.append(start - t0)
        grouped.append(tuple(current.get(i, DeviceRow()) for i in range(gpus)))

    for r in rows:
        i = order[r.device or ""]
        if i in current:
            flush()
            current = {}
            start = None
        if start is None:
            start = r.time_s
        current[i] = r.values
    flush()
    return tuple(times), tuple(grouped)


# ------------------------------------------------------------------ node power logs


def parse_node_power_csv(text: str, path: str) -> NodePowerTrace:
    """Parse a ``timestamp,watts`` node power log (readings ≤ 0 are failed polls, left out)."""
    lines = _Lines.of(path, text)
    header_line, header_text = lines.header
    columns = _header(_split(header_text))
    names = [n for n, _ in columns]
    t_col = _find(names, _NODE_TIME_COLUMNS)
    w_col = _find(names, _NODE_POWER_COLUMNS)
    if t_col is None or w_col is None:
        raise TraceError(
            path,
            header_line,
            f"no recognisable header: expected a node power log 'timestamp,watts', got {header_text[:120]!r}",
        )
    unit = columns[w_col][1] or "w"
    clock = _Clock(path, columns[t_col][1], lines.warnings)

    def reading(fields: list[str], line_no: int) -> tuple[int, float, float | None]:
        return line_no, clock(fields[t_col], line_no), _number(fields[w_col], unit)

    readings = [r for run in _rows_of_runs(lines, len(columns), reading) for r in run]
    times: list[float] = []
    power: list[float] = []
    warnings = lines.warnings
    failed = 0
    t0: float | None = None
    for line_no, t, w in readings:
        if t0 is None:
            t0 = t
        rel = t - t0
        if times and rel < times[-1]:
            if rel < times[-1] - 1.0:
                raise TraceError(path, line_no, f"timestamp goes back {times[-1] - rel:.3f} s")
            rel = times[-1]
        if w is None or w <= 0:
            failed += 1
            continue
        times.append(rel)
        power.append(w)
    if failed:
        warnings.append(f"{path}: {failed} readings of 0 W or absent (failed polls) left out")
    if not times:
        raise TraceError(path, header_line + 1, "no usable power reading")
    return NodePowerTrace(Path(path).name, tuple(times), tuple(power), tuple(warnings))
