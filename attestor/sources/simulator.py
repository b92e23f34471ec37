"""Simulated accelerators driven by a workload profile, for demos and scenarios.

Pure and deterministic: every reading is a function of (profile, seed, device, time), using a
hash of those as the only randomness, so two runs with the same seed and the same sample times
give identical telemetry, and every node of a simulated training job that shares ``job_seed``
runs its iterations in phase (synchronised across devices and nodes).

API for the scenario runner (``sim/``)::

    profile = WorkloadProfile.training(job_seed=7, iteration_s=6.0)
    source = SimulatedDeviceSource(node_id="a-node-01", devices=8, schedule=[(0, profile)])
    sample = source.sample(clock.now_ns())        # a telemetry.Sample

``schedule`` is a list of (from_unix_ns, profile) segments: a node that starts training at T is
``[(0, idle), (T, training)]``. A lying node is one whose schedule says idle while the facility
meter (``SimulatedMeterSource``) sees the training load; a silent node is simply not sampled.

Profiles:

- ``idle``: near the idle floor, tiny noise, no processes;
- ``inference``: 1-s slots busy with probability ``burst_probability`` (request bursts), each at a
  random level; memory holds the model weights;
- ``training``: an iteration rhythm of ``iteration_s`` (compute ``compute_fraction`` of it at
  high power with tensor activity, the rest in all-reduce at lower power with NVLink traffic),
  and every ``checkpoint_every_s`` a pause of ``checkpoint_s`` near idle power.
"""

from __future__ import annotations

import hashlib
import struct
import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass

from attestor.telemetry import DeviceReading, Sample, SourceKind

__all__ = ["DEFAULT_MODEL", "SimulatedDeviceSource", "SimulatedMeterSource", "WorkloadProfile", "device_uuid"]

DEFAULT_MODEL = "NVIDIA H100 80GB HBM3"
_NS = 1_000_000_000
_GIB = 1024.0**3


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    (value,) = struct.unpack(">Q", digest)
    return float(value) / 2.0**64


def device_uuid(node_id: str, index: int) -> str:
    """The stable UUID of simulated device ``index`` of ``node_id``."""
    return "GPU-" + str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"pausewatch-sim/{node_id}/{index}"))


@dataclass(frozen=True)
class WorkloadProfile:
    """What a simulated device is doing. Use the ``idle``/``inference``/``training`` builders."""

    kind: str
    job_seed: int = 0
    idle_w: float = 70.0
    peak_w: float = 650.0
    power_limit_w: float = 700.0
    iteration_s: float = 6.0
    compute_fraction: float = 0.75
    checkpoint_every_s: float = 900.0
    checkpoint_s: float = 30.0
    burst_probability: float = 0.3
    memory_gib: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in ("idle", "inference", "training"):
            raise ValueError(f"unknown workload kind {self.kind!r}")

    @classmethod
    def idle(cls) -> WorkloadProfile:
        return cls("idle", memory_gib=0.5)

    @classmethod
    def inference(cls, job_seed: int = 0, burst_probability: float = 0.3) -> WorkloadProfile:
        return cls("inference", job_seed=job_seed, burst_probability=burst_probability, memory_gib=30.0)

    @classmethod
    def training(
        cls, job_seed: int = 0, iteration_s: float = 6.0, checkpoint_every_s: float = 900.0
    ) -> WorkloadProfile:
        return cls(
            "training",
            job_seed=job_seed,
            iteration_s=iteration_s,
            checkpoint_every_s=checkpoint_every_s,
            memory_gib=62.0,
        )

    def activity(self, t_s: float, node_id: str, index: int) -> tuple[float, float, float]:
        """(power fraction of peak above idle, tensor activity, interconnect share) at ``t_s``."""
        noise = _unit(self.job_seed, node_id, index, round(t_s * 10)) - 0.5
        if self.kind == "idle":
            return max(0.0, 0.005 + 0.01 * noise), 0.0, 0.0
        if self.kind == "inference":
            slot = int(t_s)
            if _unit("burst", self.job_seed, node_id, index, slot) < self.burst_probability:
                level = 0.3 + 0.6 * _unit("level", self.job_seed, node_id, index, slot)
                return level + 0.03 * noise, 0.35 * level, 0.0
            return max(0.0, 0.02 + 0.02 * noise), 0.0, 0.0
        # training: one phase for the whole job (shared job_seed), the same on every node.
        offset = _unit("phase", self.job_seed) * self.iteration_s
        since_ckpt = (t_s + offset) % self.checkpoint_every_s
        if since_ckpt < self.checkpoint_s:
            return max(0.0, 0.08 + 0.02 * noise), 0.0, 0.0
        phase = ((t_s + offset) % self.iteration_s) / self.iteration_s
        if phase < self.compute_fraction:
            return 0.85 + 0.05 * noise, 0.62 + 0.05 * noise, 0.05
        return 0.45 + 0.05 * noise, 0.05, 1.0


