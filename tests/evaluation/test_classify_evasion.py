"""The workload classifier against the evasions of the threat model and their honest twins.

Every trace here is a synthetic nvidia-smi log (``tests.evaluation.synthetic_traces``) read by the
command's own path: ``sim.traces`` → one sample a second → the attestor's ``Aggregator`` →
``signals_from_usage`` → ``classify_node_history``. One test per tactic, named for it.

What each must come out as: training evasions are never ``idle`` or ``inference`` (no proof of
compliance) and, where several GPUs move in lockstep, ``training`` once the context shows its
structure; honest twins are never ``training``; batched generation and burn-in are never proof.
"""

from __future__ import annotations

import pytest

from pausewatch.evaluation.workload import (
    HISTORY_S,
    JOB_CARRY_S,
    PROOF_MAX_SCORE,
    TRAINING_EVIDENCE,
    PeriodSignals,
    classify_node_history,
)
from sim.classify import classify_samples, gpu_trace_samples, period_signals
from sim.traces import parse_gpu_csv
from tests.evaluation import synthetic_traces as syn

PROOF = {"idle", "inference"}
MINUTES = 15


def _periods(trace: syn.Trace, model: str = "H100 SXM") -> list[PeriodSignals]:
    gpus = len(trace.power[0])
    parsed = parse_gpu_csv(syn.render(trace), "synthetic.csv", gpus)
    return period_signals(gpu_trace_samples(parsed, f"NVIDIA {model}"))


def classes(trace: syn.Trace, model: str = "H100 SXM") -> list[str]:
    gpus = len(trace.power[0])
    parsed = parse_gpu_csv(syn.render(trace), "synthetic.csv", gpus)
    return [c.result.label for c in classify_samples(gpu_trace_samples(parsed, f"NVIDIA {model}"))]


def sparse_classes(trace: syn.Trace, every: int) -> list[str]:
    """Classes of ``trace`` logged every ``every`` seconds (nvidia-smi -l EVERY)."""
    gpus = len(trace.power[0])
    text = syn.render(syn.subsample(trace, every), interval_s=float(every))
    parsed = parse_gpu_csv(text, "synthetic.csv", gpus)
    return [c.result.label for c in classify_samples(gpu_trace_samples(parsed, "NVIDIA H100 SXM"))]


def _assert_training_evasion(labels: list[str], *, caught_from: int) -> None:
    assert not PROOF & set(labels), labels
    assert all(x == "training" for x in labels[caught_from:]), labels


# ---- training and its evasions -----------------------------------------------------------------


def test_training_with_checkpoint_stalls_is_training_after_its_second_stall() -> None:
    # 8×H100 at ~80 % of the limit, a 17-s checkpoint stall every 270 s (the real ckpt1000 run's
    # shape): one stall is no signature (a lockstep server's dip looks the same), two are
    _assert_training_evasion(classes(syn.training(MINUTES * 60, 8)), caught_from=9)


def test_training_alternating_30s_compute_25s_stall_is_training_once_two_stalls_resumed() -> None:
    trace = syn.training(MINUTES * 60, 8, stall_every_s=55, stall_s=25, stall_level=0.18, stall_busy=0.0)
    _assert_training_evasion(classes(trace), caught_from=4)


@pytest.mark.parametrize("stall_every_s", [270.0, 55.0])
def test_filler_load_in_checkpoint_pauses_never_earns_proof(stall_every_s: float) -> None:
    # The stalls are filled with synthetic load: power is flat. What is left is sustained,
    # lockstep compute, which batched generation also shows: uncertain, never proof.
    labels = classes(syn.training(MINUTES * 60, 8, stall_every_s=stall_every_s, stall_s=25, filler=0.8))
    assert not PROOF & set(labels), labels


@pytest.mark.parametrize("stall_s", [40, 45, 50])
def test_training_that_computes_a_sixth_to_a_third_of_every_minute_is_training(stall_s: int) -> None:
    # every period a stall that computed under EPISODE_SHARE of it: the episode of stalls still
    # counts one event for each beyond the two that end it (a lull has no such run)
    trace = syn.training(MINUTES * 60, 8, stall_every_s=60, stall_s=stall_s, stall_level=0.18, stall_busy=0.0)
    _assert_training_evasion(classes(trace), caught_from=5)


@pytest.mark.parametrize("trained", [[0, 1], [0, 1, 2, 3], [2, 5, 7]])
def test_training_on_k_of_n_gpus_is_not_diluted_by_the_idle_ones(trained: list[int]) -> None:
    trace = syn.training(MINUTES * 60, 8, trained=trained, stall_every_s=55, stall_s=25, stall_level=0.18)
    _assert_training_evasion(classes(trace), caught_from=4)


