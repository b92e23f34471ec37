"""A meter's energy register bridges the time its attestor left unread (rules/17).

A meter report carries the meter's cumulative energy counter at its first and last samples
(``energy_counter_first_j``, ``energy_counter_last_j``). Between two reports of one meter key
that leave a stretch uncovered, the later's first reading less the earlier's last is what the
meter counted there. Before, the stretch counted at the highest power the meter read in the
bucket, and a load run only while the attestor skipped a report passed (a hunt of rules/16,
2026-12-07: 30 kW for 30 s over a 7.6 kW power cap, COMPLIANT)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection

import pytest

from pausewatch.evaluation import BucketRef, evaluate_bucket
from pausewatch.evaluation.folds import meters as meters_fold
from pausewatch.evaluation.verdict import Evaluator
from pausewatch.inventory import Inventory
from pausewatch.v1 import types_pb2
from sim.factories import INFERENCE, NS, T0, Fleet, commitment

COMPLIANT = types_pb2.VERDICT_STATUS_COMPLIANT
INCONCLUSIVE = types_pb2.VERDICT_STATUS_INCONCLUSIVE
VIOLATION = types_pb2.VERDICT_STATUS_VIOLATION
BUCKET_S = 900


class _Story:
    """Four nodes serving inference for 30 one-minute periods, true overhead 1.2 in a declared
    1.1-1.25 band, one intake meter whose register starts at 1 GJ. ``hidden_w`` more is drawn
    behind the intake in the minutes ``hidden``; the meter's attestor signs nothing in the
    minutes ``skipped``."""

    def __init__(
        self,
        skipped: Collection[int],
        hidden: Collection[int] = (),
        hidden_w: float = 0.0,
        *,
        register: bool = True,
        reset_after_skip: bool = False,
        unread_around_skip: bool = False,
        clock_step_at: int | None = None,
        fast_until: int | None = None,
        late_start_s: dict[int, int] | None = None,
        minutes: int = 30,
        bucket_s: int = BUCKET_S,
    ) -> None:
        self.bucket_s = bucket_s
        self.fleet = fleet = Fleet({"fac-a": 4})
        self.wire = fleet.inventory_wire("fac-a")
        self.wire.overhead.min_ratio, self.wire.overhead.max_ratio = 1.1, 1.25
        counter = 1e9
        resumed = False
        for k in range(minutes):
            t = T0 + k * 60 * NS
            for node in fleet.node_ids("fac-a", 4):
                fleet.usage(node, "fac-a", t, INFERENCE)
            power = 4 * fleet.node_power(INFERENCE) * 1.2 + (hidden_w if k in hidden else 0.0)
            first = counter
            counter += power * 60
            if k in skipped:
                continue
            if reset_after_skip and k > min(skipped, default=k) and not resumed:
                resumed = True
                counter -= first  # the register restarted from zero while nobody read it
                first = 0.0

            beside = k + 1 in skipped or k - 1 in skipped

            def registers(
                m: types_pb2.MeterReport, first: float = first, last: float = counter, beside: bool = beside
            ) -> None:
                if register and not (unread_around_skip and beside):
                    m.energy_counter_first_j, m.energy_counter_last_j = first, last

            def stepped(m: types_pb2.MeterReport, k: int = k, registers: Callable[..., None] = registers) -> None:
                registers(m)
                ahead = (clock_step_at is not None and k >= clock_step_at) or (
                    fast_until is not None and k < fast_until
                )
                if ahead:  # the meter's clock 90 s ahead
                    m.period_start_unix_ns += 90 * NS
                    m.period_end_unix_ns += 90 * NS
                if late_start_s and k in late_start_s:  # a restarted attestor's first sample
                    m.period_start_unix_ns += late_start_s[k] * NS

            fleet.meter("fac-a", t, power, pue=1.0, tweak=stepped)

    def verdict(self, bucket: int = 0, cap_w: float | None = None) -> types_pb2.Verdict:
        rules = "" if cap_w is None else f'[[rules.power_caps]]\nfacility = "fac-a"\nmax_power_w = {cap_w}'
        inputs = dataclasses.replace(
            self.fleet.inputs(commitment(["fac-a"], bucket_s=self.bucket_s, extra_rules=rules)),
            inventories={"fac-a": Inventory.from_wire(self.wire)},
        )
        start = T0 + bucket * self.bucket_s * NS
        return evaluate_bucket(inputs, BucketRef("fac-a", start, start + self.bucket_s * NS))


def _ids(v: types_pb2.Verdict) -> set[str]:
    return {f.id for f in v.findings}


def test_a_load_run_only_while_the_attestor_skips_a_report_is_counted_by_the_register() -> None:
    # 20 kW for the one minute the intake's attestor signs nothing, in the bucket's interior
    v = _Story(skipped={7}, hidden={7}, hidden_w=20_000.0).verdict()
    assert v.status != COMPLIANT
    assert "energy.unexplained" in _ids(v)


def test_a_meter_without_a_register_that_skips_a_report_proves_nothing_of_that_minute() -> None:
    """rules/19: the minute such a meter's attestor signed nothing counted at the highest power
    it read in the bucket, and 20 kW run only then was COMPLIANT (the miss the register closes
    where there is one). Nothing read that minute: INCONCLUSIVE, hidden load or not."""
    for hidden_w in (20_000.0, 0.0):
        v = _Story(skipped={7}, hidden={7}, hidden_w=hidden_w, register=False).verdict()
        assert v.status == INCONCLUSIVE, hidden_w
        unread = [f for f in v.findings if f.id == "energy.balance_unverifiable"]
        assert len(unread) == 1
        assert "left 60 s of the bucket unread" in unread[0].message
    assert _Story(set(), register=False).verdict().status == COMPLIANT


def test_a_skip_across_the_edge_of_a_meter_without_a_register_costs_both_buckets() -> None:
    story = _Story(skipped={14, 15}, register=False)
    for bucket in (0, 1):
        v = story.verdict(bucket)
        assert v.status == INCONCLUSIVE
        assert any("left 60 s of the bucket unread" in f.message for f in v.findings), bucket


@pytest.mark.parametrize(("late_s", "proven"), [(5, True), (10, True), (15, False)])
def test_a_few_seconds_unread_by_a_meter_without_a_register_are_tolerated(late_s: int, proven: bool) -> None:
    """A restarted attestor's first report begins a few seconds after the last one ended: up to
    ten seconds a bucket (``UNBOUNDED_MAX_S``) is no finding."""
    v = _Story(set(), register=False, late_start_s={7: late_s}).verdict()
    assert (v.status == COMPLIANT) is proven, [f.message for f in v.findings]


@pytest.mark.parametrize("skipped", [{7}, {6, 7, 8}])
def test_an_honest_meter_whose_attestor_skips_reports_is_compliant(skipped: set[int]) -> None:
    assert _Story(skipped).verdict().status == COMPLIANT


def test_a_stretch_across_the_edge_is_charged_to_the_side_the_load_ran_on() -> None:
    # minutes 13-15 unread (the commitment's max_gap), across the edge at 15: a load in 13-14
    # is bucket 0's
    story = _Story(skipped={13, 14, 15}, hidden={13, 14}, hidden_w=20_000.0)
    assert story.verdict(0).status != COMPLIANT
    assert "energy.unexplained" in _ids(story.verdict(0))
    honest = _Story(skipped={13, 14, 15})
    assert honest.verdict(0).status == COMPLIANT
    assert honest.verdict(1).status == COMPLIANT


def test_a_register_that_went_backwards_while_unread_proves_nothing() -> None:
    v = _Story(skipped={7}, reset_after_skip=True).verdict()
    assert v.status != COMPLIANT
    backwards = [f for f in v.findings if f.id == "plausibility.counter_backwards"]
    assert backwards, _ids(v)
    assert backwards[0].subject == "meter:fac-a-meter"


def test_register_readings_left_out_only_around_a_stretch_prove_nothing() -> None:
    """An attestor patched to leave out the register's readings from the two reports around
    the report it skips, and only there, would have the stretch read at the meter's highest
    power again: ``telemetry.invalid`` on the meter, INCONCLUSIVE. A meter whose reports never
    carry a register is not flagged so; its skip is time nothing read (rules/19)."""
    v = _Story(skipped={7}, hidden={7}, hidden_w=20_000.0, unread_around_skip=True).verdict()
    assert v.status != COMPLIANT
    invalid = [f for f in v.findings if f.id == "telemetry.invalid" and f.subject == "meter:fac-a-meter"]
    assert invalid
    assert "register readings are missing" in invalid[0].message
    registerless = _Story(skipped={7}, register=False).verdict()
    assert "telemetry.invalid" not in _ids(registerless)
    assert "energy.balance_unverifiable" in _ids(registerless)


def test_a_stretch_the_register_read_as_empty_is_no_proof_of_quiet() -> None:
    """A meter clock that steps 90 s forward leaves a 90-s "stretch" between two reports in
    which no time passed: the register reads ~0 J over it. Counted as the stretch's energy,
    the bucket read 90 s of the facility short and a hidden load filled the hole (a red team of
    rules/17). A register that counted under half of what the meter read on both sides is no
    bridge (``REGISTER_SHORT``): ``telemetry.invalid``, and the stretch is unread, at the
    meter's highest power in the highest reading (rules/18)."""
    honest = _Story(skipped=(), clock_step_at=7)
    assert honest.verdict().status != VIOLATION
    invalid = [f for f in honest.verdict().findings if f.id == "telemetry.invalid"]
    assert invalid
    assert "its clock stepped" in invalid[0].message
    hidden_j = 90 * 4 * honest.fleet.node_power(INFERENCE) * 1.2  # what the step took away
    v = _Story(skipped=(), clock_step_at=7, hidden={9, 10}, hidden_w=hidden_j / 120).verdict()
    assert v.status != COMPLIANT, _ids(v)
    assert "energy.unexplained" in _ids(v)
    assert _Story(skipped={7}).verdict().status == COMPLIANT  # a real stretch: the register read it


