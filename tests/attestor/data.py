"""Where the real telemetry captures live: ../shared/data beside the repository (never copied)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"


def data_file(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(
            f"real telemetry capture {path} is missing: the tests need ../shared/data beside the repo"
        )
    return path
