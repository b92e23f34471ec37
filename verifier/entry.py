"""Console scripts of the verifier package (``pyproject.toml``): each command's modules are
imported under :func:`pausewatch.entrypoint.guarded_main`, so Ctrl-C during start-up is one line."""

from __future__ import annotations

from collections.abc import Callable

from pausewatch.entrypoint import guarded_main

__all__ = ["verifier"]


def _verifier_main() -> Callable[[], int]:
    from verifier.cli import main  # noqa: PLC0415 (imported under the Ctrl-C guard)

    return main


def verifier() -> int:
    return guarded_main("pausewatch-verifier", _verifier_main)
