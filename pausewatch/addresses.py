"""Network addresses as the commands take them (``host:port``): one rule for "stays on this
machine", which decides where plaintext gRPC is allowed silently (verifier ``serve``) and where
a client warns that it sends in plaintext (attestor uplink, ``submit``, ``verdicts``); and one
rule for whose connection an address is, which the services' per-client caps count by
(``client_of``)."""

from __future__ import annotations

import ipaddress

__all__ = ["PerClient", "client_of", "is_loopback"]


def is_loopback(address: str) -> bool:
    """``host:port`` (``[v6]:port`` too) names this machine: 127.0.0.0/8, ::1 or localhost."""
    host = address.rpartition(":")[0].strip("[]") if ":" in address else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_of(host: str) -> str | None:
    """The party a peer's IP address stands for, as far as an address tells: an IPv4 address;
    an IPv6 /64 (one host is usually given a whole /64, so counting /128s would count nothing),
    an IPv4-mapped IPv6 address being its IPv4 address. None where ``host`` is no IP address
    (a zone index, ``%eth0``, is dropped first)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class PerClient:
    """How many of something (calls, streams, connections) each client holds: a count per
    client, read without being stored, and gone at zero, so that a stranger's many addresses
    cost nothing once they are done (or were refused)."""

    def __init__(self) -> None:
        self._held: dict[str, int] = {}

    def __getitem__(self, client: str) -> int:
        return self._held.get(client, 0)

    def __len__(self) -> int:
        """The clients holding one at least."""
        return len(self._held)

    def add(self, client: str) -> None:
        self._held[client] = self._held.get(client, 0) + 1

    def remove(self, client: str) -> None:
        left = self._held[client] - 1
        if left:
            self._held[client] = left
        else:
            del self._held[client]
