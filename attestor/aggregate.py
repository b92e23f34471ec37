"""Aggregation of samples into one report period: pure, deterministic, no I/O.

API (used by the daemon and by the scenario runner)::

    agg = Aggregator(AggregationLimits(max_interval_s=5.0))
    for sample in samples_of_the_period:
        agg.add(sample)
    period = agg.close(start_ns, end_ns)   # PeriodAggregate: accelerators, node, anomalies

``Aggregator`` keeps, across periods, the last reading of every device and counter, so that
the interval between the last sample of one period and the first of the next is counted once,
in the later period (energy is conserved across period boundaries, never counted twice).

Rules:

- Energy per device: the difference of the hardware counter between consecutive samples; where
  the counter is missing or went backwards (COUNTER_RESET, e.g. a driver reload), that interval
  is the trapezoidal integral of power instead. ``energy_method`` is COUNTER only when every
  interval of the period came from the counter and the counter spans the whole period (not the
  period of a device's first sample since the daemon started: restarted at every period's end,
  a daemon's counters would miss the time between its lives, and a job drawing in it would
  read as a quiet mean), INTEGRATED otherwise. An interval longer than
  ``max_interval_s`` is not integrated (power between samples that far apart is unknown); the
  counter still covers it.
- Each device's energy counter as read at the period's first and last samples that gave one
  (``PeriodAggregate.energy_counters``, raw): a meter report carries its channel's, so that the
  time between two reports no report covers (the daemon stopped, a report lost) is read from
  the meter's own register, not guessed.
- A value that is NaN, infinite, negative or out of range (fractions above 1, power above
  ``max_device_power_w``) is dropped and recorded as a ``TelemetryAnomaly`` with its raw value.
- A metric that a device gave in its previous sample and not in this one is METRIC_VANISHED;
  a device a source listed before and not now is DEVICE_DISAPPEARED, a new one DEVICE_APPEARED
  (a source that failed outright reports SOURCE_ERROR instead; its devices are not "gone").
- A value the source did not give is absent from the report, never zero.
- Shape features (power mean/min/max/variance, dominant period and periodicity, synchrony) and
  the busy fraction are computed by ``pausewatch.features``, the one implementation
  the workload classifier was validated with; this module only hands it each device's checked
  power samples in time order (times relative to the first sample, in s) and, for synchrony,
  every device's power at the instants where all devices of the node have a power sample.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field

from attestor.telemetry import AnomalyKind, DeviceReading, HostReading, Sample, SourceKind
from pausewatch import features
from pausewatch.v1 import types_pb2

__all__ = [
    "MAX_ANOMALY_RECORDS",
    "AggregationLimits",
    "Aggregator",
    "PeriodAggregate",
]

_NS = 1_000_000_000
MAX_ANOMALY_RECORDS = 64  # distinct (kind, metric, device) records per report; the rest counted
MAX_ANOMALY_RAW_CHARS = 64  # of a raw value, kept as text; so a report fits MAX_REPORT_BYTES


@dataclass(frozen=True)
class AggregationLimits:
    """Plausibility limits; a value outside them is an anomaly, not a number in the report."""

    max_device_power_w: float = 5_000.0  # W: above any accelerator board's limit
    max_node_power_w: float = 200_000.0  # W: above any node's (or a meter channel's) intake
    max_interval_s: float = 10.0  # s: longest gap between samples that is integrated
    max_memory_bytes: float = 2.0**50  # 1 PiB
    max_rate_bps: float = 1e13  # bytes/s: above any link


@dataclass(frozen=True)
class PeriodAggregate:
    """What one period amounts to, as wire messages ready to go into a report."""

    start_ns: int
    end_ns: int
    accelerators: tuple[types_pb2.AcceleratorUsage, ...]
    node: types_pb2.NodeUsage
    anomalies: tuple[types_pb2.TelemetryAnomaly, ...]
    sample_count: int
    # per device uuid: its energy counter as read at the period's first and last samples that
    # gave one (J, raw: not unwrapped); a meter report carries its channel's, so that the
    # verifier can bridge the time between two reports that no report covers
    energy_counters: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class _Anomaly:
    at_ns: int
    raw: str
    count: int = 1


@dataclass
class _DeviceState:
    """What persists across periods for one device."""

    last_at_ns: int | None = None
    last_power_w: float | None = None
    last_energy_j: float | None = None
    last_nvlink: float | None = None
    last_pcie: float | None = None
    last_nvlink_rate: float | None = None
    last_pcie_rate: float | None = None
    given: tuple[bool, ...] = ()  # which of ``_DEVICE_METRICS`` its last reading gave


@dataclass
class _DeviceSeries:
    """What accumulates within one period for one device."""

    model: str = ""
    serial: str = ""
    kind: SourceKind = SourceKind.SIMULATOR
    version: str = ""
    samples: int = 0
    power: list[tuple[int, float]] = field(default_factory=list)
    energy_j: float = 0.0
    energy_known: bool = False
    counter_intervals: int = 0
    other_intervals: int = 0
    uncovered: bool = False
    # the device's first sample since start is in this period: the counter spans from it, not
    # from the period's start
    unspanned: bool = False
    busy: list[float] = field(default_factory=list)
    sm: list[float] = field(default_factory=list)
    tensor: list[float] = field(default_factory=list)
    memory_used: float | None = None
    memory_total: float | None = None
    power_limit: float | None = None
    processes: float | None = None
    nvlink_bytes: float | None = None
    pcie_bytes: float | None = None
    counter_first_j: float | None = None  # the energy counter at the period's first sample with one
    counter_last_j: float | None = None  # ... and at its last


@dataclass
class _HostSeries:
    kind: SourceKind | None = None
    version: str = ""
    cpu_busy_s: float | None = None
    net_bytes: float | None = None
    ib_bytes: float | None = None
    rapl_j: float | None = None
    bmc_power: list[float] = field(default_factory=list)
    bmc_energy_j: float | None = None
    bmc_kind: SourceKind | None = None
    bmc_version: str = ""


_DEVICE_METRICS = (
    "power_w",
    "energy_counter_j",
    "busy_fraction",
    "sm_active",
    "tensor_active",
    "memory_used_bytes",
    "memory_total_bytes",
    "power_limit_w",
    "nvlink_bytes_counter",
    "nvlink_rate_bps",
    "pcie_bytes_counter",
    "pcie_rate_bps",
    "process_count",
)
_device_metrics = operator.attrgetter(*_DEVICE_METRICS)
_NONES = (None,) * len(_DEVICE_METRICS)
_FRACTIONS = ("busy_fraction", "sm_active", "tensor_active")
_HOST_COUNTERS = (
    "cpu_busy_s_counter",
    "net_bytes_counter",
    "infiniband_bytes_counter",
    "rapl_energy_counter_j",
)


def _add(total: float | None, delta: float) -> float:
    return delta if total is None else total + delta


class Aggregator:
    """Turns samples into per-period aggregates. Not thread-safe; one per daemon."""

    def __init__(self, limits: AggregationLimits | None = None) -> None:
        self._limits = limits or AggregationLimits()
        self._state: dict[str, _DeviceState] = {}
        self._host_last: dict[str, float] = {}
        self._host_last_at: int | None = None
        self._bmc_last: tuple[int, float] | None = None
        self._listed: dict[SourceKind, frozenset[str]] = {}
        self._series: dict[str, _DeviceSeries] = {}
        self._host = _HostSeries()
        self._anomalies: dict[tuple[int, str, str], _Anomaly] = {}
        self._dropped_anomalies = 0
        self._samples = 0

    # ------------------------------------------------------------------ anomalies

    def _flag(self, kind: AnomalyKind, metric: str, uuid: str, raw: str, at_ns: int) -> None:
        key = (int(kind), metric, uuid)
        record = self._anomalies.get(key)
        if record is not None:
            record.count += 1
        elif len(self._anomalies) < MAX_ANOMALY_RECORDS:
            self._anomalies[key] = _Anomaly(at_ns, raw[:MAX_ANOMALY_RAW_CHARS])
        else:
            self._dropped_anomalies += 1

    def _check(
        self, value: float | None, metric: str, uuid: str, at_ns: int, upper: float | None
    ) -> float | None:
        """The value if it is usable, else None with an anomaly recorded (raw value kept)."""
        if value is None:
            return None
        # the usual case first: NaN fails every comparison, infinity the second
        if 0.0 <= value < math.inf and (upper is None or value <= upper):
            return value
        if math.isnan(value):
            self._flag(AnomalyKind.NAN, metric, uuid, repr(value), at_ns)
            return None
        if math.isinf(value):
            self._flag(AnomalyKind.OUT_OF_RANGE, metric, uuid, repr(value), at_ns)
            return None
        if value < 0:
            self._flag(AnomalyKind.NEGATIVE, metric, uuid, repr(value), at_ns)
            return None
        if upper is not None and value > upper:
            self._flag(AnomalyKind.OUT_OF_RANGE, metric, uuid, repr(value), at_ns)
            return None
        return value

    # ------------------------------------------------------------------ samples

    def add(self, sample: Sample) -> None:
        """Account one sample (readings at ``sample.at_ns``) to the current period."""
        self._samples += 1
        at = sample.at_ns
        for a in sample.anomalies:
            self._flag(a.kind, a.metric, a.device_uuid, a.raw_value, at)
        source_failed = any(
            a.kind is AnomalyKind.SOURCE_ERROR and not a.device_uuid for a in sample.anomalies
        )
        listed = frozenset(d.uuid for d in sample.devices)
        before = self._listed.get(sample.kind)
        if before is not None and not (source_failed and not listed):
            for gone in sorted(before - listed):
                self._flag(AnomalyKind.DEVICE_DISAPPEARED, "device", gone, "absent", at)
            for new in sorted(listed - before):
                self._flag(AnomalyKind.DEVICE_APPEARED, "device", new, "present", at)
        if not (source_failed and not listed):
            self._listed[sample.kind] = listed
        for reading in sample.devices:
            self._add_device(reading, sample, at)
        if sample.host is not None:
            self._add_host(sample.host, sample, at)

    def _add_device(self, r: DeviceReading, sample: Sample, at: int) -> None:  # noqa: PLR0915 -- one pass over a sample's fields, on the hot path
        lim = self._limits
        uuid = r.uuid
        st = self._state.get(uuid)
        if st is None:
            st = self._state[uuid] = _DeviceState()
        se = self._series.get(uuid)
        if se is None:
            se = self._series[uuid] = _DeviceSeries()
        se.model, se.serial, se.kind, se.version = (
            r.model or se.model,
            r.serial or se.serial,
            sample.kind,
            sample.version,
        )
        se.samples += 1
        given = tuple(map(operator.is_not, _device_metrics(r), _NONES))
        if given != st.given:  # which metrics a source gives rarely changes: compared as a mask
            for vanished in sorted(itertools.compress(_DEVICE_METRICS, map(operator.gt, st.given, given))):
                self._flag(AnomalyKind.METRIC_VANISHED, vanished, uuid, "absent", at)
            st.given = given

        power = self._check(r.power_w, "power_w", uuid, at, lim.max_device_power_w)
        energy = self._check(r.energy_counter_j, "energy_counter_j", uuid, at, None)
        if energy is not None:
            if se.counter_first_j is None:
                se.counter_first_j = energy
            se.counter_last_j = energy
        dt_ns = None if st.last_at_ns is None else at - st.last_at_ns
        if st.last_at_ns is None:
            se.unspanned = True
        if dt_ns is not None and dt_ns <= 0:
            dt_ns = None  # a repeated or out-of-order instant adds no interval
        if dt_ns is not None:
            interval_j: float | None = None
            from_counter = False
            if energy is not None and st.last_energy_j is not None:
                if energy >= st.last_energy_j:
                    interval_j, from_counter = energy - st.last_energy_j, True
                elif r.energy_counter_range_j is not None:
                    interval_j = r.energy_counter_range_j - st.last_energy_j + energy
                    from_counter = True
                    self._flag(AnomalyKind.COUNTER_WRAP, "energy_counter_j", uuid, repr(energy), at)
                else:
                    self._flag(AnomalyKind.COUNTER_RESET, "energy_counter_j", uuid, repr(energy), at)
            if (
                interval_j is None
                and power is not None
                and st.last_power_w is not None
                and dt_ns <= lim.max_interval_s * _NS
            ):
                interval_j = 0.5 * (power + st.last_power_w) * dt_ns / _NS
            if interval_j is None:
                se.uncovered = True
            else:
                se.energy_j += interval_j
                se.energy_known = True
                if from_counter:
                    se.counter_intervals += 1
                else:
                    se.other_intervals += 1
            se.nvlink_bytes = self._bytes(
                total=se.nvlink_bytes,
                counter=r.nvlink_bytes_counter,
                last_counter=st.last_nvlink,
                rate=r.nvlink_rate_bps,
                last_rate=st.last_nvlink_rate,
                dt_ns=dt_ns,
                metric="nvlink_bytes",
                uuid=uuid,
                at=at,
            )
            se.pcie_bytes = self._bytes(
                total=se.pcie_bytes,
                counter=r.pcie_bytes_counter,
                last_counter=st.last_pcie,
                rate=r.pcie_rate_bps,
                last_rate=st.last_pcie_rate,
                dt_ns=dt_ns,
                metric="pcie_bytes",
                uuid=uuid,
                at=at,
            )
        if power is not None:
            se.power.append((at, power))
        for name, target in (("busy_fraction", se.busy), ("sm_active", se.sm), ("tensor_active", se.tensor)):
            v = self._check(getattr(r, name), name, uuid, at, 1.0 + 1e-9)
            if v is not None:
                target.append(min(v, 1.0))
        used = self._check(r.memory_used_bytes, "memory_used_bytes", uuid, at, lim.max_memory_bytes)
        if used is not None:
            se.memory_used = used if se.memory_used is None else max(se.memory_used, used)
        total = self._check(r.memory_total_bytes, "memory_total_bytes", uuid, at, lim.max_memory_bytes)
        if total is not None:
            se.memory_total = total
        limit = self._check(r.power_limit_w, "power_limit_w", uuid, at, lim.max_device_power_w)
        if limit is not None:
            se.power_limit = limit
        procs = self._check(r.process_count, "process_count", uuid, at, 1e6)
        if procs is not None:
            se.processes = procs if se.processes is None else max(se.processes, procs)

        st.last_at_ns = at
        st.last_power_w = power
        st.last_energy_j = energy
        st.last_nvlink = self._check(r.nvlink_bytes_counter, "nvlink_bytes_counter", uuid, at, None)
        st.last_pcie = self._check(r.pcie_bytes_counter, "pcie_bytes_counter", uuid, at, None)
        st.last_nvlink_rate = self._check(r.nvlink_rate_bps, "nvlink_rate_bps", uuid, at, lim.max_rate_bps)
        st.last_pcie_rate = self._check(r.pcie_rate_bps, "pcie_rate_bps", uuid, at, lim.max_rate_bps)

    def _bytes(
        self,
        *,
        total: float | None,
        counter: float | None,
        last_counter: float | None,
        rate: float | None,
        last_rate: float | None,
        dt_ns: int,
        metric: str,
        uuid: str,
        at: int,
    ) -> float | None:
        """Bytes over one interval: counter difference, else the trapezoid of the rate."""
        if counter is not None and last_counter is not None and not math.isnan(counter):
            if counter >= last_counter:
                return _add(total, counter - last_counter)
            self._flag(AnomalyKind.COUNTER_RESET, metric, uuid, repr(counter), at)
            return total
        usable = rate is not None and last_rate is not None and math.isfinite(rate) and rate >= 0
        if (
            usable
            and rate is not None
            and last_rate is not None
            and dt_ns <= self._limits.max_interval_s * _NS
        ):
            return _add(total, 0.5 * (rate + last_rate) * dt_ns / _NS)
        return total

    def _add_host(self, h: HostReading, sample: Sample, at: int) -> None:
        hs = self._host
        if any(getattr(h, c) is not None for c in _HOST_COUNTERS):
            hs.kind, hs.version = sample.kind, sample.version
        for name in _HOST_COUNTERS:
            value = self._check(getattr(h, name), name.removesuffix("_counter"), "", at, None)
            if value is None:
                continue
            last = self._host_last.get(name)
            self._host_last[name] = value
            if last is None:
                continue
            if value < last:
                self._flag(AnomalyKind.COUNTER_RESET, name.removesuffix("_counter"), "", repr(value), at)
                continue
            delta = value - last
            if name == "cpu_busy_s_counter":
                hs.cpu_busy_s = _add(hs.cpu_busy_s, delta)
            elif name == "net_bytes_counter":
                hs.net_bytes = _add(hs.net_bytes, delta)
            elif name == "infiniband_bytes_counter":
                hs.ib_bytes = _add(hs.ib_bytes, delta)
            else:
                hs.rapl_j = _add(hs.rapl_j, delta)
        bmc = self._check(h.bmc_power_w, "bmc_power_w", "", at, self._limits.max_node_power_w)
        if bmc is not None:
            hs.bmc_kind, hs.bmc_version = sample.kind, sample.version
            hs.bmc_power.append(bmc)
            if self._bmc_last is not None:
                last_at, last_w = self._bmc_last
                dt = at - last_at
                if 0 < dt <= self._limits.max_interval_s * _NS:
                    hs.bmc_energy_j = _add(hs.bmc_energy_j, 0.5 * (bmc + last_w) * dt / _NS)
            self._bmc_last = (at, bmc)
        elif h.bmc_power_w is None:
            self._bmc_last = None

    # ------------------------------------------------------------------ periods

    def close(self, start_ns: int, end_ns: int) -> PeriodAggregate:
        """Finish the period ``[start_ns, end_ns)`` and start the next one."""
        series = self._series
        accelerators = [self._usage(uuid, se) for uuid, se in sorted(series.items())]
        self._synchrony(accelerators, series)
        node = self._node_usage()
        anomalies = [
            types_pb2.TelemetryAnomaly(
                kind=types_pb2.AnomalyKind.ValueType(kind),
                metric=metric,
                device_uuid=uuid,
                raw_value=a.raw,
                at_unix_ns=a.at_ns,
                count=a.count,
            )
            for (kind, metric, uuid), a in sorted(
                self._anomalies.items(), key=lambda kv: (kv[1].at_ns, kv[0])
            )
        ]
        if self._dropped_anomalies:
            anomalies.append(
                types_pb2.TelemetryAnomaly(
                    kind=types_pb2.ANOMALY_KIND_SOURCE_ERROR,
                    metric="anomalies_not_itemised",
                    raw_value=str(self._dropped_anomalies),
                    at_unix_ns=end_ns,
                    count=self._dropped_anomalies,
                )
            )
        counters = {
            uuid: (se.counter_first_j, se.counter_last_j)
            for uuid, se in series.items()
            if se.counter_first_j is not None and se.counter_last_j is not None
        }
        result = PeriodAggregate(
            start_ns, end_ns, tuple(accelerators), node, tuple(anomalies), self._samples, counters
        )
        self._series = {}
        self._host = _HostSeries()
        self._anomalies = {}
        self._dropped_anomalies = 0
        self._samples = 0
        return result

    def _usage(self, uuid: str, se: _DeviceSeries) -> types_pb2.AcceleratorUsage:
        u = types_pb2.AcceleratorUsage(
            uuid=uuid,
            model=se.model,
            serial=se.serial,
            source=types_pb2.SourceInfo(kind=types_pb2.SourceKind.ValueType(se.kind), version=se.version),
            sample_count=se.samples,
        )
        if se.energy_known:
            u.energy_j = se.energy_j
            all_counter = (
                se.counter_intervals > 0 and se.other_intervals == 0 and not se.uncovered and not se.unspanned
            )
            u.energy_method = (
                types_pb2.ENERGY_METHOD_COUNTER if all_counter else types_pb2.ENERGY_METHOD_INTEGRATED
            )
        if se.power:
            series = sorted(se.power)  # time order (a source may repeat or reorder an instant)
            t0 = series[0][0]
            shape = features.power_shape([(t - t0) / _NS for t, _ in series], [p for _, p in series])
            u.power_mean_w = shape.power_mean_w
            u.power_min_w = shape.power_min_w
            u.power_max_w = shape.power_max_w
            u.power_variance_w2 = shape.power_variance_w2
            if shape.power_dominant_period_s is not None:
                u.power_dominant_period_s = shape.power_dominant_period_s
            if shape.power_periodicity is not None:
                u.power_periodicity = shape.power_periodicity
        if se.power_limit is not None:
            u.power_limit_w = se.power_limit
        if se.busy:
            # utilization.gpu in % as the classifier was validated on (sources report fractions)
            u.busy_fraction = features.busy_fraction([100.0 * b for b in se.busy])
        for name, values in (("sm_active", se.sm), ("tensor_active", se.tensor)):
            if values:
                setattr(u, name, math.fsum(values) / len(values))
        if se.memory_used is not None:
            u.memory_used_bytes = int(se.memory_used)
        if se.memory_total is not None:
            u.memory_total_bytes = int(se.memory_total)
        if se.nvlink_bytes is not None:
            u.nvlink_bytes = int(se.nvlink_bytes)
        if se.pcie_bytes is not None:
            u.pcie_bytes = int(se.pcie_bytes)
        if se.processes is not None:
            u.process_count = int(se.processes)
        return u

    def _synchrony(self, usages: list[types_pb2.AcceleratorUsage], series: dict[str, _DeviceSeries]) -> None:
        """Each device against the mean of the others (``synchrony``) and against each other one
        (``peer_synchrony``), over the instants where every device of the node has a power
        sample (the aligned series ``features`` expects)."""
        by_time = {uuid: dict(se.power) for uuid, se in series.items() if se.power}
        if len(by_time) < 2:
            return
        instants = sorted(set.intersection(*(set(powers) for powers in by_time.values())))
        aligned = {uuid: [powers[t] for t in instants] for uuid, powers in by_time.items()}
        order = list(aligned)
        peers = dict(zip(order, features.peers(list(aligned.values())), strict=True))
        position = {u.uuid: k for k, u in enumerate(usages)}
        for u in usages:
            mine = aligned.get(u.uuid)
            if mine is None:
                continue
            r = features.synchrony(mine, [w for uuid, w in aligned.items() if uuid != u.uuid])
            if r is not None:
                u.synchrony = r
            peer = peers[u.uuid]
            if peer is not None:
                u.peer_synchrony = peer.synchrony
                u.peer_index = position[order[peer.position]]

    def _node_usage(self) -> types_pb2.NodeUsage:
        hs = self._host
        n = types_pb2.NodeUsage()
        if hs.kind is not None:
            n.host_source.CopyFrom(
                types_pb2.SourceInfo(kind=types_pb2.SourceKind.ValueType(hs.kind), version=hs.version)
            )
        if hs.cpu_busy_s is not None:
            n.cpu_busy_s = hs.cpu_busy_s
        if hs.net_bytes is not None:
            n.net_bytes = int(hs.net_bytes)
        if hs.ib_bytes is not None:
            n.infiniband_bytes = int(hs.ib_bytes)
        if hs.rapl_j is not None:
            n.rapl_energy_j = hs.rapl_j
        if hs.bmc_kind is not None:
            n.bmc_source.CopyFrom(
                types_pb2.SourceInfo(kind=types_pb2.SourceKind.ValueType(hs.bmc_kind), version=hs.bmc_version)
            )
        if hs.bmc_power:
            n.bmc_power_mean_w = sum(hs.bmc_power) / len(hs.bmc_power)
        if hs.bmc_energy_j is not None:
            n.bmc_energy_j = hs.bmc_energy_j
        return n
