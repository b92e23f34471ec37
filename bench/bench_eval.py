"""Evaluation cost per report: a 10,000-node fleet (8 accelerators each, 60-s periods).

A day of such a fleet is 14.4 million usage reports. The bench evaluates the fleet over two
spans (3 and 6 periods: 30,000 and 60,000 reports, plus one facility meter) — every
verdict of every closed bucket, compute to date, energy balance, classifier — and reports
seconds per million reports for each span (wall and process CPU time). A full day is not
evaluated: the two spans are a representative slice, and ``day_estimate_s`` extrapolates the
slower span's rate to 14.4 M reports — valid because the cost is linear, which
``linearity_ratio_6_vs_3`` (rate of the 6-period span / rate of the 3-period span, ≈ 1) shows. Signatures are ingest's cost (see
bench_ingest); reports here are built as the verified ``LoggedReport`` values the evaluation
reads. The reference is the Ed25519 verify rate measured in the same run.
"""

from __future__ import annotations

import time

from bench.bench_ed25519 import ed25519_verify_rate
from pausewatch.commitment import Commitment, commitment_from_toml
from pausewatch.evaluation import EvaluationInput, Evaluator, LoggedReport
from pausewatch.inventory import Inventory
from pausewatch.keys import Ed25519Signer
from pausewatch.reports import ReportHeader, ReportKind
from pausewatch.v1 import types_pb2

NS = 1_000_000_000
T0 = 1_767_225_600 * NS
NODES = 10_000
GPUS = 8
PERIOD_NS = 60 * NS


def _fleet(nodes: int) -> tuple[Inventory, list[types_pb2.UsageReport], list[str]]:
    inv = types_pb2.Inventory(facility_id="fac", lab_id="lab", version=1, issued_unix_ns=T0)
    inv.overhead.min_ratio, inv.overhead.max_ratio = 1.05, 1.4
    templates, keys = [], []
    for i in range(nodes):
        key = Ed25519Signer.from_seed(i.to_bytes(32, "big")).public_key
        node = inv.nodes.add(node_id=f"n{i:05d}", attestor_public_key=key.raw)
        r = types_pb2.UsageReport(
            attestor_key_id=key.key_id,
            facility_id="fac",
            node_id=f"n{i:05d}",
            period_start_unix_ns=T0,
            period_end_unix_ns=T0 + PERIOD_NS,
        )
        busy = 0.45 if i % 2 else 0.0
        for j in range(GPUS):
            uuid = f"GPU-{i:05d}-{j}"
            node.accelerators.add(uuid=uuid, model="NVIDIA H100 80GB HBM3")
            a = r.accelerators.add(uuid=uuid, model="NVIDIA H100 80GB HBM3", sample_count=60)
            power = 250.0 if busy else 70.0
            a.energy_j, a.power_mean_w, a.power_min_w, a.power_max_w = (
                power * 60,
                power,
                power * 0.4,
                power + 20,
            )
            a.power_limit_w, a.power_variance_w2, a.busy_fraction, a.tensor_active = (
                700.0,
                900.0,
                busy,
                busy / 3,
            )
            a.memory_used_bytes, a.memory_total_bytes = 40 << 30, 80 << 30
        r.node.bmc_energy_j = sum(a.energy_j for a in r.accelerators) + 800 * 60
        templates.append(r)
        keys.append(key.key_id)
    meter_key = Ed25519Signer.from_seed(b"m" * 32).public_key
    inv.meters.add(meter_id="intake", public_key=meter_key.raw, scope=types_pb2.METER_SCOPE_FACILITY)
    keys.append(meter_key.key_id)
    return Inventory.from_wire(inv), templates, keys


def _commitment(hours: int) -> Commitment:
    text = f"""id = "bench"\nversion = 1\nlab_id = "lab"\nfacilities = ["fac"]
[window]\nstart = 2026-01-01T00:00:00Z\nend = 2026-01-0{1 + hours // 24}T{hours % 24:02d}:00:00Z
[rules]\ncompute_cap_flop = 1e30\nallowed_workloads = ["idle", "inference"]
[reporting]\nbucket_s = 180\n"""
    return Commitment.from_wire(commitment_from_toml(text, "bench.toml"))


