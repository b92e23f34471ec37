"""The HTML report renders its charts in headless Chromium: the screenshot holds the chart
colours inside the chart areas (decoded with zlib; no image library)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from auditor.pipeline import AuditOptions, audit_bundle
from auditor.report_html import COLORS, render_report, write_report
from tests.audit.conftest import RealBundle


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB/RGBA non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8
            assert interlace == 0
            assert color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line[k] for k in range(stride) if k % channels < 3))
        prev = line
    return width, height, rows


def rgb(hex_color: str) -> bytes:
    return bytes.fromhex(hex_color[1:])


def color_rows(rows: list[bytes], color: bytes) -> list[int]:
    """Row numbers where at least 3 pixels have exactly ``color``."""
    hits = []
    for y, row in enumerate(rows):
        count = sum(1 for x in range(0, len(row), 3) if row[x : x + 3] == color)
        if count >= 3:
            hits.append(y)
    return hits


def test_report_is_self_contained(real_bundle: RealBundle) -> None:
    out = audit_bundle(real_bundle.directory, AuditOptions(workers=1))
    text = render_report(out)
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text
    assert "<script" not in text
    assert text.count("<svg") == 4


def screenshot(report: Path, tmp_path: Path, size: str) -> Path:
    """Render ``report`` in headless Chromium at ``size`` (``W,H``) and 1 px per CSS px."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run `make sysdeps` (Debian package chromium)")
    png = tmp_path / "shot.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={png}",
            f"--window-size={size}",
            report.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return png


@pytest.mark.heavy
def test_charts_render_in_headless_chromium(real_bundle: RealBundle, tmp_path: Path) -> None:
    out = audit_bundle(real_bundle.directory, AuditOptions(workers=1))
    report = tmp_path / "report.html"
    write_report(out, report)
    png = screenshot(report, tmp_path, "1400,2000")
    width, height, rows = decode_png(png.read_bytes())
    assert (width, height) == (1400, 2000)
    found = {
        name: color_rows(rows, rgb(COLORS[name]))
        for name in ("node_energy", "meter_energy", "coverage", "COMPLIANT", "INCONCLUSIVE", "VIOLATION")
    }
    for chart in ("node_energy", "meter_energy", "coverage"):
        assert found[chart], f"no {chart} pixels: the chart did not render"
    verdict_rows = found["COMPLIANT"] + found["INCONCLUSIVE"] + found["VIOLATION"]
    assert verdict_rows, "no verdict band rendered"
    # The charts stack in order: energy bars above the coverage area above the verdict bands.
    assert min(found["node_energy"]) < min(found["coverage"]) < max(verdict_rows)
    # The banner is green (VERIFIED) and near the top.
    assert min(color_rows(rows, rgb("#16a34a"))) < 150
