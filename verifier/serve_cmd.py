"""``pausewatch-verifier serve``: run the verifier until SIGTERM or SIGINT.

``limits.frontends`` (default: one per CPU but one) front-end processes admit reports and one core
process sequences them (:mod:`verifier.frontends`); ``limits.frontends = 0`` runs everything
in one process, as before.

Readiness: once the gRPC port is bound and the first challenge is logged it writes
``--ready-file`` (the port) and tells systemd ``READY=1`` when ``NOTIFY_SOCKET`` is set
(:mod:`pausewatch.files.sd_notify`; the unit is ``Type=notify``); ``STOPPING=1`` on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from pausewatch.files.sd_notify import ServiceNotifier
from verifier.cli import EXIT_FAILED, EXIT_OK, setup_logging
from verifier.config import check_exposure, load_config, with_overrides
from verifier.frontend import server_credentials
from verifier.frontend_link import CORE_SOCKET
from verifier.frontends import Frontends, FrontendsFailedError, reserve_port
from verifier.server import build_server, standard_background

__all__ = ["register", "serve"]

_log = logging.getLogger("pausewatch.verifier")
_SWITCH_INTERVAL_S = 0.0005


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the verifier service",
        description="Run the verifier: gRPC ingest, Merkle log, challenges, evaluation (signed"
        " verdicts), webhooks, metrics."
        " Configuration: TOML file, then PAUSEWATCH_VERIFIER_* environment, then these flags."
        " Stops gracefully on SIGTERM or SIGINT.",
    )
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument("--listen", help="gRPC host:port (overrides the config)")
    p.add_argument("--state-dir", type=Path, help="state directory (overrides the config)")
    p.add_argument("--metrics-listen", help='Prometheus host:port, "" to disable (overrides the config)')
    p.add_argument("--ready-file", type=Path, help="write the bound gRPC port here once serving")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(run=serve)


def serve(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    # The event loop, gRPC's poller, the admission threads and the writer share one GIL, and
    # each libsodium or SQLite call gives it up; taking it back waits for the holder's switch
    # interval (5 ms by default). Measured (bench ingest, 2 CPUs): the writer spent ~1 ms of
    # wall time per report for ~0.1 ms of work, and accepted reports/s rose ~850 -> ~1200 at
    # 0.5 ms. The verifier process only: in-process tests keep Python's default.
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    config = with_overrides(
        load_config(args.config),
        listen=args.listen,
        state_dir=args.state_dir,
        metrics_listen=args.metrics_listen,
    )
    check_exposure(config)  # plaintext only on loopback, unless allow_plaintext says so
    if config.tls is None and config.allow_plaintext:
        _log.warning("serving plaintext gRPC (allow_plaintext = true)", extra={"address": config.listen})
    count = config.limits.frontends
    if count is None:  # one CPU is the core's: on 2 CPUs one front-end beat two (docs/scale.md)
        count = max(1, len(os.sched_getaffinity(0)) - 1)
    if count == 0:
        return asyncio.run(_serve(config, args.ready_file))
    return asyncio.run(_serve_frontends(config, args.ready_file, count, args.log_level))


async def _serve(config: Any, ready_file: Path | None) -> int:
    notifier = ServiceNotifier.from_environment()
    notifier.notify("STATUS=opening the state directory and keys")
    server = build_server(config, background=standard_background(config))
    stop = _stop_on_signal()
    try:
        await server.start()
    except BaseException:
        await server.stop(grace=0)
        raise
    _ready(notifier, config, server.port, ready_file)
    await stop.wait()
    notifier.notify("STOPPING=1", "STATUS=stopping: finishing calls in flight")
    _log.info("stopping on signal")
    await server.stop(grace=5.0)
    return EXIT_OK


async def _serve_frontends(config: Any, ready_file: Path | None, count: int, log_level: str) -> int:
    """The core (this process) and ``count`` supervised front-ends (verifier.frontends)."""
    notifier = ServiceNotifier.from_environment()
    notifier.notify("STATUS=opening the state directory and keys")
    if config.tls is not None:
        server_credentials(config)  # a bad key file stops serve here (exit 2), not in a front-end
    held, address = reserve_port(config.listen)
    try:
        server = build_server(
            config,
            background=standard_background(config),
            core_socket=Path(config.state_dir) / CORE_SOCKET,
        )
    except BaseException:
        held.close()
        raise
    server.public_port = int(address.rpartition(":")[2])  # what the start-up line names
    stop = _stop_on_signal()
    frontends = Frontends(count, config, address, Path(config.state_dir) / CORE_SOCKET, log_level)
    code = EXIT_OK
    try:
        await server.start()
        notifier.notify(f"STATUS=starting {count} front-ends")
        await frontends.start()
        _ready(notifier, config, int(address.rpartition(":")[2]), ready_file)
        supervise = asyncio.create_task(frontends.supervise(), name="supervise-frontends")
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({supervise, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if supervise.done():
            supervise.result()  # FrontendsFailedError
        supervise.cancel()
        _log.info("stopping on signal")
    except FrontendsFailedError as e:
        _log.error("%s", e)
        code = EXIT_FAILED
    finally:
        notifier.notify("STOPPING=1", "STATUS=stopping: finishing calls in flight")
        await frontends.stop()  # first: their calls in flight still need the core
        await server.stop(grace=5.0)
        held.close()
    return code


def _stop_on_signal() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _ready(notifier: ServiceNotifier, config: Any, port: int, ready_file: Path | None) -> None:
    _log.info("listening", extra={"address": config.listen, "port": port, "state_dir": str(config.state_dir)})
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(f"{port}\n", encoding="ascii")
        tmp.replace(ready_file)
    # systemd (Type=notify): serving now; `systemctl start` returns
    notifier.notify("READY=1", f"STATUS=serving on port {port}")
