"""Trace replay: recorded power logs played on the injected clock.

Two families of file, told apart by the header:

- **per-GPU** (``nvidia-smi --query-gpu=timestamp,power.draw,utilization.gpu,memory.used
  --format=csv[,nounits] -lms N``): header ``timestamp, power.draw [W], utilization.gpu [%],
  memory.used [MiB]`` (the utilisation and memory columns are optional, other columns such as
  ``name`` or ``utilization.memory [%]`` are ignored). A file holds one device, or a whole node
  with ``devices`` consecutive rows per instant (GPU 0..n-1 in order, no index column: rows are
  grouped by position, not by timestamp).
- **node-level** (a BMC or PDU poller's log): a ``timestamp`` column and one power column named
  ``watts``, ``power``, ``power_w``, ``node_power``, ``node_power_w``, ``system_power`` or
  ``reading`` (any of them with a ``[W]`` suffix), one row per instant. Its reading is the node's
  intake: ``HostReading.bmc_power_w`` for a node, the single channel for a meter.

Timestamps: ``YYYY/MM/DD HH:MM:SS[.fff]`` (nvidia-smi), ISO 8601 (``2026-05-05T19:14:51``,
``T`` or a space, optional fraction and offset) or unix seconds; only differences between
instants are used, so local time is fine. ``.gz`` files are read directly.

Units: power W, with or without the unit in the value (``547.76 W`` or ``547.76``; ``kW`` x1000
and ``mW`` /1000 are converted); ``utilization.gpu`` percent -> fraction (/100);
``memory.used`` MiB -> bytes (x 1048576). No energy counter: energy is integrated from power.
``[N/A]``, ``N/A``, ``[Not Supported]`` and an empty field are absent (``None``), never 0. A
value that does not parse is absent and recorded as a SOURCE_ERROR anomaly with its raw text
when its row is played. With ``zero_is_missing`` (for loggers that write 0 when a BMC query
failed, as the Cisco H200 log does), a node reading of exactly 0 W is absent with an anomaly.

Devices: a ``index``/``uuid``/``pci.bus_id``/``gpu_id`` column groups rows by device (an instant
ends where a device repeats); without one, ``devices`` consecutive rows make an instant, and
``devices = 0`` tells the count from the timestamps (rows of one pass lie within 20 ms).

A capture cut short (the file does not end in a newline, or a ``.gz`` stream stops early) loses
its last, partial line: it is ignored with a warning and counted in ``Trace.truncated_tail``.
Other malformed rows are skipped and counted for one-device files; in a multi-device file a
malformed row in the middle breaks the positional grouping, so it is a FormatError.

Playback: the trace's first instant is aligned to the first ``sample`` call; each sample returns
the latest trace instant at or before (now - start), looping when ``loop`` is set (otherwise the
devices vanish when the trace ends).
"""

from __future__ import annotations

import bisect
import csv
import itertools
import logging
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from attestor.telemetry import AnomalyKind, DeviceReading, HostReading, Sample, SourceAnomaly, SourceKind
from pausewatch.errors import FormatError

__all__ = ["NODE_POWER_COLUMNS", "ReplaySource", "Trace", "load_trace"]

_log = logging.getLogger("pausewatch.attestor.sources")

_MIB = 1024.0 * 1024.0
_NS = 1_000_000_000
_ABSENT = ("", "[n/a]", "n/a", "[not supported]", "not supported", "[unknown error]", "unknown error")
# The units a value may carry, each to SI; a value without one has its column header's unit
# (``power.draw [W]``), or, with no unit in the header either, the first one listed.
_POWER_UNITS = {"w": 1.0, "watts": 1.0, "kw": 1000.0, "mw": 0.001}  # W
_PERCENT = {"%": 0.01}  # percent -> fraction
_MEMORY_UNITS = {"mib": _MIB, "kib": 1024.0, "gib": _MIB * 1024.0}  # -> bytes
NODE_POWER_COLUMNS = ("watts", "power", "power_w", "node_power", "node_power_w", "system_power", "reading")
_DEVICE_COLUMNS = ("index", "uuid", "pci.bus_id", "gpu_id")
_SAME_INSTANT_S = 0.02  # rows of one nvidia-smi pass are ms apart; -lms periods are >= 50 ms
_MAX_BYTES = 1 << 30  # a decompressed trace larger than this is refused (a gzip bomb, not a log)


