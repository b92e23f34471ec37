"""The verifier's configuration: frozen dataclasses, parsed once at the process edge.

Precedence: the TOML file, then environment variables ``PAUSEWATCH_VERIFIER_*``, then command
line flags (applied by the CLI through :func:`with_overrides`). Every error names the key and
the file it came from; the CLI exits 2 on :class:`ConfigError`. Relative paths in the file are
resolved against the file's directory.

Example (every key shown with its default where it has one)::

    listen = "127.0.0.1:7443"          # host:port for gRPC
    state_dir = "state"                # SQLite database, the checkpoint file, the LOCK (mode 0700)
    metrics_listen = "127.0.0.1:9464"  # Prometheus text endpoint; "" disables it

    allow_plaintext = false            # serve without [tls] on a non-loopback address (else exit 2)

    [tls]                              # absent: plaintext, on a loopback address only
    cert_file = "server.crt"
    key_file = "server.key"
    client_ca_file = "clients-ca.crt"  # set: mutual TLS, client certificates required

    [log]
    origin = "verifier.example/pausewatch"   # C2SP origin line = note signer name
    key_file = "log.key"

    [challenge]
    key_file = "challenge.key"
    interval_s = 60.0       # a fresh nonce this often
    lifetime_s = 180.0      # expires = issued + lifetime
    max_clock_skew_s = 120.0

    [verdict]
    key_file = "verdict.key"

    [checkpoint]
    max_interval_s = 1.0    # a checkpoint at least this often while entries arrive

    [limits]
    max_message_bytes = 16777216   # one gRPC message
    max_envelope_bytes = 1048576   # one envelope (lab documents)
    max_report_bytes = 32768       # one report envelope (an 8-GPU report is ~2.3 KiB); ≥ what
                                   # honest attestors sign (pausewatch.reports.MAX_REPORT_BYTES)
    report_bytes_per_minute = 524288   # per key, byte bucket refill (clock minutes)
    burst_report_bytes = 33554432      # per key, byte bucket size (a backlog after an outage)
    max_inflight_bytes = 268435456     # request bytes held by calls being served; more → RESOURCE_EXHAUSTED
    max_connections = 4096         # open TCP connections (handshaking too); more are closed at accept
    handshake_timeout_s = 10.0     # a connection not through TLS and HTTP/2 set-up by then is closed
    connection_idle_s = 300.0      # a connection without a call for this long is closed (GOAWAY)
    max_streams_per_connection = 256   # concurrent calls on one connection
    max_batch_reports = 1000       # envelopes per SubmitReports
    reports_per_minute = 600       # per key, token bucket refill (clock minutes)
    burst_reports = 2000           # per key, token bucket size
    max_concurrent_rpcs = 20000    # calls at once on the core behind core.sock (frontends >= 1)
    max_calls_per_source = 1024    # calls in flight per source address (IPv6: per /64) on the public
                                     # address, counted from a call's start; more: RESOURCE_EXHAUSTED
    max_watchers = 256
    max_pending_reports = 50000    # reports in admission or queued; more → RESOURCE_EXHAUSTED
    max_queue_s = 1.0              # refuse when the queue holds more work than this (seconds)
    admission_threads = 0          # signature/decoding threads (frontends = 0); 0 = one per CPU
    # frontends = 2                # serve: front-end processes sharing the port (SO_REUSEPORT),
                                   # each admitting inline, before one sequencing core
                                   # (docs/scale.md); 0 = one process; absent: CPUs - 1, at least 1
                                   # (admission_processes: its deprecated name)
    max_upload_batches = 1000      # batches in one UploadReports stream
    sequencer_min_tick_s = 0.01    # the sequencer commits at most this often (one fsync, one
                                   # checkpoint per tick)
    sequencer_busy_tick_s = 0.05   # and this often after a tick of concurrent callers' work
    sequencer_max_batch = 10000    # and at most this many items per tick
    grpc_max_unrequested_s = 120   # a call gRPC holds before the servicer takes it (then CANCELLED)
    startup_check_entries = 100000 # newest log entries re-hashed at start (scrub checks all)
    max_report_age_s = 604800      # a report whose period ended longer ago than this is refused
    max_commitment_backdate_s = 604800  # a commitment window starting further back is refused
                                   # (both against log time; verifier/bounded_time.py)
    disk_reserve_bytes = 67108864  # space kept in STATE_DIR/reserve, given back to challenges
                                   # when the disk fills (verifier/disk_reserve.py); 0: none

    witness_quorum = 0                 # cosignatures that publish a checkpoint; 0: every witness

    [[witnesses]]                      # C2SP tlog-witnesses to cosign each checkpoint (verifier.witnesses)
    url = "https://witness.example/party-a"   # the witness's prefix (POST <url>/add-checkpoint)
    vkey = "witness.example/party-a+1a2b3c4d+BA..."   # its cosignature/v1 vkey
    timeout_s = 5.0

    [storage]                      # where the state lives
    backend = "sqlite"             # "sqlite": state_dir/verifier.sqlite; "postgresql": dsn below,
                                   # which several verifier hosts may share (docs/scale.md)
    dsn = "host=/run/postgresql dbname=pausewatch"  # libpq string (postgresql only; no password)

    [evaluation]                   # the evaluation scheduler (verdicts), started by serve
    enabled = true
    interval_s = 30.0              # how often to look for closed buckets (clock seconds)
    grace_s = 120.0                # wait after a bucket closes for in-flight reports; at least
                                   # challenge.interval_s (the first challenge after the bucket
                                   # fixes the inventory version it is read against)
    max_buckets_per_tick = 2000

    [webhooks]                     # alerts POSTed as JSON; no urls: no webhooks
    urls = ["https://alerts.example/hook"]
    min_severity = "WARNING"       # INFO, WARNING or CRITICAL
    max_attempts = 5
    backoff_initial_s = 1.0
    backoff_max_s = 60.0
    timeout_s = 5.0
    max_queue = 1000

    [clock]
    mode = "system"                # or "accelerated"
    start_unix_ns = 1767225600000000000  # simulated time at the anchor
    anchor_unix_ns = 0             # real unix time every demo process shares [process start]
    speedup = 60.0

    [[labs]]
    lab_id = "lab-1"
    public_keys = ["<base64 raw 32 bytes> or a C2SP vkey"]
    facilities = ["fac-a"]
    inventory_threshold = 1

    [[parties]]                    # the parties that co-sign multilateral terms (docs/terms.md)
    party_id = "party-a"
    public_keys = ["<base64 raw 32 bytes> or a C2SP vkey"]

    [authorization]                # who may call what (verifier.authz, docs/authorization.md);
                                   # absent: the defaults below, logged at start
    open_submissions = true        # anyone may submit: the node/lab/party signature inside decides
    public_verdicts = true         # signed verdicts are public; false: labs read their facilities'
    loopback_role = "public"       # role of an anonymous caller on a loopback address
    max_watch_streams = 4          # WatchAlerts streams per identity

    [[authorization.identities]]   # a client certificate (mutual TLS): its SAN, or CN without SANs
    name = "node-1.fac-a.attestors"
    role = "attestor"              # attestor, lab, party, auditor or operator
    facilities = ["fac-a"]         # attestor: required; auditor: optional (absent: all)
    # lab_id = "lab-1"             # role lab: the [[labs]] entry (its facilities)
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pausewatch.addresses import is_loopback
from pausewatch.checkpoint import CosignatureVerifier
from pausewatch.errors import ConfigError, InputError
from pausewatch.reports import MAX_REPORT_BYTES, check_id
from pausewatch.roots import LabRoot, PartyRoot, read_lab_roots, read_party_roots
from pausewatch.tomlread import REQUIRED, Document, Table, located
from pausewatch.v1 import types_pb2
from verifier.alerts import WebhookConfig
from verifier.authz import AuthorizationPolicy, IdentityGrant, Role

__all__ = [
    "ENV_PREFIX",
    "ChallengeConfig",
    "ClockConfig",
    "ConfigError",
    "EvaluationConfig",
    "LimitsConfig",
    "TlsConfig",
    "VerifierConfig",
    "WitnessTarget",
    "check_exposure",
    "load_config",
    "with_overrides",
]

ENV_PREFIX: Final = "PAUSEWATCH_VERIFIER_"




@dataclass(frozen=True)
class TlsConfig:
    """Server TLS. ``client_ca_file`` set means mutual TLS: client certificates required."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


