"""Row 7 of issue 12: byte floods, on a real verifier over gRPC.

Before: one node key stored 100 × 1 MiB reports in 5.4 s (≈ 1.4 GiB/min per key possible), and
120 concurrent 15.4 MiB requests took the verifier's RSS from 397 to 2,071 MiB. Now a report is
sized to what attestors sign (``limits.max_report_bytes``, 32 KiB; an 8-GPU report is ~2.3 KiB),
each key has a byte quota (``limits.report_bytes_per_minute`` / ``burst_report_bytes``), and
calls being served hold at most ``limits.max_inflight_bytes`` of requests: each refused at
the edge with RESOURCE_EXHAUSTED and one line, nothing stored, other keys unaffected.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import grpc
import nacl.bindings
import pytest

from attestor.aggregate import MAX_ANOMALY_RAW_CHARS, MAX_ANOMALY_RECORDS, Aggregator
from attestor.report import ReportBuilder
from attestor.sources.simulator import SimulatedDeviceSource, WorkloadProfile
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.keys import Ed25519Signer
from pausewatch.reports import MAX_ACCELERATORS, MAX_REPORT_BYTES
from pausewatch.v1 import types_pb2, verifier_pb2
from sim.factories import NS, T0
from tests.verifier.harness import World, running

ACCEPTED, REJECTED = verifier_pb2.DISPOSITION_ACCEPTED, verifier_pb2.DISPOSITION_REJECTED
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


def _attestor_report(devices: int, *, anomalies: int = 0) -> bytes:
    """A report as the attestor signs it: the real aggregator over a simulated training node."""
    source = SimulatedDeviceSource(
        "a-node-01", devices, WorkloadProfile.training(job_seed=7, iteration_s=6.0)
    )
    agg = Aggregator()
    for s in range(61):
        agg.add(source.sample(T0 + s * NS))
    period = agg.close(T0, T0 + 60 * NS)
    report = ReportBuilder("fac-a", "a-node-01").usage(period, challenge_nonce=b"\x01" * 32, signed_ns=T0)
    report.attestor_key_id, report.seq, report.prev, report.boot_id = (
        "a" * 64,
        10**9,
        b"\x02" * 32,
        b"\x03" * 16,
    )
    for i in range(anomalies):  # as many as the aggregator itemises, each as long as it keeps
        report.anomalies.add(
            kind=types_pb2.ANOMALY_KIND_OUT_OF_RANGE,
            metric="energy_counter_j",
            device_uuid=report.accelerators[i % devices].uuid,
            raw_value="9" * MAX_ANOMALY_RAW_CHARS,
            at_unix_ns=T0 + i,
            count=60,
        )
    signer = Ed25519Signer.from_seed(b"\x05" * 32)
    return sign_envelope(PayloadType.USAGE_REPORT, report.SerializeToString(deterministic=True), [signer])


def test_report_size_limit_is_sized_to_real_reports() -> None:
    eight = len(_attestor_report(8))
    assert 1500 < eight < 3 * 1024, eight  # ~2.3 KiB for an 8-GPU node
    worst = len(_attestor_report(MAX_ACCELERATORS, anomalies=MAX_ANOMALY_RECORDS + 1))
    assert worst < MAX_REPORT_BYTES, worst  # the largest report an honest attestor signs fits
    assert 16 * eight >= MAX_REPORT_BYTES  # and the limit is not a megabyte


def _padded(chain, size: int) -> bytes:  # type: ignore[no-untyped-def]
    """The chain's next report, padded with anomaly records to about ``size`` bytes."""
    msg = chain.report()
    i = 0
    while msg.ByteSize() < size - 200:
        msg.anomalies.add(kind=types_pb2.ANOMALY_KIND_SOURCE_ERROR, metric=f"m{i}", raw_value="x" * 64)
        i += 1
    return chain.sign_message(PayloadType.USAGE_REPORT, msg)  # type: ignore[no-any-return]


