"""Attestor configuration: a frozen dataclass parsed once, from a TOML file, then the
environment (``PAUSEWATCH_ATTESTOR_<KEY>``, dots as underscores, upper case), then flags
(``--set key=value``, and a few named flags). Every error names the key and where it came from;
the CLI turns ``ConfigError`` into exit status 2.

Relative paths (``state_dir``, ``key_file``, the ``verifier`` TLS files, and the ``path``,
``ca_file`` and ``root`` options of sources) resolve against the config file's directory when
the file sets them, as the verifier's do, and against the current directory when the
environment or a flag sets them; the daemon then works the same from any directory.

Keys (defaults in brackets)::

    mode = "node"                    # "node" (UsageReports), "meter" (MeterReports) or
                                     # "accounting" (AccountingReports: a scheduler's jobs)
    state_dir = "/var/lib/pausewatch-attestor"
    key_file = ""                    # [<state_dir>/node.key]
    facility_id = ""                 # required
    node_id = ""                     # required in node mode
    meter_id = ""                    # required in meter mode
    scheduler_id = ""                # required in accounting mode
    period_s = 60                    # report period, 1..86400; periods align to multiples of it
    sample_interval_s = 1            # 0.01..period_s

    [accounting]                     # accounting mode: where the scheduler is read, once a period
    tool = "sacct"                   # "sacct" or "slurmrestd"
    binary = "sacct"                 # sacct: the command (run with TZ=UTC)
    url = ""                         # slurmrestd: http(s)://host:6820/slurm/v0.0.40/jobs
    path = ""                        # slurmrestd: a jobs JSON file another process refreshes
    timeout_s = 30                   # per read, 0.1..600
    max_report_bytes = 32768         # largest report signed, 4096..1048576; raise the verifier's
                                     # limits.max_report_bytes with it
    user = ""                        # slurmrestd auth/jwt: X-SLURM-USER-NAME
    token_file = ""                  # slurmrestd auth/jwt: file with the token (mode 0600), read
                                     # at every request

    [verifier]
    address = ""                     # host:port; empty: spool only, nothing is sent
    insecure = false                 # plaintext gRPC (localhost tests only)
    ca_file = ""                     # PEM roots; empty: system roots
    cert_file = ""                   # client certificate for mutual TLS
    key_file = ""                    # its private key
    server_name = ""                 # TLS name override
    challenge_key = ""               # vkey or base64 raw Ed25519 key of the challenge signer

    [log]
    origin = ""                      # checkpoint origin line [the vkey's name]
    vkey = ""                        # C2SP vkey of the log's checkpoint key
    policy = ""                      # C2SP tlog-policy file: witnesses (with URLs) and quorum;
                                     # their checkpoints must agree with the log (log.split_view)

    [uplink]
    batch_size = 32                  # 1..1000
    deadline_s = 10                  # per call, 0.1..300
    backoff_initial_s = 1
    backoff_max_s = 60
    challenge_refresh_s = 30

    [spool]
    max_rows = 200000
    max_bytes = 536870912
    prune_age_s = 604800

    [metrics]
    listen = ""                      # "127.0.0.1:9478"; empty: no endpoint

    [clock]
    mode = "system"                  # or "accelerated" (demo: SimulatedClock with speedup)
    start_unix_ns = 0                # accelerated: simulated time at the anchor [now]
    anchor_unix_ns = 0               # accelerated: real unix time of the common anchor [process start]
    speedup = 1.0

    [[sources]]                      # one table per source; [{kind = "auto"}] if none
    kind = "auto"            # auto | nvml | dcgm | nvidia-smi | amd | linux | redfish | replay | simulator
    # options per kind: dcgm: url, timeout_s; nvidia-smi: format ("xml"|"csv"), binary;
    # amd: tool ("amd-smi"|"rocm-smi"), binary, timeout_s;
    # linux: root, hwmon_as_node_power; redfish: url, username, password, ca_file, verify_tls,
    # timeout_s; replay: path, devices (0: detect), uuids, model, loop, zero_is_missing;
    # simulator: devices, profile
    # ("idle"|"inference"|"training"), job_seed, iteration_s, model, seed, schedule (tables
    # {from_unix_ns, profile, job_seed}: a profile per time range); simulator meter: overhead,
    # base_w, node_ids or nodes (tables {node_id, devices, schedule}: every node it meters, with
    # what it really runs) -- see attestor.sources.simulator
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pausewatch.errors import ConfigError, KeyFileError
from pausewatch.files.statedir import check_secret_file
from pausewatch.tomlread import Document, located, unknown_key

__all__ = [
    "SOURCE_KINDS",
    "AccountingSettings",
    "AttestorConfig",
    "ClockSettings",
    "ConfigError",
    "SourceSpec",
    "load_config",
]

SOURCE_KINDS = ("auto", "nvml", "dcgm", "nvidia-smi", "amd", "linux", "redfish", "replay", "simulator")
ENV_PREFIX = "PAUSEWATCH_ATTESTOR_"




@dataclass(frozen=True)
class SourceSpec:
    kind: str
    options: tuple[tuple[str, Any], ...] = ()

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.options).get(name, default)


@dataclass(frozen=True)
class ClockSettings:
    mode: str = "system"
    start_unix_ns: int = 0
    speedup: float = 1.0
    anchor_unix_ns: int = 0


@dataclass(frozen=True)
class AccountingSettings:
    """Accounting mode's read of the scheduler (``attestor.sources.slurm.AccountingSource``)."""

    tool: str = "sacct"
    binary: str = "sacct"
    url: str = ""
    path: str = ""
    timeout_s: float = 30.0
    max_report_bytes: int = 32768
    user: str = ""
    token_file: str = ""


