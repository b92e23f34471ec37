"""A small, honest log built from pausewatch core pieces, exported as a bundle.

Used where a test needs a bundle with a particular defect that a running verifier would never
produce (an unknown key, a duplicate, a missing challenge). The end-to-end tests use a bundle
exported from a real verifier run instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pausewatch import bundle as bf
from pausewatch.checkpoint import Checkpoint, sign_checkpoint
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.files import bundle as bf_files
from pausewatch.keys import Ed25519Key, Ed25519Signer
from pausewatch.note import Ed25519NoteSigner
from pausewatch.roots import AuditRoots, LabRoot, format_roots
from pausewatch.tlog_store import MemoryTreeStore, MerkleLog
from pausewatch.v1 import types_pb2
from sim import factories
from sim.factories import NS, T0, EnrolledNode, UsageChain

S = NS
ORIGIN = "audit.test/log"

TYPE_NAMES = {
    PayloadType.USAGE_REPORT: "usage_reports",
    PayloadType.METER_REPORT: "meter_reports",
    PayloadType.INVENTORY: "inventories",
    PayloadType.COMMITMENT: "commitments",
    PayloadType.CHALLENGE: "challenges",
    PayloadType.VERDICT: "verdicts",
}


def type_of(envelope: bytes) -> str:
    return TYPE_NAMES[parse_envelope(envelope).payload_type]


def new_node(node_id: str, signer: Ed25519Signer | None = None) -> UsageChain:
    """A node with a fresh key (unless given) and boot id, its one H100 named after it."""
    key = signer or Ed25519Signer.generate()
    return UsageChain(key, os.urandom(16), node_id=node_id, uuid=f"GPU-{node_id}-0", attestor_version="test")


@dataclass
class SynthLog:
    """Build a log entry by entry; ``export`` writes the bundle."""

    facility: str = "fac-a"
    log_signer: Ed25519NoteSigner = field(default_factory=lambda: Ed25519NoteSigner.generate(ORIGIN))
    lab: Ed25519Signer = field(default_factory=Ed25519Signer.generate)
    challenge_key: Ed25519Signer = field(default_factory=Ed25519Signer.generate)
    verdict_key: Ed25519Signer = field(default_factory=Ed25519Signer.generate)
    meter: Ed25519Signer = field(default_factory=Ed25519Signer.generate)
    log: MerkleLog = field(default_factory=lambda: MerkleLog(MemoryTreeStore()))
    nodes: list[UsageChain] = field(default_factory=list)
    checkpoints: list[int] = field(default_factory=list)
    nonce: bytes = b""
    challenge_seq: int = 0
    now: int = T0
    inventory_version: int = 0

    def append(self, envelope: bytes) -> int:
        return self.log.append([envelope])

    def add_inventory(self, n_nodes: int = 3) -> None:
        while len(self.nodes) < n_nodes:
            self.nodes.append(new_node(f"node-{len(self.nodes)}"))
        self.inventory_version += 1
        inv = factories.inventory(
            self.facility,
            "lab-1",
            [EnrolledNode(n.node_id, n.signer.public_key, (n.uuid,)) for n in self.nodes],
            {"meter-1": self.meter.public_key},
            version=self.inventory_version,
            issued_ns=self.now,
            overhead=(1.05, 1.5),
        )
        self.append(
            sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [self.lab])
        )

    def add_challenge(self) -> None:
        self.challenge_seq += 1
        self.nonce = os.urandom(32)
        ch = types_pb2.Challenge(
            nonce=self.nonce,
            issued_unix_ns=self.now,
            expires_unix_ns=self.now + 180 * S,
            log_origin=ORIGIN,
            seq=self.challenge_seq,
        )
        self.append(
            sign_envelope(
                PayloadType.CHALLENGE, ch.SerializeToString(deterministic=True), [self.challenge_key]
            )
        )

    def usage_report(
        self, node: UsageChain, *, energy_j: float = 6000.0, advance: bool = True, period_s: int = 60
    ) -> bytes:
        """``node``'s report of the ``period_s`` before now, against the current challenge."""
        report = factories.usage_report(
            node,
            facility_id=self.facility,
            node_id=node.node_id,
            start_ns=self.now - period_s * S,
            end_ns=self.now,
            accelerators={
                node.uuid: factories.reading(
                    sample_count=period_s,
                    energy_j=energy_j,
                    power_mean_w=energy_j / period_s,
                    busy_fraction=0.1,
                    tensor_active=0.05,
                )
            },
            nonce=self.nonce,
            attestor_version="test",
        )
        return node.sign_message(PayloadType.USAGE_REPORT, report, advance=advance)

    def add_round(self) -> None:
        """One minute: a challenge, then a report from every node."""
        self.now += 60 * S
        self.add_challenge()
        for node in self.nodes:
            self.append(self.usage_report(node))

    def checkpoint(self) -> None:
        self.checkpoints.append(self.log.size)

    def note(self, size: int) -> bytes:
        return sign_checkpoint(Checkpoint(ORIGIN, size, self.log.root(size)), [self.log_signer]).format()

    @property
    def roots(self) -> AuditRoots:
        return AuditRoots(
            labs=(LabRoot("lab-1", (Ed25519Key(self.lab.public_key.raw),), (self.facility,), 1),),
            verdict_key=Ed25519Key(self.verdict_key.public_key.raw),
            challenge_key=Ed25519Key(self.challenge_key.public_key.raw),
        )

    @property
    def policy_text(self) -> bytes:
        return f"log {self.log_signer.vkey}\nquorum none\n".encode()

    def export(self, directory: Path, scope: bf.Scope | None = None, select: set[int] | None = None) -> Path:
        scope = scope or bf.Scope()
        if not self.checkpoints or self.checkpoints[-1] != self.log.size:
            self.checkpoint()
        writer = bf_files.BundleWriter(directory, origin=ORIGIN, scope=scope, type_of=type_of)
        size = self.checkpoints[-1]
        for i in range(size):
            if select is not None and i not in select:
                continue
            proof = self.log.inclusion_proof(i, size) if scope.kind == "slice" else None
            writer.add_entry(i, self.log.entry(i), proof, tree_size=size)
        for c in self.checkpoints:
            writer.add_checkpoint(c, self.note(c))
        for a, b in zip(self.checkpoints, self.checkpoints[1:], strict=False):
            writer.add_consistency(a, b, self.log.consistency_proof(a, b))
        writer.finish(policy=self.policy_text, roots=format_roots(self.roots))
        return directory


