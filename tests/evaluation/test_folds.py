"""The bucket's folds one by one (pausewatch.evaluation.folds), on hand-made reports: each
fact from the reports that bear on it. The whole bucket is covered by the verdict tests."""

from __future__ import annotations

import math

import pytest

from pausewatch.commitment import Commitment, commitment_from_toml
from pausewatch.evaluation import IngestFinding, LoggedReport
from pausewatch.evaluation.bucket import BucketAccumulator
from pausewatch.evaluation.findings import INFO, WARNING, FindingId
from pausewatch.evaluation.folds.balance import disagreements
from pausewatch.evaluation.folds.compute import ComputeFold
from pausewatch.evaluation.folds.coverage import CoverageFold, tolerate
from pausewatch.evaluation.folds.integrity import IntegrityFold
from pausewatch.evaluation.folds.meters import MeterFold, MeterReading
from pausewatch.evaluation.folds.node_energy import NodeEnergyFold
from pausewatch.evaluation.folds.reading import Slice, UsageReader, UsageReading, slice_of
from pausewatch.inventory import Inventory
from pausewatch.keys import Ed25519Signer
from pausewatch.peaks import lookup_peak
from pausewatch.reports import ReportHeader, ReportKind
from pausewatch.v1 import types_pb2

NS = 1_000_000_000
T0 = 1_767_225_600 * NS
SPAN = (T0, T0 + 600 * NS)
MODEL = "NVIDIA H100 80GB HBM3"
KEYS = [Ed25519Signer.from_seed(bytes([i + 1]) * 32).public_key for i in range(3)]


def _commitment() -> Commitment:
    text = """id = "c"\nversion = 1\nlab_id = "lab"\nfacilities = ["fac"]
[window]\nstart = 2026-01-01T00:00:00Z\nend = 2026-01-02T00:00:00Z
[rules]\ncompute_cap_flop = 1e30\nallowed_workloads = ["idle", "inference"]
[reporting]\nbucket_s = 600\nmax_report_interval_s = 60\nmax_gap_s = 120\n"""
    return Commitment.from_wire(commitment_from_toml(text, "c.toml"))


def _inventory(nodes: int = 2, gpus: int = 2) -> Inventory:
    inv = types_pb2.Inventory(facility_id="fac", lab_id="lab", version=1, issued_unix_ns=T0)
    inv.overhead.min_ratio, inv.overhead.max_ratio = 1.05, 1.4
    for i in range(nodes):
        node = inv.nodes.add(node_id=f"n{i}", attestor_public_key=KEYS[i].raw)
        for j in range(gpus):
            node.accelerators.add(uuid=f"GPU-{i}-{j}", model=MODEL)
    return Inventory.from_wire(inv)


def _usage(
    index: int, node: int, start_s: int, *, busy: float = 0.0, watts: float = 70.0, **acc: float
) -> LoggedReport:
    start, end = T0 + start_s * NS, T0 + (start_s + 60) * NS
    r = types_pb2.UsageReport(
        attestor_key_id=KEYS[node].key_id,
        facility_id="fac",
        node_id=f"n{node}",
        period_start_unix_ns=start,
        period_end_unix_ns=end,
    )
    for j in range(2):
        a = r.accelerators.add(uuid=f"GPU-{node}-{j}", model=MODEL, sample_count=60)
        a.busy_fraction, a.power_mean_w, a.energy_j, a.power_limit_w = busy, watts, watts * 60, 700.0
        for name, value in acc.items():
            setattr(a, name, value)
    h = ReportHeader(
        ReportKind.USAGE,
        KEYS[node].key_id,
        "fac",
        f"n{node}",
        b"\x01" * 16,
        index,
        b"",
        start,
        end,
        b"\x02" * 32,
        end,
    )
    return LoggedReport(index, b"", h, usage=r)


def _reading(reader: UsageReader, r: LoggedReport, span: tuple[int, int] = SPAN) -> UsageReading:
    at = slice_of(r, span)
    assert at is not None
    assert r.usage is not None
    return reader.read(r, r.usage, at)


