"""A recorded fake of the NVML calls ``attestor.sources.nvml`` makes, shaped like nvidia-ml-py.

Constants, error classes and ctypes structures are nvidia-ml-py's own (``pynvml`` imports
without a driver); only the functions are replaced. Values are those of the real H100 capture
in ../shared/data/nvidia-smi (idle ~70 W, load ~632 W, 700 W limit, 81559 MiB): NVML returns
power in mW, energy in mJ, memory in bytes, PCIe throughput in KB/s, NVLink counters in KiB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml

MIB = 1024 * 1024


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    serial: str = "1652823004938"
    power_mw: int = 69_850
    energy_mj: int = 123_456_789
    limit_mw: int = 700_000
    util_gpu: int = 0
    mem_used: int = 17 * MIB
    mem_total: int = 81_559 * MIB
    processes: list[int] = field(default_factory=list)
    pcie_kbps: tuple[int, int] = (1_200, 3_400)
    nvlink_kib: tuple[int, int] = (0, 0)
    gpm: bool = True
    sm_pct: float = 0.0
    tensor_pct: float = 0.0
    fail: dict[str, int] = field(default_factory=dict)  # function name -> NVML error code


class FakeNvml:
    """Module-like object: ``FakeNvml(gpus).nvmlDeviceGetPowerUsage(handle)`` etc."""

    def __init__(self, gpus: list[FakeGpu], driver: str = "590.48.01") -> None:
        self.gpus = gpus
        self.driver = driver
        self.calls: list[str] = []
        self.initialised = False

    def __getattr__(self, name: str) -> Any:
        return getattr(pynvml, name)  # constants, NVMLError, structures

    def _gpu(self, handle: Any, fn: str) -> FakeGpu:
        self.calls.append(fn)
        gpu: FakeGpu = handle
        if fn in gpu.fail:
            raise pynvml.NVMLError(gpu.fail[fn])
        return gpu

    def nvmlInit(self) -> None:
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.initialised = False

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        if index >= len(self.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, h: Any) -> str:
        return self._gpu(h, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetName(self, h: Any) -> str:
        return self._gpu(h, "nvmlDeviceGetName").name

    def nvmlDeviceGetSerial(self, h: Any) -> str:
        return self._gpu(h, "nvmlDeviceGetSerial").serial

    def nvmlDeviceGetPowerUsage(self, h: Any) -> int:
        return self._gpu(h, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, h: Any) -> int:
        return self._gpu(h, "nvmlDeviceGetTotalEnergyConsumption").energy_mj

    def nvmlDeviceGetEnforcedPowerLimit(self, h: Any) -> int:
        return self._gpu(h, "nvmlDeviceGetEnforcedPowerLimit").limit_mw

    def nvmlDeviceGetUtilizationRates(self, h: Any) -> Any:
        g = self._gpu(h, "nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=g.util_gpu, memory=0)

    def nvmlDeviceGetMemoryInfo(self, h: Any) -> Any:
        g = self._gpu(h, "nvmlDeviceGetMemoryInfo")
        return SimpleNamespace(used=g.mem_used, total=g.mem_total, free=g.mem_total - g.mem_used)

    def nvmlDeviceGetComputeRunningProcesses(self, h: Any) -> list[Any]:
        g = self._gpu(h, "nvmlDeviceGetComputeRunningProcesses")
        return [SimpleNamespace(pid=p, usedGpuMemory=1 << 30) for p in g.processes]

    def nvmlDeviceGetPcieThroughput(self, h: Any, counter: int) -> int:
        g = self._gpu(h, "nvmlDeviceGetPcieThroughput")
        return g.pcie_kbps[0] if counter == pynvml.NVML_PCIE_UTIL_TX_BYTES else g.pcie_kbps[1]

    def nvmlDeviceGetFieldValues(self, h: Any, ids: list[int]) -> Any:
        g = self._gpu(h, "nvmlDeviceGetFieldValues")
        values = (pynvml.c_nvmlFieldValue_t * len(ids))()
        for i, fid in enumerate(ids):
            values[i].fieldId = fid
            values[i].nvmlReturn = pynvml.NVML_SUCCESS
            values[i].value.ullVal = g.nvlink_kib[
                0 if fid == pynvml.NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX else 1
            ]
        return values

    def nvmlGpmQueryDeviceSupport(self, h: Any) -> Any:
        return SimpleNamespace(isSupportedDevice=1 if self._gpu(h, "nvmlGpmQueryDeviceSupport").gpm else 0)

    def nvmlGpmSampleAlloc(self) -> Any:
        return SimpleNamespace(gpu=None)

    def nvmlGpmSampleGet(self, h: Any, sample: Any) -> Any:
        sample.gpu = self._gpu(h, "nvmlGpmSampleGet")
        return sample

    def nvmlGpmSampleFree(self, sample: Any) -> None:
        return None

    def c_nvmlGpmMetricsGet_t(self) -> Any:
        metrics = [SimpleNamespace(metricId=0, nvmlReturn=pynvml.NVML_SUCCESS, value=0.0) for _ in range(4)]
        return SimpleNamespace(version=0, numMetrics=0, sample1=None, sample2=None, metrics=metrics)

    def nvmlGpmMetricsGet(self, query: Any) -> Any:
        gpu: FakeGpu = query.sample2.gpu
        for m in query.metrics[: query.numMetrics]:
            if m.metricId == pynvml.NVML_GPM_METRIC_SM_UTIL:
                m.value = gpu.sm_pct
            elif m.metricId == pynvml.NVML_GPM_METRIC_ANY_TENSOR_UTIL:
                m.value = gpu.tensor_pct
        return query
