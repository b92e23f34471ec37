"""The witness's HTTP service (aiohttp): a thin shell over :mod:`witness.protocol` and
:mod:`witness.store`.

Endpoints (one prefix serves both the submission and the monitoring API):

- ``POST /add-checkpoint`` — c2sp.org/tlog-witness. 200: this witness's cosignature line;
  400 malformed; 403 no valid signature by the log's key; 404 unknown origin; 409 (with
  ``Content-Type: text/x.tlog.size`` and the size held) when the old size is not the size held
  or the root differs at equal size; 422 when the consistency proof does not verify; 413 over
  ``max_request_bytes``; 503 when ``max_concurrent_requests`` are being judged (a body is read
  before it takes a slot); 408 when the body does not arrive, or is not answered, within
  ``request_timeout_s``. Errors are one line of ``text/plain``.
  Connections themselves are admitted within caps (per client, in all, idle time):
  :mod:`witness.connections`.
- ``GET /checkpoint/<origin, URL-encoded>`` — the latest checkpoint this witness cosigned for
  that log, the full note (the log's signature, any other cosignatures it came with, and this
  witness's); 404 when it has cosigned none.
- ``GET /healthz`` — 200 ``ok`` while the database answers.
- ``GET /metrics`` — Prometheus text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pausewatch.checkpoint import Checkpoint, CosignatureSigner
from pausewatch.clock import Clock
from pausewatch.errors import EnvironmentFaultError
from pausewatch.keys import Signer
from pausewatch.note import NoteSignature
from pausewatch.tlog_witness import ADD_CHECKPOINT_PATH, SIZE_CONTENT_TYPE, format_size
from witness.config import WitnessConfig
from witness.connections import ConnectionCaps, ConnectionGuard, GuardedSite, middleware
from witness.protocol import Rejected, open_submission
from witness.store import WitnessStore

__all__ = ["Answer", "WitnessMetrics", "WitnessService", "build_app", "start_http"]

_log = logging.getLogger("pausewatch.witness")
_NS = 1_000_000_000
T = TypeVar("T")


class WitnessMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "pausewatch_witness_add_checkpoint_requests",
            "add-checkpoint answers by status",
            ["status"],
            registry=r,
        )
        self.cosigned = Counter(
            "pausewatch_witness_cosigned_checkpoints",
            "checkpoints cosigned and stored",
            ["origin"],
            registry=r,
        )
        self.evidence = Counter(
            "pausewatch_witness_evidence",
            "log-signed requests kept as evidence (409 root, 422)",
            ["origin"],
            registry=r,
        )
        self.log_size = Gauge(
            "pausewatch_witness_log_size",
            "tree size of the latest checkpoint cosigned",
            ["origin"],
            registry=r,
        )
        self.aborted = Counter(
            "pausewatch_witness_add_checkpoint_aborted",
            "add-checkpoint requests whose client closed the connection before the body arrived",
            registry=r,
        )
        self.latency = Histogram(
            "pausewatch_witness_add_checkpoint_seconds", "time to answer add-checkpoint", registry=r
        )
        self.connections = Gauge("pausewatch_witness_connections", "client connections open", registry=r)
        self.connections_refused = Counter(
            "pausewatch_witness_connections_refused",
            "connections closed on accept: a cap reached, every connection under it busy",
            ["cap"],
            registry=r,
        )
        self.connections_closed = Counter(
            "pausewatch_witness_connections_closed",
            "connections the witness closed: idle past idle_timeout_s, or displaced by a new one over a cap",
            ["reason"],
            registry=r,
        )


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "text/plain"


class WitnessService:
    """Answers add-checkpoint requests and serves what was cosigned. Database work runs on one
    worker thread, in order, so the event loop keeps reading requests while SQLite syncs."""

    def __init__(self, config: WitnessConfig, store: WitnessStore, signer: Signer, clock: Clock) -> None:
        self.config = config
        self.store = store
        self.metrics = WitnessMetrics()
        self._signer = signer
        self._clock = clock
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="witness-db")
        self._slots = asyncio.Semaphore(config.limits.max_concurrent_requests)
        limits = config.limits
        caps = ConnectionCaps(
            limits.max_connections, limits.max_connections_per_address, limits.idle_timeout_s
        )
        self.connections = ConnectionGuard(
            caps,
            time.monotonic,
            refused=lambda cap: self.metrics.connections_refused.labels(cap).inc(),
            closed=lambda reason: self.metrics.connections_closed.labels(reason).inc(),
        )
        self.metrics.connections.set_function(lambda: self.connections.open)
        for s in store.status():
            self.metrics.log_size.labels(s.origin).set(s.size)

    @property
    def cosigner(self) -> CosignatureSigner:
        return CosignatureSigner(self.config.name, self._signer, 0)

    def close(self) -> None:
        self._db.shutdown(wait=True)

    def _cosign(self, checkpoint: Checkpoint) -> NoteSignature:
        timestamp = self._clock.now_ns() // _NS
        signer = CosignatureSigner(self.config.name, self._signer, timestamp)
        return NoteSignature(signer.name, signer.key_id, signer.sign(checkpoint.body()))

    async def run_db(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn)

    async def add_checkpoint(self, body: bytes) -> Answer:
        started = time.monotonic()
        try:
            submission = open_submission(body, self.config.logs)
            origin = submission.checkpoint.origin
            try:
                signature = await self.run_db(
                    lambda: self.store.add(
                        submission,
                        self._cosign,
                        self._clock.now_ns(),
                        max_evidence=self.config.limits.max_evidence_per_log,
                    )
                )
            except Rejected as rejected:
                if rejected.evidence:
                    self.metrics.evidence.labels(origin).inc()
                    _log.warning(
                        "log-signed checkpoint refused and kept as evidence",
                        extra={
                            "fields": {"origin": origin, "status": rejected.status, "reason": rejected.reason}
                        },
                    )
                raise
        except Rejected as rejected:
            self.metrics.requests.labels(str(rejected.status)).inc()
            if rejected.status == 409 and rejected.size is not None:
                return Answer(409, format_size(rejected.size), SIZE_CONTENT_TYPE)
            return Answer(rejected.status, (rejected.reason.replace("\n", " ")[:500] + "\n").encode())
        self.metrics.requests.labels("200").inc()
        self.metrics.cosigned.labels(origin).inc()
        self.metrics.log_size.labels(origin).set(submission.checkpoint.size)
        self.metrics.latency.observe(time.monotonic() - started)
        _log.info("cosigned", extra={"fields": {"origin": origin, "size": submission.checkpoint.size}})
        return Answer(200, signature.format().encode("utf-8"))

    async def latest(self, origin: str) -> Answer:
        if self.config.log(origin) is None:
            return Answer(404, b"unknown log: not witnessed here\n")
        record = await self.run_db(lambda: self.store.latest(origin))
        if record is None:
            return Answer(404, b"no checkpoint cosigned for this log yet\n")
        return Answer(200, record.note)


def _response(answer: Answer) -> web.Response:
    return web.Response(status=answer.status, body=answer.body, headers={"Content-Type": answer.content_type})


def build_app(service: WitnessService) -> web.Application:
    limits = service.config.limits

    async def add_checkpoint(request: web.Request) -> web.Response:
        # The body is read before a slot is taken: a peer that sends slowly (or never) holds
        # its own connection until request_timeout_s, not one of the max_concurrent_requests
        # slots the log's requests need. A slot is held only while a whole body is judged.
        try:
            async with asyncio.timeout(limits.request_timeout_s):
                body = await request.read()  # client_max_size: 413 beyond the limit
                if service._slots.locked():
                    return refuse(503, b"busy: too many requests being served; retry\n")
                async with service._slots:
                    return _response(await service.add_checkpoint(body))
        except web.HTTPRequestEntityTooLarge:
            return refuse(413, f"request over {limits.max_request_bytes} bytes\n".encode())
        except TimeoutError:
            return refuse(408, b"request not received in time\n")
        except ConnectionResetError:  # the peer went away mid-body: nobody to answer
            service.metrics.aborted.inc()
            _log.debug("add-checkpoint: the client closed the connection before its body arrived")
            return refuse(400, b"connection lost\n", count=False)
        except EnvironmentFaultError as e:
            _log.error("cannot store", extra={"fields": {"error": str(e)}})
            return refuse(500, b"the witness cannot store checkpoints now\n")

    def refuse(status: int, reason: bytes, *, count: bool = True) -> web.Response:
        if count:
            service.metrics.requests.labels(str(status)).inc()
        return _response(Answer(status, reason))

    async def checkpoint(request: web.Request) -> web.Response:
        return _response(await service.latest(request.match_info["origin"]))

    async def healthz(_: web.Request) -> web.Response:
        try:
            await service.run_db(lambda: service.store.head(""))
        except Exception:
            return _response(Answer(503, b"database unavailable\n"))
        return _response(Answer(200, b"ok\n"))

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(service.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application(
        client_max_size=limits.max_request_bytes, middlewares=[middleware(service.connections)]
    )
    app.router.add_post(ADD_CHECKPOINT_PATH, add_checkpoint)
    app.router.add_get("/checkpoint/{origin:.+}", checkpoint)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_http(service: WitnessService, host: str, port: int) -> tuple[web.AppRunner, GuardedSite]:
    """Serve ``build_app(service)`` on ``host:port`` behind the service's connection guard, as
    ``pausewatch-witness serve`` does; ``runner.cleanup()`` stops it."""
    # handlers are not cancelled when a client disconnects: a cosignature being stored is stored
    runner = web.AppRunner(build_app(service), access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    site = GuardedSite(runner, service.connections, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site
