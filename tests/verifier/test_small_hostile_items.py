"""Row 15 of issue 12: the smaller items, each on a real server or a real process.

- ``GetVerdicts`` answered 9.4 MB to a 10-byte request: now paged (``page_size`` ≤ 1000,
  ``next_page_token``) and each page within one message.
- plaintext was served on 0.0.0.0 without a word: ``serve`` now exits 2 unless ``[tls]`` is
  configured, the address is loopback, or ``allow_plaintext = true``.
- databases were 0644: the verifier's database (and so its WAL and -shm) and the attestor's
  spool are 0600, an older 0644 one is tightened.
- TLS key and Redfish password files were not permission-checked: a TLS key, or an attestor
  config holding a source password, readable by group or others stops the start (exit 2).
- webhook URLs (often secret) were logged: only scheme and host are.
- a corrupt database header ends ``serve`` with one line and exit 2, not a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.files.keyfile import generate_key_file
from pausewatch.v1 import types_pb2, verifier_pb2
from tests.evaluation.test_alerts import _alert, _Receiver, _WatchedClock
from tests.verifier.harness import World, running
from verifier.alerts import WebhookConfig, WebhookNotifier
from verifier.config import LimitsConfig
from verifier.storage import StoredVerdict

REPO = Path(__file__).resolve().parents[2]
VERIFIER = [sys.executable, "-m", "verifier.cli"]
ATTESTOR = [sys.executable, "-m", "attestor.cli"]


def test_get_verdicts_is_paged_within_one_message(tmp_path: Path) -> None:
    limits = LimitsConfig(max_message_bytes=64 * 1024 + 4000, max_envelope_bytes=4096)

    async def scenario() -> None:
        world = World(tmp_path, limits=limits)
        async with running(world) as r:
            stored = []
            for i in range(25):
                verdict = types_pb2.Verdict(
                    commitment_id="c-1",
                    facility_id="fac-a",
                    bucket_start_unix_ns=i,
                    bucket_end_unix_ns=i + 1,
                    reason="x" * 800,  # ~1 KiB each: four fit the page's byte budget
                )
                venv = sign_envelope(
                    PayloadType.VERDICT,
                    verdict.SerializeToString(deterministic=True),
                    [r.server.verdict_signer],
                )
                await r.server.sequencer.append_verdict(
                    venv, StoredVerdict(0, "c-1", 1, "fac-a", i, i + 1, 0, 1, 3, b"")
                )
                stored.append(venv)
            got: list[bytes] = []
            token, pages = "", 0
            while True:
                page = await r.stub.GetVerdicts(
                    verifier_pb2.GetVerdictsRequest(commitment_id="c-1", page_size=10, page_token=token),
                    timeout=5,
                )
                assert 1 <= len(page.envelopes) <= 10
                assert page.ByteSize() <= limits.max_message_bytes
                got += page.envelopes
                pages += 1
                token = page.next_page_token
                if not token:
                    break
            assert got == stored  # every verdict once, in order
            assert pages >= 25 // 4
            small = await r.stub.GetVerdicts(verifier_pb2.GetVerdictsRequest(page_size=3), timeout=5)
            assert list(small.envelopes) == stored[:3]
            assert small.next_page_token
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.stub.GetVerdicts(verifier_pb2.GetVerdictsRequest(page_token="not-a-token"), timeout=5)
            assert e.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "page_token" in (e.value.details() or "")

    asyncio.run(scenario())


def _config(tmp: Path, extra_top: str = "", extra: str = "") -> Path:
    for name in ("log", "challenge", "verdict"):
        if not (tmp / f"{name}.key").exists():
            generate_key_file(tmp / f"{name}.key")
    lab = base64.b64encode(b"\x11" * 32).decode()
    cfg = tmp / "verifier.toml"
    cfg.write_text(
        f"""{extra_top}
