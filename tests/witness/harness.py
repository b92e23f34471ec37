"""The witness service on a real localhost socket, in process (an aiohttp AppRunner, as
`pausewatch-witness serve` runs it), and a real verifier (gRPC, SQLite) that asks witnesses to
cosign its checkpoints."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from pausewatch.checkpoint import CosignatureSigner
from pausewatch.clock import SimulatedClock
from pausewatch.keys import Ed25519Signer
from pausewatch.note import Ed25519NoteVerifier
from tests.verifier.harness import Running as VerifierRunning
from tests.verifier.harness import World, running
from tests.witness.logs import TestLog
from verifier.config import WitnessTarget
from verifier.witnesses import run_witnesses
from witness.config import Limits, TrustedLog, WitnessConfig
from witness.server import WitnessService, start_http
from witness.store import WitnessStore

WITNESS_NAME = "witness.test/w1"
WITNESS_SEED = b"\x07" * 32


def witness_config(
    state: Path,
    logs: Sequence[TestLog | tuple[str, str]],
    limits: Limits | None = None,
    name: str = WITNESS_NAME,
) -> WitnessConfig:
    trusted = []
    for log in logs:
        origin, vkey = (log.origin, log.vkey) if isinstance(log, TestLog) else log
        trusted.append(TrustedLog(origin, Ed25519NoteVerifier.from_vkey(vkey)))
    return WitnessConfig(
        name, state / "witness.key", state, "127.0.0.1:0", tuple(trusted), limits or Limits()
    )


@dataclass
class Running:
    service: WitnessService
    session: aiohttp.ClientSession
    clock: SimulatedClock
    url: str

    async def post(self, body: bytes) -> tuple[int, bytes, str]:
        async with self.session.post("/add-checkpoint", data=body) as r:
            return r.status, await r.read(), r.headers.get("Content-Type", "")

    async def get(self, path: str) -> tuple[int, bytes]:
        async with self.session.get(path) as r:
            return r.status, await r.read()


@contextlib.asynccontextmanager
async def running_witness(
    config: WitnessConfig, seed: bytes = WITNESS_SEED, port: int = 0, host: str = "127.0.0.1"
) -> AsyncIterator[Running]:
    config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    clock = SimulatedClock()
    store = WitnessStore(config.database)
    service = WitnessService(config, store, Ed25519Signer.from_seed(seed), clock)
    # As `pausewatch-witness serve` runs it (witness.cli._run): an AppRunner, whose handlers
    # are not cancelled when a client disconnects (aiohttp's TestServer cancels them), behind
    # the connection guard.
    runner, site = await start_http(service, host, port)
    url = f"http://{host}:{site.port}"
    try:
        async with aiohttp.ClientSession(base_url=url) as session:
            yield Running(service, session, clock, url)
    finally:
        await runner.cleanup()
        service.close()
        store.close()


def witness_vkey(name: str = WITNESS_NAME, seed: bytes = WITNESS_SEED) -> str:
    return CosignatureSigner(name, Ed25519Signer.from_seed(seed), 0).verifier.vkey


@contextlib.asynccontextmanager
async def verifier_with(
    world: World, targets: list[WitnessTarget], quorum: int = 0
) -> AsyncIterator[VerifierRunning]:
    """``tests.verifier.harness.running`` with ``[[witnesses]]`` and the collector running."""
    config = dataclasses.replace(world.config(), witnesses=tuple(targets), witness_quorum=quorum)
    async with running(world, config=config, background=[run_witnesses]) as r:
        yield r


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what
