"""``pausewatch-attestor``: init, run, status, ack, probe. Exit status 0 ok, 1 check failed
(status: an alarm is active), 2 could not run (configuration, key file, environment, Ctrl-C);
the reason is one line on stderr, and with ``--json`` also ``{"ok": false, "command",
"exit_code", "error"}`` on stdout (``docs/cli.md``).

``status`` lists the active alarms with the time each became active; ``ack KIND --note TEXT``
ends one that does not end by itself (``attestor.alarms``), logged and kept in the spool.

``init`` creates the node (or meter) key under the state directory and prints, for the lab's
inventory tool (``pausewatch-verifier inventory sign``), the key's vkey line and an inventory
entry. For a node it is a ``[[nodes]]`` table::

    [[nodes]]
    node_id = "a-node-01"
    attestor_public_key = "<base64 of the raw 32-byte Ed25519 key>"
    location = ""
    enrolment_proof = "<base64: the key's signature over its enrolment as this node>"
    [[nodes.accelerators]]
    uuid = "GPU-..."
    model = "NVIDIA H100 80GB HBM3"
    serial = "..."

for a meter a ``[[meters]]`` table (``meter_id``, ``public_key``, ``scope = "facility"``,
``enrolment_proof``), and for an accounting attestor (``mode = "accounting"``, or
``--scheduler-id``) a ``[[schedulers]]`` table (``scheduler_id``, ``public_key``,
``enrolment_proof``). The proof (:mod:`pausewatch.enrolment`) binds the key to this facility
and node (or meter): a lab cannot enrol a key it does not hold, and a proven entry takes its
key over from another facility's entry that has none. Re-running ``init`` on an existing key
prints the same entry with its proof (the way to add proofs to an older inventory).
``--json`` prints the same entry as one JSON object with exactly those keys (the vkey line
then goes to stderr). An existing key is reused, never overwritten.

``init`` (or the first ``run``) creates the spool: the key's chain starts there, and a marker
beside the key (``node.key.chain``) says so. ``init`` and ``run`` refuse (exit 2) when the
marker is there but the spool is gone — continuing at seq 0 would be a rollback of the node's
chain, blamed on the lab. ``init --new-chain`` retires the key and any spool (renamed
``*.retired-<unix s>``) and makes a new key: the lab enrols its printed entry in place of the
old one, a signed restart the verifier records as a new chain.

``run --config attestor.toml`` runs the daemon (JSON logs on stderr; SIGTERM/SIGINT stop it
cleanly). ``status`` reads the spool (also while the daemon runs). ``probe --source nvml
--seconds N`` samples a source and prints what it read and the aggregate, to try a GPU node.

**Start-up and stop of** ``run``. The daemon is *ready* once its key, spool and sources are open,
it has logged ``attestor started`` and its event loop handles SIGTERM and SIGINT; it then says
so before its first sample: ``READY=1`` to systemd when ``NOTIFY_SOCKET`` is set
(``attestor.sd_notify``; the unit is ``Type=notify``), and its process id, written atomically to
``--ready-file PATH`` when given (remove a stale one before starting). Whoever stops the daemon
and needs it to have run waits for one of these; ``STATUS=`` messages on the way (``starting``,
``opening the key, spool and sources``) and ``STOPPING=1`` follow its progress.

SIGTERM and SIGINT are caught from the first thing ``run`` does, before the daemon's modules
(gRPC, SQLite, Prometheus, the sources) are imported. A stop the daemon gets before it is ready
is a clean stop, as systemd counts a SIGTERM: start-up goes no further than the step it is in (a
key being created is created whole), the daemon never says it is ready, nothing is sampled or
signed, what was opened is closed, and the exit status is 0. Once it has said it is ready, a
stop signs the running period first (``attestor.daemon``). A signal sent just as the daemon
becomes ready may get either treatment; whether it said ``READY=1`` (or wrote the ready file)
tells which. Only the interpreter's own start and the import of this module (a fraction of a
second) come before the handler; a SIGTERM there ends the process by the signal (which systemd
also counts as a clean stop) before it has opened anything in the state directory, and a SIGINT
there is Python's own KeyboardInterrupt.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from attestor.config import SOURCE_KINDS, AttestorConfig, ConfigError, SourceSpec, load_config
from attestor.sd_notify import ServiceNotifier
from pausewatch.addresses import is_loopback
from pausewatch.clock import Clock, SimulatedClock, SystemClock
from pausewatch.entrypoint import describe_os_error, version_text
from pausewatch.errors import EnvironmentFaultError, InputError, KeyFileError
from pausewatch.files.keyfile import generate_key_file, load_key_file
from pausewatch.files.statedir import ensure_private_dir, lock_state_dir
from pausewatch.keys import Ed25519Signer, PublicKey
from pausewatch.note import (
    SIG_TYPE_ED25519,
    Ed25519NoteVerifier,
    VerifierKey,
    ed25519_key_from_text,
    is_valid_key_name,
)
from pausewatch.policy import Policy, parse_policy
from pausewatch.timespec import format_rfc3339
from pausewatch.tomlread import value_or_text

if TYPE_CHECKING:
    from attestor.daemon import AttestorDaemon
    from attestor.metrics import AttestorMetrics
    from attestor.spool import Spool
    from attestor.telemetry import TelemetrySource

# The daemon's modules (gRPC, Prometheus, SQLite spool, aggregation) are imported by the command
# that uses them, so that ``--help`` and ``status`` start fast and ``run`` loads only what it runs
# (each such import carries ``noqa: PLC0415`` for that reason).

__all__ = ["main"]

_log = logging.getLogger("pausewatch.attestor")
_NS = 1_000_000_000


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pausewatch-attestor",
        description="Sign this node's compute usage into a hash chain and deliver it to the verifier.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {version_text()}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", type=Path, help="TOML config file")
        sp.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
        )
        sp.add_argument("--state-dir", help="state directory (key and spool)")

    sp = sub.add_parser("init", help="create the node key; print its vkey and inventory entry")
    common(sp)
    sp.add_argument("--node-id")
    sp.add_argument("--meter-id")
    sp.add_argument("--scheduler-id", help="accounting mode: the scheduler this key signs for")
    sp.add_argument("--facility-id")
    sp.add_argument("--location", default="")
    sp.add_argument("--json", action="store_true")
    sp.add_argument(
        "--new-chain",
        action="store_true",
        help="start a new chain after a lost spool: retire the key (and any spool), make a new key;"
        " the lab enrols the printed entry (a signed restart, not a rollback)",
    )

    sp = sub.add_parser("run", help="run the daemon")
    common(sp)
    sp.add_argument("--verifier", help="verifier address host:port")
    sp.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sp.add_argument(
        "--ready-file",
        type=Path,
        help="write this process's id here once the daemon is ready (key, spool and sources open)",
    )

    sp = sub.add_parser("status", help="chain head, spool depth, last receipt, alarms")
    common(sp)
    sp.add_argument("--json", action="store_true")

    sp = sub.add_parser(
        "ack",
        help="acknowledge an alarm after looking into it (ends it; logged and kept in the spool)",
    )
    common(sp)
    sp.add_argument("kind", help="the alarm kind, as status shows it (e.g. log.fork)")
    sp.add_argument("--note", required=True, help="what was found: kept with the acknowledgement")
    sp.add_argument("--json", action="store_true")

    sp = sub.add_parser("probe", help="sample one source for a while and print what it read")
    sp.add_argument("--source", required=True, choices=[k for k in SOURCE_KINDS if k != "auto"] + ["auto"])
    sp.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="source option (TOML value)"
    )
    sp.add_argument("--seconds", type=float, default=5.0)
    sp.add_argument("--interval", type=float, default=1.0)
    sp.add_argument("--json", action="store_true")
    return p


def _overrides(args: argparse.Namespace) -> list[str]:
    sets = list(args.set)
    if args.state_dir:
        sets.append(f"state_dir={args.state_dir}")
    for flag, key in (
        ("node_id", "node_id"),
        ("meter_id", "meter_id"),
        ("scheduler_id", "scheduler_id"),
        ("facility_id", "facility_id"),
        ("verifier", "verifier.address"),
    ):
        value = getattr(args, flag, None)
        if value:
            sets.append(f"{key}={value}")
    if getattr(args, "meter_id", None):
        sets.append("mode=meter")
    if getattr(args, "scheduler_id", None):
        sets.append("mode=accounting")
    return sets


def _policy(path: str) -> Policy | None:
    """``log.policy``: the C2SP tlog-policy whose witnesses the attestor compares with."""
    if not path:
        return None
    try:
        return parse_policy(Path(path).read_bytes())
    except OSError as e:
        raise ConfigError(f"log.policy: cannot read {path}: {e.strerror}") from e
    except InputError as e:
        raise ConfigError(f"log.policy: {path}: {e}") from e


def _public_key(text: str, what: str) -> PublicKey:
    """A base64 raw 32-byte Ed25519 key, or a vkey (``name+hash+base64``)."""
    try:
        return ed25519_key_from_text(text, what)
    except InputError as e:
        raise ConfigError(str(e)) from e


def _clock(cfg: AttestorConfig) -> Clock:
    if cfg.clock.mode == "accelerated":
        start = cfg.clock.start_unix_ns or time.time_ns()
        return SimulatedClock(
            start_ns=start, speedup=cfg.clock.speedup, anchor_unix_ns=cfg.clock.anchor_unix_ns or None
        )
    return SystemClock()


def _signer(cfg: AttestorConfig, *, create: bool) -> Ed25519Signer:
    if cfg.key_file.exists() or not create:
        return load_key_file(cfg.key_file)
    cfg.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return generate_key_file(cfg.key_file)


# ---------------------------------------------------------------------- init


def _chain_marker(cfg: AttestorConfig) -> Path:
    """Beside the key: written when the key's chain starts (its spool is created), so that a
    spool lost later — even with the rest of the state directory — is told from a first run."""
    return cfg.key_file.with_name(cfg.key_file.name + ".chain")


def _mark_chain_started(cfg: AttestorConfig, signer: Ed25519Signer) -> None:
    marker = _chain_marker(cfg)
    if marker.exists():
        return
    try:
        marker.write_text(f"chain of key {signer.public_key.key_id} started; its spool: {cfg.spool_path}\n")
    except OSError as e:
        raise EnvironmentFaultError(f"{marker}: cannot write: {e.strerror}") from e


def _refuse_lost_spool(cfg: AttestorConfig) -> None:
    """A lost spool is loud: signing again from seq 0 with this key would look like a rollback
    of the node's chain (a violation blamed on the lab)."""
    if _chain_marker(cfg).exists() and not cfg.spool_path.exists():
        raise EnvironmentFaultError(
            f"{cfg.spool_path} is gone but the chain of node key {cfg.key_file} had started: it cannot"
            " continue, and restarting it at seq 0 would be a rollback. Run"
            " `pausewatch-attestor init --new-chain` (retires the key; the lab enrols the new one)"
        )


