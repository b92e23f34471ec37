"""Row 8 of issue 12: idle connections, against a real ``pausewatch-verifier serve`` process.

Before: 20,100 idle TCP connections exhausted the verifier's file descriptors, and honest
clients then failed. Now ``limits.max_connections`` caps open connections (core closes one
past the cap at accept), a connection that has not finished its TLS / HTTP/2 set-up within
``limits.handshake_timeout_s`` is closed, and so is one without a call for
``limits.connection_idle_s``. The flood here is bounded (a few hundred sockets on 127.0.0.1)
and every wait is for something observable (a socket closed by the server, a file
descriptor count, a channel state), each under a generous bound that is not a measurement.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc

from pausewatch.files.keyfile import generate_key_file
from pausewatch.v1 import verifier_pb2, verifier_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
CAP = 24
FLOOD = 300
BOUND_S = 60.0  # generous bound on each wait: the test fails, it does not hang


def _serve(tmp: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    for name in ("log", "challenge", "verdict"):
        generate_key_file(tmp / f"{name}.key")
    lab = generate_key_file(tmp / "lab.key").public_key.raw
    cfg = tmp / "verifier.toml"
    cfg.write_text(
        f"""
listen = "127.0.0.1:0"
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
[limits]
frontends = 0  # one process: the cap is per process (each front-end holds its share of it)
max_connections = {CAP}
handshake_timeout_s = 5.0
connection_idle_s = 5.0
[[labs]]
lab_id = "lab"
public_keys = ["{base64.b64encode(lab).decode()}"]
facilities = ["fac-a"]
"""
    )
    ready, log = tmp / "ready", tmp / "verifier.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "verifier.cli", "serve", "--config", str(cfg), "--ready-file", str(ready)],
            cwd=REPO,
            stderr=err,
        )
    deadline = time.monotonic() + BOUND_S
    while not ready.exists():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return proc, int(ready.read_text()), log


def _sockets_of(pid: int) -> int:
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # closed while we looked
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    return n


def _wait_closed_by_server(socks: list[socket.socket], want: int) -> set[int]:
    """Wait until ``want`` of ``socks`` have been closed by the server (EOF or reset); return
    their positions in ``socks``."""
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
    closed: set[int] = set()
    deadline = time.monotonic() + BOUND_S
    while len(closed) < want:
        assert time.monotonic() < deadline, f"only {len(closed)} of {want} connections closed by the server"
        for key, _ in sel.select(timeout=1.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(4096)
            except ConnectionError:
                data = b""
            if not data:  # EOF: the server closed it (a non-empty read would be its HTTP/2 preface)
                sel.unregister(sock)
                closed.add(key.data)
    sel.close()
    return closed


def test_idle_connections_are_capped_and_reaped(tmp_path: Path) -> None:
    proc, port, log = _serve(tmp_path)
    flood: list[socket.socket] = []
    try:
        baseline = _sockets_of(proc.pid)
        for _ in range(FLOOD):  # raw TCP: connect, then say nothing
            flood.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        # past the cap, each new connection is closed at accept: the ones after the first CAP,
        # while the first CAP are still open (a timeout would close the oldest first)
        assert _wait_closed_by_server(flood, FLOOD - CAP) == set(range(CAP, FLOOD))
        assert _sockets_of(proc.pid) <= baseline + CAP + 2
        # the held ones never finish their handshake: closed by the handshake timeout
        _wait_closed_by_server(flood, FLOOD)
        assert _sockets_of(proc.pid) <= baseline + 2
        assert proc.poll() is None

        async def honest() -> None:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = verifier_pb2_grpc.VerifierStub(channel)
                challenge = await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=10)
                assert challenge.envelope
                # an idle HTTP/2 connection is closed by the server (GOAWAY): the channel goes idle
                state = channel.get_state()
                assert state is grpc.ChannelConnectivity.READY
                await asyncio.wait_for(channel.wait_for_state_change(state), BOUND_S)
                assert channel.get_state() is not grpc.ChannelConnectivity.READY
                # and reconnects for the next call
                assert (await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=10)).envelope

        asyncio.run(honest())
    finally:
        for s in flood:
            s.close()
        proc.terminate()
        proc.wait(30)
    assert "Traceback" not in log.read_text()
