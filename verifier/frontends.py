"""``serve`` with front-ends: the core process, its front-end processes, and their supervisor.

The process that ``serve`` starts is the *core*: it holds the state directory, the storage,
the sequencer (timer-batched: ``limits.sequencer_min_tick_s``, ``sequencer_busy_tick_s`` under
concurrent load, ``sequencer_max_batch``; one commit, one fsync and one checkpoint per tick),
challenges, evaluation, witnesses, webhooks and metrics, and serves its front-ends on
``STATE_DIR/core.sock`` (:mod:`verifier.server`, :mod:`verifier.frontend_link`). It spawns
``limits.frontends`` front-end processes (:mod:`verifier.frontend`), which share the public
port with ``SO_REUSEPORT``.

The port: the core binds a socket with ``SO_REUSEPORT`` to the configured address first and
holds it, never listening, for as long as it runs: port 0 becomes one concrete port that
every front-end binds, and the port stays this service's while a front-end restarts.

Supervision: the core checks its front-ends every 0.1 s. One that died (a crash, SIGKILL, the
OOM killer) is logged with its exit status and started again; its callers' calls in flight
fail (UNAVAILABLE) and are retried by them, and nothing it had receipted is lost — a receipt
is only sent after the core's COMMIT. More than ``_MAX_RESTARTS`` restarts within
``_RESTART_WINDOW_S``: the service stops and ``serve`` exits 1, for systemd to restart it
whole. The core dying (SIGKILL included) ends the service: each front-end sees its ``Follow``
stream end, or its parent change, and exits; systemd restarts ``serve``, whose start-up
checks the log against the checkpoint file as after any crash.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from pausewatch.errors import EnvironmentFaultError, PausewatchError
from verifier.cli import setup_logging
from verifier.config import VerifierConfig
from verifier.frontend import run_frontend

__all__ = ["Frontends", "FrontendsFailedError", "reserve_port"]

_log = logging.getLogger("pausewatch.verifier.frontends")
_READY_S: Final = 60.0  # a front-end's start, imports included (a loaded machine)
_CHECK_S: Final = 0.1
_MAX_RESTARTS: Final = 5
_RESTART_WINDOW_S: Final = 60.0
_STOP_S: Final = 10.0


class FrontendsFailedError(EnvironmentFaultError):
    """The front-ends keep dying, or could not start: the service stops (exit 1)."""


def reserve_port(listen: str) -> tuple[socket.socket, str]:
    """Bind ``listen`` (host:port, port 0 for any) with SO_REUSEPORT and hold it; return the
    socket and the address every front-end binds (the concrete port)."""
    host, _, port = listen.rpartition(":")
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((bare, int(port)))
    except (OSError, ValueError) as e:
        sock.close()
        raise EnvironmentFaultError(f"cannot listen on {listen}: {getattr(e, 'strerror', None) or e}") from e
    bound = sock.getsockname()[1]
    return sock, f"{host}:{bound}"


def _child(
    *, config: VerifierConfig, address: str, core_socket: Path, share: int, level: str, conn: Connection
) -> None:
    """A front-end process's entry point (spawned: a fresh interpreter)."""
    setup_logging(level)
    try:
        code = run_frontend(config, address, core_socket, share, ready=conn.send)
    except PausewatchError as e:
        _log.error("front-end failed: %s", e)
        code = 1
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)


@dataclass
class _Frontend:
    index: int
    process: Any  # multiprocessing.Process (spawn context)
    started: float


class Frontends:
    """``count`` front-end processes on ``address``, supervised (the module docstring)."""

    def __init__(
        self, count: int, config: VerifierConfig, address: str, core_socket: Path, log_level: str
    ) -> None:
        self._count = count
        self._config = config
        self._address = address
        self._socket = core_socket
        self._level = log_level
        self._ctx = multiprocessing.get_context("spawn")
        self._running: list[_Frontend] = []
        self._restarts: collections.deque[float] = collections.deque()
        self.restarted = 0

    @property
    def pids(self) -> list[int]:
        return [f.process.pid for f in self._running]

    async def start(self) -> None:
        """Start every front-end and wait until each serves; FrontendsFailedError if one cannot."""
        started = await asyncio.gather(*(self._spawn(i) for i in range(self._count)), return_exceptions=True)
        self._running = [f for f in started if isinstance(f, _Frontend)]
        failed = [e for e in started if isinstance(e, BaseException)]
        if failed:
            await self.stop()
            raise failed[0]

    async def _spawn(self, index: int) -> _Frontend:
        receive, send = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_child,
            kwargs={
                "config": self._config,
                "address": self._address,
                "core_socket": self._socket,
                "share": self._count,
                "level": self._level,
                "conn": send,
            },
            name=f"pausewatch-frontend-{index}",
        )
        process.start()
        send.close()
        try:
            ready = await asyncio.to_thread(receive.poll, _READY_S)
            port = receive.recv() if ready else None
        except (EOFError, OSError):
            port = None
        finally:
            receive.close()
        if port is None:
            process.kill()
            await asyncio.to_thread(process.join, _STOP_S)
            raise FrontendsFailedError(
                f"front-end {index} did not start (exit status {process.exitcode}); see its log above"
            )
        _log.info(
            "front-end serving", extra={"frontend": index, "pid": process.pid, "address": self._address}
        )
        return _Frontend(index, process, time.monotonic())

    async def supervise(self) -> None:
        """Restart front-ends that die; raise FrontendsFailedError when they keep dying."""
        while True:
            await asyncio.sleep(_CHECK_S)
            for i, f in enumerate(self._running):
                if f.process.is_alive():
                    continue
                _log.error(
                    "front-end died; starting it again",
                    extra={"frontend": f.index, "pid": f.process.pid, "exit_status": f.process.exitcode},
                )
                now = time.monotonic()
                self._restarts.append(now)
                while self._restarts and self._restarts[0] < now - _RESTART_WINDOW_S:
                    self._restarts.popleft()
                if len(self._restarts) > _MAX_RESTARTS:
                    raise FrontendsFailedError(
                        f"front-ends died {len(self._restarts)} times in {_RESTART_WINDOW_S:.0f} s;"
                        " stopping the service"
                    )
                self._running[i] = await self._spawn(f.index)
                self.restarted += 1

    async def stop(self) -> None:
        """SIGTERM every front-end (each finishes its calls in flight), then wait; SIGKILL
        what is still running after ``_STOP_S``."""
        for f in self._running:
            if f.process.is_alive():
                f.process.terminate()
        for f in self._running:
            await asyncio.to_thread(f.process.join, _STOP_S)
            if f.process.is_alive():
                _log.error("front-end did not stop; killing it", extra={"pid": f.process.pid})
                f.process.kill()
                await asyncio.to_thread(f.process.join, _STOP_S)
        self._running = []
