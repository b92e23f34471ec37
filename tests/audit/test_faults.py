"""Every fault a user can cause ends in one clear line and the documented exit code: never a
traceback, never a partial file left behind.

Real processes (the installed console scripts) against the state of the shared real run
(tests/audit/conftest.py). The faults:

- a port already taken (the verifier's gRPC and metrics ports, the attestor's metrics port);
- permission denied (a directory owned by a user this process does not map), a read-only file
  system, and a full disk (a 4 KiB tmpfs): each in a private user and mount namespace
  (``unshare -rm``), so the test needs no privilege and touches nothing outside; skipped with
  the reason where the kernel does not allow unprivileged namespaces;
- Ctrl-C during start-up of ``audit verify`` and ``export`` (SIGINT while they still import);
- a half-written export (the process killed with SIGKILL while writing) that must not block the
  retry.

Exit status 2 is "the command could not run" for every tool (verifier, audit, attestor).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sim.processes import write_key_file
from tests.audit.conftest import RealBundle

BIN = Path(sys.executable).parent
ORIGIN = "verifier.test/pausewatch"


@dataclass(frozen=True)
class Setup:
    work: Path
    config: Path  # the verifier's config: the real run's state and key files
    attestor_config: Path
    bundle: Path
    policy: Path
    roots: Path
    inventory: Path
    lab_key: Path


@pytest.fixture(scope="module")
def setup(real_bundle: RealBundle, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    work = tmp_path_factory.mktemp("faults")
    os.chmod(work, 0o755)
    world = real_bundle.world
    shutil.copytree(world.tmp / "state", work / "state")
    for name, signer in (
        ("log", world.log_key),
        ("challenge", world.keys.challenge),
        ("verdict", world.keys.verdict),
    ):
        write_key_file(work / "keys" / f"{name}.key", signer)  # type: ignore[arg-type]
    write_key_file(work / "keys" / "lab.key", world.lab)
    config = work / "verifier.toml"
    config.write_text(
        f'listen = "127.0.0.1:0"\nstate_dir = "state"\nmetrics_listen = ""\n'
        f'[log]\norigin = "{ORIGIN}"\nkey_file = "keys/log.key"\n'
        '[challenge]\nkey_file = "keys/challenge.key"\n[verdict]\nkey_file = "keys/verdict.key"\n'
    )
    attestor_config = work / "attestor.toml"
    attestor_config.write_text(
        'facility_id = "fac-a"\nnode_id = "node-09"\nstate_dir = "node-09"\n'
        'metrics.listen = "127.0.0.1:PORT"\n[[sources]]\nkind = "simulator"\n'
    )
    inventory = work / "inventory.toml"
    inventory.write_text('facility_id = "fac-a"\nlab_id = "lab-1"\nversion = 9\n[overhead]\nmin_ratio = 1.05\nmax_ratio = 1.6\n')
    return Setup(
        work,
        config,
        attestor_config,
        real_bundle.directory,
        real_bundle.policy,
        real_bundle.roots,
        inventory,
        work / "keys" / "lab.key",
    )


def run(argv: list[str], *, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def assert_one_clear_line(r: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """No traceback; apart from the daemon's JSON log lines, stderr is one line, with ``words``."""
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("pausewatch-"), lines
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# ------------------------------------------------------------------------ ports taken


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("flag", ["--listen", "--metrics-listen"])
def test_verifier_port_taken(setup: Setup, taken_port: int, flag: str, tmp_path: Path) -> None:
    shutil.copytree(setup.work / "state", tmp_path / "state")
    argv = [str(BIN / "pausewatch-verifier"), "serve", "--config", str(setup.config)]
    argv += ["--state-dir", str(tmp_path / "state"), flag, f"127.0.0.1:{taken_port}"]
    line = assert_one_clear_line(run(argv, cwd=tmp_path), 2, f"127.0.0.1:{taken_port}", "in use")
    assert ("metrics_listen" in line) == (flag == "--metrics-listen")


def test_attestor_metrics_port_taken(setup: Setup, taken_port: int, tmp_path: Path) -> None:
    config = tmp_path / "attestor.toml"
    config.write_text(setup.attestor_config.read_text().replace("PORT", str(taken_port)))
    r = run([str(BIN / "pausewatch-attestor"), "run", "--config", str(config)], cwd=tmp_path)
    assert_one_clear_line(r, 2, "metrics.listen", "in use")


# ------------------------------------------------- permission denied, read-only, disk full

FAULTS = {
    "denied": ("Permission denied",),
    "readonly": ("Read-only file system", "readonly database"),
    "full": ("No space left on device", "disk is full"),
}


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt && true"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return r.returncode == 0


needs_namespaces = pytest.mark.skipif(
    not _namespaces_work(), reason="unprivileged user and mount namespaces (unshare -rm) are not allowed here"
)


