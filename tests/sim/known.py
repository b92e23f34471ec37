"""The scenarios kept as strict xfails (``misses/``, ``false_violations/``), one test each."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

__all__ = ["strict_xfails"]


def strict_xfails(folder: Path, kind: str, why: Mapping[str, str]) -> list[Any]:
    """Each scenario file in ``folder``, as a parameter of a strict xfail whose reason is
    ``kind`` and the file's entry in ``why``: a fix turns it into an XPASS, and the scenario
    then joins the library."""
    return [
        pytest.param(
            p.name,
            marks=pytest.mark.xfail(
                strict=True,
                raises=AssertionError,
                reason=f"{kind}: {why.get(p.name, 'see the scenario')} (docs/detection.md)",
            ),
        )
        for p in sorted(folder.glob("*.toml"))
    ]
