"""Where the real telemetry captures live: ../shared/data beside the repository (never copied)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"


def data_file(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        # unlicensed captures are never copied into the repository: without the shared folder
        # these tests cannot run, and say so
        pytest.skip(f"real telemetry capture {path} is absent: these tests read ../shared/data beside the repo")
    return path