def test_power_capped_training_is_judged_against_the_reported_limit() -> None:
    # The lab lowers the limit to 300 W (43 % of the board): compute sits at the cap, stalls below it.
    trace = syn.training(MINUTES * 60, 8, limit_w=300.0, stall_every_s=55, stall_s=25, stall_level=0.15)
    _assert_training_evasion(classes(trace), caught_from=4)
    capped = syn.training(MINUTES * 60, 8, limit_w=300.0)
    _assert_training_evasion(classes(capped), caught_from=9)


@pytest.mark.parametrize("model", ["T4", "A30", "A10"])
def test_training_reported_as_a_smaller_model_is_judged_as_an_unknown_one(model: str) -> None:
    # A red team, 2026-12-06: 8×H100 training (~560 W at compute) reported as a 70-W T4 (or a
    # 165-W A30, a 150-W A10). Against that board every ratio read far above compute and no
    # stall below it: never training. Drawing over 125 % of the model's board, the device is
    # not that model: judged against its reported limit (700 W, as NVML gives it).
    trace = syn.training(MINUTES * 60, 8, limit_w=700.0)
    _assert_training_evasion(classes(trace, model=model), caught_from=9)


@pytest.mark.parametrize("model", ["T4", "A30", "A10"])
def test_training_reported_as_a_smaller_model_without_a_limit_is_never_proof(model: str) -> None:
    # The same lie with the limit left out: no board and no limit to judge its power against,
    # so it is judged by utilisation alone: uncertain, never proof. The verdict is INCONCLUSIVE
    # (plausibility.power_activity and compute.unknown_model are WARNINGs), not the VIOLATION a
    # reported limit gives. Against any assumed board, honest parts read wrong: at the table's
    # largest (1,400 W) a 400-W part's lockstep serving read as training's collective waits.
    labels = classes(syn.training(MINUTES * 60, 8), model=model)
    assert not PROOF & set(labels), labels


@pytest.mark.parametrize("model", ["Future Accelerator X", "Acme T1"])
def test_honest_lockstep_serving_on_a_part_the_table_lacks_is_never_training(model: str) -> None:
    # A red team, 2026-12-06: tensor-parallel batched generation on a 400-W part the table
    # lacked (the H20, in it now from its reported figures), logged without a limit column. Judged against the table's largest board (1,400 W)
    # its ~380 W at full utilisation read as training's collective waits, with the batches'
    # rhythm: training in 21 of 25 periods, VIOLATION in every bucket. Without a board or a
    # limit its power is no evidence: judged by utilisation alone, and never proof either.
    serving = syn.batched_generation(25 * 60, 8, board_w=400.0, lockstep=True)
    labels = classes(serving, model=model)
    assert "training" not in labels, labels
    assert not PROOF & set(labels), labels


def test_a_board_drawing_within_its_rating_keeps_its_proof() -> None:
    # The honest twin: request-driven serving on A100 SXMs (400-W boards), at most 260 W,
    # keeps its proof (the A30, at 165 W, is overdrawn by the same load: judged as unknown, it
    # is still never training)
    serving = syn.request_inference(MINUTES * 60, 8, board_w=400.0)
    for model in ("A100 SXM", "A30"):
        labels = classes(serving, model=model)
        assert "training" not in labels, (model, labels)
    assert classes(serving, model="A100 SXM").count("inference") >= MINUTES // 2


@pytest.mark.parametrize("offset_s", [0, 15, 40])
def test_duty_cycle_inside_a_report_period_is_training(offset_s: int) -> None:
    # Train 30 s, pause 30 s (memory kept), every GPU together, at any phase against the periods.
    _assert_training_evasion(classes(syn.duty_cycle(MINUTES * 60, 8, offset_s=offset_s)), caught_from=4)


def test_duty_cycle_of_whole_periods_is_training() -> None:
    _assert_training_evasion(classes(syn.duty_cycle(MINUTES * 60, 8, on_s=60, off_s=60)), caught_from=4)


@pytest.mark.parametrize(("on_s", "off_s"), [(30, 30), (20, 40), (10, 50), (40, 20)])
def test_single_gpu_duty_cycle_is_never_proof(on_s: int, off_s: int) -> None:
    # One GPU has no lockstep to show: it cannot reach the violation threshold, but it must not
    # pass for request-driven inference either.
    labels = classes(syn.duty_cycle(MINUTES * 60, 1, on_s=on_s, off_s=off_s))
    assert not PROOF & set(labels), labels
    assert "training" not in labels