@dataclass(frozen=True)
class AttestorConfig:
    mode: str
    state_dir: Path
    key_file: Path
    facility_id: str
    node_id: str
    meter_id: str
    period_s: float
    sample_interval_s: float
    verifier_address: str
    verifier_insecure: bool
    verifier_ca_file: str
    verifier_cert_file: str
    verifier_key_file: str
    verifier_server_name: str
    challenge_key: str
    log_origin: str
    log_vkey: str
    batch_size: int
    deadline_s: float
    backoff_initial_s: float
    backoff_max_s: float
    challenge_refresh_s: float
    spool_max_rows: int
    spool_max_bytes: int
    spool_prune_age_s: float
    metrics_listen: str
    clock: ClockSettings
    sources: tuple[SourceSpec, ...]
    origin_of: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    log_policy: str = ""
    scheduler_id: str = ""
    accounting: AccountingSettings = field(default_factory=AccountingSettings)

    @property
    def subject_id(self) -> str:
        return {"meter": self.meter_id, "accounting": self.scheduler_id}.get(self.mode, self.node_id)

    @property
    def spool_path(self) -> Path:
        return self.state_dir / "spool.sqlite"


# key -> (type, default, (min, max) or allowed values)
_KEYS: dict[str, tuple[type, Any, Any]] = {
    "mode": (str, "node", ("node", "meter", "accounting")),
    "state_dir": (str, "/var/lib/pausewatch-attestor", None),
    "key_file": (str, "", None),
    "facility_id": (str, "", None),
    "node_id": (str, "", None),
    "meter_id": (str, "", None),
    "scheduler_id": (str, "", None),
    "accounting.tool": (str, "sacct", ("sacct", "slurmrestd")),
    "accounting.binary": (str, "sacct", None),
    "accounting.url": (str, "", None),
    "accounting.path": (str, "", None),
    "accounting.timeout_s": (float, 30.0, (0.1, 600.0)),
    "accounting.max_report_bytes": (int, 32768, (4096, 1 << 20)),
    "accounting.user": (str, "", None),
    "accounting.token_file": (str, "", None),
    "period_s": (float, 60.0, (1.0, 86_400.0)),
    "sample_interval_s": (float, 1.0, (0.01, 86_400.0)),
    "verifier.address": (str, "", None),
    "verifier.insecure": (bool, False, None),
    "verifier.ca_file": (str, "", None),
    "verifier.cert_file": (str, "", None),
    "verifier.key_file": (str, "", None),
    "verifier.server_name": (str, "", None),
    "verifier.challenge_key": (str, "", None),
    "log.origin": (str, "", None),
    "log.vkey": (str, "", None),
    "log.policy": (str, "", None),
    "uplink.batch_size": (int, 32, (1, 1000)),
    "uplink.deadline_s": (float, 10.0, (0.1, 300.0)),
    "uplink.backoff_initial_s": (float, 1.0, (0.001, 3600.0)),
    "uplink.backoff_max_s": (float, 60.0, (0.001, 86_400.0)),
    "uplink.challenge_refresh_s": (float, 30.0, (0.01, 86_400.0)),
    "spool.max_rows": (int, 200_000, (10, 100_000_000)),
    "spool.max_bytes": (int, 512 << 20, (1 << 16, 1 << 40)),
    "spool.prune_age_s": (float, 7 * 86_400.0, (0.0, 10 * 365 * 86_400.0)),
    "metrics.listen": (str, "", None),
    "clock.mode": (str, "system", ("system", "accelerated")),
    "clock.start_unix_ns": (int, 0, (0, 2**63 - 1)),
    "clock.speedup": (float, 1.0, (0.001, 1_000_000.0)),
    "clock.anchor_unix_ns": (int, 0, (0, 2**63 - 1)),
}


