"""Deterministic builders of signed reports for tests and benches: real keys, real signatures,
real chains (one-GPU reports; ``bench/reports.py`` builds full 8-GPU ones)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pausewatch.envelope import PayloadType, envelope_digest, sign_envelope
from pausewatch.keys import Ed25519Signer
from pausewatch.v1 import types_pb2

NS = 1_000_000_000
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z


def seeded_signer(label: str) -> Ed25519Signer:
    """A signer whose key depends only on ``label``, so signed bytes are reproducible."""
    return Ed25519Signer.from_seed(hashlib.sha256(label.encode()).digest())


@dataclass
class UsageChain:
    """Signs successive UsageReports for one node, as an honest attestor would."""

    signer: Ed25519Signer
    facility_id: str = "fac-a"
    node_id: str = "node-01"
    boot_id: bytes = b"\x01" * 16
    period_ns: int = 60 * NS
    start_ns: int = T0
    nonce: bytes = b"\x07" * 32
    seq: int = 0
    prev: bytes = b""
    sent: list[bytes] = field(default_factory=list)

    def report(
        self, seq: int | None = None, prev: bytes | None = None, **overrides: object
    ) -> types_pb2.UsageReport:
        s = self.seq if seq is None else seq
        start = self.start_ns + s * self.period_ns
        msg = types_pb2.UsageReport(
            attestor_key_id=self.signer.public_key.key_id,
            facility_id=self.facility_id,
            node_id=self.node_id,
            boot_id=self.boot_id,
            seq=s,
            prev=self.prev if prev is None else prev,
            period_start_unix_ns=start,
            period_end_unix_ns=start + self.period_ns,
            challenge_nonce=self.nonce,
            signed_unix_ns=start + self.period_ns,
        )
        acc = msg.accelerators.add(uuid="GPU-0000", model="NVIDIA H100 80GB HBM3", sample_count=60)
        acc.energy_j = 60 * 70.0
        acc.power_mean_w = 70.0
        for k, v in overrides.items():
            setattr(msg, k, v)
        return msg

    def sign(self, msg: types_pb2.UsageReport) -> bytes:
        payload = msg.SerializeToString(deterministic=True)
        return sign_envelope(PayloadType.USAGE_REPORT, payload, [self.signer])

    def next(self, **overrides: object) -> bytes:
        """Sign the next report in the chain and advance."""
        env = self.sign(self.report(None, None, **overrides))
        self.prev = envelope_digest(env)
        self.seq += 1
        self.sent.append(env)
        return env
