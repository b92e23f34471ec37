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
meter (``SimulatedMeterSource``) sees the training load; a silent node is simply not sampled
(in a demo with real processes: its attestor is stopped).

From a config (``[[sources]] kind = "simulator"``, see ``sources_from_options``) a schedule is an
array of tables, each ``{from_unix_ns = T, profile = "training", job_seed = 7}`` (``job_seed`` and
``iteration_s`` optional). A simulated meter is given every node it meters — hidden ones too —
each with the schedule of what it *really* runs::

    [[sources]]
    kind = "simulator"
    overhead = 1.25                 # the ratio the meter really sees
    base_w = 0.0
    seed = 2026
    [[sources.nodes]]
    node_id = "fac-b-n00"
    devices = 8
    [[sources.nodes.schedule]]
    from_unix_ns = 0
    profile = "idle"
    [[sources.nodes.schedule]]
    from_unix_ns = 1772413200000000000
    profile = "training"
    job_seed = 7

Same seed, node ids and schedules give the meter the very draw the nodes' own sources compute,
without talking to them.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attestor.telemetry import DeviceReading, Sample, SourceKind

__all__ = [
    "DEFAULT_MODEL",
    "SimulatedDeviceSource",
    "SimulatedMeterSource",
    "WorkloadProfile",
    "device_uuid",
    "profile_named",
    "schedule_from_tables",
    "sources_from_options",
]

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


PROFILE_KINDS = ("idle", "inference", "training")


def profile_named(kind: str, *, job_seed: int = 0, iteration_s: float = 6.0) -> WorkloadProfile:
    """The standard profile of ``kind`` (ValueError for an unknown kind)."""
    if kind == "idle":
        return WorkloadProfile.idle()
    if kind == "inference":
        return WorkloadProfile.inference(job_seed=job_seed)
    if kind == "training":
        return WorkloadProfile.training(job_seed=job_seed, iteration_s=iteration_s)
    raise ValueError(f"must be one of {', '.join(PROFILE_KINDS)}; got {kind!r}")


def _integer(table: Mapping[str, Any], key: str, default: int | None) -> int:
    value = table.get(key, default)
    if value is None:
        raise ValueError(f"{key}: required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key}: expected an integer, got {value!r}")
    return value


def schedule_from_tables(raw: object) -> list[tuple[int, WorkloadProfile]]:
    """Config tables ``{from_unix_ns, profile, job_seed?, iteration_s?}`` → schedule segments.

    Raises ValueError naming the entry (``[2].profile: ...``); segments must be in time order.
    """
    if not isinstance(raw, list) or not raw:
        raise ValueError("expected a non-empty array of tables {from_unix_ns, profile, job_seed}")
    out: list[tuple[int, WorkloadProfile]] = []
    for n, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ValueError(f"[{n}]: expected a table")
        unknown = set(entry) - {"from_unix_ns", "profile", "job_seed", "iteration_s"}
        if unknown:
            raise ValueError(f"[{n}].{sorted(unknown)[0]}: unknown key")
        try:
            start = _integer(entry, "from_unix_ns", None)
            seed = _integer(entry, "job_seed", 0)
            iteration = entry.get("iteration_s", 6.0)
            if isinstance(iteration, bool) or not isinstance(iteration, int | float) or not iteration > 0:
                raise ValueError(f"iteration_s: expected a positive number, got {iteration!r}")
            kind = entry.get("profile")
            if not isinstance(kind, str):
                raise ValueError(f"profile: expected a string, got {kind!r}")
            profile = profile_named(kind, job_seed=seed, iteration_s=float(iteration))
        except ValueError as e:
            raise ValueError(f"[{n}].{e}") from None
        if out and start <= out[-1][0]:
            raise ValueError(f"[{n}].from_unix_ns: segments must be in increasing time order")
        out.append((start, profile))
    return out


def sources_from_options(
    options: Mapping[str, Any], *, subject_id: str, meter: bool
) -> SimulatedDeviceSource | SimulatedMeterSource:
    """A simulator source from its config options (ValueError naming the option).

    Node: ``devices`` [8], ``model``, ``seed`` [0], and either ``schedule`` (tables) or one
    ``profile`` [idle] with ``job_seed``/``iteration_s``. Meter: ``overhead`` [1.25], ``base_w``
    [2000], and either ``nodes`` (tables ``{node_id, devices?, model?, schedule?}``) or
    ``node_ids`` sharing the one ``profile``/``schedule``.
    """

    def number(key: str, default: float) -> float:
        v = options.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ValueError(f"{key}: expected a non-negative number, got {v!r}")
        return float(v)

    def text(table: Mapping[str, Any], key: str, default: str) -> str:
        v = table.get(key, default)
        if not isinstance(v, str) or not v:
            raise ValueError(f"{key}: expected a non-empty string, got {v!r}")
        return v

    def device_count(table: Mapping[str, Any], default: int) -> int:
        n = _integer(table, "devices", default)
        if not 1 <= n <= 64:
            raise ValueError(f"devices: must be 1..64; got {n}")
        return n

    devices = device_count(options, 8)
    model = text(options, "model", DEFAULT_MODEL)
    seed = _integer(options, "seed", 0)
    schedule: Sequence[tuple[int, WorkloadProfile]]
    if "schedule" in options:
        try:
            schedule = schedule_from_tables(options["schedule"])
        except ValueError as e:
            raise ValueError(f"schedule{e}" if str(e).startswith("[") else f"schedule: {e}") from None
    else:
        try:
            kind = text(options, "profile", "idle")
            job_seed = _integer(options, "job_seed", 0)
            schedule = [(0, profile_named(kind, job_seed=job_seed, iteration_s=number("iteration_s", 6.0)))]
        except ValueError as e:
            raise ValueError(str(e) if ":" in str(e) else f"profile: {e}") from None
    if not meter:
        return SimulatedDeviceSource(subject_id, devices, schedule, model=model, seed=seed)
    nodes: list[SimulatedDeviceSource] = []
    if "nodes" in options:
        raw = options["nodes"]
        if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
            raise ValueError("nodes: expected a non-empty array of tables {node_id, devices, schedule}")
        for n, table in enumerate(raw):
            unknown = set(table) - {"node_id", "devices", "model", "schedule"}
            if unknown:
                raise ValueError(f"nodes[{n}].{sorted(unknown)[0]}: unknown key")
            try:
                node_schedule = schedule_from_tables(table["schedule"]) if "schedule" in table else schedule
            except ValueError as e:
                raise ValueError(f"nodes[{n}].schedule{e}" if str(e).startswith("[")
                                 else f"nodes[{n}].schedule: {e}") from None
            try:
                node_id = text(table, "node_id", "")
                nodes.append(SimulatedDeviceSource(node_id, device_count(table, devices), node_schedule,
                                                   model=text(table, "model", model), seed=seed))
            except ValueError as e:
                raise ValueError(f"nodes[{n}].{e}") from None
    else:
        node_ids = options.get("node_ids", [subject_id])
        if not (isinstance(node_ids, list) and node_ids and all(isinstance(x, str) and x for x in node_ids)):
            raise ValueError(f"node_ids: expected a non-empty list of node ids, got {node_ids!r}")
        nodes = [SimulatedDeviceSource(x, devices, schedule, model=model, seed=seed) for x in node_ids]
    overhead, base_w = number("overhead", 1.25), number("base_w", 2000.0)
    return SimulatedMeterSource(subject_id, nodes, overhead=overhead, base_w=base_w)
