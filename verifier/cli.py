"""``pausewatch-verifier``: the verifier's command line.

Subcommands (each module's ``register(subparsers)`` adds its own; add a module to
:data:`COMMAND_MODULES` with one line)::

    pausewatch-verifier serve --config verifier.toml [--listen H:P] [--state-dir D] [--metrics-listen H:P]
    pausewatch-verifier keygen --out FILE [--name NAME]
    pausewatch-verifier inventory sign --key LABKEY [--key ...] --in inventory.toml --out FILE [--force]
    pausewatch-verifier inventory submit --address H:P --in inventory.env [TLS flags]
    pausewatch-verifier commitment submit --address H:P --in commitment.env [TLS flags]
    pausewatch-verifier terms sign|submit|show ...   (multilateral terms: docs/terms.md)
    pausewatch-verifier export --config verifier.toml --out BUNDLE [--tar] [--force] [slice filters]
    pausewatch-verifier scrub --config verifier.toml
    pausewatch-verifier verdicts --address H:P --verdict-key KEY [--commitment ID] [--facility ID]
        [--from TIME] [--to TIME] [--status S]   (signed verdicts, signatures verified)

Exit status: 0 ok; 1 the check or submission failed (the server rejected it); 2 the command
could not run (bad flags, configuration error, unreadable or unwritable file, a port in use,
server unreachable, Ctrl-C). Errors are one line on stderr; ``--json`` prints one JSON object
on stdout, on error ``{"ok": false, "command", "exit_code", "error"}``. The conventions every
command follows (times, ``--force``, plaintext warnings, logs): ``docs/cli.md``.

A command module's ``register(subparsers)`` adds parsers and sets ``run`` (``Namespace ->
int``) with ``parser.set_defaults(run=...)``. ``run`` may raise: ``ConfigError`` and other
``InputError`` of the operator's own inputs exit 2 via :class:`CommandError`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from pausewatch.entrypoint import describe_os_error, version_text
from pausewatch.errors import EnvironmentFaultError, InputError, PausewatchError
from pausewatch.logs import setup_json_logging

__all__ = [
    "COMMAND_MODULES",
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_OK",
    "CheckFailedError",
    "CommandError",
    "emit",
    "main",
    "setup_logging",
    "write_output",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_ERROR: Final = 2

COMMAND_MODULES: Final = (
    "verifier.serve_cmd",
    "verifier.admin_cmd",
    "verifier.commitment_cli",
    "verifier.terms_cli",
    "verifier.export",
    "verifier.scrub_cmd",
    "verifier.verdicts_cmd",
    "verifier.witnesses",
)
"""Modules with a ``register(subparsers)`` function; one line each."""


class CommandError(PausewatchError):
    """The command could not run (exit 2)."""


class CheckFailedError(PausewatchError):
    """The command ran and what it checked or submitted failed (exit 1)."""


def setup_logging(level: str = "info") -> None:
    """The daemon's logs in the one format of every pausewatch daemon (:mod:`pausewatch.logs`)."""
    setup_json_logging(level)


def write_output(path: Path, data: bytes, *, force: bool = False, mode: int = 0o644) -> None:
    """Write a command's output file whole or not at all: into a temporary file beside it,
    then moved into place. An existing file is refused unless ``force`` (``--force``)."""
    if path.exists() and not force:
        raise CommandError(f"{path}: already exists; refusing to overwrite it (pass --force)")
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the file appeared meanwhile: never overwritten
    except FileExistsError as e:
        raise CommandError(f"{path}: already exists; refusing to overwrite it (pass --force)") from e
    except OSError as e:
        raise CommandError(f"{path}: cannot write: {e.strerror}") from e
    finally:
        tmp.unlink(missing_ok=True)


def emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    """Print ``result`` as JSON with ``--json``, else ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(result, sort_keys=True))
    elif text:
        print(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pausewatch-verifier",
        description="The pausewatch verifier: ingest, Merkle log, challenges, registry.",
        epilog="Exit status: 0 ok, 1 check or submission failed, 2 could not run.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version_text()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # gRPC core's own log lines on stderr (e.g. a failed bind) would duplicate the one-line
    # errors below; GRPC_VERBOSITY=debug (or error) brings them back
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in argv  # accepted before or after the subcommand
    try:
        parser = build_parser()
        args = parser.parse_args([a for a in argv if a != "--json"])
    except KeyboardInterrupt:
        _fail(argparse.Namespace(json=want_json, command=None), EXIT_ERROR, "interrupted")
        return EXIT_ERROR
    args.json = want_json
    try:
        return int(args.run(args))
    except CheckFailedError as e:
        _fail(args, EXIT_FAILED, str(e))
        return EXIT_FAILED
    except (CommandError, InputError, EnvironmentFaultError) as e:
        _fail(args, EXIT_ERROR, str(e))
        return EXIT_ERROR
    except OSError as e:  # the environment (permissions, a full disk) where no step said more
        _fail(args, EXIT_ERROR, describe_os_error(e))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _fail(args, EXIT_ERROR, "interrupted")
        return EXIT_ERROR


def _fail(args: argparse.Namespace, code: int, reason: str) -> None:
    print(f"pausewatch-verifier: {reason}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "command": args.command, "exit_code": code, "error": reason}))


if __name__ == "__main__":
    # Run through the importable module so that exception classes are one and the same.
    from verifier.cli import main as _main

    raise SystemExit(_main())
