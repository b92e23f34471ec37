"""AMD Instinct GPUs: the real rocm-smi capture (4x MI100, ROCm 6.0.2) and fixtures built from
AMD's documented amd-smi / rocm-smi output for other ROCm versions (fixtures/amd/, each with
``_source`` and the readings it must give), then hostile output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attestor.aggregate import Aggregator
from attestor.cli import main as cli_main
from attestor.config import ConfigError, SourceSpec
from attestor.sources import open_sources
from attestor.sources.amd import (
    AMD_SMI_ARGS,
    ROCM_SMI_ARGS,
    AmdSmiSource,
    parse_amd_json,
    parse_amd_smi,
    parse_rocm_smi,
)
from attestor.telemetry import AnomalyKind, SourceKind
from pausewatch.errors import EnvironmentFaultError
from pausewatch.peaks import lookup_peak
from tests.attestor.data import data_file

FIXTURES = Path(__file__).parent / "fixtures" / "amd"
CASES = sorted(FIXTURES.glob("*.json"))
NS = 10**9


def _runner(fixture: dict[str, Any]) -> Any:
    out = fixture["output"]

    def run(args: list[str]) -> str:
        if fixture["tool"] == "rocm-smi":
            assert args == ROCM_SMI_ARGS
            return out if isinstance(out, str) else json.dumps(out)
        return json.dumps(out["metric"] if args == AMD_SMI_ARGS else out["static"])

    return run


def test_real_mi100_capture() -> None:
    devices, anomalies, driver = parse_rocm_smi(data_file("amd-rocm-smi", "mi100_rocm602.json").read_text())
    assert driver == "6.3.6"
    assert [d.uuid for d in devices] == [
        "AMD-79ccd55167a2124a",
        "AMD-04edfb117a17a07d",  # 0x4edfb117a17a07d: 15 hex digits, padded to 16
        "AMD-d4a9ec48d03d261d",
        "AMD-1b9dd972253c3736",
    ]
    assert [d.power_w for d in devices] == [36.0, 44.0, 43.0, 39.0]  # Average Graphics Package Power (W)
    d = devices[0]
    assert d.power_limit_w == 290.0
    assert d.busy_fraction == 0.0
    assert d.memory_used_bytes == 6_750_208
    assert d.memory_total_bytes == 34_342_961_152
    assert d.serial == ""  # "N/A": absent, not a serial
    assert d.energy_counter_j is None  # --showenergycounter was not part of this capture
    assert d.model == "Arcturus GL-XL [Instinct MI100]"
    peak = lookup_peak(d.model)
    assert peak is not None
    assert peak.model == "AMD Instinct MI100"
    assert anomalies == []


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_documented_output_of_each_rocm_version(path: Path) -> None:
    fixture = json.loads(path.read_text())
    assert fixture["_source"]
    sample = AmdSmiSource(fixture["tool"], run=_runner(fixture)).sample(NS)
    assert sample.kind is SourceKind.AMD_SMI
    assert [d.uuid for d in sample.devices] == [e["uuid"] for e in fixture["expect"]]
    for device, expect in zip(sample.devices, fixture["expect"], strict=True):
        for name, value in expect.items():
            got = getattr(device, name)
            assert got == (pytest.approx(value) if isinstance(value, float) else value), (path.name, name)
    assert [a for a in sample.anomalies if a.kind is not AnomalyKind.SOURCE_ERROR] == []


def test_both_tools_name_a_gpu_alike_and_the_driver_is_reported() -> None:
    amd = json.loads((FIXTURES / "amd_smi_rocm61_mi300x.json").read_text())
    rocm = json.loads((FIXTURES / "rocm_smi_rocm61_mi300x.json").read_text())
    a = AmdSmiSource("amd-smi", run=_runner(amd)).sample(0)
    r = AmdSmiSource("rocm-smi", run=_runner(rocm)).sample(0)
    assert a.devices[0].uuid == r.devices[0].uuid
    assert a.version == "amd-smi driver 6.7.0"
    assert r.version == "rocm-smi driver 6.7.0"


def test_energy_counter_feeds_the_aggregator() -> None:
    fixture = json.loads((FIXTURES / "amd_smi_rocm61_mi300x.json").read_text())
    src = AmdSmiSource("amd-smi", run=_runner(fixture))
    agg = Aggregator()
    agg.add(src.sample(0))
    energy = fixture["output"]["metric"][0]["energy"]["total_energy_consumption"]
    energy["value"] += 6120.0  # 10 s at 612 W
    agg.add(src.sample(10 * NS))
    period = agg.close(0, 10 * NS)
    usage = next(u for u in period.accelerators if u.uuid == "AMD-d2b06a4c3e8e6d1f")
    assert usage.energy_j == pytest.approx(6120.0)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (["612"], "a list"),
        ({"val": 612}, "an object without value"),
        ("lots W", "not a number"),
        ({"value": 612, "unit": "horsepower"}, "an unknown unit"),
        (True, "a boolean"),
    ],
)
def test_wrong_types_are_unavailable_with_the_raw_value(value: Any, why: str) -> None:
    fixture = json.loads((FIXTURES / "amd_smi_rocm61_mi300x.json").read_text())
    fixture["output"]["metric"][0]["power"]["socket_power"] = value
    sample = AmdSmiSource("amd-smi", run=_runner(fixture)).sample(0)
    d = sample.devices[0]
    assert d.power_w is None, why  # unavailable, never 0 W
    assert d.busy_fraction == pytest.approx(0.87)  # the rest is still read
    (bad,) = [a for a in sample.anomalies if a.metric == "power_w"]
    assert bad.device_uuid == d.uuid


def test_missing_values_and_unknown_keys() -> None:
    text = json.dumps(
        {
            "card0": {"Unique ID": "0x1", "Some Future Key (W)": "12", "GPU use (%)": "N/A"},
            "card1": {"Average Graphics Package Power (W)": "99.0"},  # no id at all
            "card2": "garbage",
            "system": {"Driver version": 6},
        }
    )
    devices, anomalies, driver = parse_rocm_smi(text)
    (d,) = devices
    assert d.uuid == "AMD-0000000000000001"
    assert (d.power_w, d.busy_fraction, d.memory_used_bytes) == (None, None, None)
    assert {a.metric for a in anomalies} == {"device_id", "card2"}
    assert driver == "6"


def test_future_schema_and_a_broken_static_output() -> None:
    metric = [{"gpu": 0, "bdf": "0000:0c:00.0", "schema_version": 99, "power": {"socket_power": {"value": 5e5, "unit": "mW"}}}]
    calls: list[list[str]] = []

    def run(args: list[str]) -> str:
        calls.append(args)
        return json.dumps(metric) if args == AMD_SMI_ARGS else "{oops"

    src = AmdSmiSource("amd-smi", run=run)
    sample = src.sample(0)
    (d,) = sample.devices
    assert d.uuid == "AMD-PCI-0000:0c:00.0"  # no static output: the PCI address names it
    assert d.power_w == pytest.approx(500.0)  # mW -> W
    assert any(a.metric == "amd-smi static" for a in sample.anomalies)
    src.sample(NS)
    assert calls.count(["static", "--json"]) == 2  # tried again while it has not been read


def test_tool_failures_are_source_errors() -> None:
    def missing(args: list[str]) -> str:
        raise EnvironmentFaultError("amd-smi not found")

    for run in (missing, lambda args: "ERROR: no GPU found", lambda args: "[1, 2"):
        sample = AmdSmiSource("amd-smi", run=run).sample(0)
        assert sample.devices == ()
        assert sample.anomalies[0].kind is AnomalyKind.SOURCE_ERROR
    assert AmdSmiSource("rocm-smi", run=lambda args: "[]").sample(0).anomalies[0].kind is AnomalyKind.SOURCE_ERROR
    with pytest.raises(ValueError, match="tool"):
        AmdSmiSource("nvidia-smi")
    devices, _, _ = parse_amd_smi('{"gpu_data": []}')
    assert devices == []


def test_configured_from_sources_table(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-rocm-smi")
    (src,) = open_sources([SourceSpec("amd", (("binary", missing), ("tool", "rocm-smi")))], subject_id="n")
    sample = src.sample(0)
    assert sample.kind is SourceKind.AMD_SMI
    assert "not found" in sample.anomalies[0].raw_value
    with pytest.raises(ConfigError, match=r"sources\[0\]\.tool"):
        open_sources([SourceSpec("amd", (("tool", "nvidia-smi"),))], subject_id="n")


def test_probe_runs_a_real_rocm_smi_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``pausewatch-attestor probe --source amd`` through a stand-in rocm-smi that prints the capture."""
    capture = data_file("amd-rocm-smi", "mi100_rocm602.json")
    tool = tmp_path / "rocm-smi"
    tool.write_text(f"#!/bin/sh\ncat '{capture}'\n")
    tool.chmod(0o755)
    rc = cli_main(
        ["probe", "--source", "amd", "--option", 'tool="rocm-smi"', "--option", f'binary="{tool}"',
         "--seconds", "0.01", "--interval", "0.01", "--json"]
    )  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"][0]["source"] == "amd_smi"
    assert [d["power_w"] for d in out["samples"][0]["devices"]] == [36.0, 44.0, 43.0, 39.0]
    assert {u["uuid"] for u in out["aggregate"]["accelerators"]} >= {"AMD-79ccd55167a2124a", "AMD-04edfb117a17a07d"}