@dataclass(frozen=True)
class _Row:
    power_w: float | None
    busy_fraction: float | None
    memory_used_bytes: float | None
    bad: tuple[tuple[str, str], ...]  # (metric, raw text)


@dataclass(frozen=True)
class Trace:
    """A parsed trace: instants (ns from the first) and, per instant, one row per device.

    ``node_level``: the power is the whole node's intake (one row per instant), not a GPU's.
    """

    name: str
    offsets_ns: tuple[int, ...]
    rows: tuple[tuple[_Row, ...], ...]
    devices: int
    skipped_rows: int = 0  # malformed rows left out (one-device files only)
    node_level: bool = False
    truncated_tail: bool = False  # the last line was cut short and ignored
    device_ids: tuple[str, ...] = ()  # from a device column (index, uuid...), in play order

    @property
    def duration_ns(self) -> int:
        return self.offsets_ns[-1] if self.offsets_ns else 0


def _value(
    text: str, units: dict[str, float], default: str, metric: str, bad: list[tuple[str, str]]
) -> float | None:
    """``text`` in SI: its own unit suffix if it has one of ``units``, else the column's ``default``.

    Absent markers give None. A unit outside ``units`` (``12 %`` in a power column) is bad input.
    """
    raw = text.strip()
    if raw.lower() in _ABSENT:
        return None
    number, scale = raw, units.get(default)
    for unit in sorted(units, key=len, reverse=True):  # "kW" before "W"
        if raw.lower().endswith(unit):
            number, scale = raw[: -len(unit)].strip(), units[unit]
            break
    try:
        if scale is None:
            raise ValueError(default)
        return float(number) * scale
    except ValueError:
        bad.append((metric, raw[:80]))
        return None


def _timestamp(text: str) -> float:
    """Seconds on the trace's own clock (nvidia-smi, ISO 8601 or unix seconds); ValueError if none."""
    raw = text.strip()
    try:
        return float(raw)
    except ValueError:
        pass
    for fmt in ("%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S"):
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            pass
    # ISO 8601; a time without an offset is read as UTC so that all instants share one clock
    # (a local-time log then plays without daylight-saving jumps).
    stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return (stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)).timestamp()


