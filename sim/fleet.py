"""A simulated fleet in one process: the attestor's own building blocks, driven by a plan.

Every node is what ``pausewatch-attestor`` is made of — a ``SimulatedDeviceSource`` sampled
every ``sample_interval_s``, an ``Aggregator`` per period, a ``ReportBuilder`` and a
``ChainSigner`` — plus the misbehaviour the plan asks for: a lie is a source whose schedule
differs from the hardware's; silence is not sampling; a restart is a new boot id (and a fresh
aggregator) continuing from the stored head; a replay re-sends old envelope bytes or reports
signed in advance; a fork signs a second report at an old head; a rollback moves the head back.

Meters are a ``SimulatedMeterSource`` over the *true* sources of every node in their scope,
hidden ones included: the meter sees what the hardware draws, whatever the nodes say, times
the facility's true overhead at that moment (plus its base load at the facility scope), its
feed's share, its own error and noise — and a factor while it lies. Below the period, each
accelerator follows what ``sim.world.node_work`` unrolled for it (duty cycles, k of n devices,
power caps, undeclared cards); a card swap gives a slot a new UUID; an impersonating attestor
also signs, on its own chain, reports in another node's name; a shifted report claims a period
moved in time. A facility's declared scheduler (``[facility.scheduler]``) is an accounting
attestor's builder and chain signer: each period it signs the jobs the story's scheduler lists
for that period (``ReportBuilder.accounting``), whatever the hardware really runs.

Keys are derived from the scenario seed (a simulation, never production), so a scenario run
twice produces the same keys, inventories and telemetry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from attestor.aggregate import AggregationLimits, Aggregator, PeriodAggregate
from attestor.report import GENESIS, ChainHead, ChainSigner, ReportBuilder, SignedReport
from attestor.sources.simulator import Ramp, SimulatedDeviceSource, SimulatedMeterSource, WorkloadProfile
from attestor.telemetry import AnomalyKind, Sample, SourceAnomaly
from pausewatch.clock import NS_PER_S
from pausewatch.inventory import inventory_from_toml
from pausewatch.jobs import JobAccounting, JobRecord
from pausewatch.keys import Ed25519Signer
from pausewatch.v1 import types_pb2
from sim.scenario import FacilitySpec, FaultKind, MeterSpec, NodeSpec, Scenario, SchedulerSpec
from sim.world import (
    DeviceWork,
    Emission,
    FleetPlan,
    SubjectPlan,
    meter_factor,
    node_work,
    overhead_points,
    replacements,
)

__all__ = ["FleetKeys", "Outgoing", "SimulatedFleet", "derive_signer"]


def derive_signer(seed: int, label: str) -> Ed25519Signer:
    """A deterministic simulation key: SHA-256 over the scenario seed and a role label."""
    return Ed25519Signer.from_seed(hashlib.sha256(f"pausewatch-sim/{seed}/{label}".encode()).digest())


def _register_start_j(seed: int, meter_id: str) -> float:
    """Where a meter's energy register stands when the story starts: 1-2 MWh, its own."""
    digest = hashlib.blake2b(f"{seed}:{meter_id}".encode(), digest_size=8).digest()
    return 3.6e9 * (1.0 + int.from_bytes(digest, "big") / 2.0**64)


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


def profile_for(
    kind: str, seed: int, facility_id: str, subject_id: str, power_limit_w: float | None = None
) -> WorkloadProfile:
    """Training jobs share one phase per facility (nodes of a job step in sync); every other
    workload is per node (a node's devices share its tensor-parallel load or burn-in loop)."""
    job = _small_hash(seed, facility_id) if kind == "training" else _small_hash(seed, subject_id)
    if power_limit_w is None:
        if kind == "training":
            return WorkloadProfile.training(job_seed=job)
        if kind == "inference":
            return WorkloadProfile.inference(job_seed=job)
        if kind == "idle":
            return WorkloadProfile.idle()
    return WorkloadProfile.named(kind, job_seed=job, power_limit_w=power_limit_w)


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


