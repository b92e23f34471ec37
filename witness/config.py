"""The witness's configuration: a frozen dataclass parsed once, at the process edge, from TOML.

Every key, with its default where it has one (relative paths are resolved against the file's
directory)::

    name = "witness.example/party-a"   # the witness's key name (C2SP key name: no spaces, no +)
    listen = "127.0.0.1:7380"          # host:port of the HTTP service (port 0: any free port)
    state_dir = "state"                # SQLite database and LOCK (mode 0700; the database 0600)
    key_file = "witness.key"           # made by `pausewatch-witness init` (mode 0600)

    [limits]
    max_request_bytes = 65536          # one add-checkpoint body (413 above); at most 1 MiB + 4 KiB
    request_timeout_s = 10.0           # to read a request body and answer it
    max_concurrent_requests = 64       # requests judged at once, once their body is read; more get 503
    max_evidence_per_log = 10000       # rejected-but-log-signed requests kept as evidence, per log
    max_connections = 1024             # client connections in all (fewer if the fd limit leaves fewer)
    max_connections_per_address = 32   # per client: an IPv4 address, an IPv6 /64
    idle_timeout_s = 10.0              # a connection with no request being handled is closed after it

    [[logs]]                           # one table per log this witness witnesses
    vkey = "verifier.example/pausewatch+1a2b3c4d+AQ..."   # the log's C2SP vkey (Ed25519)
    origin = "verifier.example/pausewatch"               # default: the vkey's key name

Errors name the file and the key; the CLI exits 2 on :class:`ConfigError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pausewatch.errors import ConfigError
from pausewatch.note import SIG_TYPE_ED25519, Ed25519NoteVerifier, VerifierKey, is_valid_key_name, parse_vkey
from pausewatch.tlog_witness import MAX_REQUEST_SIZE
from pausewatch.tomlread import Document, located

__all__ = ["DATABASE_FILE", "ConfigError", "Limits", "TrustedLog", "WitnessConfig", "load_config"]

DATABASE_FILE: Final = "witness.sqlite"
_MAX_CONFIG_BYTES: Final = 1 << 20
_MAX_LOGS: Final = 1024


_ERROR = located(ConfigError)


@dataclass(frozen=True)
class TrustedLog:
    """A log this witness cosigns for: its origin line and the key its checkpoints must carry."""

    origin: str
    verifier: Ed25519NoteVerifier


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int = 65536
    request_timeout_s: float = 10.0
    max_concurrent_requests: int = 64
    max_evidence_per_log: int = 10000
    # client connections (witness.connections): in all (fewer where the file descriptor limit
    # leaves fewer), per client (an IPv4 address or an IPv6 /64), and how long one may sit with
    # no request being handled on it (a request's headers must arrive within it)
    max_connections: int = 1024
    max_connections_per_address: int = 32
    idle_timeout_s: float = 10.0


@dataclass(frozen=True)
class WitnessConfig:
    name: str
    key_file: Path
    state_dir: Path
    listen: str = "127.0.0.1:7380"
    logs: tuple[TrustedLog, ...] = ()
    limits: Limits = field(default_factory=Limits)

    @property
    def database(self) -> Path:
        return self.state_dir / DATABASE_FILE

    def log(self, origin: str) -> TrustedLog | None:
        return next((log for log in self.logs if log.origin == origin), None)

    def host_port(self) -> tuple[str, int]:
        return split_address(self.listen, "listen")


def split_address(value: str, where: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where} = {value!r} is not host:port")
    return host.strip("[]"), int(port)


def load_config(path: Path) -> WitnessConfig:
    """Read and check the TOML file; ConfigError names the file, the line and the key."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{source}: cannot read the configuration: {e.strerror}") from e
    doc = Document.parse_bytes(data, source, max_bytes=_MAX_CONFIG_BYTES, error=_ERROR)
    return build_config(doc, path.parent)


def build_config(doc: Document, base: Path) -> WitnessConfig:
    root = doc.root
    root.only("name", "listen", "state_dir", "key_file", "limits", "logs")
    name = root.string("name", nonempty=True)
    if not is_valid_key_name(name):
        raise root.fail("name", f"{name!r} is not a valid C2SP key name (no spaces, no '+')")
    listen = root.string("listen", "127.0.0.1:7380", nonempty=True)
    root.checked("listen", split_address, listen, "listen")
    limits_t = root.section("limits")
    limits_t.only(*Limits.__dataclass_fields__)
    d = Limits()
    limits = Limits(
        max_request_bytes=limits_t.integer(
            "max_request_bytes", d.max_request_bytes, minimum=1024, maximum=MAX_REQUEST_SIZE
        ),
        request_timeout_s=limits_t.number(
            "request_timeout_s", d.request_timeout_s, minimum=0.1, maximum=600.0
        ),
        max_concurrent_requests=limits_t.integer(
            "max_concurrent_requests", d.max_concurrent_requests, minimum=1, maximum=100_000
        ),
        max_evidence_per_log=limits_t.integer(
            "max_evidence_per_log", d.max_evidence_per_log, minimum=0, maximum=10_000_000
        ),
        max_connections=limits_t.integer("max_connections", d.max_connections, minimum=1, maximum=1_000_000),
        max_connections_per_address=limits_t.integer(
            "max_connections_per_address", d.max_connections_per_address, minimum=1, maximum=1_000_000
        ),
        idle_timeout_s=limits_t.number("idle_timeout_s", d.idle_timeout_s, minimum=0.1, maximum=3600.0),
    )
    logs: list[TrustedLog] = []
    for t in root.tables("logs", max_items=_MAX_LOGS):
        t.only("vkey", "origin")
        vkey = t.checked("vkey", _log_vkey, t.string("vkey", nonempty=True))
        origin = t.string("origin", vkey.name, nonempty=True)
        if any(log.origin == origin for log in logs):
            raise t.fail("origin", f"{origin!r} is listed twice")
        logs.append(TrustedLog(origin, Ed25519NoteVerifier.from_vkey(vkey)))
    return WitnessConfig(
        name=name,
        key_file=base / root.string("key_file", "witness.key", nonempty=True),
        state_dir=base / root.string("state_dir", "state", nonempty=True),
        listen=listen,
        logs=tuple(logs),
        limits=limits,
    )


def _log_vkey(text: str) -> VerifierKey:
    vkey = parse_vkey(text)
    vkey.require_type(SIG_TYPE_ED25519, "log")
    Ed25519NoteVerifier.from_vkey(vkey)
    return vkey
