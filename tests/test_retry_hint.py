"""The retry hint's reading (``pausewatch.retry``): what a refused call's trailing metadata says,
and that a peer's garbage is no instruction."""

from __future__ import annotations

import pytest

from pausewatch.retry import RETRY_AFTER_KEY, retry_after_s


@pytest.mark.parametrize(
    ("metadata", "seconds"),
    [
        (((RETRY_AFTER_KEY, "1500"),), 1.5),
        ((("other", "9"), (RETRY_AFTER_KEY, b"0")), 0.0),
        (((RETRY_AFTER_KEY, "3600000"),), 3600.0),
        (((RETRY_AFTER_KEY, "3600001"),), None),  # beyond an hour: not obeyed
        (((RETRY_AFTER_KEY, "-5"),), None),
        (((RETRY_AFTER_KEY, "1e3"),), None),
        (((RETRY_AFTER_KEY, "٣"),), None),  # a digit, but not an ASCII one
        (((RETRY_AFTER_KEY, "9" * 400),), None),
        (((RETRY_AFTER_KEY, b"\xff"),), None),
        ((), None),
        (None, None),
    ],
)
def test_retry_after_s(metadata: object, seconds: float | None) -> None:
    assert retry_after_s(metadata) == seconds  # type: ignore[arg-type]