def _device_schedules(
    scenario: Scenario, facility_id: str, node_id: str, series: tuple[tuple[tuple[int, DeviceWork], ...], ...]
) -> tuple[list[tuple[int, WorkloadProfile]], dict[int, list[tuple[int, WorkloadProfile]]]]:
    """Per-device work → a common schedule (device 0's) and the devices that differ from it."""
    made: dict[tuple[tuple[int, DeviceWork], ...], list[tuple[int, WorkloadProfile]]] = {}
    for segments in series:
        if segments not in made:
            sched = [(scenario.start_unix_ns + off if k else 0,
                      profile_for(w.kind, scenario.seed, facility_id, node_id, w.power_limit_w))
                     for k, (off, w) in enumerate(segments)]
            made[segments] = sched
    common = made[series[0]]
    return common, {i: made[seg] for i, seg in enumerate(series) if made[seg] is not common}


@dataclass
class _Forger:
    """What an impersonating attestor keeps to fabricate one other node's reports."""

    builder: ReportBuilder
    source: SimulatedDeviceSource
    aggregator: Aggregator


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
    forgers: dict[str, _Forger] = field(default_factory=dict)


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
        self._reported_sources: dict[str, SimulatedDeviceSource] = {}
        self._attestors: dict[str, _Attestor] = {}
        self._first_nonce: dict[str, bytes] = {}
        self._inventory_versions: dict[str, int] = {}
        for fac in scenario.facilities:
            for node in fac.nodes:
                self._node_sources(fac, node)
        self._schedulers: list[_Scheduler] = []
        for fac in scenario.facilities:
            if fac.scheduler is not None:
                sid = fac.scheduler.scheduler_id
                self._schedulers.append(_Scheduler(
                    fac, fac.scheduler, ReportBuilder(fac.id, sid),
                    ChainSigner(self.keys.subject(sid), self.keys.boot_id(sid, 0)),
                ))  # fmt: skip
        for subject in fleet_plan.subjects:
            if not subject.declared:
                continue  # hidden nodes draw power; they never report
            signer = self.keys.subject(subject.subject_id)
            source: SimulatedDeviceSource | SimulatedMeterSource
            if subject.is_meter:
                fac = scenario.facility(subject.facility_id)
                source = self._meter_source(fac, next(m for m in fac.meters if m.name == subject.name))
            else:
                source = self._reported_sources[subject.subject_id]
            self._attestors[subject.subject_id] = _Attestor(
                plan=subject, signer=signer,
                builder=ReportBuilder(subject.facility_id, subject.subject_id),
                source=source, chain=ChainSigner(signer, self.keys.boot_id(subject.subject_id, 0)),
                aggregator=Aggregator(self._meter_limits if subject.is_meter else self._limits),
            )

    def _node_sources(self, fac: FacilitySpec, node: NodeSpec) -> None:
        """The node's true hardware, and what its attestor samples (the same object when it
        reports every device truthfully: the meters only ask the true one for power)."""
        sc = self.scenario
        work = node_work(sc, fac, node)
        swaps = [(sc.start_unix_ns + off, i) for off, i in replacements(sc, fac, node)]
        common, own = _device_schedules(sc, fac.id, node.node_id, work.true)
        true = SimulatedDeviceSource(node.node_id, node.total_devices, common, model=node.model, seed=sc.seed,
                                     device_schedules=own, replacements=swaps)
        self._true_sources[node.node_id] = true
        if work.reported == work.true and node.reported_devices == node.total_devices:
            self._reported_sources[node.node_id] = true
            return
        common, own = _device_schedules(sc, fac.id, node.node_id, work.reported)
        self._reported_sources[node.node_id] = SimulatedDeviceSource(
            node.node_id, node.total_devices, common, model=node.model, seed=sc.seed, device_schedules=own,
            reported_devices=node.reported_devices, replacements=swaps,
        )

    def _meter_source(self, fac: FacilitySpec, meter: MeterSpec) -> SimulatedMeterSource:
        sc = self.scenario
        start = sc.start_unix_ns
        ratio, base = overhead_points(sc, fac)
        names = set(meter.nodes) if meter.scope != "facility" else {n.name for n in fac.nodes}
        lies = meter_factor(sc, fac, meter)
        factor = None
        if lies:
            points: list[tuple[int, float]] = [(0, 1.0)]
            for a, b, f in lies:
                points += [(start + a, 1.0), (start + a, f), (start + b, f), (start + b, 1.0)]
            factor = Ramp(tuple(points))
        return SimulatedMeterSource(
            meter.meter_id,
            [self._true_sources[n.node_id] for n in fac.nodes if n.name in names],
            overhead_at=Ramp(tuple((start + t if t else 0, v) for t, v in ratio)),
            base_at=Ramp(tuple((start + t if t else 0, v) for t, v in base)) if meter.scope == "facility"
            else Ramp.constant(0.0),
            share=meter.share if meter.feed else 1.0, error=meter.error, noise=meter.noise,
            factor_at=factor, seed=sc.seed,
            counter_j=_register_start_j(sc.seed, meter.meter_id) if meter.energy_counter else None,
            label=f"simulated {meter.kind or meter.scope} meter" if meter.kind or meter.scope != "facility"
            else "simulated facility meter",
        )

    # -- documents ------------------------------------------------------------------------------

    def inventories(self, issued_ns: int) -> list[types_pb2.Inventory]:
        """What each lab declares at the start: version 1 of each facility's inventory."""
        return [self.inventory(fac.id, issued_ns) for fac in self.scenario.facilities]

    def inventory(self, facility_id: str, issued_ns: int) -> types_pb2.Inventory:
        """The facility's next inventory version, as its lab writes it at ``issued_ns``: its
        declared nodes (less those an ``inventory`` entry dropped) with their keys and the cards
        in them at that moment, its meters with their scopes, feeds and accuracy, the band. The
        band, fixed load and accuracy are those declared then: the facility's own, changed by its
        ``inventory`` entries at or before ``issued_ns``. Written in the inventory authoring
        format and read by its own parser (``pausewatch.inventory``), like a lab's file would be."""
        fac = self.scenario.facility(facility_id)
        says = self.scenario.declared(facility_id, issued_ns - self.scenario.start_unix_ns)
        version = self._inventory_versions.get(facility_id, 0) + 1
        self._inventory_versions[facility_id] = version
        (lo, hi), fixed = says.overhead, says.fixed_load_w
        lines = [f"facility_id = {_q(fac.id)}", f"lab_id = {_q(fac.lab)}", f"version = {version}", "",
                 "[overhead]", f"min_ratio = {lo!r}", f"max_ratio = {hi!r}",
                 *([f"fixed_load_w = {fixed!r}"] if fixed else []), ""]
        nodes = [n for n in fac.declared_nodes if n.name not in says.dropped]
        for node in nodes:
            key = self.keys.subject(node.node_id).public_key.raw.hex()
            lines += ["[[nodes]]", f"node_id = {_q(node.node_id)}", f"attestor_public_key = {_q(key)}",
                      f"location = {_q(f'{fac.id} hall 1')}"]
            for uuid, model, serial in self._true_sources[node.node_id].inventory(issued_ns, node.devices):
                lines += ["[[nodes.accelerators]]", f"uuid = {_q(uuid)}", f"model = {_q(model)}",
                          f"serial = {_q(serial)}"]
            lines.append("")
        declared = {n.name: n.node_id for n in nodes}
        for meter in fac.meters:
            key = self.keys.subject(meter.meter_id).public_key.raw.hex()
            lines += ["[[meters]]", f"meter_id = {_q(meter.meter_id)}", f"public_key = {_q(key)}",
                      f"scope = {_q(meter.scope)}"]
            if meter.scope != "facility":
                ids = [declared[n] for n in meter.nodes if n in declared]
                lines.append(f"node_ids = [{', '.join(_q(x) for x in ids)}]")
            if meter.feed:
                lines.append(f"feed = {_q(meter.feed)}")
            accuracy = says.accuracy if says.accuracy is not None else meter.accuracy
            if accuracy is not None:
                lines.append(f"accuracy = {accuracy!r}")
            if meter.band is not None:
                lines.append(f"overhead = {{ min_ratio = {meter.band[0]!r}, max_ratio = {meter.band[1]!r} }}")
            lines.append("")
        if fac.scheduler is not None:
            key = self.keys.subject(fac.scheduler.scheduler_id).public_key.raw.hex()
            lines += ["[[schedulers]]", f"scheduler_id = {_q(fac.scheduler.scheduler_id)}",
                      f"public_key = {_q(key)}", ""]  # fmt: skip
        return inventory_from_toml("\n".join(lines), f"{self.scenario.path} (inventory of {fac.id} "
                                   f"v{version})", issued_ns=issued_ns)

    def subjects(self) -> list[SubjectPlan]:
        return [a.plan for a in self._attestors.values()]

    # -- one period -----------------------------------------------------------------------------

    def period(self, index: int, nonce: bytes) -> list[Outgoing]:
        """Everything the fleet signs for period ``index``, with the challenge nonce it holds."""
        out: list[Outgoing] = []
        for a in self._attestors.values():
            out += self._period(a, index, nonce)
        for s in self._schedulers:
            out.append(self._accounting(s, index, nonce))
        return out

    def _accounting(self, s: _Scheduler, index: int, nonce: bytes) -> Outgoing:
        """The scheduler's signed accounting of period ``index``: every job it lists then."""
        start, period = self.scenario.start_unix_ns, self.scenario.period_ns
        t0, t1 = start + index * period, start + (index + 1) * period
        ids = {n.name: n.node_id for n in s.facility.nodes}
        jobs = []
        for job in s.spec.jobs:
            j0, j1 = start + job.start_ns, start + job.end_ns
            if j0 < t1 and j1 > t0:
                ended = j1 <= t1
                jobs.append(JobRecord(job.job_id, "COMPLETED" if ended else "RUNNING",
                                      tuple(ids[n] for n in job.nodes), job.gpus * len(job.nodes), j0,
                                      j1 if ended else None))  # fmt: skip
        report = s.builder.accounting((t0, t1), JobAccounting(tuple(jobs)), _SIMULATED, challenge_nonce=nonce,
                                      signed_ns=t1)  # fmt: skip
        link = s.chain.sign(s.head, report)
        s.head = link.next_head
        deliver = start + self.plan.deliver_ns((index + 1) * period)
        return Outgoing(s.spec.scheduler_id, link.envelope, deliver)

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
        if p.shift_ns:
            # The (patched or mis-set) attestor claims the period happened elsewhere in time.
            period_agg = replace(period_agg, start_ns=period_agg.start_ns + p.shift_ns,
                                 end_ns=period_agg.end_ns + p.shift_ns)
            signed_ns += p.shift_ns
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
        for name, claimed in p.forge:
            out.append(self._forged(a, name, claimed, t0, t1, nonce_used, signed_ns, deliver))
        return out

    def _forged(  # noqa: PLR0917  # one forged report: whose, what, when
        self, a: _Attestor, name: str, claimed: str, t0: int, t1: int, nonce: bytes, signed_ns: int,
        deliver: int,
    ) -> Outgoing:
        """A report in node ``name``'s name (its node id, its declared cards, ``claimed`` telemetry),
        signed with this attestor's key on this attestor's chain."""
        fac = self.scenario.facility(a.plan.facility_id)
        node = fac.node(name)
        forger = a.forgers.get(name)
        if forger is None:
            profile = profile_for(claimed, self.scenario.seed, fac.id, node.node_id)
            forger = _Forger(ReportBuilder(fac.id, node.node_id),
                             SimulatedDeviceSource(node.node_id, node.devices, profile, model=node.model,
                                                   seed=self.scenario.seed + 2),
                             Aggregator(self._limits))
            a.forgers[name] = forger
        for t in range(t0, t1, self._interval_ns):
            forger.aggregator.add(forger.source.sample(t))
        period = forger.aggregator.close(t0, t1)
        report = forger.builder.usage(period, challenge_nonce=nonce, signed_ns=signed_ns)
        link = a.chain.sign(a.head, report)
        a.history.append(link)
        a.head = link.next_head
        return Outgoing(a.plan.subject_id, link.envelope, deliver)

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


_SIMULATED = types_pb2.SourceInfo(kind=types_pb2.SOURCE_KIND_SIMULATOR, version="sim scheduler")


@dataclass
class _Scheduler:
    """A facility's accounting attestor: its builder and chain."""

    facility: FacilitySpec
    spec: SchedulerSpec
    builder: ReportBuilder
    chain: ChainSigner
    head: ChainHead = GENESIS


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



def _q(text: str) -> str:
    """A TOML basic string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