@dataclass(frozen=True)
class ChallengeConfig:
    interval_s: float = 60.0
    lifetime_s: float = 180.0
    max_clock_skew_s: float = 120.0


@dataclass(frozen=True)
class LimitsConfig:
    max_message_bytes: int = 16 << 20
    max_envelope_bytes: int = 1 << 20
    max_report_bytes: int = MAX_REPORT_BYTES
    report_bytes_per_minute: float = 512 * 1024
    burst_report_bytes: int = 32 << 20
    max_inflight_bytes: int = 256 << 20
    max_connections: int = 4096
    handshake_timeout_s: float = 10.0
    connection_idle_s: float = 300.0
    max_streams_per_connection: int = 256
    max_batch_reports: int = 1000
    reports_per_minute: float = 600.0
    burst_reports: int = 2000
    max_concurrent_rpcs: int = 20000
    max_calls_per_source: int = 1024
    max_watchers: int = 256
    max_pending_reports: int = 50_000
    max_queue_s: float = 1.0
    admission_threads: int = 0
    frontends: int | None = None  # None: one per CPU but one (the core's), at least one
    max_upload_batches: int = 1000
    sequencer_min_tick_s: float = 0.01
    sequencer_busy_tick_s: float = 0.05
    sequencer_max_batch: int = 10_000
    grpc_max_unrequested_s: int = 120
    startup_check_entries: int = 100_000
    max_report_age_s: float = 7 * 86_400.0
    max_commitment_backdate_s: float = 7 * 86_400.0
    disk_reserve_bytes: int = 64 << 20

    @property
    def report_limit(self) -> int:
        """The size limit of one report envelope: ``max_report_bytes``, within ``max_envelope_bytes``."""
        return min(self.max_report_bytes, self.max_envelope_bytes)


