"""``pausewatch-verifier verdicts`` against a real verifier over gRPC on localhost.

The verifier serves the state of the shared real run (tests/audit/conftest.py: a commitment,
40 minutes of reports, a verdict per closed 10-minute bucket). The command pages through
``GetVerdicts`` (a page size of 1 forces every page), verifies each verdict with the verdict
key (from the key text or a roots.toml), filters, and prints a table or the documented JSON.
A verdict signed by another key is refused, exit 1, and nothing is listed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pausewatch.clock import SimulatedClock
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.v1 import types_pb2
from sim.factories import seeded_signer
from tests.audit.conftest import RealBundle
from tests.verifier.harness import Running, World, running
from verifier.cli import main


def serve(real_bundle: RealBundle, tmp_path: Path, body: Callable[[Running], Awaitable[None]]) -> None:
    """Run ``body`` against a verifier serving a copy of the real run's state."""
    shutil.copytree(real_bundle.world.tmp / "state", tmp_path / "state")
    world = World(tmp_path, nodes=3)
    clock = SimulatedClock(real_bundle.world.clock.now_ns())

    async def main_() -> None:
        async with running(world, enrol=False, clock=clock) as r:
            await body(r)

    asyncio.run(main_())


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.wait_for(asyncio.to_thread(main, list(argv)), timeout=60)
    out, err = capsys.readouterr()
    return code, out, err


def key_b64(world: World) -> str:
    return base64.b64encode(world.keys.verdict.public_key.raw).decode()


def test_lists_every_page_verified_as_json(
    real_bundle: RealBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve(real_bundle, tmp_path, lambda r: lists_every_page(r, capsys))


async def lists_every_page(served: Running, capsys: pytest.CaptureFixture[str]) -> None:
    address = f"127.0.0.1:{served.server.port}"
    code, out, err = await cli(
        capsys, "verdicts", "--address", address, "--verdict-key", key_b64(served.world), "--page-size", "1", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ok"] is True
    assert doc["count"] == len(doc["verdicts"]) >= 4
    v = doc["verdicts"][0]
    assert set(v) >= {"commitment_id", "facility_id", "bucket_start", "bucket_end", "status", "findings", "reason"}
    assert v["bucket_start"].endswith("Z")
    assert {x["status"] for x in doc["verdicts"]} <= {"COMPLIANT", "VIOLATION", "INCONCLUSIVE"}
    findings = [f for x in doc["verdicts"] for f in x["findings"]]
    assert findings, "the run had a gap and a restart: some bucket names a finding"
    assert all(set(f) >= {"id", "severity", "subject", "message", "evidence_log_indices"} for f in findings)


def test_filters_by_facility_status_and_time(
    real_bundle: RealBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve(real_bundle, tmp_path, lambda r: filters(r, capsys, real_bundle))


async def filters(served: Running, capsys: pytest.CaptureFixture[str], real_bundle: RealBundle) -> None:
    address = f"127.0.0.1:{served.server.port}"
    base = ["verdicts", "--address", address, "--roots", str(real_bundle.roots), "--json"]
    _, out, _ = await cli(capsys, *base)
    every = json.loads(out)["verdicts"]
    statuses = {v["status"] for v in every}
    status = sorted(statuses)[0]
    _, out, _ = await cli(capsys, *base, "--status", status.lower())
    assert [v for v in every if v["status"] == status] == json.loads(out)["verdicts"]
    _, out, _ = await cli(capsys, *base, "--facility", "fac-a")
    assert {v["facility_id"] for v in json.loads(out)["verdicts"]} == {"fac-a"}
    second = sorted({v["bucket_start"] for v in every})[1]
    _, out, _ = await cli(capsys, *base, "--from", second)
    assert json.loads(out)["verdicts"] == [v for v in every if v["bucket_start"] >= second]
    _, out, _ = await cli(capsys, *base, "--to", second)
    assert json.loads(out)["verdicts"] == [v for v in every if v["bucket_start"] < second]
    _, out, _ = await cli(capsys, *base, "--commitment", "no-such")
    assert json.loads(out) == {"ok": True, "count": 0, "verdicts": []}
    code, out, err = await cli(capsys, *base[:-1], "--from", "yesterday")
    assert code == 2
    assert err.count("\n") == 1
    assert "--from" in err
    assert "RFC 3339" in err


def test_table(real_bundle: RealBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    serve(real_bundle, tmp_path, lambda r: table(r, capsys))


async def table(served: Running, capsys: pytest.CaptureFixture[str]) -> None:
    address = f"127.0.0.1:{served.server.port}"
    code, out, _ = await cli(capsys, "verdicts", "--address", address, "--verdict-key", key_b64(served.world))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["bucket", "start"]
    assert any("pause-2026" in line and "fac-a" in line for line in lines[1:])


def test_a_verdict_under_another_key_is_refused(
    real_bundle: RealBundle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve(real_bundle, tmp_path, lambda r: forged_verdict(r, capsys))


async def forged_verdict(served: Running, capsys: pytest.CaptureFixture[str]) -> None:
    forged = types_pb2.Verdict(
        commitment_id="pause-2026",
        facility_id="fac-a",
        status=types_pb2.VERDICT_STATUS_COMPLIANT,
        reason="forged",
    )
    envelope = sign_envelope(PayloadType.VERDICT, forged.SerializeToString(), [seeded_signer("mallory")])
    storage = served.storage()
    try:
        good = storage.verdicts(None, None, None, None, include_superseded=True, after=None, limit=1)[0]
        storage._conn.execute("UPDATE verdicts SET envelope = ? WHERE envelope = ?", (envelope, good.envelope))
        storage._conn.commit()
    finally:
        storage.close()
    address = f"127.0.0.1:{served.server.port}"
    code, out, _ = await cli(
        capsys, "verdicts", "--address", address, "--verdict-key", key_b64(served.world), "--json"
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["ok"] is False
    assert "does not verify with the verdict key" in doc["error"]
    assert "forged" not in out


def test_unreachable_verifier_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key = key_b64(World(tmp_path))
    argv = ["verdicts", "--address", "127.0.0.1:1", "--verdict-key", key, "--timeout", "2"]
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("pausewatch-verifier: verifier unreachable")
    assert err.count("\n") == 1