def test_integrity_merges_repeated_flags_and_lowers_a_filled_chain_gap() -> None:
    flags = IntegrityFold(SPAN)
    reader = UsageReader(_inventory())
    for k in (3, 1, 2):  # out of time order: the earliest start gives the message
        at = _reading(reader, _usage(k, 0, k * 60)).at
        flags.flag(FindingId.TELEMETRY_INVALID, WARNING, "node:n0", at, f"bad {k}")
    gap = IngestFinding(
        FindingId.CHAIN_GAP, 7, KEYS[0].key_id, "fac", "key:x", T0, T0 + NS, missing_first=4, missing_last=5
    )
    flags.add_ingest(gap, frozenset({4, 5}))
    flags.add_ingest(
        IngestFinding(FindingId.CHAIN_FORK, 8, "k", "fac", "key:y", T0 - 10 * NS, T0 - NS)
    )  # before
    lowered, merged = sorted(flags.finish(), key=lambda f: f.id)
    assert merged.id == FindingId.TELEMETRY_INVALID
    assert merged.message == "bad 1"
    assert (merged.start_ns, merged.end_ns, merged.evidence) == (T0 + 60 * NS, T0 + 240 * NS, (1, 2, 3))
    assert {q.name: q.value for q in merged.quantities} == {"occurrences": 3.0}
    assert lowered.id == FindingId.CHAIN_GAP
    assert lowered.severity == INFO
    assert lowered.message == "reports missing from the chain (seq 4…5)"


def test_coverage_measures_a_gap_at_the_bucket_start_from_the_last_report_before() -> None:
    c, inv = _commitment(), _inventory()
    reader = UsageReader(inv)
    span = (T0 + 600 * NS, T0 + 1200 * NS)  # the second bucket of the window
    fold = CoverageFold(c, span, {"n0": T0 + 500 * NS, "n1": T0 + 600 * NS})
    for k in range(11, 20):  # the bucket's first minute is silent on both nodes
        fold.add(_reading(reader, _usage(k, 0, k * 60), span))
        fold.add(_reading(reader, _usage(100 + k, 1, k * 60), span))
    coverage = fold.finish(inv, "fac")
    gaps = [f for f in coverage.findings if f.id == FindingId.CONTINUITY_GAP]
    assert [(f.subject, f.quantities[0].value) for f in gaps] == [
        ("node:n0", 160.0)
    ]  # 100 s before + 60 s in
    assert [d.full for d in coverage.devices] == [False, False, True, True]
    assert all(d.uncovered_ns == 60 * NS for d in coverage.devices)
    # min_inventory_coverage 0.5 excuses n0's gap where a meter proves n0 quiet (the caller asks
    # only when the meters balance; ``balance.proven_quiet``), and only there
    excused = tolerate(coverage.findings, coverage.devices, 0.5, reader.node_of_device, {"n0"})
    assert [f.severity for f in excused if f.id == FindingId.CONTINUITY_GAP] == [INFO]
    unproven = tolerate(coverage.findings, coverage.devices, 0.5, reader.node_of_device, set())
    assert unproven == list(coverage.findings)
    assert tolerate(coverage.findings, coverage.devices, 1.0, reader.node_of_device, {"n0"}) == list(
        coverage.findings
    )


def test_compute_counts_invalid_telemetry_as_busy_and_bounds_by_energy() -> None:
    reader = UsageReader(_inventory())
    fold = ComputeFold(IntegrityFold(SPAN))
    fold.add(_reading(reader, _usage(0, 0, 0, busy=1.0, watts=70.0, tensor_active=0.5)))
    fold.add(_reading(reader, _usage(1, 1, 0, busy=0.0, sample_count=0)))  # no samples: invalid
    peak = lookup_peak(MODEL)
    assert peak is not None
    lower, best, upper = fold.finish((), 0.0)
    by_energy = 70.0 * 60 * peak.densest_flops / (0.3 * peak.board_power_w)
    assert upper == pytest.approx(2 * by_energy + 2 * 60 * peak.densest_flops)  # invalid: busy at peak
    assert best == pytest.approx(2 * 0.5 * 60 * peak.dense_bf16_flops + 2 * 60 * peak.dense_bf16_flops * 0.4)
    assert lower == pytest.approx(2 * 0.5 * 60 * peak.least_tensor_flops * 0.5)
    assert fold.finish(None, 0.0)[2] == math.inf  # no inventory: no upper bound


