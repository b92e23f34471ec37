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
  and every ``checkpoint_every_s`` a pause of ``checkpoint_s`` near idle power;
- ``tp-inference``: one model sharded over the node's devices (tensor parallel): every device
  follows the same request load in lockstep (a slow load curve over minutes and a shared
  per-second batch jitter), moderate power (~215-420 W), NVLink traffic from the per-layer
  all-reduces, decode-bound tensor activity (0.1-0.3), no step rhythm;
- ``burn-in``: a stress test (gpu-burn style): flat at the power limit, busy 100 %, no tensor
  work, no NVLink, the devices' small power wobble shared (one node, one thermal/limit loop);
- ``batch-generation``: offline batched generation, one replica per device: sustained high
  power (~0.72 of the range above idle), busy 100 %, moderate tensor activity, no NVLink,
  each device on its own (no synchrony, no rhythm);
- ``off``: the node is powered off: 0 W (only a meter ever sees this; an off node cannot report).

Every profile is clamped at ``power_limit_w`` (an operator-set power cap, e.g. 50 % of the
board's 700 W): power above it is cut to it, and the compute signals (SM and tensor activity)
shrink in proportion, as a power-capped device lowers its clocks. The report shows the cap as
``power_limit_w``.

A device source may give each device its own schedule (``device_schedules``: training on k of
n devices), list fewer devices than it has (``reported_devices``: a patched attestor hiding
accelerators), and give a device a new UUID from a time on (``replacements``: a GPU swapped).
A meter source scales its scope's true power by an overhead that may change over time, adds a
facility base load, takes its feed's share, and reads with a systematic error, random noise
and, when it lies, a factor (``Ramp`` values over time). Given ``counter_j``, it also keeps an
energy register, as revenue and intake meters do: from that value at its first sample, the
trapezoid of its readings between samples up to ``COUNTER_STEP_LIMIT_S`` apart (exactly what the
aggregator integrates), and across longer stretches in which nobody read it (its attestor
stopped) what the scope really drew, read at 1-s steps with the meter's error and factor but
without its per-sample noise: the register counts whether or not anyone reads it.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import math
import struct
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attestor.telemetry import DeviceReading, Sample, SourceKind

__all__ = [
    "DEFAULT_MODEL",
    "PROFILE_KINDS",
    "Ramp",
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


def device_uuid(node_id: str, index: int, generation: int = 0) -> str:
    """The stable UUID of simulated device ``index`` of ``node_id``; ``generation`` counts the
    times that slot's card was replaced (0: the original card)."""
    name = f"pausewatch-sim/{node_id}/{index}" + (f"/{generation}" if generation else "")
    return "GPU-" + str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, name))


def _gauss(*parts: object) -> float:
    """A deterministic standard normal draw from ``parts`` (Box-Muller over two hashes)."""
    u1 = max(_unit("g1", *parts), 1e-12)
    u2 = _unit("g2", *parts)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@dataclass(frozen=True)
