"""What every ``pausewatch-audit`` subcommand shares: exit codes, the two error classes that mean
"the tool could not run" (exit 2), and a bounded input-file reader."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

from pausewatch.errors import PausewatchError

__all__ = [
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_OK",
    "MAX_INPUT_FILE",
    "Handler",
    "Subcommands",
    "ToolError",
    "TrustInputError",
    "read_input_file",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_ERROR = 2
MAX_INPUT_FILE = 64 * 1024 * 1024
"""Largest file the tool reads (entries can be large; notes and proofs have their own limits)."""

Handler = Callable[[argparse.Namespace], dict[str, Any]]
"""A subcommand's work: details (JSON-able) on success; raises on failure."""
Subcommands: TypeAlias = "argparse._SubParsersAction[Any]"  # what add_subparsers() returns
"""What ``register`` functions receive: call ``.add_parser(...)`` on it."""


class ToolError(PausewatchError):
    """The tool could not run (exit 2): bad usage, unreadable file."""


class TrustInputError(ToolError):
    """A trust input (vkey, policy) is malformed (exit 2)."""



def read_input_file(path: Path, what: str) -> bytes:
    """Read a whole input file; ToolError (exit 2) when it cannot be read or is too large."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_INPUT_FILE + 1)
    except OSError as e:
        raise ToolError(f"cannot read {what} {str(path)!r}: {e.strerror or e}") from e
    if len(data) > MAX_INPUT_FILE:
        raise ToolError(f"{what} {str(path)!r} is larger than {MAX_INPUT_FILE} bytes")
    return data