def test_node_energy_flags_a_bmc_below_its_accelerators_and_drops_invalid_periods() -> None:
    reader = UsageReader(_inventory())
    flags = IntegrityFold(SPAN)
    fold = NodeEnergyFold(flags)
    low_bmc = _usage(0, 0, 0, watts=300.0)
    assert low_bmc.usage is not None
    low_bmc.usage.node.bmc_energy_j = 1000.0
    fold.add(_reading(reader, low_bmc))
    fold.add(_reading(reader, _usage(1, 1, 0, sample_count=0)))
    n0, n1 = fold.node("n0"), fold.node("n1")
    assert n0 is not None
    assert n0.terms == [1000.0]
    assert n0.cover == [(T0, T0 + 60 * NS)]
    assert n1 is not None
    assert n1.terms == []
    assert n1.cover == []
    assert fold.node("n2") is None
    assert [f.id for f in flags.finish()] == [FindingId.PLAUSIBILITY_POWER_ACTIVITY]


def _meters(watts: dict[str, float], skipped: dict[str, set[int]] | None = None) -> MeterFold:
    """Meters each reading ``watts`` for the bucket's ten minutes, but the minutes ``skipped``."""
    fold = MeterFold(_commitment(), SPAN, IntegrityFold(SPAN))
    for n, (name, w) in enumerate(watts.items()):
        for k in range(10):
            if k in (skipped or {}).get(name, set()):
                continue
            m = types_pb2.MeterReport(sample_count=60, energy_j=w * 60)
            at = Slice(100 * n + k, (T0 + k * 60 * NS, T0 + (k + 1) * 60 * NS), 1.0, 60.0, 60.0)
            fold.add(name, m, at, f"meter:{name}")
    return fold


def _measured(fold: MeterFold, name: str, sigma: float) -> MeterReading:
    return MeterReading((name,), fold.energy_between((name,), SPAN), sigma)


def test_redundant_meters_disagree_beyond_their_combined_accuracy() -> None:
    over = 1000.0 + (3 * math.sqrt(200) + 1) / 600  # W: 3σ and a joule over the bucket
    fold = _meters({"m1": 1000.0, "m2": over, "m3": 1000.0 + 40 / 600})
    a, b, c = (_measured(fold, m, 10.0) for m in ("m1", "m2", "m3"))
    assert [f.subject for f in disagreements([a, b], SPAN, fold)] == ["meter:m1"]
    assert disagreements([a, c], SPAN, fold) == []


def test_redundant_meters_are_compared_over_the_time_both_read() -> None:
    """A meter whose attestor skipped two minutes read that much less over the bucket; over the
    time both read it agrees with the other (rules/18: it was ``meter.disagreement``)."""
    fold = _meters({"m1": 1000.0, "m2": 1000.0}, {"m2": {4, 5}})
    a, b = _measured(fold, "m1", 10.0), _measured(fold, "m2", 10.0)
    assert a.energy_j - b.energy_j == pytest.approx(120_000.0)
    assert disagreements([a, b], SPAN, fold) == []
    lying = _meters({"m1": 1000.0, "m2": 990.0}, {"m2": {4, 5}})  # 1 % low where it read
    (finding,) = disagreements([_measured(lying, "m1", 10.0), _measured(lying, "m2", 10.0)], SPAN, lying)
    assert {q.name: q.value for q in finding.quantities}["both_read_share"] == pytest.approx(0.8)


