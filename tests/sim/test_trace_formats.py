"""``sim.traces``: the log shapes a fuzzing pass found misread or refused, each built here.

Every log is synthetic: GPU ``g`` draws ``100 + g`` W in every sample, so a sample whose rows are
shifted by one device reads as such.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import json
import lzma
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from sim.classify import main as classify_main
from sim.traces import GpuTrace, TraceError, parse_gpu_csv, parse_node_power_csv, read_trace

HEADER = "timestamp, power.draw [W], utilization.gpu [%], memory.used [MiB]"
START = dt.datetime(2026, 1, 5, 10, 0, 0)


def _stamp(t: float) -> str:
    return (START + dt.timedelta(seconds=t)).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]


def _row(t: float, g: int) -> str:
    return f"{_stamp(t)}, {100 + g:.2f} W, {g} %, {1000 + g} MiB"


def _log(
    samples: int,
    gpus: int,
    *,
    interval_s: float = 1.0,
    row_gap_s: float = 0.001,
    late: Callable[[int, int], float] = lambda k, g: 0.0,
) -> list[str]:
    """Rows of an nvidia-smi log: sample ``k`` at ``k * interval_s``, its rows ``row_gap_s`` apart,
    row ``g`` of sample ``k`` logged ``late(k, g)`` s later."""
    return [_row(k * interval_s + g * row_gap_s + late(k, g), g) for k in range(samples) for g in range(gpus)]


def _text(*parts: Sequence[str]) -> str:
    return "\n".join(line for part in parts for line in part) + "\n"


def _aligned(trace: GpuTrace) -> bool:
    return all([r.power_w for r in rows] == [100.0 + g for g in range(trace.devices)] for rows in trace.rows)


# ------------------------------------------------------------------ rows per instant (A1)


@pytest.mark.parametrize("interval_s", [0.02, 0.1, 1.0, 10.0])
def test_a_wrong_gpus_is_refused_at_every_sampling_rate(interval_s: float) -> None:
    # an 8-GPU log read with --gpus 4 took two samples of four for every instant, half of them
    # the idle GPUs, and read idle while four GPUs trained: -lms 100 logs were not checked
    text = _text([HEADER], _log(60, 8, interval_s=interval_s))
    trace = parse_gpu_csv(text, "t.csv", 8)
    assert len(trace.rows) == 60
    assert _aligned(trace)
    for gpus in (1, 2, 4, 16):
        with pytest.raises(TraceError, match="the log writes 8 rows per instant, but --gpus is"):
            parse_gpu_csv(text, "t.csv", gpus)


def test_a_one_gpu_log_read_as_several_is_refused() -> None:
    text = _text([HEADER], _log(64, 1, interval_s=0.1))
    assert len(parse_gpu_csv(text, "t.csv", 1).rows) == 64
    for gpus in (2, 8):
        with pytest.raises(TraceError, match="the log writes 1 row per instant, but --gpus is"):
            parse_gpu_csv(text, "t.csv", gpus)


def test_rows_spread_wide_within_a_sample_are_still_one_sample() -> None:
    # the real 100-ms 8-GPU log: 1.4 % of samples spread wider than 25 ms, up to ~1 s, when
    # nvidia-smi stalls (GPU 0 logged, the other seven half a second later, the next sample after)
    def stall(k: int, g: int) -> float:
        return (0.54 if g and k % 50 == 7 else 0.0) + (0.56 if k % 50 > 7 else 0.0) + 0.56 * (k // 50)

    text = _text([HEADER], _log(400, 8, interval_s=0.1, row_gap_s=0.002, late=stall))
    trace = parse_gpu_csv(text, "t.csv", 8)
    assert len(trace.rows) == 400
    assert _aligned(trace)
    assert not trace.warnings
    # and a 1-s log whose rows are 13 to 24 ms apart
    spaced = _text([HEADER], _log(60, 8, row_gap_s=0.024))
    assert _aligned(parse_gpu_csv(spaced, "t.csv", 8))


def test_whole_second_timestamps_in_a_fast_log_say_so() -> None:
    rows = [f"{_stamp(int(k * 0.1))[:-4]}, {100 + g:.2f} W, {g} %, 1000 MiB" for k in range(100) for g in range(8)]
    with pytest.raises(TraceError, match="timestamps lack sub-second precision") as e:
        parse_gpu_csv(_text([HEADER], rows), "t.csv", 8)
    assert "--gpus" not in str(e.value)
    # once a second, whole seconds do
    slow = [f"{_stamp(k)[:-4]}, {100 + g:.2f} W, {g} %, 1000 MiB" for k in range(60) for g in range(8)]
    assert _aligned(parse_gpu_csv(_text([HEADER], slow), "t.csv", 8))


# ------------------------------------------------------------------ samples that lack rows (A2, B2, B4)


def test_a_sample_lacking_a_row_is_left_out_not_shifted() -> None:
    # GPU 3's row missing from three samples shifted every later sample's devices by one
    rows = [r for k, r in enumerate(_log(60, 8)) if not (k % 8 == 3 and 20 <= k // 8 < 23)]
    trace = parse_gpu_csv(_text([HEADER], rows), "t.csv", 8)
    assert _aligned(trace)
    assert len(trace.rows) == 57
    assert "t.csv: 3 incomplete sample(s) left out (rows missing at line 162, 169, 176)" in trace.warnings


def test_appended_runs_start_grouping_afresh() -> None:
    # the first run killed mid-sample: its last five rows rotated every sample of the second run
    first = _log(30, 8)[:-3]
    second = [_row(100 + k + g * 0.001, g) for k in range(30) for g in range(8)]
    trace = parse_gpu_csv(_text([HEADER], first, [HEADER], second), "t.csv", 8)
    assert _aligned(trace)
    assert len(trace.rows) == 59
    assert any("1 repeated header line(s) read past" in w for w in trace.warnings)
    assert any("1 incomplete sample(s) left out (rows missing at line 234)" in w for w in trace.warnings)


def test_an_incomplete_last_sample_is_left_out() -> None:
    # a logger killed between two rows: every line parses, the last sample has five of eight
    trace = parse_gpu_csv(_text([HEADER], _log(30, 8)[:-3]), "t.csv", 8)
    assert len(trace.rows) == 29
    assert _aligned(trace)
    assert "t.csv: 1 incomplete sample(s) left out (rows missing at line 234)" in trace.warnings
    # a row count --gpus does not divide, in a log that writes another count, is still refused
    with pytest.raises(TraceError, match="240 data rows do not divide into samples of --gpus 7"):
        parse_gpu_csv(_text([HEADER], _log(30, 8)), "t.csv", 7)


def test_a_line_cut_by_the_next_runs_header() -> None:
    first = _log(30, 8)
    first[-4] = first[-4][:30] + HEADER  # killed mid-line, the next run's header written on
    second = [_row(100 + k + g * 0.001, g) for k in range(30) for g in range(8)]
    trace = parse_gpu_csv(_text([HEADER], first[:-3], second), "t.csv", 8)
    assert _aligned(trace)
    assert len(trace.rows) == 59
    assert "t.csv:238: a line cut short by the next run's header: left out" in trace.warnings
    # a cut line anywhere but at the end of a run is refused where it stands
    first[-4] = first[-4][:30]
    trace = parse_gpu_csv(_text([HEADER], first[:-3], [HEADER], second), "t.csv", 8)
    assert "t.csv:238: truncated last line left out (2 fields, the header names 4)" in trace.warnings
    first[100] = first[100][:30]
    with pytest.raises(TraceError, match=re.escape("t.csv:102: 2 fields, the header names 4")):
        parse_gpu_csv(_text([HEADER], first[:-3], [HEADER], second), "t.csv", 8)


def test_nvidia_smi_message_lines_are_read_past() -> None:
    rows = _log(30, 8)
    rows[83] = "Unable to determine the device handle for GPU 0000:9B:00.0: Unknown Error"
    rows.insert(0, "WARNING: infoROM is corrupted at gpu 0000:18:00.0")
    trace = parse_gpu_csv(_text([HEADER], rows), "t.csv", 8)
    assert _aligned(trace)
    assert len(trace.rows) == 29  # the sample that lacks GPU 3's row
    assert any("2 nvidia-smi message line(s) read past" in w for w in trace.warnings)
    # any other one-field line is still refused
    rows[40] = "garbage"
    with pytest.raises(TraceError, match=re.escape("t.csv:42: 1 fields, the header names 4")):
        parse_gpu_csv(_text([HEADER], rows), "t.csv", 8)


# ------------------------------------------------------------------ columns and values (A3, B5)


def test_the_first_power_column_with_values() -> None:
    header = "timestamp, power.draw [W], power.draw.instant [W], utilization.gpu [%]"
    rows = [f"{_stamp(k + g * 0.001)}, [N/A], {100 + g:.2f} W, 50 %" for k in range(30) for g in range(4)]
    assert _aligned(parse_gpu_csv(_text([header], rows), "t.csv", 4))
    # where both have values, power.draw is read, as before
    both = [f"{_stamp(k + g * 0.001)}, {100 + g:.2f} W, 7 W, 50 %" for k in range(30) for g in range(4)]
    assert _aligned(parse_gpu_csv(_text([header], both), "t.csv", 4))


@pytest.mark.parametrize("absent", ["None", "nan", "NaN", "null", "ERR!", "[ERR!]", "ERROR"])
def test_absent_value_spellings(absent: str) -> None:
    rows = _log(30, 4)
    rows[9] = rows[9].replace("101.00 W", absent)
    trace = parse_gpu_csv(_text([HEADER], rows), "t.csv", 4)
    assert trace.rows[2][1].power_w is None
    assert trace.rows[2][1].busy_fraction == 0.01
    bmc = parse_node_power_csv(f"timestamp,watts\n1,2500\n2,{absent}\n3,2600\n", "bmc.csv")
    assert bmc.power_w == (2500.0, 2600.0)
    assert "bmc.csv: 1 readings of 0 W or absent (failed polls) left out" in bmc.warnings


# ------------------------------------------------------------------ timestamps and row order (B1, B3)


@pytest.mark.parametrize("scale", [1e-3, 1e-9])
def test_unix_milliseconds_are_numbers_not_iso_dates(scale: float) -> None:
    # Python 3.11 reads '1778010100024' as the ISO basic date 1778-01-01 00:24: May 2026 logs
    # in unix ms went back 7.8e9 s at their tenth second
    t0 = 1778010100.024
    rows = [f"{round((t0 + k + g * 0.001) / scale)}, {100 + g:.2f} W, 5 %, 1000 MiB" for k in range(30) for g in range(4)]
    trace = parse_gpu_csv(_text([HEADER], rows), "t.csv", 4)
    assert trace.times_s[-1] == pytest.approx(29.0, abs=1e-3)
    bmc = "timestamp,watts\n" + "".join(f"{round((t0 + 11 * k) / scale)},2500\n" for k in range(30))
    assert parse_node_power_csv(bmc, "bmc.csv").times_s[-1] == pytest.approx(319.0, abs=1e-3)


def _indexed(k: int, g: int) -> str:
    return f"{_stamp(k + g * 0.001)}, {g}, {100 + g:.2f} W, {g} %, 1000 MiB"


def test_an_index_column_log_in_any_row_order() -> None:
    header = "timestamp, index, power.draw [W], utilization.gpu [%], memory.used [MiB]"
    by_time = parse_gpu_csv(_text([header], [_indexed(k, g) for k in range(30) for g in range(4)]), "t.csv", 4)
    by_gpu = [_indexed(k, g) for g in range(4) for k in range(30)]
    per_gpu_files = [line for g in range(4) for line in [header, *(_indexed(k, g) for k in range(30))]]
    for rows in (by_gpu, per_gpu_files[1:]):
        trace = parse_gpu_csv(_text([header], rows), "t.csv", 4)
        assert _aligned(trace)
        assert trace.times_s == by_time.times_s
    # each device's own clock must still go forward
    back = [_indexed(k, g) for g in range(4) for k in range(30)]
    back[40] = _indexed(2, 1)
    with pytest.raises(TraceError, match=re.escape("t.csv:42: timestamp goes back 7.000 s for device '1'")):
        parse_gpu_csv(_text([header], back), "t.csv", 4)


# ------------------------------------------------------------------ files (B6, C)


def test_a_gzip_stream_cut_short(tmp_path: Path) -> None:
    text = _text([HEADER], _log(60, 8))
    whole = gzip.compress(text.encode())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    source = read_trace(cut)
    assert source.text.endswith("\n")
    assert text.startswith(source.text)
    assert "the gzip stream ends early" in source.warnings[0]
    trace = parse_gpu_csv(source.text, str(cut), 8)
    assert _aligned(trace)
    # several gzip members (``gzip >> log.csv.gz``) are one stream
    two = tmp_path / "two.csv.gz"
    half = text.index("\n", len(text) // 2) + 1
    two.write_bytes(gzip.compress(text[:half].encode()) + gzip.compress(text[half:].encode()))
    assert read_trace(two).text == text
    assert not read_trace(two).warnings


def _classify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = classify_main(["classify", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_other_encodings_and_archives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _text([HEADER], _log(120, 4))
    plain = tmp_path / "plain.csv"
    plain.write_text(text)
    args = ("--gpus", "4", "--gpu-model", "H100 SXM", "--json")
    rc, expected, err = _classify(capsys, str(plain), *args)
    assert rc == 0, err
    # PowerShell's > writes UTF-16 with a byte order mark
    for encoding in ("utf-16-le", "utf-16-be"):
        utf16 = tmp_path / f"{encoding}.csv"
        utf16.write_bytes(("\ufeff" + text).encode(encoding))
        assert read_trace(utf16).text == text
    for name, data in (
        ("t.csv.bz2", bz2.compress(text.encode())),
        ("t.csv.xz", lzma.compress(text.encode())),
        ("t.zip", b"PK\x03\x04" + bytes(100)),
    ):
        p = tmp_path / name
        p.write_bytes(data)
        rc, out, err = _classify(capsys, str(p), *args)
        assert rc == 2
        assert "compressed: decompress it first" in err
        assert "Traceback" not in err
    # a banner line before the header
    banner = tmp_path / "banner.csv"
    banner.write_text("# nvidia-smi log started 2026-01-05 10:00 on node17\n" + text)
    rc, out, err = _classify(capsys, str(banner), *args)
    assert rc == 0, err
    assert f"{banner}:1: 1 line(s) before the header read past" in err
    assert json.loads(out)["windows"] == json.loads(expected)["windows"]


def test_a_bare_number_window_is_seconds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "t.csv"
    p.write_text(_text([HEADER], _log(240, 4)))
    args = ("--gpus", "4", "--gpu-model", "H100 SXM", "--json")
    rc, out, err = _classify(capsys, str(p), *args, "--window", "120")
    assert rc == 0, err
    assert json.loads(out)["window_s"] == 120.0
    rc, bucket, err = _classify(capsys, str(p), *args, "--window", "2m", "--bucket", "3600")
    assert rc == 0, err
    assert json.loads(bucket)["windows"] == json.loads(out)["windows"]
    rc, _, err = _classify(capsys, str(p), *args, "--window", "90")
    assert rc == 2
    assert "whole number of 60-s report periods" in err


def test_a_one_gpu_log_with_long_gaps_read_as_several_is_refused() -> None:
    # gaps of an hour between stretches of 1-s rows: the instants say nothing clear, the samples do
    rows = [_row(k + 3600 * (k // 40), 0) for k in range(120)]
    assert len(parse_gpu_csv(_text([HEADER], rows), "t.csv", 1).rows) == 120
    with pytest.raises(TraceError, match="the 4 rows of one sample span 3 s"):
        parse_gpu_csv(_text([HEADER], rows), "t.csv", 4)
    # with milliseconds, the instants' own reading refuses it
    precise = [_row(k + 3600 * (k // 40) + 0.001 * (k % 7), 0) for k in range(120)]
    with pytest.raises(TraceError, match="samples of --gpus 4 rows span several of the log's instants"):
        parse_gpu_csv(_text([HEADER], precise), "t.csv", 4)


def test_whole_second_timestamps_never_shift_a_sample_s_devices() -> None:
    """Samples logged across a second's change (rows 0-3 at one second, 4-7 at the next) were
    cut at the change, one sample's tail joined to the next one's head: devices shifted with no
    error (a review, 2026-12-07). Each GPU here draws its own power: every sample must read
    them in order; a run with a row missing is refused, never guessed."""
    rows, t = [], 0.95
    for _ in range(90):
        rows += [_row(math.floor(t + 0.015 * g), g) for g in range(8)]
        t += 1.0037
    trace = parse_gpu_csv(_text([HEADER], rows), "t.csv", 8)
    assert len(trace.rows) == 90
    assert all([r.power_w for r in sample] == [100.0 + g for g in range(8)] for sample in trace.rows)
    with pytest.raises(TraceError, match="cannot show which sample lacks one"):
        parse_gpu_csv(_text([HEADER], rows[:300] + rows[301:]), "t.csv", 8)


def test_a_wrong_gpus_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "t.csv"
    p.write_text(_text([HEADER], _log(600, 8, interval_s=0.1)))
    rc, out, err = _classify(capsys, str(p), "--gpus", "4", "--gpu-model", "H100 SXM")
    assert rc == 2
    assert out == ""
    assert f"{p}:2: the log writes 8 rows per instant, but --gpus is 4" in err
    assert "Traceback" not in err