class Ramp:
    """A value over time: piecewise linear between ``points`` (unix ns, value), constant before
    the first and after the last. Two points at one instant make a step there: the later one
    holds from that instant on."""

    points: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a ramp needs at least one point")
        if any(b[0] < a[0] for a, b in zip(self.points, self.points[1:], strict=False)):
            raise ValueError("ramp points must be in time order")
        object.__setattr__(self, "_times", [t for t, _ in self.points])

    @classmethod
    def constant(cls, value: float) -> Ramp:
        return cls(((0, value),))

    def at(self, t_ns: int) -> float:
        times: list[int] = self.__dict__["_times"]
        i = bisect.bisect_right(times, t_ns)
        if i == 0:
            return self.points[0][1]
        if i == len(times):
            return self.points[-1][1]
        (t0, v0), (t1, v1) = self.points[i - 1], self.points[i]
        if t1 == t0:
            return v1
        return v0 + (v1 - v0) * (t_ns - t0) / (t1 - t0)


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
        if self.kind not in PROFILE_KINDS:
            raise ValueError(f"unknown workload kind {self.kind!r}")
        if not self.power_limit_w > 0:
            raise ValueError("power_limit_w must be positive")

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

    @classmethod
    def named(cls, kind: str, job_seed: int = 0, power_limit_w: float | None = None) -> WorkloadProfile:
        """The standard profile of ``kind`` (see the module docstring), capped at ``power_limit_w``."""
        memory = {"idle": 0.5, "inference": 30.0, "training": 62.0, "tp-inference": 70.0,
                  "burn-in": 72.0, "batch-generation": 75.0, "off": 0.0}
        if kind not in memory:
            raise ValueError(f"must be one of {', '.join(PROFILE_KINDS)}; got {kind!r}")
        base = cls(kind, job_seed=0 if kind in ("idle", "off") else job_seed, memory_gib=memory[kind])
        if power_limit_w is None:
            return base
        return cls(base.kind, job_seed=base.job_seed, memory_gib=base.memory_gib, power_limit_w=power_limit_w)

    @functools.cached_property
    def _phase_s(self) -> float:
        """Where in its iteration a training job starts, s (one phase for the whole job)."""
        return _unit("phase", self.job_seed) * self.iteration_s

    def power(self, level: float) -> float:
        """Board power (W) at ``level``, clamped at the power limit; 0 when powered off."""
        if self.kind == "off":
            return 0.0
        return min(self.power_limit_w, self.idle_w + (self.peak_w - self.idle_w) * level)

    def throttle(self, level: float) -> float:
        """How much of the unclamped compute a capped device still does at ``level`` (0 … 1)."""
        uncapped = self.idle_w + (self.peak_w - self.idle_w) * level
        if uncapped <= self.power_limit_w or uncapped <= self.idle_w:
            return 1.0
        return max(0.0, (self.power_limit_w - self.idle_w) / (uncapped - self.idle_w))

    def activity(self, t_s: float, node_id: str, index: int) -> tuple[float, float, float]:
        """(power fraction of peak above idle, tensor activity, interconnect share) at ``t_s``."""
        if self.kind == "off":
            return 0.0, 0.0, 0.0
        noise = _unit(self.job_seed, node_id, index, round(t_s * 10)) - 0.5
        if self.kind == "burn-in":
            # Flat at the limit; one small wobble shared by the node's devices (its power/thermal
            # loop), a smaller one each.
            target = (0.985 * self.power_limit_w - self.idle_w) / (self.peak_w - self.idle_w)
            shared = _unit("burn", self.job_seed, node_id, round(t_s)) - 0.5
            return target + 0.004 * shared + 0.001 * noise, 0.0, 0.0
        if self.kind == "tp-inference":
            # The node's request load: a slow curve (knots every 60 s, interpolated) on a
            # 20-minute swell, the same for every device of the node (one sharded model).
            knot = int(t_s // 60.0)
            frac = t_s / 60.0 - knot
            slow = (1 - frac) * _unit("load", self.job_seed, node_id, knot) + frac * _unit(
                "load", self.job_seed, node_id, knot + 1
            )
            load = 0.2 + 0.4 * slow + 0.4 * (0.5 + 0.5 * math.sin(2 * math.pi * t_s / 1200.0))
            batch = _unit("batch", self.job_seed, node_id, int(t_s)) - 0.5
            level = 0.25 + 0.35 * load + 0.06 * batch + 0.01 * noise
            return level, 0.1 + 0.2 * load, 0.05 + 0.15 * load
        if self.kind == "batch-generation":
            # One replica per device: each on its own batches, sustained near 0.72.
            wobble = _unit("gen", self.job_seed, node_id, index, int(t_s)) - 0.5
            return 0.72 + 0.08 * wobble + 0.01 * noise, 0.35 + 0.05 * wobble, 0.0
        if self.kind == "idle":
            return max(0.0, 0.005 + 0.01 * noise), 0.0, 0.0
        if self.kind == "inference":
            slot = int(t_s)
            if _unit("burst", self.job_seed, node_id, index, slot) < self.burst_probability:
                level = 0.3 + 0.6 * _unit("level", self.job_seed, node_id, index, slot)
                return level + 0.03 * noise, 0.35 * level, 0.0
            return max(0.0, 0.02 + 0.02 * noise), 0.0, 0.0
        # training: one phase for the whole job (shared job_seed), the same on every node.
        offset = self._phase_s
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


Schedule = Sequence[tuple[int, WorkloadProfile]]
# a device at one instant: its profile, then ``WorkloadProfile.activity``'s three values
_Activity = tuple[WorkloadProfile, float, float, float]


class _Timeline:
    """A schedule, sorted, answering "which profile at t" by bisection."""

    def __init__(self, schedule: Schedule) -> None:
        if not schedule:
            raise ValueError("a simulated device needs at least one profile")
        ordered = sorted(schedule, key=lambda seg: seg[0])
        self.starts = [t for t, _ in ordered]
        self.profiles = [p for _, p in ordered]

    def at(self, now_ns: int) -> WorkloadProfile:
        return self.profiles[max(0, bisect.bisect_right(self.starts, now_ns) - 1)]


class SimulatedDeviceSource:
    """``devices`` simulated accelerators of ``node_id`` following ``schedule``.

    ``device_schedules`` gives some devices (by index) a schedule of their own; ``reported_devices``
    (the first n) is what ``sample`` lists — the rest draw power (``power_w``) but are hidden;
    ``replacements`` are (from unix ns, index): from then on the slot holds a new card (a new UUID,
    its own energy counter).
    """

    NVLINK_PEAK_BPS = 450e9  # bytes/s, an H100 SXM's NVLink bandwidth (one direction, all links)

    def __init__(  # the simulator's knobs, all keyword-only
        self,
        node_id: str,
        devices: int,
        schedule: Schedule | WorkloadProfile,
        *,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
        device_schedules: Mapping[int, Schedule] | None = None,
        reported_devices: int | None = None,
        replacements: Sequence[tuple[int, int]] = (),
    ) -> None:
        if isinstance(schedule, WorkloadProfile):
            schedule = [(0, schedule)]
        self._node = node_id
        self._n = devices
        common = _Timeline(schedule)
        self._schedule = list(zip(common.starts, common.profiles, strict=True))
        own = {i: _Timeline(s) for i, s in (device_schedules or {}).items() if 0 <= i < devices}
        self._timelines = [own.get(i, common) for i in range(devices)]
        self._model = model
        self._seed = seed
        self._reported = devices if reported_devices is None else max(0, min(devices, reported_devices))
        self._uuids = [device_uuid(node_id, i) for i in range(devices)]
        swaps: dict[int, list[int]] = {}
        for at_ns, index in sorted(replacements):
            if 0 <= index < devices:
                swaps.setdefault(index, []).append(at_ns)
        # per slot: the times its card changed, and the UUID from each on
        self._swaps = {i: (ts, [device_uuid(node_id, i, g + 1) for g in range(len(ts))])
                       for i, ts in swaps.items()}
        self._counters: dict[str, _Counters] = {}
        self._activities: dict[int, tuple[list[_Activity], list[float]]] = {}
        self._serials = [f"SIM{i:04d}" for i in range(devices)]

    @property
    def kind(self) -> SourceKind:
        return SourceKind.SIMULATOR

    @property
    def uuids(self) -> list[str]:
        return list(self._uuids)

    @property
    def device_count(self) -> int:
        """Every device of the node, hidden ones included (what draws power)."""
        return self._n

    def uuid_at(self, now_ns: int, index: int) -> str:
        swaps = self._swaps.get(index)
        if swaps is None:
            return self._uuids[index]
        times, uuids = swaps
        k = bisect.bisect_right(times, now_ns)
        return self._uuids[index] if k == 0 else uuids[k - 1]

    def inventory(self, at_ns: int = 0, devices: int | None = None) -> list[tuple[str, str, str]]:
        """(uuid, model, serial) of the first ``devices`` (all) cards in place at ``at_ns``."""
        n = self._n if devices is None else min(self._n, devices)
        out = []
        for i in range(n):
            uuid = self.uuid_at(at_ns, i)
            generation = 0 if uuid == self._uuids[i] else self._swaps[i][1].index(uuid) + 1
            out.append((uuid, self._model, f"SIM{i:04d}" + (f"R{generation}" if generation else "")))
        return out

    def close(self) -> None:
        return None

    def profile_at(self, now_ns: int, index: int = 0) -> WorkloadProfile:
        return self._timelines[index].at(now_ns)

    def power_w(self, now_ns: int, index: int) -> float:
        return self.node_power_w(now_ns)[index]

    # instants whose activities are kept: a period's samples (an attestor's, then its facility's
    # meters' at the same instants) ask for each instant twice; a few periods of 1-s samples
    ACTIVITY_CACHE = 4096

    def _activity(self, now_ns: int) -> tuple[list[_Activity], list[float]]:
        """Every device's (profile, level, tensor activity, interconnect share) at ``now_ns``, and
        its power (W), hidden ones included; computed once for an instant (``sample`` and
        ``node_power_w`` ask for each)."""
        cached = self._activities.get(now_ns)
        if cached is not None:
            return cached
        t_s = now_ns / _NS
        out = []
        for i, timeline in enumerate(self._timelines):
            profile = timeline.at(now_ns)
            out.append((profile, *profile.activity(t_s, self._node, i)))
        if len(self._activities) >= self.ACTIVITY_CACHE:
            del self._activities[next(iter(self._activities))]
        entry = self._activities[now_ns] = (out, [profile.power(level) for profile, level, _, _ in out])
        return entry

    def node_power_w(self, now_ns: int) -> list[float]:
        """Every device's true power at ``now_ns`` (W), hidden ones included."""
        return self._activity(now_ns)[1]

    def sample(self, now_ns: int) -> Sample:
        readings: list[DeviceReading] = []
        kinds: set[str] = set()
        activity, powers = self._activity(now_ns)
        for i in range(self._reported):
            profile, level, tensor, link = activity[i]
            power = powers[i]
            kinds.add(profile.kind)
            uuid = self.uuid_at(now_ns, i)
            throttle = profile.throttle(level)
            c = self._counters.get(uuid)
            if c is None:
                start_j = 1e6 * (1 + _unit("energy", self._seed, self._node, i)) if uuid == self._uuids[i] \
                    else 1e3 * _unit("energy", self._seed, uuid)
                c = _Counters(now_ns, power, start_j, 0.0)
                self._counters[uuid] = c
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
                    serial=self._serials[i],
                    power_w=power,
                    energy_counter_j=c.energy_j,
                    busy_fraction=busy,
                    sm_active=min(1.0, level) * throttle,
                    tensor_active=max(0.0, tensor) * throttle,
                    memory_used_bytes=profile.memory_gib * _GIB,
                    memory_total_bytes=80.0 * _GIB,
                    power_limit_w=profile.power_limit_w,
                    nvlink_bytes_counter=c.nvlink_bytes,
                    pcie_rate_bps=2e8 * level,
                    process_count=0.0 if profile.kind in ("idle", "off") else 1.0,
                )
            )
        version = "simulator " + "+".join(sorted(kinds)) if kinds else "simulator"
        return Sample(now_ns, SourceKind.SIMULATOR, version, tuple(readings))