def run_with_fault(
    fault: str, target: Path, argv: list[str], *, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in its own user and mount namespace where ``target`` (an empty directory)
    denies this user, is read-only, or is a 4 KiB file system."""
    target.mkdir(parents=True, exist_ok=True)
    if fault == "denied":
        os.chown(target, 65534, 65534)  # a user the namespace does not map: no override applies
        os.chmod(target, 0o700)
        prep = ""
    elif fault == "readonly":
        prep = f"mount -t tmpfs -o ro,size=64k tmpfs {target} && "
    else:  # full: the little there is, taken
        prep = f"mount -t tmpfs -o size=4k tmpfs {target} && (cat /dev/zero > {target}/.fill 2>/dev/null; true) && "
    script = prep + 'exec "$@"'
    return run(["unshare", "-rm", "sh", "-c", script, "sh", *argv], cwd=cwd)


def commands(s: Setup, target: Path) -> dict[str, list[str]]:
    v, a, t = (
        str(BIN / "pausewatch-verifier"),
        str(BIN / "pausewatch-audit"),
        str(BIN / "pausewatch-attestor"),
    )
    audit = [a, "verify", str(s.bundle), "--policy", str(s.policy), "--roots", str(s.roots)]
    return {
        "export": [v, "export", "--config", str(s.config), "--out", str(target / "bundle")],
        "export --tar": [v, "export", "--config", str(s.config), "--out", str(target / "bundle"), "--tar"],
        "audit --html": [*audit, "--html", str(target / "report.html")],
        "keygen": [v, "keygen", "--out", str(target / "new.key")],
        "inventory sign": [
            v,
            "inventory",
            "sign",
            "--key",
            str(s.lab_key),
            "--in",
            str(s.inventory),
            "--out",
            str(target / "inv.env"),
        ],
        "attestor init": [t, "init", "--config", str(s.attestor_config), "--state-dir", str(target / "node")],
        "serve": [v, "serve", "--config", str(s.config), "--state-dir", str(target / "state")],
    }


COMMANDS = ["export", "export --tar", "audit --html", "keygen", "inventory sign", "attestor init", "serve"]


@needs_namespaces
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("command", COMMANDS)
def test_command_with_fault(setup: Setup, tmp_path: Path, command: str, fault: str) -> None:
    target = tmp_path / "target"
    argv = commands(setup, target)[command]
    r = run_with_fault(fault, target, argv, cwd=setup.work)
    line = assert_one_clear_line(r, 2)
    assert any(reason in line for reason in FAULTS[fault]), line


@needs_namespaces
def test_nothing_partial_is_left_and_the_retry_works(setup: Setup, tmp_path: Path) -> None:
    """A full disk stops an export and an HTML report midway: the namespace's tmpfs is gone
    afterwards, so this runs the command and lists the directory inside the same namespace."""
    target = tmp_path / "target"
    target.mkdir()
    v, a = str(BIN / "pausewatch-verifier"), str(BIN / "pausewatch-audit")
    script = (
        f"mount -t tmpfs -o size=16k tmpfs {target} && "
        f"{v} export --config {setup.config} --out {target}/bundle --tar; echo rc=$?; "
        f"{a} verify {setup.bundle} --policy {setup.policy} --roots {setup.roots} --html {target}/r.html >/dev/null;"
        " echo rc=$?; "
        f"ls -A {target}; echo listed"
    )
    r = run(["unshare", "-rm", "sh", "-c", script], cwd=setup.work)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stdout.split() == ["rc=2", "rc=2", "listed"], (r.stdout, r.stderr)  # nothing left
    # the retry, with room, succeeds at once
    r = run([v, "export", "--config", str(setup.config), "--out", str(target / "bundle")], cwd=setup.work)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------------ Ctrl-C


def started_importing(pid: int) -> bool:
    """The process is past the interpreter's own start and in the command's imports: it has
    mapped a compiled module of the environment's packages (protobuf, gRPC, cryptography …),
    which only the command's modules import, under the entry point's Ctrl-C guard."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return True  # gone (finished): nothing to wait for
    return any("site-packages" in line and ".so" in line for line in maps.splitlines())


@pytest.mark.parametrize("command", ["audit", "export"])
@pytest.mark.parametrize("delay_s", [0.0, 0.05, 0.2])
def test_ctrl_c_during_start_up(setup: Setup, tmp_path: Path, command: str, delay_s: float) -> None:
    """SIGINT while the command is still importing its modules (and a little later): no
    traceback; the documented ``interrupted`` line and exit 2, or a run that finished first.
    Export leaves no partial bundle."""
    if command == "audit":
        argv = [str(BIN / "pausewatch-audit"), "verify", str(setup.bundle), "--policy", str(setup.policy)]
        argv += ["--roots", str(setup.roots)]
    else:
        argv = [str(BIN / "pausewatch-verifier"), "export", "--config", str(setup.config)]
        argv += ["--out", str(tmp_path / "bundle")]
    proc = subprocess.Popen(argv, cwd=setup.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not started_importing(proc.pid):
        assert time.monotonic() < deadline, "the command never started importing"
        time.sleep(0.001)
    time.sleep(delay_s)  # not a wait for a result: when the signal lands is the input
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    if proc.returncode == -signal.SIGINT:
        # the signal landed in the interpreter's own start (``site`` may map a compiled module of
        # the environment before the entry point runs, which ``started_importing`` cannot tell
        # apart on a loaded machine): ended by the signal, with nothing printed
        assert err == "", err
        return
    assert proc.returncode in (0, 2), (proc.returncode, err)
    if proc.returncode == 2:
        assert err.strip().splitlines()[-1].endswith("interrupted"), err
        assert list(tmp_path.iterdir()) == []  # no partial bundle


# ------------------------------------------------------------------------ killed mid-export


def test_an_export_killed_midway_does_not_block_the_retry(setup: Setup, tmp_path: Path) -> None:
    argv = [
        str(BIN / "pausewatch-verifier"),
        "export",
        "--config",
        str(setup.config),
        "--out",
        str(tmp_path / "b"),
    ]
    proc = subprocess.Popen(argv, cwd=setup.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".b.partial-") for p in tmp_path.iterdir()):
        assert proc.poll() is None, "the export finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.kill()
    proc.wait(timeout=30)
    assert not (tmp_path / "b").exists()  # never a half-written bundle under its name
    r = run([*argv, "--json"], cwd=setup.work)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"] is True
    assert (tmp_path / "b" / "manifest.json").is_file() or any((tmp_path / "b").iterdir())
    r = run(argv, cwd=setup.work)  # the bundle is there now: never silently overwritten
    assert_one_clear_line(r, 2, "already exists", "--force")
