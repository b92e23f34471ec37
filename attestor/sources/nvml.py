"""NVIDIA GPUs through NVML (``nvidia-ml-py``, imported as ``pynvml``).

Calls and their units, converted here to SI:

- ``nvmlDeviceGetPowerUsage``: mW -> W (/1000);
- ``nvmlDeviceGetTotalEnergyConsumption``: mJ since the driver loaded -> J (/1000); the counter
  starts again at 0 when the driver reloads, which the aggregator flags as COUNTER_RESET;
- ``nvmlDeviceGetEnforcedPowerLimit``: mW -> W;
- ``nvmlDeviceGetUtilizationRates().gpu``: percent of time a kernel ran -> fraction (/100);
- ``nvmlDeviceGetMemoryInfo``: bytes (used, total);
- ``nvmlDeviceGetPcieThroughput(TX|RX)``: KB/s over a 20 ms window -> bytes/s (x1000; NVML
  documents the unit as KB/s);
- ``nvmlDeviceGetFieldValues(NVLINK_THROUGHPUT_DATA_TX/RX)``: cumulative KiB -> bytes (x1024);
- GPM (Hopper and newer, ``nvmlGpmQueryDeviceSupport``): ``SM_UTIL`` and ``ANY_TENSOR_UTIL``
  in percent over the interval between two GPM samples -> fraction (/100);
- ``nvmlDeviceGetComputeRunningProcesses``: the count of compute processes.

A call that raises ``NVMLError_NotSupported`` leaves its value absent for good (it is not an
anomaly: the device has no such sensor); any other NVML error is a SOURCE_ERROR anomaly with
the error text, and the value is absent for that sample.

The ``nvml`` argument is the module (``pynvml``) or anything with the same functions: tests pass
a recorded fake when no GPU is present.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from attestor.telemetry import AnomalyKind, DeviceReading, Sample, SourceAnomaly, SourceKind
from pausewatch.errors import EnvironmentFaultError

__all__ = ["NvmlSource", "load_pynvml"]

_MW_PER_W = 1000.0
_MJ_PER_J = 1000.0
_KIB = 1024.0
_KB = 1000.0


def load_pynvml() -> ModuleType:
    """Import ``pynvml`` and initialise NVML; EnvironmentFaultError when there is no driver."""
    try:
        nvml = importlib.import_module("pynvml")
    except ImportError as e:  # pragma: no cover - a runtime dependency
        raise EnvironmentFaultError("nvidia-ml-py is not installed") from e
    return nvml


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass
class _Device:
    handle: Any
    uuid: str
    model: str
    serial: str
    unsupported: set[str] = field(default_factory=set)
    gpm_supported: bool = False
    gpm_prev: Any = None


class NvmlSource:
    """Samples every GPU NVML lists. ``close`` shuts NVML down."""

    def __init__(self, nvml: Any | None = None) -> None:
        self._nvml = nvml if nvml is not None else load_pynvml()
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as e:
            raise EnvironmentFaultError(f"NVML cannot start: {e}") from e
        try:
            self._version = "driver " + _text(self._nvml.nvmlSystemGetDriverVersion())
        except self._nvml.NVMLError:
            self._version = "driver unknown"
        self._devices: dict[int, _Device] = {}

    @property
    def kind(self) -> SourceKind:
        return SourceKind.NVML

    def close(self) -> None:
        n = self._nvml
        for dev in self._devices.values():
            if dev.gpm_prev is not None:
                with contextlib.suppress(n.NVMLError):
                    n.nvmlGpmSampleFree(dev.gpm_prev)
        self._devices.clear()
        with contextlib.suppress(n.NVMLError):
            n.nvmlShutdown()

    def inventory(self) -> list[tuple[str, str, str]]:
        """(uuid, model, serial) of every device, for ``pausewatch-attestor init``."""
        anomalies: list[SourceAnomaly] = []
        return [(d.uuid, d.model, d.serial) for d in self._enumerate(anomalies)]

    def _enumerate(self, anomalies: list[SourceAnomaly]) -> list[_Device]:
        n = self._nvml
        try:
            count = int(n.nvmlDeviceGetCount())
        except n.NVMLError as e:
            anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "device_count", str(e)))
            return []
        found: list[_Device] = []
        for index in range(count):
            try:
                handle = n.nvmlDeviceGetHandleByIndex(index)
                uuid = _text(n.nvmlDeviceGetUUID(handle))
            except n.NVMLError as e:
                anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, f"device[{index}]", str(e)))
                continue
            known = self._devices.get(index)
            if known is None or known.uuid != uuid:
                known = _Device(
                    handle,
                    uuid,
                    self._optional_text(handle, "nvmlDeviceGetName"),
                    self._optional_text(handle, "nvmlDeviceGetSerial"),
                )
                known.gpm_supported = self._gpm_supported(handle)
                self._devices[index] = known
            found.append(known)
        return found

    def _optional_text(self, handle: Any, fn: str) -> str:
        try:
            return _text(getattr(self._nvml, fn)(handle))
        except self._nvml.NVMLError:
            return ""

    def _gpm_supported(self, handle: Any) -> bool:
        n = self._nvml
        try:
            return bool(n.nvmlGpmQueryDeviceSupport(handle).isSupportedDevice)
        except (n.NVMLError, AttributeError):
            return False

    def _call(self, dev: _Device, name: str, anomalies: list[SourceAnomaly], *args: Any) -> Any:
        """Call ``name``; None when unsupported (remembered) or failing (a SOURCE_ERROR)."""
        if name in dev.unsupported:
            return None
        n = self._nvml
        try:
            return getattr(n, name)(dev.handle, *args)
        except n.NVMLError as e:
            if getattr(e, "value", None) == n.NVML_ERROR_NOT_SUPPORTED:
                dev.unsupported.add(name)
            else:
                anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, name, str(e), dev.uuid))
            return None

    def sample(self, now_ns: int) -> Sample:
        anomalies: list[SourceAnomaly] = []
        readings = [self._read(dev, anomalies) for dev in self._enumerate(anomalies)]
        return Sample(now_ns, SourceKind.NVML, self._version, tuple(readings), None, tuple(anomalies))

    def _read(self, dev: _Device, anomalies: list[SourceAnomaly]) -> DeviceReading:
        n = self._nvml
        power_mw = self._call(dev, "nvmlDeviceGetPowerUsage", anomalies)
        energy_mj = self._call(dev, "nvmlDeviceGetTotalEnergyConsumption", anomalies)
        limit_mw = self._call(dev, "nvmlDeviceGetEnforcedPowerLimit", anomalies)
        util = self._call(dev, "nvmlDeviceGetUtilizationRates", anomalies)
        memory = self._call(dev, "nvmlDeviceGetMemoryInfo", anomalies)
        processes = self._call(dev, "nvmlDeviceGetComputeRunningProcesses", anomalies)
        pcie_tx = self._call(dev, "nvmlDeviceGetPcieThroughput", anomalies, n.NVML_PCIE_UTIL_TX_BYTES)
        pcie_rx = self._call(dev, "nvmlDeviceGetPcieThroughput", anomalies, n.NVML_PCIE_UTIL_RX_BYTES)
        nvlink = self._nvlink_bytes(dev, anomalies)
        sm, tensor = self._gpm(dev, anomalies)
        return DeviceReading(
            uuid=dev.uuid,
            model=dev.model,
            serial=dev.serial,
            power_w=None if power_mw is None else float(power_mw) / _MW_PER_W,
            energy_counter_j=None if energy_mj is None else float(energy_mj) / _MJ_PER_J,
            busy_fraction=None if util is None else float(util.gpu) / 100.0,
            sm_active=sm,
            tensor_active=tensor,
            memory_used_bytes=None if memory is None else float(memory.used),
            memory_total_bytes=None if memory is None else float(memory.total),
            power_limit_w=None if limit_mw is None else float(limit_mw) / _MW_PER_W,
            nvlink_bytes_counter=nvlink,
            pcie_rate_bps=(
                None if pcie_tx is None or pcie_rx is None else (float(pcie_tx) + float(pcie_rx)) * _KB
            ),
            process_count=None if processes is None else float(len(processes)),
        )

    def _nvlink_bytes(self, dev: _Device, anomalies: list[SourceAnomaly]) -> float | None:
        n = self._nvml
        ids = [n.NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX, n.NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX]
        values = self._call(dev, "nvmlDeviceGetFieldValues", anomalies, ids)
        if values is None:
            return None
        total = 0.0
        for v in values:
            if int(v.nvmlReturn) != n.NVML_SUCCESS:
                # Per-field NOT_SUPPORTED: the board has no NVLink.
                dev.unsupported.add("nvmlDeviceGetFieldValues")
                return None
            total += float(v.value.ullVal) * _KIB
        return total

    def _gpm(self, dev: _Device, anomalies: list[SourceAnomaly]) -> tuple[float | None, float | None]:
        """SM and tensor activity between the previous GPM sample and this one (fractions)."""
        if not dev.gpm_supported:
            return None, None
        n = self._nvml
        try:
            current = n.nvmlGpmSampleGet(dev.handle, n.nvmlGpmSampleAlloc())
        except n.NVMLError as e:
            anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "gpm_sample", str(e), dev.uuid))
            return None, None
        previous, dev.gpm_prev = dev.gpm_prev, current
        if previous is None:
            return None, None
        try:
            query = n.c_nvmlGpmMetricsGet_t()
            query.version = n.NVML_GPM_METRICS_GET_VERSION
            query.numMetrics = 2
            query.sample1 = previous
            query.sample2 = current
            query.metrics[0].metricId = n.NVML_GPM_METRIC_SM_UTIL
            query.metrics[1].metricId = n.NVML_GPM_METRIC_ANY_TENSOR_UTIL
            n.nvmlGpmMetricsGet(query)
        except n.NVMLError as e:
            anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "gpm_metrics", str(e), dev.uuid))
            return None, None
        finally:
            with contextlib.suppress(n.NVMLError):
                n.nvmlGpmSampleFree(previous)
        out: list[float | None] = []
        for i in range(2):
            m = query.metrics[i]
            out.append(float(m.value) / 100.0 if int(m.nvmlReturn) == n.NVML_SUCCESS else None)
        return out[0], out[1]
