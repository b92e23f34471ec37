"""A bundle exported from a real verifier run (real gRPC on localhost, real SQLite file,
simulated clock), shared by the audit tests. Built once per session; tests copy it before
changing anything.

The run: three nodes and a meter report every minute for 40 minutes against the live
challenge; node 1 restarts half way (new boot id) and node 2 skips two reports (a gap); a
lab-signed commitment is submitted; the verifier's own ``EvaluationScheduler`` ticks as
buckets close and signs and logs a verdict for every closed 10-minute bucket; then the state
is exported with ``verifier.export``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from pausewatch import bundle as bf
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.files import bundle as bf_files
from pausewatch.v1 import types_pb2, verifier_pb2
from sim import factories
from sim.factories import MeterChain, UsageChain
from tests.verifier.harness import ORIGIN, Running, World, running
from verifier.export import export_bundle, trust_files
from verifier.scheduler import EvaluationScheduler
from verifier.sqlite_storage import SqliteStorage

MINUTES = 40
BUCKET_S = 600


@dataclass(frozen=True)
class RealBundle:
    directory: Path
    policy: Path
    roots: Path
    archive: Path
    db: Path
    world: World


def commitment_message() -> types_pb2.Commitment:
    return factories.commitment_message(["fac-a"], description="no training run in fac-a during the pause")


def node_chain(world: World, i: int) -> UsageChain:
    """Node ``i``'s attestor: one idle H100 (its own uuid, as the inventory declares it)."""
    return world.chain(
        i,
        b"",
        uuid=f"GPU-{i:04d}",
        attestor_version="test",
        reading=factories.reading(
            energy_j=60 * 70.0,
            power_mean_w=70.0,
            busy_fraction=0.0,
            tensor_active=0.0,
            power_max_w=72.0,
            power_min_w=68.0,
            power_limit_w=700.0,
        ),
    )


class ChallengeWatch:
    """Wakes whoever waits for a challenge: wraps the running server's ``ChallengeIssuer.issue``
    (which its challenge loop calls on the simulated clock) to notify after each one is logged."""

    def __init__(self, r: Running) -> None:
        self.issuer = r.server.challenges
        self.changed = asyncio.Condition()
        issue = self.issuer.issue

        async def issue_and_notify() -> types_pb2.Challenge:
            challenge = await issue()
            async with self.changed:
                self.changed.notify_all()
            return challenge

        self.issuer.issue = issue_and_notify  # type: ignore[method-assign]

    async def issued_at(self, now_ns: int) -> None:
        """Wait until the challenge issued at ``now_ns`` (or later) is in the log."""

        def done() -> bool:
            current = self.issuer.current_challenge
            return current is not None and current.issued_unix_ns >= now_ns

        async with asyncio.timeout(30), self.changed:
            await self.changed.wait_for(done)


async def _run(world: World) -> None:
    async with running(world, enrol=False) as r:
        challenges = ChallengeWatch(r)
        await r.stub.SubmitInventory(
            verifier_pb2.SubmitSignedRequest(envelope=world.sign_inventory(world.inventory())), timeout=5
        )
        await r.stub.SubmitCommitment(
            verifier_pb2.SubmitSignedRequest(
                envelope=sign_envelope(
                    PayloadType.COMMITMENT,
                    commitment_message().SerializeToString(deterministic=True),
                    [world.lab],
                )
            ),
            timeout=5,
        )
        scheduler = EvaluationScheduler(r.server.sequencer, r.server.verdict_signer, world.clock)
        chains = [node_chain(world, i) for i in range(3)]
        meter = MeterChain(world.meter_key, b"\x02" * 16, source_version="test")
        for minute in range(MINUTES):
            world.clock.advance(60)  # the server's challenge loop wakes and issues the next one
            await challenges.issued_at(world.clock.now_ns())
            nonce = await r.nonce()
            batch = []
            for i, chain in enumerate(chains):
                chain.nonce = nonce
                if i == 1 and minute == MINUTES // 2:
                    chain.boot_id = b"\x09" * 16  # the attestor restarted
                if i == 2 and minute in (25, 26):
                    chain.next()  # signed but never delivered: a gap in node 2's chain
                    continue
                batch.append(chain.next())
            meter.nonce = nonce
            batch.append(meter.next(70.0 * 3 * 1.2))
            results = await r.submit(*batch)
            assert all(x.disposition == verifier_pb2.DISPOSITION_ACCEPTED for x in results), results
            if minute % 10 == 9:
                await scheduler.tick()  # the verifier's own scheduler, as buckets close
        world.clock.advance(200)  # past the last bucket's grace period (and a challenge is due)
        await scheduler.tick()
        await challenges.issued_at(world.clock.now_ns())  # nothing is in flight when it stops
        latest = r.server.sequencer.latest
        assert latest is not None
        assert latest.size == (await r.server.sequencer.read(lambda s: s.log_size()))


def export_world(world: World, directory: Path) -> tuple[bytes, bytes]:
    """Export the whole of ``world``'s verifier state to ``directory``, as its operator would;
    returns the trust files (policy, roots) an auditor brings."""
    policy, roots = trust_files(world.config(), keys=world.keys)
    storage = SqliteStorage(world.db, readonly=True)
    try:
        export_bundle(storage, directory, origin=ORIGIN, policy=policy, roots=roots, scope=bf.Scope())
    finally:
        storage.close()
    return policy, roots


def build_real_bundle(base: Path) -> RealBundle:
    world = World(base, nodes=3)
    asyncio.run(_run(world))
    directory = base / "bundle"
    policy, roots = export_world(world, directory)
    archive = base / "bundle.tar.gz"
    bf_files.write_archive(directory, archive)
    (base / "policy.txt").write_bytes(policy)
    (base / "roots.toml").write_bytes(roots)
    return RealBundle(directory, base / "policy.txt", base / "roots.toml", archive, world.db, world)


@pytest.fixture(scope="session")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> RealBundle:
    return build_real_bundle(tmp_path_factory.mktemp("real-run"))


def copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    return dst