def test_bucket_routes_each_report_once_and_counts_those_in_its_span() -> None:
    acc = BucketAccumulator(_commitment(), "fac", _inventory(), SPAN)
    acc.add_usage(_usage(0, 0, 0))
    acc.add_usage(_usage(1, 0, 600))  # after the bucket
    facts = acc.finish()
    assert facts.report_count == 1
    assert [w.node_id for w in facts.workloads] == ["n0"]
    with pytest.raises(ValueError, match="needs a meter report"):
        acc.add_meter(_usage(2, 0, 0))


def test_a_device_reading_holds_each_value_under_its_own_name() -> None:
    r = _usage(0, 0, 0, busy=0.25, watts=300.0, tensor_active=0.5, sm_active=0.75, power_max_w=320.0)
    assert r.usage is not None
    r.usage.accelerators[0].power_variance_w2 = 9.0
    r.usage.accelerators[0].sample_count = 59
    d = _reading(UsageReader(_inventory()), r).devices[0]
    assert (d.uuid, d.reported_model, d.declared_model, d.declared_node_id) == ("GPU-0-0", MODEL, MODEL, "n0")
    assert (d.peak, d.peak_known, d.invalid, d.sample_count) == (lookup_peak(MODEL), True, False, 59)
    assert (d.energy_j, d.power_mean_w, d.power_max_w, d.power_limit_w) == (18000.0, 300.0, 320.0, 700.0)
    assert (d.power_variance_w2, d.busy_fraction, d.sm_active, d.tensor_active) == (9.0, 0.25, 0.75, 0.5)


def test_counted_reads_a_bridged_stretch_as_read_with_its_register_count() -> None:
    """``MeterFold.counted``: a stretch wholly inside the window that a meter's register bridges
    counts as read, with the register's count, never less than its time at the lower reading
    beside it; one another meter of the measurement neither read nor bridged is read by none."""
    fold = _meters({"m1": 1000.0, "m2": 1000.0}, {"m1": {4}, "m2": {7}})
    minute = (T0 + 4 * 60 * NS, T0 + 5 * 60 * NS)
    fold.add_bridge("m1", minute, 90_000.0, 1000.0, 1000.0)  # a 1.5-kW minute nobody read
    pieces, counts = fold.counted(("m1",), SPAN)
    assert pieces == [SPAN]
    assert counts["m1"] == pytest.approx(9 * 60_000.0 + 90_000.0)
    fold.add_bridge("m2", (T0 + 7 * 60 * NS, T0 + 8 * 60 * NS), 10.0, 900.0, 1000.0)  # ~0 J: floored
    pieces, counts = fold.counted(("m2",), SPAN)
    assert counts["m2"] == pytest.approx(9 * 60_000.0 + 900.0 * 60)
    # summed feeds: m2's minute 4 and m1's minute 7 are each bridged by the one that skipped them
    pieces, counts = fold.counted(("m1", "m2"), SPAN)
    assert pieces == [SPAN]
    unbridged = _meters({"m1": 1000.0, "m2": 1000.0}, {"m1": {4}})  # m1 skipped, no register
    pieces, counts = unbridged.counted(("m1", "m2"), SPAN)
    assert pieces == [(T0, minute[0]), (minute[1], SPAN[1])]
    assert counts == {"m1": pytest.approx(540_000.0), "m2": pytest.approx(540_000.0)}


def test_counted_places_a_stretch_across_the_edge_by_the_readings_beside_it() -> None:
    """A stretch across the bucket's end: its part inside counts the register's count less the
    part outside at the mean power of the report after it (a red team of rules/18: cut from
    the ratio, a load run only in such stretches passed)."""
    fold = _meters({"m1": 1000.0}, {"m1": {8, 9}})
    stretch = (T0 + 8 * 60 * NS, T0 + 11 * 60 * NS)  # 2 minutes inside, 1 after the end
    fold.add_bridge("m1", stretch, 3 * 60_000.0 + 50_000.0, 1000.0, 1000.0)  # 50 kJ more drawn
    pieces, counts = fold.counted(("m1",), SPAN)
    assert pieces == [SPAN]
    assert counts["m1"] == pytest.approx(10 * 60_000.0 + 50_000.0)  # the excess charged inside
