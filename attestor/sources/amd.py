"""AMD Instinct GPUs through ``amd-smi`` or ``rocm-smi`` JSON output.

Two tools, one family of readings. Key sets differ between ROCm versions, so keys are found by
their meaning, case-insensitively, and every value may come as a number, a numeric string, a
string with its unit (``"35 W"``) or a ``{"value": 35, "unit": "W"}`` object; ``N/A`` and
friends mean absent (``None``), never 0.

``amd-smi metric --json`` (ROCm 6.0 and later; a list of GPUs, or ``{"gpu_data": [...]}`` from
amd-smi 25.x), with ``amd-smi static --json`` read once for identity and limits:

- power ``power.current_socket_power`` (instantaneous, MI300 on ROCm 6.2+), else
  ``power.socket_power`` (ROCm 6.1+), else ``power.average_socket_power`` (ROCm 6.0, MI200): W;
- energy ``energy.total_energy_consumption``: in the unit given (J, or mJ /1e3, uJ /1e6) -> J;
  a software accumulator of the SMU's counter, it starts again at 0 when the driver reloads;
- activity ``usage.gfx_activity``: percent -> fraction (/100);
- memory ``mem_usage.used_vram`` / ``total_vram``: amd-smi prints ``MB`` for what it computes as
  bytes // 2^20, so MB and MiB -> bytes (x 1048576), GB and GiB x 2^30, KB x 1024, B as is;
- PCIe ``pcie.bandwidth``: taken in the unit printed, ``Mb/s`` megabits -> bytes/s (x 125000),
  ``MB/s`` x 1e6, ``GB/s`` x 1e9;
- XGMI: the cumulative ``read``/``write`` data under an ``xgmi`` object (``KB`` x 1000, ``MB``
  x 1e6, ``B``) summed -> ``nvlink_bytes_counter`` (the report's accelerator-interconnect field);
- static: ``asic.market_name`` (model), ``asic.asic_serial`` (the device id), ``board.product_serial``,
  ``bus.bdf``, ``limit.max_power`` (or ``limit.power_cap``) W.

``rocm-smi --showpower --showuse --showmemuse --showmeminfo vram --showenergycounter
--showuniqueid --showproductname --showmaxpower --showserial --showbus --json`` (every ROCm; one
``cardN`` object per GPU and a ``system`` object), the unit in the key's last ``(...)``:

- power: ``Current Socket Graphics Package Power (W)`` (ROCm 6.1+ on MI300), else ``Average
  Graphics Package Power (W)`` (earlier versions, MI100/MI200): W;
- ``Max Graphics Package Power (W)``: the power limit, W;
- ``GPU use (%)``: percent -> fraction (/100);
- ``VRAM Total Memory (B)`` / ``VRAM Total Used Memory (B)``: bytes;
- ``Accumulated Energy (uJ)`` (``--showenergycounter``): uJ -> J (/1e6); the raw ``Energy
  counter`` ticks are not used (their resolution is a separate, optional key);
- rocm-smi's PCIe number (``--showpcibw``) is an upper-bound estimate, not a rate: not read.

The device id is ``AMD-`` and the 16 hex digits of the ASIC's unique id (rocm-smi ``Unique ID``,
amd-smi ``asic_serial``: the same number), so both tools name a GPU alike; without one, the PCI
address (``AMD-PCI-0000:83:00.0``); a GPU with neither is left out with an anomaly (its readings
could not be told from another's). A value of the wrong type or an unknown unit is absent and a
SOURCE_ERROR anomaly with its raw text; unknown keys are ignored; nothing is invented.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from attestor.sources._process import run_tool
from attestor.telemetry import AnomalyKind, DeviceReading, Sample, SourceAnomaly, SourceKind
from pausewatch.errors import PausewatchError

__all__ = [
    "AMD_SMI_ARGS",
    "ROCM_SMI_ARGS",
    "AmdSmiSource",
    "parse_amd_json",
    "parse_amd_smi",
    "parse_rocm_smi",
]

_MIB = 1024.0 * 1024.0
_ABSENT = {"", "n/a", "na", "[n/a]", "not supported", "[not supported]", "unsupported", "none", "null"}
# Units, lower-cased, to SI; a unit outside the map a value is read with is an anomaly.
_POWER = {"w": 1.0, "mw": 1e-3, "uw": 1e-6, "kw": 1e3}  # -> W
_ENERGY = {"j": 1.0, "mj": 1e-3, "uj": 1e-6, "μj": 1e-6, "kj": 1e3}  # -> J
_PERCENT = {"%": 0.01}  # percent -> fraction
# amd-smi's "MB" is bytes // 2**20 (and its "GB" // 2**30): binary multiples, like rocm-smi's B.
_MEMORY = {
    "b": 1.0, "kb": 1024.0, "kib": 1024.0, "mb": _MIB, "mib": _MIB, "gb": _MIB * 1024, "gib": _MIB * 1024,
}  # fmt: skip
# PCIe rates -> bytes/s: "Mb/s" (lower-case b) are megabits (/8), "MB/s" megabytes; the exact
# spelling is looked up first, so only the case tells bits from bytes.
_RATE = {
    "KB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9, "kb/s": 1e3 / 8, "mb/s": 1e6 / 8, "mbps": 1e6 / 8, "gb/s": 1e9 / 8,
}  # fmt: skip
_DATA = {"b": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9}  # XGMI data counters (decimal, as amd-smi prints)
# A number, then optionally its unit: "36.0", "35 W", "1.5e3 uJ", "nan".
_NUMBER = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)\s*([^\d\s].*)?$", re.IGNORECASE
)

# amd-smi power keys by preference: instantaneous (ROCm 6.2+ MI300), 6.1's, 6.0's average.
_SOCKET_POWER = ("current_socket_power", "socket_power", "average_socket_power")
_POWER_LIMIT = ("max_power", "power_cap", "max_power_limit")

ROCM_SMI_ARGS = [
    "--showpower", "--showuse", "--showmemuse", "--showmeminfo", "vram", "--showenergycounter",
    "--showuniqueid", "--showproductname", "--showmaxpower", "--showserial", "--showbus", "--json",
]  # fmt: skip
AMD_SMI_ARGS = ["metric", "--json"]
AMD_SMI_STATIC_ARGS = ["static", "--json"]


@dataclass
class _Reader:
    """Turns one GPU's values into SI floats, noting what could not be read."""

    device: str
    anomalies: list[SourceAnomaly] = field(default_factory=list)

    def bad(self, metric: str, raw: Any) -> None:
        self.anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, metric, repr(raw)[:80], self.device))

    def quantity(self, metric: str, raw: Any, units: Mapping[str, float], default_unit: str) -> float | None:
        """``raw`` in SI. ``default_unit``: the unit when the value carries none (the key's)."""
        unit = default_unit
        if isinstance(raw, dict):
            if "value" not in raw:
                self.bad(metric, raw)
                return None
            unit = str(raw.get("unit") or default_unit)
            raw = raw["value"]
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            self.bad(metric, raw)
            return None
        if isinstance(raw, str):
            if raw.strip().lower() in _ABSENT:
                return None
            match = _NUMBER.match(raw)
            if match is None:
                self.bad(metric, raw)
                return None
            number = float(match.group(1))
            if match.group(2):
                unit = match.group(2).strip()
        else:
            number = float(raw)
        scale = _scale(unit, units)
        if scale is None:
            self.bad(metric, f"{raw} {unit}")
            return None
        return number * scale

    def text(self, raw: Any) -> str:
        if isinstance(raw, dict):
            raw = raw.get("value")
        if raw is None or isinstance(raw, (dict, list, bool)):
            return ""
        text = str(raw).strip()
        return "" if text.lower() in _ABSENT else text


