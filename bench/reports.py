"""The reports every bench sends: one 60-s period of an 8-GPU node, every field an attestor with
an NVML source and a Linux host source fills, signed in an unbroken chain (~2 KiB envelopes,
the size the verifier's limits are written for: ``pausewatch.reports.MAX_REPORT_BYTES``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pausewatch.envelope import PayloadType, envelope_digest, sign_envelope
from pausewatch.keys import Signer
from pausewatch.v1 import types_pb2

__all__ = ["GPUS", "NodeChain", "node_inventory"]

NS = 1_000_000_000
GPUS = 8
PERIOD_NS = 60 * NS
MODEL = "NVIDIA H100 80GB HBM3"


def _uuid(node_id: str, j: int) -> str:
    """A GPU UUID of the shape NVML gives (GPU-8-4-4-4-12 hex), unique per node and slot."""
    h = hashlib.sha256(f"{node_id}/{j}".encode()).hexdigest()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{j:04x}-{h[:12]}"


@dataclass
class NodeChain:
    """Signs successive full 8-GPU usage reports for one node, as an honest attestor would."""

    signer: Signer
    facility_id: str
    node_id: str
    nonce: bytes
    start_ns: int
    boot_id: bytes = b"\x01" * 16
    seq: int = 0
    prev: bytes = b""
    uuids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.uuids = [_uuid(self.node_id, j) for j in range(GPUS)]

    def report(self) -> types_pb2.UsageReport:
        start = self.start_ns + self.seq * PERIOD_NS
        msg = types_pb2.UsageReport(
            attestor_key_id=self.signer.public_key.key_id,
            facility_id=self.facility_id,
            node_id=self.node_id,
            boot_id=self.boot_id,
            seq=self.seq,
            prev=self.prev,
            period_start_unix_ns=start,
            period_end_unix_ns=start + PERIOD_NS,
            challenge_nonce=self.nonce,
            signed_unix_ns=start + PERIOD_NS,
            attestor_version="pausewatch-attestor 0.1.0",
        )
        for j, uuid in enumerate(self.uuids):
            a = msg.accelerators.add(
                uuid=uuid, model=MODEL, serial=f"165{j:010d}", sample_count=60,
                energy_method=types_pb2.ENERGY_METHOD_COUNTER,
            )
            a.source.kind, a.source.version = types_pb2.SOURCE_KIND_NVML, "NVML 12.550.54.15"
            w = 70.0 + 3.1 * j + 0.01 * self.seq
            a.energy_j, a.power_mean_w, a.power_min_w, a.power_max_w = 60 * w, w, w - 4.2, w + 6.9
            a.power_limit_w, a.busy_fraction, a.sm_active, a.tensor_active = 700.0, 0.012, 0.004, 0.0
            a.memory_used_bytes, a.memory_total_bytes = 1 << 30, 80 << 30
            a.nvlink_bytes, a.pcie_bytes, a.process_count = 1 << 20, 3 << 20, 1
            a.power_variance_w2, a.power_dominant_period_s = 2.5, 0.0
            a.power_periodicity, a.synchrony = 0.03, 0.12
        n = msg.node
        n.host_source.kind, n.host_source.version = types_pb2.SOURCE_KIND_LINUX_HOST, "Linux 6.1.0-18-amd64"
        n.cpu_busy_s, n.net_bytes, n.infiniband_bytes, n.rapl_energy_j = 212.5, 48 << 20, 0, 9120.0
        n.bmc_source.kind, n.bmc_source.version = types_pb2.SOURCE_KIND_REDFISH, "iDRAC 7.00.00.171"
        n.bmc_energy_j, n.bmc_power_mean_w = 60 * 1180.0, 1180.0
        return msg

    def next(self) -> bytes:
        """Sign the next report in the chain and advance."""
        env = sign_envelope(
            PayloadType.USAGE_REPORT, self.report().SerializeToString(deterministic=True), [self.signer]
        )
        self.prev = envelope_digest(env)
        self.seq += 1
        return env


def node_inventory(
    facility_id: str, lab_id: str, nodes: list[tuple[str, Signer]]
) -> types_pb2.Inventory:
    """The lab's inventory enrolling ``nodes`` with their 8 GPUs each, with the facility's
    declared overhead band (the verifier refuses an inventory without one)."""
    inv = types_pb2.Inventory(facility_id=facility_id, lab_id=lab_id, version=1)
    inv.overhead.min_ratio, inv.overhead.max_ratio = 1.05, 1.4
    for node_id, signer in nodes:
        node = inv.nodes.add(node_id=node_id, attestor_public_key=signer.public_key.raw)
        for uuid in NodeChain(signer, facility_id, node_id, b"", 0).uuids:
            node.accelerators.add(uuid=uuid, model=MODEL)
    return inv