def _create_spool(cfg: AttestorConfig, signer: Ed25519Signer) -> None:
    from attestor.spool import Spool  # noqa: PLC0415 (lazy, see top)

    ensure_private_dir(cfg.state_dir)
    Spool.open(cfg.spool_path, signer.public_key.key_id).close()
    _mark_chain_started(cfg, signer)


def _retire_chain(cfg: AttestorConfig) -> list[Path]:
    """``init --new-chain``: keep the old key and spool under ``*.retired-<unix s>`` names (the
    daemon must be stopped: the state directory's lock is taken). A new key is a new chain:
    the lab's next inventory, enrolling it in place of the old one, is the signed restart,
    and the verifier records the new chain from seq 0 — not a rollback of the old one."""
    if not cfg.key_file.exists() and not cfg.spool_path.exists():
        return []
    lock = lock_state_dir(cfg.state_dir, "pausewatch-attestor init --new-chain")
    try:
        suffix = f".retired-{int(time.time())}"
        moved: list[Path] = []
        candidates = [cfg.key_file, _chain_marker(cfg), cfg.spool_path]
        candidates += [cfg.spool_path.with_name(cfg.spool_path.name + x) for x in ("-wal", "-shm")]
        for path in candidates:
            if path.exists():
                target = path.with_name(path.name + suffix)
                try:
                    path.rename(target)
                except OSError as e:
                    raise EnvironmentFaultError(f"{path}: cannot retire it: {e.strerror}") from e
                moved.append(target)
        return moved
    finally:
        lock.release()