def test_a_pause_of_a_training_job_keeps_its_class() -> None:
    # Ten minutes of training, then the job sits paused with its memory resident: not idle.
    trace = syn.concat(
        syn.training(600, 8, stall_every_s=55, stall_s=25, stall_level=0.18),
        syn.training(180, 8, stall_every_s=10.0, stall_s=10.0, stall_level=0.1, stall_busy=0.0),
    )
    labels = classes(trace)
    assert labels[-3:] == ["training"] * 3, labels


def test_training_that_checkpoints_every_half_hour_is_training_from_its_second_checkpoint() -> None:
    # One stall in any 10-minute context: the signature needs two events (one dip of a lockstep
    # server resumed at its level looks like one stall), and the second is the same job's next
    # checkpoint 30 min later (its footprint resident throughout); the job carry then holds the
    # class between checkpoints. Before it: uncertain, never proof.
    labels = classes(syn.training(75 * 60, 8, stall_every_s=1800.0, stall_s=40.0))
    first = labels.index("training")
    assert first <= 61, labels
    assert set(labels[:first]) == {"uncertain"}, labels
    assert all(x == "training" for x in labels[first:]), labels


def test_a_lockstep_job_resumed_from_one_dip_is_not_training_from_two_it_is() -> None:
    # The same flat lockstep job with its footprint resident: one dip resumed at its level (a
    # server's lull in requests) is not training; a second within the context is.
    one = classes(syn.training(20 * 60, 8, stall_every_s=900.0, stall_s=25.0))
    assert "training" not in one, one
    assert not PROOF & set(one), one
    two = classes(syn.training(20 * 60, 8, stall_every_s=300.0, stall_s=25.0))
    assert "training" in two, two


def test_the_job_carry_ends_when_the_job_does() -> None:
    # Training, then the same node serves with another footprint: the carry stops at once.
    trace = syn.concat(
        syn.training(900, 8, stall_every_s=55, stall_s=25, stall_level=0.18),
        syn.batched_generation(900, 8, lockstep=True, memory_mib=60_000.0),
    )
    labels = classes(trace)
    assert labels[:15].count("training") >= 11, labels
    assert "training" not in labels[16:], labels


def test_the_job_carry_expires() -> None:
    # Flat lockstep compute with the job's footprint long after its last stall: evidence fades
    # after JOB_CARRY_S (a server that once looked like training is not training forever).
    carry_min = round(JOB_CARRY_S / 60)
    trace = syn.concat(
        syn.training(600, 8, stall_every_s=55, stall_s=25, stall_level=0.18),
        syn.training((carry_min + 20) * 60, 8, stall_every_s=None),
    )
    labels = classes(trace)
    assert labels[-25] == "training", labels  # carried: the stalls left the context long ago
    assert set(labels[-5:]) == {"uncertain"}, labels


@pytest.mark.parametrize("every", [5, 10])
def test_a_duty_cycle_logged_sparsely_is_never_proof(every: int) -> None:
    # Six or twelve samples a minute cannot tell on/off at one level from requests: no proof.
    for gpus in (1, 8):
        labels = sparse_classes(syn.duty_cycle(1200, gpus), every)
        assert not PROOF & set(labels), (gpus, labels)


# ---- honest twins ------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "seed"), [(0.03, 3), (0.15, 0), (0.5, 2), (1.5, 4)])
def test_tensor_parallel_inference_is_never_training(rate: float, seed: int) -> None:
    # Lockstep GPUs, resident KV cache, load following Poisson requests.
    labels = classes(syn.tp_inference(MINUTES * 60, 8, rate_per_s=rate, seed=seed))
    assert "training" not in labels, labels


@pytest.mark.parametrize(("every", "seed", "rate"), [(3, 3, 0.05), (4, 2, 0.15), (4, 5, 0.15), (10, 2, 0.05)])
def test_tensor_parallel_inference_logged_sparsely_is_never_training(
    every: int, seed: int, rate: float
) -> None:
    # Sampled every 3-10 s, prefill spikes and quiet gaps look like stalls: before the shape
    # rules needed 25 samples a period, each of these was training for tens of minutes.
    labels = sparse_classes(syn.tp_inference(3600, 8, seed=seed, rate_per_s=rate), every)
    assert "training" not in labels, labels


def test_low_rate_tensor_parallel_inference_is_never_training() -> None:
    # A burst whose one-second prefill peak sets the period's max is no compute level a job
    # resumes at (the two-level fit's upper level sits well below it).
    labels = classes(syn.tp_inference(900, 8, seed=4, rate_per_s=0.05))
    assert "training" not in labels, labels


@pytest.mark.parametrize(("gpus", "lockstep"), [(1, False), (8, False), (8, True)])
def test_batched_generation_at_full_utilisation_is_neither_proof_nor_training(
    gpus: int, lockstep: bool
) -> None:
    labels = classes(syn.batched_generation(MINUTES * 60, gpus, lockstep=lockstep))
    assert set(labels) <= {"uncertain", "other"}, labels


