"""The hardened systemd unit: ``systemd-analyze verify`` clean, and an exposure of at most 2.0."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "pausewatch-attestor.service"
EXPOSURE_THRESHOLD = 20  # systemd-analyze's scale: 20 means "exposure level 2.0"


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is not installed (Debian package systemd): the unit cannot be checked")
    return tool


def _unit_with_real_binary(tmp_path: Path) -> Path:
    # verify checks that ExecStart's binary exists; point it at a stand-in with the same role.
    binary = tmp_path / "pausewatch-attestor"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    text = UNIT.read_text()
    assert "ExecStart=/usr/local/bin/pausewatch-attestor run" in text
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace("/usr/local/bin/pausewatch-attestor", str(binary)))
    return unit


def test_unit_verifies_without_any_warning(tmp_path: Path) -> None:
    unit = _unit_with_real_binary(tmp_path)
    done = subprocess.run([_analyze(), "verify", str(unit)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout
    assert done.stderr.strip() == "", done.stderr


def test_unit_security_exposure_under_threshold(tmp_path: Path) -> None:
    unit = _unit_with_real_binary(tmp_path)
    done = subprocess.run(
        [_analyze(), "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD}", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "Overall exposure level" in done.stdout


def test_unit_keeps_the_hardening_it_claims() -> None:
    text = UNIT.read_text()
    for line in (
        "DynamicUser=yes",
        "StateDirectory=pausewatch-attestor",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "PrivateTmp=yes",
        "KillSignal=SIGTERM",
    ):
        assert f"\n{line}\n" in text, line


def test_unit_waits_for_the_daemon_to_say_it_is_ready() -> None:
    # `pausewatch-attestor run` sends READY=1 over NOTIFY_SOCKET (attestor/sd_notify.py).
    assert "\nType=notify\n" in UNIT.read_text()
