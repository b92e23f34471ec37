"""``attestor.sd_notify``: systemd's notify protocol on a path socket and an abstract one; no
socket, no message; a socket that is gone costs one warning, never an exception."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from attestor.sd_notify import ServiceNotifier


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # An AF_UNIX path holds at most 107 bytes; pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="pw-") as d:
        yield Path(d)


def _receiver(address: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(address)
    s.settimeout(10)
    return s


def test_sends_one_datagram_of_assignments_to_a_path_socket(short_dir: Path) -> None:
    path = str(short_dir / "notify")
    with _receiver(path) as rx:
        notifier = ServiceNotifier.from_environment({"NOTIFY_SOCKET": path})
        assert notifier.enabled
        notifier.notify("READY=1", "STATUS=running")
        assert rx.recv(4096) == b"READY=1\nSTATUS=running"


def test_an_at_sign_names_the_abstract_namespace() -> None:
    name = f"pausewatch-test-{os.getpid()}-{os.urandom(6).hex()}"
    with _receiver("\0" + name) as rx:
        ServiceNotifier(f"@{name}").notify("STOPPING=1")
        assert rx.recv(4096) == b"STOPPING=1"


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = ServiceNotifier.from_environment({})
    assert not notifier.enabled
    notifier.notify("READY=1")  # no socket: nothing to do, nothing raised


def test_a_missing_socket_warns_once_and_never_raises(
    short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = ServiceNotifier(str(short_dir / "gone"))
    with caplog.at_level(logging.WARNING, logger="pausewatch.attestor"):
        notifier.notify("READY=1")
        notifier.notify("STATUS=running")
    assert [r.getMessage() for r in caplog.records] == ["service manager notification failed"]
