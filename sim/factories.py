"""Signed fleets for tests and benches, built by hand: deterministic keys, inventories,
commitments, and chained usage, meter and accounting reports in simulated time — real keys,
real signatures, real chains.

This is the one place tests write protocol documents field by field, so that a test states
exactly what a report claims (``sim.fleet`` instead runs the attestor's own sampling pipeline
under a scenario). The layers, each built on the one below:

* ``seeded_signer``: a key that depends only on a label, so signed bytes are reproducible.
* ``Chain``: one signer's chain (boot id, next seq, the digest the next report names) with the
  misbehaviour a test needs: a seq hole (``skip``), a restart (``restart``), a fork (name an
  old ``seq``/``prev`` explicitly), a report signed but never delivered (just drop it).
* ``usage_report`` / ``meter_report`` / ``inventory`` / ``commitment_message``: the messages.
  An accelerator's reading is an ``AcceleratorUsage`` without its uuid (``reading``;
  ``Behaviour.reading`` for a whole workload); absent fields stay absent on the wire.
* ``UsageChain`` / ``MeterChain`` (both ``PeriodicChain``): an honest node or meter reporting
  every period from ``start_ns``, one report per ``seq``.
* ``Fleet``: facilities of 8-GPU nodes and a meter per facility (and, when asked, a scheduler's
  accounting attestor), every report logged (verified against its key) at the next index as a
  ``LoggedReport``, ready for an ``EvaluationInput``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from attestor.report import ChainHead, ChainSigner, ReportBuilder
from pausewatch.commitment import Commitment, commitment_from_toml
from pausewatch.envelope import PayloadType, envelope_digest, parse_envelope, sign_envelope, verify_envelope
from pausewatch.evaluation import EvaluationInput, IngestFinding, LoggedReport, derive_ingest_findings
from pausewatch.inventory import Inventory
from pausewatch.jobs import JobAccounting, JobRecord
from pausewatch.keys import Ed25519Signer, PublicKey
from pausewatch.v1 import types_pb2

__all__ = [
    "HOST_W",
    "IDLE",
    "INFERENCE",
    "MODEL",
    "NS",
    "PUE",
    "T0",
    "TRAINING",
    "Behaviour",
    "Chain",
    "EnrolledNode",
    "Fleet",
    "MeterChain",
    "PeriodicChain",
    "UsageChain",
    "commitment",
    "commitment_message",
    "inventory",
    "meter_report",
    "reading",
    "seeded_signer",
    "usage_report",
]

NS = 1_000_000_000
T0 = 1_767_225_600 * NS  # 2026-01-01T00:00:00Z
MODEL = "NVIDIA H100 80GB HBM3"
HOST_W = 800.0  # W drawn by a Fleet node's host besides its accelerators
PUE = 1.2  # a Fleet facility's true metered / node ratio


def seeded_signer(label: str) -> Ed25519Signer:
    """A signer whose key depends only on ``label``, so signed bytes are reproducible."""
    return Ed25519Signer.from_seed(hashlib.sha256(label.encode()).digest())


# ---- chains ---------------------------------------------------------------------------------


@dataclass
class Chain:
    """One signer's chain as its attestor (or meter) keeps it: the boot id, the seq of the next
    report and the digest it names. Signing advances it past the report actually signed."""

    signer: Ed25519Signer
    boot_id: bytes = b"\x01" * 16
    seq: int = 0
    prev: bytes = b""
    sent: list[bytes] = field(default_factory=list)

    def position(self, seq: int | None = None, prev: bytes | None = None) -> tuple[int, bytes]:
        """The (seq, prev) the next report names; given ones win (a fork, a replay). Seq 0 is a
        chain's first report and names nothing unless told to."""
        s = self.seq if seq is None else seq
        return s, (self.prev if s > 0 else b"") if prev is None else prev

    def sign_message(
        self, payload_type: str, msg: types_pb2.UsageReport | types_pb2.MeterReport, *, advance: bool = True
    ) -> bytes:
        """Sign ``msg`` with this chain's key; ``advance``: it is sent, the chain moves past it."""
        env = sign_envelope(payload_type, msg.SerializeToString(deterministic=True), [self.signer])
        if advance:
            self.advance(msg.seq, env)
        return env

    def advance(self, seq: int, envelope: bytes) -> None:
        """``envelope``, signed at ``seq``, is sent: the next report follows it."""
        self.seq, self.prev = seq + 1, envelope_digest(envelope)
        self.sent.append(envelope)

    def skip(self, reports: int, prev: bytes | None = None) -> None:
        """A hole: the next report's seq is ``reports`` further on (and names ``prev`` if given)."""
        self.seq += reports
        if prev is not None:
            self.prev = prev

    def restart(self, boot_id: bytes) -> None:
        """The daemon started again from its stored head: a new boot id, the chain goes on."""
        self.boot_id = boot_id


