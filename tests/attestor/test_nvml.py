"""NVML: against a recorded fake of the calls when no GPU is here; for real when one is."""

from __future__ import annotations

import logging

import pynvml
import pytest

from attestor.aggregate import Aggregator
from attestor.sources.nvml import NvmlSource
from attestor.telemetry import AnomalyKind
from pausewatch.v1 import types_pb2
from tests.attestor.fake_nvml import MIB, FakeGpu, FakeMig, FakeNvml

NS = 10**9


def test_units_are_converted_to_si() -> None:
    gpu = FakeGpu(
        "GPU-00000000-0000-0000-0000-000000000000",
        power_mw=632_450,
        util_gpu=100,
        mem_used=16_500 * MIB,
        processes=[4242],
        nvlink_kib=(10, 20),
        sm_pct=97.0,
        tensor_pct=61.0,
    )
    src = NvmlSource(FakeNvml([gpu]))
    first = src.sample(0).devices[0]
    assert first.power_w == pytest.approx(632.45)
    assert first.energy_counter_j == pytest.approx(123_456.789)
    assert first.power_limit_w == pytest.approx(700.0)
    assert first.busy_fraction == 1.0
    assert first.memory_used_bytes == 16_500 * MIB
    assert first.pcie_rate_bps == pytest.approx((1_200 + 3_400) * 1000)
    assert first.nvlink_bytes_counter == 30 * 1024
    assert first.process_count == 1
    assert first.sm_active is None  # GPM needs two samples
    second = src.sample(NS).devices[0]
    assert second.sm_active == pytest.approx(0.97)
    assert second.tensor_active == pytest.approx(0.61)


def test_energy_counter_reset_on_driver_reload_is_flagged_and_integrated() -> None:
    gpu = FakeGpu("GPU-1", power_mw=500_000)
    fake = FakeNvml([gpu])
    src = NvmlSource(fake)
    agg = Aggregator()
    for t in range(5):
        gpu.energy_mj += 500_000  # 500 J per second at 500 W
        agg.add(src.sample(t * NS))
    gpu.energy_mj = 1_000  # the driver reloaded: the counter starts again
    agg.add(src.sample(5 * NS))
    period = agg.close(0, 5 * NS)
    usage = period.accelerators[0]
    assert usage.energy_j == pytest.approx(2500.0)  # 4 counter intervals + 1 integrated
    assert usage.energy_method == types_pb2.ENERGY_METHOD_INTEGRATED
    (reset,) = [a for a in period.anomalies if a.kind == AnomalyKind.COUNTER_RESET]
    assert reset.metric == "energy_counter_j"
    assert reset.raw_value == "1.0"


def test_not_supported_is_absent_and_other_errors_are_anomalies() -> None:
    gpu = FakeGpu(
        "GPU-2",
        gpm=False,
        fail={
            "nvmlDeviceGetTotalEnergyConsumption": pynvml.NVML_ERROR_NOT_SUPPORTED,
            "nvmlDeviceGetPowerUsage": pynvml.NVML_ERROR_GPU_IS_LOST,
        },
    )
    fake = FakeNvml([gpu])
    sample = NvmlSource(fake).sample(0)
    d = sample.devices[0]
    assert d.energy_counter_j is None
    assert d.power_w is None
    assert d.sm_active is None
    kinds = {(a.kind, a.metric) for a in sample.anomalies}
    assert (AnomalyKind.SOURCE_ERROR, "nvmlDeviceGetPowerUsage") in kinds
    assert all(a.metric != "nvmlDeviceGetTotalEnergyConsumption" for a in sample.anomalies)


def test_device_disappearing_is_recorded() -> None:
    a, b = FakeGpu("GPU-a"), FakeGpu("GPU-b")
    fake = FakeNvml([a, b])
    src = NvmlSource(fake)
    agg = Aggregator()
    agg.add(src.sample(0))
    fake.gpus = [a]
    agg.add(src.sample(NS))
    period = agg.close(0, NS)
    gone = [x for x in period.anomalies if x.kind == AnomalyKind.DEVICE_DISAPPEARED]
    assert [x.device_uuid for x in gone] == ["GPU-b"]


def _real_gpu_present() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    try:
        return bool(pynvml.nvmlDeviceGetCount())
    finally:
        pynvml.nvmlShutdown()


def test_real_gpu_when_present(capsys: pytest.CaptureFixture[str]) -> None:
    if not _real_gpu_present():
        pytest.skip("no NVIDIA GPU/driver on this machine: NVML ran against the recorded fake only")
    src = NvmlSource()
    try:
        samples = [src.sample(i * NS) for i in range(3)]
    finally:
        src.close()
    for d in samples[-1].devices:
        assert d.uuid.startswith(("GPU-", "MIG-"))
        assert d.power_w is not None
        assert 5 < d.power_w < 2000
        assert d.memory_total_bytes is not None
        assert d.memory_total_bytes > 1 << 30
    with capsys.disabled():
        print(f"\nNVML ran for real on {len(samples[-1].devices)} GPU(s): {samples[-1].version}")


