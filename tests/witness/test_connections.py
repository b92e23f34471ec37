"""The witness's connection guard: no client holds what the log needs.

A red team (2026-12-06): with the file descriptor limit systemd gives a service by default
(1,024), one client opening ~1,000 connections and sending nothing made the witness fail every
accept ("Too many open files", a traceback each) and the log's requests hung in the backlog.
Unit tests drive the guard with a fake clock and fake transports; the others open real sockets
against a real witness, in process and as a process under a low file descriptor limit."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pausewatch.note import Ed25519NoteSigner
from tests.witness.harness import running_witness, witness_config
from tests.witness.logs import TestLog
from tests.witness.procs import make_witness
from witness.config import Limits
from witness.connections import ConnectionCaps, ConnectionGuard, address_key


class FakeTransport(asyncio.Transport):
    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = host
        self.aborted = False
        self.protocol: asyncio.BaseProtocol | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.host, 40000) if name == "peername" else default

    def abort(self) -> None:
        if not self.aborted:
            self.aborted = True
            if self.protocol is not None:
                self.protocol.connection_lost(None)


class Inner(asyncio.Protocol):
    def __init__(self) -> None:
        self.events: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.events.append("data")

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")


class Rig:
    def __init__(self, total: int = 100, per_address: int = 3, idle_s: float = 10.0) -> None:
        self.now = 0.0
        self.refused: list[str] = []
        self.closed: list[str] = []
        self.guard = ConnectionGuard(
            ConnectionCaps(total, per_address, idle_s),
            lambda: self.now,
            refused=self.refused.append,
            closed=self.closed.append,
        )
        self.inners: list[Inner] = []

        def factory() -> Inner:
            inner = Inner()
            self.inners.append(inner)
            return inner

        self.guard.protocol_factory = factory

    def connect(self, host: str) -> FakeTransport:
        t = FakeTransport(host)
        protocol = self.guard()
        t.protocol = protocol
        protocol.connection_made(t)
        return t


def test_a_client_over_its_cap_displaces_its_own_longest_idle_connection() -> None:
    rig = Rig(per_address=3)
    mine = []
    for _ in range(3):
        mine.append(rig.connect("203.0.113.7"))
        rig.now += 1
    other = rig.connect("198.51.100.1")
    fourth = rig.connect("203.0.113.7")
    assert [t.aborted for t in mine] == [True, False, False]
    assert not fourth.aborted
    assert not other.aborted
    assert rig.closed == ["displaced"]
    assert rig.refused == []
    assert rig.guard.open == 4
    assert rig.inners[0].events == ["made", "lost"]  # aiohttp hears of it as a lost connection


def test_busy_connections_are_never_displaced_and_a_new_one_is_refused_instead() -> None:
    rig = Rig(per_address=2)
    a, b = rig.connect("203.0.113.7"), rig.connect("203.0.113.7")
    with rig.guard.handling(a):
        with rig.guard.handling(b):
            c = rig.connect("203.0.113.7")
            assert c.aborted
            assert rig.refused == ["per_address"]
            assert rig.inners[2].events == []  # aiohttp never saw it
            assert not a.aborted
            assert not b.aborted
        # b is done with its request, so idle again: the next newcomer takes its place
        rig.now += 1
        d = rig.connect("203.0.113.7")
        assert b.aborted
        assert not a.aborted
        assert not d.aborted


def test_over_the_total_cap_the_longest_idle_connection_of_anyone_goes() -> None:
    rig = Rig(total=3, per_address=10)
    old = rig.connect("198.51.100.1")
    rig.now += 1
    busy = rig.connect("198.51.100.2")
    rest = rig.connect("198.51.100.3")
    with rig.guard.handling(busy):
        rig.now += 1
        new = rig.connect("203.0.113.7")
        assert old.aborted
        assert not busy.aborted
        assert not rest.aborted
        assert not new.aborted
        with rig.guard.handling(rest), rig.guard.handling(new):
            assert rig.connect("203.0.113.8").aborted
    assert rig.refused == ["total"]
    assert len(rig.guard._count_of) == 3  # the refused client left nothing behind


def test_an_idle_connection_is_closed_after_the_idle_timeout_whatever_it_sends() -> None:
    rig = Rig(idle_s=10.0)
    quiet = rig.connect("203.0.113.7")
    trickle = rig.connect("203.0.113.8")
    working = rig.connect("203.0.113.9")
    with rig.guard.handling(working):
        for _ in range(9):
            rig.now += 1
            trickle.protocol.data_received(b"G")  # type: ignore[union-attr]  # headers, a byte a second
            assert rig.guard.sweep() == pytest.approx(10.0 - rig.now)
        rig.now += 1
        assert rig.guard.sweep() == 10.0  # none idle any more: the busy one is not
        assert quiet.aborted
        assert trickle.aborted
        assert not working.aborted
        rig.now += 60
        rig.guard.sweep()
        assert not working.aborted  # a request being handled is bounded by request_timeout_s
    rig.now += 9
    rig.guard.sweep()
    assert not working.aborted
    rig.now += 1
    rig.guard.sweep()
    assert working.aborted
    assert rig.closed == ["idle", "idle", "idle"]
    assert rig.guard.open == 0


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        (("203.0.113.7", 1), "203.0.113.7"),
        (("2001:db8:1:2:aaaa::1", 1, 0, 0), "2001:db8:1:2::/64"),
        (None, ""),  # a socket with no peer name
        ("", ""),
    ],
)
def test_a_connection_is_counted_under_its_peers_client(peer: Any, key: str) -> None:
    """The socket's peer name, as asyncio gives it, read as ``client_of`` reads addresses
    (``tests/test_addresses.py``)."""
    assert address_key(peer) == key


async def _connect_from(
    host: str, port: int, source: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port, local_addr=(source, 0))


async def _closed_by_peer(reader: asyncio.StreamReader) -> bool:
    with contextlib.suppress(ConnectionError):
        return await asyncio.wait_for(reader.read(1), 30) == b""
    return True


def test_strangers_idle_connections_leave_the_log_served(tmp_path: Path) -> None:
    """In process, real sockets: a stranger at 127.0.0.2 opens twice its cap and sends
    nothing, others fill the witness's total; the log (127.0.0.1) is answered at once, the
    stranger's oldest connections are gone, and what is left of them is closed when idle."""
    log = TestLog()
    log.grow(2)
    limits = Limits(max_connections=12, max_connections_per_address=4, idle_timeout_s=0.5)

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log], limits)) as w:
            port = int(w.url.rsplit(":", 1)[1])
            stranger = [await _connect_from("127.0.0.1", port, "127.0.0.2") for _ in range(8)]
            others = [await _connect_from("127.0.0.1", port, f"127.0.1.{i}") for i in range(1, 9)]
            for reader, _ in stranger[:4]:
                assert await _closed_by_peer(reader)
            assert (await w.post(log.request(0)))[0] == 200
            metrics = w.service.metrics
            assert metrics.connections_closed.labels("displaced")._value.get() >= 4
            # every connection left idle is closed, whatever it is
            for reader, _ in stranger[4:] + others:
                assert await _closed_by_peer(reader)
            assert metrics.connections_closed.labels("idle")._value.get() >= 1
            log.grow(1)
            assert (await w.post(log.request(2)))[0] == 200
            for _, writer in stranger + others:
                writer.close()

    asyncio.run(go())


