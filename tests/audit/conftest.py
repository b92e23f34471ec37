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
from pausewatch.envelope import PayloadType, envelope_digest, sign_envelope
from pausewatch.files import bundle as bf_files
from pausewatch.v1 import types_pb2, verifier_pb2
from sim.factories import NS, T0
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
    return types_pb2.Commitment(
        commitment_id="pause-2026",
        version=1,
        lab_id="lab-1",
        facility_ids=["fac-a"],
        window_start_unix_ns=T0,
        window_end_unix_ns=T0 + 86_400 * NS,
        rules=types_pb2.Rules(compute_cap_flop=1e25),
        reporting=types_pb2.ReportingRequirements(
            max_report_interval_ns=120 * NS,
            max_gap_ns=180 * NS,
            min_inventory_coverage=1.0,
            bucket_ns=BUCKET_S * NS,
            timeout_intervals=3,
        ),
        signatures_required=1,
        description="no training run in fac-a during the pause",
    )


def meter_report(world: World, seq: int, prev: bytes, nonce: bytes) -> bytes:
    start = T0 + seq * 60 * NS
    msg = types_pb2.MeterReport(
        meter_key_id=world.meter_key.public_key.key_id,
        facility_id="fac-a",
        meter_id="meter",
        boot_id=b"\x02" * 16,
        seq=seq,
        prev=prev,
        period_start_unix_ns=start,
        period_end_unix_ns=start + 60 * NS,
        challenge_nonce=nonce,
        sample_count=60,
        energy_j=60 * 70.0 * 3 * 1.2,
        power_mean_w=70.0 * 3 * 1.2,
        signed_unix_ns=start + 60 * NS,
        source=types_pb2.SourceInfo(kind=types_pb2.SOURCE_KIND_SIMULATOR, version="test"),
    )
    return sign_envelope(
        PayloadType.METER_REPORT, msg.SerializeToString(deterministic=True), [world.meter_key]
    )


@dataclass
class NodeChain:
    """An honest attestor's chain with its own accelerator uuid."""

    world: World
    i: int
    boot_id: bytes = b"\x01" * 16
    seq: int = 0
    prev: bytes = b""
    nonce: bytes = b""

    def next(self) -> bytes:
        start = T0 + self.seq * 60 * NS
        msg = types_pb2.UsageReport(
            attestor_key_id=self.world.node_keys[self.i].public_key.key_id,
            facility_id="fac-a",
            node_id=f"node-{self.i:02d}",
            boot_id=self.boot_id,
            seq=self.seq,
            prev=self.prev,
            period_start_unix_ns=start,
            period_end_unix_ns=start + 60 * NS,
            challenge_nonce=self.nonce,
            signed_unix_ns=start + 60 * NS,
            attestor_version="test",
        )
        acc = msg.accelerators.add(uuid=f"GPU-{self.i:04d}", model="NVIDIA H100 80GB HBM3", sample_count=60)
        acc.energy_j, acc.power_mean_w, acc.busy_fraction, acc.tensor_active = 60 * 70.0, 70.0, 0.0, 0.0
        acc.power_max_w, acc.power_min_w, acc.power_limit_w = 72.0, 68.0, 700.0
        env = sign_envelope(
            PayloadType.USAGE_REPORT,
            msg.SerializeToString(deterministic=True),
            [self.world.node_keys[self.i]],
        )
        self.seq += 1
        self.prev = envelope_digest(env)  # a lost report still chains: the next one names it
        return env


def inventory(world: World) -> bytes:
    inv = world.inventory()
    for i, node in enumerate(inv.nodes):
        node.accelerators[0].uuid = f"GPU-{i:04d}"
    return world.sign_inventory(inv)


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
        await r.stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=inventory(world)), timeout=5)
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
        chains = [NodeChain(world, i) for i in range(3)]
        meter_prev = b""
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
            env = meter_report(world, minute, meter_prev, nonce)
            meter_prev = envelope_digest(env)
            batch.append(env)
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


def build_real_bundle(base: Path) -> RealBundle:
    world = World(base, nodes=3)
    asyncio.run(_run(world))
    policy, roots = trust_files(world.config(), keys=world.keys)
    storage = SqliteStorage(world.db, readonly=True)
    try:
        directory = base / "bundle"
        export_bundle(storage, directory, origin=ORIGIN, policy=policy, roots=roots, scope=bf.Scope())
    finally:
        storage.close()
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
