"""The hardened systemd units (attestor, verifier, witness): ``systemd-analyze verify`` clean, an
exposure of at most 2.0 (``systemd-analyze security``); attestor and verifier ``Type=notify``
(both daemons say READY=1:
tests/attestor/test_sd_notify.py, tests/verifier/test_serve_notify.py), and keys the service
can read: the verifier's come as systemd credentials, the attestor's is made in its own state
directory by its own dynamic user."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = {
    "attestor": DEPLOY / "pausewatch-attestor.service",
    "verifier": DEPLOY / "pausewatch-verifier.service",
    "witness": DEPLOY / "pausewatch-witness.service",
}
NOTIFY = ("attestor", "verifier")  # the daemons that say READY=1
EXPOSURE_THRESHOLD = 20  # systemd-analyze's scale: 20 means "exposure level 2.0"


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is not installed (Debian package systemd): the unit cannot be checked")
    return tool


def _unit_with_real_binary(role: str, tmp_path: Path) -> Path:
    # verify checks that ExecStart's binary exists; point it at a stand-in with the same role.
    unit = UNITS[role]
    binary = tmp_path / f"pausewatch-{role}"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    text = unit.read_text()
    assert f"ExecStart=/usr/local/bin/pausewatch-{role} " in text
    out = tmp_path / unit.name
    out.write_text(text.replace(f"/usr/local/bin/pausewatch-{role}", str(binary)))
    return out


@pytest.mark.parametrize("role", list(UNITS))
def test_unit_verifies_without_any_warning(role: str, tmp_path: Path) -> None:
    unit = _unit_with_real_binary(role, tmp_path)
    done = subprocess.run([_analyze(), "verify", str(unit)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout
    assert done.stderr.strip() == "", done.stderr


@pytest.mark.parametrize("role", list(UNITS))
def test_unit_security_exposure_under_threshold(role: str, tmp_path: Path) -> None:
    unit = _unit_with_real_binary(role, tmp_path)
    done = subprocess.run(
        [_analyze(), "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD}", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert "Overall exposure level" in done.stdout


@pytest.mark.parametrize("role", list(UNITS))
def test_unit_keeps_the_hardening_it_claims(role: str) -> None:
    text = UNITS[role].read_text()
    if role in NOTIFY:
        assert "\nType=notify\n" in text
    for line in (
        "DynamicUser=yes",
        f"StateDirectory=pausewatch-{role}",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "PrivateTmp=yes",
        "KillSignal=SIGTERM",
    ):
        assert f"\n{line}\n" in text, line


def test_verifier_unit_lets_serve_stop_its_front_ends_itself() -> None:
    # serve's front-ends are its children: SIGTERM to all at once (the default control-group
    # mode) would stop them while the core still drains; serve stops them in order itself
    # (tests/verifier/test_frontends.py), systemd SIGKILLs what is left at the timeout.
    assert "\nKillMode=mixed\n" in UNITS["verifier"].read_text()


def test_witness_unit_has_no_devices() -> None:
    assert "\nPrivateDevices=yes\n" in UNITS["witness"].read_text()


def test_verifier_keys_are_credentials_its_config_names() -> None:
    unit = UNITS["verifier"].read_text()
    example = (DEPLOY / "verifier.example.toml").read_text()
    for name in ("log.key", "challenge.key", "verdict.key", "tls.key"):
        assert f"\nLoadCredential={name}:/etc/pausewatch/" in unit, name
        assert f'key_file = "/run/credentials/pausewatch-verifier.service/{name}"' in example, name


def test_attestor_init_runs_as_the_units_own_user() -> None:
    text = UNITS["attestor"].read_text()
    assert (
        "systemd-run --wait --pipe --collect -p DynamicUser=yes -p StateDirectory=pausewatch-attestor" in text
    )


def test_install_script_stages_commands_units_and_config(tmp_path: Path) -> None:
    import sys

    venv = Path(sys.executable).parent.parent
    done = subprocess.run(
        ["bash", str(DEPLOY / "install.sh")],
        env={"PATH": "/usr/bin:/bin", "DESTDIR": str(tmp_path), "VENV": str(venv)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for tool in ("pausewatch-verifier", "pausewatch-attestor", "pausewatch-audit"):
        link = tmp_path / "usr/local/bin" / tool
        assert link.resolve() == (venv / "bin" / tool).resolve()
    for role in NOTIFY:
        unit = UNITS[role]
        assert (tmp_path / "etc/systemd/system" / unit.name).read_text() == unit.read_text()
    assert (tmp_path / "etc/pausewatch/keys").stat().st_mode & 0o777 == 0o700
    missing = subprocess.run(
        ["bash", str(DEPLOY / "install.sh")],
        env={"PATH": "/usr/bin:/bin", "DESTDIR": str(tmp_path), "VENV": str(tmp_path / "none")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2
    assert "is missing" in missing.stderr