@dataclass
class _Counters:
    last_ns: int
    last_power_w: float
    energy_j: float
    nvlink_bytes: float


class SimulatedDeviceSource:
    """``devices`` simulated accelerators of ``node_id`` following ``schedule``."""

    NVLINK_PEAK_BPS = 450e9  # bytes/s, an H100 SXM's NVLink bandwidth (one direction, all links)

    def __init__(
        self,
        node_id: str,
        devices: int,
        schedule: Sequence[tuple[int, WorkloadProfile]] | WorkloadProfile,
        *,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
    ) -> None:
        if isinstance(schedule, WorkloadProfile):
            schedule = [(0, schedule)]
        if not schedule:
            raise ValueError("a simulated device needs at least one profile")
        self._node = node_id
        self._n = devices
        self._schedule = sorted(schedule, key=lambda seg: seg[0])
        self._model = model
        self._seed = seed
        self._uuids = [device_uuid(node_id, i) for i in range(devices)]
        self._counters: dict[int, _Counters] = {}

    @property
    def kind(self) -> SourceKind:
        return SourceKind.SIMULATOR

    @property
    def uuids(self) -> list[str]:
        return list(self._uuids)

    def inventory(self) -> list[tuple[str, str, str]]:
        return [(u, self._model, f"SIM{i:04d}") for i, u in enumerate(self._uuids)]

    def close(self) -> None:
        return None

    def profile_at(self, now_ns: int) -> WorkloadProfile:
        current = self._schedule[0][1]
        for start, profile in self._schedule:
            if start <= now_ns:
                current = profile
        return current

    def power_w(self, now_ns: int, index: int) -> float:
        profile = self.profile_at(now_ns)
        level, _, _ = profile.activity(now_ns / _NS, self._node, index)
        return profile.idle_w + (profile.peak_w - profile.idle_w) * level

    def sample(self, now_ns: int) -> Sample:
        profile = self.profile_at(now_ns)
        t_s = now_ns / _NS
        readings: list[DeviceReading] = []
        for i, uuid in enumerate(self._uuids):
            level, tensor, link = profile.activity(t_s, self._node, i)
            power = profile.idle_w + (profile.peak_w - profile.idle_w) * level
            c = self._counters.get(i)
            if c is None:
                start_j = 1e6 * (1 + _unit("energy", self._seed, self._node, i))
                c = _Counters(now_ns, power, start_j, 0.0)
                self._counters[i] = c
            elif now_ns > c.last_ns:
                dt = (now_ns - c.last_ns) / _NS
                c.energy_j += 0.5 * (power + c.last_power_w) * dt
                c.nvlink_bytes += link * self.NVLINK_PEAK_BPS * 0.3 * dt
                c.last_ns, c.last_power_w = now_ns, power
            busy = 0.0 if level < 0.05 else min(1.0, 0.5 + level)
            readings.append(
                DeviceReading(
                    uuid=uuid,
                    model=self._model,
                    serial=f"SIM{i:04d}",
                    power_w=power,
                    energy_counter_j=c.energy_j,
                    busy_fraction=busy,
                    sm_active=min(1.0, level),
                    tensor_active=max(0.0, tensor),
                    memory_used_bytes=profile.memory_gib * _GIB,
                    memory_total_bytes=80.0 * _GIB,
                    power_limit_w=profile.power_limit_w,
                    nvlink_bytes_counter=c.nvlink_bytes,
                    pcie_rate_bps=2e8 * level,
                    process_count=0.0 if profile.kind == "idle" else 1.0,
                )
            )
        return Sample(now_ns, SourceKind.SIMULATOR, f"simulator {profile.kind}", tuple(readings))


class SimulatedMeterSource:
    """A facility meter: the sum of the given simulated nodes' power x ``overhead`` + ``base_w``."""

    def __init__(
        self,
        meter_id: str,
        nodes: Sequence[SimulatedDeviceSource],
        *,
        overhead: float = 1.25,
        base_w: float = 2000.0,
    ) -> None:
        self._meter_id = meter_id
        self._nodes = list(nodes)
        self._overhead = overhead
        self._base = base_w

    @property
    def kind(self) -> SourceKind:
        return SourceKind.SIMULATOR

    def close(self) -> None:
        return None

    def sample(self, now_ns: int) -> Sample:
        gpu_w = sum(n.power_w(now_ns, i) for n in self._nodes for i in range(len(n.uuids)))
        power = self._base + gpu_w * self._overhead
        reading = DeviceReading(uuid=self._meter_id, model="simulated facility meter", power_w=power)
        return Sample(now_ns, SourceKind.SIMULATOR, "simulator meter", (reading,))
