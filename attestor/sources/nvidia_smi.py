"""nvidia-smi output: ``--query-gpu`` CSV and ``-q -x`` XML (schema v10 to v13).

Values carry their unit in the text (``67.03 W``, ``0 %``, ``41285 MiB``); ``N/A``,
``[N/A]``, ``[Not Supported]`` and friends mean absent. Conversions to SI, here:

- power (``power.draw``, XML ``power_draw`` up to schema v12, ``instant_power_draw`` from v13,
  falling back to ``average_power_draw``): W;
- ``utilization.gpu`` / ``gpu_util``: percent -> fraction (/100);
- ``memory.used`` / ``fb_memory_usage``: MiB -> bytes (x 1048576);
- power limits (``enforced.power.limit``, ``current_power_limit``, ``enforced_power_limit``): W.

MIG (XML ``mig_mode/current_mig`` Enabled): each ``mig_devices/mig_device`` becomes a
``MigInstanceReading`` (GPU and compute instance ids, ``multiprocessor_count``, its
``fb_memory_usage`` MiB -> bytes). nvidia-smi gives a MIG GPU no utilisation (``N/A``) and its
instances none either: their activity is absent (the ``nvml`` source's GPM, or dcgm-exporter's
profiling fields, are the sources for it).

nvidia-smi gives no energy counter, so energy is integrated from power by the aggregator.
A value whose text does not parse becomes a SOURCE_ERROR anomaly carrying the raw text.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable

from attestor.sources._process import run_tool
from attestor.telemetry import (
    AnomalyKind,
    DeviceReading,
    MigInstanceReading,
    Sample,
    SourceAnomaly,
    SourceKind,
)
from pausewatch.errors import EnvironmentFaultError, PausewatchError

__all__ = [
    "QUERY_FIELDS",
    "NvidiaSmiSource",
    "parse_query_gpu_csv",
    "parse_smi_xml",
    "run_nvidia_smi",
]

_MIB = 1024.0 * 1024.0
QUERY_FIELDS = "uuid,name,serial,power.draw,enforced.power.limit,utilization.gpu,memory.used,memory.total"
_ABSENT = {
    "n/a",
    "[n/a]",
    "[not supported]",
    "not supported",
    "[unknown error]",
    "",
    "unknown error",
    "requested functionality has been deprecated",
    "[requested functionality has been deprecated]",
}
_UNITS = {"w": 1.0, "%": 0.01, "mib": _MIB, "kib": 1024.0, "gib": _MIB * 1024.0, "b": 1.0}


class _Values:
    """Turns unit-bearing text into SI floats, collecting anomalies for unparseable text."""

    def __init__(self, uuid: str, anomalies: list[SourceAnomaly]) -> None:
        self.uuid = uuid
        self.anomalies = anomalies

    def number(self, metric: str, text: str | None) -> float | None:
        if text is None:
            return None
        raw = text.strip()
        if raw.lower() in _ABSENT:
            return None
        parts = raw.split()
        scale = 1.0
        if len(parts) == 2 and parts[1].lower() in _UNITS:
            scale = _UNITS[parts[1].lower()]
        elif len(parts) != 1:
            self.anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, metric, raw[:80], self.uuid))
            return None
        try:
            return float(parts[0]) * scale
        except ValueError:
            self.anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, metric, raw[:80], self.uuid))
            return None


def parse_query_gpu_csv(text: str) -> tuple[list[DeviceReading], list[SourceAnomaly]]:
    """Rows of ``nvidia-smi --query-gpu=... --format=csv`` (header with ``[unit]`` suffixes)."""
    rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
    rows = [r for r in rows if r]
    if not rows:
        return [], []
    header = [h.strip().split(" [", 1)[0] for h in rows[0]]
    anomalies: list[SourceAnomaly] = []
    devices: list[DeviceReading] = []
    for row in rows[1:]:
        if len(row) != len(header):
            anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "csv_row", ",".join(row)[:80]))
            continue
        f = dict(zip(header, (c.strip() for c in row), strict=True))
        uuid = f.get("uuid", "")
        if not uuid:
            anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "uuid", ",".join(row)[:80]))
            continue
        v = _Values(uuid, anomalies)
        limit = v.number("power_limit_w", f.get("enforced.power.limit"))
        if limit is None:
            limit = v.number("power_limit_w", f.get("power.limit"))
        power = v.number("power_w", f.get("power.draw"))
        if power is None:
            power = v.number("power_w", f.get("power.draw.instant"))
        devices.append(
            DeviceReading(
                uuid=uuid,
                model=f.get("name", ""),
                serial=f.get("serial", ""),
                power_w=power,
                power_limit_w=limit,
                busy_fraction=v.number("busy_fraction", f.get("utilization.gpu")),
                memory_used_bytes=v.number("memory_used_bytes", f.get("memory.used")),
                memory_total_bytes=v.number("memory_total_bytes", f.get("memory.total")),
            )
        )
    return devices, anomalies


def _find_text(gpu: ET.Element, *paths: str) -> str | None:
    for path in paths:
        el = gpu.find(path)
        if el is not None and el.text is not None and el.text.strip().lower() not in _ABSENT:
            return el.text
    return None


def parse_smi_xml(text: str) -> tuple[list[DeviceReading], list[SourceAnomaly], str]:
    """``nvidia-smi -q -x`` output: devices, anomalies and the driver version. ValueError if not XML."""
    try:
        root = ET.fromstring(text)  # noqa: S314 - see the import
    except ET.ParseError as e:
        raise ValueError(f"nvidia-smi XML does not parse: {e}") from e
    if root.tag != "nvidia_smi_log":
        raise ValueError(f"not nvidia-smi XML: root element is <{root.tag}>")
    driver = (root.findtext("driver_version") or "").strip()
    anomalies: list[SourceAnomaly] = []
    devices: list[DeviceReading] = []
    for gpu in root.findall("gpu"):
        uuid = (gpu.findtext("uuid") or "").strip()
        if not uuid:
            anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "uuid", gpu.get("id", "")))
            continue
        v = _Values(uuid, anomalies)
        power = v.number(
            "power_w",
            _find_text(
                gpu,
                "gpu_power_readings/power_draw",
                "gpu_power_readings/instant_power_draw",
                "gpu_power_readings/average_power_draw",
                "power_readings/power_draw",
                "power_readings/instant_power_draw",
                "power_readings/average_power_draw",
            ),
        )
        limit = v.number(
            "power_limit_w",
            _find_text(
                gpu,
                "gpu_power_readings/current_power_limit",
                "gpu_power_readings/enforced_power_limit",
                "power_readings/enforced_power_limit",
                "power_readings/current_power_limit",
                "power_readings/power_limit",
            ),
        )
        mig_text = (gpu.findtext("mig_mode/current_mig") or "").strip().lower()
        mig = {"enabled": True, "disabled": False}.get(mig_text)
        instances = tuple(_mig_device(el, v) for el in gpu.findall("mig_devices/mig_device")) if mig else ()
        processes = gpu.find("processes")
        process_count: float | None = None
        if processes is not None:
            infos = processes.findall("process_info")
            compute = [p for p in infos if "C" in (p.findtext("type") or "C")]
            process_count = float(len(compute))
        devices.append(
            DeviceReading(
                uuid=uuid,
                model=(gpu.findtext("product_name") or "").strip(),
                serial=(gpu.findtext("serial") or "").strip(),
                power_w=power,
                power_limit_w=limit,
                busy_fraction=v.number("busy_fraction", _find_text(gpu, "utilization/gpu_util")),
                memory_used_bytes=v.number("memory_used_bytes", _find_text(gpu, "fb_memory_usage/used")),
                memory_total_bytes=v.number("memory_total_bytes", _find_text(gpu, "fb_memory_usage/total")),
                process_count=process_count,
                mig_enabled=mig,
                mig_instances=instances,
            )
        )
    return devices, anomalies, driver


def _mig_device(el: ET.Element, v: _Values) -> MigInstanceReading:
    def whole(path: str) -> int | None:
        text = _find_text(el, path)
        value = v.number(f"mig.{path.rsplit('/', 1)[-1]}", text)
        return None if value is None or value != int(value) else int(value)

    return MigInstanceReading(
        gpu_instance_id=whole("gpu_instance_id"),
        compute_instance_id=whole("compute_instance_id"),
        sm_count=whole("device_attributes/shared/multiprocessor_count"),
        memory_used_bytes=v.number("mig.memory_used_bytes", _find_text(el, "fb_memory_usage/used")),
        memory_total_bytes=v.number("mig.memory_total_bytes", _find_text(el, "fb_memory_usage/total")),
    )


def run_nvidia_smi(args: list[str], timeout_s: float = 5.0, binary: str = "nvidia-smi") -> str:
    """Run nvidia-smi with ``args``; EnvironmentFaultError when it is missing, fails or hangs."""
    return run_tool(args, binary=binary, timeout_s=timeout_s)


class NvidiaSmiSource:
    """Runs nvidia-smi each sample (``fmt``: "xml" or "csv"); ``run`` is injectable for tests."""

    def __init__(self, fmt: str = "xml", run: Callable[[list[str]], str] | None = None) -> None:
        if fmt not in ("xml", "csv"):
            raise EnvironmentFaultError(f"nvidia-smi format must be 'xml' or 'csv', not {fmt!r}")
        self._fmt = fmt
        self._run = run if run is not None else run_nvidia_smi

    @property
    def kind(self) -> SourceKind:
        return SourceKind.NVIDIA_SMI

    def close(self) -> None:
        return None

    def sample(self, now_ns: int) -> Sample:
        try:
            if self._fmt == "xml":
                devices, anomalies, driver = parse_smi_xml(self._run(["-q", "-x"]))
            else:
                text = self._run([f"--query-gpu={QUERY_FIELDS}", "--format=csv"])
                devices, anomalies = parse_query_gpu_csv(text)
                driver = ""
        except (PausewatchError, ValueError) as e:
            anomaly = SourceAnomaly(AnomalyKind.SOURCE_ERROR, "nvidia_smi", str(e)[:200])
            return Sample(now_ns, SourceKind.NVIDIA_SMI, "", (), None, (anomaly,))
        version = f"nvidia-smi driver {driver}" if driver else "nvidia-smi"
        return Sample(now_ns, SourceKind.NVIDIA_SMI, version, tuple(devices), None, tuple(anomalies))
