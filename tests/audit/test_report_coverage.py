"""The audit report's coverage is the truth, in numbers and in the pixels drawn.

A facility of 8 single-GPU nodes reports every 5 minutes for 6 hours (the periods the old
report mis-binned: 5-minute reports filed under the minute they end, drawn in 4-minute bins).
Fully covered, every bin reads 100 %; with 2 of the 8 nodes silent, every bin reads 75 % and
the per-node table names the two silent nodes. Each bucket's verdict, findings and evidence are
in the page as text, not only in tooltips. The charts are then rendered in headless Chromium
and the height of every coverage column is measured in the screenshot.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor.outcome import AuditOutcome
from auditor.pipeline import AuditOptions, audit_bundle
from auditor.report_html import _H, _PAD_B, COLORS, facility_bins, node_coverage, render_report
from tests.audit.synth import S, SynthLog, add_commitment, add_verdicts
from tests.audit.test_html import decode_png, rgb, screenshot

NODES = 8
PERIOD_S = 300
ROUNDS = 72  # 6 hours


def five_minute_facility(tmp_path: Path, *, silent: int) -> AuditOutcome:
    log = SynthLog()
    log.add_inventory(NODES)
    for r in range(ROUNDS):
        log.now += PERIOD_S * S
        log.add_challenge()
        for node in log.nodes[: NODES - silent]:
            log.append(log.usage_report(node, period_s=PERIOD_S, energy_j=30_000.0))
        if r % 12 == 11:
            log.checkpoint()
    add_verdicts(log, add_commitment(log, bucket_s=3600))
    out = audit_bundle(log.export(tmp_path / "bundle"), AuditOptions(workers=1))
    assert out.ok, [f.describe() for f in out.failures]
    return out


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> AuditOutcome:
    return five_minute_facility(tmp_path_factory.mktemp("full"), silent=0)


@pytest.fixture(scope="module")
def two_silent(tmp_path_factory: pytest.TempPathFactory) -> AuditOutcome:
    return five_minute_facility(tmp_path_factory.mktemp("silent"), silent=2)


def test_fully_covered_facility_is_100_percent_in_every_bin(full: AuditOutcome) -> None:
    bins = facility_bins(full.series["fac-a"])
    assert len(bins) == ROUNDS  # one bin per report period: the width fits the data
    assert {b.width_ns for b in bins} == {PERIOD_S * S}
    assert [round(b.coverage, 9) for b in bins] == [1.0] * ROUNDS
    assert [round(c, 9) for _, _, c in node_coverage(full.series["fac-a"])] == [1.0] * NODES
    assert "Nodes short of full coverage" not in render_report(full)


def test_two_of_eight_silent_nodes_read_75_percent(two_silent: AuditOutcome) -> None:
    series = two_silent.series["fac-a"]
    assert [round(b.coverage, 9) for b in facility_bins(series)] == [0.75] * ROUNDS
    assert {n: round(c, 9) for n, _, c in node_coverage(series) if c < 1} == {"node-6": 0.0, "node-7": 0.0}
    page = render_report(two_silent)
    table = page[page.index("Nodes short of full coverage") :]
    assert re.search(r"<td>node-6</td><td class=n>1</td><td class=n>0\.0 %</td>", table)
    assert "Coverage 75.0 % on average, 75.0 % in the worst bin" in page


def test_verdicts_findings_and_evidence_are_plain_text(two_silent: AuditOutcome) -> None:
    marks = two_silent.series["fac-a"].verdicts
    assert marks
    assert all(m.rerun == "match" for m in marks)
    finding = next(f for m in marks for f in m.findings if f.evidence)
    page = render_report(two_silent)
    visible = re.sub(r"<title>.*?</title>", "", page)  # tooltips do not count
    table = visible[visible.index("Verdicts, bucket by bucket") :]
    assert f"<code>{finding.id}</code>" in table
    assert f"evidence at log index {finding.evidence[0]}" in table
    for m in marks:
        assert m.status in table
        assert m.reason.replace("'", "&#x27;") in table or m.reason in table


def test_headline_names_the_keys(full: AuditOutcome) -> None:
    page = render_report(full)
    roles = {role for role, _, _ in full.trusted_keys}
    assert {"log", "verdict", "challenge", "lab"} <= roles
    for _, _, kid in full.trusted_keys:
        assert f"<code>{kid}</code>" in page
    assert "keys taken from the bundle itself (not pinned)" in page


def drawn_coverage(page: str, tmp_path: Path) -> list[float]:
    """Render ``page`` in headless Chromium; the height of each coverage column, as a share of
    the plot, measured in the screenshot's first coverage chart."""
    report = tmp_path / "report.html"
    report.write_text(page, encoding="utf-8")
    png = screenshot(report, tmp_path, "1400,1400")
    _, _, rows = decode_png(png.read_bytes())
    color = rgb(COLORS["coverage"])
    columns: dict[int, list[int]] = {}
    for y, row in enumerate(rows):
        for x in range(0, len(row), 3):
            if row[x : x + 3] == color:
                columns.setdefault(x // 3, []).append(y)
    assert columns, "no coverage pixels: the chart did not render"
    base = max(max(ys) for ys in columns.values())  # the plot's bottom row
    plot_h = _H - _PAD_B - 6
    return [(base + 1 - min(ys)) / plot_h for x, ys in sorted(columns.items()) if max(ys) == base]


@pytest.mark.heavy
@pytest.mark.parametrize(("which", "expected"), [("full", 1.0), ("two_silent", 0.75)])
def test_coverage_columns_drawn_in_chromium(
    which: str, expected: float, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    outcome: AuditOutcome = request.getfixturevalue(which)
    heights = drawn_coverage(render_report(outcome), tmp_path)
    assert len(heights) > 900  # the plot's full width: no bin drops out
    assert all(abs(h - expected) <= 1.5 / (_H - _PAD_B - 6) for h in heights), sorted(set(heights))[:5]
