"""Each telemetry source against real captures in ../shared/data (and hostile variants)."""

from __future__ import annotations

import math

import pytest

from attestor.sources.dcgm import DcgmExporterSource, parse_dcgm_metrics
from attestor.sources.nvidia_smi import NvidiaSmiSource, parse_query_gpu_csv, parse_smi_xml
from attestor.sources.replay import ReplaySource, load_trace
from attestor.telemetry import AnomalyKind
from pausewatch.errors import EnvironmentFaultError, FormatError
from tests.attestor.data import data_file

MIB = 1024 * 1024


def test_dcgm_l4_idle_scrape() -> None:
    text = data_file("dcgm-exporter", "metrics", "l4_idle_kops-aws.prom").read_text()
    devices, driver = parse_dcgm_metrics(text)
    assert driver == "580.105.08"
    (d,) = devices
    assert d.uuid == "GPU-c2f76b33-7953-256e-8f33-1343419b1a1c"
    assert d.model == "NVIDIA L4"
    assert d.power_w == pytest.approx(16.365)
    assert d.energy_counter_j == pytest.approx(4742.776)  # 4742776 mJ
    assert d.busy_fraction == 0.0
    assert d.tensor_active == 0.0  # profiling field present, idle
    assert d.nvlink_rate_bps is None  # no NVLink series on an L4: absent, not zero


def test_dcgm_a100_mig_busy_uses_whole_gpu_series() -> None:
    text = data_file("dcgm-exporter", "metrics", "a100_mig_busy_nvidia-docs.prom").read_text()
    (d,) = parse_dcgm_metrics(text)[0]
    assert d.power_w == pytest.approx(409.692)
    assert d.tensor_active == pytest.approx(0.929260)  # the whole-GPU line, not the MIG slice
    assert d.memory_used_bytes == 4845 * MIB
    assert d.pcie_rate_bps == pytest.approx(33011804 + 97863601)


@pytest.mark.parametrize("name", ["l40s_idle_upcloud.prom", "t4_busy_ericsson-ccd.prom"])
def test_dcgm_other_scrapes_parse(name: str) -> None:
    devices, _ = parse_dcgm_metrics(data_file("dcgm-exporter", "metrics", name).read_text())
    assert devices
    assert all(d.power_w is not None and d.power_w > 0 for d in devices)


def test_dcgm_garbage_is_a_source_error_not_a_crash() -> None:
    src = DcgmExporterSource(lambda: 'DCGM_FI_DEV_POWER_USAGE{UUID="x"} not-a-number\n{{{')
    sample = src.sample(1)
    assert sample.devices == ()
    assert sample.anomalies[0].kind is AnomalyKind.SOURCE_ERROR

    def unreachable() -> str:
        raise EnvironmentFaultError("GET http://127.0.0.1:9/metrics: refused")

    assert DcgmExporterSource(unreachable).sample(2).anomalies[0].kind is AnomalyKind.SOURCE_ERROR


def test_smi_xml_v12_four_a100() -> None:
    devices, anomalies, driver = parse_smi_xml(
        data_file("nvidia-smi", "xml", "a100-sxm4-v12.xml").read_text()
    )
    assert driver == "535.54.03"
    assert len(devices) == 1  # the fixture keeps one of the four <gpu> elements (attached_gpus = 4)
    d = devices[0]
    assert d.model == "NVIDIA A100-SXM4-80GB"
    assert d.uuid == "GPU-513536b6-7d19-9063-b049-1e69664bb298"
    assert d.serial == "1650522003820"
    assert d.power_w == pytest.approx(67.03)
    assert d.power_limit_w == pytest.approx(500.0)
    assert d.busy_fraction is None  # gpu_util is N/A here (MIG): absent
    assert anomalies == []
    assert d.mig_enabled is True  # so the N/A is MIG's: nvidia-smi has no activity for it
    assert [(m.gpu_instance_id, m.compute_instance_id, m.sm_count) for m in d.mig_instances] == [
        (3, 0, 14), (4, 0, 14), (5, 0, 14), (6, 0, 14)
    ]  # fmt: skip
    assert d.mig_instances[0].memory_total_bytes == 19968 * MIB
    assert all(m.sm_active is None for m in d.mig_instances)
    t4, _, _ = parse_smi_xml(data_file("nvidia-smi", "xml", "tesla-t4.xml").read_text())
    assert t4[0].mig_instances == ()


def test_smi_xml_v13_instant_power() -> None:
    devices, _, _ = parse_smi_xml(data_file("nvidia-smi", "xml", "rtx-4000-sff-ada-v13.xml").read_text())
    (d,) = devices
    assert d.power_w == pytest.approx(8.44)  # instant_power_draw (v13 renamed power_draw)
    assert d.power_limit_w == pytest.approx(70.0)


def test_smi_xml_processes_and_old_schema() -> None:
    t4, _, _ = parse_smi_xml(data_file("nvidia-smi", "xml", "tesla-t4.xml").read_text())
    assert t4[0].process_count is not None
    assert t4[0].process_count >= 1
    old, _, _ = parse_smi_xml(data_file("nvidia-smi", "xml", "gtx-1070-ti.xml").read_text())
    assert old[0].power_w is None
    assert old[0].memory_used_bytes == 42 * MIB


def _query_gpu_section(state: str) -> str:
    text = data_file(
        "nvidia-smi", "captures", "linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt"
    ).read_text()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"# {state} :: query-gpu"))
    body = [line for line in lines[start + 1 :] if line and not line.startswith("#")]
    return "\n".join(body[:2])


