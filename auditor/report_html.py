"""The audit's HTML report: one self-contained file (inline CSS and SVG, no script, nothing
fetched). A headline says what was verified and with which keys; then per facility over time:
energy (node-reported vs metered), coverage, tensor activity (the workload signal), verdict
status bands, the coverage of each node that fell short, and a table of every verdict with its
findings and evidence in plain text; then every failure by name.

Binning: the audit spreads each report over the minutes its own period covers (see
``auditor.outcome.SeriesPoint``); :func:`facility_bins` groups those minutes into at
most ``_MAX_BINS`` bins whose width is a whole multiple of the facility's usual report period,
and measures coverage in each bin against the part of it the data spans, so a facility whose
nodes all report without a gap is at 100 % in every bin.

Chart colours are fixed constants (:data:`COLORS`) so that a test can find them in a
screenshot.
"""

# ruff: noqa: E501 -- inline CSS rules and SVG elements read best whole, one per line
from __future__ import annotations

import html
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from auditor.outcome import AuditOutcome, FacilitySeries, SeriesPoint, VerdictMark
from pausewatch.errors import EnvironmentFaultError

__all__ = ["COLORS", "Bin", "facility_bins", "node_coverage", "render_report", "write_report"]

COLORS: Final = {
    "node_energy": "#2563eb",
    "meter_energy": "#f59e0b",
    "coverage": "#10b981",
    "tensor": "#8b5cf6",
    "COMPLIANT": "#16a34a",
    "VIOLATION": "#dc2626",
    "INCONCLUSIVE": "#d97706",
    "UNSPECIFIED": "#6b7280",
}
_MAX_BINS: Final = 120
_MAX_FINDINGS_SHOWN: Final = 20  # per verdict; the rest are counted
_NODE_SHORT: Final = 0.995  # nodes under this coverage are listed (start-up seconds stay quiet)
_W: Final = 1100
_H: Final = 170
_PAD_L: Final = 70
_PAD_B: Final = 24
_NS: Final = 1_000_000_000
_MINUTE: Final = 60 * _NS


@dataclass(frozen=True)
class Bin:
    """One bin of a facility's charts: ``seconds`` is the part of it the data spans."""

    start_ns: int
    width_ns: int
    seconds: float
    point: SeriesPoint
    coverage: float  # reported accelerator-time / declared, 0..1
    tensor: float  # accelerator-time-weighted tensor activity, 0..1