def _reports(templates: list[types_pb2.UsageReport], keys: list[str], periods: int) -> list[LoggedReport]:
    out: list[LoggedReport] = []
    boot, nonce = b"\x01" * 16, b"\x02" * 32
    total_w = sum(t.node.bmc_energy_j for t in templates) / 60 * 1.2
    meter = types_pb2.MeterReport(energy_j=total_w * 60, sample_count=60)
    for k in range(periods):
        start = T0 + k * PERIOD_NS
        for t, key in zip(templates, keys, strict=False):
            h = ReportHeader(
                ReportKind.USAGE,
                key,
                "fac",
                t.node_id,
                boot,
                k,
                b"" if k == 0 else b"\x00" * 32,
                start,
                start + PERIOD_NS,
                nonce,
                start + PERIOD_NS,
            )
            out.append(LoggedReport(len(out), b"", h, usage=t))
        h = ReportHeader(
            ReportKind.METER,
            keys[-1],
            "fac",
            "intake",
            boot,
            k,
            b"" if k == 0 else b"\x00" * 32,
            start,
            start + PERIOD_NS,
            nonce,
            start + PERIOD_NS,
        )
        out.append(LoggedReport(len(out), b"", h, meter=meter))
    return out


def _evaluate(inv: Inventory, reports: list[LoggedReport], periods: int) -> tuple[float, float, int]:
    c = _commitment(24)
    inputs = EvaluationInput(c, {"fac": inv}, reports, (), len(reports))
    started, cpu = time.perf_counter(), time.process_time()
    verdicts = Evaluator(inputs).verdicts(T0 + periods * PERIOD_NS)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    # every rule runs on every bucket; the first bucket, with no history before it, may hold a
    # node's start-up period that nothing proves (a short bucket excuses none), the rest are proven
    first = min(v.bucket_start_unix_ns for v in verdicts)
    for v in verdicts:
        if v.bucket_start_unix_ns == first and v.status == types_pb2.VERDICT_STATUS_INCONCLUSIVE:
            assert {f.id for f in v.findings if f.severity >= types_pb2.SEVERITY_WARNING} == {
                "workload.low_confidence"
            }, v.reason
        else:
            assert v.status == types_pb2.VERDICT_STATUS_COMPLIANT, v.reason
    return elapsed, cpu, len(verdicts)


def run(quick: bool = False) -> dict[str, object]:
    nodes = 50 if quick else NODES
    inv, templates, keys = _fleet(nodes)
    figures: dict[str, object] = {"nodes": nodes, "accelerators_per_node": GPUS, "period_s": 60}
    per_million = []
    for periods in (3, 6):
        reports = _reports(templates, keys, periods)
        seconds, cpu, verdicts = _evaluate(inv, reports, periods)
        rate = seconds / (len(reports) / 1e6)
        per_million.append(rate)
        figures[f"span_{periods}_periods"] = {
            "reports": len(reports),
            "verdicts": verdicts,
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "seconds_per_million_reports": round(rate, 2),
            "cpu_seconds_per_million_reports": round(cpu / (len(reports) / 1e6), 2),
            "reports_per_s": round(len(reports) / seconds),
        }
        del reports
    figures["seconds_per_million_reports"] = round(max(per_million), 2)
    figures["reports_per_s"] = round(1e6 / max(per_million))
    figures["extrapolated"] = "a day = 14.4 M reports; timed on the two spans above, scaled linearly"
    figures["linearity_ratio_6_vs_3"] = round(per_million[1] / per_million[0], 3)
    figures["day_estimate_s"] = round(max(per_million) * nodes * 1440 / 1e6, 1)
    figures["reference_ed25519_verifies_per_s"] = round(ed25519_verify_rate(0.2 if quick else 1.0))
    return figures
