"""``pausewatch-witness`` as a real process: init (the real command), serve on port 0, status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_START_TIMEOUT_S = 30.0


def witness_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# sets RLIMIT_NOFILE to argv[1] and executes the rest of the command line
_WITH_FD_LIMIT = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); os.execv(sys.argv[2], sys.argv[2:])"
)


@dataclass
class WitnessProcess:
    directory: Path
    name: str
    vkey: str
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def config(self) -> Path:
        return self.directory / "witness.toml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, fd_limit: int | None = None) -> None:
        """Start ``serve``; with ``fd_limit``, under that file descriptor limit (soft and hard),
        set by a launcher that then executes it. Not a ``preexec_fn`` (code run between ``fork``
        and ``exec``): the suite's process has threads (gRPC's, the scenario library's feeder),
        which that is unsafe beside, and once under load the child died with SIGABRT before
        serving, its log holding gRPC's "epoll_wait error: Bad file descriptor", though the
        witness never loads gRPC (2026-12-08)."""
        ready = self.directory / "port"
        ready.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "witness.cli", "serve", "--config", str(self.config), "--ready-file", str(ready)]
        if fd_limit is not None:
            argv = [sys.executable, "-c", _WITH_FD_LIMIT, str(fd_limit), *argv]
        log = (self.directory / "witness.log").open("ab")
        self.proc = subprocess.Popen(
            argv, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        log.close()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not ready.exists():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"witness exited {self.proc.returncode}: {(self.directory / 'witness.log').read_text()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError("witness did not start in time")
            time.sleep(0.02)
        self.port = int(ready.read_text())

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def status(self) -> tuple[int, dict[str, object]]:
        done = witness_cli("status", "--config", str(self.config), "--json")
        return done.returncode, json.loads(done.stdout)


def make_witness(directory: Path, name: str, logs: list[tuple[str, str]]) -> WitnessProcess:
    """Write the config and make the key with the real ``pausewatch-witness init``."""
    directory.mkdir(parents=True, exist_ok=True)
    text = f'name = "{name}"\nlisten = "127.0.0.1:0"\nstate_dir = "state"\nkey_file = "witness.key"\n'
    for origin, vkey in logs:
        text += f'\n[[logs]]\norigin = "{origin}"\nvkey = "{vkey}"\n'
    (directory / "witness.toml").write_text(text)
    done = witness_cli("init", "--config", str(directory / "witness.toml"))
    assert done.returncode == 0, done.stderr
    vkey = next(line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("vkey: "))
    return WitnessProcess(directory, name, vkey)