def _scale(unit: str, units: Mapping[str, float]) -> float | None:
    key = unit.strip()
    if key in units:  # case matters only between Mb/s (bits) and MB/s (bytes)
        return units[key]
    return units.get(key.lower())


def _device_id(unique_id: str, bdf: str) -> str:
    """``AMD-<16 hex digits>`` from the ASIC's unique id, else ``AMD-PCI-<bdf>``, else ""."""
    try:
        number = int(unique_id, 16) if unique_id else 0
    except ValueError:
        number = 0
    if number:
        return f"AMD-{number:016x}"
    return f"AMD-PCI-{bdf.lower()}" if bdf else ""


def _json(text: str, tool: str) -> Any:
    """The JSON document in a tool's output (rocm-smi may print warnings before it)."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise ValueError(f"{tool} printed no JSON: {text.strip()[:120]!r}")
    try:
        doc, _ = json.JSONDecoder().raw_decode(text, min(starts))
    except json.JSONDecodeError as e:
        raise ValueError(f"{tool} JSON does not parse: {e}") from e
    return doc


def _lower(obj: Any) -> dict[str, Any]:
    return {str(k).strip().lower(): v for k, v in obj.items()} if isinstance(obj, dict) else {}


# ---------------------------------------------------------------------------------- rocm-smi


def _key_unit(key: str) -> str:
    """The unit in a rocm-smi key's last parentheses: ``(W)``, ``(%)``, ``(B)``, ``(uJ)``."""
    match = re.search(r"\(([^()]*)\)\s*$", key)
    return match.group(1) if match else ""


