"""The GPU trace recorder (tools/gpu_traces/record.py) writes what ``classify`` reads.

The recorder samples through the attestor's own NVML source; here the source reads the recorded
fake of tests/attestor/fake_nvml.py (no GPU in CI). The workloads need PyTorch and a GPU and are
not run here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from attestor.sources.nvml import NvmlSource
from sim.traces import parse_gpu_csv
from tests.attestor.fake_nvml import FakeGpu, FakeNvml

MIB = 1024 * 1024
_PATH = Path(__file__).resolve().parents[2] / "tools" / "gpu_traces" / "record.py"


def _record_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_traces_record", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_samples_become_an_nvidia_smi_log_and_full_json(tmp_path: Path) -> None:
    record = _record_module()
    gpus = [
        FakeGpu("GPU-a", power_mw=612_340, util_gpu=97, mem_used=70_000 * MIB),
        FakeGpu("GPU-b", power_mw=69_850, util_gpu=0, mem_used=5 * MIB, serial="secret-serial"),
    ]
    source = NvmlSource(FakeNvml(gpus))
    rec = record.Recorder(source, tmp_path, lambda _msg: None)
    for i in range(3):
        gpus[0].power_mw += 1000 * i
        rec._one(1_796_500_000.0 + i)
    rec.csv.close()
    rec.jsonl.close()

    trace = parse_gpu_csv((tmp_path / "nvml.csv").read_text(), "nvml.csv", gpus=2)
    assert trace.times_s == (0.0, 1.0, 2.0)
    assert trace.model_names == ("NVIDIA H100 80GB HBM3",)
    first, other = trace.rows[2]
    assert first.power_w == pytest.approx(615.34)
    assert first.busy_fraction == pytest.approx(0.97)
    assert first.memory_used_bytes == pytest.approx(70_000 * MIB)
    assert other.power_w == pytest.approx(69.85)

    rows = [json.loads(line) for line in (tmp_path / "nvml.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    assert [d["uuid"] for d in rows[0]["devices"]] == ["GPU-a", "GPU-b"]
    assert rows[0]["devices"][0]["power_limit_w"] == pytest.approx(700.0)
    assert "secret-serial" not in (tmp_path / "nvml.jsonl").read_text()  # the serial stays behind


def test_an_absent_reading_is_na_not_zero(tmp_path: Path) -> None:
    import pynvml

    record = _record_module()
    gpu = FakeGpu("GPU-a", fail={"nvmlDeviceGetUtilizationRates": pynvml.NVML_ERROR_UNKNOWN})
    rec = record.Recorder(NvmlSource(FakeNvml([gpu])), tmp_path, lambda _msg: None)
    rec._one(1_796_500_000.0)
    rec.csv.close()
    line = (tmp_path / "nvml.csv").read_text().splitlines()[1]
    assert ", [N/A]," in line  # as nvidia-smi writes it: no unit
    trace = parse_gpu_csv((tmp_path / "nvml.csv").read_text(), "nvml.csv", gpus=1)
    assert trace.rows[0][0].busy_fraction is None