state_dir = "state"
metrics_listen = ""
[log]
origin = "verifier.test/pausewatch"
key_file = "log.key"
[challenge]
key_file = "challenge.key"
[verdict]
key_file = "verdict.key"
[evaluation]
enabled = false
{extra}
[[labs]]
lab_id = "lab"
public_keys = ["{lab}"]
facilities = ["fac-a"]
"""
    )
    return cfg


def _refused(cmd: list[str]) -> str:
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if not ln.startswith("{")]
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_plaintext_only_on_loopback(tmp_path: Path) -> None:
    cfg = _config(tmp_path, 'listen = "0.0.0.0:0"')
    line = _refused([*VERIFIER, "serve", "--config", str(cfg)])
    assert "allow_plaintext" in line
    assert "[tls]" in line
    assert not (tmp_path / "state" / "verifier.sqlite").exists()  # nothing opened


def test_tls_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    (tmp_path / "server.crt").write_text("unused")
    key = tmp_path / "server.key"
    key.write_text("unused")
    key.chmod(0o644)
    cfg = _config(
        tmp_path, 'listen = "127.0.0.1:0"', '[tls]\ncert_file = "server.crt"\nkey_file = "server.key"\n'
    )
    line = _refused([*VERIFIER, "serve", "--config", str(cfg)])
    assert "server.key" in line
    assert "chmod 600" in line


def test_corrupt_database_header_is_one_line(tmp_path: Path) -> None:
    cfg = _config(tmp_path, 'listen = "127.0.0.1:0"')
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state" / "verifier.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    line = _refused([*VERIFIER, "serve", "--config", str(cfg)])
    assert "verifier.sqlite" in line


def test_databases_are_private(tmp_path: Path) -> None:
    cfg = _config(tmp_path, 'listen = "127.0.0.1:0"')
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    db = state / "verifier.sqlite"
    db.touch(mode=0o644)  # an older, world-readable one: tightened
    db.chmod(0o644)
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [*VERIFIER, "serve", "--config", str(cfg), "--ready-file", str(ready)],
        cwd=REPO,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.05)
        files = sorted(state.glob("verifier.sqlite*"))
        assert {f.name for f in files} >= {"verifier.sqlite", "verifier.sqlite-wal", "verifier.sqlite-shm"}
        for f in files:
            assert f.stat().st_mode & 0o777 == 0o600, f
    finally:
        proc.terminate()
        proc.wait(30)
    # the attestor's spool too
    node = tmp_path / "node"
    acfg = tmp_path / "attestor.toml"
    acfg.write_text(
        f'state_dir = "{node}"\nfacility_id = "fac-a"\nnode_id = "n-1"\n[[sources]]\nkind = "simulator"\ndevices = 1\n'
    )
    subprocess.run(
        [*ATTESTOR, "init", "--config", str(acfg)], cwd=REPO, check=True, capture_output=True, timeout=60
    )
    assert (node / "spool.sqlite").stat().st_mode & 0o777 == 0o600


def test_attestor_config_with_a_password_must_be_private(tmp_path: Path) -> None:
    cfg = tmp_path / "attestor.toml"
    cfg.write_text(
        f'state_dir = "{tmp_path / "node"}"\nfacility_id = "fac-a"\nnode_id = "n-1"\n'
        '[[sources]]\nkind = "redfish"\nurl = "https://bmc.example"\nusername = "u"\npassword = "hunter2"\n'
    )
    cfg.chmod(0o644)
    line = _refused([*ATTESTOR, "run", "--config", str(cfg)])
    assert "chmod 600" in line
    assert "password" in line
    assert "hunter2" not in line


def test_webhook_urls_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    receiver = _Receiver([400])
    secret = f"{receiver.url}/hooks/T0K3N-s3cret?key=abc"

    async def scenario() -> None:
        notifier = WebhookNotifier(WebhookConfig(urls=(secret,), max_attempts=1), _WatchedClock())
        await notifier.deliver(_alert())
        assert notifier.counters.failed == 1

    with caplog.at_level(logging.WARNING, logger="pausewatch.verifier.alerts"):
        try:
            asyncio.run(scenario())
        finally:
            receiver.close()
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "webhook delivery failed" in text
    assert "T0K3N" not in text
    assert "key=abc" not in text
    assert "127.0.0.1" in text  # the host is still named