def _coerce(key: str, value: Any, where: str) -> Any:
    kind, _, bounds = _KEYS[key]
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                value = value.lower() in ("true", "1", "yes")
            elif not isinstance(value, bool):
                raise ValueError(value)
        elif kind is int:
            if isinstance(value, (bool, float)):
                raise ValueError(value)
            value = int(value)
        elif kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(value)
        elif not isinstance(value, str):
            raise ValueError(value)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {key}: expected {kind.__name__}, got {value!r}") from e
    if isinstance(bounds, tuple) and bounds and isinstance(bounds[0], str):
        if value not in bounds:
            raise ConfigError(f"{where}: {key}: must be one of {', '.join(bounds)}; got {value!r}")
    elif isinstance(bounds, tuple) and not (bounds[0] <= value <= bounds[1]):
        raise ConfigError(f"{where}: {key}: {value} is outside {bounds[0]}..{bounds[1]}")
    return value


_PATH_KEYS = (
    "state_dir",
    "key_file",
    "verifier.ca_file",
    "verifier.cert_file",
    "verifier.key_file",
    "accounting.path",
    "accounting.token_file",
)
_SOURCE_PATH_OPTIONS = {"replay": ("path",), "redfish": ("ca_file",), "linux": ("root",)}


def _resolve(value: str, base: Path) -> str:
    """A relative path from the config file means beside the file; from the environment or a
    flag, beside the current directory (made absolute here, once: later ``chdir`` cannot
    move it)."""
    if not value:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).absolute())


def _sources(doc: Document | None, base: Path | None = None) -> tuple[SourceSpec, ...]:
    raw = None if doc is None else doc.data.get("sources")
    if doc is None or raw is None:
        return (SourceSpec("auto"),)
    if not isinstance(raw, list) or not raw:
        raise doc.error(("sources",), "must be a non-empty array of tables ([[sources]])")
    specs = []
    for i, table in enumerate(raw):
        if not isinstance(table, dict):
            raise doc.error(("sources", i), "must be a table")
        kind = table.get("kind")
        if kind not in SOURCE_KINDS:
            raise doc.error(("sources", i, "kind"), f"must be one of {', '.join(SOURCE_KINDS)}; got {kind!r}")
        paths = _SOURCE_PATH_OPTIONS.get(kind, ())
        options = tuple(
            sorted(
                (k, _resolve(v, base) if base is not None and k in paths and isinstance(v, str) else v)
                for k, v in table.items()
                if k != "kind"
            )
        )
        specs.append(SourceSpec(kind, options))
    return tuple(specs)


def _holds_password(sources: Any) -> bool:
    return isinstance(sources, list) and any(isinstance(s, dict) and s.get("password") for s in sources)


