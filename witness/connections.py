"""Connections to the witness's HTTP port, admitted within caps so that no client can hold what
the log needs.

A connection costs the witness a file descriptor from the moment it is accepted, before any
request on it is read; a client that opens connections and sends nothing (or sends headers a
byte at a time) would otherwise hold them until the process can accept no more — and then the
log's own requests wait in the kernel's backlog, unanswered. So each accepted connection is
either *busy* (a request on it is being handled) or *idle* (accepted, or done with its last
request, and no request started since):

- an idle connection is closed ``idle_timeout_s`` after it became idle, whatever bytes trickle
  in: a request's headers must arrive within that time (the body then has
  ``request_timeout_s``, as before);
- a client (an IPv4 address, or an IPv6 /64: one host's whole allotment) holds at most
  ``max_connections_per_address``, and the witness at most ``max_connections`` (lowered to what
  the process's file descriptor limit leaves, ``usable_connections``). A connection over either
  cap takes the place of that client's (or anyone's) connection that has been idle longest; it
  is refused only where every connection under the cap is busy. A new connection is the last
  to be displaced, so a log that connects and sends its request at once is served however many
  idle connections strangers hold. What they can hold busy is bounded by the caps and by time
  (a body must arrive, and be answered, within ``request_timeout_s``); many addresses together
  can still take turns with the log for the total — cheaply over IPv6, where one routed /48
  holds 65,536 /64 "clients".

A connection is idle again once its handler returns, while aiohttp writes the response: a
witness's answers are a line or a note, written at once, but a reader too slow to take them
within ``idle_timeout_s`` loses them.

The guard wraps each connection's protocol (aiohttp's request handler) and passes every event
through; ``GuardedSite`` is aiohttp's ``TCPSite`` with the guard in the accept path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from pausewatch.addresses import PerClient, client_of

__all__ = [
    "ConnectionCaps",
    "ConnectionGuard",
    "GuardedSite",
    "address_key",
    "middleware",
    "raise_fd_limit",
    "usable_connections",
]

_log = logging.getLogger("pausewatch.witness")

# the listening socket's backlog, which is also how many connections asyncio accepts in one
# pass of its loop whenever the socket is readable
BACKLOG = 32
# file descriptors kept back from connections. A connection's descriptor is open from its
# accept, before the guard sees it: asyncio makes its transport one pass later, calls
# ``connection_made`` (the guard's decision) the pass after, and closes a refused or displaced
# one the pass after that, and under a flood it accepts a round of ``BACKLOG`` on every pass —
# so up to four rounds wait on the guard, and a round of displaced ones on their close (a
# reviewer measured the flood: with one round kept back, 2,000 idle connections at a limit of
# 400 made 209 accepts fail). Six rounds, and 64 for the database and its journal, the log
# stream, the listening socket and the executor's pipes.
FD_RESERVE = 6 * BACKLOG + 64


@dataclass(frozen=True)
class ConnectionCaps:
    max_connections: int
    max_per_address: int
    idle_timeout_s: float


def raise_fd_limit(wanted: int) -> None:
    """Raise the process's soft file descriptor limit towards ``wanted``, within the hard one,
    where the process may (systemd's ``LimitNOFILE=`` sets both; a seccomp filter refusing
    ``setrlimit`` leaves it as it is)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and target > soft:
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def usable_connections(configured: int, reserve: int = FD_RESERVE) -> int:
    """``configured`` connections, or fewer where the process's soft file descriptor limit
    would run out first (``reserve`` kept back)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - reserve))


def address_key(peer: Any) -> str:
    """Whose connection this is (``client_of`` the peer's address); a peer the socket cannot
    name as an IP address (a Unix socket) is ""."""
    host = peer[0] if isinstance(peer, tuple) and peer else None
    return (client_of(host) or "") if isinstance(host, str) else ""


class _Connection(asyncio.Protocol):
    """One accepted connection: the guard's record of it, and aiohttp's protocol behind it."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.tid = 0  # id() of the transport: what a request's handler can look it up by
        self.key = ""
        self.busy = 0
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.tid = id(transport)
        self.key = address_key(transport.get_extra_info("peername"))
        if not self.guard._admit(self):
            self.transport.abort()
            return
        self.admitted = True
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.admitted:
            self.guard._forget(self)
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.admitted:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def close(self, reason: str) -> None:
        """Abort the connection: its place under the caps is freed at once, its descriptor when
        asyncio closes it (a pass of the loop later); aiohttp hears of it as a lost one."""
        self.guard._forget(self)
        self.guard.closed(reason)
        if self.transport is not None:
            self.transport.abort()


class ConnectionGuard:
    """Admits, tracks and closes the witness's connections (the module's docstring says how).

    ``protocol_factory``: what each connection's events go to (aiohttp's server; ``GuardedSite``
    sets it). ``now``: a monotonic clock in seconds. ``refused(reason)`` and ``closed(reason)``
    count what the guard did, for the metrics."""

    def __init__(
        self,
        caps: ConnectionCaps,
        now: Callable[[], float],
        refused: Callable[[str], None] = lambda _: None,
        closed: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.protocol_factory: Callable[[], asyncio.Protocol] | None = None
        self.caps = caps
        self._now = now
        self.refused = refused
        self.closed = closed
        self._by_transport: dict[int, _Connection] = {}
        # idle connections in the order they became idle (the longest idle first), overall and
        # per client, with the time each became idle
        self._idle: OrderedDict[_Connection, float] = OrderedDict()
        self._idle_of: defaultdict[str, OrderedDict[_Connection, float]] = defaultdict(OrderedDict)
        self._count_of = PerClient()

    def __call__(self) -> asyncio.Protocol:
        if self.protocol_factory is None:
            raise RuntimeError("the connection guard serves no site yet")
        return _Connection(self, self.protocol_factory())

    @property
    def open(self) -> int:
        return len(self._by_transport)

    def _admit(self, conn: _Connection) -> bool:
        key = conn.key
        if self._count_of[key] >= self.caps.max_per_address:
            victims = self._idle_of.get(key)
            if not victims:
                self.refused("per_address")
                return False
            next(iter(victims)).close("displaced")
        if len(self._by_transport) >= self.caps.max_connections:
            if not self._idle:
                self.refused("total")
                return False
            next(iter(self._idle)).close("displaced")
        self._by_transport[conn.tid] = conn
        self._count_of.add(key)
        self._set_idle(conn)
        return True

    def _forget(self, conn: _Connection) -> None:
        if self._by_transport.pop(conn.tid, None) is None:
            return
        self._unset_idle(conn)
        self._count_of.remove(conn.key)

    def _set_idle(self, conn: _Connection) -> None:
        at = self._now()
        self._idle[conn] = at
        self._idle_of[conn.key][conn] = at

    def _unset_idle(self, conn: _Connection) -> None:
        self._idle.pop(conn, None)
        mine = self._idle_of.get(conn.key)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self._idle_of[conn.key]

    @contextlib.contextmanager
    def handling(self, transport: asyncio.BaseTransport | None) -> Iterator[None]:
        """A request on ``transport`` is being handled: its connection is busy meanwhile."""
        conn = self._by_transport.get(id(transport)) if transport is not None else None
        if conn is None:
            yield
            return
        conn.busy += 1
        self._unset_idle(conn)
        try:
            yield
        finally:
            conn.busy -= 1
            if conn.busy == 0 and id(transport) in self._by_transport:
                self._set_idle(conn)

    def sweep(self) -> float:
        """Close the connections idle for ``idle_timeout_s``; the seconds until the next may be
        due (the timeout itself when none is idle)."""
        limit = self.caps.idle_timeout_s
        now = self._now()
        while self._idle:
            conn, since = next(iter(self._idle.items()))
            if now - since < limit:
                return since + limit - now
            self._unset_idle(conn)
            conn.close("idle")
        return limit

    async def run(self) -> None:
        """Sweep for as long as the server runs (a failed sweep is logged, and the next one
        comes a second later)."""
        while True:
            try:
                wait = self.sweep()
            except Exception:
                _log.exception("the connection sweep failed")
                wait = 1.0
            await asyncio.sleep(max(0.01, wait))


def middleware(guard: ConnectionGuard) -> Middleware:
    """An aiohttp middleware that marks a request's connection busy while it is handled."""

    @web.middleware
    async def busy(request: web.Request, handler: Handler) -> web.StreamResponse:
        with guard.handling(request.transport):
            return await handler(request)

    return busy


class GuardedSite(web.BaseSite):
    """aiohttp's ``TCPSite`` (host, port, ``SO_REUSEADDR``) with ``guard`` in its accept path,
    in front of the runner's own server; the app must carry ``middleware(guard)``."""

    __slots__ = ("_guard", "_host", "_port", "_sweeper")

    def __init__(self, runner: web.BaseRunner, guard: ConnectionGuard, host: str, port: int) -> None:
        super().__init__(runner)
        self._guard = guard
        self._host = host
        self._port = port
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        server = self._server
        sockets = getattr(server, "sockets", None) or ()
        return int(sockets[0].getsockname()[1]) if sockets else self._port

    async def start(self) -> None:
        await super().start()
        self._guard.protocol_factory = self._runner.server
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard, self._host, self._port, backlog=BACKLOG, reuse_address=True
        )
        self._sweeper = loop.create_task(self._guard.run(), name="witness-connection-sweeper")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await super().stop()
