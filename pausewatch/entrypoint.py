"""Console entry points that stay quiet on Ctrl-C at any moment, also while the command's
modules are still being imported (gRPC, cryptography, SQLite: a noticeable part of a second).

Each command's script calls :func:`guarded_main` with a loader that imports the command's
``main`` lazily; a KeyboardInterrupt before ``main`` has taken over ends in one line,
``PROG: interrupted``, and exit status 2 (the command did not run). Only the interpreter's own
start comes before this (a SIGINT there ends the process by the signal, with no output); once
the command has returned, SIGINT is ignored while the interpreter shuts down. A Ctrl-C that
lands where Python cannot raise it (an import lock's weakref callback) is delivered again
rather than printed as an ignored exception.
"""

from __future__ import annotations

import _thread
import signal
import sys
from collections.abc import Callable
from importlib import metadata

__all__ = [
    "EXIT_INTERRUPTED",
    "WIRE_FORMAT",
    "describe_os_error",
    "guarded_main",
    "package_version",
    "version_text",
]

EXIT_INTERRUPTED = 2


def _interrupt_again(unraisable: sys.UnraisableHookArgs) -> None:
    """A Ctrl-C that lands in code Python cannot raise from (a weakref callback of the import
    system's module locks, a ``__del__``) is not printed as "Exception ignored ... Traceback"
    and lost: it is delivered again to the main thread (``_thread.interrupt_main``), where
    :func:`guarded_main` ends it in one line. Anything else goes to the default hook."""
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        _thread.interrupt_main()
        return
    sys.__unraisablehook__(unraisable)


def guarded_main(prog: str, load: Callable[[], Callable[[], int]]) -> int:
    sys.unraisablehook = _interrupt_again
    try:
        main = load()
        code = main()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    # The command is done; what follows is the interpreter's own shutdown (joining worker
    # threads, flushing). A Ctrl-C landing there would only print a traceback from inside it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def describe_os_error(e: OSError) -> str:
    """One line for an error of the environment: ``PATH: Permission denied``."""
    where = e.filename if e.filename is not None else ""
    what = e.strerror or str(e)
    return f"{where}: {what}" if where else what


WIRE_FORMAT = "pausewatch.v1"


def package_version() -> str:
    """The installed pausewatch's version (``unknown`` when run from an uninstalled tree)."""
    try:
        return metadata.version("pausewatch")
    except metadata.PackageNotFoundError:
        return "unknown"


def version_text() -> str:
    """What every command's ``--version`` prints after its name: the installed package's
    version (``pausewatch 0.1.0``), and the wire format it speaks."""
    return f"(pausewatch {package_version()}, wire format {WIRE_FORMAT})"