# ---- messages -------------------------------------------------------------------------------


def reading(**fields: object) -> types_pb2.AcceleratorUsage:
    """One accelerator's report of one period, without its uuid (60 samples of an H100 unless
    told otherwise); a field not given is absent on the wire."""
    return types_pb2.AcceleratorUsage(**{"model": MODEL, "sample_count": 60, **fields})  # type: ignore[arg-type]


def usage_report(
    chain: Chain,
    *,
    facility_id: str,
    node_id: str,
    start_ns: int,
    end_ns: int,
    accelerators: Mapping[str, types_pb2.AcceleratorUsage],
    nonce: bytes = b"\x07" * 32,
    signed_ns: int | None = None,
    attestor_version: str = "",
    node: types_pb2.NodeUsage | None = None,
    seq: int | None = None,
    prev: bytes | None = None,
) -> types_pb2.UsageReport:
    """A node's report of ``[start_ns, end_ns)`` at the chain's next position (or the one given),
    signed when the period ends unless told otherwise; ``accelerators``: uuid → reading."""
    msg = types_pb2.UsageReport(
        attestor_key_id=chain.signer.public_key.key_id,
        facility_id=facility_id,
        node_id=node_id,
        attestor_version=attestor_version,
    )
    _place(msg, chain, start_ns=start_ns, end_ns=end_ns, nonce=nonce, signed_ns=signed_ns, seq=seq, prev=prev)
    for uuid, r in accelerators.items():
        a = msg.accelerators.add()
        a.CopyFrom(r)
        a.uuid = uuid
    if node is not None:
        msg.node.CopyFrom(node)
    return msg


def meter_report(
    chain: Chain,
    *,
    facility_id: str,
    meter_id: str,
    start_ns: int,
    end_ns: int,
    power_w: float,
    nonce: bytes = b"\x07" * 32,
    signed_ns: int | None = None,
    source_version: str = "",
) -> types_pb2.MeterReport:
    """A meter's report of a steady ``power_w`` over ``[start_ns, end_ns)`` at the chain's next
    position, signed when the period ends unless told otherwise."""
    msg = types_pb2.MeterReport(
        meter_key_id=chain.signer.public_key.key_id,
        facility_id=facility_id,
        meter_id=meter_id,
        sample_count=60,
        energy_j=power_w * (end_ns - start_ns) / NS,
        power_mean_w=power_w,
        source=types_pb2.SourceInfo(kind=types_pb2.SOURCE_KIND_SIMULATOR, version=source_version),
    )
    _place(msg, chain, start_ns=start_ns, end_ns=end_ns, nonce=nonce, signed_ns=signed_ns)
    return msg


def _place(
    msg: types_pb2.UsageReport | types_pb2.MeterReport,
    chain: Chain,
    *,
    start_ns: int,
    end_ns: int,
    nonce: bytes,
    signed_ns: int | None,
    seq: int | None = None,
    prev: bytes | None = None,
) -> None:
    """The header every report shares: its place in the chain, its period, the challenge it
    answers, when it was signed (when the period ends unless told otherwise)."""
    msg.boot_id = chain.boot_id
    msg.seq, msg.prev = chain.position(seq, prev)
    msg.period_start_unix_ns, msg.period_end_unix_ns = start_ns, end_ns
    msg.challenge_nonce = nonce
    msg.signed_unix_ns = end_ns if signed_ns is None else signed_ns


