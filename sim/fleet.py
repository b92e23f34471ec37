"""A simulated fleet in one process: the attestor's own building blocks, driven by a plan.

Every node is what ``pausewatch-attestor`` is made of — a ``SimulatedDeviceSource`` sampled
every ``sample_interval_s``, an ``Aggregator`` per period, a ``ReportBuilder`` and a
``ChainSigner`` — plus the misbehaviour the plan asks for: a lie is a source whose schedule
differs from the hardware's; silence is not sampling; a restart is a new boot id (and a fresh
aggregator) continuing from the stored head; a replay re-sends old envelope bytes or reports
signed in advance; a fork signs a second report at an old head; a rollback moves the head back.

Meters are a ``SimulatedMeterSource`` over the *true* sources of every node of the facility,
hidden ones included: the meter sees what the hardware draws, whatever the nodes say.

Keys are derived from the scenario seed (a simulation, never production), so a scenario run
twice produces the same keys, inventories and telemetry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from attestor.aggregate import AggregationLimits, Aggregator, PeriodAggregate
from attestor.report import GENESIS, ChainHead, ChainSigner, ReportBuilder, SignedReport
from attestor.sources.simulator import SimulatedDeviceSource, SimulatedMeterSource, WorkloadProfile
from attestor.telemetry import AnomalyKind, Sample, SourceAnomaly
from pausewatch.clock import NS_PER_S
from pausewatch.keys import Ed25519Signer
from pausewatch.v1 import types_pb2
from sim.scenario import FaultKind, Scenario
from sim.world import Emission, FleetPlan, SubjectPlan

__all__ = ["FleetKeys", "Outgoing", "SimulatedFleet", "derive_signer"]


def derive_signer(seed: int, label: str) -> Ed25519Signer:
    """A deterministic simulation key: SHA-256 over the scenario seed and a role label."""
    return Ed25519Signer.from_seed(hashlib.sha256(f"pausewatch-sim/{seed}/{label}".encode()).digest())


@dataclass(frozen=True)
class FleetKeys:
    """Every key a scenario needs, derived from its seed."""

    seed: int

    def lab(self, lab_id: str) -> Ed25519Signer:
        return derive_signer(self.seed, f"lab/{lab_id}")

    def subject(self, subject_id: str) -> Ed25519Signer:
        return derive_signer(self.seed, f"subject/{subject_id}")

    def boot_id(self, subject_id: str, boot: int) -> bytes:
        return hashlib.sha256(f"pausewatch-sim/{self.seed}/boot/{subject_id}/{boot}".encode()).digest()[:16]


@dataclass(frozen=True)
class Outgoing:
    """A signed envelope on its way to the verifier."""

    subject_id: str
    envelope: bytes
    deliver_ns: int   # absolute unix ns


def profile_for(kind: str, seed: int, facility_id: str, subject_id: str) -> WorkloadProfile:
    """Training jobs share one phase per facility (nodes of a job step in sync); inference is per node."""
    if kind == "training":
        return WorkloadProfile.training(job_seed=_small_hash(seed, facility_id))
    if kind == "inference":
        return WorkloadProfile.inference(job_seed=_small_hash(seed, subject_id))
    return WorkloadProfile.idle()


def _small_hash(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "big")


def schedule_of(
    scenario: Scenario, subject: SubjectPlan, *, reported: bool
) -> list[tuple[int, WorkloadProfile]]:
    """The (from unix ns, profile) segments of a node's true or reported workload."""
    out: list[tuple[int, WorkloadProfile]] = []
    last: str | None = None
    for p in subject.periods:
        kind = p.reported_profile if reported else p.true_profile
        if kind != last:
            out.append((scenario.start_unix_ns + p.start_ns,
                        profile_for(kind, scenario.seed, subject.facility_id, subject.subject_id)))
            last = kind
    if not out:
        out.append((0, WorkloadProfile.idle()))
    else:
        out[0] = (0, out[0][1])
    return out


@dataclass
class _Attestor:
    """One simulated attestor daemon's state: what its spool would hold across restarts."""

    plan: SubjectPlan
    signer: Ed25519Signer
    builder: ReportBuilder
    source: SimulatedDeviceSource | SimulatedMeterSource
    chain: ChainSigner
    aggregator: Aggregator
    boots: int = 0
    head: ChainHead = GENESIS
    history: list[SignedReport] = field(default_factory=list)


