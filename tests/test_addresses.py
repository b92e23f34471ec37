"""``pausewatch.addresses``: whose connection an address is, and counts per client."""

from __future__ import annotations

import pytest

from pausewatch.addresses import PerClient, client_of


@pytest.mark.parametrize(
    ("host", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2:bbbb::9]", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("verifier.example", None),
        ("", None),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_64(host: str, client: str | None) -> None:
    assert client_of(host) == client


def test_per_client_counts_keep_no_client_at_zero() -> None:
    held = PerClient()
    assert held["a"] == 0
    assert len(held) == 0  # reading a count stores nothing
    held.add("a")
    held.add("a")
    held.add("b")
    assert (held["a"], held["b"], len(held)) == (2, 1, 2)
    held.remove("a")
    held.remove("b")
    assert (held["a"], held["b"], len(held)) == (1, 0, 1)
    held.remove("a")
    assert len(held) == 0
    with pytest.raises(KeyError):
        held.remove("a")  # more given back than taken: a bug, not a count below zero