def load_config(
    path: Path | None,
    env: Mapping[str, str] | None = None,
    overrides: Sequence[str] = (),
) -> AttestorConfig:
    """Read the TOML file (if any), apply the environment, then ``key=value`` overrides."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {k: spec[1] for k, spec in _KEYS.items()}
    origin: dict[str, str] = dict.fromkeys(_KEYS, "default")
    doc: Document | None = None
    file_label = str(path) if path is not None else "(no file)"
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as e:
            raise ConfigError(f"{path}: config file not found") from e
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read config: {e}") from e
        doc = Document.parse(text, str(path), error=located(ConfigError))
        if _holds_password(doc.data.get("sources")):  # a Redfish password: the file is a secret
            try:
                check_secret_file(path, "config file (it holds a source password)")
            except KeyFileError as e:
                raise ConfigError(str(e)) from e
        for key_path, value in doc.leaves():
            key = ".".join(map(str, key_path))
            if key_path[0] == "sources":
                continue
            if key not in _KEYS:
                raise doc.error(key_path, unknown_key(key, _KEYS))
            values[key] = _coerce(key, value, doc.place(key_path))
            origin[key] = str(path)
    for key in _KEYS:
        name = ENV_PREFIX + key.replace(".", "_").upper()
        if name in env:
            values[key] = _coerce(key, env[name], f"environment {name}")
            origin[key] = f"environment {name}"
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"--set {item!r}: expected key=value")
        if key not in _KEYS:
            raise ConfigError(f"--set {key}: unknown key")
        values[key] = _coerce(key, value, f"--set {key}")
        origin[key] = "flag --set"

    def need(key: str) -> None:
        if not values[key]:
            raise ConfigError(
                f"{file_label}: {key}: required (set it in the file, {ENV_PREFIX}"
                f"{key.replace('.', '_').upper()} or --set {key}=...)"
            )

    need("facility_id")
    need({"meter": "meter_id", "accounting": "scheduler_id"}.get(values["mode"], "node_id"))
    if values["mode"] == "accounting" and doc is not None and "sources" in doc.data:
        raise doc.error(("sources",), "accounting mode reads the scheduler, not telemetry; remove them")
    slurmrestd = values["mode"] == "accounting" and values["accounting.tool"] == "slurmrestd"
    if slurmrestd and bool(values["accounting.url"]) == bool(values["accounting.path"]):
        raise ConfigError(
            f"{origin['accounting.tool']}: accounting: slurmrestd needs exactly one of"
            " accounting.url and accounting.path"
        )
    if values["sample_interval_s"] > values["period_s"]:
        raise ConfigError(f"{origin['sample_interval_s']}: sample_interval_s: longer than period_s")
    if values["uplink.backoff_initial_s"] > values["uplink.backoff_max_s"]:
        raise ConfigError(
            f"{origin['uplink.backoff_initial_s']}: uplink.backoff_initial_s: above uplink.backoff_max_s"
        )
    if values["verifier.address"]:
        need("verifier.challenge_key")
        need("log.vkey")
        if bool(values["verifier.cert_file"]) != bool(values["verifier.key_file"]):
            raise ConfigError(
                f"{origin['verifier.cert_file']}: verifier.cert_file and verifier.key_file go together"
            )
    config_dir = path.absolute().parent if path is not None else Path.cwd()
    for key in _PATH_KEYS:
        values[key] = _resolve(values[key], config_dir if origin[key] == str(path) else Path.cwd())
    if values["accounting.token_file"]:  # a slurmrestd token: a secret
        try:
            check_secret_file(Path(values["accounting.token_file"]), "slurmrestd token file")
        except KeyFileError as e:
            raise ConfigError(f"{origin['accounting.token_file']}: accounting.token_file: {e}") from e
    state_dir = Path(values["state_dir"])
    return AttestorConfig(
        mode=values["mode"],
        state_dir=state_dir,
        key_file=Path(values["key_file"]) if values["key_file"] else state_dir / "node.key",
        facility_id=values["facility_id"],
        node_id=values["node_id"],
        meter_id=values["meter_id"],
        period_s=values["period_s"],
        sample_interval_s=values["sample_interval_s"],
        verifier_address=values["verifier.address"],
        verifier_insecure=values["verifier.insecure"],
        verifier_ca_file=values["verifier.ca_file"],
        verifier_cert_file=values["verifier.cert_file"],
        verifier_key_file=values["verifier.key_file"],
        verifier_server_name=values["verifier.server_name"],
        challenge_key=values["verifier.challenge_key"],
        log_origin=values["log.origin"],
        log_vkey=values["log.vkey"],
        batch_size=values["uplink.batch_size"],
        deadline_s=values["uplink.deadline_s"],
        backoff_initial_s=values["uplink.backoff_initial_s"],
        backoff_max_s=values["uplink.backoff_max_s"],
        challenge_refresh_s=values["uplink.challenge_refresh_s"],
        spool_max_rows=values["spool.max_rows"],
        spool_max_bytes=values["spool.max_bytes"],
        spool_prune_age_s=values["spool.prune_age_s"],
        metrics_listen=values["metrics.listen"],
        clock=ClockSettings(
            values["clock.mode"],
            values["clock.start_unix_ns"],
            values["clock.speedup"],
            values["clock.anchor_unix_ns"],
        ),
        sources=_sources(doc, path.absolute().parent if path is not None else None),
        origin_of=tuple(sorted(origin.items())),
        log_policy=values["log.policy"],
        scheduler_id=values["scheduler_id"],
        accounting=AccountingSettings(
            values["accounting.tool"],
            values["accounting.binary"],
            values["accounting.url"],
            values["accounting.path"],
            values["accounting.timeout_s"],
            values["accounting.max_report_bytes"],
            values["accounting.user"],
            values["accounting.token_file"],
        ),
    )