def test_burn_in_is_neither_proof_nor_training() -> None:
    labels = classes(syn.burn_in(MINUTES * 60, 8))
    assert set(labels) <= {"uncertain", "other"}, labels


def test_serving_that_stops_is_not_a_checkpoint_stall() -> None:
    # A saturated tensor-parallel server whose load ends: power falls and stays down.
    labels = classes(syn.serving_runs(8, [(300, 0.8), (300, 0.12)], gap_s=0))
    assert "training" not in labels, labels


@pytest.mark.xfail(
    strict=True,
    reason="known blind spot (docs/classify.md): a saturated lockstep server "
    "paused for seconds between benchmark runs at the same level looks like checkpoint stalls",
)
def test_benchmark_runs_at_one_level_with_short_gaps() -> None:
    labels = classes(syn.serving_runs(8, [(90, 0.8)] * 8))
    assert "training" not in labels, labels


def test_request_driven_inference_is_inference_evidence() -> None:
    labels = classes(syn.request_inference(MINUTES * 60, 8))
    assert "training" not in labels
    assert labels.count("inference") >= MINUTES // 2, labels


def test_idle_node_is_idle() -> None:
    assert set(classes(syn.idle(MINUTES * 60, 8))) == {"idle"}


# ---- the seam with the evaluation ---------------------------------------------------------------


def test_the_class_of_a_period_depends_only_on_its_causal_history() -> None:
    # training with stalls, then flat (carried), then the carry expiring, then serving
    carry_min = round(JOB_CARRY_S / 60)
    trace = syn.concat(
        syn.idle(300, 8),
        syn.training(900, 8, stall_every_s=55, stall_s=25, stall_level=0.18),
        syn.training((carry_min + 10) * 60, 8, stall_every_s=None),
        syn.tp_inference(600, 8),
    )
    periods = _periods(trace)
    full = classify_node_history(periods)
    history_ns = round(HISTORY_S * 1e9)
    for k, p in enumerate(periods):
        # never on later periods: the history up to p gives p the same class
        assert classify_node_history(periods[: k + 1])[-1] == full[k]
        # never on periods that ended HISTORY_S or more before p ended
        window = [q for q in periods[: k + 1] if q.end_ns > p.end_ns - history_ns]
        assert classify_node_history(window)[-1] == full[k]
    assert {c.label for c in full} >= {"idle", "training", "uncertain"}
    assert any("going on" in c.reason for c in full)  # the carry was exercised
    assert classify_node_history(periods) == full  # deterministic


def test_scores_agree_with_labels() -> None:
    trace = syn.concat(
        syn.idle(120, 8), syn.training(600, 8, stall_every_s=55, stall_s=25), syn.burn_in(300, 8)
    )
    for c in classify_node_history(_periods(trace)):
        if c.label == "training":
            assert c.training_score >= TRAINING_EVIDENCE
        elif c.label in PROOF:
            assert c.training_score <= PROOF_MAX_SCORE
        else:
            assert PROOF_MAX_SCORE < c.training_score < TRAINING_EVIDENCE


def _bursts_beside_serving(seconds: int, gpus: int, on_s: int, every_s: int, seed: int = 3) -> syn.Trace:
    """Independent request serving on every GPU, and all of them computing together at 90 % of
    the limit for ``on_s`` of every ``every_s`` seconds (one job's steps beside the serving)."""
    t = syn.request_inference(seconds, gpus, seed=seed)
    for s in range(seconds):
        if s % every_s < on_s:
            for g in range(gpus):
                t.power[s][g] = 700.0 * 0.9
                t.util[s][g] = 100.0
    return t


@pytest.mark.parametrize(("on_s", "every_s"), [(4, 60), (6, 60), (8, 60)])
def test_a_jobs_bursts_beside_serving_are_never_inference(on_s: int, every_s: int) -> None:
    # rules/6 (docs/classify.md item 12): 8 GPUs training in lockstep 10 s a minute beside
    # serving read light and request-driven, inference (a red team, 2026-12-06). The bursts move
    # together: no proof of requests once a second burst is in the context. Never training either.
    labels = classes(_bursts_beside_serving(1800, 8, on_s, every_s))
    first = every_s // 60 + 1  # the period of the second burst
    assert "inference" not in labels[first:], labels
    assert "training" not in labels, labels


def test_independent_serving_keeps_its_proof_beside_the_burst_rule() -> None:
    # the honest twin: independent replicas, their bursts correlated only by chance
    labels = classes(syn.request_inference(1800, 8, seed=3))
    assert labels.count("inference") >= len(labels) - 2, labels