def test_a_gpu_without_mig_reads_as_before() -> None:
    sample = NvmlSource(FakeNvml([FakeGpu("GPU-plain", util_gpu=40)])).sample(0)
    d = sample.devices[0]
    assert d.mig_enabled is None  # the board has no MIG: NOT_SUPPORTED, not an anomaly
    assert d.busy_fraction == pytest.approx(0.40)
    assert sample.anomalies == ()


def _mig_h100() -> FakeGpu:
    return FakeGpu(
        "GPU-mig",
        mig_mode=1,
        mig=[
            FakeMig("MIG-a", gpu_instance_id=1, name="NVIDIA H100 80GB HBM3 MIG 3g.40gb", sm_count=60,
                    mem_used=30_000 * MIB, mem_total=40_192 * MIB, sm_pct=90.0, tensor_pct=50.0),
            None,  # an empty slot
            FakeMig("MIG-b", gpu_instance_id=5, sm_count=16, sm_pct=10.0, tensor_pct=0.0),
        ],
    )  # fmt: skip


def test_mig_instances_are_read_and_give_the_gpu_its_activity() -> None:
    gpu = _mig_h100()
    fake = FakeNvml([gpu])
    src = NvmlSource(fake)
    first = src.sample(0)
    d = first.devices[0]
    assert d.mig_enabled is True
    assert d.busy_fraction is None  # NVML has no utilisation for a MIG GPU: absent, never 0
    assert "nvmlDeviceGetUtilizationRates" not in fake.calls
    assert d.power_w == pytest.approx(69.85)  # power stays the whole GPU's
    a, b = d.mig_instances
    assert (a.uuid, a.gpu_instance_id, a.compute_instance_id, a.profile, a.sm_count) == ("MIG-a", 1, 0, "3g.40gb", 60)
    assert a.memory_used_bytes == 30_000 * MIB
    assert b.profile == "1g.10gb"
    assert a.sm_active is None  # GPM needs two samples
    second = src.sample(NS).devices[0]
    a, b = second.mig_instances
    assert a.sm_active == pytest.approx(0.90)
    assert b.sm_active == pytest.approx(0.10)
    # Whole GPU: (0.90 x 60 + 0.10 x 16) / 132 SMs; SMs in no instance ran nothing.
    assert second.sm_active == pytest.approx((0.90 * 60 + 0.10 * 16) / 132)
    assert second.tensor_active == pytest.approx((0.50 * 60) / 132)
    assert src.sample(2 * NS).anomalies == ()


def test_mig_gpu_without_gpm_says_it_has_no_activity_source(caplog: pytest.LogCaptureFixture) -> None:
    gpu = _mig_h100()
    gpu.gpm = False  # an A100: MIG, but no GPM
    src = NvmlSource(FakeNvml([gpu]))
    with caplog.at_level(logging.WARNING, logger="pausewatch.attestor.sources"):
        sample = src.sample(0)
        src.sample(NS)
    d = sample.devices[0]
    assert d.mig_enabled is True
    assert (d.busy_fraction, d.sm_active, d.tensor_active) == (None, None, None)  # absent, never 0
    assert [m.sm_active for m in d.mig_instances] == [None, None]
    # Absent like any unsupported metric, not an anomaly (which would void the period's values);
    # the reason is logged once per device.
    assert sample.anomalies == ()
    (said,) = [r for r in caplog.records if "without an activity source" in r.getMessage()]
    assert said.fields["uuid"] == "GPU-mig"  # type: ignore[attr-defined]


def test_an_instance_that_cannot_be_read_leaves_the_gpu_value_absent() -> None:
    gpu = _mig_h100()
    broken = gpu.mig[2]
    assert broken is not None
    broken.fail["nvmlDeviceGetAttributes"] = pynvml.NVML_ERROR_UNKNOWN
    src = NvmlSource(FakeNvml([gpu]))
    src.sample(0)
    second = src.sample(NS)
    assert second.devices[0].sm_active is None  # a partial sum would understate the GPU
    assert second.devices[0].mig_instances[0].sm_active == pytest.approx(0.90)
    assert any(a.metric == "nvmlDeviceGetAttributes" for a in second.anomalies)


def test_mig_enabled_with_no_instance_created() -> None:
    gpu = FakeGpu("GPU-empty", mig_mode=1)
    d = NvmlSource(FakeNvml([gpu])).sample(0).devices[0]
    assert d.mig_enabled is True
    assert d.mig_instances == ()
    assert d.sm_active is None