@dataclass(frozen=True)
class ClockConfig:
    mode: str = "system"
    start_unix_ns: int | None = None
    speedup: float = 1.0
    anchor_unix_ns: int | None = None


@dataclass(frozen=True)
class EvaluationConfig:
    """``[evaluation]``: the scheduler's knobs (``verifier.scheduler.SchedulerConfig``), kept
    here as plain values because the scheduler imports the sequencer, which imports this."""

    interval_s: float = 30.0
    grace_s: float = 120.0
    max_buckets_per_tick: int = 2000


@dataclass(frozen=True)
class StorageConfig:
    """``[storage]``: where the verifier keeps its state. ``sqlite`` (default): one file in
    the state directory. ``postgresql``: the database ``dsn`` names (a libpq connection
    string; keep a password out of it: libpq reads ``~/.pgpass`` or ``PGPASSFILE``), which
    several verifier hosts may share (:mod:`verifier.pg_storage`)."""

    backend: str = "sqlite"
    dsn: str = ""


@dataclass(frozen=True)
class WitnessTarget:
    """``[[witnesses]]``: a witness the verifier asks to cosign its checkpoints."""

    url: str
    vkey: str
    timeout_s: float = 5.0


@dataclass(frozen=True)
class VerifierConfig:
    state_dir: Path
    log_origin: str
    log_key_file: Path
    challenge_key_file: Path
    verdict_key_file: Path
    listen: str = "127.0.0.1:7443"
    metrics_listen: str = "127.0.0.1:9464"
    tls: TlsConfig | None = None
    labs: tuple[LabRoot, ...] = ()
    parties: tuple[PartyRoot, ...] = ()
    challenge: ChallengeConfig = field(default_factory=ChallengeConfig)
    checkpoint_max_interval_s: float = 1.0
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    evaluation: EvaluationConfig | None = field(default_factory=EvaluationConfig)  # None: not run
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    source: str = "<defaults>"
    allow_plaintext: bool = False  # plaintext gRPC on a non-loopback address (check_exposure)
    witnesses: tuple[WitnessTarget, ...] = ()
    witness_quorum: int = 0  # 0: every configured witness
    authorization: AuthorizationPolicy = field(default_factory=AuthorizationPolicy)
    storage: StorageConfig = field(default_factory=StorageConfig)

    @property
    def database_path(self) -> Path:
        return self.state_dir / "verifier.sqlite"