def _hits(card: Mapping[str, Any], *patterns: str, exclude: str = "") -> list[tuple[str, Any]]:
    """Every (key, value) whose lower-cased key matches a pattern, in pattern order."""
    out: dict[str, Any] = {}  # insertion order: pattern order, each key once
    for pattern in patterns:
        for key, value in card.items():
            low = key.lower()
            if re.search(pattern, low) and not (exclude and re.search(exclude, low)):
                out.setdefault(key, value)
    return list(out.items())


def _find(card: Mapping[str, Any], *patterns: str) -> tuple[str, Any] | None:
    hits = _hits(card, *patterns)
    return hits[0] if hits else None


def parse_rocm_smi(text: str) -> tuple[list[DeviceReading], list[SourceAnomaly], str]:
    """``rocm-smi ... --json``: devices, anomalies and the driver version; ValueError if no JSON."""
    doc = _json(text, "rocm-smi")
    if not isinstance(doc, dict):
        raise ValueError("rocm-smi JSON is not an object")
    driver = _Reader("").text(_lower(doc.get("system")).get("driver version"))
    anomalies: list[SourceAnomaly] = []
    devices: list[DeviceReading] = []
    cards = sorted((k for k in doc if re.fullmatch(r"card\d+", str(k))), key=lambda k: int(k[4:]))
    for name in cards:
        card = doc[name]
        if not isinstance(card, dict):
            anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, name, repr(card)[:80]))
            continue
        r = _Reader(name)
        found_id = _find(card, r"^unique id$")
        found_bus = _find(card, r"^pci bus$")
        uuid = _device_id(r.text(found_id[1]) if found_id else "", r.text(found_bus[1]) if found_bus else "")
        if not uuid:
            why = f"{name}: no Unique ID or PCI Bus"
            anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "device_id", why))
            continue
        r.device = uuid

        def read(metric: str, units: Mapping[str, float], *patterns: str, exclude: str = "") -> float | None:
            """The first of the matching keys that holds a value (``Current ...`` may be N/A
            where ``Average ...`` is not)."""
            for key, raw in _hits(card, *patterns, exclude=exclude):  # noqa: B023 - this card's
                value = r.quantity(metric, raw, units, _key_unit(key))  # noqa: B023 - this card's
                if value is not None:
                    return value
            return None

        model = _find(card, r"^card series$", r"^marketing name$", r"^card model$")
        serial = _find(card, r"^serial number$")
        devices.append(
            DeviceReading(
                uuid=uuid,
                model=r.text(model[1]) if model else "",
                serial=r.text(serial[1]) if serial else "",
                power_w=read(
                    "power_w",
                    _POWER,
                    r"^current socket graphics package power",
                    r"graphics package power",
                    r"^current socket power",
                    r"socket power",
                    exclude=r"max|limit|cap",
                ),
                power_limit_w=read("power_limit_w", _POWER, r"^max graphics package power", r"power cap"),
                energy_counter_j=read("energy_counter_j", _ENERGY, r"^accumulated energy"),
                # "GPU use (%)", not "GFX Activity" (a cumulative counter, not a percentage)
                busy_fraction=read("busy_fraction", _PERCENT, r"^gpu use \(%\)$"),
                memory_used_bytes=read("memory_used_bytes", _MEMORY, r"^vram total used memory"),
                memory_total_bytes=read("memory_total_bytes", _MEMORY, r"^vram total memory"),
            )
        )
        anomalies.extend(r.anomalies)
    return devices, anomalies, driver


