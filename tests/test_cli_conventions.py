"""One convention across the commands (docs/cli.md): ``--version``; ``--json`` errors as
``{"ok": false, "error": ...}``; outputs never silently overwritten (``--force``); a warning
before plaintext beyond this machine; one log format for every daemon."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from attestor.cli import main as attestor_main
from auditor.cli import main as audit_main
from pausewatch.addresses import is_loopback
from pausewatch.logs import LOG_FIELDS, PausewatchJsonFormatter
from pausewatch.timespec import parse_time_flag
from verifier.cli import main as verifier_main

BIN = Path(sys.executable).parent
INVENTORY = (
    'facility_id = "fac-a"\nlab_id = "lab-1"\nversion = 1\n[overhead]\nmin_ratio = 1.05\nmax_ratio = 1.6\n'
)


@pytest.mark.parametrize("tool", ["pausewatch-verifier", "pausewatch-audit", "pausewatch-attestor", "pausewatch-sim"])
def test_version(tool: str) -> None:
    r = subprocess.run(
        [str(BIN / tool), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 0
    assert r.stdout.startswith(f"{tool} (pausewatch ")


def test_json_errors_have_one_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shapes = []
    assert verifier_main(["--json", "verdicts", "--address", "127.0.0.1:1", "--verdict-key", "nope"]) == 2
    shapes.append(json.loads(capsys.readouterr().out))
    assert audit_main(["verify", str(tmp_path / "missing"), "--json"]) == 2
    shapes.append(json.loads(capsys.readouterr().out))
    assert attestor_main(["status", "--state-dir", str(tmp_path), "--json"]) == 2
    shapes.append(json.loads(capsys.readouterr().out))
    for doc in shapes:
        assert doc["ok"] is False
        assert doc["exit_code"] == 2
        assert isinstance(doc["error"], str)
        assert doc["error"]


def test_signed_outputs_are_never_silently_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verifier_main(["keygen", "--out", str(tmp_path / "lab.key")]) == 0
    (tmp_path / "inventory.toml").write_text(INVENTORY)
    out = tmp_path / "inventory.env"
    sign = ["inventory", "sign", "--key", str(tmp_path / "lab.key"), "--in", str(tmp_path / "inventory.toml")]
    sign += ["--out", str(out)]
    assert verifier_main(sign) == 0
    first = out.read_bytes()
    capsys.readouterr()
    assert verifier_main(sign) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == first
    assert verifier_main([*sign, "--force"]) == 0
    assert out.read_bytes() != first  # re-signed: a new issue time
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    assert verifier_main(["keygen", "--out", str(tmp_path / "lab.key")]) == 2  # a key: never, not even forced


def test_plaintext_beyond_loopback_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert is_loopback("127.0.0.1:7443")
    assert is_loopback("[::1]:7443")
    assert is_loopback("localhost:1")
    assert not is_loopback("0.0.0.0:7443")
    assert not is_loopback("verifier.example.org:443")
    envelope = tmp_path / "x.env"
    envelope.write_bytes(b"")
    code = verifier_main(
        ["inventory", "submit", "--address", "192.0.2.1:7443", "--in", str(envelope), "--timeout", "0.2"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "in plaintext" not in err  # a malformed file stops it before any connection
    assert (
        verifier_main(
            ["verdicts", "--address", "192.0.2.1:7443", "--verdict-key", "A" * 43 + "=", "--timeout", "0.2"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "warning: no --tls-ca: talking to 192.0.2.1:7443 in plaintext" in err


def test_times_are_rfc3339_or_durations() -> None:
    now = 1_800_000_000 * 10**9
    assert parse_time_flag("2026-03-02T00:00:00Z", now) == 1_772_409_600 * 10**9
    assert parse_time_flag("2026-03-02T01:00:00+01:00", now) == 1_772_409_600 * 10**9
    assert parse_time_flag("90m", now) == now - 5400 * 10**9
    assert parse_time_flag("now", now) == now
    assert parse_time_flag("1772409600000000000", now, allow_unix_ns=True) == 1_772_409_600 * 10**9
    for bad in ("yesterday", "2026-03-02T00:00:00", "1772409600000000000", "-5m"):
        with pytest.raises(ValueError, match=r"RFC 3339|offset"):
            parse_time_flag(bad, now)


def test_one_log_format_for_every_daemon() -> None:
    formatter = PausewatchJsonFormatter()
    attestor = logging.LogRecord("pausewatch.attestor.alarm", logging.ERROR, __file__, 1, "alarm", (), None)
    attestor.fields = {"alarm": "log.fork"}
    verifier = logging.LogRecord("pausewatch.verifier", logging.INFO, __file__, 1, "listening", (), None)
    verifier.port = 7443
    lines = [json.loads(formatter.format(r)) for r in (attestor, verifier)]
    for line in lines:
        assert tuple(line)[:4] == LOG_FIELDS
        assert line["time"].endswith("Z")
    assert lines[0]["alarm"] == "log.fork"
    assert lines[0]["level"] == "error"
    assert lines[1]["port"] == 7443
