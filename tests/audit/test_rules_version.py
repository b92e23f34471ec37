"""Verdicts name the evaluation rules that made them (``Verdict.rules``), and the auditor reads
them: a verdict of its own rules that re-derives differently is a lie (``verdict.mismatch``); one
of other rules — a later or an earlier release, or one made before verdicts named their rules —
that re-derives the same is what these rules say too, and one that re-derives differently is
``verdict.rules``: the difference may be the rules', and only the release that made it can tell
(``--allow-other-rules`` lists it as unverified instead). Naming other rules buys a verifier
nothing else: staleness is judged whatever the rules, and rules that go back are
``verdict.rules_order``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import auditor.reevaluate
import pausewatch.evaluation.verdict as verdict_module
from auditor.outcome import AuditOutcome
from auditor.pipeline import AuditOptions, audit_bundle
from auditor.verify import summary_lines
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.evaluation import RULES
from pausewatch.policy import parse_policy
from pausewatch.roots import parse_roots
from pausewatch.v1 import types_pb2
from tests.audit.synth import SynthLog, evaluate
from tests.audit.test_fixed_load import FIXED_W, audit, fixed_load_log
from tests.evaluation.late_compute import PerBucketScheduler, run_late_compute
from verifier.scheduler import _differs


def _log_verdicts(
    log: SynthLog,
    commitment: types_pb2.Commitment,
    rules: str,
    *,
    flip_first: bool = False,
    first_status: int = types_pb2.VERDICT_STATUS_VIOLATION,
) -> list[types_pb2.Verdict]:
    """Every closed bucket's verdict as the evaluation makes it, naming ``rules``; ``flip_first``:
    the first one's status set to ``first_status`` (a COMPLIANT one to VIOLATION, by default),
    as other rules might have it."""
    size = log.log.size
    verdicts = evaluate(log, commitment)
    for k, v in enumerate(verdicts):
        v.evaluated_log_size = size
        if rules:
            v.rules = rules
        else:
            v.ClearField("rules")
        if flip_first and k == 0:
            v.status = first_status  # type: ignore[assignment]  # a VerdictStatus value
        log.append(
            sign_envelope(PayloadType.VERDICT, v.SerializeToString(deterministic=True), [log.verdict_key])
        )
    return verdicts


def _audit(log: SynthLog, tmp_path: Path, *, allow: bool) -> AuditOutcome:
    """The bundle of ``log`` audited with its own trust, ``--allow-other-rules`` or not."""
    directory = log.export(tmp_path / "bundle")
    options = AuditOptions(policy=parse_policy(log.policy_text), roots=log.roots, workers=1, allow_other_rules=allow)
    return audit_bundle(directory, options)


def test_a_verdict_names_the_rules_that_made_it() -> None:
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    verdicts = evaluate(log, commitment)
    assert verdicts
    assert {v.rules for v in verdicts} == {RULES}


@pytest.mark.parametrize("rules", ["pausewatch-rules/0", ""], ids=["other", "unnamed"])
def test_a_verdict_of_other_rules_that_rederives_the_same_passes(tmp_path: Path, rules: str) -> None:
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    assert _log_verdicts(log, commitment, rules)
    out = audit(log, tmp_path)
    assert out.ok, out.failures
    assert out.verdicts_matched == 2


@pytest.mark.parametrize("rules", ["pausewatch-rules/0", ""], ids=["other", "unnamed"])
def test_a_verdict_of_other_rules_that_rederives_differently_says_so(tmp_path: Path, rules: str) -> None:
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    _log_verdicts(log, commitment, rules, flip_first=True)
    out = audit(log, tmp_path)
    assert out.failed_checks() == ["verdict.rules"], out.failures
    (failure,) = out.failures
    named = f"{rules!r}, which no release up to this one made" if rules else "unnamed evaluation rules"
    assert named in failure.message
    assert f"this auditor implements {RULES!r}" in failure.message
    assert "cannot tell a difference of rules from a false verdict" in failure.message
    assert "status" in failure.message  # the difference itself is shown
    assert out.verdicts_matched == 1
    assert out.verdicts_other_rules == 1


def test_other_rules_can_be_listed_instead_of_failed(tmp_path: Path) -> None:
    # a bundle that spans a change of rules: each release audits its own verdicts and lists
    # the others' as unverified
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    _log_verdicts(log, commitment, "pausewatch-rules/0", flip_first=True)
    out = _audit(log, tmp_path, allow=True)
    assert out.ok, out.failures
    assert [f.check for f in out.other_rules] == ["verdict.rules"]
    assert out.verdicts_other_rules == 1
    marks = [m for series in out.series.values() for m in series.verdicts]
    assert sorted(m.rerun for m in marks) == ["match", "other rules"]
    assert {m.rules for m in marks} == {"pausewatch-rules/0"}
    # the text says which verdicts went unverified, not only how many
    lines = summary_lines(out)
    assert any(line.startswith("RESULT       VERIFIED except 1 verdict(s) UNVERIFIED") for line in lines)
    assert any(line.startswith("  UNVERIFIED verdict.rules: pause-1/fac-a@") for line in lines)


def test_a_verdict_naming_rules_of_an_earlier_release_is_named_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auditor.reevaluate, "RULES_BEFORE", ("pausewatch-rules/0",))
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    _log_verdicts(log, commitment, "pausewatch-rules/0", flip_first=True)
    (failure,) = audit(log, tmp_path).failures
    assert "made under the evaluation rules 'pausewatch-rules/0';" in failure.message


@pytest.mark.parametrize("allow", [False, True], ids=["strict", "allow-other-rules"])
def test_rules_that_go_back_with_other_results_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allow: bool
) -> None:
    # what a verifier that wants its lies read as differences of rules would sign: verdicts of
    # these rules, then unnamed (or older, or interleaved) ones that say something else — never
    # accepted as merely unverified
    monkeypatch.setattr(auditor.reevaluate, "RULES_BEFORE", ("pausewatch-rules/0",))
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    _log_verdicts(log, commitment, RULES)
    log.add_round()
    _log_verdicts(log, commitment, "", flip_first=True)
    _log_verdicts(log, commitment, "pausewatch-rules/0", flip_first=True)
    out = _audit(log, tmp_path, allow=allow)
    order = [f for f in out.failures if f.check == "verdict.rules_order"]
    assert len(order) == 2, out.failures  # the two that say something else
    assert all("do not only move forward" in f.message for f in order)
    assert not out.other_rules
    assert [o.finding for o in out.observations if o.finding == "verdict.rules_order"] == ["verdict.rules_order"]


# a name no release has used yet (a later one's)
LATER = "pausewatch-rules/99"


@pytest.mark.parametrize(
    "runs",
    [
        # these rules, an unknown name with a lie, these rules again: the unknown name is no upgrade
        [(RULES, False), (LATER, True), (RULES, False)],
        # a name this release does not know is a later release's: these rules after it go back
        # (a red team's case: the lie was merely listed as unverified)
        [(LATER, True), (RULES, False)],
    ],
    ids=["interleaved", "unknown-then-these"],
)
def test_a_lie_under_an_unknown_name_out_of_order_fails(tmp_path: Path, runs: list[tuple[str, bool]]) -> None:
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    for k, (rules, lie) in enumerate(runs):
        if k == 1:
            log.add_round()
        _log_verdicts(log, commitment, rules, flip_first=lie)
    out = _audit(log, tmp_path, allow=True)
    assert "verdict.rules_order" in out.failed_checks(), out.failures
    assert not out.other_rules
    (noted,) = [o.detail for o in out.observations if o.finding == "verdict.rules_order"]
    assert LATER in noted
    assert f"{RULES!r}, which no release" not in noted  # this release made its own rules


def test_rules_that_go_back_with_the_same_results_are_only_noted(tmp_path: Path) -> None:
    # a rollback that changed nothing: every verdict re-derives the same; the disorder is noted
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    _log_verdicts(log, commitment, RULES)
    log.add_round()
    _log_verdicts(log, commitment, "")
    out = audit(log, tmp_path)
    assert "verdict.rules_order" not in out.failed_checks(), out.failures
    assert any(o.finding == "verdict.rules_order" for o in out.observations)


def test_a_violation_these_rules_find_is_never_merely_unverified(tmp_path: Path) -> None:
    # other rules said COMPLIANT where these rules find a VIOLATION (the undeclared fixed load):
    # the parties must see it, --allow-other-rules or not
    log, commitment = fixed_load_log(declared_w=0.0, bound_w=0.0)
    verdicts = _log_verdicts(
        log, commitment, "pausewatch-rules/0", flip_first=True, first_status=types_pb2.VERDICT_STATUS_COMPLIANT
    )
    assert verdicts[0].reason.startswith("violation")  # what these rules say (status flipped)
    out = _audit(log, tmp_path, allow=True)
    assert out.failed_checks() == ["verdict.rules"], out.failures
    assert not out.other_rules


def test_a_long_rules_name_is_cut_in_messages(tmp_path: Path) -> None:
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    _log_verdicts(log, commitment, "x" * 10_000, flip_first=True)
    (failure,) = audit(log, tmp_path).failures
    assert "x" * 64 + "'…" in failure.message
    assert len(failure.message) < 2000


@pytest.mark.parametrize("rules", ["", "pausewatch-rules/0", "anything"])
def test_naming_other_rules_does_not_escape_staleness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rules: str
) -> None:
    # A verifier that failed to revise (late reports put compute to date over the cap) and
    # named other rules on every verdict: each re-derives the same at the log size it read, so
    # only staleness can catch it, and it must, whatever the verdicts call their rules
    # (found by review: it escaped when staleness was judged under the auditor's rules only).
    monkeypatch.setattr(verdict_module, "RULES", rules)
    run = asyncio.run(run_late_compute(tmp_path, PerBucketScheduler, export=True))
    monkeypatch.undo()
    assert run.bundle is not None
    out = audit_bundle(
        run.bundle, AuditOptions(policy=parse_policy(run.policy), roots=parse_roots(run.roots), workers=1)
    )
    assert out.failed_checks() == ["verdict.stale"], out.failures
    assert len(out.failures) == 5


def test_an_upgrade_that_changes_nothing_revises_nothing() -> None:
    # the verifier's re-evaluation: a verdict of other rules whose result these rules repeat is
    # not a changed result (no new revision); a changed result is
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    (new, *_) = evaluate(log, commitment)
    old = types_pb2.Verdict()
    old.CopyFrom(new)
    old.rules = "pausewatch-rules/0"
    assert not _differs(old, new)
    old.status = types_pb2.VERDICT_STATUS_VIOLATION
    assert _differs(old, new)


def test_a_verdict_of_its_own_rules_that_rederives_differently_is_a_mismatch(tmp_path: Path) -> None:
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    _log_verdicts(log, commitment, RULES, flip_first=True)
    out = audit(log, tmp_path)
    assert out.failed_checks() == ["verdict.mismatch"], out.failures
