"""A real verifier on localhost for tests: real SQLite file, real gRPC, simulated clock.

``World`` holds the keys (deterministic), the lab, a fleet of node keys and a config;
``running(world)`` starts the server on port 0, enrols the inventory through the real
``SubmitInventory`` RPC and yields a ``Running`` with a stub. Reports are made by
``sim.factories.UsageChain`` (an honest attestor's chain) with the live challenge.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from pausewatch import merkle
from pausewatch.checkpoint import Checkpoint, open_checkpoint
from pausewatch.clock import SimulatedClock
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.keys import Ed25519Signer
from pausewatch.note import Ed25519NoteSigner
from pausewatch.roots import LabRoot
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from sim.factories import NS, T0, EnrolledNode, UsageChain, inventory, seeded_signer
from verifier.authz import AuthorizationPolicy, Role
from verifier.config import ChallengeConfig, LimitsConfig, VerifierConfig
from verifier.server import Background, VerifierKeys, VerifierServer, build_server
from verifier.sqlite_storage import SqliteStorage

ORIGIN = "verifier.test/pausewatch"
# raw entries and alert streams are not public: tests that read them call as the operator
OPERATOR_ON_LOOPBACK = AuthorizationPolicy(loopback_role=Role.OPERATOR, configured=True)


@dataclass
class World:
    tmp: Path
    nodes: int = 4
    facility_id: str = "fac-a"
    lab_id: str = "lab-1"
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    challenge: ChallengeConfig = field(default_factory=lambda: ChallengeConfig(60.0, 180.0, 120.0))
    authorization: AuthorizationPolicy = field(default_factory=AuthorizationPolicy)

    def __post_init__(self) -> None:
        self.lab = seeded_signer("lab-1")
        self.other_lab = seeded_signer("lab-2")
        self.log_key = seeded_signer("log")
        self.keys = VerifierKeys(
            log=Ed25519NoteSigner(ORIGIN, self.log_key),
            challenge=seeded_signer("challenge"),
            verdict=seeded_signer("verdict"),
        )
        self.node_keys = [seeded_signer(f"node-{i}") for i in range(self.nodes)]
        self.meter_key = seeded_signer("meter")
        self.clock = SimulatedClock(T0)

    @property
    def db(self) -> Path:
        return self.tmp / "state" / "verifier.sqlite"

    def config(self) -> VerifierConfig:
        return VerifierConfig(
            state_dir=self.tmp / "state",
            log_origin=ORIGIN,
            log_key_file=self.tmp / "unused-log.key",
            challenge_key_file=self.tmp / "unused-challenge.key",
            verdict_key_file=self.tmp / "unused-verdict.key",
            listen="127.0.0.1:0",
            metrics_listen="",
            labs=(
                LabRoot(self.lab_id, (self.lab.public_key,), (self.facility_id,)),
                LabRoot("lab-2", (self.other_lab.public_key,), ("fac-b",)),
            ),
            challenge=self.challenge,
            limits=self.limits,
            authorization=self.authorization,
        )

    def inventory(self, version: int = 1, facility_id: str | None = None) -> types_pb2.Inventory:
        nodes = [
            EnrolledNode(f"node-{i:02d}", key.public_key, (f"GPU-{i:04d}",))
            for i, key in enumerate(self.node_keys)
        ]
        return inventory(
            facility_id or self.facility_id,
            self.lab_id,
            nodes,
            {"meter": self.meter_key.public_key},
            version=version,
            overhead=(1.05, 1.6),
        )

    def sign_inventory(self, inv: types_pb2.Inventory, signer: Ed25519Signer | None = None) -> bytes:
        return sign_envelope(
            PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [signer or self.lab]
        )

    def chain(self, i: int, nonce: bytes, **kw: object) -> UsageChain:
        return UsageChain(
            self.node_keys[i], facility_id=self.facility_id, node_id=f"node-{i:02d}", nonce=nonce, **kw
        )  # type: ignore[arg-type]

    def vkey(self) -> str:
        return self.keys.log.verifier.vkey  # type: ignore[attr-defined, no-any-return]


@dataclass
class Running:
    world: World
    server: VerifierServer
    channel: grpc.aio.Channel
    stub: verifier_pb2_grpc.VerifierStub

    async def nonce(self) -> bytes:
        resp = await self.stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=5)
        env = parse_envelope(resp.envelope)
        ch = types_pb2.Challenge()
        ch.ParseFromString(env.payload)
        return bytes(ch.nonce)

    async def submit(self, *envelopes: bytes) -> list[verifier_pb2.ReportResult]:
        resp = await self.stub.SubmitReports(
            verifier_pb2.SubmitReportsRequest(envelopes=list(envelopes)), timeout=10
        )
        return list(resp.results)

    def storage(self) -> SqliteStorage:
        """A second connection on the same file: what is committed, nothing else."""
        return SqliteStorage(self.world.db)

    def counts(self) -> dict[str, int]:
        s = self.storage()
        try:
            conn = s._conn
            return {
                "log": s.log_size(),
                "reports": conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0],
                "findings": conn.execute("SELECT COUNT(*) FROM findings").fetchone()[0],
            }
        finally:
            s.close()


def check_receipt(receipt: types_pb2.Receipt, entry: bytes, vkey_verifier: object) -> Checkpoint:
    """The receipt stands on its own: signed checkpoint, leaf hash, inclusion proof."""
    cp = open_checkpoint(receipt.checkpoint, vkey_verifier)  # type: ignore[arg-type]
    assert cp.size > receipt.log_index
    assert receipt.leaf_hash == merkle.leaf_hash(entry)
    merkle.verify_inclusion(
        receipt.leaf_hash, receipt.log_index, cp.size, list(receipt.inclusion_proof), cp.root_hash
    )
    return cp


@contextlib.asynccontextmanager
async def running(
    world: World,
    *,
    enrol: bool = True,
    clock: SimulatedClock | None = None,
    config: VerifierConfig | None = None,
    background: Sequence[Background] = (),
) -> AsyncIterator[Running]:
    server = build_server(
        config or world.config(), clock=clock or world.clock, keys=world.keys, background=background
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    stub = verifier_pb2_grpc.VerifierStub(channel)
    try:
        if enrol:
            await stub.SubmitInventory(
                verifier_pb2.SubmitSignedRequest(envelope=world.sign_inventory(world.inventory())), timeout=5
            )
        yield Running(world, server, channel, stub)
    finally:
        await channel.close()
        await server.stop(grace=1.0)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


__all__ = ["NS", "ORIGIN", "T0", "Running", "World", "b64", "check_receipt", "dataclasses", "running"]