# ----------------------------------------------------------------------------------- amd-smi


def _gpus(doc: Any) -> list[Any]:
    if isinstance(doc, dict) and "gpu_data" in doc:
        doc = doc["gpu_data"]
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise ValueError("amd-smi JSON is neither a list of GPUs nor {gpu_data: [...]}")
    return doc


def _index(entry: Mapping[str, Any]) -> int | None:
    gpu = entry.get("gpu")
    return gpu if isinstance(gpu, int) and not isinstance(gpu, bool) else None


def _xgmi_bytes(r: _Reader, node: Any) -> float | None:
    """Sum of the cumulative read and write data found under an ``xgmi`` object, bytes."""
    total: float | None = None
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict) or "value" in item:
            continue
        for key, value in item.items():
            low = str(key).lower()
            if ("read" in low or "write" in low) and "err" not in low and (
                (isinstance(value, dict) and "value" in value) or not isinstance(value, (dict, list))
            ):
                got = r.quantity("nvlink_bytes_counter", value, _DATA, "KB")
                if got is not None:
                    total = got + (total or 0.0)
            else:
                stack.append(value)
    return total


def parse_amd_smi(
    metric_text: str, static_text: str | None = None
) -> tuple[list[DeviceReading], list[SourceAnomaly], str]:
    """``amd-smi metric --json`` (+ ``static --json``): devices, anomalies, driver version."""
    metrics = _gpus(_json(metric_text, "amd-smi metric"))
    static: dict[int, dict[str, Any]] = {}
    driver = ""
    if static_text is not None:
        for entry in _gpus(_json(static_text, "amd-smi static")):
            if isinstance(entry, dict) and _index(entry) is not None:
                static[_index(entry) or 0] = entry
                driver = driver or _Reader("").text(_lower(entry.get("driver")).get("version"))
    anomalies: list[SourceAnomaly] = []
    devices: list[DeviceReading] = []
    for position, entry in enumerate(metrics):
        if not isinstance(entry, dict):
            anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, f"gpu[{position}]", repr(entry)[:80]))
            continue
        index = _index(entry)
        s = static.get(index if index is not None else -1, {})
        asic, board, bus, limit = (_lower(s.get(k)) for k in ("asic", "board", "bus", "limit"))
        r = _Reader(f"gpu{index if index is not None else position}")
        bdf = r.text(bus.get("bdf")) or r.text(entry.get("bdf"))
        uuid = _device_id(r.text(asic.get("asic_serial")), bdf)
        if not uuid:
            anomalies.append(
                SourceAnomaly(AnomalyKind.SOURCE_ERROR, "device_id", f"{r.device}: no asic_serial or bdf")
            )
            continue
        r.device = uuid
        power, energy, usage, mem, pcie = (
            _lower(entry.get(k)) for k in ("power", "energy", "usage", "mem_usage", "pcie")
        )

        def first(metric: str, node: Mapping[str, Any], keys: tuple[str, ...]) -> float | None:
            """The first of ``keys`` holding a power (``current_socket_power`` may be N/A), W."""
            for key in keys:
                value = r.quantity(metric, node.get(key), _POWER, "W")  # noqa: B023 - this GPU's reader
                if value is not None:
                    return value
            return None

        xgmi = next((v for k, v in _lower(entry).items() if "xgmi" in k and "err" not in k), None)
        pcie_rate = pcie.get("bandwidth")
        devices.append(
            DeviceReading(
                uuid=uuid,
                model=r.text(asic.get("market_name")) or r.text(board.get("product_name")),
                serial=r.text(board.get("product_serial")),
                power_w=first("power_w", power, _SOCKET_POWER),
                energy_counter_j=r.quantity(
                    "energy_counter_j", energy.get("total_energy_consumption"), _ENERGY, "J"
                ),
                busy_fraction=r.quantity("busy_fraction", usage.get("gfx_activity"), _PERCENT, "%"),
                memory_used_bytes=r.quantity("memory_used_bytes", mem.get("used_vram"), _MEMORY, "MB"),
                memory_total_bytes=r.quantity("memory_total_bytes", mem.get("total_vram"), _MEMORY, "MB"),
                power_limit_w=first("power_limit_w", limit, _POWER_LIMIT),
                pcie_rate_bps=r.quantity("pcie_rate_bps", pcie_rate, _RATE, "Mb/s"),
                nvlink_bytes_counter=None if xgmi is None else _xgmi_bytes(r, xgmi),
            )
        )
        anomalies.extend(r.anomalies)
    return devices, anomalies, driver


