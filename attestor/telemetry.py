"""What a telemetry source hands the attestor: one ``Sample`` per sampling instant.

Every source (NVML, dcgm-exporter, nvidia-smi, Linux host, Redfish, trace replay, simulator)
implements ``TelemetrySource``: ``sample(now_ns)`` returns a ``Sample`` holding, per device, the
*raw* readings already converted to SI units (the conversion is written beside each source's
code), and, for the node, host counters. A value the source did not give is ``None``, never 0.

Sources do not judge values: NaN, negative or absurd readings are passed on as read, and the
aggregator (``attestor.aggregate``) turns them into ``TelemetryAnomaly`` records with the raw
value. Failures to read at all are reported by the source as ``SourceAnomaly`` entries.

Counters are cumulative values as the hardware keeps them (energy J, bytes, CPU seconds);
``*_range`` says where a counter wraps (RAPL's ``max_energy_range_uj``), ``None`` when the
counter does not wrap but may reset (NVML's energy counter resets when the driver reloads).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from pausewatch.v1 import types_pb2

__all__ = [
    "AnomalyKind",
    "DeviceReading",
    "HostReading",
    "MigInstanceReading",
    "Sample",
    "SourceAnomaly",
    "SourceKind",
    "TelemetrySource",
]


class SourceKind(IntEnum):
    """Mirror of ``pausewatch.v1.SourceKind`` (values equal the wire enum)."""

    NVML = types_pb2.SOURCE_KIND_NVML
    DCGM_EXPORTER = types_pb2.SOURCE_KIND_DCGM_EXPORTER
    NVIDIA_SMI = types_pb2.SOURCE_KIND_NVIDIA_SMI
    LINUX_HOST = types_pb2.SOURCE_KIND_LINUX_HOST
    REDFISH = types_pb2.SOURCE_KIND_REDFISH
    TRACE_REPLAY = types_pb2.SOURCE_KIND_TRACE_REPLAY
    SIMULATOR = types_pb2.SOURCE_KIND_SIMULATOR
    AMD_SMI = types_pb2.SOURCE_KIND_AMD_SMI


class AnomalyKind(IntEnum):
    """Mirror of ``pausewatch.v1.AnomalyKind``."""

    NAN = types_pb2.ANOMALY_KIND_NAN
    NEGATIVE = types_pb2.ANOMALY_KIND_NEGATIVE
    OUT_OF_RANGE = types_pb2.ANOMALY_KIND_OUT_OF_RANGE
    COUNTER_RESET = types_pb2.ANOMALY_KIND_COUNTER_RESET
    COUNTER_WRAP = types_pb2.ANOMALY_KIND_COUNTER_WRAP
    METRIC_VANISHED = types_pb2.ANOMALY_KIND_METRIC_VANISHED
    DEVICE_APPEARED = types_pb2.ANOMALY_KIND_DEVICE_APPEARED
    DEVICE_DISAPPEARED = types_pb2.ANOMALY_KIND_DEVICE_DISAPPEARED
    SOURCE_ERROR = types_pb2.ANOMALY_KIND_SOURCE_ERROR


@dataclass(frozen=True)
class SourceAnomaly:
    """Something a source could not read or parse, recorded with the raw text it saw."""

    kind: AnomalyKind
    metric: str
    raw_value: str
    device_uuid: str = ""


@dataclass(frozen=True)
class MigInstanceReading:
    """One MIG instance of a GPU at one instant; fractions are of the instance's own SMs.

    Read for what ran where; the report carries the whole GPU, whose activity the source derives
    from these (weighted by SM count) when the GPU itself gives none.
    """

    uuid: str = ""  # MIG-... (NVML); "" where the source names instances only by id (DCGM)
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None
    profile: str = ""  # e.g. "1g.10gb"
    sm_count: int | None = None
    sm_active: float | None = None  # 0..1
    tensor_active: float | None = None  # 0..1
    engine_active: float | None = None  # 0..1, DCGM's GR_ENGINE_ACTIVE
    memory_used_bytes: float | None = None
    memory_total_bytes: float | None = None


@dataclass(frozen=True)
class DeviceReading:
    """One accelerator at one instant, in SI units. ``None``: the source did not give it."""

    uuid: str
    model: str = ""
    serial: str = ""
    power_w: float | None = None
    energy_counter_j: float | None = None  # cumulative, J
    energy_counter_range_j: float | None = None  # wraps here; None: never wraps (may reset)
    busy_fraction: float | None = None  # 0..1
    sm_active: float | None = None  # 0..1
    tensor_active: float | None = None  # 0..1
    memory_used_bytes: float | None = None
    memory_total_bytes: float | None = None
    power_limit_w: float | None = None
    nvlink_bytes_counter: float | None = None  # cumulative bytes tx+rx
    nvlink_rate_bps: float | None = None  # bytes/s tx+rx, when only a rate is given
    pcie_bytes_counter: float | None = None  # cumulative bytes tx+rx
    pcie_rate_bps: float | None = None  # bytes/s tx+rx
    process_count: float | None = None
    mig_enabled: bool | None = None  # None: the source cannot tell (or the GPU has no MIG)
    mig_instances: tuple[MigInstanceReading, ...] = ()


@dataclass(frozen=True)
class HostReading:
    """Node-level readings at one instant, in SI units; counters are cumulative."""

    cpu_busy_s_counter: float | None = None  # CPU-seconds busy, all cores
    net_bytes_counter: float | None = None  # bytes rx+tx, non-loopback
    infiniband_bytes_counter: float | None = None  # bytes rx+tx (already x4 from words)
    rapl_energy_counter_j: float | None = None  # J, sum over packages
    rapl_range_j: float | None = None  # J, wrap point of the summed counter
    bmc_power_w: float | None = None  # W, node intake as the BMC reports it
    bmc_energy_counter_j: float | None = None  # J, when the BMC has a counter


@dataclass(frozen=True)
class Sample:
    """Everything one source read at ``at_ns`` (unix ns on the injected clock)."""

    at_ns: int
    kind: SourceKind
    version: str = ""
    devices: tuple[DeviceReading, ...] = ()
    host: HostReading | None = None
    anomalies: tuple[SourceAnomaly, ...] = ()


class TelemetrySource(Protocol):
    """A source of samples. ``sample`` never raises for bad telemetry: it reports anomalies.

    It may raise ``EnvironmentFaultError`` when the source cannot be used at all (library
    missing, endpoint unreachable at start); the daemon records that as a SOURCE_ERROR.
    """

    @property
    def kind(self) -> SourceKind: ...

    def sample(self, now_ns: int) -> Sample: ...

    def close(self) -> None: ...
