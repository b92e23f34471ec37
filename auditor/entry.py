"""Console script of the auditor (``pyproject.toml``): ``auditor.cli`` is imported under
:func:`pausewatch.entrypoint.guarded_main`, so Ctrl-C during start-up is one line."""

from __future__ import annotations

from collections.abc import Callable

from pausewatch.entrypoint import guarded_main

__all__ = ["audit"]


def _main() -> Callable[[], int]:
    from auditor.cli import main  # noqa: PLC0415 (imported under the Ctrl-C guard)

    return main


def audit() -> int:
    return guarded_main("pausewatch-audit", _main)