_REQUIRED = REQUIRED
_ERROR = located(ConfigError)


def _path(table: Table, key: str, base: Path, default: Path | None = None) -> Path | None:
    value = table.string(key, None)
    return default if value is None else base / value


def _required_path(table: Table, key: str, base: Path) -> Path:
    return base / table.string(key)


_MAX_FRONTENDS: Final = 256


def _frontends(limits: Table) -> int | None:
    """``limits.frontends``; ``limits.admission_processes`` (deprecated) when it is absent:
    0 meant admission in the server's process, N > 0 admission in N other processes."""
    value = limits.integer("frontends", None, minimum=0, maximum=_MAX_FRONTENDS)
    old = limits.integer("admission_processes", None, minimum=0, maximum=_MAX_FRONTENDS)
    if old is not None:
        logging.getLogger("pausewatch.verifier.config").warning(
            "limits.admission_processes is deprecated: it now means limits.frontends%s",
            "" if value is None else " (ignored: limits.frontends is set)",
        )
        if value is None:
            value = old
    return value


MAX_CONFIG_BYTES: Final = 1 << 20  # a configuration is a few KiB


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> VerifierConfig:
    """Read the TOML file (if any), then the environment. Raise ConfigError naming key and file."""
    environ = os.environ if environ is None else environ
    doc = Document({}, "<no config file>", error=_ERROR)
    base = Path.cwd()
    if path is not None:
        base = path.resolve().parent
        try:
            with path.open("rb") as f:  # a bounded read: /dev/zero named by mistake must not hang
                data = f.read(MAX_CONFIG_BYTES + 1)
        except FileNotFoundError as e:
            raise ConfigError(f"{path}: config file not found") from e
        except OSError as e:
            raise ConfigError(f"{path}: cannot read config file: {e}") from e
        doc = Document.parse_bytes(data, str(path), max_bytes=MAX_CONFIG_BYTES, error=_ERROR)
    _apply_environment(doc, environ)
    return _build(doc.root, base, doc.file)


# Environment variable -> dotted TOML key. Values are strings; numbers are converted.
_ENV_KEYS: Final[Mapping[str, tuple[str, type]]] = {
    "LISTEN": ("listen", str),
    "STATE_DIR": ("state_dir", str),
    "METRICS_LISTEN": ("metrics_listen", str),
    "LOG_ORIGIN": ("log.origin", str),
    "LOG_KEY_FILE": ("log.key_file", str),
    "CHALLENGE_KEY_FILE": ("challenge.key_file", str),
    "VERDICT_KEY_FILE": ("verdict.key_file", str),
    "CLOCK_MODE": ("clock.mode", str),
    "CLOCK_START_UNIX_NS": ("clock.start_unix_ns", int),
    "CLOCK_SPEEDUP": ("clock.speedup", float),
    "CLOCK_ANCHOR_UNIX_NS": ("clock.anchor_unix_ns", int),
    "TLS_CERT_FILE": ("tls.cert_file", str),
    "TLS_KEY_FILE": ("tls.key_file", str),
    "TLS_CLIENT_CA_FILE": ("tls.client_ca_file", str),
}


def _apply_environment(doc: Document, environ: Mapping[str, str]) -> None:
    for suffix, (dotted, kind) in _ENV_KEYS.items():
        name = ENV_PREFIX + suffix
        if name not in environ:
            continue
        raw = environ[name]
        value: Any = raw
        if kind is not str:
            try:
                value = kind(raw)
            except ValueError as e:
                raise ConfigError(f"environment {name}={raw!r}: not a valid {kind.__name__}") from e
        doc.override(tuple(dotted.split(".")), value, f"environment {name}")


