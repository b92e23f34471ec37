"""An in-process attestor (real daemon, real spool file, real gRPC uplink) on a SimulatedClock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from attestor.alarms import Alarms
from attestor.daemon import AttestorDaemon, DaemonSettings
from attestor.metrics import AttestorMetrics
from attestor.receipts import LogTrust
from attestor.sources.simulator import SimulatedDeviceSource, WorkloadProfile
from attestor.spool import Spool
from attestor.uplink import TlsSettings, Uplink, UplinkSettings
from pausewatch.clock import NS_PER_S, SimulatedClock
from pausewatch.keys import Ed25519Signer
from pausewatch.note import Ed25519NoteVerifier
from tests.attestor.peer import ORIGIN, Peer

START_NS = 1_767_225_600 * NS_PER_S
# A clock step resolves a sleeper; the daemon then samples, signs and notifies the uplink, or the
# uplink's own sleep ends: a handful of event-loop turns. After that many the uplink has either
# started working (idle cleared) or has nothing to do.
_HOPS = 12
_IDLE_TIMEOUT_S = 30.0  # real seconds: only a hung uplink (a bug) takes this long


@dataclass
class Harness:
    clock: SimulatedClock
    signer: Ed25519Signer
    spool: Spool
    daemon: AttestorDaemon
    metrics: AttestorMetrics
    uplink: Uplink
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move simulated time in steps, letting the daemon's tasks run at each step."""
        for _ in range(round(seconds / step)):
            self.clock.advance(step)
            for _ in range(3):
                await asyncio.sleep(0)

    async def until(self, predicate: Callable[[], bool], step: float = 1.0, max_steps: int = 2000) -> None:
        """Advance time until ``predicate`` holds; after each step, wait (on the uplink's idle
        event, not on real time) until the uplink has done what that step made possible."""
        for _ in range(max_steps):
            if predicate():
                return
            self.clock.advance(step)
            await self.settle()
        raise AssertionError("condition not reached within the simulated time allowed")

    async def settle(self) -> None:
        """Let the tasks the clock woke run, then wait until the uplink is idle again."""
        for _ in range(_HOPS):
            await asyncio.sleep(0)
        await asyncio.wait_for(self.uplink.idle.wait(), timeout=_IDLE_TIMEOUT_S)

    async def close(self) -> None:
        self.stop.set()
        await self.task
        self.spool.close()


async def start_attestor(
    tmp_path: Path, peer: Peer, *, period_s: int = 60, devices: int = 2, signer: Ed25519Signer | None = None
) -> Harness:
    clock = SimulatedClock(start_ns=START_NS)
    signer = signer or Ed25519Signer.generate()
    spool = Spool.open(tmp_path / "spool.sqlite", signer.public_key.key_id)
    metrics = AttestorMetrics(lambda: clock.now_ns() / NS_PER_S)
    alarms = Alarms(spool, metrics, clock)
    settings = UplinkSettings(
        address=peer.address,
        tls=TlsSettings(insecure=True),
        challenge_key=peer.state.challenge_signer.public_key,
        log=LogTrust(ORIGIN, Ed25519NoteVerifier.from_vkey(peer.state.log_vkey)),
        batch_size=8,
        deadline_s=5.0,
        backoff_initial_s=1.0,
        backoff_max_s=30.0,
        challenge_refresh_s=120.0,
    )
    uplink = Uplink(settings, spool, clock, metrics, alarms, rng=random.Random(7))
    source = SimulatedDeviceSource("a-node-01", devices, WorkloadProfile.training(job_seed=3))
    daemon = AttestorDaemon(
        settings=DaemonSettings("fac-a", "a-node-01", False, period_s * NS_PER_S, NS_PER_S),
        clock=clock,
        signer=signer,
        spool=spool,
        sources=[source],
        uplink=uplink,
        metrics=metrics,
        alarms=alarms,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    await asyncio.sleep(0)
    return Harness(clock, signer, spool, daemon, metrics, uplink, stop, task)
