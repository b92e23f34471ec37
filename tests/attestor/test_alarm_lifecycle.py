"""Alarms end: by themselves when their cause is gone, or by an operator's logged ``ack``.

A real attestor (real spool, real gRPC uplink to the peer verifier, simulated clock): the
verifier's challenge stops verifying (the key the attestor trusts is not the one that signs),
``challenge.invalid`` is raised and ``status`` exits 1 saying since when; the right key signs
again, the alarm clears, its gauge drops to 0, and ``status`` exits 0. A ``log.fork`` never
clears by itself: ``ack log.fork --note ...`` ends it, logs it and keeps the note.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from attestor.cli import main
from pausewatch.keys import Ed25519Signer
from tests.attestor.harness import start_attestor
from tests.attestor.peer import Peer


def status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    capsys.readouterr()
    code = main(["status", "--state-dir", str(tmp_path), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_challenge_alarm_clears_when_the_challenge_verifies_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, object] = {}

    async def scenario() -> None:
        peer = Peer()
        await peer.start()
        h = await start_attestor(tmp_path, peer)
        await h.until(lambda: h.spool.status().acked >= 1)
        right = peer.state.challenge_signer
        peer.state.challenge_signer = Ed25519Signer.generate()  # not the key the attestor trusts
        await h.until(lambda: any(a.kind == "challenge.invalid" for a in h.spool.status().alarms))
        seen["during"] = status(tmp_path, capsys)
        peer.state.challenge_signer = right
        await h.until(lambda: not h.spool.status().alarms)
        gauge = h.metrics.registry.get_sample_value(
            "pausewatch_attestor_alarms", {"kind": "challenge.invalid"}
        )
        seen["gauge"] = gauge
        await h.close()
        await peer.stop()

    asyncio.run(scenario())
    code, doc = seen["during"]  # type: ignore[misc]
    assert code == 1
    assert doc["ok"] is False
    (alarm,) = doc["alarms"]
    assert alarm["kind"] == "challenge.invalid"
    assert alarm["active_since"].endswith("Z")
    assert "cause is gone" in alarm["clears"]
    assert seen["gauge"] == 0
    code, doc = status(tmp_path, capsys)
    assert code == 0
    assert doc["alarms"] == []
    assert main(["status", "--state-dir", str(tmp_path)]) == 0
    assert "alarms      none active" in capsys.readouterr().out


def test_an_ack_while_the_daemon_runs_reaches_its_gauge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> None:
        peer = Peer()
        await peer.start()
        h = await start_attestor(tmp_path, peer)
        await h.until(lambda: h.spool.status().acked >= 1)
        peer.state.fork()
        await h.until(lambda: any(a.kind == "log.fork" for a in h.spool.status().alarms))
        gauge = {"kind": "log.fork"}
        assert h.metrics.registry.get_sample_value("pausewatch_attestor_alarms", gauge) == 1
        assert main(["ack", "log.fork", "--state-dir", str(tmp_path), "--note", "seen"]) == 0
        await h.advance(61)  # the next period
        assert h.metrics.registry.get_sample_value("pausewatch_attestor_alarms", gauge) == 0
        await h.close()
        await peer.stop()

    asyncio.run(scenario())


def test_log_fork_needs_an_ack_which_is_logged_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> None:
        peer = Peer()
        await peer.start()
        h = await start_attestor(tmp_path, peer)
        await h.until(lambda: h.spool.status().acked >= 1)
        peer.state.fork()
        await h.until(lambda: any(a.kind == "log.fork" for a in h.spool.status().alarms))
        await h.close()
        await peer.stop()

    asyncio.run(scenario())
    code, doc = status(tmp_path, capsys)
    assert code == 1
    assert [a["kind"] for a in doc["alarms"]] == ["log.fork"]  # type: ignore[index]
    assert "ack" in doc["alarms"][0]["clears"]  # type: ignore[index]
    assert main(["ack", "clock.skew", "--state-dir", str(tmp_path), "--note", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no active alarm 'clock.skew' (active: log.fork)" in err
    code = main(["ack", "log.fork", "--state-dir", str(tmp_path), "--note", "verifier restored from backup"])
    assert code == 0
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert any(line.get("alarm") == "log.fork" and "acknowledged" in str(line) for line in logged)
    code, doc = status(tmp_path, capsys)
    assert code == 0
    assert doc["acknowledged"]["log.fork"]["note"] == "verifier restored from backup"  # type: ignore[index]


def test_status_json_on_error_is_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", "--state-dir", str(tmp_path / "nowhere"), "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert json.loads(out) == {
        "ok": False,
        "command": "status",
        "exit_code": 2,
        "error": err.strip().removeprefix("pausewatch-attestor status: "),
    }