def small_log(rounds: int = 6, nodes: int = 3) -> SynthLog:
    log = SynthLog()
    log.add_inventory(nodes)
    for r in range(rounds):
        log.add_round()
        if r % 2 == 1:
            log.checkpoint()
    return log


def add_commitment(log: SynthLog, *, bucket_s: int = 600, cap_flop: float = 1e24) -> types_pb2.Commitment:
    c = factories.commitment_message(
        [log.facility], commitment_id="pause-1", cap_flop=cap_flop, bucket_s=bucket_s
    )
    log.append(sign_envelope(PayloadType.COMMITMENT, c.SerializeToString(deterministic=True), [log.lab]))
    return c


def evaluate(log: SynthLog, commitment: types_pb2.Commitment) -> list[types_pb2.Verdict]:
    """Unsigned verdicts of every closed bucket over the log so far (what a verifier computes)."""
    from pausewatch.commitment import Commitment
    from pausewatch.evaluation import EvaluationInput, Evaluator, LoggedReport, derive_ingest_findings
    from pausewatch.inventory import Inventory

    size = log.log.size
    reports, inventories = [], {}
    for i in range(size):
        env = parse_envelope(log.log.entry(i))
        if env.payload_type in (PayloadType.USAGE_REPORT, PayloadType.METER_REPORT):
            reports.append(LoggedReport.from_verified(i, env))
        elif env.payload_type == PayloadType.INVENTORY:
            inv = types_pb2.Inventory()
            inv.ParseFromString(env.payload)
            inventories[inv.facility_id] = Inventory.from_wire(inv)
    inputs = EvaluationInput(
        commitment=Commitment.from_wire(commitment),
        inventories=inventories,
        reports=reports,
        ingest_findings=derive_ingest_findings(reports),
        evaluated_log_size=size,
    )
    return Evaluator(inputs).verdicts(until_ns=log.now)


def add_verdicts(log: SynthLog, commitment: types_pb2.Commitment, *, tamper: bool = False) -> int:
    """Evaluate every closed bucket with the evaluation code, sign and log the verdicts."""
    size = log.log.size
    verdicts = evaluate(log, commitment)
    for v in verdicts:
        v.evaluated_log_size = size
        if tamper:
            v.status = (
                types_pb2.VERDICT_STATUS_COMPLIANT
                if v.status != types_pb2.VERDICT_STATUS_COMPLIANT
                else types_pb2.VERDICT_STATUS_VIOLATION
            )
            tamper = False
        log.append(
            sign_envelope(PayloadType.VERDICT, v.SerializeToString(deterministic=True), [log.verdict_key])
        )
    return len(verdicts)
