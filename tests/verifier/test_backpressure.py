"""A saturated verifier refuses whole batches at once with RESOURCE_EXHAUSTED and a retry hint,
and a refused batch leaves nothing behind: resent, it is accepted. The rate behind refusals and
hints: none in the first second, and hints that probe for more than the rate measured."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import grpc
import pytest

from pausewatch.v1 import verifier_pb2
from tests.verifier.harness import World, running
from verifier.config import LimitsConfig
from verifier.ingest import AdmittedReport, Enrollment
from verifier.metrics import VerifierMetrics
from verifier.sequencer import ReportOutcome
from verifier.service import RETRY_AFTER_KEY, ReportIntake, _Throughput


def test_a_saturated_verifier_refuses_with_a_retry_hint_and_keeps_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        world = World(tmp_path, nodes=8, limits=LimitsConfig(max_pending_reports=1))
        async with running(world) as r:
            nonce = await r.nonce()
            chains = [world.chain(i, nonce) for i in range(8)]
            batches = [[c.next() for _ in range(3)] for c in chains]

            async def send(batch: list[bytes]) -> tuple[grpc.StatusCode, dict[str, str]]:
                try:
                    await r.stub.SubmitReports(verifier_pb2.SubmitReportsRequest(envelopes=batch), timeout=30)
                except grpc.aio.AioRpcError as e:
                    return e.code(), {k: str(v) for k, v in e.trailing_metadata() or ()}
                return grpc.StatusCode.OK, {}

            outcomes = await asyncio.gather(*(send(b) for b in batches))  # all in flight at once
            codes = [code for code, _ in outcomes]
            assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
            assert grpc.StatusCode.OK in codes  # an idle verifier never refuses the first batch
            assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
            for code, trailers in outcomes:
                if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    assert int(trailers[RETRY_AFTER_KEY]) > 0
            accepted = sum(len(b) for b, c in zip(batches, codes, strict=True) if c is grpc.StatusCode.OK)
            assert r.counts()["reports"] == accepted  # refused batches left nothing behind

            for batch, code in zip(batches, codes, strict=True):  # one at a time: all accepted
                if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    results = await r.submit(*batch)
                    assert [x.disposition for x in results] == [verifier_pb2.DISPOSITION_ACCEPTED] * 3
            assert r.counts()["reports"] == 24

    asyncio.run(scenario())


def _intake(**limits: object) -> ReportIntake:
    async def sequence(reports: list[AdmittedReport]) -> list[ReportOutcome]:
        raise AssertionError("not called")

    return ReportIntake(
        limits=LimitsConfig(**limits),  # type: ignore[arg-type]
        metrics=VerifierMetrics(),
        lab_facilities={},
        sequence=sequence,
        enrollment=Enrollment,
        storage_full=lambda: False,
    )


def test_no_rate_is_measured_from_the_first_second_of_completions() -> None:
    # two reports a quarter of a second after start are no rate (they read as 8/s, and made a
    # 16-report queue two seconds of work): the count cap alone bounds the queue meanwhile
    t = _Throughput()
    assert t.per_s(100.0) is None
    t.add(2, 100.0)
    t.add(14, 100.25)
    assert t.per_s(100.9) is None
    t.add(1000, 101.0)
    assert t.per_s(101.0) == pytest.approx(1016 / 1.0)
    assert t.per_s(101.0 + 10) == 0.0  # nothing finished lately: a stalled queue


def test_refused_batches_are_booked_a_little_faster_than_the_rate_and_never_far_ahead() -> None:
    intake = _intake(max_queue_s=1.0, max_pending_reports=50_000)
    rate, now = 1000.0, 50.0
    # the queue holds its 1 s of work: the first refused batch waits for what is over it
    hints = [intake._retry_after(1000, 60, rate, now) for _ in range(200)]
    assert hints[0] == pytest.approx(0.06)
    gaps = [b - a for a, b in itertools.pairwise(hints) if b < 5.0]
    assert len(gaps) > 10
    assert all(g == pytest.approx(60 / (1.25 * rate)) for g in gaps)  # probing for more
    # past five seconds of slots, a batch is told to come back then, and books nothing
    assert max(hints) == 5.0
    late = [h for h in hints if h == 5.0]
    assert len(late) == 200 - len([h for h in hints if h < 5.0])
    assert intake._retry_after(1000, 60, rate, now) == 5.0
    # the rate measured by then books it: a higher rate, earlier slots
    assert intake._retry_after(1000, 60, 4 * rate, now + 5.0) < 5.0
