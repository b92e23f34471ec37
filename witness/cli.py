"""``pausewatch-witness``: a C2SP tlog-witness any party can run.

::

    pausewatch-witness init --config witness.toml      # make the witness key; print its vkey
    pausewatch-witness serve --config witness.toml [--listen H:P] [--ready-file F]
    pausewatch-witness status --config witness.toml [--json]

Exit status: 0 ok; 1 ``status`` found evidence of a log's misbehaviour (a log-signed
checkpoint inconsistent with one this witness cosigned); 2 the command could not run (bad flags
or configuration, unreadable key, state directory held by another process). Errors are one
line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final

from pausewatch.checkpoint import CosignatureSigner
from pausewatch.clock import SystemClock
from pausewatch.errors import PausewatchError
from pausewatch.files.keyfile import generate_key_file, load_key_file
from pausewatch.files.statedir import lock_state_dir
from witness.config import WitnessConfig, load_config, split_address
from witness.connections import FD_RESERVE, raise_fd_limit, usable_connections
from witness.server import WitnessService, start_http
from witness.store import WitnessStore

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_ERROR: Final = 2
_log = logging.getLogger("pausewatch.witness")


class _FieldsFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        line = f"{self.formatTime(record)} {record.levelname.lower()} {record.getMessage()}"
        return line + (" " + json.dumps(fields, sort_keys=True) if fields else "")


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_FieldsFormatter())
    root = logging.getLogger("pausewatch")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _version() -> str:
    try:
        return version("pausewatch")
    except PackageNotFoundError:
        return "unknown"


def _init(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    signer = generate_key_file(config.key_file)
    vkey = CosignatureSigner(config.name, signer, 0).verifier.vkey
    print(f"witness key: {config.key_file} (mode 0600)")
    print(f"vkey: {vkey}")
    print("policy line for the parties that trust this witness (c2sp.org/tlog-policy; put the")
    print("URL the log and the parties reach this witness at):")
    host, port = config.host_port()
    print(f"witness {config.name} {vkey} http://{host}:{port}")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    _setup_logging(args.log_level)
    config = load_config(args.config)
    if args.listen:
        split_address(args.listen, "--listen")
        config = WitnessConfig(
            config.name, config.key_file, config.state_dir, args.listen, config.logs, config.limits
        )
    if not config.logs:
        raise _CommandError(f"{args.config}: no [[logs]]: this witness would witness nothing")
    raise_fd_limit(config.limits.max_connections + FD_RESERVE)
    usable = usable_connections(config.limits.max_connections)
    if usable < config.limits.max_connections:
        _log.warning(
            "fewer connections than configured: the file descriptor limit leaves no more",
            extra={"fields": {"max_connections": config.limits.max_connections, "usable": usable}},
        )
        limits = dataclasses.replace(config.limits, max_connections=usable)
        config = dataclasses.replace(config, limits=limits)
    lock = lock_state_dir(config.state_dir, "witness")
    try:
        signer = load_key_file(config.key_file)
        store = WitnessStore(config.database)
        service = WitnessService(config, store, signer, SystemClock())
        try:
            asyncio.run(_run(service, config, args.ready_file))
        finally:
            service.close()
            store.close()
    finally:
        lock.release()
    return EXIT_OK


async def _run(service: WitnessService, config: WitnessConfig, ready_file: Path | None) -> None:
    host, port = config.host_port()
    runner, site = await start_http(service, host, port)
    bound = site.port
    vkey = service.cosigner.verifier.vkey
    _log.info(
        "witness serving",
        extra={
            "fields": {"listen": f"{host}:{bound}", "vkey": vkey, "logs": [lg.origin for lg in config.logs]}
        },
    )
    if ready_file is not None:
        tmp = ready_file.with_name(ready_file.name + ".tmp")
        tmp.write_text(f"{bound}\n")
        tmp.replace(ready_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    _log.info("witness stopping")
    await runner.cleanup()


def _status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    vkey = CosignatureSigner(config.name, load_key_file(config.key_file), 0).verifier.vkey
    held = {}
    if config.database.exists():
        store = WitnessStore(config.database, readonly=True)
        try:
            held = {s.origin: s for s in store.status()}
        finally:
            store.close()
    logs: list[dict[str, Any]] = []
    for log in config.logs:
        st = held.get(log.origin)
        logs.append(
            {
                "origin": log.origin,
                "size": 0 if st is None else st.size,
                "root": None if st is None or not st.size else base64.b64encode(st.root).decode(),
                "updated_unix_ns": 0 if st is None else st.updated_ns,
                "cosigned": 0 if st is None else st.cosigned,
                "evidence": 0 if st is None else st.evidence,
            }
        )
    alarm = any(entry["evidence"] for entry in logs)
    if args.json:
        print(
            json.dumps({"name": config.name, "vkey": vkey, "logs": logs, "evidence_of_misbehaviour": alarm})
        )
    else:
        print(f"witness {config.name}  vkey {vkey}")
        for entry in logs:
            print(
                f"  {entry['origin']}: size {entry['size']}, {entry['cosigned']} cosigned,"
                f" {entry['evidence']} evidence"
            )
        if alarm:
            print("EVIDENCE: a log signed a checkpoint inconsistent with one this witness cosigned")
    return EXIT_FAILED if alarm else EXIT_OK


class _CommandError(PausewatchError):
    """The command could not run (exit 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pausewatch-witness",
        description="A C2SP tlog-witness: cosigns a log's checkpoints when they extend what it saw"
        " before, and keeps every checkpoint it cosigned. Configuration: docs/witness.md.",
    )
    parser.add_argument("--version", action="version", version=f"pausewatch-witness {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("init", help="make the witness key (mode 0600) and print its vkey")
    p.add_argument("--config", type=Path, required=True, help="TOML configuration (name, key_file)")
    p.set_defaults(run=_init)
    p = sub.add_parser("serve", help="serve add-checkpoint and the read endpoints until SIGTERM")
    p.add_argument("--config", type=Path, required=True, help="TOML configuration")
    p.add_argument("--listen", help="host:port (overrides the config; port 0 picks one)")
    p.add_argument("--ready-file", type=Path, help="write the bound port here once serving")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(run=_serve)
    p = sub.add_parser("status", help="what this witness holds per log; exit 1 if it holds evidence")
    p.add_argument("--config", type=Path, required=True, help="TOML configuration")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(run=_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code) if isinstance(e.code, int) else EXIT_OK
    try:
        code: int = args.run(args)
    except PausewatchError as e:
        print(f"pausewatch-witness: {args.command}: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
    except OSError as e:
        print(f"pausewatch-witness: {args.command}: {e}", file=sys.stderr)
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