def parse_amd_json(text: str) -> tuple[list[DeviceReading], list[SourceAnomaly], str]:
    """Either tool's JSON, told apart by shape: ``cardN`` objects are rocm-smi, a GPU list (or
    ``gpu_data``) is amd-smi ``metric``. For a capture whose tool is not known."""
    doc = _json(text, "amd-smi/rocm-smi")
    if isinstance(doc, dict) and any(re.fullmatch(r"card\d+", str(k)) for k in doc):
        return parse_rocm_smi(text)
    return parse_amd_smi(text)


class AmdSmiSource:
    """Runs ``amd-smi`` (``tool="amd-smi"``) or ``rocm-smi`` each sample; ``run`` is injectable.

    amd-smi's ``static`` output (identity, limits) is read at the first sample and again while it
    has not been read or a GPU it does not name appears.
    """

    def __init__(self, tool: str = "amd-smi", run: Callable[[list[str]], str] | None = None) -> None:
        if tool not in ("amd-smi", "rocm-smi"):
            raise ValueError(f"tool must be 'amd-smi' or 'rocm-smi', not {tool!r}")
        self._tool = tool
        self._run = run if run is not None else (lambda args: run_tool(args, binary=tool))
        self._static: str | None = None

    @property
    def kind(self) -> SourceKind:
        return SourceKind.AMD_SMI

    def close(self) -> None:
        return None

    def sample(self, now_ns: int) -> Sample:
        try:
            if self._tool == "rocm-smi":
                devices, anomalies, driver = parse_rocm_smi(self._run(ROCM_SMI_ARGS))
            else:
                metric = self._run(AMD_SMI_ARGS)
                devices, anomalies, driver = self._amd_smi(metric)
        except (PausewatchError, ValueError) as e:
            anomaly = SourceAnomaly(AnomalyKind.SOURCE_ERROR, self._tool, str(e)[:200])
            return Sample(now_ns, SourceKind.AMD_SMI, self._tool, (), None, (anomaly,))
        version = f"{self._tool} driver {driver}" if driver else self._tool
        return Sample(now_ns, SourceKind.AMD_SMI, version, tuple(devices), None, tuple(anomalies))

    def _amd_smi(self, metric: str) -> tuple[list[DeviceReading], list[SourceAnomaly], str]:
        extra: list[SourceAnomaly] = []
        if self._static is None:
            try:
                self._static = self._run(AMD_SMI_STATIC_ARGS)
            except PausewatchError as e:
                extra.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "amd-smi static", str(e)[:200]))
        try:
            devices, anomalies, driver = parse_amd_smi(metric, self._static)
        except ValueError as e:  # the static output is broken: read the metrics without it
            if self._static is None:
                raise
            extra.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "amd-smi static", str(e)[:200]))
            self._static = None
            devices, anomalies, driver = parse_amd_smi(metric, None)
        if any(d.uuid.startswith("AMD-PCI-") for d in devices) and self._static is not None:
            self._static = None  # a GPU the static output did not name: read it again next time
        return devices, extra + anomalies, driver