def test_the_witness_process_under_a_low_file_descriptor_limit_keeps_serving(tmp_path: Path) -> None:
    """A real ``pausewatch-witness serve`` whose file descriptor limit is 400: it lowers its
    connection cap to what the limit leaves (saying so), and 2,000 idle connections from 40
    clients neither exhaust its descriptors (asyncio accepts many before the guard sees them:
    ``FD_RESERVE``) nor keep a request from being answered."""
    w = make_witness(
        tmp_path / "w", "w.test/fd", [("log.test/fd", Ed25519NoteSigner.generate("log.test/fd").vkey)]
    )
    w.start(fd_limit=400)
    socks = []
    try:
        for i in range(2000):
            s = socket.socket()
            s.setblocking(False)
            s.bind((f"127.0.2.{i % 40 + 1}", 0))
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", w.port))
            socks.append(s)
        with urllib.request.urlopen(f"{w.url}/healthz", timeout=30) as r:
            assert r.read() == b"ok\n"
        with urllib.request.urlopen(f"{w.url}/metrics", timeout=30) as r:
            text = r.read().decode()
        assert 'pausewatch_witness_connections_closed_total{reason="displaced"}' in text
    finally:
        for s in socks:
            s.close()
        w.stop()
    output = (tmp_path / "w" / "witness.log").read_text()
    assert "fewer connections than configured" in output
    assert '"usable": 144' in output
    assert "Too many open files" not in output, output[-2000:]
    assert "Traceback" not in output, output[-2000:]


def test_a_connection_is_kept_while_its_request_is_handled(tmp_path: Path) -> None:
    """A body that takes longer than ``idle_timeout_s`` to arrive (but less than
    ``request_timeout_s``) is answered: the connection is busy from its headers on, not idle."""
    log = TestLog()
    log.grow(2)
    limits = Limits(idle_timeout_s=0.3, request_timeout_s=30.0)

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log], limits)) as w:
            port = int(w.url.rsplit(":", 1)[1])
            body = log.request(0)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body[:10]
            )
            await writer.drain()
            # the headers are in: the handler runs, reading the body. Wait until the guard has
            # seen it busy, then well past the idle timeout, and send the rest
            for _ in range(3000):
                if not w.service.connections._idle:
                    break
                await asyncio.sleep(0.01)
            assert not w.service.connections._idle
            await asyncio.sleep(0.4)  # past idle_timeout_s: a sweep now would close an idle one
            w.service.connections.sweep()
            writer.write(body[10:])
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 30)
            assert status_line.startswith(b"HTTP/1.1 200"), status_line
            writer.close()

    asyncio.run(go())
