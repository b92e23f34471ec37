"""``pausewatch-verifier serve`` tells systemd when it is ready (``Type=notify``): a real
process, ``NOTIFY_SOCKET`` pointing at a datagram socket of the test. ``READY=1`` comes once
the port answers; SIGTERM brings ``STOPPING=1`` and exit 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from verifier.cli import main

BIN = Path(sys.executable).parent


def test_ready_and_stopping_over_notify_socket(tmp_path: Path) -> None:
    for name in ("log", "challenge", "verdict"):
        extra = ["--name", "verifier.test/notify"] if name == "log" else []
        assert main(["keygen", "--out", str(tmp_path / f"{name}.key"), *extra]) == 0
    (tmp_path / "verifier.toml").write_text(
        'listen = "127.0.0.1:0"\nstate_dir = "state"\nmetrics_listen = ""\n'
        '[log]\norigin = "verifier.test/notify"\nkey_file = "log.key"\n'
        '[challenge]\nkey_file = "challenge.key"\n[verdict]\nkey_file = "verdict.key"\n'
    )
    with (
        tempfile.TemporaryDirectory(dir="/tmp") as short,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
    ):
        address = os.path.join(short, "notify")  # AF_UNIX paths are short: not under tmp_path
        sock.bind(address)
        sock.settimeout(60)
        env = {**os.environ, "NOTIFY_SOCKET": address}
        proc = subprocess.Popen(
            [str(BIN / "pausewatch-verifier"), "serve", "--config", str(tmp_path / "verifier.toml")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            messages = []
            while not any(b"READY=1" in m for m in messages):
                messages.append(sock.recv(4096))  # times out (fails) if READY=1 never comes
            ready = next(m for m in messages if b"READY=1" in m).decode()
            port = int(ready.split("serving on port ")[1].split()[0])
            with socket.create_connection(("127.0.0.1", port), timeout=10):
                pass  # the port answers once READY=1 is said
            proc.send_signal(signal.SIGTERM)
            stopping = sock.recv(4096)
            assert b"STOPPING=1" in stopping
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)