def test_a_meter_clock_put_right_while_its_attestor_was_down_is_no_evidence() -> None:
    """An intake clock 90 s fast, put right while its attestor was down for 2 minutes: the two
    reports' times claim a 30-s stretch over which the register counted 2.5 minutes. Counted
    in the lowest reading, an honest fleet at ~97 % of its power cap was a VIOLATION (a hunt of
    rules/17); the lowest reading now takes the register less twice the skew."""
    story = _Story(skipped={22, 23}, fast_until=22, minutes=45)  # fast since before the bucket
    power = 4 * story.fleet.node_power(INFERENCE) * 1.2
    v = story.verdict(1, cap_w=round(power / 0.97))
    assert v.status != VIOLATION, _ids(v)
    assert "power.cap_exceeded" not in _ids(v)


def test_the_report_that_closes_a_stretch_judges_the_bucket_again() -> None:
    """The report after the stretch is logged after the bucket was judged (its attestor came
    back late): the bucket's facts change when it arrives."""
    story = _Story(skipped={13, 14, 15}, hidden={13, 14}, hidden_w=20_000.0)
    inputs = dataclasses.replace(
        story.fleet.inputs(commitment(["fac-a"], bucket_s=BUCKET_S)),
        inventories={"fac-a": Inventory.from_wire(story.wire)},
    )
    meter_after = [
        r for r in inputs.reports
        if r.header.kind.name == "METER" and r.header.period_start_ns == T0 + 16 * 60 * NS
    ]  # fmt: skip
    assert len(meter_after) == 1
    late = meter_after[0]
    first = tuple(r for r in inputs.reports if r.log_index < late.log_index)
    rest = tuple(r for r in inputs.reports if r.log_index >= late.log_index)
    ev = Evaluator(dataclasses.replace(inputs, reports=first, evaluated_log_size=late.log_index))
    before = ev.facts("fac-a", T0)
    touched = ev.extend(rest, (), inputs.evaluated_log_size)
    assert ("fac-a", T0) in touched
    after = ev.facts("fac-a", T0)
    assert after is not before
    assert ev.verdict(BucketRef("fac-a", T0, T0 + BUCKET_S * NS)).status != COMPLIANT


