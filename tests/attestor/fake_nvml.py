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
class FakeMig:
    """A MIG device (one compute instance of one GPU instance), as NVML hands out its handle.

    Defaults are an H100's ``1g.10gb`` profile: 16 SMs, 9856 MiB; GPM values are of the instance.
    """

    uuid: str
    gpu_instance_id: int
    compute_instance_id: int = 0
    name: str = "NVIDIA H100 80GB HBM3 MIG 1g.10gb"
    sm_count: int = 16
    mem_used: int = 5 * MIB
    mem_total: int = 9_856 * MIB
    sm_pct: float = 0.0
    tensor_pct: float = 0.0
    fail: dict[str, int] = field(default_factory=dict)


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
    mig_mode: int | None = None  # None: the GPU has no MIG (NOT_SUPPORTED); else 0/1 as NVML says
    mig: list[FakeMig | None] = field(default_factory=list)  # slots; None: an empty slot
    full_profile_sms: int = 132  # SMs of the 7-slice GPU instance profile (H100 SXM)


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
        """The GPU (or, for the calls both answer, the MIG device: same attribute names)."""
        self.calls.append(fn)
        if fn in handle.fail:
            raise pynvml.NVMLError(handle.fail[fn])
        if isinstance(handle, FakeMig) and fn in _NOT_ON_MIG:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if isinstance(handle, FakeGpu) and handle.mig_mode == 1 and fn == "nvmlDeviceGetUtilizationRates":
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)  # nvidia-smi's N/A in MIG mode
        gpu: FakeGpu = handle
        return gpu

    def _mig(self, handle: Any, fn: str) -> FakeMig:
        self._gpu(handle, fn)
        mig: FakeMig = handle
        return mig

    # MIG: what NVML answers for a GPU in MIG mode and for its MIG device handles.
    def nvmlDeviceGetMigMode(self, h: Any) -> list[int]:
        g = self._gpu(h, "nvmlDeviceGetMigMode")
        if g.mig_mode is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return [g.mig_mode, g.mig_mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, h: Any) -> int:
        return 7 if self._gpu(h, "nvmlDeviceGetMaxMigDeviceCount").mig_mode is not None else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h: Any, index: int) -> FakeMig:
        g = self._gpu(h, "nvmlDeviceGetMigDeviceHandleByIndex")
        mig = g.mig[index] if index < len(g.mig) else None
        if mig is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return mig

    def nvmlDeviceGetGpuInstanceId(self, h: Any) -> int:
        return self._mig(h, "nvmlDeviceGetGpuInstanceId").gpu_instance_id

    def nvmlDeviceGetComputeInstanceId(self, h: Any) -> int:
        return self._mig(h, "nvmlDeviceGetComputeInstanceId").compute_instance_id

    def nvmlDeviceGetAttributes(self, h: Any) -> Any:
        return SimpleNamespace(multiprocessorCount=self._mig(h, "nvmlDeviceGetAttributes").sm_count)

    def nvmlDeviceGetGpuInstanceProfileInfo(self, h: Any, profile: int) -> Any:
        g = self._gpu(h, "nvmlDeviceGetGpuInstanceProfileInfo")
        assert profile == pynvml.NVML_GPU_INSTANCE_PROFILE_7_SLICE
        return SimpleNamespace(multiprocessorCount=g.full_profile_sms)

    def nvmlGpmMigSampleGet(self, h: Any, gpu_instance_id: int, sample: Any) -> Any:
        g = self._gpu(h, "nvmlGpmMigSampleGet")
        (sample.gpu,) = [m for m in g.mig if m is not None and m.gpu_instance_id == gpu_instance_id][:1]
        return sample

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
        gpu: FakeGpu | FakeMig = query.sample2.gpu
        for m in query.metrics[: query.numMetrics]:
            if m.metricId == pynvml.NVML_GPM_METRIC_SM_UTIL:
                m.value = gpu.sm_pct
            elif m.metricId == pynvml.NVML_GPM_METRIC_ANY_TENSOR_UTIL:
                m.value = gpu.tensor_pct
        return query


# Calls NVML does not support on a MIG device handle: power, energy and limits are the GPU's.
_NOT_ON_MIG = frozenset({
    "nvmlDeviceGetPowerUsage", "nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetEnforcedPowerLimit",
    "nvmlDeviceGetUtilizationRates",
})  # fmt: skip
