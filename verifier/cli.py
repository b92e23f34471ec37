"""``pausewatch-verifier``: the verifier's command line.

Subcommands (each module's ``register(subparsers)`` adds its own; add a module to
:data:`COMMAND_MODULES` with one line)::

    pausewatch-verifier serve --config verifier.toml [--listen H:P] [--state-dir D] [--metrics-listen H:P]
    pausewatch-verifier keygen --out FILE [--name NAME]
    pausewatch-verifier inventory sign --key LABKEY [--key ...] --in inventory.toml --out inventory.env
    pausewatch-verifier inventory submit --address H:P --in inventory.env [TLS flags]
    pausewatch-verifier commitment submit --address H:P --in commitment.env [TLS flags]
    pausewatch-verifier terms sign|submit|show ...   (multilateral terms: docs/terms.md)
    pausewatch-verifier export --config verifier.toml --out BUNDLE
    pausewatch-verifier scrub --config verifier.toml

Exit status: 0 ok; 1 the check or submission failed (the server rejected it); 2 the command
could not run (bad flags, configuration error, unreadable file, server unreachable). Errors
are one line on stderr; ``--json`` prints one JSON object on stdout.

A command module's ``register(subparsers)`` adds parsers and sets ``run`` (``Namespace ->
int``) with ``parser.set_defaults(run=...)``. ``run`` may raise: ``ConfigError`` and other
``InputError`` of the operator's own inputs exit 2 via :class:`CommandError`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any, Final

from pausewatch.errors import EnvironmentFaultError, InputError, PausewatchError

__all__ = [
    "COMMAND_MODULES",
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_OK",
    "CheckFailedError",
    "CommandError",
    "JsonLogFormatter",
    "emit",
    "main",
    "setup_logging",
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
    "verifier.witnesses",
)
"""Modules with a ``register(subparsers)`` function; one line each."""


class CommandError(PausewatchError):
    """The command could not run (exit 2)."""


class CheckFailedError(PausewatchError):
    """The command ran and what it checked or submitted failed (exit 1)."""


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    _STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD:
                out[key] = value if isinstance(value, (int, float, str, bool, type(None))) else str(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, sort_keys=False)


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


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
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in argv  # accepted before or after the subcommand
    args = parser.parse_args([a for a in argv if a != "--json"])
    args.json = want_json
    try:
        return int(args.run(args))
    except CheckFailedError as e:
        _fail(args, EXIT_FAILED, str(e))
        return EXIT_FAILED
    except (CommandError, InputError, EnvironmentFaultError) as e:
        _fail(args, EXIT_ERROR, str(e))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR


def _fail(args: argparse.Namespace, code: int, reason: str) -> None:
    print(f"pausewatch-verifier: {reason}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"command": args.command, "exit_code": code, "reason": reason}))


if __name__ == "__main__":
    # Run through the importable module so that exception classes are one and the same.
    from verifier.cli import main as _main

    raise SystemExit(_main())
