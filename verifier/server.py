"""Building and running the verifier: ``build_server`` wires storage, sequencer, challenges,
alerts, metrics, health and reflection into a ``grpc.aio`` server that tests start on port 0.

Hook for the evaluation scheduler (and anything else that must run beside the service):
pass ``background=[fn, ...]``; each ``fn(server)`` is a coroutine function started as a task
once the server is serving and cancelled on stop. It gets the :class:`VerifierServer`, whose
``sequencer`` (``read``, ``append_verdict``), ``alert_bus`` (``publish``), ``verdict_signer``
and ``clock`` are what a scheduler needs. :func:`standard_background` gives what ``serve``
runs: the evaluation scheduler (``[evaluation]``) and webhook delivery (``[webhooks]``).

gRPC core options: calls that reach the server but are not yet taken by the application wait
in core's pending queue; past ``grpc.server.max_pending_requests`` (default 1000) core starts
cancelling them at random, and always past the hard limit (default 3000) — clients see
CANCELLED. Both are raised to ``limits.max_concurrent_rpcs`` so that overload is answered by
the servicer's own backpressure (RESOURCE_EXHAUSTED with a retry hint) and never by silent
cancellation. A call that core holds unrequested for ``grpc.server_max_unrequested_time_in_server``
(gRPC's default 30 s) is cancelled too: a burst of 10,000 calls takes the event loop longer
than that to take in, so it is ``limits.grpc_max_unrequested_s`` (120 s, the attestor's deadline);
once taken, the servicer answers an over-full queue at once with RESOURCE_EXHAUSTED.
gRPC's allocation-based overload protection (``grpc.http.overload_protection``) stays on,
against HTTP/2 rapid reset; why, and what it costs a client at its connection's stream cap:
:func:`verifier.frontend.grpc_options`.

With ``core_socket`` (``serve`` with ``limits.frontends`` > 0, :mod:`verifier.frontends`) the
server is the *core*: it listens on that Unix socket only, for its front-ends, which forward
every call but reports (with the caller named in the metadata) and send what they admitted
to the core's ``Sequence`` method (:mod:`verifier.frontend_link`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # re-exported at runtime
from grpc_reflection.v1alpha import reflection

from pausewatch.clock import NS_PER_S, Clock, SimulatedClock, SystemClock
from pausewatch.envelope import parse_envelope, parse_message
from pausewatch.errors import EnvironmentFaultError
from pausewatch.files.keyfile import load_key_file
from pausewatch.files.statedir import StateDirLock, lock_state_dir
from pausewatch.inventory import enrolled_key_ids
from pausewatch.keys import Signer
from pausewatch.note import Ed25519NoteSigner, NoteSigner
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from verifier.alert_bus import AlertBus
from verifier.alerts import WebhookNotifier
from verifier.challenges import ChallengeIssuer
from verifier.checkpoint_file import CHECKPOINT_FILE, CheckpointFile
from verifier.config import EvaluationConfig, VerifierConfig
from verifier.disk_reserve import RESERVE_FILE, DiskReserve, OncePer
from verifier.frontend import grpc_options, per_source, server_credentials
from verifier.frontend_link import CoreLink
from verifier.ingest import RateLimiter
from verifier.log_time import LogTimeClock
from verifier.metrics import GrpcMetricsInterceptor, MetricsEndpoint, VerifierMetrics, start_metrics_endpoint
from verifier.rate_state import RATE_STATE_FILE, load_rate_state, save_rate_state
from verifier.registry import TrustRoots
from verifier.scheduler import EvaluationScheduler, SchedulerConfig
from verifier.sequencer import LogSequencer
from verifier.service import VerifierServicer
from verifier.storage import Storage, StorageReader
from verifier.storage_backends import open_storage
from verifier.witnesses import run_witnesses

__all__ = [
    "SERVICE_NAME",
    "Background",
    "VerifierKeys",
    "VerifierServer",
    "build_server",
    "clock_from_config",
    "evaluation_scheduler",
    "load_keys",
    "run_evaluation",
    "run_webhooks",
    "standard_background",
]

_log = logging.getLogger("pausewatch.verifier.server")
SERVICE_NAME = verifier_pb2.DESCRIPTOR.services_by_name["Verifier"].full_name

Background = Callable[["VerifierServer"], Awaitable[None]]


@dataclass(frozen=True)
class VerifierKeys:
    log: NoteSigner
    challenge: Signer
    verdict: Signer


def load_keys(config: VerifierConfig) -> VerifierKeys:
    """Load the three key files named in the config (KeyFileError names the file)."""
    log_key = load_key_file(config.log_key_file)
    return VerifierKeys(
        log=Ed25519NoteSigner(config.log_origin, log_key),
        challenge=load_key_file(config.challenge_key_file),
        verdict=load_key_file(config.verdict_key_file),
    )


def clock_from_config(config: VerifierConfig) -> Clock:
    if config.clock.mode == "accelerated":
        start = config.clock.start_unix_ns
        return SimulatedClock(
            start if start is not None else SystemClock().now_ns(),
            speedup=config.clock.speedup,
            anchor_unix_ns=config.clock.anchor_unix_ns,
        )
    return SystemClock()


@dataclass
class VerifierServer:
    """A built verifier. ``await start()``, then ``port``; ``await stop()`` ends it cleanly."""

    config: VerifierConfig
    clock: Clock
    storage: Storage
    sequencer: LogSequencer
    challenges: ChallengeIssuer
    alert_bus: AlertBus
    metrics: VerifierMetrics
    verdict_signer: Signer
    grpc_server: grpc.aio.Server
    health: Any
    port: int
    background: Sequence[Background] = ()
    metrics_endpoint: MetricsEndpoint | None = None
    admission: ThreadPoolExecutor | None = None
    servicer: VerifierServicer | None = None
    state_lock: StateDirLock | None = None
    quotas: dict[str, RateLimiter] = field(default_factory=dict)
    rate_file: Path | None = None  # where the quotas are saved (verifier.rate_state)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _steps_alerted: int = 0
    _quota_changes: int = 0
    reserve: DiskReserve | None = None  # given back when the disk fills (verifier.disk_reserve)
    # behind front-ends (verifier.frontends): the public port they share (``port`` is then the
    # core socket's, which means nothing to an operator)
    public_port: int | None = None
    _challenge_faults: OncePer = field(default_factory=lambda: OncePer(60.0))

    async def start(self) -> None:
        # the metrics port first: a port that is taken stops start-up before anything is served
        if self.config.metrics_listen:
            self.metrics_endpoint = start_metrics_endpoint(self.config.metrics_listen, self.metrics)
        self.sequencer.on_storage_full = self._storage_full
        if self.reserve is not None and not await asyncio.to_thread(self.reserve.arm):
            _log.warning(
                "could not reserve disk space for challenges on a full disk",
                extra={"file": str(self.reserve.path), "bytes": self.reserve.size},
            )
        await self.sequencer.start()
        # Log a fresh challenge before admitting any report: the log's clock for freshness
        # (pausewatch.freshness) is current after a restart, and a checkpoint exists.
        await self.challenges.issue()
        await self.grpc_server.start()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._tasks.append(asyncio.create_task(self._challenge_loop(), name="challenges"))
        self._tasks.append(asyncio.create_task(self._gauges(), name="gauges"))
        for fn in self.background:
            self._tasks.append(
                asyncio.create_task(_guard(fn, self), name=getattr(fn, "__name__", "background"))
            )
        port = self.port if self.public_port is None else self.public_port
        _log.info("verifier serving", extra={"port": port, "log_origin": self.config.log_origin})

    async def _challenge_loop(self) -> None:
        while True:
            await self.clock.sleep(self.challenges.interval_s)
            try:
                await self.challenges.issue()
            except EnvironmentFaultError as e:  # one line a minute, the sequencer says more
                if self._challenge_faults.ready(str(e)[:120]):
                    _log.error("could not issue a challenge; retrying next interval: %s", e)
            except Exception:
                self.metrics.errors.labels("challenge_issue").inc()
                _log.exception("could not issue a challenge; retrying next interval")

    async def _gauges(self) -> None:
        ticks = 0
        while True:
            if ticks % _LAST_REPORTS_EVERY == 0:
                try:
                    self.metrics.last_reports = await self.sequencer.read(_last_reports)
                except Exception:  # metrics must never stop the service
                    self.metrics.errors.labels("metrics").inc()
                    _log.exception("could not read the attestors' last reports for metrics")
            ticks += 1
            latest = self.sequencer.latest
            if latest is not None:
                self.metrics.log_size.set(latest.size)
                self.metrics.checkpoint_age.set(latest.signed_ns / NS_PER_S)
            if self.challenges.current_challenge is not None:
                self.metrics.challenge_seq.set(self.challenges.current_challenge.seq)
            self.metrics.queued.set(self.sequencer.queued)
            if self.servicer is not None:
                self.metrics.pending.set(self.servicer.pending_reports)
            self._alert_forward_steps()
            await self._save_quotas()
            await self._rearm_reserve()
            await asyncio.sleep(1.0)  # real time: metrics are for operators, not the model

    async def _rearm_reserve(self) -> None:
        """In storage-full mode: once the disk has room again, take the reserve back and take
        submissions again."""
        if not self.sequencer.storage_full:
            return
        if self.reserve is None or not await asyncio.to_thread(self.reserve.room_again):
            return
        await asyncio.to_thread(self.reserve.arm)
        self.sequencer.storage_full = False
        _log.warning("storage has room again: submissions are taken again, reserve re-armed")

    def _storage_full(self) -> None:
        """The sequencer found the disk full: give the reserve back so challenges go on."""
        if self.reserve is not None:
            self.reserve.release()
        _log.error(
            "storage full: submissions refused (UNAVAILABLE) until space is freed; challenges"
            " continue on the reserve",
            extra={"reserve_bytes": 0 if self.reserve is None else self.reserve.size},
        )

    async def _save_quotas(self) -> None:
        """Save the per-key quotas when they moved since the last save (verifier.rate_state)."""
        changes = sum(q.changes for q in self.quotas.values())
        if self.rate_file is None or changes == self._quota_changes:
            return
        now = self.clock.now_ns()
        state = {name: q.snapshot(now) for name, q in self.quotas.items()}
        try:
            await asyncio.to_thread(save_rate_state, self.rate_file, state)
        except EnvironmentFaultError as e:
            _log.error("could not save the rate state; retrying", extra={"error": str(e)})
            return
        self._quota_changes = changes

    def _alert_forward_steps(self) -> None:
        """A ``clock.step_forward`` alert (facility "": the verifier's own) per step found."""
        if not isinstance(self.clock, LogTimeClock) or self.clock.steps_forward <= self._steps_alerted:
            return
        self._steps_alerted = self.clock.steps_forward
        alert = types_pb2.Alert(raised_unix_ns=self.clock.now_ns())
        alert.finding.id = "clock.step_forward"
        alert.finding.severity = types_pb2.SEVERITY_WARNING
        alert.finding.message = (
            f"the verifier's clock stepped {self.clock.last_forward_step_ns / NS_PER_S:.0f} s forward;"
            " verdicts wait until log time has settled"
        )
        self.alert_bus.publish(alert)

    async def stop(self, grace: float = 5.0) -> None:
        """Graceful stop: NOT_SERVING, finish RPCs in flight (up to ``grace`` s), drain the
        sequencer, close storage."""
        await self.health.enter_graceful_shutdown()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.alert_bus.close()
        await self.grpc_server.stop(grace)
        await self._save_quotas()
        await self.sequencer.stop()
        if self.admission is not None:
            self.admission.shutdown(wait=True)
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()
        self.storage.close()
        if self.reserve is not None:  # taken again at the next start
            self.reserve.release()
        if self.state_lock is not None:
            self.state_lock.release()
        _log.info("verifier stopped")

    async def wait_for_termination(self) -> None:
        await self.grpc_server.wait_for_termination()


_LAST_REPORTS_EVERY = 15  # gauge-loop turns (seconds) between reads of the chain heads


def _last_reports(storage: StorageReader) -> dict[tuple[str, str], float]:
    """(facility, ``node:ID`` / ``meter:ID``) -> when its chain head was received, for every
    attestor and meter the latest inventory of each facility enrols."""
    subjects: dict[str, tuple[str, str]] = {}
    facilities = {doc.document_id for doc in storage.inventories()}
    for facility in sorted(facilities):
        doc = storage.latest_inventory(facility)
        if doc is None:
            continue
        inventory = parse_message(parse_envelope(doc.envelope).payload, types_pb2.Inventory)
        for key, what in enrolled_key_ids(inventory):
            subjects[key] = (facility, what.replace(" ", ":", 1))
    heads = storage.chain_heads(subjects)
    return {subjects[k]: head.received_ns / NS_PER_S for k, head in heads.items()}


def evaluation_scheduler(server: VerifierServer, cfg: EvaluationConfig | None = None) -> EvaluationScheduler:
    """The evaluation scheduler ``serve`` runs, wired to the server's metrics."""
    cfg = cfg or server.config.evaluation or EvaluationConfig()
    return EvaluationScheduler(
        server.sequencer,
        server.verdict_signer,
        server.clock,
        SchedulerConfig(
            interval_s=cfg.interval_s, grace_s=cfg.grace_s, max_buckets_per_tick=cfg.max_buckets_per_tick
        ),
        server.alert_bus,
        on_tick=server.metrics.on_evaluation,
        horizon=server.clock.settled_ns if isinstance(server.clock, LogTimeClock) else None,
        on_error=server.metrics.errors.labels("evaluation_tick").inc,
    )


async def run_evaluation(server: VerifierServer) -> None:
    """Background: the evaluation scheduler on the server's clock (``[evaluation]``)."""
    if server.config.evaluation is None:
        return
    await evaluation_scheduler(server).run()


async def run_webhooks(server: VerifierServer) -> None:
    """Background: alerts from the bus POSTed to ``[webhooks] urls``."""
    if not server.config.webhooks.urls:
        return
    notifier = WebhookNotifier(server.config.webhooks, server.clock)
    await asyncio.gather(notifier.forward(server.alert_bus), notifier.run())


def standard_background(config: VerifierConfig) -> list[Background]:
    """What ``serve`` runs beside the service, as the config asks."""
    out: list[Background] = []
    if config.evaluation is not None:
        out.append(run_evaluation)
    if config.webhooks.urls:
        out.append(run_webhooks)
    if config.witnesses:
        out.append(run_witnesses)
    return out


async def _guard(fn: Background, server: VerifierServer) -> None:
    try:
        await fn(server)
    except asyncio.CancelledError:
        raise
    except Exception:
        server.metrics.errors.labels("background_task").inc()
        _log.exception("background task failed")


def build_server(
    config: VerifierConfig,
    *,
    clock: Clock | None = None,
    keys: VerifierKeys | None = None,
    storage: Storage | None = None,
    background: Sequence[Background] = (),
    core_socket: Path | None = None,
) -> VerifierServer:
    """Build (not start) a verifier from ``config``. Port 0 in ``config.listen`` binds a free
    port, reported as ``server.port``. Keys and clock default to what the config names.
    ``core_socket``: serve front-ends on this Unix socket instead (the module docstring)."""
    clock = clock or clock_from_config(config)
    keys = keys or load_keys(config)
    lock: StateDirLock | None = None
    if storage is None:
        # one process per state directory: a second serve exits 2 naming the holder
        lock = lock_state_dir(Path(config.state_dir), "pausewatch-verifier serve")
        try:
            storage = open_storage(config)
        except BaseException:
            lock.release()
            raise
    try:
        # log time never decreases: held at the newest time logged, across restarts too
        log_time = LogTimeClock(clock)
        latest_challenge, latest_checkpoint = storage.latest_challenge(), storage.latest_checkpoint()
        log_time.raise_floor(
            max(
                latest_challenge.issued_ns if latest_challenge else 0,
                latest_checkpoint.signed_ns if latest_checkpoint else 0,
            )
        )
        return _build(
            config,
            clock=log_time,
            keys=keys,
            storage=storage,
            background=background,
            lock=lock,
            core_socket=core_socket,
        )
    except BaseException:
        if lock is not None:
            storage.close()
            lock.release()
        raise


def _build(
    config: VerifierConfig,
    *,
    clock: Clock,
    keys: VerifierKeys,
    storage: Storage,
    background: Sequence[Background],
    lock: StateDirLock | None,
    core_socket: Path | None = None,
) -> VerifierServer:
    limits = config.limits
    alert_bus = AlertBus(max_subscribers=limits.max_watchers)
    metrics = VerifierMetrics()
    if isinstance(clock, LogTimeClock):
        log_time = clock
        metrics.clock_steps_back.set_function(lambda: log_time.steps_back)
        metrics.log_time_held.set_function(lambda: float(log_time.held))
        metrics.clock_steps_forward.set_function(lambda: log_time.steps_forward)
    metrics.storage_full.set_function(lambda: float(sequencer.storage_full))
    sequencer = LogSequencer(
        storage,
        log_signer=keys.log,
        origin=config.log_origin,
        clock=clock,
        max_clock_skew_ns=int(config.challenge.max_clock_skew_s * NS_PER_S),
        alert_bus=alert_bus,
        on_commit=metrics.on_tick,
        log_verifier=keys.log.verifier if isinstance(keys.log, Ed25519NoteSigner) else None,
        # the file lives beside a state directory's database (an injected storage has none)
        checkpoint_file=None if lock is None else CheckpointFile(Path(config.state_dir) / CHECKPOINT_FILE),
        startup_check_entries=limits.startup_check_entries,
        max_commitment_backdate_ns=round(limits.max_commitment_backdate_s * NS_PER_S),
        max_items_per_tick=limits.sequencer_max_batch,
        min_tick_s=limits.sequencer_min_tick_s,
        busy_tick_s=limits.sequencer_busy_tick_s,
        # several hosts may share a PostgreSQL database: follow what the others log
        sync_interval_s=1.0 if config.storage.backend == "postgresql" else None,
    )
    challenges = ChallengeIssuer(
        sequencer,
        keys.challenge,
        clock,
        interval_s=config.challenge.interval_s,
        lifetime_s=config.challenge.lifetime_s,
    )
    admission = ThreadPoolExecutor(
        max_workers=limits.admission_threads or len(os.sched_getaffinity(0)) or 1,
        thread_name_prefix="pausewatch-admission",
    )
    # public (no front-ends): calls bounded per source, as a front-end's (verifier.frontend,
    # _PerSource), not by grpc's process-wide cap that a stranger's half-sent calls fill; the
    # core behind its socket keeps the cap (its only callers are the front-ends)
    public = core_socket is None
    grpc_server = grpc.aio.server(
        options=grpc_options(config),
        maximum_concurrent_rpcs=None if public else limits.max_concurrent_rpcs,
        interceptors=[
            *([per_source(limits, metrics)] if public else []),
            GrpcMetricsInterceptor(metrics),
        ],
    )
    # per-key quotas, as they were when the verifier last stopped (a restart refills nothing)
    quotas = {
        "reports": RateLimiter(limits.reports_per_minute, limits.burst_reports),
        "bytes": RateLimiter(limits.report_bytes_per_minute, limits.burst_report_bytes, unit="bytes"),
    }
    rate_file = None if lock is None else Path(config.state_dir) / RATE_STATE_FILE
    if rate_file is not None:
        for name, buckets in load_rate_state(rate_file).items():
            if name in quotas:
                quotas[name].restore(buckets)
    servicer = VerifierServicer(
        sequencer=sequencer,
        challenges=challenges,
        trust=TrustRoots.of(config.labs, config.parties),
        limits=limits,
        rate_limiter=quotas["reports"],
        byte_quota=quotas["bytes"],
        alert_bus=alert_bus,
        metrics=metrics,
        clock_now_ns=clock.now_ns,
        admission=admission,
        authorization=config.authorization,
        forwarded_callers=core_socket is not None,
    )
    _log_authorization(config)
    verifier_pb2_grpc.add_VerifierServicer_to_server(servicer, grpc_server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, grpc_server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        grpc_server,
    )
    if core_socket is not None:
        grpc_server.add_generic_rpc_handlers([CoreLink(servicer, sequencer, metrics).handler()])
    try:
        if core_socket is not None:  # for the front-ends only (the state directory is 0700)
            core_socket.unlink(missing_ok=True)  # a crashed core's; the state lock is ours
            port = grpc_server.add_insecure_port(f"unix:{core_socket}")
        elif config.tls is not None:
            port = grpc_server.add_secure_port(config.listen, server_credentials(config))
        else:
            port = grpc_server.add_insecure_port(config.listen)
    except RuntimeError:  # grpcio: "Failed to bind to address ..."
        port = 0
    if port == 0:
        admission.shutdown(wait=False)
        raise EnvironmentFaultError(f"cannot listen on {config.listen}: {_bind_error(config.listen)}")
    return VerifierServer(
        config=config,
        clock=clock,
        storage=storage,
        sequencer=sequencer,
        challenges=challenges,
        alert_bus=alert_bus,
        metrics=metrics,
        verdict_signer=keys.verdict,
        grpc_server=grpc_server,
        health=health,
        port=port,
        background=background,
        admission=admission,
        servicer=servicer,
        state_lock=lock,
        quotas=quotas,
        rate_file=rate_file,
        reserve=None
        if lock is None
        else DiskReserve(Path(config.state_dir) / RESERVE_FILE, limits.disk_reserve_bytes),
    )


def _bind_error(address: str) -> str:
    """Why gRPC could not bind ``address`` (grpcio says only that it failed): bind it here."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, int(port)))
    except (OSError, ValueError) as e:
        return getattr(e, "strerror", None) or str(e)
    return "gRPC could not bind it (set GRPC_VERBOSITY=debug for gRPC's reason)"


def _log_authorization(config: VerifierConfig) -> None:
    """Say at start what anonymous callers may do; warn when the policy is the default one."""
    policy = config.authorization
    summary = policy.summary()
    if policy.identities and (config.tls is None or config.tls.client_ca_file is None):
        _log.warning(
            "authorization: identities are mapped but client certificates are not required"
            " ([tls] client_ca_file): every caller is anonymous; %s",
            summary,
        )
    elif not policy.configured:
        _log.warning("authorization: no [authorization] table, the default policy: %s", summary)
    else:
        _log.info("authorization: %s", summary)