def _inventory(sources: Sequence[TelemetrySource]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for source in sources:
        listing = getattr(source, "inventory", None)
        if callable(listing):
            for uuid, model, serial in listing():
                seen.setdefault(uuid, {"uuid": uuid, "model": model, "serial": serial})
            continue
        for d in source.sample(time.time_ns()).devices:
            seen.setdefault(d.uuid, {"uuid": d.uuid, "model": d.model, "serial": d.serial})
    return list(seen.values())


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def cmd_init(args: argparse.Namespace) -> int:
    from attestor.sources import open_sources  # noqa: PLC0415 (lazy, see top)
    from pausewatch.enrolment import sign_enrolment  # noqa: PLC0415 (lazy, see top)

    cfg = load_config(args.config, overrides=_overrides(args))
    if args.new_chain:
        retired = _retire_chain(cfg)
        for path in retired:
            print(f"# retired {path}", file=sys.stderr)
    _refuse_lost_spool(cfg)
    existed = cfg.key_file.exists()
    signer = _signer(cfg, create=True)
    if not cfg.spool_path.exists():  # init starts the key's chain
        _create_spool(cfg, signer)
    raw = signer.public_key.raw
    name = cfg.subject_id if is_valid_key_name(cfg.subject_id) else "attestor"
    vkey = VerifierKey(name, SIG_TYPE_ED25519, raw).format()
    key_b64 = base64.b64encode(raw).decode()
    meter = cfg.mode == "meter"
    kind = {"meter": "meter", "accounting": "scheduler"}.get(cfg.mode, "node")
    proof = sign_enrolment(signer, cfg.facility_id, kind, cfg.subject_id)
    proof_b64 = base64.b64encode(proof).decode()
    entry: dict[str, Any]
    if kind == "scheduler":
        entry = {"scheduler_id": cfg.scheduler_id, "public_key": key_b64, "enrolment_proof": proof_b64}
    elif meter:
        entry = {
            "meter_id": cfg.meter_id,
            "public_key": key_b64,
            "scope": "facility",
            "enrolment_proof": proof_b64,
        }
    else:
        sources = open_sources(cfg.sources, subject_id=cfg.subject_id)
        try:
            accelerators = _inventory(sources)
        finally:
            for s in sources:
                s.close()
        entry = {
            "node_id": cfg.node_id,
            "attestor_public_key": key_b64,
            "location": args.location,
            "enrolment_proof": proof_b64,
            "accelerators": accelerators,
        }
    note = f"# key {'reused' if existed else 'created'}: {cfg.key_file} (key id {signer.public_key.key_id})"
    if args.json:
        print(vkey, file=sys.stderr)
        print(note, file=sys.stderr)
        print(json.dumps(entry, indent=2))
        return 0
    print(note)
    print(f"# vkey: {vkey}")
    if kind == "scheduler":
        print("[[schedulers]]")
        for k in ("scheduler_id", "public_key", "enrolment_proof"):
            print(f"{k} = {_toml_str(entry[k])}")
        return 0
    if meter:
        print("[[meters]]")
        for k in ("meter_id", "public_key", "scope", "enrolment_proof"):
            print(f"{k} = {_toml_str(entry[k])}")
        return 0
    print("[[nodes]]")
    for k in ("node_id", "attestor_public_key", "location", "enrolment_proof"):
        print(f"{k} = {_toml_str(entry[k])}")
    for acc in entry["accelerators"]:
        print("  [[nodes.accelerators]]")
        for k in ("uuid", "model", "serial"):
            print(f"  {k} = {_toml_str(acc[k])}")
    return 0


# ---------------------------------------------------------------------- run


def build_daemon(cfg: AttestorConfig, clock: Clock) -> tuple[AttestorDaemon, Spool, AttestorMetrics]:
    """Everything ``run`` needs, from the config (ConfigError / EnvironmentFaultError)."""
    from attestor.alarms import Alarms  # noqa: PLC0415 (lazy, see top)
    from attestor.daemon import AttestorDaemon, DaemonSettings  # noqa: PLC0415 (lazy, see top)
    from attestor.metrics import AttestorMetrics  # noqa: PLC0415 (lazy, see top)
    from attestor.receipts import LogTrust  # noqa: PLC0415 (lazy, see top)
    from attestor.sources import open_sources  # noqa: PLC0415 (lazy, see top)
    from attestor.sources.slurm import AccountingSource  # noqa: PLC0415 (lazy, see top)
    from attestor.spool import Spool, SpoolLimits  # noqa: PLC0415 (lazy, see top)
    from attestor.uplink import TlsSettings, Uplink, UplinkSettings  # noqa: PLC0415 (lazy, see top)

    signer = _signer(cfg, create=True)
    cfg.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    limits = SpoolLimits(cfg.spool_max_rows, cfg.spool_max_bytes, int(cfg.spool_prune_age_s * _NS))
    spool = Spool.open(cfg.spool_path, signer.public_key.key_id, limits)
    _mark_chain_started(cfg, signer)
    metrics = AttestorMetrics(lambda: clock.now_ns() / _NS)
    alarms = Alarms(spool, metrics, clock)
    uplink: Uplink | None = None
    if cfg.verifier_address:
        try:
            log_verifier = Ed25519NoteVerifier.from_vkey(cfg.log_vkey)
        except InputError as e:
            raise ConfigError(f"log.vkey: {e}") from e
        settings = UplinkSettings(
            address=cfg.verifier_address,
            tls=TlsSettings(
                cfg.verifier_insecure,
                cfg.verifier_ca_file,
                cfg.verifier_cert_file,
                cfg.verifier_key_file,
                cfg.verifier_server_name,
            ),
            challenge_key=_public_key(cfg.challenge_key, "verifier.challenge_key"),
            log=LogTrust(cfg.log_origin or log_verifier.name, log_verifier),
            policy=_policy(cfg.log_policy),
            batch_size=cfg.batch_size,
            deadline_s=cfg.deadline_s,
            backoff_initial_s=cfg.backoff_initial_s,
            backoff_max_s=cfg.backoff_max_s,
            challenge_refresh_s=cfg.challenge_refresh_s,
        )
        uplink = Uplink(settings, spool, clock, metrics, alarms)
        if cfg.verifier_insecure and not is_loopback(cfg.verifier_address):
            _log.warning(
                "sending reports in plaintext beyond this machine (verifier.insecure = true)",
                extra={"fields": {"address": cfg.verifier_address}},
            )
    accounting: AccountingSource | None = None
    if cfg.mode == "accounting":  # no telemetry: the scheduler, read once a period
        a = cfg.accounting
        accounting = AccountingSource(a.tool, a.binary, a.url, a.path, a.timeout_s, a.user, a.token_file)
        sources = []
    else:
        sources = open_sources(cfg.sources, subject_id=cfg.subject_id, meter=cfg.mode == "meter")
    settings_d = DaemonSettings(
        cfg.facility_id,
        cfg.subject_id,
        cfg.mode == "meter",
        int(cfg.period_s * _NS),
        int(cfg.sample_interval_s * _NS),
        final_upload_s=min(5.0, cfg.deadline_s),
        accounting=accounting,
        accounting_max_bytes=cfg.accounting.max_report_bytes,
    )
    daemon = AttestorDaemon(
        settings=settings_d,
        clock=clock,
        signer=signer,
        spool=spool,
        sources=sources,
        uplink=uplink,
        metrics=metrics,
        alarms=alarms,
    )
    return daemon, spool, metrics


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _StopSignals:
    """SIGTERM and SIGINT for ``run``: caught from its first line (only noted: nothing is cut
    short) until the event loop takes them over with :meth:`hand_over`. A context manager: the
    handlers that were there before come back on leaving (``main`` may run in a test process)."""

    def __init__(self, notifier: ServiceNotifier) -> None:
        self._notifier = notifier
        self._caught: int | None = None
        self._previous = {sig: signal.signal(sig, self._catch) for sig in _STOP_SIGNALS}

    def __enter__(self) -> _StopSignals:
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _catch(self, signum: int, frame: FrameType | None) -> None:
        self._caught = signum

    @property
    def requested(self) -> bool:
        """A stop signal came before :meth:`hand_over`."""
        return self._caught is not None

    def hand_over(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        """From now on a stop signal sets ``stop`` (on the loop); one caught already sets it now."""

        def on_signal() -> None:
            if not stop.is_set():
                self._notifier.notify("STOPPING=1", "STATUS=stopping")
            stop.set()

        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, on_signal)
        if self.requested:
            on_signal()


def _write_ready_file(path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(f"{os.getpid()}\n", encoding="ascii")
        tmp.replace(path)
    except OSError as e:
        raise EnvironmentFaultError(f"{path}: cannot write the ready file: {e.strerror or e}") from e


async def _run(
    cfg: AttestorConfig, signals: _StopSignals, notifier: ServiceNotifier, ready_file: Path | None
) -> int:
    # one daemon per state directory (a second one exits 2 naming the holder): two would sign
    # two chains from one spool head, an equivocation blamed on the node
    _refuse_lost_spool(cfg)
    lock = lock_state_dir(cfg.state_dir, "pausewatch-attestor run")
    try:
        return await _run_locked(cfg, signals, notifier, ready_file)
    finally:
        lock.release()


async def _run_locked(
    cfg: AttestorConfig, signals: _StopSignals, notifier: ServiceNotifier, ready_file: Path | None
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if signals.requested:  # before anything is opened
        signals.hand_over(loop, stop)
        _log.info("attestor stopped during start-up", extra={"fields": {"opened": False}})
        return 0
    notifier.notify("STATUS=opening the key, spool and sources")
    clock = _clock(cfg)
    daemon, spool, metrics = build_daemon(cfg, clock)
    try:
        signals.hand_over(loop, stop)
        if cfg.metrics_listen and not stop.is_set():
            metrics.serve(cfg.metrics_listen)

        def ready() -> None:
            if ready_file is not None:
                _write_ready_file(ready_file)
            notifier.notify("READY=1", "STATUS=running")

        await daemon.run(stop, on_ready=ready)
    finally:
        spool.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    notifier = ServiceNotifier.from_environment()
    with _StopSignals(notifier) as signals:  # first: a stop during start-up is a clean stop (see top)
        from attestor.logs import setup_json_logging  # noqa: PLC0415 (lazy, see top)

        setup_json_logging(getattr(logging, args.log_level.upper()))
        notifier.notify("STATUS=starting")
        cfg = load_config(args.config, overrides=_overrides(args))
        return asyncio.run(_run(cfg, signals, notifier, args.ready_file))


# ---------------------------------------------------------------------- status


def cmd_status(args: argparse.Namespace) -> int:
    from attestor.alarms import SELF_CLEARING  # noqa: PLC0415 (lazy, see top)
    from attestor.spool import Spool  # noqa: PLC0415 (lazy, see top)

    spool = Spool.open_readonly(_spool_path(args))
    try:
        st = spool.status()
        acks = {a.kind: spool.get_meta(f"alarm_ack:{a.kind}") for a in spool.alarms(active_only=False)}
    finally:
        spool.close()
    doc = {
        "ok": not st.alarms,
        "key_id": st.key_id,
        "chain_head": {"next_seq": st.head_seq, "last_digest": st.head_digest.hex()},
        "spool": {
            "pending": st.pending,
            "acked": st.acked,
            "rejected": st.rejected,
            "disputed": st.disputed,
            "rows": st.rows,
            "bytes": st.bytes,
            "overflow_periods": st.overflow_skipped,
        },
        "last_receipt": None
        if st.last_ack_seq is None
        else {
            "seq": st.last_ack_seq,
            "at": format_rfc3339(st.last_ack_ns or 0),
            "at_unix_ns": st.last_ack_ns,
            "log_index": st.last_log_index,
        },
        "checkpoint_size": st.checkpoint_size,
        "alarms": [
            {
                "kind": a.kind,
                "message": a.message,
                "active_since": format_rfc3339(a.raised_ns),
                "last_raised": format_rfc3339(a.last_ns),
                "raised_unix_ns": a.raised_ns,
                "count": a.count,
                "clears": "by itself when its cause is gone" if a.kind in SELF_CLEARING else "by `ack`",
            }
            for a in st.alarms
        ],
        "acknowledged": {k: json.loads(v) for k, v in sorted(acks.items()) if v},
    }
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"key id      {st.key_id}")
        print(f"chain head  next seq {st.head_seq}, last digest {st.head_digest.hex() or '-'}")
        print(
            f"spool       {st.pending} pending, {st.acked} acked, {st.rejected} rejected,"
            f" {st.disputed} disputed ({st.rows} rows, {st.bytes} bytes)"
        )
        if st.last_ack_seq is None:
            print("receipt     none yet")
        else:
            print(
                f"receipt     seq {st.last_ack_seq} at log index {st.last_log_index}"
                f" ({format_rfc3339(st.last_ack_ns or 0)}); checkpoint size {st.checkpoint_size}"
            )
        for a in st.alarms:
            how = "clears when its cause is gone" if a.kind in SELF_CLEARING else "ack it once handled"
            print(
                f"ALARM       {a.kind} active since {format_rfc3339(a.raised_ns)} (raised {a.count}x,"
                f" last {format_rfc3339(a.last_ns)}; {how}): {a.message}"
            )
        if not st.alarms:
            print("alarms      none active")
    return 1 if st.alarms else 0


def _spool_path(args: argparse.Namespace) -> Path:
    """The spool of ``--config`` / ``--state-dir``; ``status`` and ``ack`` need nothing else."""
    cfg_path = args.config
    overrides = _overrides(args)
    try:
        cfg = load_config(cfg_path, overrides=overrides)
        path = cfg.spool_path
    except ConfigError:
        if not args.state_dir and cfg_path is None:
            raise
        # status needs only the state directory; identity keys may be absent.
        path = (
            Path(args.state_dir) / "spool.sqlite"
            if args.state_dir
            else Path("/var/lib/pausewatch-attestor/spool.sqlite")
        )
    return path


def cmd_ack(args: argparse.Namespace) -> int:
    """End an alarm an operator has looked into; the acknowledgement (time, note, user) is
    kept in the spool's meta and logged."""
    from attestor.spool import Spool  # noqa: PLC0415 (lazy, see top)

    path = _spool_path(args)
    reader = Spool.open_readonly(path)
    try:
        key_id = reader.status().key_id
        active = {a.kind for a in reader.alarms()}
    finally:
        reader.close()
    if args.kind not in active:
        raise InputError(
            f"no active alarm {args.kind!r} (active: {', '.join(sorted(active)) or 'none'})"
        )
    now = time.time_ns()
    record = {"at": format_rfc3339(now), "note": args.note, "uid": os.getuid()}
    spool = Spool.open(path, key_id)
    try:
        spool.clear_alarm(args.kind)
        spool.set_meta(f"alarm_ack:{args.kind}", json.dumps(record))
    finally:
        spool.close()
    from attestor.logs import setup_json_logging  # noqa: PLC0415 (lazy, see top)

    setup_json_logging()
    _log.warning("alarm acknowledged", extra={"fields": {"alarm": args.kind, "note": args.note[:500]}})
    if args.json:
        print(json.dumps({"ok": True, "alarm": args.kind, **record}))
    else:
        print(f"acknowledged {args.kind}: {args.note}")
    return 0


# ---------------------------------------------------------------------- probe


def cmd_probe(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict  # noqa: PLC0415 (lazy, see top)

    from attestor.aggregate import Aggregator  # noqa: PLC0415 (lazy, see top)
    from attestor.sources import open_sources  # noqa: PLC0415 (lazy, see top)

    options: list[tuple[str, Any]] = []
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--option {item!r}: expected key=value")
        options.append((key.strip(), value_or_text(value)))
    if args.seconds <= 0 or args.interval <= 0:
        raise ConfigError("--seconds and --interval must be positive")
    sources = open_sources([SourceSpec(args.source, tuple(sorted(options)))], subject_id="probe")
    agg = Aggregator()
    samples: list[dict[str, Any]] = []
    start = time.time_ns()
    try:
        deadline = time.monotonic() + args.seconds
        while True:
            now = time.time_ns()
            for s in sources:
                sample = s.sample(now)
                agg.add(sample)
                samples.append(
                    {
                        "at_unix_ns": sample.at_ns,
                        "source": sample.kind.name.lower(),
                        "version": sample.version,
                        "devices": [dataclasses.asdict(d) for d in sample.devices],
                        "host": None if sample.host is None else sample.host.__dict__,
                        "anomalies": [a.__dict__ | {"kind": a.kind.name} for a in sample.anomalies],
                    }
                )
            if time.monotonic() + args.interval > deadline:
                break
            time.sleep(args.interval)
    finally:
        for s in sources:
            s.close()
    period = agg.close(start, time.time_ns())
    out: dict[str, Any] = {
        "samples": samples,
        "aggregate": {
            "accelerators": [MessageToDict(u) for u in period.accelerators],
            "node": MessageToDict(period.node),
            "anomalies": [MessageToDict(a) for a in period.anomalies],
        },
    }
    if args.json:
        print(json.dumps(out, indent=1, default=str))
    else:
        print(f"{len(samples)} samples from {args.source}")
        for u in out["aggregate"]["accelerators"]:
            print(json.dumps(u))
        print(json.dumps(out["aggregate"]["node"]))
        for a in out["aggregate"]["anomalies"]:
            print("anomaly", json.dumps(a))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # our one-line errors, not gRPC core's logs
    args = _parser().parse_args(argv)
    handlers = {"init": cmd_init, "run": cmd_run, "status": cmd_status, "ack": cmd_ack, "probe": cmd_probe}
    try:
        return handlers[args.command](args)
    except (ConfigError, KeyFileError, EnvironmentFaultError, InputError) as e:
        return _fail(args, str(e))
    except OSError as e:  # the environment (permissions, a full disk) where no step said more
        return _fail(args, describe_os_error(e))
    except KeyboardInterrupt:
        return _fail(args, "interrupted")


def _fail(args: argparse.Namespace, reason: str) -> int:
    """One line on stderr; with ``--json`` also ``{"ok": false, ...}`` on stdout. Exit 2."""
    print(f"pausewatch-attestor {args.command}: {reason}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "command": args.command, "exit_code": 2, "error": reason}))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
