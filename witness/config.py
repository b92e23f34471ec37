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
    max_concurrent_requests = 64       # requests being served at once; more get 503
    max_evidence_per_log = 10000       # rejected-but-log-signed requests kept as evidence, per log

    [[logs]]                           # one table per log this witness witnesses
    vkey = "verifier.example/pausewatch+1a2b3c4d+AQ..."   # the log's C2SP vkey (Ed25519)
    origin = "verifier.example/pausewatch"               # default: the vkey's key name

Errors name the file and the key; the CLI exits 2 on :class:`ConfigError`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pausewatch.errors import InputError
from pausewatch.note import SIG_TYPE_ED25519, Ed25519NoteVerifier, is_valid_key_name, parse_vkey
from pausewatch.tlog_witness import MAX_REQUEST_SIZE

__all__ = ["DATABASE_FILE", "ConfigError", "Limits", "TrustedLog", "WitnessConfig", "load_config"]

DATABASE_FILE: Final = "witness.sqlite"
_MAX_CONFIG_BYTES: Final = 1 << 20
_MAX_LOGS: Final = 1024


class ConfigError(InputError):
    """The configuration file is unusable; the message names the file and the key."""


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
    """Read and check the TOML file; ConfigError names the file and key."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{source}: cannot read the configuration: {e.strerror}") from e
    if len(data) > _MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: {len(data)} bytes; at most {_MAX_CONFIG_BYTES}")
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{source}: not UTF-8 TOML: {e}") from e
    return build_config(doc, path.parent, source)


def build_config(doc: Mapping[str, Any], base: Path, source: str) -> WitnessConfig:
    _only(doc, {"name", "listen", "state_dir", "key_file", "limits", "logs"}, source, "")
    name = _str(doc, "name", source, None)
    if not is_valid_key_name(name):
        raise ConfigError(f"{source}: name {name!r} is not a valid C2SP key name (no spaces, no '+')")
    listen = _str(doc, "listen", source, "127.0.0.1:7380")
    split_address(listen, f"{source}: listen")
    limits_doc = doc.get("limits", {})
    if not isinstance(limits_doc, dict):
        raise ConfigError(f"{source}: limits must be a table")
    _only(limits_doc, set(Limits.__dataclass_fields__), source, "limits.")
    d = Limits()
    limits = Limits(
        max_request_bytes=_int(
            limits_doc, "max_request_bytes", source, d.max_request_bytes, low=1024, high=MAX_REQUEST_SIZE
        ),
        request_timeout_s=_num(
            limits_doc, "request_timeout_s", source, d.request_timeout_s, low=0.1, high=600.0
        ),
        max_concurrent_requests=_int(
            limits_doc, "max_concurrent_requests", source, d.max_concurrent_requests, low=1, high=100_000
        ),
        max_evidence_per_log=_int(
            limits_doc, "max_evidence_per_log", source, d.max_evidence_per_log, low=0, high=10_000_000
        ),
    )
    logs_doc = doc.get("logs", [])
    if not isinstance(logs_doc, list) or len(logs_doc) > _MAX_LOGS:
        raise ConfigError(f"{source}: logs must be an array of at most {_MAX_LOGS} tables")
    logs: list[TrustedLog] = []
    for i, item in enumerate(logs_doc):
        where = f"logs[{i}]."
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: logs[{i}] must be a table")
        _only(item, {"vkey", "origin"}, source, where)
        vkey_text = _str(item, "vkey", source, None, where)
        try:
            vkey = parse_vkey(vkey_text)
            vkey.require_type(SIG_TYPE_ED25519, "log")
            verifier = Ed25519NoteVerifier.from_vkey(vkey)
        except InputError as e:
            raise ConfigError(f"{source}: {where}vkey: {e}") from e
        origin = _str(item, "origin", source, vkey.name, where)
        if any(log.origin == origin for log in logs):
            raise ConfigError(f"{source}: {where}origin {origin!r} is listed twice")
        logs.append(TrustedLog(origin, verifier))
    return WitnessConfig(
        name=name,
        key_file=base / _str(doc, "key_file", source, "witness.key"),
        state_dir=base / _str(doc, "state_dir", source, "state"),
        listen=listen,
        logs=tuple(logs),
        limits=limits,
    )


def _only(doc: Mapping[str, Any], allowed: set[str], source: str, prefix: str) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise ConfigError(f"{source}: {prefix}{unknown[0]}: unknown key")


def _str(doc: Mapping[str, Any], key: str, source: str, default: str | None, prefix: str = "") -> str:
    value = doc.get(key, default)
    if value is None:
        raise ConfigError(f"{source}: {prefix}{key} is required")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: {prefix}{key} must be a non-empty string")
    return value


def _int(doc: Mapping[str, Any], key: str, source: str, default: int, *, low: int, high: int) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{source}: limits.{key} must be an integer in [{low}, {high}]")
    return value


def _num(doc: Mapping[str, Any], key: str, source: str, default: float, *, low: float, high: float) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{source}: limits.{key} must be a number in [{low}, {high}]")
    return float(value)
