"""Verdicts name the evaluation rules that made them (``Verdict.rules``), and the auditor reads
them: a verdict of its own rules that re-derives differently is a lie (``verdict.mismatch``); one
of other rules — a later or an earlier release, or one made before verdicts named their rules —
that re-derives the same is what these rules say too, and one that re-derives differently is
``verdict.rules``: the difference may be the rules', and only the release that made it can tell.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.evaluation import RULES
from pausewatch.v1 import types_pb2
from tests.audit.synth import SynthLog, evaluate
from tests.audit.test_fixed_load import FIXED_W, audit, fixed_load_log


def _log_verdicts(
    log: SynthLog, commitment: types_pb2.Commitment, rules: str, *, flip_first: bool = False
) -> list[types_pb2.Verdict]:
    """Every closed bucket's verdict as the evaluation makes it, naming ``rules``; ``flip_first``:
    the first one's status turned (COMPLIANT to VIOLATION), as other rules might have it."""
    size = log.log.size
    verdicts = evaluate(log, commitment)
    for k, v in enumerate(verdicts):
        v.evaluated_log_size = size
        if rules:
            v.rules = rules
        else:
            v.ClearField("rules")
        if flip_first and k == 0:
            v.status = types_pb2.VERDICT_STATUS_VIOLATION
        log.append(
            sign_envelope(PayloadType.VERDICT, v.SerializeToString(deterministic=True), [log.verdict_key])
        )
    return verdicts


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
    assert "status" in failure.message  # the difference itself is shown
    assert out.verdicts_matched == 1


def test_a_verdict_of_its_own_rules_that_rederives_differently_is_a_mismatch(tmp_path: Path) -> None:
    log, commitment = fixed_load_log(declared_w=FIXED_W, bound_w=FIXED_W)
    _log_verdicts(log, commitment, RULES, flip_first=True)
    out = audit(log, tmp_path)
    assert out.failed_checks() == ["verdict.mismatch"], out.failures
