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

MIG (``nvmlDeviceGetMigMode`` current mode enabled): NVML gives a MIG-enabled GPU no
utilisation (nvidia-smi's ``N/A``), so the GPU's utilisation is not asked for. Each MIG device
(``nvmlDeviceGetMigDeviceHandleByIndex``) is read as a ``MigInstanceReading``: its UUID, GPU and
compute instance ids, profile (from its name, ``... MIG 1g.10gb``), SM count
(``nvmlDeviceGetAttributes``), memory (bytes) and, on GPM-capable GPUs, the GPU instance's
``SM_UTIL`` / ``ANY_TENSOR_UTIL`` (``nvmlGpmMigSampleGet``; percent of the instance -> fraction).
The whole GPU's ``sm_active`` / ``tensor_active`` are then the SM-weighted sum over instances,
divided by the SMs of the full (7-slice) profile (``nvmlDeviceGetGpuInstanceProfileInfo``):
SMs in no instance ran nothing. When any instance lacks a reading the whole-GPU value is absent,
and a GPU without GPM (A100 and older) has no activity source in NVML at all: its activity
fields are absent (as for any metric the board does not support, not an anomaly, which would
make the whole period's values invalid), the sample says ``mig_enabled`` and the daemon's log
says why, once per device; dcgm-exporter's per-instance profiling fields are the source there.

A call that raises ``NVMLError_NotSupported`` leaves its value absent for good (it is not an
anomaly: the device has no such sensor); any other NVML error is a SOURCE_ERROR anomaly with
the error text, and the value is absent for that sample.

The ``nvml`` argument is the module (``pynvml``) or anything with the same functions: tests pass
a recorded fake when no GPU is present.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from attestor.telemetry import (
    AnomalyKind,
    DeviceReading,
    MigInstanceReading,
    Sample,
    SourceAnomaly,
    SourceKind,
)
from pausewatch.errors import EnvironmentFaultError

__all__ = ["NvmlSource", "load_pynvml"]

_log = logging.getLogger("pausewatch.attestor.sources")
_NO_MIG_ACTIVITY = (
    "NVML gives no utilisation for a MIG GPU and this GPU has no GPM: its activity is absent"
    " (dcgm-exporter's per-instance profiling fields are a source for it)"
)

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
    gpm_prev: dict[int | None, Any] = field(default_factory=dict)
    said_no_activity: bool = False  # None: the GPU; else a GPU instance id


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
            for sample in dev.gpm_prev.values():
                with contextlib.suppress(n.NVMLError):
                    n.nvmlGpmSampleFree(sample)
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
        mode = self._call(dev, "nvmlDeviceGetMigMode", anomalies)
        mig = None if mode is None else int(mode[0]) == n.NVML_DEVICE_MIG_ENABLE
        instances: tuple[MigInstanceReading, ...] = ()
        util = None
        if mig:
            instances = self._mig_instances(dev, anomalies)
            sm, tensor = self._mig_whole(dev, instances, anomalies)
        else:
            util = self._call(dev, "nvmlDeviceGetUtilizationRates", anomalies)
            sm, tensor = self._gpm(dev, anomalies)
        memory = self._call(dev, "nvmlDeviceGetMemoryInfo", anomalies)
        processes = self._call(dev, "nvmlDeviceGetComputeRunningProcesses", anomalies)
        pcie_tx = self._call(dev, "nvmlDeviceGetPcieThroughput", anomalies, n.NVML_PCIE_UTIL_TX_BYTES)
        pcie_rx = self._call(dev, "nvmlDeviceGetPcieThroughput", anomalies, n.NVML_PCIE_UTIL_RX_BYTES)
        nvlink = self._nvlink_bytes(dev, anomalies)
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
            mig_enabled=mig,
            mig_instances=instances,
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

    def _gpm(
        self, dev: _Device, anomalies: list[SourceAnomaly], instance: int | None = None
    ) -> tuple[float | None, float | None]:
        """SM and tensor activity between the previous GPM sample and this one (fractions).

        ``instance``: a GPU instance id of a MIG GPU (``nvmlGpmMigSampleGet``); None: the GPU.
        """
        if not dev.gpm_supported:
            return None, None
        n = self._nvml
        try:
            if instance is None:
                current = n.nvmlGpmSampleGet(dev.handle, n.nvmlGpmSampleAlloc())
            else:
                current = n.nvmlGpmMigSampleGet(dev.handle, instance, n.nvmlGpmSampleAlloc())
        except n.NVMLError as e:
            anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "gpm_sample", str(e), dev.uuid))
            return None, None
        previous = dev.gpm_prev.get(instance)
        dev.gpm_prev[instance] = current
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

    def _mig_instances(self, dev: _Device, anomalies: list[SourceAnomaly]) -> tuple[MigInstanceReading, ...]:
        """Every MIG device of ``dev``, with its GPU instance's GPM activity where there is GPM."""
        n = self._nvml
        slots = self._call(dev, "nvmlDeviceGetMaxMigDeviceCount", anomalies)
        found: list[MigInstanceReading] = []
        for index in range(int(slots or 0)):
            try:
                mig = n.nvmlDeviceGetMigDeviceHandleByIndex(dev.handle, index)
            except n.NVMLError as e:
                if getattr(e, "value", None) != n.NVML_ERROR_NOT_FOUND:  # NOT_FOUND: an empty slot
                    bad = SourceAnomaly(AnomalyKind.SOURCE_ERROR, f"mig[{index}]", str(e), dev.uuid)
                    anomalies.append(bad)
                continue

            def get(fn: str, *args: Any, mig: Any = mig) -> Any:
                try:
                    return getattr(n, fn)(mig, *args)
                except n.NVMLError as e:
                    if getattr(e, "value", None) != n.NVML_ERROR_NOT_SUPPORTED:
                        anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, fn, str(e), dev.uuid))
                    return None

            name = _text(get("nvmlDeviceGetName") or "")
            gi = get("nvmlDeviceGetGpuInstanceId")
            memory = get("nvmlDeviceGetMemoryInfo")
            attributes = get("nvmlDeviceGetAttributes")
            found.append(
                MigInstanceReading(
                    uuid=_text(get("nvmlDeviceGetUUID") or ""),
                    gpu_instance_id=None if gi is None else int(gi),
                    compute_instance_id=_int(get("nvmlDeviceGetComputeInstanceId")),
                    profile=name.rsplit(" MIG ", 1)[1].strip() if " MIG " in name else "",
                    sm_count=None if attributes is None else int(attributes.multiprocessorCount),
                    memory_used_bytes=None if memory is None else float(memory.used),
                    memory_total_bytes=None if memory is None else float(memory.total),
                )
            )
        activity: dict[int, tuple[float | None, float | None]] = {}
        for inst in found:
            if inst.gpu_instance_id is not None and inst.gpu_instance_id not in activity:
                activity[inst.gpu_instance_id] = self._gpm(dev, anomalies, inst.gpu_instance_id)
        return tuple(
            replace(i, sm_active=activity[i.gpu_instance_id][0], tensor_active=activity[i.gpu_instance_id][1])
            if i.gpu_instance_id is not None
            else i
            for i in found
        )

    def _mig_whole(
        self, dev: _Device, instances: tuple[MigInstanceReading, ...], anomalies: list[SourceAnomaly]
    ) -> tuple[float | None, float | None]:
        """The GPU's SM and tensor activity from its instances' (SM-weighted); None unless all read."""
        if not dev.gpm_supported:
            if not dev.said_no_activity:  # absent, like any unsupported metric: said once, in the log
                dev.said_no_activity = True
                _log.warning(
                    "MIG GPU without an activity source",
                    extra={"fields": {"uuid": dev.uuid, "reason": _NO_MIG_ACTIVITY}},
                )
            return None, None
        n = self._nvml
        full = self._call(
            dev, "nvmlDeviceGetGpuInstanceProfileInfo", anomalies, n.NVML_GPU_INSTANCE_PROFILE_7_SLICE
        )
        total = None if full is None else int(full.multiprocessorCount)
        if not instances or not total:
            return None, None
        out: list[float | None] = []
        for metric in ("sm_active", "tensor_active"):
            values = [(getattr(i, metric), i.sm_count) for i in instances]
            if any(v is None or c is None for v, c in values):
                out.append(None)
                continue
            out.append(sum(float(v) * int(c) for v, c in values) / total)  # type: ignore[arg-type]
        return out[0], out[1]


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
