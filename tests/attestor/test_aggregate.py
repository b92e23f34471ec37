"""Aggregation: energy, absent values, anomalies with raw values, shape features."""

from __future__ import annotations

import math

import pytest

from attestor.aggregate import Aggregator
from attestor.report import ReportBuilder
from attestor.sources.simulator import SimulatedDeviceSource, SimulatedMeterSource, WorkloadProfile
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
        # the first period's counter spans from its first sample, not from the period's start
        first = types_pb2.ENERGY_METHOD_INTEGRATED if period == 0 else types_pb2.ENERGY_METHOD_COUNTER
        assert u.energy_method == first
        totals.append(u.energy_j)
    assert sum(totals) == pytest.approx(300.0 * 30)  # every interval counted once


def test_a_restarted_daemons_first_period_is_not_spanned_by_the_counter() -> None:
    """Restarted at every period's end, a daemon's counters would miss the time between its
    lives (a job drawing 700 W between them read as a quiet mean): the period of a device's
    first sample since start is INTEGRATED, the next COUNTER again."""
    methods = []
    for life in range(2):
        agg = Aggregator()  # a new daemon
        for period in range(2):
            base = (life * 2 + period) * 60
            for t in range(base + 30, base + 60):  # it starts half-way into its first period
                agg.add(_s(t, DeviceReading("GPU-a", power_w=70.0, energy_counter_j=1e6 + 700.0 * t)))
            methods.append(agg.close(base * NS, (base + 60) * NS).accelerators[0].energy_method)
    integrated, counter = types_pb2.ENERGY_METHOD_INTEGRATED, types_pb2.ENERGY_METHOD_COUNTER
    assert methods == [integrated, counter, integrated, counter]


def test_a_meter_report_carries_its_registers_first_and_last_readings() -> None:
    """The verifier bridges the time between two meter reports that no report covers (a
    daemon stopped between them) with the register's readings (rules/17): the period's first
    and last samples' counters, raw, and in the meter report built from the period."""
    agg = Aggregator()
    for t in range(31):
        agg.add(_s(t, DeviceReading("m-intake", power_w=5000.0, energy_counter_j=1e9 + 5000.0 * t)))
    period = agg.close(0, 30 * NS)
    assert period.energy_counters == {"m-intake": (1e9, 1e9 + 150_000.0)}
    report = ReportBuilder("fac-a", "m-intake").meter(period, challenge_nonce=bytes(32), signed_ns=31 * NS)
    assert (report.energy_counter_first_j, report.energy_counter_last_j) == (1e9, 1e9 + 150_000.0)
    # a meter without a register: the fields are absent, never zero
    agg = Aggregator()
    for t in range(31):
        agg.add(_s(t, DeviceReading("m-intake", power_w=5000.0)))
    report = ReportBuilder("fac-a", "m-intake").meter(agg.close(0, 30 * NS), challenge_nonce=bytes(32),
                                                       signed_ns=31 * NS)  # fmt: skip
    assert not report.HasField("energy_counter_first_j")
    assert not report.HasField("energy_counter_last_j")


def test_a_simulated_meters_register_counts_while_nobody_reads_it() -> None:
    """Between samples its attestor takes, the register advances by exactly the trapezoid the
    aggregator integrates; across a stretch nobody sampled (the attestor stopped), by what the
    scope drew there, a 30-s training burst included."""
    burst = (100 * NS, 130 * NS)
    node = SimulatedDeviceSource(
        "n0", 8, [(0, WorkloadProfile.idle()), (burst[0], WorkloadProfile.training()), (burst[1], WorkloadProfile.idle())]
    )
    meter = SimulatedMeterSource("m-intake", [node], overhead=1.0, base_w=0.0, counter_j=1e9)
    quiet = SimulatedMeterSource("m-quiet", [node], overhead=1.0, base_w=0.0)
    readings = {t: meter.sample(t * NS).devices[0] for t in [*range(90), *range(150, 160)]}
    assert quiet.sample(0).devices[0].energy_counter_j is None
    for t in range(1, 90):
        step = readings[t].energy_counter_j - readings[t - 1].energy_counter_j
        assert step == pytest.approx(0.5 * (readings[t].power_w + readings[t - 1].power_w))
    bridged = readings[150].energy_counter_j - readings[89].energy_counter_j
    truth = math.fsum(sum(node.node_power_w(t * NS)) for t in range(89, 150)) + 0.5 * (
        sum(node.node_power_w(150 * NS)) - sum(node.node_power_w(89 * NS))
    )
    assert bridged == pytest.approx(truth, rel=1e-3)
    idle_w = readings[89].power_w
    assert bridged > idle_w * 61 + 30 * 8 * 300  # the burst is in it


