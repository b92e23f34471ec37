"""Trace replay: nvidia-smi-style CSV time series played on the injected clock.

Format (``nvidia-smi --query-gpu=timestamp,power.draw,utilization.gpu,memory.used --format=csv
-lms N``): header ``timestamp, power.draw [W], utilization.gpu [%], memory.used [MiB]`` (the
utilisation and memory columns are optional; ``utilization.memory [%]`` is ignored), timestamps
``YYYY/MM/DD HH:MM:SS.mmm``, values with units. A file holds one device, or a whole node with
``devices`` consecutive rows per instant (GPU 0..n-1 in order, no index column: rows are grouped
by position, not by timestamp). ``.gz`` files are read directly.

Units: ``power.draw`` W; ``utilization.gpu`` percent -> fraction (/100); ``memory.used`` MiB ->
bytes (x 1048576). No energy counter: energy is integrated from power.

Playback: the trace's first instant is aligned to the first ``sample`` call; each sample returns
the latest trace instant at or before (now - start), looping when ``loop`` is set (otherwise the
devices vanish when the trace ends). A value that does not parse is absent and recorded as a
SOURCE_ERROR anomaly with its raw text when its row is played.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from attestor.telemetry import AnomalyKind, DeviceReading, Sample, SourceAnomaly, SourceKind
from pausewatch.errors import FormatError

__all__ = ["ReplaySource", "Trace", "load_trace"]

_MIB = 1024.0 * 1024.0
_NS = 1_000_000_000


@dataclass(frozen=True)
class _Row:
    power_w: float | None
    busy_fraction: float | None
    memory_used_bytes: float | None
    bad: tuple[tuple[str, str], ...]  # (metric, raw text)


@dataclass(frozen=True)
class Trace:
    """A parsed trace: instants (ns from the first) and, per instant, one row per device."""

    name: str
    offsets_ns: tuple[int, ...]
    rows: tuple[tuple[_Row, ...], ...]
    devices: int
    skipped_rows: int = 0  # rows with the wrong number of columns (e.g. a capture cut short)

    @property
    def duration_ns(self) -> int:
        return self.offsets_ns[-1] if self.offsets_ns else 0


def _value(text: str, unit: str, scale: float, metric: str, bad: list[tuple[str, str]]) -> float | None:
    raw = text.strip()
    if raw.lower() in ("", "[n/a]", "n/a", "[not supported]"):
        return None
    number = raw[: -len(unit)].strip() if unit and raw.endswith(unit) else raw
    try:
        return float(number) * scale
    except ValueError:
        bad.append((metric, raw[:80]))
        return None


def load_trace(path: Path, devices: int = 1) -> Trace:
    """Parse a trace file; FormatError names the file and line on structural problems."""
    if devices < 1:
        raise FormatError(f"{path}: devices must be at least 1")
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        text = data.decode("utf-8")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: cannot read trace: {e}") from e
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration as e:
        raise FormatError(f"{path}: empty trace") from e
    names = [h.split(" [", 1)[0] for h in header]
    if not names or names[0] != "timestamp" or "power.draw" not in names:
        raise FormatError(f"{path}: header must start with timestamp and include power.draw: {header}")
    col = {n: i for i, n in enumerate(names)}
    stamps: list[datetime] = []
    flat: list[_Row] = []
    skipped = 0
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            if len(row) != len(names):
                raise ValueError(f"{len(row)} columns, header has {len(names)}")
            stamp = datetime.strptime(row[0].strip(), "%Y/%m/%d %H:%M:%S.%f")
        except ValueError as e:
            if devices > 1:  # rows are grouped by position: a broken row breaks the grouping
                raise FormatError(f"{path}:{line_no}: {e}") from e
            skipped += 1
            continue
        bad: list[tuple[str, str]] = []
        power = _value(row[col["power.draw"]], "W", 1.0, "power_w", bad)
        util = (
            _value(row[col["utilization.gpu"]], "%", 0.01, "busy_fraction", bad)
            if "utilization.gpu" in col
            else None
        )
        mem = (
            _value(row[col["memory.used"]], "MiB", _MIB, "memory_used_bytes", bad)
            if "memory.used" in col
            else None
        )
        stamps.append(stamp)
        flat.append(_Row(power, util, mem, tuple(bad)))
    usable = len(flat) - len(flat) % devices
    if usable == 0:
        raise FormatError(f"{path}: no complete instant of {devices} rows")
    first = stamps[0]
    offsets: list[int] = []
    groups: list[tuple[_Row, ...]] = []
    for i in range(0, usable, devices):
        offset = int((stamps[i] - first).total_seconds() * _NS)
        if offsets and offset < offsets[-1]:
            raise FormatError(f"{path}: timestamps go backwards at row {i + 2}")
        offsets.append(offset)
        groups.append(tuple(flat[i : i + devices]))
    return Trace(path.name, tuple(offsets), tuple(groups), devices, skipped)


class ReplaySource:
    """Plays ``trace`` for devices named ``uuids`` (one per trace device)."""

    def __init__(
        self,
        trace: Trace,
        uuids: list[str],
        *,
        model: str = "",
        loop: bool = True,
        kind: SourceKind = SourceKind.TRACE_REPLAY,
    ) -> None:
        if len(uuids) != trace.devices:
            raise FormatError(f"trace {trace.name} has {trace.devices} devices; {len(uuids)} uuids given")
        self._trace = trace
        self._uuids = uuids
        self._model = model
        self._loop = loop
        self._kind = kind
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
        for uuid, row in zip(self._uuids, t.rows[max(index, 0)], strict=True):
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
