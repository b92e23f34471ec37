"""``pausewatch-witness`` as a real process: init (the real command), serve on port 0, status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
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

    def start(self, preexec_fn: Callable[[], None] | None = None) -> None:
        """Start ``serve``; ``preexec_fn`` runs in the child first (a resource limit)."""
        ready = self.directory / "port"
        ready.unlink(missing_ok=True)
        log = (self.directory / "witness.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "witness.cli",
                "serve",
                "--config",
                str(self.config),
                "--ready-file",
                str(ready),
            ],
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=preexec_fn,  # noqa: PLW1509 -- a test's own child, started from one thread
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