def write_report(outcome: AuditOutcome, path: Path) -> None:
    """Write the report next to ``path`` and rename it into place: never a half-written file."""
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        tmp.write_text(render_report(outcome), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise EnvironmentFaultError(f"{path}: cannot write the HTML report: {e.strerror}") from e


def _rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // _NS))


def render_report(outcome: AuditOutcome) -> str:
    esc = html.escape
    status = "VERIFIED" if outcome.ok else "FAILED"
    banner = "ok" if outcome.ok else "bad"
    counts = "".join(
        f"<tr><td>{esc(k.replace('_', ' '))}</td><td class=n>{v:,}</td></tr>"
        for k, v in outcome.counts.items()
    )
    failures = "".join(
        f"<tr><td><code>{esc(f.check)}</code></td><td>{esc(f.subject)}</td>"
        f"<td class=n>{'' if f.index is None else f.index}</td><td>{esc(f.message)}</td></tr>"
        for f in outcome.failures
    )
    if outcome.dropped_failures:
        failures += f"<tr><td colspan=4>… and {outcome.dropped_failures:,} more failures, not listed</td></tr>"
    observations: dict[str, int] = {}
    for o in outcome.observations:
        observations[o.finding] = observations.get(o.finding, 0) + 1
    evidence = "".join(
        f"<tr><td><code>{esc(k)}</code></td><td class=n>{v:,}</td></tr>"
        for k, v in sorted(observations.items())
    )
    sections = "".join(
        _facility_section(s)
        for _, s in sorted(outcome.series.items(), key=lambda kv: (kv[0] in ("", "*"), kv[0]))
        if s.points or s.verdicts
    )
    warn = (
        ""
        if outcome.pinned
        else "<p class=warn>Trust keys came from the bundle itself. This shows the bundle is"
        " self-consistent, not that it comes from the log you trust: rerun with --policy and --roots.</p>"
    )
    keys = "".join(
        f"<tr><td>{esc(role)}</td><td>{esc(name)}</td><td><code>{esc(kid)}</code></td></tr>"
        for role, name, kid in outcome.trusted_keys
    )
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8>
<title>pausewatch audit: {esc(outcome.origin)} — {status}</title>
<style>
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px 32px;color:#111827;background:#f9fafb}}
h1{{font-size:22px;margin:0 0 4px}} h2{{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb}}
h3{{font-size:14px;margin:14px 0 4px;color:#374151}}
.banner{{display:inline-block;padding:6px 14px;border-radius:6px;font-weight:700;color:#fff;font-size:16px}}
.ok{{background:#16a34a}} .bad{{background:#dc2626}}
.headline{{font-size:15px;max-width:1100px}}
.warn{{background:#fef3c7;border:1px solid #f59e0b;padding:8px 12px;border-radius:6px}}
table{{border-collapse:collapse;background:#fff;margin:6px 0}} td,th{{border:1px solid #e5e7eb;padding:3px 8px;text-align:left;vertical-align:top}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}}
.grid{{display:flex;gap:32px;flex-wrap:wrap}} .card{{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:8px 12px;margin:8px 0}}
.legend span{{display:inline-block;margin-right:16px}} .sw{{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin-right:4px}}
.st{{font-weight:700}} ul.f{{margin:0;padding-left:18px}}
svg text{{font:11px system-ui,sans-serif;fill:#4b5563}}
</style></head><body>
<h1>pausewatch offline audit</h1>
<p class=headline><span class="banner {banner}">{status}</span> &nbsp; {_headline(outcome)}</p>
<p>Audited in {outcome.seconds:.2f} s on {outcome.workers} worker(s), {time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}.
Trust: {esc(outcome.trust_source)}</p>{warn}
<div class=grid><div><h3>Keys the audit trusted</h3><table><tr><th>role</th><th>name</th><th>key id</th></tr>{keys or "<tr><td colspan=3>none</td></tr>"}</table></div>
<div><h3>Entries checked</h3><table>{counts}</table></div>
<div><h3>Evidence in the log (authentic, notable)</h3><table>{evidence or "<tr><td>nothing notable</td></tr>"}</table></div></div>
{f"<h2>Failures</h2><table><tr><th>check</th><th>subject</th><th>log index</th><th>what</th></tr>{failures}</table>" if failures else ""}
{sections}
</body></html>
"""


def _headline(outcome: AuditOutcome) -> str:
    esc = html.escape
    pinned = "the auditor's own pinned keys" if outcome.pinned else "keys taken from the bundle itself (not pinned)"
    witnesses = ", ".join(outcome.witnesses) or "no witness"
    rerun = outcome.verdicts_checked - outcome.verdicts_not_rerun
    text = (
        f"log <code>{esc(outcome.origin)}</code> at tree size {outcome.tree_size:,} (scope {esc(outcome.scope)}),"
        f" checked with {pinned}: {outcome.checkpoints} checkpoint(s) signed by the log key and cosigned by"
        f" {esc(witnesses)}; every entry's hash, signature and chain link; {outcome.verdicts_checked:,} signed"
        f" verdict(s), of which {rerun:,} re-derived by re-running the evaluation and"
        f" {outcome.verdicts_matched:,} matching"
    )
    if outcome.verdicts_not_rerun:
        text += f"; {outcome.verdicts_not_rerun:,} not re-run (a time slice lacks the earlier reports)"
    if outcome.verdicts_other_rules:
        text += (
            f"; {outcome.verdicts_other_rules:,} made under other evaluation rules and re-derived"
            " differently: unverified here"
        )
    if not outcome.ok:
        failed = ", ".join(outcome.failed_checks())
        text += f". <b>{len(outcome.failures) + outcome.dropped_failures:,} check(s) failed:</b> <code>{esc(failed)}</code>"
    return text + "."


def _typical_period(series: FacilitySeries) -> int:
    """The most common report period, rounded up to whole minutes (ties: the shorter)."""
    if not series.periods:
        return _MINUTE
    period = min(series.periods, key=lambda p: (-series.periods[p], p))
    return max(_MINUTE, -(-period // _MINUTE) * _MINUTE)


def facility_bins(series: FacilitySeries) -> list[Bin]:
    """The facility's minutes grouped into at most ``_MAX_BINS`` bins of a width that is a whole
    multiple of its usual report period, over the span of its reports and verdicts."""
    marks = [(v.start_ns, v.end_ns) for v in series.verdicts]
    starts = [a for a, _ in marks] + list(series.points)
    ends = [b for _, b in marks] + [t + _MINUTE for t in series.points]
    if series.extent != (0, 0):
        starts.append(series.extent[0])
        ends.append(series.extent[1])
    if not starts:
        return []
    data_lo, data_hi = min(starts), max(ends)
    if series.extent != (0, 0):
        # the minute points round the report periods out to whole minutes: measure coverage
        # against the time reports and verdicts span, not the rounding
        data_lo = min([series.extent[0], *(a for a, _ in marks)])
        data_hi = max([series.extent[1], *(b for _, b in marks)])
    lo = data_lo - data_lo % _MINUTE
    span = max(data_hi - lo, _MINUTE)
    base = _typical_period(series)
    width = base * max(1, -(-span // (base * _MAX_BINS)))
    n = -(-span // width)
    points = [SeriesPoint() for _ in range(n)]
    for t, point in series.points.items():
        points[min(n - 1, max(0, (t - lo) // width))].add(point)
    devices = series.declared_devices
    bins = []
    for i, point in enumerate(points):
        a = lo + i * width
        seconds = max(0, min(a + width, data_hi) - max(a, data_lo)) / _NS
        coverage = min(1.0, point.device_seconds / (devices * seconds)) if devices and seconds else 0.0
        tensor = point.tensor_seconds / point.device_seconds if point.device_seconds else 0.0
        bins.append(Bin(a, width, seconds, point, coverage, tensor))
    return bins


def node_coverage(series: FacilitySeries) -> list[tuple[str, int, float]]:
    """(node, declared accelerators, coverage 0..1) over the facility's report span, for every
    declared node and every reporting node the inventory does not declare (0 accelerators)."""
    lo, hi = series.extent
    span_s = (hi - lo) / _NS
    rows = []
    for node in sorted(set(series.declared_nodes) | set(series.node_seconds)):
        devices = series.declared_nodes.get(node, 0)
        seconds = series.node_seconds.get(node, 0.0)
        share = min(1.0, seconds / (devices * span_s)) if devices and span_s > 0 else 0.0
        rows.append((node, devices, share))
    return rows


def _verdicts_only_section(series: FacilitySeries) -> str:
    """A series without reports (the commitment as a whole, facility ``*``): its verdicts."""
    bins = facility_bins(series)
    lo = bins[0].start_ns if bins else 0
    width = bins[0].width_ns if bins else _MINUTE
    title = (
        "All facilities: the commitment as a whole"
        if series.facility_id in ("", "*")
        else f"Facility {html.escape(series.facility_id)} (no reports in this bundle)"
    )
    return f"""
<h2>{title}</h2>
<div class=card><h3>Verdicts</h3>{_bands(series, lo, width, len(bins))}</div>
{_verdict_table(series.verdicts)}
"""


def _facility_section(series: FacilitySeries) -> str:
    if not series.points and not series.declared_devices:
        return _verdicts_only_section(series)
    esc = html.escape
    bins = facility_bins(series)
    n = len(bins)
    lo = bins[0].start_ns if bins else 0
    width = bins[0].width_ns if bins else _MINUTE
    width_s = width / _NS
    node_kwh = [b.point.node_energy_j / 3.6e6 for b in bins]  # J -> kWh
    meter_kwh = [b.point.meter_energy_j / 3.6e6 for b in bins]
    peak = max([*node_kwh, *meter_kwh, 0.0])
    scale, unit = (1.0, "kWh") if peak >= 1 else (1000.0, "Wh")  # labels stay short
    energy = _bars(
        n,
        [
            ([v * scale for v in node_kwh], COLORS["node_energy"]),
            ([v * scale for v in meter_kwh], COLORS["meter_energy"]),
        ],
        unit,
        lo,
        width,
    )
    cov = _steps(n, [b.coverage for b in bins], COLORS["coverage"], lo=lo, width=width)
    ten = _steps(n, [b.tensor for b in bins], COLORS["tensor"], lo=lo, width=width)
    bands = _bands(series, lo, width, n)
    statuses: dict[str, int] = {}
    for v in series.verdicts:
        statuses[v.status] = statuses.get(v.status, 0) + 1
    legend_v = "".join(
        f'<span><i class=sw style="background:{COLORS.get(k, "#6b7280")}"></i>{esc(k)} x{c}</span>'
        for k, c in sorted(statuses.items())
    )
    total_node = sum(node_kwh)
    total_meter = sum(meter_kwh)
    covered = [b for b in bins if b.seconds]
    low = min((b.coverage for b in covered), default=0.0)
    mean = (
        sum(b.coverage * b.seconds for b in covered) / sum(b.seconds for b in covered) if covered else 0.0
    )
    period_s = _typical_period(series) / _NS
    return f"""
<h2>Facility {esc(series.facility_id)}</h2>
<p>{series.declared_devices} declared accelerators on {len(series.declared_nodes)} node(s); {sum(b.point.reports for b in bins):,} reports, usually every {period_s / 60:g} min;
node-reported {total_node:,.2f} kWh, metered {total_meter:,.2f} kWh; bins of {width_s / 60:g} min.
Coverage {mean * 100:.1f} % on average, {low * 100:.1f} % in the worst bin.</p>
<div class=card><h3>Energy per bin</h3><div class=legend>
<span><i class=sw style="background:{COLORS["node_energy"]}"></i>node-reported (accelerators)</span>
<span><i class=sw style="background:{COLORS["meter_energy"]}"></i>metered (facility)</span></div>{energy}</div>
<div class=card><h3>Coverage: reported accelerator-time / declared</h3>{cov}</div>
<div class=card><h3>Workload signal: tensor-pipe activity (idle &lt; 5 %, training sustains far more)</h3>{ten}</div>
<div class=card><h3>Verdicts</h3><div class=legend>{legend_v or "<span>no verdicts in this bundle</span>"}</div>{bands}</div>
{_node_table(series)}{_verdict_table(series.verdicts)}
"""


def _node_table(series: FacilitySeries) -> str:
    short = [(node, d, c) for node, d, c in node_coverage(series) if c < _NODE_SHORT]
    if not short:
        return ""
    lo, hi = series.extent
    rows = "".join(
        f"<tr><td>{html.escape(node)}</td><td class=n>{d if d else 'not declared'}</td>"
        f"<td class=n>{c * 100:.1f} %</td></tr>"
        for node, d, c in short
    )
    return (
        f"<div class=card><h3>Nodes short of full coverage: under {_NODE_SHORT * 100:g} % ({len(short)} of {len(series.declared_nodes)} declared),"
        f" {_rfc3339(lo)} to {_rfc3339(hi)}</h3>"
        f"<table><tr><th>node</th><th>declared accelerators</th><th>coverage</th></tr>{rows}</table></div>"
    )


def _verdict_table(verdicts: Sequence[VerdictMark]) -> str:
    if not verdicts:
        return ""
    esc = html.escape
    rows = []
    for v in sorted(verdicts, key=lambda m: (m.commitment_id, m.start_ns, m.revision)):
        items = []
        for f in v.findings[:_MAX_FINDINGS_SHOWN]:
            evidence = ", ".join(str(i) for i in f.evidence[:10]) + (" …" if len(f.evidence) > 10 else "")
            items.append(
                f"<li><code>{esc(f.id)}</code> ({esc(f.severity.lower())}) {esc(f.subject)}"
                f"{': ' + esc(f.message) if f.message else ''}"
                f"{' — evidence at log index ' + evidence if evidence else ''}</li>"
            )
        if len(v.findings) > _MAX_FINDINGS_SHOWN:
            items.append(f"<li>… {len(v.findings) - _MAX_FINDINGS_SHOWN} more</li>")
        rerun = v.rerun
        if v.rerun == "mismatch" and v.rederived_status:
            rerun = f"mismatch: re-run says {v.rederived_status}"
        rows.append(
            f"<tr><td>{_rfc3339(v.start_ns)} – {_rfc3339(v.end_ns)}</td><td>{esc(v.commitment_id)}</td>"
            f"<td class=n>{v.revision}</td><td class=st style=\"color:{COLORS.get(v.status, COLORS['UNSPECIFIED'])}\">{esc(v.status)}</td>"
            f"<td>{esc(rerun)}</td><td>{esc(v.reason)}</td>"
            f"<td>{'<ul class=f>' + ''.join(items) + '</ul>' if items else 'none'}</td>"
            f"<td class=n>{'' if v.index < 0 else v.index}</td></tr>"
        )
    return (
        "<div class=card><h3>Verdicts, bucket by bucket</h3><table><tr><th>bucket (UTC)</th><th>commitment</th>"
        "<th>rev.</th><th>status</th><th>re-run</th><th>reason</th><th>findings and evidence</th><th>log index</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )


def _frame(n: int, top: float, unit: str, lo: int, width: int, *, as_percent: bool = False) -> str:
    """Axes, grid lines and time labels for a chart of ``n`` bins."""
    plot_w = _W - _PAD_L - 10
    parts = [
        f'<rect x="{_PAD_L}" y="6" width="{plot_w}" height="{_H - _PAD_B - 6}" fill="#ffffff" stroke="#d1d5db"/>'
    ]
    for k in range(5):
        y = 6 + (_H - _PAD_B - 6) * k / 4
        value = top * (1 - k / 4)
        label = f"{value * 100:.0f} %" if as_percent else f"{value:,.3g} {unit}"
        parts.append(f'<line x1="{_PAD_L}" x2="{_W - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#f3f4f6"/>')
        parts.append(f'<text x="{_PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for k in range(0, n + 1, max(1, n // 6)):
        x = _PAD_L + plot_w * k / max(n, 1)
        t = time.strftime("%m-%d %H:%M", time.gmtime((lo + k * width) / _NS))
        parts.append(f'<text x="{x:.1f}" y="{_H - 6}" text-anchor="middle">{t}</text>')
    return "".join(parts)


def _svg(body: str) -> str:
    return f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'


def _bars(n: int, groups: Sequence[tuple[list[float], str]], unit: str, lo: int, width: int) -> str:
    top = max([max(v, default=0.0) for v, _ in groups] + [1e-9]) * 1.1
    plot_w = _W - _PAD_L - 10
    plot_h = _H - _PAD_B - 6
    slot = plot_w / max(n, 1)
    bar = max(1.0, slot * 0.8 / len(groups))
    body = [_frame(n, top, unit, lo, width)]
    for g, (values, color) in enumerate(groups):
        for i, v in enumerate(values):
            h = plot_h * v / top
            if h <= 0:
                continue
            x = _PAD_L + i * slot + slot * 0.1 + g * bar
            body.append(
                f'<rect x="{x:.1f}" y="{6 + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{color}"/>'
            )
    return _svg("".join(body))


def _steps(n: int, values: list[float], color: str, *, lo: int, width: int) -> str:
    """A share (0..1) per bin, drawn as one filled column per bin: each bin's value is its
    column's height, never interpolated between bins."""
    plot_w = _W - _PAD_L - 10
    plot_h = _H - _PAD_B - 6
    slot = plot_w / max(n, 1)
    body = [_frame(n, 1.0, "share", lo, width, as_percent=True)]
    for i, v in enumerate(values):
        h = plot_h * max(0.0, min(1.0, v))
        if h <= 0:
            continue
        body.append(
            f'<rect x="{_PAD_L + i * slot:.2f}" y="{6 + plot_h - h:.2f}" width="{slot:.2f}" height="{h:.2f}"'
            f' fill="{color}" shape-rendering="crispEdges"><title>{v * 100:.1f} %</title></rect>'
        )
    return _svg("".join(body))


def _bands(series: FacilitySeries, lo: int, width: int, n: int) -> str:
    plot_w = _W - _PAD_L - 10
    span = n * width
    rows: dict[str, int] = {}
    for v in series.verdicts:
        rows.setdefault(v.commitment_id, len(rows))
    height = 12 + 26 * max(1, len(rows)) + _PAD_B
    body = [
        f'<rect x="{_PAD_L}" y="6" width="{plot_w}" height="{height - _PAD_B - 6}" fill="#ffffff" stroke="#d1d5db"/>'
    ]
    for v in series.verdicts:
        row = rows[v.commitment_id]
        x0 = _PAD_L + plot_w * (v.start_ns - lo) / span
        x1 = _PAD_L + plot_w * (v.end_ns - lo) / span
        y = 12 + row * 26
        color = COLORS.get(v.status, COLORS["UNSPECIFIED"])
        title = html.escape(f"{v.commitment_id} {v.status}: {v.reason}")
        body.append(
            f'<rect x="{x0:.1f}" y="{y}" width="{max(1.0, x1 - x0 - 1):.1f}" height="20" fill="{color}">'
            f"<title>{title}</title></rect>"
        )
        if not v.matches:
            body.append(f'<text x="{x0 + 2:.1f}" y="{y + 14}" fill="#fff">re-run differs</text>')
    for name, row in rows.items():
        body.append(
            f'<text x="{_PAD_L - 6}" y="{12 + row * 26 + 14}" text-anchor="end">{html.escape(name[:10])}</text>'
        )
    for k in range(0, n + 1, max(1, n // 6)):
        x = _PAD_L + plot_w * k / max(n, 1)
        t = time.strftime("%m-%d %H:%M", time.gmtime((lo + k * width) / _NS))
        body.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">{t}</text>')
    return (
        f'<svg width="{_W}" height="{height}" viewBox="0 0 {_W} {height}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(body)
        + "</svg>"
    )