class SimulatedMeterSource:
    """A meter: Σ power of the given simulated nodes (its scope) × ``overhead`` + ``base_w``.

    Over time: the overhead and base load may follow ``overhead_at`` / ``base_at`` instead of
    the constants. The reading is then × ``share`` (the part of the scope's power on this
    meter's feed), × (1 + ``error``) (its systematic calibration error), × (1 + ``noise`` · N(0,1))
    (random, per sample, deterministic from ``seed``) and × ``factor_at`` (1 unless it lies).
    """

    def __init__(  # the simulator's knobs, all keyword-only
        self,
        meter_id: str,
        nodes: Sequence[SimulatedDeviceSource],
        *,
        overhead: float = 1.25,
        base_w: float = 2000.0,
        overhead_at: Ramp | None = None,
        base_at: Ramp | None = None,
        share: float = 1.0,
        error: float = 0.0,
        noise: float = 0.0,
        factor_at: Ramp | None = None,
        seed: int = 0,
        label: str = "simulated facility meter",
        counter_j: float | None = None,
    ) -> None:
        self._meter_id = meter_id
        self._nodes = list(nodes)
        self._overhead = overhead_at or Ramp.constant(overhead)
        self._base = base_at or Ramp.constant(base_w)
        self._share = share
        self._gain = 1.0 + error
        self._noise = noise
        self._factor = factor_at
        self._seed = seed
        self._label = label
        self._counter_j = counter_j  # the register's value; None: the meter has none
        self._counter_at: tuple[int, float] | None = None  # (its last sample, the reading then)

    COUNTER_STEP_LIMIT_S = 10.0  # s: samples further apart than this are a stretch nobody read

    @property
    def kind(self) -> SourceKind:
        return SourceKind.SIMULATOR

    def close(self) -> None:
        return None

    def _metered_w(self, now_ns: int) -> float:
        """What the meter measures at ``now_ns`` without its per-sample noise, W."""
        power = self.true_power_w(now_ns) * self._share * self._gain
        if self._factor is not None:
            power *= self._factor.at(now_ns)
        return max(0.0, power)

    def _count(self, now_ns: int, reading_w: float) -> float | None:
        """The register at ``now_ns``, advanced from its last sample (the class docstring)."""
        if self._counter_j is None:
            return None
        last = self._counter_at
        if last is not None and now_ns > last[0]:
            last_ns, last_w = last
            if now_ns - last_ns <= self.COUNTER_STEP_LIMIT_S * _NS:
                self._counter_j += 0.5 * (reading_w + last_w) * (now_ns - last_ns) / _NS
            else:
                points = [*range(last_ns, now_ns, _NS), now_ns]
                powers = [last_w, *(self._metered_w(t) for t in points[1:-1]), reading_w]
                self._counter_j += math.fsum(
                    0.5 * (p0 + p1) * (t1 - t0) / _NS
                    for (t0, p0), (t1, p1) in itertools.pairwise(zip(points, powers, strict=True))
                )
        if last is None or now_ns > last[0]:
            self._counter_at = (now_ns, reading_w)
        return self._counter_j

    def true_power_w(self, now_ns: int) -> float:
        """What the meter's scope really draws at ``now_ns``: nodes × overhead + base load."""
        gpu_w = math.fsum(p for n in self._nodes for p in n.node_power_w(now_ns))
        return self._base.at(now_ns) + gpu_w * self._overhead.at(now_ns)

    def sample(self, now_ns: int) -> Sample:
        power = self.true_power_w(now_ns) * self._share * self._gain
        if self._noise:
            power *= 1.0 + self._noise * _gauss(self._seed, self._meter_id, now_ns)
        if self._factor is not None:
            power *= self._factor.at(now_ns)
        power = max(0.0, power)
        reading = DeviceReading(
            uuid=self._meter_id, model=self._label, power_w=power, energy_counter_j=self._count(now_ns, power)
        )
        return Sample(now_ns, SourceKind.SIMULATOR, "simulator meter", (reading,))


PROFILE_KINDS = ("idle", "inference", "training", "tp-inference", "burn-in", "batch-generation", "off")


def profile_named(kind: str, *, job_seed: int = 0, iteration_s: float = 6.0) -> WorkloadProfile:
    """The standard profile of ``kind`` (ValueError for an unknown kind)."""
    if kind == "idle":
        return WorkloadProfile.idle()
    if kind == "inference":
        return WorkloadProfile.inference(job_seed=job_seed)
    if kind == "training":
        return WorkloadProfile.training(job_seed=job_seed, iteration_s=iteration_s)
    return WorkloadProfile.named(kind, job_seed=job_seed)


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


def sources_from_options(  # noqa: PLR0915 -- one branch per option
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