class SimulatedFleet:
    """Produces, period by period, the envelopes every node and meter of a scenario sends."""

    def __init__(self, scenario: Scenario, fleet_plan: FleetPlan) -> None:
        sample_interval_s = scenario.sample_interval_ns / NS_PER_S
        self.scenario = scenario
        self.plan = fleet_plan
        self.keys = FleetKeys(scenario.seed)
        self._interval_ns = scenario.sample_interval_ns
        self._limits = AggregationLimits(max_interval_s=max(10.0, 2 * sample_interval_s))
        # A meter's single channel is a facility intake, not one accelerator: it is bounded by
        # the node/meter limit (the daemon applies the device limit to it; reported upstream).
        self._meter_limits = AggregationLimits(
            max_device_power_w=AggregationLimits().max_node_power_w,
            max_interval_s=self._limits.max_interval_s,
        )
        self._true_sources: dict[str, SimulatedDeviceSource] = {}
        self._attestors: dict[str, _Attestor] = {}
        self._first_nonce: dict[str, bytes] = {}
        for subject in fleet_plan.subjects:
            if subject.is_meter:
                continue
            self._true_sources[subject.subject_id] = SimulatedDeviceSource(
                subject.subject_id, subject.devices, schedule_of(scenario, subject, reported=False),
                model=subject.model, seed=scenario.seed,
            )
        for subject in fleet_plan.subjects:
            if not subject.declared:
                continue  # hidden nodes draw power; they never report
            signer = self.keys.subject(subject.subject_id)
            if subject.is_meter:
                fac = scenario.facility(subject.facility_id)
                source: SimulatedDeviceSource | SimulatedMeterSource = SimulatedMeterSource(
                    subject.subject_id,
                    [self._true_sources[n.node_id] for n in fac.nodes],
                    overhead=fac.true_overhead, base_w=0.0,
                )
            else:
                source = SimulatedDeviceSource(
                    subject.subject_id, subject.devices, schedule_of(scenario, subject, reported=True),
                    model=subject.model, seed=scenario.seed,
                )
            self._attestors[subject.subject_id] = _Attestor(
                plan=subject, signer=signer,
                builder=ReportBuilder(subject.facility_id, subject.subject_id),
                source=source, chain=ChainSigner(signer, self.keys.boot_id(subject.subject_id, 0)),
                aggregator=Aggregator(self._meter_limits if subject.is_meter else self._limits),
            )

    # -- documents ------------------------------------------------------------------------------

    def inventories(self, issued_ns: int) -> list[types_pb2.Inventory]:
        """What each lab declares: its declared nodes with keys and devices, its meters, the band."""
        out = []
        for fac in self.scenario.facilities:
            inv = types_pb2.Inventory(facility_id=fac.id, lab_id=fac.lab, version=1, issued_unix_ns=issued_ns)
            inv.overhead.min_ratio, inv.overhead.max_ratio = fac.overhead
            for node in fac.declared_nodes:
                entry = inv.nodes.add(node_id=node.node_id,
                                      attestor_public_key=self.keys.subject(node.node_id).public_key.raw,
                                      location=f"{fac.id} hall 1")
                for uuid, model, serial in self._true_sources[node.node_id].inventory():
                    entry.accelerators.add(uuid=uuid, model=model, serial=serial)
            for meter in fac.meters:
                key = self.keys.subject(meter.meter_id).public_key.raw
                inv.meters.add(meter_id=meter.meter_id, public_key=key, scope=types_pb2.METER_SCOPE_FACILITY)
            out.append(inv)
        return out

    def subjects(self) -> list[SubjectPlan]:
        return [a.plan for a in self._attestors.values()]

    # -- one period -----------------------------------------------------------------------------

    def period(self, index: int, nonce: bytes) -> list[Outgoing]:
        """Everything the fleet signs for period ``index``, with the challenge nonce it holds."""
        out: list[Outgoing] = []
        for a in self._attestors.values():
            out += self._period(a, index, nonce)
        return out

    def _period(self, a: _Attestor, index: int, nonce: bytes) -> list[Outgoing]:
        p = a.plan.periods[index]
        start = self.scenario.start_unix_ns
        t0, t1 = start + p.start_ns, start + p.end_ns
        deliver = start + p.deliver_ns
        self._first_nonce.setdefault(a.plan.subject_id, nonce)
        if p.new_boot:
            a.boots += 1
            a.chain = ChainSigner(a.signer, self.keys.boot_id(a.plan.subject_id, a.boots))
            a.aggregator = Aggregator(self._meter_limits if a.plan.is_meter else self._limits)
        if p.emission is Emission.NONE:
            return []
        if p.emission is Emission.DUPLICATE:
            earlier = [r for r in a.history if r.period_end_ns <= start + p.replay_from_ns]
            if not earlier:
                return []
            first_replayed = p.replay_from_ns // self.scenario.period_ns
            old = earlier[(index - first_replayed) % len(earlier)]
            return [Outgoing(a.plan.subject_id, old.envelope, deliver)]
        if p.rollback:
            # The state directory is restored from a snapshot `rollback` links old.
            a.head = a.history[-p.rollback - 1].next_head if len(a.history) > p.rollback else GENESIS
        if p.emission is Emission.PREGENERATED:
            # Signed before the story began, from a simulated idle node, against the first
            # challenge this attestor ever held: chained correctly, but not fresh.
            period_agg = self._aggregate_idle(a, t0, t1)
            signed_ns = start
            nonce_used = self._first_nonce[a.plan.subject_id]
        else:
            period_agg = self._aggregate(a, p.fault, p.fault_devices, t0, t1)
            signed_ns = t1
            nonce_used = nonce
        report = self._build(a, period_agg, nonce_used, signed_ns)
        link = a.chain.sign(a.head, report)
        a.history.append(link)
        out = [Outgoing(a.plan.subject_id, link.envelope, deliver)]
        if p.fork:
            twin = self._build(a, period_agg, nonce_used, signed_ns + 1)
            if isinstance(twin, types_pb2.UsageReport):
                for acc in twin.accelerators:
                    acc.busy_fraction = 0.0
            else:
                twin.energy_j = twin.energy_j * 0.5
            out.append(Outgoing(a.plan.subject_id, a.chain.sign(a.head, twin).envelope, deliver))
        a.head = link.next_head
        return out

    def _build(
        self, a: _Attestor, agg: PeriodAggregate, nonce: bytes, signed_ns: int
    ) -> types_pb2.UsageReport | types_pb2.MeterReport:
        if a.plan.is_meter:
            return a.builder.meter(agg, challenge_nonce=nonce, signed_ns=signed_ns)
        return a.builder.usage(agg, challenge_nonce=nonce, signed_ns=signed_ns)

    def _aggregate(
        self, a: _Attestor, fault: FaultKind | None, fault_devices: int, t0: int, t1: int
    ) -> PeriodAggregate:
        for t in range(t0, t1, self._interval_ns):
            sample = a.source.sample(t)
            if fault is not None:
                sample = _with_fault(sample, fault, fault_devices, t, self._interval_ns)
            a.aggregator.add(sample)
        return a.aggregator.close(t0, t1)

    def _aggregate_idle(self, a: _Attestor, t0: int, t1: int) -> PeriodAggregate:
        fake = SimulatedDeviceSource(a.plan.subject_id, a.plan.devices, WorkloadProfile.idle(),
                                     model=a.plan.model, seed=self.scenario.seed + 1)
        agg = Aggregator(self._limits)
        for t in range(t0, t1, self._interval_ns):
            agg.add(fake.sample(t))
        return agg.close(t0, t1)


def _with_fault(sample: Sample, fault: FaultKind, devices: int, t: int, interval_ns: int) -> Sample:
    """An ordinary hardware fault on the first ``devices`` accelerators of a sample."""
    affected = {r.uuid for r in sample.devices[:devices]}
    if fault is FaultKind.GPU_LOST:
        # The device fell off the bus (Xid 79): NVML no longer lists it.
        kept = tuple(r for r in sample.devices if r.uuid not in affected)
        return Sample(sample.at_ns, sample.kind, sample.version, kept, sample.host, sample.anomalies)
    # An NVML error burst: every other sample of the affected devices fails to read.
    if (t // interval_ns) % 2:
        return sample
    errors = tuple(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "nvml", "NVML_ERROR_UNKNOWN (999)", u)
                   for u in sorted(affected))
    kept = tuple(r for r in sample.devices if r.uuid not in affected)
    return Sample(sample.at_ns, sample.kind, sample.version, kept, sample.host, sample.anomalies + errors)

