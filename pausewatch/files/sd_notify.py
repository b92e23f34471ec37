"""Tell the service manager how a daemon (attestor, verifier) is doing: systemd's ``sd_notify``
protocol, written with the standard library alone (no libsystemd). The one module of the core
that talks to the service manager.

When ``NOTIFY_SOCKET`` is set (systemd sets it for ``Type=notify`` units; a test may set it to
a socket of its own), each :meth:`ServiceNotifier.notify` sends one datagram of newline-separated
``KEY=VALUE`` assignments to that ``AF_UNIX`` socket: ``READY=1`` once the daemon runs,
``STOPPING=1`` when it begins to stop, ``STATUS=...`` in between (shown by ``systemctl
status``). A socket name beginning with ``@`` is in the abstract namespace. Without
``NOTIFY_SOCKET`` nothing is sent. A send that fails is logged once, as a warning, and otherwise
ignored: the daemon keeps working whatever the service manager hears.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = ["ServiceNotifier"]

_log = logging.getLogger("pausewatch.service")


class ServiceNotifier:
    def __init__(self, address: str | None) -> None:
        """``address``: the value of ``NOTIFY_SOCKET`` (a path, or ``@name``), or None for none."""
        self._address: str | bytes | None = None
        if address:
            self._address = "\0" + address[1:] if address.startswith("@") else address
        self._warned = False

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ServiceNotifier:
        return cls((os.environ if env is None else env).get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *assignments: str) -> None:
        """Send ``assignments`` (``"READY=1"``, ``"STATUS=running"``, ...) as one datagram."""
        if self._address is None:
            return
        message = "\n".join(assignments).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto(message, self._address)
        except OSError as e:
            if not self._warned:
                self._warned = True
                _log.warning(
                    "service manager notification failed",
                    extra={"fields": {"notify_socket": str(self._address).lstrip("\0"), "error": str(e)}},
                )
