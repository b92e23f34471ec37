"""Console script of the attestor (``pyproject.toml``): ``attestor.cli`` is imported under
:func:`pausewatch.entrypoint.guarded_main`, so Ctrl-C during start-up is one line."""

from __future__ import annotations

from collections.abc import Callable

from pausewatch.entrypoint import guarded_main

__all__ = ["attestor"]


def _main() -> Callable[[], int]:
    from attestor.cli import main  # noqa: PLC0415 (imported under the Ctrl-C guard)

    return main


def attestor() -> int:
    return guarded_main("pausewatch-attestor", _main)