def _read_text(path: Path) -> tuple[str, bool]:
    """The file's text and whether it was cut short (a partial gzip stream or no final newline)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FormatError(f"{path}: cannot read trace: {e}") from e
    cut = False
    if path.suffix == ".gz":
        out = bytearray()
        rest = data
        while rest:  # one gzip member after another (a log appended with ``gzip >>``)
            inflate = zlib.decompressobj(wbits=31)  # gzip header
            try:
                out += inflate.decompress(rest, _MAX_BYTES + 1 - len(out))
            except zlib.error as e:
                raise FormatError(f"{path}: cannot read trace: {e}") from e
            if len(out) > _MAX_BYTES or inflate.unconsumed_tail:
                raise FormatError(f"{path}: decompresses to more than {_MAX_BYTES} bytes")
            if not inflate.eof:
                cut = True  # the stream stops mid-member
                break
            rest = inflate.unused_data
        data = bytes(out)
    try:
        text = data.decode("utf-8") if not cut else data.decode("utf-8", "ignore")
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: cannot read trace: {e}") from e
    return text, cut or (bool(text) and not text.endswith("\n"))


def load_trace(path: Path, devices: int = 1, *, zero_is_missing: bool = False) -> Trace:  # noqa: PLR0915 -- one pass over a trace format
    """Parse a trace file; FormatError names the file and line on structural problems.

    ``devices``: rows per instant; 0 to tell from the timestamps. A file with a device column
    (``index``, ``uuid``, ``pci.bus_id``, ``gpu_id``) is grouped by it, whatever ``devices`` says
    (a different count above 1 is an error).
    """
    if devices < 0:
        raise FormatError(f"{path}: devices must be 0 (detect) or more")
    text, cut = _read_text(path)
    lines = text.splitlines()
    if cut and lines:
        _log.warning(
            "trace ends in a partial line: ignored",
            extra={"fields": {"path": str(path), "line": len(lines), "text": lines[-1][:80]}},
        )
        lines.pop()
    reader = csv.reader(lines, skipinitialspace=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration as e:
        raise FormatError(f"{path}: empty trace") from e
    names = [h.split(" [", 1)[0].strip() for h in header]
    header_units = [h.split(" [", 1)[1].rstrip("]").strip().lower() if " [" in h else "" for h in header]
    col = {n: i for i, n in enumerate(names)}
    node_column = next((c for c in NODE_POWER_COLUMNS if c in {n.lower() for n in names}), None)
    if not names or names[0].lower() != "timestamp" or ("power.draw" not in col and node_column is None):
        raise FormatError(
            f"{path}: header must start with timestamp and include power.draw or a node power column"
            f" ({', '.join(NODE_POWER_COLUMNS)}): {header}"
        )
    node_level = "power.draw" not in col
    id_col = next((col[n] for n in _DEVICE_COLUMNS if n in col), None)
    if node_level:
        if devices not in (0, 1):
            raise FormatError(f"{path}: a node-level power log has one row per instant; devices must be 1")
        power_col = next(i for i, n in enumerate(names) if n.lower() == node_column)
    else:
        power_col = col["power.draw"]
    stamps: list[float] = []
    flat: list[_Row] = []
    ids: list[str] = []
    skipped = 0
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            if len(row) != len(names):
                raise ValueError(f"{len(row)} columns, header has {len(names)}")
            stamp = _timestamp(row[0])
        except ValueError as e:
            # Grouped by position, a broken row breaks the grouping of the rows after it; the
            # last row has none after it (a logger stopped mid-row, then wrote a newline).
            if devices != 1 and id_col is None and line_no != len(lines):
                raise FormatError(f"{path}:{line_no}: {e}") from e
            if line_no == len(lines):
                _log.warning(
                    "trace's last row is malformed: ignored",
                    extra={"fields": {"path": str(path), "line": line_no, "error": str(e)[:80]}},
                )
            skipped += 1
            continue
        bad: list[tuple[str, str]] = []
        power = _value(row[power_col], _POWER_UNITS, header_units[power_col] or "w", "power_w", bad)
        if node_level and zero_is_missing and power == 0.0:
            bad.append(("bmc_power_w", "0 (the logger's mark for a failed read)"))
            power = None
        util = mem = None
        if "utilization.gpu" in col:
            c = col["utilization.gpu"]
            util = _value(row[c], _PERCENT, header_units[c] or "%", "busy_fraction", bad)
        if "memory.used" in col:
            c = col["memory.used"]
            mem = _value(row[c], _MEMORY_UNITS, header_units[c] or "mib", "memory_used_bytes", bad)
        stamps.append(stamp)
        flat.append(_Row(power, util, mem, tuple(bad)))
        if id_col is not None:
            ids.append(row[id_col].strip())
    if id_col is not None:
        return _by_device_column(path, (stamps, flat, ids), devices=devices, skipped=skipped, cut=cut)
    if node_level:
        devices = 1
    elif devices == 0:
        devices = _rows_per_instant(path, stamps)
    usable = len(flat) - len(flat) % devices
    if usable == 0:
        raise FormatError(f"{path}: no complete instant of {devices} rows")
    first = stamps[0]
    offsets: list[int] = []
    groups: list[tuple[_Row, ...]] = []
    for i in range(0, usable, devices):
        offset = round((stamps[i] - first) * _NS)
        if offsets and offset < offsets[-1]:
            raise FormatError(f"{path}: timestamps go backwards at row {i + 2}")
        offsets.append(offset)
        groups.append(tuple(flat[i : i + devices]))
    return Trace(path.name, tuple(offsets), tuple(groups), devices, skipped, node_level, cut)


def _rows_per_instant(path: Path, stamps: list[float]) -> int:
    """Rows per instant of a log without a device column: rows of one instant lie within
    ``_SAME_INSTANT_S`` of each other; the run length must be the same almost everywhere."""
    runs: list[int] = []
    run = 1
    for before, after in itertools.pairwise(stamps[:2001]):
        if abs(after - before) <= _SAME_INSTANT_S:
            run += 1
        else:
            runs.append(run)
            run = 1
    if not runs:
        raise FormatError(f"{path}: cannot tell how many devices a row group holds: give devices")
    best = max(set(runs), key=runs.count)
    if runs.count(best) < 0.9 * len(runs):
        raise FormatError(f"{path}: rows per instant vary ({sorted(set(runs))[:8]}): give devices")
    return best


def _by_device_column(
    path: Path,
    rows_of: tuple[list[float], list[_Row], list[str]],
    *,
    devices: int,
    skipped: int,
    cut: bool,
) -> Trace:
    """Instants of a log with a device column: an instant ends where a device repeats; the device
    order is the first instant's; an instant missing a device is left out (counted)."""
    order: list[str] = []
    groups: list[tuple[float, dict[str, _Row]]] = []
    for stamp, row, device in zip(*rows_of, strict=True):
        if not groups or device in groups[-1][1]:
            groups.append((stamp, {}))
        groups[-1][1][device] = row
        if len(groups) == 1:
            order.append(device)
    if not order:
        raise FormatError(f"{path}: no rows")
    if devices > 1 and devices != len(order):
        raise FormatError(f"{path}: its device column lists {len(order)} devices, not {devices}")
    first = groups[0][0]
    offsets: list[int] = []
    rows: list[tuple[_Row, ...]] = []
    for stamp, members in groups:
        if set(members) != set(order):
            skipped += len(members)
            continue
        offset = round((stamp - first) * _NS)
        if offsets and offset < offsets[-1]:
            raise FormatError(f"{path}: timestamps go backwards at {stamp}")
        offsets.append(offset)
        rows.append(tuple(members[d] for d in order))
    if not rows:
        raise FormatError(f"{path}: no instant with every device")
    return Trace(path.name, tuple(offsets), tuple(rows), len(order), skipped, False, cut, tuple(order))


