"""NVML: against a recorded fake of the calls when no GPU is here; for real when one is."""

from __future__ import annotations

import pynvml
import pytest

from attestor.aggregate import Aggregator
from attestor.sources.nvml import NvmlSource
from attestor.telemetry import AnomalyKind
from pausewatch.v1 import types_pb2
from tests.attestor.fake_nvml import MIB, FakeGpu, FakeNvml

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
