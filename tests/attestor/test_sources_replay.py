"""Trace replay on real logs cut short, with [N/A], without units, and whole-node power logs.

The real logs are read from ../shared/data (unlicensed ones are never copied): damaged variants
are written to a temporary directory by the test itself.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest

from attestor.config import SourceSpec
from attestor.sources import open_sources
from attestor.sources.replay import ReplaySource, load_trace
from attestor.telemetry import AnomalyKind
from pausewatch.errors import FormatError
from tests.attestor.data import data_file

NS = 10**9
MIB = 1024 * 1024
H100X8 = ("gpu-power-traces", "training-h100-8gpu", "h100x8_ckpt1000.csv.gz")
CISCO = ("gpu-power-traces-more", "cisco-h200-mlperf-bmc-node1", "power_log_n1_only.csv.gz")


def _head_lines(parts: tuple[str, ...], n: int) -> str:
    text = gzip.decompress(data_file(*parts).read_bytes()).decode()
    return "\n".join(text.splitlines()[:n]) + "\n"


def test_truncated_last_line_of_an_eight_gpu_log_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = _head_lines(H100X8, 1 + 8 * 4)  # header and four whole instants
    cut = tmp_path / "cut.csv"
    cut.write_text(text + "2025/07/01 12:00:00.9, 547.")  # the logger died mid-line: no newline
    with caplog.at_level(logging.WARNING, logger="pausewatch.attestor.sources"):
        trace = load_trace(cut, devices=8)
    assert trace.truncated_tail
    assert len(trace.rows) == 4  # the partial line is gone, every instant keeps its 8 rows
    assert any("partial line" in r.getMessage() for r in caplog.records)
    # The same text with its final newline is whole: nothing is dropped.
    whole = tmp_path / "whole.csv"
    whole.write_text(text)
    assert not load_trace(whole, devices=8).truncated_tail


def test_the_real_falcon_log_ends_in_a_partial_line() -> None:
    trace = load_trace(data_file("gpu-power-traces", "inference-llm", "falcon-7b_2024-04-03_10-47-35.csv.gz"))
    assert trace.truncated_tail  # "2024/04/03" and no newline: the logger stopped mid-row
    assert len(trace.rows) == 1979  # 1981 lines: the header, 1979 rows, the partial one


def test_a_malformed_last_row_ending_in_a_newline_is_ignored(tmp_path: Path) -> None:
    text = _head_lines(H100X8, 1 + 8 * 3) + "2025/07/01\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    trace = load_trace(bad, devices=8)
    assert (len(trace.rows), trace.skipped_rows) == (3, 1)


def test_gzip_stream_cut_short_keeps_what_was_written(tmp_path: Path) -> None:
    data = data_file(*H100X8).read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 3])
    trace = load_trace(cut, devices=8)
    assert trace.truncated_tail
    assert 100 < len(trace.rows) < 54_736 // 8
    assert all(len(instant) == 8 for instant in trace.rows)


def test_a_broken_row_inside_a_multi_device_log_is_still_refused(tmp_path: Path) -> None:
    lines = _head_lines(H100X8, 1 + 8 * 3).splitlines()
    lines[5] = "2025/07/01, 1 W"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match=r"bad\.csv:6"):
        load_trace(bad, devices=8)


def test_na_and_missing_units_and_other_units(tmp_path: Path) -> None:
    trace_file = tmp_path / "t.csv"
    trace_file.write_text(
        "timestamp, power.draw [W], utilization.gpu [%], memory.used [MiB]\n"
        "2024/04/03 10:47:35.000, [N/A], [N/A], [Not Supported]\n"  # absent, never 0
        "2024/04/03 10:47:36.000, 250.5, 40, 1024\n"  # --format=csv,nounits
        "2024/04/03 10:47:37.000, 0.3 kW, 41 %, 1 MiB\n"
        "2024/04/03 10:47:38.000, lots, 42 %, 2 MiB\n"
    )
    src = ReplaySource(load_trace(trace_file), ["GPU-x"])
    first = src.sample(0)
    d = first.devices[0]
    assert (d.power_w, d.busy_fraction, d.memory_used_bytes) == (None, None, None)
    assert first.anomalies == ()
    d = src.sample(NS).devices[0]
    assert d.power_w == 250.5
    assert d.busy_fraction == pytest.approx(0.40)
    assert d.memory_used_bytes == 1024 * MIB
    assert src.sample(2 * NS).devices[0].power_w == pytest.approx(300.0)
    broken = src.sample(3 * NS)
    assert broken.devices[0].power_w is None
    assert [(a.kind, a.metric, a.raw_value) for a in broken.anomalies] == [
        (AnomalyKind.SOURCE_ERROR, "power_w", "lots")
    ]


def test_log_with_a_name_column_and_other_column_order() -> None:
    trace = load_trace(data_file("gpu-power-traces-more", "rtx4090-vlm-eval", "gpu_log_rtx4090.csv.gz"))
    first = trace.rows[0][0]
    assert first.power_w == pytest.approx(33.09)
    assert first.busy_fraction == pytest.approx(0.01)
    assert first.memory_used_bytes == 1129 * MIB
    assert 47 * 60 * NS < trace.duration_ns < 49 * 60 * NS


def test_node_level_bmc_power_log_plays_as_node_power_or_as_a_meter() -> None:
    trace = load_trace(data_file(*CISCO))
    assert trace.node_level
    assert trace.devices == 1
    assert 20 * 3600 * NS < trace.duration_ns < 21 * 3600 * NS  # 19:14:51 to 16:03:00 next day
    node = ReplaySource(trace, ["node-1"]).sample(5 * NS)
    assert node.devices == ()
    assert node.host is not None
    assert node.host.bmc_power_w == 2492.0
    later = ReplaySource(trace, ["node-1"])
    later.sample(0)
    assert later.sample(11 * NS).host.bmc_power_w == 2503.0  # type: ignore[union-attr]
    meter = ReplaySource(trace, ["meter-1"], as_meter=True).sample(0)
    assert meter.host is None
    assert meter.devices[0].uuid == "meter-1"
    assert meter.devices[0].power_w == 2492.0


def test_node_log_zero_is_kept_unless_the_logger_marks_failures_with_zero(tmp_path: Path) -> None:
    log = tmp_path / "node.csv"
    log.write_text("timestamp,watts\n2026-05-05T19:14:51,2492\n2026-05-05T19:15:02,0\n1778008513.5,2500\n")
    kept = ReplaySource(load_trace(log), ["n"])
    kept.sample(0)
    assert kept.sample(11 * NS).host.bmc_power_w == 0.0  # type: ignore[union-attr]
    marked = ReplaySource(load_trace(log, zero_is_missing=True), ["n"])
    marked.sample(0)
    sample = marked.sample(11 * NS)
    assert sample.host is not None
    assert sample.host.bmc_power_w is None
    assert sample.anomalies[0].metric == "bmc_power_w"
    with pytest.raises(FormatError, match="devices must be 1"):
        load_trace(log, devices=2)


def test_node_log_without_a_power_column_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "node.csv"
    log.write_text("timestamp,temperature\n2026-05-05T19:14:51,40\n")
    with pytest.raises(FormatError, match="node power column"):
        load_trace(log)


def test_multi_member_gzip_is_read_whole(tmp_path: Path) -> None:
    text = _head_lines(H100X8, 1 + 8 * 4).splitlines(keepends=True)
    log = tmp_path / "appended.csv.gz"
    log.write_bytes(gzip.compress("".join(text[:17]).encode()) + gzip.compress("".join(text[17:]).encode()))
    trace = load_trace(log, devices=8)
    assert len(trace.rows) == 4
    assert not trace.truncated_tail


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (H100X8, 8),
        (("gpu-power-traces", "inference-llm", "falcon-7b_2024-04-03_10-47-35.csv.gz"), 1),
        (("gpu-power-traces-more", "rtx4090-vlm-eval", "gpu_log_rtx4090.csv.gz"), 1),
        (CISCO, 1),
    ],
)
def test_devices_zero_tells_the_count_from_the_timestamps(
    parts: tuple[str, ...], expected: int, tmp_path: Path
) -> None:
    head = tmp_path / "head.csv"
    head.write_text(_head_lines(parts, 2001))
    assert load_trace(head, devices=0).devices == expected


def test_a_device_column_groups_rows_whatever_their_order(tmp_path: Path) -> None:
    log = tmp_path / "indexed.csv"
    log.write_text(
        "timestamp, index, uuid, power.draw [W]\n"
        "2025/01/01 00:00:00.000, 0, GPU-a, 100 W\n"
        "2025/01/01 00:00:00.001, 1, GPU-b, 200 W\n"
        "2025/01/01 00:00:01.000, 1, GPU-b, 210 W\n"  # the other order in this pass
        "2025/01/01 00:00:01.001, 0, GPU-a, 110 W\n"
        "2025/01/01 00:00:02.000, 0, GPU-a, 120 W\n"  # GPU-b missing here: instant left out
        "2025/01/01 00:00:03.000, 0, GPU-a, 130 W\n"
        "2025/01/01 00:00:03.001, 1, GPU-b, 230 W\n"
    )
    trace = load_trace(log)
    assert (trace.devices, trace.device_ids) == (2, ("0", "1"))
    assert [[r.power_w for r in instant] for instant in trace.rows] == [[100, 200], [110, 210], [130, 230]]
    assert trace.skipped_rows == 1
    with pytest.raises(FormatError, match="lists 2 devices, not 4"):
        load_trace(log, devices=4)
    (src,) = open_sources([SourceSpec("replay", (("path", str(log)),))], subject_id="n")
    assert [d.uuid for d in src.sample(0).devices] == ["REPLAY-n-0", "REPLAY-n-1"]
    by_uuid = tmp_path / "by-uuid.csv"
    by_uuid.write_text(log.read_text().replace(" index,", "").replace(" 0,", "").replace(" 1,", ""))
    (src,) = open_sources([SourceSpec("replay", (("path", str(by_uuid)),))], subject_id="n")
    assert [d.uuid for d in src.sample(0).devices] == ["GPU-a", "GPU-b"]  # the trace's own names


def test_every_power_log_in_the_trace_folders_loads(tmp_path: Path) -> None:
    """Every power log under ../shared/data/gpu-power-traces*/ (other GPUs' and BMCs' logs placed
    there included) loads with the device count told from it, and reads no negative power. The
    first 4000 lines of each: the format is what is checked, and the whole files are slow."""
    loaded = 0
    for folder in ("gpu-power-traces", "gpu-power-traces-more"):
        for path in sorted(data_file(folder).rglob("*.csv*")):
            with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as f:
                head = [line for _, line in zip(range(4000), f, strict=False)]
            names = {h.split(" [", 1)[0].strip() for h in head[0].lower().split(",")}
            if not head[0].lower().startswith("timestamp") or not (names & {"power.draw", "watts", "power_w"}):
                continue  # not a power log (PCIe transfer, vLLM gauges, labels)
            sample = tmp_path / f"{loaded}.csv"
            sample.write_text("".join(head[:-1]))  # whole lines only
            trace = load_trace(sample, devices=0)
            loaded += 1
            powers = [r.power_w for instant in trace.rows for r in instant if r.power_w is not None]
            assert powers, path.name
            assert min(powers) >= 0, path.name
    assert loaded >= 5