def _build(root: Table, base: Path, source: str) -> VerifierConfig:
    listen = root.string("listen", "127.0.0.1:7443")
    root.checked("listen", _check_address, listen)
    metrics_listen = root.string("metrics_listen", "127.0.0.1:9464")
    if metrics_listen:
        root.checked("metrics_listen", _check_address, metrics_listen)
    state_dir = _required_path(root, "state_dir", base)

    log = root.table("log", None)
    if log is None:
        raise root.fail("log", "missing (required): [log] with origin and key_file")
    origin = log.string("origin", _REQUIRED)
    if not origin or any(c.isspace() for c in origin) or "+" in origin:
        raise log.fail("origin", "must be non-empty, without spaces or '+'")
    log_key = _required_path(log, "key_file", base)
    log.done()

    challenge_t = root.table("challenge", None)
    if challenge_t is None:
        raise root.fail("challenge", "missing (required): [challenge] with key_file")
    challenge_key = _required_path(challenge_t, "key_file", base)
    interval = challenge_t.number("interval_s", 60.0, minimum=0.001, maximum=86_400)
    challenge = ChallengeConfig(
        interval_s=interval,
        lifetime_s=challenge_t.number("lifetime_s", 3 * interval, minimum=interval, maximum=7 * 86_400),
        max_clock_skew_s=challenge_t.number("max_clock_skew_s", 120.0, minimum=0, maximum=86_400),
    )
    challenge_t.done()

    verdict_t = root.table("verdict", None)
    if verdict_t is None:
        raise root.fail("verdict", "missing (required): [verdict] with key_file")
    verdict_key = _required_path(verdict_t, "key_file", base)
    verdict_t.done()

    checkpoint_t = root.table("checkpoint", None)
    cp_interval = 1.0
    if checkpoint_t is not None:
        cp_interval = checkpoint_t.number("max_interval_s", 1.0, minimum=0.001, maximum=1.0)
        checkpoint_t.done()

    tls = None
    tls_t = root.table("tls", None)
    if tls_t is not None:
        tls = TlsConfig(
            cert_file=_required_path(tls_t, "cert_file", base),
            key_file=_required_path(tls_t, "key_file", base),
            client_ca_file=_path(tls_t, "client_ca_file", base),
        )
        tls_t.done()

    limits = LimitsConfig()
    limits_t = root.table("limits", None)
    if limits_t is not None:
        d = LimitsConfig()
        li = limits_t.integer
        limits = LimitsConfig(
            max_message_bytes=li("max_message_bytes", d.max_message_bytes, minimum=1024, maximum=1 << 30),
            max_envelope_bytes=li("max_envelope_bytes", d.max_envelope_bytes, minimum=256, maximum=16 << 20),
            max_batch_reports=li("max_batch_reports", d.max_batch_reports, minimum=1, maximum=100_000),
            max_report_bytes=li("max_report_bytes", d.max_report_bytes, minimum=1024, maximum=16 << 20),
            report_bytes_per_minute=limits_t.number(
                "report_bytes_per_minute", d.report_bytes_per_minute, minimum=1024
            ),
            burst_report_bytes=li("burst_report_bytes", d.burst_report_bytes, minimum=1024),
            max_inflight_bytes=li("max_inflight_bytes", d.max_inflight_bytes, minimum=1 << 16),
            max_connections=li("max_connections", d.max_connections, minimum=1, maximum=1_000_000),
            handshake_timeout_s=limits_t.number(
                "handshake_timeout_s", d.handshake_timeout_s, minimum=0.1, maximum=600
            ),
            connection_idle_s=limits_t.number(
                "connection_idle_s", d.connection_idle_s, minimum=1, maximum=86_400
            ),
            max_streams_per_connection=li(
                "max_streams_per_connection", d.max_streams_per_connection, minimum=1, maximum=100_000
            ),
            reports_per_minute=limits_t.number("reports_per_minute", d.reports_per_minute, minimum=0.001),
            burst_reports=limits_t.integer("burst_reports", d.burst_reports, minimum=1),
            max_concurrent_rpcs=limits_t.integer("max_concurrent_rpcs", d.max_concurrent_rpcs, minimum=1),
            max_calls_per_source=li(
                "max_calls_per_source", d.max_calls_per_source, minimum=1, maximum=10_000_000
            ),
            max_watchers=limits_t.integer("max_watchers", d.max_watchers, minimum=0),
            max_pending_reports=li(
                "max_pending_reports", d.max_pending_reports, minimum=1, maximum=10_000_000
            ),
            max_queue_s=limits_t.number("max_queue_s", d.max_queue_s, minimum=0.01, maximum=3600),
            admission_threads=li("admission_threads", d.admission_threads, minimum=0, maximum=256),
            frontends=_frontends(limits_t),
            max_upload_batches=li("max_upload_batches", d.max_upload_batches, minimum=1, maximum=1_000_000),
            sequencer_min_tick_s=limits_t.number(
                "sequencer_min_tick_s", d.sequencer_min_tick_s, minimum=0, maximum=1.0
            ),
            sequencer_busy_tick_s=limits_t.number(
                "sequencer_busy_tick_s", d.sequencer_busy_tick_s, minimum=0, maximum=1.0
            ),
            sequencer_max_batch=li(
                "sequencer_max_batch", d.sequencer_max_batch, minimum=1, maximum=1_000_000
            ),
            grpc_max_unrequested_s=li(
                "grpc_max_unrequested_s", d.grpc_max_unrequested_s, minimum=1, maximum=3600
            ),
            startup_check_entries=li("startup_check_entries", d.startup_check_entries, minimum=0),
            max_report_age_s=limits_t.number(
                "max_report_age_s", d.max_report_age_s, minimum=60, maximum=3660 * 86_400
            ),
            max_commitment_backdate_s=limits_t.number(
                "max_commitment_backdate_s", d.max_commitment_backdate_s, minimum=0, maximum=3660 * 86_400
            ),
            disk_reserve_bytes=li("disk_reserve_bytes", d.disk_reserve_bytes, minimum=0, maximum=1 << 40),
        )
        limits_t.done()
        if limits.max_envelope_bytes > limits.max_message_bytes:
            raise limits_t.fail("max_envelope_bytes", "exceeds limits.max_message_bytes")
        if limits.max_report_bytes > limits.max_message_bytes:
            raise limits_t.fail("max_report_bytes", "exceeds limits.max_message_bytes")
        if limits.burst_report_bytes < limits.max_report_bytes:
            raise limits_t.fail("burst_report_bytes", "is below limits.max_report_bytes")

    clock = ClockConfig()
    clock_t = root.table("clock", None)
    if clock_t is not None:
        mode = clock_t.string("mode", "system", choices=("system", "accelerated"))
        clock = ClockConfig(
            mode=mode,
            start_unix_ns=clock_t.integer("start_unix_ns", None, minimum=1),
            speedup=clock_t.number("speedup", 1.0, minimum=0.001, maximum=1e6),
            anchor_unix_ns=clock_t.integer("anchor_unix_ns", None, minimum=1),
        )
        clock_t.done()

    evaluation: EvaluationConfig | None = EvaluationConfig()
    evaluation_t = root.table("evaluation", None)
    if evaluation_t is not None:
        d_eval = EvaluationConfig()
        enabled = evaluation_t.boolean("enabled", True)
        ev = evaluation_t.number
        evaluation = EvaluationConfig(
            interval_s=ev("interval_s", d_eval.interval_s, minimum=0.1, maximum=3600),
            grace_s=ev("grace_s", d_eval.grace_s, minimum=0, maximum=86_400),
            max_buckets_per_tick=evaluation_t.integer(
                "max_buckets_per_tick", d_eval.max_buckets_per_tick, minimum=1, maximum=1_000_000
            ),
        )
        evaluation_t.done()
        if not enabled:
            evaluation = None
    # A bucket is read against the inventory version in force when the first challenge after its
    # end was logged (pausewatch.evaluation.verdict.bucket_inventory). Signed before that
    # challenge, a verdict would be read under the latest version, and a version logged after
    # the bucket ended, before that challenge, would revise it on the next late report (a red
    # team, 2026-12-05): the grace must outlast one challenge interval.
    if evaluation is not None and evaluation.grace_s < interval:
        why = (
            f"{evaluation.grace_s:g} s is shorter than challenge.interval_s ({interval:g} s): verdicts"
            " must wait for the first challenge after a bucket's end, which fixes the inventory"
            " version the bucket is read against"
        )
        if evaluation_t is not None and "grace_s" in evaluation_t.data:
            raise evaluation_t.fail("grace_s", why)
        raise challenge_t.fail(
            "interval_s", f"{interval:g} s is longer than evaluation.grace_s ({evaluation.grace_s:g} s):"
            " verdicts must wait for the first challenge after a bucket's end; raise evaluation.grace_s"
        )

    webhooks = WebhookConfig()
    webhooks_t = root.table("webhooks", None)
    if webhooks_t is not None:
        d_hook = WebhookConfig()
        severity = webhooks_t.string("min_severity", "WARNING", choices=("INFO", "WARNING", "CRITICAL"))
        wn = webhooks_t.number
        webhooks = _built(
            f"{source}: [webhooks]",
            lambda: WebhookConfig(
                urls=tuple(webhooks_t.strings("urls")),
                min_severity=types_pb2.Severity.Value(f"SEVERITY_{severity}"),
                max_attempts=webhooks_t.integer("max_attempts", d_hook.max_attempts, minimum=1, maximum=100),
                backoff_initial_s=wn("backoff_initial_s", d_hook.backoff_initial_s, minimum=0.001),
                backoff_max_s=wn("backoff_max_s", d_hook.backoff_max_s, minimum=0.001, maximum=3600),
                timeout_s=wn("timeout_s", d_hook.timeout_s, minimum=0.001, maximum=120),
                max_queue=webhooks_t.integer("max_queue", d_hook.max_queue, minimum=1, maximum=1_000_000),
            ),
        )
        webhooks_t.done()

    labs = read_lab_roots(root)
    parties = read_party_roots(root)
    authorization = _authorization(root, {lab.lab_id for lab in labs})
    storage = _storage(root)
    allow_plaintext = root.boolean("allow_plaintext", False)
    witnesses = _witnesses(root)
    witness_quorum = root.integer("witness_quorum", 0, minimum=0, maximum=len(witnesses))
    root.done()
    return VerifierConfig(
        state_dir=state_dir,
        log_origin=origin,
        log_key_file=log_key,
        challenge_key_file=challenge_key,
        verdict_key_file=verdict_key,
        listen=listen,
        metrics_listen=metrics_listen,
        tls=tls,
        labs=labs,
        parties=parties,
        challenge=challenge,
        checkpoint_max_interval_s=cp_interval,
        allow_plaintext=allow_plaintext,
        authorization=authorization,
        limits=limits,
        clock=clock,
        evaluation=evaluation,
        webhooks=webhooks,
        source=source,
        witnesses=witnesses,
        witness_quorum=witness_quorum,
        storage=storage,
    )