class ReplaySource:
    """Plays ``trace`` for devices named ``uuids`` (one per trace device).

    A node-level trace plays as the node's ``bmc_power_w``, or, with ``as_meter``, as the single
    channel named ``uuids[0]`` (as the Redfish source does).
    """

    def __init__(
        self,
        trace: Trace,
        uuids: list[str],
        *,
        model: str = "",
        loop: bool = True,
        kind: SourceKind = SourceKind.TRACE_REPLAY,
        as_meter: bool = False,
    ) -> None:
        if len(uuids) != trace.devices:
            raise FormatError(f"trace {trace.name} has {trace.devices} devices; {len(uuids)} uuids given")
        self._trace = trace
        self._uuids = uuids
        self._model = model
        self._loop = loop
        self._kind = kind
        self._as_meter = as_meter
        self._start_ns: int | None = None

    @property
    def kind(self) -> SourceKind:
        return self._kind

    def close(self) -> None:
        return None

    def sample(self, now_ns: int) -> Sample:
        if self._start_ns is None:
            self._start_ns = now_ns
        elapsed = max(0, now_ns - self._start_ns)
        t = self._trace
        if elapsed > t.duration_ns:
            if not self._loop:
                return Sample(now_ns, self._kind, f"replay {t.name}")
            elapsed %= t.duration_ns + 1
        index = bisect.bisect_right(t.offsets_ns, elapsed) - 1
        devices: list[DeviceReading] = []
        anomalies: list[SourceAnomaly] = []
        rows = t.rows[max(index, 0)]
        if t.node_level and not self._as_meter:
            (row,) = rows
            anomalies.extend(SourceAnomaly(AnomalyKind.SOURCE_ERROR, m, raw) for m, raw in row.bad)
            host = HostReading(bmc_power_w=row.power_w)
            return Sample(now_ns, self._kind, f"replay {t.name}", (), host, tuple(anomalies))
        for uuid, row in zip(self._uuids, rows, strict=True):
            devices.append(
                DeviceReading(
                    uuid=uuid,
                    model=self._model,
                    power_w=row.power_w,
                    busy_fraction=row.busy_fraction,
                    memory_used_bytes=row.memory_used_bytes,
                )
            )
            anomalies.extend(SourceAnomaly(AnomalyKind.SOURCE_ERROR, m, raw, uuid) for m, raw in row.bad)
        return Sample(now_ns, self._kind, f"replay {t.name}", tuple(devices), None, tuple(anomalies))
