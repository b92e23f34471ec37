"""Verdict revisions and staleness, offline: hand-made bundles with revision defects, and a
bundle exported from a verifier whose scheduler failed to revise (late reports that put
compute to date over the cap)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.outcome import AuditOutcome
from auditor.pipeline import AuditOptions, audit_bundle
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.policy import parse_policy
from pausewatch.roots import parse_roots
from pausewatch.v1 import types_pb2
from tests.audit.synth import SynthLog, add_commitment, evaluate, small_log
from tests.evaluation.late_compute import PerBucketScheduler, run_late_compute
from verifier.scheduler import EvaluationScheduler


def _audit(directory: Path, log: SynthLog) -> AuditOutcome:
    return audit_bundle(
        directory, AuditOptions(policy=parse_policy(log.policy_text), roots=log.roots, workers=1)
    )


def _append(log: SynthLog, v: types_pb2.Verdict, revision: int, supersedes: bytes = b"") -> bytes:
    w = types_pb2.Verdict()
    w.CopyFrom(v)
    w.revision, w.supersedes = revision, supersedes
    raw = sign_envelope(PayloadType.VERDICT, w.SerializeToString(deterministic=True), [log.verdict_key])
    log.append(raw)
    return raw


def _two_buckets() -> tuple[SynthLog, list[types_pb2.Verdict]]:
    log = small_log(rounds=21, nodes=2)  # buckets 0 and 1 closed
    commitment = add_commitment(log)
    verdicts = evaluate(log, commitment)
    assert len(verdicts) == 2
    return log, verdicts


def _sha(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def _honest(log: SynthLog, vs: list[types_pb2.Verdict]) -> None:
    a0 = _append(log, vs[0], 0)
    _append(log, vs[1], 0)
    _append(log, vs[0], 1, _sha(a0))  # a re-evaluation of bucket 0 at the same inputs


def _gap(log: SynthLog, vs: list[types_pb2.Verdict]) -> None:
    a0 = _append(log, vs[0], 0)
    _append(log, vs[0], 2, _sha(a0))


def _repeat(log: SynthLog, vs: list[types_pb2.Verdict]) -> None:
    _append(log, vs[0], 0)
    _append(log, vs[0], 0)


def _wrong_supersedes(log: SynthLog, vs: list[types_pb2.Verdict]) -> None:
    _append(log, vs[0], 0)
    b0 = _append(log, vs[1], 0)
    _append(log, vs[0], 1, _sha(b0))  # names the other bucket's verdict


def _revision_zero_supersedes(log: SynthLog, vs: list[types_pb2.Verdict]) -> None:
    b0 = _append(log, vs[1], 0)
    _append(log, vs[0], 0, _sha(b0))


def _no_revision_zero(log: SynthLog, vs: list[types_pb2.Verdict]) -> None:
    b0 = _append(log, vs[1], 0)
    _append(log, vs[0], 1, _sha(b0))


def test_honest_revisions_pass(tmp_path: Path) -> None:
    log, vs = _two_buckets()
    _honest(log, vs)
    out = _audit(log.export(tmp_path / "b"), log)
    assert out.ok, out.failures
    assert out.verdicts_matched == 3


@pytest.mark.parametrize(
    "build",
    [_gap, _repeat, _wrong_supersedes, _revision_zero_supersedes, _no_revision_zero],
    ids=lambda f: f.__name__.strip("_"),
)
def test_revision_defects_are_named(
    tmp_path: Path, build: Callable[[SynthLog, list[types_pb2.Verdict]], None]
) -> None:
    log, vs = _two_buckets()
    build(log, vs)
    out = _audit(log.export(tmp_path / "b"), log)
    assert out.failed_checks() == ["verdict.revision"], out.failures
    assert all(f.subject.endswith(f"@{vs[0].bucket_start_unix_ns}") for f in out.failures)


def _pinned(policy: bytes, roots: bytes) -> AuditOptions:
    return AuditOptions(policy=parse_policy(policy), roots=parse_roots(roots), workers=1)


def test_a_verifier_that_failed_to_revise_is_stale(tmp_path: Path) -> None:
    """Late reports in fac-a's first bucket put compute to date over the cap everywhere; a
    scheduler that revised only that bucket left later verdicts that the log contradicts."""
    run = asyncio.run(run_late_compute(tmp_path, PerBucketScheduler, export=True))
    assert run.bundle is not None
    assert [v.facility_id for v in run.second] == ["fac-a"]  # only the bucket the reports fell in
    out = audit_bundle(run.bundle, _pinned(run.policy, run.roots))
    assert out.failed_checks() == ["verdict.stale"], out.failures
    stale = {f.subject for f in out.failures}
    assert len(stale) == 5  # every other closed bucket of both facilities
    assert any(s.startswith("pause-test/fac-b@") for s in stale)
    assert all("compute.cap_exceeded" in f.message for f in out.failures)


def test_a_verifier_that_revised_everything_is_not_stale(tmp_path: Path) -> None:
    run = asyncio.run(run_late_compute(tmp_path, EvaluationScheduler, export=True))
    assert run.bundle is not None
    out = audit_bundle(run.bundle, _pinned(run.policy, run.roots))
    assert out.ok, out.failures
    assert out.verdicts_matched == out.verdicts_checked == len(run.first) + len(run.second)