def test_an_hour_of_a_long_bucket_reads_what_the_register_bridged_in_it() -> None:
    """A 4-hour bucket is balanced over each of its hours too. Read only where the meter read,
    an hour left out the minutes the intake's attestor skipped: 33 kW hidden for those 2
    minutes is over the hour's band but within the bucket's, and was COMPLIANT (a hunt of
    rules/17); the hour now reads the register's bridge at the most it holds (rules/18)."""
    long = {"minutes": 240, "bucket_s": 4 * 3600}
    read = _Story(skipped=(), hidden={150, 151}, hidden_w=33_000.0, **long).verdict()
    assert read.status != COMPLIANT  # the hour the meter read shows it: the control
    v = _Story(skipped={150, 151}, hidden={150, 151}, hidden_w=33_000.0, **long).verdict()
    assert v.status != COMPLIANT, _ids(v)
    assert "energy.unexplained" in _ids(v)
    assert _Story(skipped={150, 151}, **long).verdict().status == COMPLIANT


@pytest.mark.parametrize("register", [True, False])
def test_the_ratio_baseline_reads_like_with_like_where_a_report_was_skipped(register: bool) -> None:
    """The ratio baseline compares the meter's reading and the nodes' reports over the time the
    meter read: time it left unread counts in neither. Counted as nothing in the reading alone,
    an intake whose attestor skipped one report in every bucket lowered the ratio by that share,
    and a step of hidden load as large no longer showed (a hunt of rules/17; the library's
    baseline-step-cancelled-by-a-skipped-meter-report)."""

    def ratio(skipped: Collection[int]) -> float:
        story = _Story(skipped, register=register)
        inputs = dataclasses.replace(
            story.fleet.inputs(commitment(["fac-a"], bucket_s=BUCKET_S)),
            inventories={"fac-a": Inventory.from_wire(story.wire)},
        )
        (balance,) = Evaluator(inputs).facts("fac-a", T0).energy
        metered, reported = balance.baseline_pair(balance.reported_j)
        return metered / reported

    whole = ratio(())
    assert whole == pytest.approx(1.2, rel=0.01)
    assert ratio({7}) == pytest.approx(whole, rel=1e-3)  # not 14/15 of it
    assert ratio({6, 7}) == pytest.approx(whole, rel=1e-3)


