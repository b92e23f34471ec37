"""Network addresses as the commands take them (``host:port``): one rule for "stays on this
machine", which decides where plaintext gRPC is allowed silently (verifier ``serve``) and where
a client warns that it sends in plaintext (attestor uplink, ``submit``, ``verdicts``)."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(address: str) -> bool:
    """``host:port`` (``[v6]:port`` too) names this machine: 127.0.0.0/8, ::1 or localhost."""
    host = address.rpartition(":")[0].strip("[]") if ":" in address else address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
