"""Where the labelled real telemetry lives: ../shared/data beside the repository (never copied).

The sources, their labels and the evidence for each are described in ``sim.classify_eval``;
this module only finds the folder and skips, saying why, when it is not there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.classify_eval import DEFAULT_DATA

DATA: Path = DEFAULT_DATA


def require_data(*parts: str) -> Path:
    """The path under ../shared/data, or a skip that names what is missing."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real telemetry not found at {path}: the classifier validation reads ../shared/data beside"
            " the repository (it is never copied into it)"
        )
    return path
