"""Aggregation: energy, absent values, anomalies with raw values, shape features."""

from __future__ import annotations

import math

import pytest

from attestor.aggregate import Aggregator
from attestor.sources.simulator import SimulatedDeviceSource, WorkloadProfile
from attestor.telemetry import AnomalyKind, DeviceReading, Sample, SourceKind
from pausewatch import features
from pausewatch.v1 import types_pb2

NS = 10**9


def _s(t: int, *devices: DeviceReading) -> Sample:
    return Sample(t * NS, SourceKind.SIMULATOR, "test", devices)


def test_integrated_energy_and_absent_values() -> None:
    agg = Aggregator()
    for t, p in enumerate([100.0, 100.0, 200.0]):
        agg.add(_s(t, DeviceReading("GPU-a", power_w=p)))
    u = agg.close(0, 2 * NS).accelerators[0]
    assert u.energy_j == pytest.approx(100 + 150)
    assert u.energy_method == types_pb2.ENERGY_METHOD_INTEGRATED
    assert u.power_max_w == 200
    assert u.sample_count == 3
    for absent in ("busy_fraction", "tensor_active", "memory_used_bytes", "nvlink_bytes", "sm_active"):
        assert not u.HasField(absent), absent


def test_bad_values_are_anomalies_with_raw_values_never_zero() -> None:
    agg = Aggregator()
    agg.add(_s(0, DeviceReading("GPU-a", power_w=100.0, busy_fraction=0.5, tensor_active=0.2)))
    agg.add(_s(1, DeviceReading("GPU-a", power_w=math.nan, busy_fraction=1.7, tensor_active=-0.1)))
    agg.add(_s(2, DeviceReading("GPU-a", power_w=1e9, busy_fraction=0.5)))
    period = agg.close(0, 2 * NS)
    found = {(a.kind, a.metric): a.raw_value for a in period.anomalies}
    assert found[(AnomalyKind.NAN, "power_w")] == "nan"
    assert found[(AnomalyKind.OUT_OF_RANGE, "busy_fraction")] == "1.7"
    assert found[(AnomalyKind.NEGATIVE, "tensor_active")] == "-0.1"
    assert found[(AnomalyKind.OUT_OF_RANGE, "power_w")] == "1000000000.0"
    assert found[(AnomalyKind.METRIC_VANISHED, "tensor_active")] == "absent"
    u = period.accelerators[0]
    assert u.power_mean_w == 100.0
    assert u.power_max_w == 100.0
    assert u.busy_fraction == 0.5


def test_energy_counter_wins_and_is_conserved_across_periods() -> None:
    agg = Aggregator()
    totals = []
    energy = 1000.0
    for period in range(3):
        for t in range(period * 10 + (0 if period == 0 else 1), period * 10 + 11):
            energy += 300.0
            agg.add(_s(t, DeviceReading("GPU-a", power_w=1.0, energy_counter_j=energy)))
        u = agg.close(period * 10 * NS, (period + 1) * 10 * NS).accelerators[0]
        assert u.energy_method == types_pb2.ENERGY_METHOD_COUNTER
        totals.append(u.energy_j)
    assert sum(totals) == pytest.approx(300.0 * 30)  # every interval counted once


def test_device_appears() -> None:
    agg = Aggregator()
    agg.add(_s(0, DeviceReading("GPU-a", power_w=1.0)))
    agg.add(_s(1, DeviceReading("GPU-a", power_w=1.0), DeviceReading("GPU-new", power_w=1.0)))
    kinds = [(a.kind, a.device_uuid) for a in agg.close(0, NS).anomalies]
    assert (AnomalyKind.DEVICE_APPEARED, "GPU-new") in kinds


def test_training_shape_is_periodic_and_synchronous_idle_is_not() -> None:
    training = SimulatedDeviceSource("n", 4, WorkloadProfile.training(job_seed=1, iteration_s=6.0))
    idle = SimulatedDeviceSource("n", 4, WorkloadProfile.idle())
    for source, periodic in ((training, True), (idle, False)):
        agg = Aggregator()
        for t in range(1, 121):
            agg.add(source.sample(1_700_000_000 * NS + t * NS))
        usages = agg.close(0, 1).accelerators
        if periodic:
            # The checkpoint pauses make r(k) decay slowly; the evaluation's rule (highest peak
            # after r first turns negative) then lands on a multiple of the 6-s iteration.
            assert all(u.power_dominant_period_s > 0 and u.power_dominant_period_s % 6.0 == 0 for u in usages)
            assert all(u.synchrony > 0.9 for u in usages)
            assert all(u.tensor_active > 0.3 for u in usages)
        else:
            assert all(u.power_mean_w < 80 for u in usages)
            assert all(u.tensor_active == 0 for u in usages)


def test_flat_signal_has_no_period_and_an_alternating_one_has_two_samples() -> None:
    for powers, period in (([50.0] * 30, None), ([100.0, 300.0] * 15, 2.0)):
        agg = Aggregator()
        for t, p in enumerate(powers):
            agg.add(_s(t, DeviceReading("GPU-a", power_w=p)))
        u = agg.close(0, len(powers) * NS).accelerators[0]
        if period is None:
            assert not u.HasField("power_dominant_period_s")
            assert not u.HasField("power_periodicity")
        else:
            assert u.power_dominant_period_s == period


def test_report_shape_fields_are_the_evaluation_features() -> None:
    """The attestor reports exactly what the classifier was validated on: the shape fields,
    busy fraction and synchrony of ``pausewatch.features`` over the same samples."""
    source = SimulatedDeviceSource("n", 4, WorkloadProfile.training(job_seed=5, iteration_s=7.0))
    start = 1_700_000_000 * NS
    samples = [source.sample(start + t * NS) for t in range(60)]
    agg = Aggregator()
    for sample in samples:
        agg.add(sample)
    usages = {u.uuid: u for u in agg.close(start, start + 60 * NS).accelerators}
    times = [(s.at_ns - start) / NS for s in samples]
    power = {
        d.uuid: [next(r.power_w for r in s.devices if r.uuid == d.uuid) for s in samples]
        for d in samples[0].devices
    }
    assert len(usages) == len(power) == 4
    for uuid, series in power.items():
        u = usages[uuid]
        shape = features.power_shape(times, [p for p in series if p is not None])
        assert shape.power_dominant_period_s is not None  # the fixture really is periodic
        assert (
            u.power_mean_w,
            u.power_min_w,
            u.power_max_w,
            u.power_variance_w2,
            u.power_dominant_period_s,
            u.power_periodicity,
        ) == (
            shape.power_mean_w,
            shape.power_min_w,
            shape.power_max_w,
            shape.power_variance_w2,
            shape.power_dominant_period_s,
            shape.power_periodicity,
        )
        others = [[p for p in w if p is not None] for o, w in power.items() if o != uuid]
        assert u.synchrony == features.synchrony([p for p in series if p is not None], others)
        busy = [next(r.busy_fraction for r in s.devices if r.uuid == uuid) for s in samples]
        assert u.busy_fraction == features.busy_fraction([100.0 * b for b in busy if b is not None])