def _witnesses(root: Table) -> tuple[WitnessTarget, ...]:
    """``[[witnesses]]``: url and cosignature vkey of each (checked by verifier.witnesses)."""
    out = []
    for t in root.tables("witnesses"):
        url = t.string("url", _REQUIRED)
        if not url.startswith(("http://", "https://")):
            raise t.fail("url", "must start with http:// or https://")
        vkey = t.string("vkey", _REQUIRED)
        t.checked("vkey", CosignatureVerifier.from_vkey, vkey)
        target = WitnessTarget(url.rstrip("/"), vkey, t.number("timeout_s", 5.0, minimum=0.1, maximum=600))
        t.done()
        out.append(target)
    return tuple(out)


def _storage(root: Table) -> StorageConfig:
    """``[storage]``: ``backend`` ("sqlite" or "postgresql") and, for PostgreSQL, ``dsn``."""
    table = root.table("storage", None)
    if table is None:
        return StorageConfig()
    backend = table.string("backend", "sqlite", choices=("sqlite", "postgresql"))
    dsn = table.string("dsn", "")
    if (backend == "postgresql") != bool(dsn):
        raise table.fail("dsn", "required with backend 'postgresql', and only with it")
    table.done()
    return StorageConfig(backend, dsn)


def _authorization(root: Table, lab_ids: set[str]) -> AuthorizationPolicy:
    """``[authorization]`` and its ``[[authorization.identities]]`` (verifier.authz)."""
    table = root.table("authorization", None)
    if table is None:
        return AuthorizationPolicy()
    roles = ", ".join(r.value for r in Role)
    grants: list[IdentityGrant] = []
    for t in table.tables("identities"):
        name = t.string("name", _REQUIRED)
        if not name or len(name) > 253 or any(c.isspace() for c in name):
            raise t.fail("name", f"must be a certificate name without spaces, got {name!r}")
        if any(g.name == name for g in grants):
            raise t.fail("name", f"{name!r} is listed twice")
        role_name = t.string("role", _REQUIRED)
        if role_name not in {r.value for r in Role}:
            raise t.fail("role", f"must be one of {roles}, got {role_name!r}")
        role = Role(role_name)
        if role is Role.PUBLIC:
            raise t.fail("role", "public is every anonymous caller's; name another role")
        facilities = frozenset(t.checked("facilities", check_id, f, "id") for f in t.strings("facilities"))
        lab_id = t.string("lab_id", "")
        if role is Role.LAB and lab_id not in lab_ids:
            raise t.fail("lab_id", f"must name a [[labs]] entry, got {lab_id!r}")
        if role is not Role.LAB and lab_id:
            raise t.fail("lab_id", "is only for role lab")
        if role is Role.ATTESTOR and not facilities:
            raise t.fail("facilities", "an attestor identity must name its facilities")
        if role in (Role.LAB, Role.PARTY, Role.OPERATOR) and facilities:
            raise t.fail("facilities", f"not for role {role} (a lab's are its [[labs]] entry's)")
        t.done()
        grants.append(IdentityGrant(name, role, facilities, lab_id))
    loopback_name = table.string("loopback_role", Role.PUBLIC.value)
    if loopback_name not in {r.value for r in Role}:
        raise table.fail("loopback_role", f"must be one of {roles}, got {loopback_name!r}")
    loopback_role = Role(loopback_name)
    policy = AuthorizationPolicy(
        identities=tuple(grants),
        open_submissions=table.boolean("open_submissions", True),
        public_verdicts=table.boolean("public_verdicts", True),
        loopback_role=loopback_role,
        max_watch_streams=table.integer("max_watch_streams", 4, minimum=1, maximum=1024),
        configured=True,
    )
    table.done()
    return policy


