"""Metrics follow Prometheus conventions and ``promtool check metrics`` finds nothing.

A real verifier on localhost (real gRPC, real SQLite): accepted and refused reports, a read,
verdicts signed through the scheduler ``serve`` runs; then the exposition is checked: label
values are names (``code="unauthenticated"``, never ``code="16"``), times are
``_timestamp_seconds`` with no ``-1`` sentinel, verdicts by status, the last report of each
attestor, errors by kind, build info and gRPC server metrics are there. The attestor's
registry is checked the same way.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from attestor.metrics import AttestorMetrics
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.v1 import verifier_pb2
from sim.factories import seeded_signer
from tests.audit.conftest import commitment_message
from tests.verifier.harness import World, running
from verifier.server import _last_reports, evaluation_scheduler

NUMERIC_LABEL = re.compile(r'(\w+)="(-?\d+(?:\.\d+)?)"')


def promtool_clean(text: bytes) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `make sysdeps` (Debian package prometheus)")
    r = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert not r.stdout.strip(), r.stdout  # not even a lint warning
    assert not r.stderr.strip(), r.stderr


def label_values_are_names(text: str) -> None:
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        for name, _ in NUMERIC_LABEL.findall(line):
            assert name in ("le", "quantile"), line  # histogram bounds are numbers by definition


def commitment(world: World) -> bytes:
    message = commitment_message()  # the shared real run's commitment: pause-2026 over fac-a
    return sign_envelope(PayloadType.COMMITMENT, message.SerializeToString(deterministic=True), [world.lab])


def test_verifier_metrics(tmp_path: Path) -> None:
    world = World(tmp_path, nodes=2)
    texts: list[bytes] = []

    async def scenario() -> None:
        async with running(world) as r:
            await r.stub.SubmitCommitment(
                verifier_pb2.SubmitSignedRequest(envelope=commitment(world)), timeout=5
            )
            nonce = await r.nonce()
            chain = world.chain(0, nonce)
            results = await r.submit(*(chain.next() for _ in range(3)))
            assert all(x.disposition == verifier_pb2.DISPOSITION_ACCEPTED for x in results)
            stranger = world.chain(0, nonce)
            stranger.signer = seeded_signer("not-enrolled")
            refused = await r.submit(stranger.next())
            assert refused[0].disposition == verifier_pb2.DISPOSITION_REJECTED
            await r.stub.GetVerdicts(verifier_pb2.GetVerdictsRequest(), timeout=5)
            world.clock.advance(1200)
            scheduler = evaluation_scheduler(r.server)
            tick = await scheduler.tick()
            assert tick.stored, "closed buckets were evaluated"
            r.server.metrics.last_reports = await r.server.sequencer.read(_last_reports)
            texts.append(generate_latest(r.server.metrics.registry))

    asyncio.run(scenario())
    raw = texts[0]
    promtool_clean(raw)
    text = raw.decode()
    label_values_are_names(text)
    assert "unix_seconds" not in text
    assert re.search(r'pausewatch_verifier_reports_total\{code="ok",disposition="accepted"\} 3\.0', text)
    assert re.search(r'pausewatch_verifier_reports_total\{code="\w+",disposition="rejected"\} 1\.0', text)
    assert re.search(
        r'pausewatch_verifier_verdicts_total\{status="(compliant|violation|inconclusive)"\} \d', text
    )
    assert re.search(
        r'pausewatch_verifier_grpc_server_handled_total\{grpc_code="ok",grpc_method="SubmitReports"\}', text
    )
    assert re.search(
        r'pausewatch_verifier_grpc_server_handling_seconds_count\{grpc_method="GetVerdicts"\} 1\.0', text
    )
    assert re.search(
        r'pausewatch_verifier_build_info\{python="[\d.]+",version="[^"]+",wire_format="pausewatch.v1"\} 1\.0',
        text,
    )
    assert re.search(r"pausewatch_verifier_checkpoint_signed_timestamp_seconds \d\.\d+e\+09", text)
    last = re.findall(
        r'pausewatch_verifier_attestor_last_report_timestamp_seconds\{facility_id="fac-a",subject="([^"]+)"\}',
        text,
    )
    assert last == ["node:node-00"]  # node-01 has not reported: no series, no sentinel
    assert "# TYPE pausewatch_verifier_errors_total counter" in text


def test_attestor_metrics() -> None:
    now = [1_767_225_600.0]
    metrics = AttestorMetrics(lambda: now[0])
    metrics.upload_errors.labels("unavailable").inc()
    metrics.alarms.labels("log.fork").set(1)
    before = generate_latest(metrics.registry).decode()
    assert not re.search(r"^pausewatch_attestor_last_receipt_timestamp_seconds ", before, re.M)  # none yet
    assert "-1" not in before
    metrics.receipt_seen()
    raw = generate_latest(metrics.registry)
    promtool_clean(raw)
    text = raw.decode()
    label_values_are_names(text)
    assert "pausewatch_attestor_last_receipt_timestamp_seconds 1.7672256e+09" in text
    assert 'pausewatch_attestor_build_info{python="' in text
    assert isinstance(metrics.registry, CollectorRegistry)
