"""Recorded telemetry traces, read tolerantly: ``nvidia-smi --query-gpu`` CSV logs and node power logs.

Two formats (documented for users in ``docs/classify.md``):

- **GPU log**: the output of ``nvidia-smi --query-gpu=timestamp,power.draw,... --format=csv
  [-lms N]``, optionally gzipped, with its header line. Columns are found by name (the header
  may hold them in any order): ``timestamp``; ``index`` (or ``uuid`` / ``pci.bus_id``) naming the
  device, optional; ``power.draw`` (or ``power.draw.instant`` / ``power.draw.average``);
  ``utilization.gpu``; ``memory.used``; ``memory.total``; ``enforced.power.limit`` (or
  ``power.limit``); ``name``. Every other column (``utilization.memory``, clocks, temperatures)
  is read past. Without a device column, each sample is ``gpus`` consecutive rows, GPU 0 first,
  whose timestamps may differ by milliseconds.
- **Node power log**: ``timestamp,watts`` (e.g. a BMC's Redfish ``PowerConsumedWatts`` polled by
  a script); a reading of 0 or below is a failed poll and is left out.

Values may carry their unit (``547.76 W``, ``94 %``, ``41285 MiB``) or not (the header's
``[unit]`` then applies); ``[N/A]``, ``N/A``, any bracketed value (``[Not Supported]``,
``[GPU is lost]``) and empty fields are absent, never zero. Timestamps:
``YYYY/MM/DD HH:MM:SS[.fff]`` (nvidia-smi), ISO 8601, or unix seconds;
without a zone they are read as UTC (only differences matter).

Conversions to SI, here: W as given; ``%`` → fraction (/100); MiB → bytes (×1,048,576), also
KiB and GiB where the header or value says so.

Tolerance and refusal: a truncated last line (a logger killed mid-write) is left out with a
warning; any other line that does not parse is refused with ``TraceError`` naming the file,
the line and the reason, as is a file that is not text, has no recognisable header, or whose
rows do not group into samples of ``gpus`` devices. Pure: parsing takes text; only
``read_trace_text`` touches the file.
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pausewatch.errors import FormatError

__all__ = [
    "MAX_TRACE_BYTES",
    "DeviceRow",
    "GpuTrace",
    "NodePowerTrace",
    "TraceError",
    "parse_gpu_csv",
    "parse_node_power_csv",
    "read_trace_text",
]

MAX_TRACE_BYTES: Final = 2 * 1024**3  # decompressed; a day of 8-GPU 100-ms logging is ~0.5 GiB

_ABSENT: Final = frozenset(
    {"", "n/a", "[n/a]", "[not supported]", "not supported", "[unknown error]", "unknown error", "-"}
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
_NODE_POWER_COLUMNS: Final = ("watts", "power", "power_w", "node_power_w", "reading")
_SAME_INSTANT_S: Final = 0.025  # rows of one nvidia-smi sample are logged within milliseconds


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


def read_trace_text(path: Path) -> str:
    """The file's text (gunzipped when it starts with the gzip magic); TraceError otherwise."""
    try:
        with path.open("rb") as f:
            head = f.read(2)
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as g:
                data = g.read(MAX_TRACE_BYTES + 1)
        else:
            with path.open("rb") as f:
                data = f.read(MAX_TRACE_BYTES + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise TraceError(str(path), 0, f"cannot read: {e}") from e
    if len(data) > MAX_TRACE_BYTES:
        raise TraceError(str(path), 0, f"larger than {MAX_TRACE_BYTES} bytes")
    if b"\x00" in data[:65536]:
        raise TraceError(str(path), 1, "not a CSV text file (binary data)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise TraceError(str(path), line, f"not a CSV text file (not UTF-8: {e.reason})") from e


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


def _number(text: str, unit: str) -> float | None:
    """A value with or without its unit; None when absent. ValueError when it does not parse."""
    raw = text.strip()
    if raw.lower() in _ABSENT or (raw.startswith("[") and raw.endswith("]")):
        return None  # nvidia-smi brackets what it could not read: [GPU is lost], [Unknown Error]
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


def _timestamp(text: str) -> tuple[float, bool, bool]:
    """(value, zone-less, numeric): a date and time in seconds (nvidia-smi's, ISO 8601; a
    zone-less one read as UTC) or a number as written."""
    raw = text.strip()
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


@dataclass
class _Lines:
    """Non-empty lines with their 1-based line numbers; the header first."""

    path: str
    numbered: list[tuple[int, str]]
    repeated_headers: int = 0  # copies of the header line read past in the body

    @classmethod
    def of(cls, path: str, text: str) -> _Lines:
        """A copy of the header line in the body (a log that several runs of ``nvidia-smi ... >>
        log.csv`` appended to, each writing its header) is read past; a different header there is
        a line that does not parse, refused where it stands."""
        numbered = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if not numbered:
            raise TraceError(path, 1, "empty file: no header line")
        header = _split(numbered[0][1])
        body: list[tuple[int, str]] = []
        for i, line in numbered[1:]:
            fields = _split(line)
            if fields == header:
                continue
            if any(f.lower() in ("timestamp", "time") for f in fields):
                raise TraceError(
                    path, i, f"a header naming other columns than line {numbered[0][0]}'s: one log per file"
                )
            body.append((i, line))
        return cls(path, [numbered[0], *body], len(numbered) - 1 - len(body))

    def warnings(self) -> list[str]:
        if not self.repeated_headers:
            return []
        return [
            f"{self.path}: {self.repeated_headers} repeated header line(s) read past"
            " (a log appended to by several runs)"
        ]


def _find(names: Sequence[str], candidates: Sequence[str]) -> int | None:
    for c in candidates:
        if c in names:
            return names.index(c)
    return None


# ------------------------------------------------------------------ GPU logs


@dataclass(frozen=True)
class _Row:
    line: int
    time_s: float
    device: str | None
    model: str | None
    values: DeviceRow


def parse_gpu_csv(text: str, path: str, gpus: int) -> GpuTrace:
    """Parse an ``nvidia-smi --query-gpu ... --format=csv`` log of ``gpus`` devices."""
    if gpus < 1:
        raise TraceError(path, 0, f"--gpus must be at least 1, not {gpus}")
    lines = _Lines.of(path, text)
    header_line, header_text = lines.numbered[0]
    columns = _header(_split(header_text))
    names = [n for n, _ in columns]
    t_col = _find(names, ("timestamp", "time"))
    p_col = _find(names, _POWER_COLUMNS)
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

    rows: list[_Row] = []
    warnings = lines.warnings()
    clock = _Clock(path, units[t_col], warnings)
    truncated = False
    body = lines.numbered[1:]
    for position, (line_no, line) in enumerate(body):
        fields = _split(line)
        try:
            if len(fields) != len(columns):
                raise ValueError(f"{len(fields)} fields, the header names {len(columns)}")
            values = DeviceRow(
                power_w=_number(fields[p_col], unit(p_col, "power")) if p_col is not None else None,
                busy_fraction=_number(fields[u_col], unit(u_col, "util")) if u_col is not None else None,
                memory_used_bytes=_number(fields[m_col], unit(m_col, "mem")) if m_col is not None else None,
                memory_total_bytes=_number(fields[mt_col], unit(mt_col, "mem"))
                if mt_col is not None
                else None,
                power_limit_w=_number(fields[l_col], unit(l_col, "power")) if l_col is not None else None,
            )
            row = _Row(
                line_no,
                clock(fields[t_col], line_no),
                fields[d_col] if d_col is not None else None,
                fields[n_col] if n_col is not None else None,
                values,
            )
        except ValueError as e:
            if position == len(body) - 1:
                warnings.append(f"{path}:{line_no}: truncated last line left out ({e})")
                truncated = True
                break
            raise TraceError(path, line_no, str(e)) from e
        rows.append(row)
    if not rows:
        raise TraceError(path, header_line + 1, "no data rows after the header")
    if d_col is not None:
        times, grouped = _group_by_device(rows, path, gpus)
    else:
        times, grouped = _group_by_position(rows, path, gpus, truncated=truncated, warnings=warnings)
    models = tuple(sorted({r.model for r in rows if r.model}))
    return GpuTrace(Path(path).name, gpus, times, grouped, models, tuple(warnings))


def _group_by_position(
    rows: list[_Row], path: str, gpus: int, *, truncated: bool, warnings: list[str]
) -> tuple[tuple[float, ...], tuple[tuple[DeviceRow, ...], ...]]:
    """Samples of ``gpus`` consecutive rows, checked against how the rows cluster in time."""
    extra = len(rows) % gpus
    if extra:
        if not truncated:
            raise TraceError(
                path,
                rows[-extra].line,
                f"{len(rows)} data rows do not divide into samples of --gpus {gpus} rows"
                f" ({extra} left over from here)",
            )
        warnings.append(f"{path}:{rows[-extra].line}: incomplete last sample of {extra} rows left out")
        rows = rows[:-extra]
    if not rows:
        raise TraceError(path, 0, f"no complete sample of --gpus {gpus} rows")
    observed = _rows_per_instant(rows)
    if observed is not None and observed != gpus:
        raise TraceError(
            path,
            rows[0].line,
            f"the log writes {observed} rows per instant, but --gpus is {gpus}",
        )
    times: list[float] = []
    grouped: list[tuple[DeviceRow, ...]] = []
    t0 = rows[0].time_s
    for i in range(0, len(rows), gpus):
        group = rows[i : i + gpus]
        t = group[0].time_s - t0
        if times and t < times[-1]:
            if t < times[-1] - 1.0:
                raise TraceError(path, group[0].line, f"timestamp goes back {times[-1] - t:.3f} s")
            t = times[-1]  # clock jitter of a logger: keep time order
        times.append(t)
        grouped.append(tuple(r.values for r in group))
    return tuple(times), tuple(grouped)


def _rows_per_instant(rows: list[_Row]) -> int | None:
    """How many consecutive rows share one instant, when the log says so clearly, else None.

    Rows of one nvidia-smi sample are written within milliseconds; samples are at least tens of
    milliseconds apart. When most runs of same-instant rows have one length, that is the device
    count the log was written with.
    """
    runs: list[int] = []
    start = rows[0].time_s
    n = 0
    for r in rows:
        if abs(r.time_s - start) <= _SAME_INSTANT_S:
            n += 1
        else:
            runs.append(n)
            start, n = r.time_s, 1
    runs.append(n)
    if len(runs) < 4:
        return None
    size, count = Counter(runs).most_common(1)[0]
    gaps = [b.time_s - a.time_s for a, b in itertools.pairwise(rows) if b.time_s - a.time_s > _SAME_INSTANT_S]
    if not gaps or statistics.median(gaps) < 4 * _SAME_INSTANT_S:
        return None  # samples too close together to tell instants apart
    return size if count >= 0.8 * len(runs) else None


def _group_by_device(
    rows: list[_Row], path: str, gpus: int
) -> tuple[tuple[float, ...], tuple[tuple[DeviceRow, ...], ...]]:
    """Samples keyed by the device column: a new sample starts when a device repeats."""
    order: dict[str, int] = {}
    for r in rows:
        device = r.device or ""
        if device not in order:
            if len(order) == gpus:
                raise TraceError(path, r.line, f"device {device!r} is one more than --gpus {gpus}")
            order[device] = len(order)
    if len(order) != gpus:
        raise TraceError(path, 0, f"the log names {len(order)} devices, but --gpus is {gpus}")
    if all(d.isdigit() for d in order):
        order = {d: i for i, d in enumerate(sorted(order, key=int))}
    times: list[float] = []
    grouped: list[tuple[DeviceRow, ...]] = []
    current: dict[int, DeviceRow] = {}
    t0 = rows[0].time_s
    start: float | None = None
    last = -math.inf

    def flush() -> None:
        nonlocal last
        if start is None or not current:
            return
        t = max(start - t0, last)
        times.append(t)
        last = t
        grouped.append(tuple(current.get(i, DeviceRow()) for i in range(gpus)))

    for r in rows:
        i = order[r.device or ""]
        if i in current:
            flush()
            current = {}
            start = None
        if start is None:
            start = r.time_s
        if r.time_s - t0 < last - 1.0:
            raise TraceError(path, r.line, "timestamp goes back more than 1 s")
        current[i] = r.values
    flush()
    return tuple(times), tuple(grouped)


# ------------------------------------------------------------------ node power logs


def parse_node_power_csv(text: str, path: str) -> NodePowerTrace:
    """Parse a ``timestamp,watts`` node power log (readings ≤ 0 are failed polls, left out)."""
    lines = _Lines.of(path, text)
    header_line, header_text = lines.numbered[0]
    columns = _header(_split(header_text))
    names = [n for n, _ in columns]
    t_col = _find(names, ("timestamp", "time"))
    w_col = _find(names, _NODE_POWER_COLUMNS)
    if t_col is None or w_col is None:
        raise TraceError(
            path,
            header_line,
            f"no recognisable header: expected a node power log 'timestamp,watts', got {header_text[:120]!r}",
        )
    unit = columns[w_col][1] or "w"
    times: list[float] = []
    power: list[float] = []
    warnings = lines.warnings()
    clock = _Clock(path, columns[t_col][1], warnings)
    failed = 0
    body = lines.numbered[1:]
    t0: float | None = None
    for position, (line_no, line) in enumerate(body):
        fields = _split(line)
        try:
            if len(fields) != len(columns):
                raise ValueError(f"{len(fields)} fields, the header names {len(columns)}")
            t = clock(fields[t_col], line_no)
            w = _number(fields[w_col], unit)
        except ValueError as e:
            if position == len(body) - 1:
                warnings.append(f"{path}:{line_no}: truncated last line left out ({e})")
                break
            raise TraceError(path, line_no, str(e)) from e
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