def _built(where: str, build: Any) -> Any:
    """Build a component's own config dataclass, its range errors named by file and table."""
    try:
        return build()
    except ConfigError:
        raise
    except InputError as e:
        raise ConfigError(f"{where}: {e}") from e


def _check_address(value: str, where: str = "") -> None:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{where}{': ' if where else ''}must be host:port, got {value!r}")


def check_exposure(config: VerifierConfig) -> None:
    """Plaintext only on loopback: without ``[tls]``, ``listen`` must be a loopback address
    (127.0.0.0/8, ::1, localhost) unless ``allow_plaintext = true`` says the operator means
    it (a TLS-terminating proxy in front, a closed network); raise ConfigError otherwise."""
    if config.tls is not None or config.allow_plaintext:
        return
    if not is_loopback(config.listen):
        raise ConfigError(
            f"{config.source}: listen = {config.listen!r} without [tls] would serve plaintext beyond"
            " this machine; configure [tls], listen on 127.0.0.1, or set allow_plaintext = true"
        )


def with_overrides(config: VerifierConfig, **changes: Any) -> VerifierConfig:
    """Apply command-line flags (the last layer); ``None`` values leave a field unchanged."""
    given = {k: v for k, v in changes.items() if v is not None}
    if "listen" in given:
        _check_address(given["listen"], "--listen")
    if given.get("metrics_listen"):
        _check_address(given["metrics_listen"], "--metrics-listen")
    return dataclasses.replace(config, **given)
