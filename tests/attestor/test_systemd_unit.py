"""The hardened systemd units (attestor, witness): ``systemd-analyze verify`` clean, an exposure
of at most 2.0, and the hardening each claims."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "pausewatch-attestor.service"
WITNESS_UNIT = DEPLOY / "pausewatch-witness.service"
# unit -> the command its ExecStart runs (verify checks that the binary exists)
UNITS = {UNIT: "pausewatch-attestor run", WITNESS_UNIT: "pausewatch-witness serve"}
EXPOSURE_THRESHOLD = 20  # systemd-analyze's scale: 20 means "exposure level 2.0"


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is not installed (Debian package systemd): the unit cannot be checked")
    return tool


def _unit_with_real_binary(tmp_path: Path, unit: Path) -> Path:
    # verify checks that ExecStart's binary exists; point it at a stand-in with the same role.
    program = UNITS[unit].split()[0]
    binary = tmp_path / program
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    text = unit.read_text()
    assert f"ExecStart=/usr/local/bin/{UNITS[unit]}" in text
    copy = tmp_path / unit.name
    copy.write_text(text.replace(f"/usr/local/bin/{program}", str(binary)))
    return copy


@pytest.mark.parametrize("unit", list(UNITS), ids=lambda u: u.stem)
def test_unit_verifies_without_any_warning(tmp_path: Path, unit: Path) -> None:
    copy = _unit_with_real_binary(tmp_path, unit)
    done = subprocess.run([_analyze(), "verify", str(copy)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout
    assert done.stderr.strip() == "", done.stderr


@pytest.mark.parametrize("unit", list(UNITS), ids=lambda u: u.stem)
def test_unit_security_exposure_under_threshold(tmp_path: Path, unit: Path) -> None:
    copy = _unit_with_real_binary(tmp_path, unit)
    done = subprocess.run(
        [_analyze(), "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD}", str(copy)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "Overall exposure level" in done.stdout


@pytest.mark.parametrize("unit", list(UNITS), ids=lambda u: u.stem)
def test_unit_keeps_the_hardening_it_claims(unit: Path) -> None:
    text = unit.read_text()
    for line in (
        "DynamicUser=yes",
        f"StateDirectory={unit.stem}",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "PrivateTmp=yes",
        "KillSignal=SIGTERM",
    ):
        assert f"\n{line}\n" in text, line


def test_witness_unit_has_no_devices() -> None:
    assert "\nPrivateDevices=yes\n" in WITNESS_UNIT.read_text()


def test_unit_waits_for_the_daemon_to_say_it_is_ready() -> None:
    # `pausewatch-attestor run` sends READY=1 over NOTIFY_SOCKET (attestor/sd_notify.py).
    assert "\nType=notify\n" in UNIT.read_text()