def test_byte_flood_a_report_over_the_size_limit_is_refused_unchecked(tmp_path, monkeypatch) -> None:
    checks: list[int] = []
    real = nacl.bindings.crypto_sign_open

    def counting(signed: bytes, pk: bytes) -> bytes:
        checks.append(1)
        return real(signed, pk)  # type: ignore[no-any-return]

    monkeypatch.setattr(nacl.bindings, "crypto_sign_open", counting)

    async def scenario() -> None:
        world = World(tmp_path)
        async with running(world) as r:
            chain = world.chain(0, await r.nonce())
            before = r.counts()
            checks.clear()
            (res,) = await r.submit(_padded(chain, 1 << 20))  # 1 MiB, validly signed by an enrolled key
            assert (res.code, res.disposition) == (RESOURCE_EXHAUSTED, REJECTED)
            assert "limits.max_report_bytes" in res.message
            assert checks == []  # refused before any signature check
            assert r.counts() == before  # nothing stored

    asyncio.run(scenario())


def test_byte_flood_per_key_quota(tmp_path) -> None:
    """One key's byte flood is cut at its quota; another key goes on; the quota refills."""
    limits = dataclasses.replace(
        World(tmp_path).limits, report_bytes_per_minute=30 * 1024, burst_report_bytes=40 * 1024
    )

    async def scenario() -> None:
        world = World(tmp_path, limits=limits)
        async with running(world) as r:
            nonce = await r.nonce()
            flooder, honest = world.chain(0, nonce), world.chain(1, nonce)
            (res,) = await r.submit(_padded(flooder, 30 * 1024))
            assert res.disposition == ACCEPTED, res.message
            stored = r.counts()
            second = _padded(flooder, 30 * 1024)
            (res,) = await r.submit(second)
            assert (res.code, res.disposition) == (RESOURCE_EXHAUSTED, REJECTED)
            assert "bytes/minute" in res.message
            assert r.counts() == stored  # nothing stored
            (res,) = await r.submit(honest.next())  # another key is not affected
            assert res.disposition == ACCEPTED, res.message
            world.clock.advance(60.0)  # a clock minute refills 30 KiB
            (res,) = await r.submit(second)
            assert res.disposition == ACCEPTED, res.message

    asyncio.run(scenario())


def test_byte_flood_in_flight_bytes_are_bounded(tmp_path, monkeypatch) -> None:
    """While one call holds its request bytes, a call that would pass the in-flight budget is
    refused at once (before admission); once the first is done, it goes through."""
    import verifier.service

    entered, release = threading.Event(), threading.Event()
    real = verifier.service.admit_batch

    def held(raws, enrollment, *, max_envelope_bytes):  # type: ignore[no-untyped-def]
        entered.set()
        release.wait(10)  # bounded: the test fails, it does not hang
        return real(raws, enrollment, max_envelope_bytes=max_envelope_bytes)

    limits = dataclasses.replace(World(tmp_path).limits, max_inflight_bytes=64 * 1024)

    async def scenario() -> None:
        world = World(tmp_path, limits=limits)
        async with running(world) as r:
            nonce = await r.nonce()
            a, b = world.chain(0, nonce), world.chain(1, nonce)
            monkeypatch.setattr(verifier.service, "admit_batch", held)
            first = asyncio.ensure_future(r.submit(_padded(a, 30 * 1024)))
            assert await asyncio.to_thread(entered.wait, 10)
            batch = [_padded(b, 20 * 1024), _padded(b, 20 * 1024)]
            entered.clear()
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.submit(*batch)
            assert e.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "limits.max_inflight_bytes" in (e.value.details() or "")
            assert not entered.is_set()  # refused at the edge, never admitted
            release.set()
            (res,) = await first
            assert res.disposition == ACCEPTED, res.message
            results = await r.submit(*batch)
            assert [x.disposition for x in results] == [ACCEPTED, ACCEPTED]

    asyncio.run(scenario())
