"""The witness's hardened systemd unit: the same checks as the attestor's (``systemd-analyze
verify`` clean, exposure at most 2.0, the hardening it claims)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.attestor.test_systemd_unit import EXPOSURE_THRESHOLD, _analyze

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "pausewatch-witness.service"


def _unit_with_real_binary(tmp_path: Path) -> Path:
    binary = tmp_path / "pausewatch-witness"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    text = UNIT.read_text()
    assert "ExecStart=/usr/local/bin/pausewatch-witness serve" in text
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace("/usr/local/bin/pausewatch-witness", str(binary)))
    return unit


def test_witness_unit_verifies_without_any_warning(tmp_path: Path) -> None:
    unit = _unit_with_real_binary(tmp_path)
    done = subprocess.run([_analyze(), "verify", str(unit)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout
    assert done.stderr.strip() == "", done.stderr


def test_witness_unit_security_exposure_under_threshold(tmp_path: Path) -> None:
    unit = _unit_with_real_binary(tmp_path)
    done = subprocess.run(
        [_analyze(), "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD}", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "Overall exposure level" in done.stdout


def test_witness_unit_keeps_the_hardening_it_claims() -> None:
    text = UNIT.read_text()
    for line in (
        "DynamicUser=yes",
        "StateDirectory=pausewatch-witness",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
    ):
        assert f"\n{line}\n" in text, line
