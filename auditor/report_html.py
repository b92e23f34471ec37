"""The audit's HTML report: one self-contained file (inline CSS and SVG, no script, nothing
fetched), per facility over time: energy (node-reported vs metered), coverage, tensor
activity (the workload signal) and verdict status bands, plus every failure by name.

Chart colours are fixed constants (:data:`COLORS`) so that a test can find them in a
screenshot.
"""

# ruff: noqa: E501 -- inline CSS rules and SVG elements read best whole, one per line
from __future__ import annotations

import html
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from auditor.outcome import AuditOutcome, FacilitySeries, SeriesPoint
from pausewatch.errors import EnvironmentFaultError

__all__ = ["COLORS", "render_report", "write_report"]

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
_W: Final = 1100
_H: Final = 170
_PAD_L: Final = 70
_PAD_B: Final = 24
_NS: Final = 1_000_000_000


def write_report(outcome: AuditOutcome, path: Path) -> None:
    try:
        path.write_text(render_report(outcome), encoding="utf-8")
    except OSError as e:
        raise EnvironmentFaultError(f"{path}: cannot write the HTML report: {e.strerror}") from e


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
    observations: dict[str, int] = {}
    for o in outcome.observations:
        observations[o.finding] = observations.get(o.finding, 0) + 1
    evidence = "".join(
        f"<tr><td><code>{esc(k)}</code></td><td class=n>{v:,}</td></tr>"
        for k, v in sorted(observations.items())
    )
    sections = "".join(
        _facility_section(s) for _, s in sorted(outcome.series.items()) if s.points or s.verdicts
    )
    warn = (
        ""
        if outcome.pinned
        else "<p class=warn>Trust keys came from the bundle itself. This shows the bundle is"
        " self-consistent, not that it comes from the log you trust: rerun with --policy and --roots.</p>"
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
.warn{{background:#fef3c7;border:1px solid #f59e0b;padding:8px 12px;border-radius:6px}}
table{{border-collapse:collapse;background:#fff;margin:6px 0}} td,th{{border:1px solid #e5e7eb;padding:3px 8px;text-align:left}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}}
.grid{{display:flex;gap:32px;flex-wrap:wrap}} .card{{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:8px 12px;margin:8px 0}}
.legend span{{display:inline-block;margin-right:16px}} .sw{{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin-right:4px}}
svg text{{font:11px system-ui,sans-serif;fill:#4b5563}}
</style></head><body>
<h1>pausewatch offline audit</h1>
<p><span class="banner {banner}">{status}</span> &nbsp; log <code>{esc(outcome.origin)}</code>,
tree size {outcome.tree_size:,}, scope {esc(outcome.scope)}; {outcome.checkpoints} checkpoints verified
(witnesses: {esc(", ".join(outcome.witnesses) or "none")}); {outcome.verdicts_checked} verdicts,
{outcome.verdicts_matched} re-derived and matching. Audited in {outcome.seconds:.2f} s on {outcome.workers}
worker(s), {time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}.</p>
<p>Trust: {esc(outcome.trust_source)}</p>{warn}
<div class=grid><div><h3>Entries checked</h3><table>{counts}</table></div>
<div><h3>Evidence in the log (authentic, notable)</h3><table>{evidence or "<tr><td>nothing notable</td></tr>"}</table></div></div>
{f"<h2>Failures</h2><table><tr><th>check</th><th>subject</th><th>log index</th><th>what</th></tr>{failures}</table>" if failures else ""}
{sections}
</body></html>
"""


def _bins(series: FacilitySeries) -> tuple[int, int, list[SeriesPoint]]:
    """Aggregate minute points into at most ``_MAX_BINS`` equal bins: (start, width, points)."""
    times = sorted(series.points)
    marks = [(v.start_ns, v.end_ns) for v in series.verdicts]
    lo = min([*times, *(a for a, _ in marks)])
    hi = max([*(t + 60 * _NS for t in times), *(b for _, b in marks)])
    span = max(hi - lo, 60 * _NS)
    width = max(60 * _NS, -(-span // _MAX_BINS))
    width = -(-width // (60 * _NS)) * 60 * _NS
    n = -(-span // width)
    bins = [SeriesPoint() for _ in range(n)]
    for t in times:
        bins[min(n - 1, (t - lo) // width)].add(series.points[t])
    return lo, width, bins


def _facility_section(series: FacilitySeries) -> str:
    lo, width, bins = _bins(series)
    esc = html.escape
    n = len(bins)
    width_s = width / _NS
    node_kwh = [b.node_energy_j / 3.6e6 for b in bins]  # J -> kWh
    meter_kwh = [b.meter_energy_j / 3.6e6 for b in bins]
    peak = max([*node_kwh, *meter_kwh, 0.0])
    scale, unit = (1.0, "kWh") if peak >= 1 else (1000.0, "Wh")  # labels stay short
    devices = max(series.declared_devices, 1)
    coverage = [min(1.0, b.device_seconds / (devices * width_s)) for b in bins]
    tensor = [b.tensor_seconds / b.device_seconds if b.device_seconds else 0.0 for b in bins]
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
    cov = _area(n, coverage, COLORS["coverage"], "share", lo=lo, width=width, as_percent=True)
    ten = _area(n, tensor, COLORS["tensor"], "share", lo=lo, width=width, as_percent=True)
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
    return f"""
<h2>Facility {esc(series.facility_id)}</h2>
<p>{series.declared_devices} declared accelerators; {sum(b.reports for b in bins):,} reports;
node-reported {total_node:,.2f} kWh, metered {total_meter:,.2f} kWh; bins of {width_s / 60:g} min.</p>
<div class=card><h3>Energy per bin</h3><div class=legend>
<span><i class=sw style="background:{COLORS["node_energy"]}"></i>node-reported (accelerators)</span>
<span><i class=sw style="background:{COLORS["meter_energy"]}"></i>metered (facility)</span></div>{energy}</div>
<div class=card><h3>Coverage: reported accelerator-time / declared</h3>{cov}</div>
<div class=card><h3>Workload signal: tensor-pipe activity (idle &lt; 5 %, training sustains far more)</h3>{ten}</div>
<div class=card><h3>Verdicts</h3><div class=legend>{legend_v or "<span>no verdicts in this bundle</span>"}</div>{bands}</div>
"""


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


def _area(
    n: int, values: list[float], color: str, unit: str, *, lo: int, width: int, as_percent: bool
) -> str:
    top = 1.0 if as_percent else max([*values, 1e-9]) * 1.1
    plot_w = _W - _PAD_L - 10
    plot_h = _H - _PAD_B - 6
    slot = plot_w / max(n, 1)
    points = [(_PAD_L + (i + 0.5) * slot, 6 + plot_h * (1 - v / top)) for i, v in enumerate(values)]
    body = [_frame(n, top, unit, lo, width, as_percent=as_percent)]
    if points:
        base = 6 + plot_h
        path = f"M{points[0][0]:.1f},{base:.1f} " + " ".join(f"L{x:.1f},{y:.1f}" for x, y in points)
        path += f" L{points[-1][0]:.1f},{base:.1f} Z"
        body.append(f'<path d="{path}" fill="{color}" fill-opacity="1" stroke="{color}"/>')
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
