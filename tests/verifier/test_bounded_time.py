"""Row 12 of issue 12: late and past data amplify — and now they are bounded.

Before: one report dated ten months back caused 7,359 verdict revisions (hourly buckets; every
later bucket's compute to date changed), and a commitment whose window began eleven months ago,
8,103 verdicts. Here, on a real verifier over gRPC with its evaluation scheduler on a simulated
clock (daily buckets, so the same ten months is ~300 buckets): with the limit lifted the old
amplification is reproduced; with the default limits the ten-month-old report and the
eleven-month-old window are refused FAILED_PRECONDITION with nothing stored, a report a few days
late revises only the buckets since, and every revision is counted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.v1 import verifier_pb2
from sim.factories import NS, T0, commitment_message
from tests.verifier.harness import Running, World, running
from verifier.config import LimitsConfig
from verifier.scheduler import EvaluationScheduler, SchedulerConfig

DAY = 86_400
MONTHS_10 = 300 * DAY
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]


def commitment(world: World, start_ns: int, version: int = 1, *, bucket_s: int = DAY) -> bytes:
    """A lab-1 commitment on ``world``'s facility, 400 days from ``start_ns``."""
    msg = commitment_message(
        [world.facility_id],
        lab_id=world.lab_id,
        version=version,
        start_ns=start_ns,
        days=400,
        bucket_s=bucket_s,
        description="bounded time",
    )
    return sign_envelope(PayloadType.COMMITMENT, msg.SerializeToString(deterministic=True), [world.lab])


async def _late_report(r: Running, node: int, start_ns: int) -> verifier_pb2.ReportResult:
    chain = r.world.chain(node, await r.nonce(), start_ns=start_ns)
    (result,) = await r.submit(chain.next())
    return result


def _revisions(r: Running) -> float:
    value = r.server.metrics.registry.get_sample_value("pausewatch_verifier_verdict_revisions_total")
    return value or 0.0


def _scenario(world: World, old_report_days: float) -> dict[str, object]:
    """Ten months of daily buckets evaluated, then one report ``old_report_days`` back."""

    async def main() -> dict[str, object]:
        async with running(world) as r:
            await r.stub.SubmitCommitment(
                verifier_pb2.SubmitSignedRequest(envelope=commitment(world, T0)), timeout=10
            )
            scheduler = EvaluationScheduler(
                r.server.sequencer,
                r.server.verdict_signer,
                r.server.clock,
                SchedulerConfig(grace_s=120),
                on_tick=r.server.metrics.on_evaluation,
            )
            world.clock.advance(MONTHS_10)
            first = await scheduler.tick()
            now = r.server.clock.now_ns()
            result = await _late_report(r, 0, now - round(old_report_days * DAY * NS))
            stored = r.counts()["reports"] == 1
            world.clock.advance(60)
            second = await scheduler.tick()
            return {
                "first": first.evaluated,
                "result": result,
                "stored": stored,
                "revisions": second.revisions,
                "metric": _revisions(r),
            }

    return asyncio.run(main())


@pytest.fixture(scope="module")
def before(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The limit lifted (3660 days): the issue's amplification, reproduced."""
    lifted = LimitsConfig(max_report_age_s=3660 * DAY, max_commitment_backdate_s=3660 * DAY)
    return _scenario(World(tmp_path_factory.mktemp("before"), limits=lifted), old_report_days=299.5)


def test_one_report_ten_months_back_revised_every_later_verdict_without_the_limit(before) -> None:
    assert before["first"] >= 299  # a verdict per closed daily bucket
    assert before["stored"]
    assert before["revisions"] >= 290  # ~every bucket after the report's: the amplification
    assert before["metric"] == before["revisions"]  # visible


def test_one_report_ten_months_back_is_refused_and_revises_nothing(tmp_path: Path) -> None:
    out = _scenario(World(tmp_path), old_report_days=299.5)
    result = out["result"]
    assert isinstance(result, verifier_pb2.ReportResult)
    assert result.code == FAILED_PRECONDITION
    assert result.disposition == verifier_pb2.DISPOSITION_REJECTED
    assert "limits.max_report_age_s" in result.message
    assert "\n" not in result.message
    assert not out["stored"]
    assert out["revisions"] == 0


def test_a_report_days_late_revises_only_the_buckets_since(tmp_path: Path) -> None:
    out = _scenario(World(tmp_path), old_report_days=3.5)
    result = out["result"]
    assert isinstance(result, verifier_pb2.ReportResult)
    assert result.code == 0
    assert out["stored"]
    # bounded by the limit: at most max_report_age_s / bucket (+1 for the bucket in progress)
    assert 1 <= out["revisions"] <= 8
    assert out["metric"] == out["revisions"]


def test_commitment_window_starting_eleven_months_back_is_refused(tmp_path: Path) -> None:
    world = World(tmp_path)

    async def main() -> None:
        async with running(world) as r:
            world.clock.advance(330 * DAY)
            now = r.server.clock.now_ns()
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.stub.SubmitCommitment(
                    verifier_pb2.SubmitSignedRequest(envelope=commitment(world, T0)), timeout=10
                )
            assert e.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert "limits.max_commitment_backdate_s" in (e.value.details() or "")
            assert await r.server.sequencer.read(lambda s: s.commitments()) == []  # nothing stored
            scheduler = EvaluationScheduler(r.server.sequencer, r.server.verdict_signer, r.server.clock)
            assert (await scheduler.tick()).evaluated == 0  # not 8,103 verdicts: none

            # a window starting a few days back is fine; so is a later version that keeps it,
            # submitted long after (a lab revising its commitment keeps its window)
            start = now - 3 * DAY * NS
            await r.stub.SubmitCommitment(
                verifier_pb2.SubmitSignedRequest(envelope=commitment(world, start)), timeout=10
            )
            world.clock.advance(60 * DAY)
            await r.stub.SubmitCommitment(
                verifier_pb2.SubmitSignedRequest(envelope=commitment(world, start, version=2)), timeout=10
            )
            with pytest.raises(grpc.aio.AioRpcError) as moved:  # but not one that moves it back
                await r.stub.SubmitCommitment(
                    verifier_pb2.SubmitSignedRequest(
                        envelope=commitment(world, start - 30 * DAY * NS, version=3)
                    ),
                    timeout=10,
                )
            assert moved.value.code() is grpc.StatusCode.FAILED_PRECONDITION

    asyncio.run(main())


def test_limits_are_read_from_the_config(tmp_path: Path) -> None:
    from tests.verifier.test_authorization import _BASE
    from verifier.config import ConfigError, load_config

    path = tmp_path / "v.toml"
    path.write_text(_BASE + "[limits]\nmax_report_age_s = 86400\nmax_commitment_backdate_s = 0\n")
    limits = load_config(path).limits
    assert (limits.max_report_age_s, limits.max_commitment_backdate_s) == (86_400, 0)
    path.write_text(_BASE + "[limits]\nmax_report_age_s = 1\n")
    with pytest.raises(ConfigError, match=r"limits\.max_report_age_s"):
        load_config(path)
    assert LimitsConfig().max_report_age_s == 7 * DAY  # the default, documented in verifier/config.py
