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


def test_the_uplink_waits_the_hint_a_tenth_more_at_most_and_never_less_than_50_ms() -> None:
    import random

    from attestor.uplink import retry_delay

    rng = random.Random(3)
    for _ in range(200):
        assert 20.0 <= retry_delay(1, 20.0, initial_s=1.0, max_s=60.0, rng=rng) <= 22.0
        assert 0.05 <= retry_delay(1, 0.0, initial_s=1.0, max_s=60.0, rng=rng) <= 0.055  # a hint of 0
        assert retry_delay(1, 3600.0, initial_s=1.0, max_s=60.0, rng=rng) == 60.0  # never past the max
        assert 4.0 <= retry_delay(3, None, initial_s=1.0, max_s=60.0, rng=rng) <= 8.0  # no hint: backoff
        assert 30.0 <= retry_delay(30, None, initial_s=1.0, max_s=60.0, rng=rng) <= 60.0
