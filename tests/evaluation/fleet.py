"""A synthetic, signed fleet for evaluation tests: real keys, real envelopes, real chains.

Every report is a real ``UsageReport``/``MeterReport`` signed with a deterministic Ed25519 key
(seeded from its name), chained with ``seq``/``prev`` exactly as an attestor does, parsed back
with ``parse_envelope`` and verified against the enrolled key before it becomes a
``LoggedReport`` at the next log index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from pausewatch.commitment import Commitment, commitment_from_toml
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope, verify_envelope
from pausewatch.evaluation import EvaluationInput, IngestFinding, LoggedReport, derive_ingest_findings
from pausewatch.inventory import Inventory
from pausewatch.keys import Ed25519Signer
from pausewatch.v1 import types_pb2

NS = 1_000_000_000
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
MODEL = "NVIDIA H100 80GB HBM3"
HOST_W = 800.0  # W drawn by a node's host besides its accelerators
PUE = 1.2  # true metered / node ratio of the synthetic facility


def signer(name: str) -> Ed25519Signer:
    return Ed25519Signer.from_seed(hashlib.sha256(name.encode()).digest())


@dataclass(frozen=True)
class Behaviour:
    """What each accelerator of a node does (true) and reports (claimed) in one period."""

    power_w: float
    min_w: float
    variance: float
    busy: float
    tensor: float
    sync: float | None
    memory: int
    nvlink: int
    periodicity: float | None = None
    period_s: float | None = None
    max_w: float | None = None  # default: power_w + 20


IDLE = Behaviour(70.0, 68.0, 1.0, 0.0, 0.0, None, 500 << 20, 0)
INFERENCE = Behaviour(250.0, 90.0, 6000.0, 0.45, 0.15, 0.1, 40 << 30, 10 << 20)
# Real data-parallel training: compute at ~600 W stalled by checkpoints and syncs to ~150 W, every
# device in lockstep (the shape of the 8×H100 traces in ../shared/data, see docs/classify.md).
TRAINING = Behaviour(480.0, 150.0, 45000.0, 0.99, 0.6, 0.95, 60 << 30, 60 << 30, 0.5, 8.0, max_w=600.0)


class Fleet:
    def __init__(self, facilities: dict[str, int], gpus: int = 8, period_s: int = 60) -> None:
        self.facilities = facilities
        self.gpus = gpus
        self.period_ns = period_s * NS
        self.lab = signer("lab")
        self.log: list[LoggedReport] = []
        self.heads: dict[str, tuple[int, bytes]] = {}
        self.boots: dict[str, bytes] = {}
        self.extra_log: int = 0

    # ---- identities ---------------------------------------------------------------------
    @staticmethod
    def node_ids(fid: str, n: int) -> list[str]:
        return [f"{fid}-n{i:02d}" for i in range(n)]

    def uuids(self, node: str) -> list[str]:
        return [f"GPU-{node}-{j}" for j in range(self.gpus)]

    def inventory_wire(self, fid: str, *, meter: bool = True) -> types_pb2.Inventory:
        inv = types_pb2.Inventory(facility_id=fid, lab_id="lab", version=1, issued_unix_ns=T0)
        inv.overhead.min_ratio, inv.overhead.max_ratio = 1.05, 1.4
        for node in self.node_ids(fid, self.facilities[fid]):
            e = inv.nodes.add(
                node_id=node, attestor_public_key=signer(node).public_key.raw, location="hall-1"
            )
            for u in self.uuids(node):
                e.accelerators.add(uuid=u, model=MODEL)
        if meter:
            inv.meters.add(
                meter_id=f"{fid}-meter",
                public_key=signer(f"{fid}-meter").public_key.raw,
                scope=types_pb2.METER_SCOPE_FACILITY,
            )
        return inv

    def inventory(self, fid: str, *, meter: bool = True) -> Inventory:
        return Inventory.from_wire(self.inventory_wire(fid, meter=meter))

    # ---- reports ------------------------------------------------------------------------
    def _append(
        self,
        name: str,
        payload_type: str,
        msg: types_pb2.UsageReport | types_pb2.MeterReport,
        hold: bool = False,
    ) -> bytes:
        key = signer(name)
        raw = sign_envelope(payload_type, msg.SerializeToString(deterministic=True), [key])
        self.heads[name] = (msg.seq, hashlib.sha256(raw).digest())
        if not hold:
            self.release(raw, name)
        return raw

    def release(self, raw: bytes, name: str) -> None:
        """Log a signed envelope (now, at the next index), verified against its key."""
        env = parse_envelope(raw)
        verify_envelope(env, signer(name).public_key)
        self.log.append(LoggedReport.from_verified(len(self.log), env))

    def _chain(self, name: str, seq: int | None, prev: bytes | None) -> tuple[int, bytes, bytes]:
        head = self.heads.get(name)
        nseq = (head[0] + 1 if head else 0) if seq is None else seq
        nprev = (head[1] if head and nseq > 0 else b"") if prev is None else prev
        boot = self.boots.setdefault(name, hashlib.sha256(b"boot" + name.encode()).digest()[:16])
        return nseq, nprev, boot

    def usage(
        self,
        node: str,
        fid: str,
        start_ns: int,
        claimed: Behaviour,
        *,
        seq: int | None = None,
        prev: bytes | None = None,
        tweak: Callable[[types_pb2.UsageReport], None] | None = None,
        signed_ns: int | None = None,
        hold: bool = False,
    ) -> bytes:
        nseq, nprev, boot = self._chain(node, seq, prev)
        end = start_ns + self.period_ns
        dt = self.period_ns / NS
        r = types_pb2.UsageReport(
            attestor_key_id=signer(node).public_key.key_id,
            facility_id=fid,
            node_id=node,
            boot_id=boot,
            seq=nseq,
            prev=nprev,
            period_start_unix_ns=start_ns,
            period_end_unix_ns=end,
            challenge_nonce=b"\x07" * 32,
            attestor_version="test",
            signed_unix_ns=signed_ns or end + NS,
        )
        b = claimed
        for u in self.uuids(node):
            a = r.accelerators.add(uuid=u, model=MODEL, sample_count=60)
            a.source.kind = types_pb2.SOURCE_KIND_SIMULATOR
            a.energy_j = b.power_w * dt
            a.energy_method = types_pb2.ENERGY_METHOD_COUNTER
            a.power_mean_w, a.power_min_w = b.power_w, b.min_w
            a.power_max_w = b.max_w if b.max_w is not None else b.power_w + 20
            a.power_limit_w = 700.0
            a.power_variance_w2 = b.variance
            a.busy_fraction, a.sm_active, a.tensor_active = b.busy, b.busy * 0.8, b.tensor
            a.memory_used_bytes, a.memory_total_bytes = b.memory, 80 << 30
            a.nvlink_bytes = b.nvlink
            if b.sync is not None:
                a.synchrony = b.sync
            if b.periodicity is not None and b.period_s is not None:
                a.power_periodicity, a.power_dominant_period_s = b.periodicity, b.period_s
        r.node.bmc_energy_j = (b.power_w * self.gpus + HOST_W) * dt
        if tweak is not None:
            tweak(r)
        return self._append(node, PayloadType.USAGE_REPORT, r, hold)

    def meter(
        self,
        fid: str,
        start_ns: int,
        true_node_w: float,
        *,
        pue: float = PUE,
        tweak: Callable[[types_pb2.MeterReport], None] | None = None,
        name: str | None = None,
    ) -> None:
        name = name or f"{fid}-meter"
        nseq, nprev, boot = self._chain(name, None, None)
        end = start_ns + self.period_ns
        m = types_pb2.MeterReport(
            meter_key_id=signer(name).public_key.key_id,
            facility_id=fid,
            meter_id=name,
            boot_id=boot,
            seq=nseq,
            prev=nprev,
            period_start_unix_ns=start_ns,
            period_end_unix_ns=end,
            challenge_nonce=b"\x07" * 32,
            sample_count=60,
            signed_unix_ns=end + NS,
        )
        m.source.kind = types_pb2.SOURCE_KIND_SIMULATOR
        m.energy_j = true_node_w * pue * self.period_ns / NS
        m.power_mean_w = true_node_w * pue
        if tweak is not None:
            tweak(m)
        self._append(name, PayloadType.METER_REPORT, m)

    def node_power(self, b: Behaviour) -> float:
        return b.power_w * self.gpus + HOST_W

    def run(
        self,
        fid: str,
        start_ns: int,
        periods: int,
        plan: Callable[[str, int], tuple[Behaviour, Behaviour | None]],
    ) -> None:
        """Every node and the meter for ``periods`` periods. ``plan(node, k)`` → (true, claimed);
        claimed None: the node sends nothing that period."""
        nodes = self.node_ids(fid, self.facilities[fid])
        for k in range(periods):
            t = start_ns + k * self.period_ns
            total = 0.0
            for node in nodes:
                true, claimed = plan(node, k)
                total += self.node_power(true)
                if claimed is not None:
                    self.usage(node, fid, t, claimed)
            self.meter(fid, t, total)

    # ---- evaluation inputs ----------------------------------------------------------------
    def inputs(
        self, commitment: Commitment, *, meters: bool = True, extra_ingest: tuple[IngestFinding, ...] = ()
    ) -> EvaluationInput:
        return EvaluationInput(
            commitment=commitment,
            inventories={f: self.inventory(f, meter=meters) for f in self.facilities},
            reports=tuple(self.log),
            ingest_findings=(*derive_ingest_findings(self.log), *extra_ingest),
            evaluated_log_size=len(self.log),
        )


def commitment(
    facilities: list[str],
    *,
    bucket_s: int = 600,
    hours: int = 24,
    extra_rules: str = "",
    allowed: str = '["idle", "inference"]',
    reporting: str = "",
) -> Commitment:
    fac = ", ".join(f'"{f}"' for f in facilities)
    text = f"""
id = "pause-test"
version = 1
lab_id = "lab"
facilities = [{fac}]
[window]
start = 2026-01-01T00:00:00Z
end = 2026-01-0{1 + hours // 24}T{hours % 24:02d}:00:00Z
[rules]
allowed_workloads = {allowed}
{extra_rules}
[reporting]
max_report_interval_s = 120
max_gap_s = 180
bucket_s = {bucket_s}
timeout_intervals = 3
{reporting}
"""
    return Commitment.from_wire(commitment_from_toml(text, "test.toml"))