def test_a_metric_that_vanishes_twice_is_counted_twice_and_infinity_is_never_usable() -> None:
    agg = Aggregator()
    for t, tensor in enumerate([0.2, None, 0.3, None, None]):
        agg.add(_s(t, DeviceReading("GPU-a", power_w=100.0, energy_counter_j=math.inf if t == 4 else 1e3 + t,
                                    tensor_active=tensor)))
    found = {(a.kind, a.metric): a for a in agg.close(0, 4 * NS).anomalies}
    assert found[(AnomalyKind.METRIC_VANISHED, "tensor_active")].count == 2
    assert found[(AnomalyKind.OUT_OF_RANGE, "energy_counter_j")].raw_value == "inf"


def test_a_simulated_nodes_reports_and_its_meters_see_the_same_power() -> None:
    """Each instant is computed once for both (hidden devices included), whichever asks first,
    and only the latest instants are kept."""
    def node() -> SimulatedDeviceSource:
        return SimulatedDeviceSource("n0", 4, WorkloadProfile.training(job_seed=3), reported_devices=3)

    meter_first, sample_first = node(), node()
    for t in range(0, 50 * NS, NS // 2):
        powers = list(meter_first.node_power_w(t))
        reported = [d.power_w for d in meter_first.sample(t).devices]
        assert reported == powers[:3]
        assert [d.power_w for d in sample_first.sample(t).devices] == reported
        assert sample_first.node_power_w(t) == powers
    assert len(powers) == 4
    assert powers[3] > 0  # the hidden device draws power
    many = node()
    for t in range(SimulatedDeviceSource.ACTIVITY_CACHE + 10):
        many.node_power_w(t * NS)
    assert len(many._activities) == SimulatedDeviceSource.ACTIVITY_CACHE


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
        assert u.HasField("peer_synchrony")
        assert 0 <= u.peer_index < 4
        assert usages[sorted(usages)[u.peer_index]].uuid != uuid
        busy = [next(r.busy_fraction for r in s.devices if r.uuid == uuid) for s in samples]
        assert u.busy_fraction == features.busy_fraction([100.0 * b for b in busy if b is not None])


def test_peers_find_a_lockstep_pair_that_synchrony_dilutes() -> None:
    # devices a and b step together; c and d run their own, unrelated loads
    a = [500.0 if (t // 3) % 2 else 300.0 for t in range(60)]
    b = [w + (5.0 if t % 2 else -5.0) for t, w in enumerate(a)]
    c = [200.0 + 80.0 * ((t * 7) % 11) / 11 for t in range(60)]
    d = [250.0 + 60.0 * ((t * 5) % 13) / 13 for t in range(60)]
    peers = features.peers([a, b, c, d])
    assert peers[0] is not None
    assert peers[1] is not None
    assert (peers[0].position, peers[1].position) == (1, 0)
    assert peers[0].synchrony == peers[1].synchrony == pytest.approx(features.synchrony(a, [b]))
    assert peers[0].synchrony > 0.95
    synchrony = features.synchrony(a, [b, c, d])
    assert synchrony is not None
    assert synchrony < peers[0].synchrony
    assert features.peers([a]) == [None]  # no other device
    assert features.peers([a, [400.0] * 60]) == [None, None]  # flat: no correlation
    assert features.peers([a, b[:30]]) == [None, None]  # not aligned


def test_the_report_names_each_devices_peer_by_its_position() -> None:
    # two lockstep pairs (a, c) and (b, d), in uuid order a, b, c, d
    agg = Aggregator()
    for t in range(60):
        step = 500.0 if (t // 3) % 2 else 300.0
        other = 450.0 if (t // 5) % 2 else 250.0
        agg.add(
            _s(
                t,
                DeviceReading("GPU-a", power_w=step),
                DeviceReading("GPU-b", power_w=other),
                DeviceReading("GPU-c", power_w=step + (3.0 if t % 2 else -3.0)),
                DeviceReading("GPU-d", power_w=other + (2.0 if t % 3 else -2.0)),
            )
        )
    usages = agg.close(0, 60 * NS).accelerators
    assert [u.uuid for u in usages] == ["GPU-a", "GPU-b", "GPU-c", "GPU-d"]
    assert [u.peer_index for u in usages] == [2, 3, 0, 1]
    assert all(u.peer_synchrony > 0.95 for u in usages)