def _captures() -> list[Path]:
    folder = data_file("amd-rocm-smi")
    return sorted(folder.rglob("*.json"))


def test_every_capture_in_the_folder_reads_without_inventing() -> None:
    """Whatever ROCm version or GPU a capture in ../shared/data/amd-rocm-smi comes from: it
    parses, every GPU is named, and a power read is a positive number or absent, never 0."""
    captures = _captures()
    assert captures
    for path in captures:
        devices, anomalies, _ = parse_amd_json(path.read_text())
        assert devices, path.name
        for d in devices:
            assert d.uuid.startswith("AMD-"), path.name
            assert d.power_w is None or d.power_w > 0, (path.name, d.uuid)
            assert d.busy_fraction is None or 0 <= d.busy_fraction <= 1, (path.name, d.uuid)
        assert all(a.kind is AnomalyKind.SOURCE_ERROR for a in anomalies)


def test_auto_finds_an_amd_gpu_through_rocm_smi_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = data_file("amd-rocm-smi", "mi100_rocm602.json")
    tool = tmp_path / "rocm-smi"
    tool.write_text(f"#!/bin/sh\n/bin/cat '{capture}'\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))  # no amd-smi, no nvidia driver tools
    sources = open_sources([SourceSpec("auto")], subject_id="n")
    amd = [s for s in sources if s.kind is SourceKind.AMD_SMI]
    if any(s.kind is SourceKind.NVML for s in sources):
        pytest.skip("an NVIDIA GPU answers here: auto takes NVML")
    assert len(amd) == 1
    assert len(amd[0].sample(0).devices) == 4


def test_an_absent_current_power_falls_back_to_the_average() -> None:
    card = {
        "Unique ID": "0x2",
        "Current Socket Graphics Package Power (W)": "N/A",
        "Average Graphics Package Power (W)": "88.0",
        "Max Graphics Package Power (W)": "560.0",
    }
    (d,), anomalies, _ = parse_rocm_smi(json.dumps({"card0": card}))
    assert d.power_w == 88.0
    assert d.power_limit_w == 560.0  # "Max ..." is the limit, never the power
    assert anomalies == []


def test_amd_smi_current_power_na_falls_back_to_the_socket_power() -> None:
    fixture = json.loads((FIXTURES / "amd_smi_25_mi325x_gpu_data.json").read_text())
    power = fixture["output"]["metric"]["gpu_data"][0]["power"]
    power["current_socket_power"] = "N/A"
    (d,) = AmdSmiSource("amd-smi", run=_runner(fixture)).sample(0).devices
    assert d.power_w == 718.0  # average_socket_power: the next that holds a value