@dataclass(frozen=True)
class EnrolledNode:
    """A node as its lab's inventory declares it."""

    node_id: str
    key: PublicKey
    uuids: tuple[str, ...]
    location: str = ""


def inventory(
    facility_id: str,
    lab_id: str,
    nodes: Sequence[EnrolledNode],
    meters: Mapping[str, PublicKey],
    *,
    version: int = 1,
    issued_ns: int = T0,
    overhead: tuple[float, float] = (1.05, 1.4),
) -> types_pb2.Inventory:
    """A facility's inventory: its nodes (H100s), its facility-scope meters (id → key)."""
    inv = types_pb2.Inventory(
        facility_id=facility_id, lab_id=lab_id, version=version, issued_unix_ns=issued_ns
    )
    inv.overhead.min_ratio, inv.overhead.max_ratio = overhead
    for n in nodes:
        e = inv.nodes.add(node_id=n.node_id, attestor_public_key=n.key.raw, location=n.location)
        for u in n.uuids:
            e.accelerators.add(uuid=u, model=MODEL)
    for meter_id, key in meters.items():
        inv.meters.add(meter_id=meter_id, public_key=key.raw, scope=types_pb2.METER_SCOPE_FACILITY)
    return inv


def commitment_message(
    facility_ids: Sequence[str],
    *,
    commitment_id: str = "pause-2026",
    lab_id: str = "lab-1",
    version: int = 1,
    start_ns: int = T0,
    days: int = 1,
    cap_flop: float = 1e25,
    bucket_s: int = 600,
    description: str = "",
) -> types_pb2.Commitment:
    """A commitment as its lab signs it: a compute cap, one-minute reporting, one signature."""
    return types_pb2.Commitment(
        commitment_id=commitment_id,
        version=version,
        lab_id=lab_id,
        facility_ids=list(facility_ids),
        window_start_unix_ns=start_ns,
        window_end_unix_ns=start_ns + days * 86_400 * NS,
        rules=types_pb2.Rules(compute_cap_flop=cap_flop),
        reporting=types_pb2.ReportingRequirements(
            max_report_interval_ns=120 * NS,
            max_gap_ns=180 * NS,
            min_inventory_coverage=1.0,
            bucket_ns=bucket_s * NS,
            timeout_intervals=3,
        ),
        signatures_required=1,
        description=description,
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
    """A commitment as a lab writes it (TOML, lab ``lab``, window from ``T0``), parsed."""
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


# ---- honest chains, one report per period ---------------------------------------------------


@dataclass
class PeriodicChain(Chain):
    """An honest chain in a facility: report ``seq`` covers the ``seq``-th period from
    ``start_ns`` and answers ``nonce`` (the challenge a test sets as it goes)."""

    facility_id: str = "fac-a"
    period_ns: int = 60 * NS
    start_ns: int = T0
    nonce: bytes = b"\x07" * 32

    def period(self, seq: int) -> tuple[int, int]:
        start = self.start_ns + seq * self.period_ns
        return start, start + self.period_ns


@dataclass
class UsageChain(PeriodicChain):
    """An honest attestor (one idle H100 drawing 70 W unless told otherwise)."""

    node_id: str = "node-01"
    uuid: str = "GPU-0000"
    reading: types_pb2.AcceleratorUsage = field(
        default_factory=lambda: reading(energy_j=60 * 70.0, power_mean_w=70.0)
    )
    attestor_version: str = ""

    def report(
        self, seq: int | None = None, prev: bytes | None = None, **overrides: object
    ) -> types_pb2.UsageReport:
        s, p = self.position(seq, prev)
        start, end = self.period(s)
        msg = usage_report(
            self,
            facility_id=self.facility_id,
            node_id=self.node_id,
            start_ns=start,
            end_ns=end,
            accelerators={self.uuid: self.reading},
            nonce=self.nonce,
            attestor_version=self.attestor_version,
            seq=s,
            prev=p,
        )
        for k, v in overrides.items():
            setattr(msg, k, v)
        return msg

    def sign(self, msg: types_pb2.UsageReport) -> bytes:
        """Sign without advancing (a twin, a replay, a report edited by hand)."""
        return self.sign_message(PayloadType.USAGE_REPORT, msg, advance=False)

    def next(self, **overrides: object) -> bytes:
        """Sign the next report in the chain and advance."""
        return self.sign_message(PayloadType.USAGE_REPORT, self.report(None, None, **overrides))


@dataclass
class MeterChain(PeriodicChain):
    """An honest facility-scope meter."""

    meter_id: str = "meter"
    source_version: str = ""

    def next(self, power_w: float) -> bytes:
        """Sign the next period's report of a steady ``power_w`` and advance."""
        start, end = self.period(self.seq)
        msg = meter_report(
            self,
            facility_id=self.facility_id,
            meter_id=self.meter_id,
            start_ns=start,
            end_ns=end,
            power_w=power_w,
            nonce=self.nonce,
            source_version=self.source_version,
        )
        return self.sign_message(PayloadType.METER_REPORT, msg)


# ---- a fleet of 8-GPU nodes, logged ---------------------------------------------------------


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

    def reading(self, period_s: float) -> types_pb2.AcceleratorUsage:
        """Every field an NVML source fills, read from a simulated device over ``period_s``."""
        r = reading(
            source=types_pb2.SourceInfo(kind=types_pb2.SOURCE_KIND_SIMULATOR),
            energy_j=self.power_w * period_s,
            energy_method=types_pb2.ENERGY_METHOD_COUNTER,
            power_mean_w=self.power_w,
            power_min_w=self.min_w,
            power_max_w=self.max_w if self.max_w is not None else self.power_w + 20,
            power_limit_w=700.0,
            power_variance_w2=self.variance,
            busy_fraction=self.busy,
            sm_active=self.busy * 0.8,
            tensor_active=self.tensor,
            memory_used_bytes=self.memory,
            memory_total_bytes=80 << 30,
            nvlink_bytes=self.nvlink,
        )
        if self.sync is not None:
            r.synchrony = self.sync
        if self.periodicity is not None and self.period_s is not None:
            r.power_periodicity, r.power_dominant_period_s = self.periodicity, self.period_s
        return r


IDLE = Behaviour(70.0, 68.0, 1.0, 0.0, 0.0, None, 500 << 20, 0)
INFERENCE = Behaviour(250.0, 90.0, 6000.0, 0.45, 0.15, 0.1, 40 << 30, 10 << 20)
# Real data-parallel training: compute at ~600 W stalled by checkpoints and syncs to ~150 W, every
# device in lockstep (the shape of the 8×H100 traces in ../shared/data, see docs/classify.md).
TRAINING = Behaviour(480.0, 150.0, 45000.0, 0.99, 0.6, 0.95, 60 << 30, 60 << 30, 0.5, 8.0, max_w=600.0)


class Fleet:
    """Facilities of ``gpus``-GPU nodes (``fac-a-n00``…) and one meter each (``fac-a-meter``),
    keys seeded from their names, lab ``lab``. Every report is signed, parsed back, verified
    against its key and logged at the next index, unless held back for a later ``release``."""

    def __init__(self, facilities: dict[str, int], gpus: int = 8, period_s: int = 60) -> None:
        self.facilities = facilities
        self.gpus = gpus
        self.period_ns = period_s * NS
        self.lab = seeded_signer("lab")
        self.log: list[LoggedReport] = []
        self.chains: dict[str, Chain] = {}

    # ---- identities ---------------------------------------------------------------------
    @staticmethod
    def node_ids(fid: str, n: int) -> list[str]:
        return [f"{fid}-n{i:02d}" for i in range(n)]

    def uuids(self, node: str) -> list[str]:
        return [f"GPU-{node}-{j}" for j in range(self.gpus)]

    def chain(self, name: str) -> Chain:
        """The chain of the node or meter called ``name`` (its key is seeded from the name)."""
        if name not in self.chains:
            boot = hashlib.sha256(b"boot" + name.encode()).digest()[:16]
            self.chains[name] = Chain(seeded_signer(name), boot)
        return self.chains[name]

    def inventory_wire(self, fid: str, *, meter: bool = True) -> types_pb2.Inventory:
        nodes = [
            EnrolledNode(node, seeded_signer(node).public_key, tuple(self.uuids(node)), "hall-1")
            for node in self.node_ids(fid, self.facilities[fid])
        ]
        meters = {f"{fid}-meter": seeded_signer(f"{fid}-meter").public_key} if meter else {}
        return inventory(fid, "lab", nodes, meters)

    def inventory(self, fid: str, *, meter: bool = True) -> Inventory:
        return Inventory.from_wire(self.inventory_wire(fid, meter=meter))

    # ---- reports ------------------------------------------------------------------------
    def release(self, raw: bytes, name: str) -> None:
        """Log a signed envelope (now, at the next index), verified against its key."""
        env = parse_envelope(raw)
        verify_envelope(env, seeded_signer(name).public_key)
        self.log.append(LoggedReport.from_verified(len(self.log), env))

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
        """``node`` reports the period from ``start_ns`` as ``claimed`` on every GPU (its BMC the
        GPUs plus the host); ``tweak`` edits the message before it is signed."""
        chain = self.chain(node)
        end = start_ns + self.period_ns
        dt = self.period_ns / NS
        r = usage_report(
            chain,
            facility_id=fid,
            node_id=node,
            start_ns=start_ns,
            end_ns=end,
            accelerators={u: claimed.reading(dt) for u in self.uuids(node)},
            signed_ns=signed_ns or end + NS,
            attestor_version="test",
            node=types_pb2.NodeUsage(bmc_energy_j=(claimed.power_w * self.gpus + HOST_W) * dt),
            seq=seq,
            prev=prev,
        )
        if tweak is not None:
            tweak(r)
        raw = chain.sign_message(PayloadType.USAGE_REPORT, r)
        if not hold:
            self.release(raw, node)
        return raw

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
        """The facility's meter reads the nodes' true draw times ``pue``."""
        name = name or f"{fid}-meter"
        chain = self.chain(name)
        end = start_ns + self.period_ns
        m = meter_report(
            chain,
            facility_id=fid,
            meter_id=name,
            start_ns=start_ns,
            end_ns=end,
            power_w=true_node_w * pue,
            signed_ns=end + NS,
        )
        if tweak is not None:
            tweak(m)
        self.release(chain.sign_message(PayloadType.METER_REPORT, m), name)

    def accounting(
        self,
        scheduler_id: str,
        fid: str,
        start_ns: int,
        end_ns: int,
        jobs: Sequence[JobRecord],
        *,
        problems: tuple[str, ...] = (),
        source: types_pb2.SourceInfo | None = None,
    ) -> None:
        """The facility's scheduler lists ``jobs`` for ``[start_ns, end_ns)``: an accounting
        attestor's own ``ReportBuilder.accounting`` and ``ChainSigner``, on this fleet's chain."""
        chain = self.chain(scheduler_id)
        msg = ReportBuilder(fid, scheduler_id).accounting(
            (start_ns, end_ns),
            JobAccounting(tuple(jobs), problems),
            source or types_pb2.SourceInfo(kind=types_pb2.SOURCE_KIND_SLURM_SACCT),
            challenge_nonce=b"\x07" * 32,
            signed_ns=end_ns,
        )
        signed = ChainSigner(chain.signer, chain.boot_id).sign(ChainHead(*chain.position()), msg)
        chain.advance(signed.seq, signed.envelope)
        self.release(signed.envelope, scheduler_id)

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