def test_a_meter_clock_stepped_back_counts_the_time_it_claims_twice_once() -> None:
    """rules/19: the meter's clock 90 s ahead until minute 7, then put right with its attestor
    running: minute 7's report claims 90 s the reports before it claimed too. Summed in full,
    the bucket held 90 s of energy twice, and near the top of its band an honest fleet was an
    ``energy.unexplained`` VIOLATION (an honest-fleet hunt of rules/18). Counted once in the
    evidence, in full where the meters may have drawn more: INCONCLUSIVE, ``telemetry.invalid``
    on the meter, never VIOLATION; the same without the step is COMPLIANT."""
    v = _Story(set(), fast_until=7).verdict()
    assert v.status == INCONCLUSIVE, _ids(v)
    twice = [f for f in v.findings if f.id == "telemetry.invalid" and f.subject == "meter:fac-a-meter"]
    assert len(twice) == 1
    assert "claim 90 s of the bucket twice" in twice[0].message
    assert _Story(set()).verdict().status == COMPLIANT


@pytest.mark.parametrize(
    ("parts", "once", "twice_s"),
    [
        # no overlap: as they are
        ([((0, 10), 100.0), ((10, 20), 200.0)], [((0, 10), 100.0), ((10, 20), 200.0)], 0.0),
        # 5 s claimed twice, counted at the lower rate (10 W, not 20 W)
        (
            [((0, 10), 100.0), ((5, 15), 200.0)],
            [((0, 5), 50.0), ((5, 10), 50.0), ((10, 15), 100.0)],
            5.0,
        ),
        # one reading inside another: its time once, at the lower rate
        ([((0, 20), 400.0), ((5, 10), 25.0)], [((0, 5), 100.0), ((5, 10), 25.0), ((10, 20), 200.0)], 5.0),
    ],
)
def test_readings_count_each_instant_once_at_the_lowest_rate(
    parts: list[tuple[tuple[int, int], float]], once: list[tuple[tuple[int, int], float]], twice_s: float
) -> None:
    s = 1_000_000_000
    got, twice = meters_fold._once([((a * s, b * s), j) for (a, b), j in parts])
    assert [((a // s, b // s), round(j, 6)) for (a, b), j in got] == once
    assert twice == twice_s