def test_smi_query_gpu_csv_h100_idle_and_load() -> None:
    idle, idle_anomalies = parse_query_gpu_csv(_query_gpu_section("idle"))
    load, _ = parse_query_gpu_csv(_query_gpu_section("load"))
    assert idle[0].model == "NVIDIA H100 80GB HBM3"
    assert idle[0].power_w is not None
    assert 50 < idle[0].power_w < 120
    assert load[0].power_w is not None
    assert load[0].power_w > 500
    assert idle[0].memory_total_bytes == pytest.approx(81559 * MIB, rel=0.01)
    assert not [a for a in idle_anomalies if a.metric == "power_w"]


def test_smi_hostile_output() -> None:
    with pytest.raises(ValueError):
        parse_smi_xml("<not xml")
    src = NvidiaSmiSource(
        "xml",
        run=lambda args: (
            "<nvidia_smi_log><gpu><uuid>GPU-1</uuid>"
            "<power_readings><power_draw>lots W</power_draw></power_readings></gpu></nvidia_smi_log>"
        ),
    )
    sample = src.sample(5)
    assert sample.devices[0].power_w is None
    assert sample.anomalies[0].raw_value == "lots W"
    rows, anomalies = parse_query_gpu_csv("uuid, power.draw [W]\nGPU-1, 12 W, extra\n")
    assert rows == []
    assert anomalies[0].kind is AnomalyKind.SOURCE_ERROR


def test_replay_training_trace_eight_devices() -> None:
    trace = load_trace(
        data_file("gpu-power-traces", "training-h100-8gpu", "h100x8_ckpt1000.csv.gz"), devices=8
    )
    assert trace.devices == 8
    assert 690e9 < trace.duration_ns < 710e9
    src = ReplaySource(trace, [f"GPU-{i}" for i in range(8)], model="NVIDIA H100 80GB HBM3")
    start = 1_000 * 10**9
    first = src.sample(start)
    assert first.devices[0].power_w == pytest.approx(69.85)
    busy = src.sample(start + 300 * 10**9)  # five minutes in: steady training
    assert all(d.power_w is not None and d.power_w > 400 for d in busy.devices)
    assert busy.devices[0].memory_used_bytes is not None
    assert busy.devices[0].memory_used_bytes > 30e9


def test_replay_inference_trace_and_bad_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    trace = load_trace(data_file("gpu-power-traces", "inference-llm", "falcon-7b_2024-04-03_10-47-35.csv.gz"))
    assert trace.devices == 1
    assert trace.rows[0][0].power_w == pytest.approx(29.99)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "timestamp, power.draw [W]\n2024/04/03 10:47:35.673, nan W\n2024/04/03 10:47:35.773, x W\n"
    )
    t = load_trace(bad)
    sample = ReplaySource(t, ["GPU-x"]).sample(10**9)
    assert sample.devices[0].power_w is not None
    assert math.isnan(sample.devices[0].power_w)
    bad.write_text("when, watts\n")
    with pytest.raises(FormatError):
        load_trace(bad)


def test_dcgm_mig_instances_are_read_beside_the_whole_gpu() -> None:
    text = data_file("dcgm-exporter", "metrics", "a100_mig_busy_nvidia-docs.prom").read_text()
    sample = DcgmExporterSource(lambda: text).sample(1)
    (d,) = sample.devices
    assert d.mig_enabled is True
    assert d.busy_fraction is None  # no DCGM_FI_DEV_GPU_UTIL in MIG mode: absent, not 0
    (inst,) = d.mig_instances
    assert (inst.gpu_instance_id, inst.profile) == (13, "1g.5gb")
    assert inst.engine_active == pytest.approx(0.995687)
    assert inst.tensor_active == pytest.approx(0.930433)
    assert sample.anomalies == ()  # the whole-GPU profiling series are its activity
    # Only the instance series: the GPU's activity is absent, its instance's is there.
    only_mig = "\n".join(
        line for line in text.splitlines() if "GPU_I_ID" in line or "POWER_USAGE" in line
    )
    sample = DcgmExporterSource(lambda: only_mig).sample(2)
    (d,) = sample.devices
    assert (d.busy_fraction, d.sm_active, d.tensor_active) == (None, None, None)
    assert d.mig_instances[0].tensor_active == pytest.approx(0.930433)
    assert sample.anomalies == ()


def test_every_nvidia_capture_in_the_folders_reads_without_inventing() -> None:
    """Any GPU's capture placed in ../shared/data/nvidia-smi/xml or dcgm-exporter/metrics parses;
    each device is named; a power read is positive or absent, never a 0 W stand-in."""
    xml = sorted(data_file("nvidia-smi", "xml").glob("*.xml"))
    prom = sorted(data_file("dcgm-exporter", "metrics").glob("*.prom"))
    assert xml
    assert prom
    for path in xml:
        devices, anomalies, _ = parse_smi_xml(path.read_text())
        assert devices, path.name
        for d in devices:
            assert d.uuid, path.name
            assert d.power_w is None or d.power_w > 0, path.name
            assert d.busy_fraction is None or 0 <= d.busy_fraction <= 1, path.name
        assert all(a.kind is AnomalyKind.SOURCE_ERROR for a in anomalies)
    for path in prom:
        devices, _ = parse_dcgm_metrics(path.read_text())
        assert devices, path.name
        for d in devices:
            assert d.power_w is None or d.power_w > 0, path.name
            for inst in d.mig_instances:
                assert inst.gpu_instance_id is not None, path.name
