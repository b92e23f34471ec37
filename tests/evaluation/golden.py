"""A mixed, seeded scenario that exercises every path of the evaluation, for pinned verdicts.

``mixed_fleet(seed)`` builds two facilities of signed, chained reports over 25 one-minute
periods with every kind of trouble the evaluation answers: silence, late (held) reports,
flagged values, counters running backwards, missing and smuggled devices, wrong locations,
undeclared keys, unknown models, missing fields, equivocation, restarts and chain gaps, and
meters that go silent or lie. ``verdict_digests`` evaluates it under several commitments and
log prefixes and hashes the deterministic serialization of every verdict: the tests pin those
digests so that any change to the evaluation's results shows.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Literal

from pausewatch.commitment import Commitment
from pausewatch.evaluation import BucketRef, EvaluationInput, Evaluator, derive_ingest_findings
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, INFERENCE, NS, T0, TRAINING, Behaviour, Fleet, commitment

PERIODS = 25
HOT_IDLE = Behaviour(450.0, 440.0, 5.0, 0.0, 0.0, None, 1 << 30, 0)
BEHAVIOURS = (IDLE, IDLE, INFERENCE, INFERENCE, TRAINING, HOT_IDLE)
Tweak = Callable[[types_pb2.UsageReport], None]


def _anomaly(kind: int, device: int | None) -> Tweak:
    def tweak(r: types_pb2.UsageReport) -> None:
        uuid = r.accelerators[device].uuid if device is not None else ""
        r.anomalies.add(kind=kind, metric="power_w", device_uuid=uuid, raw_value="x", count=1)

    return tweak


def _tweaks() -> list[Tweak]:
    def set_acc(field: str, value: object, i: int = 0) -> Tweak:
        return lambda r: setattr(r.accelerators[i], field, value)

    def clear_acc(field: Literal["tensor_active", "busy_fraction", "energy_j"]) -> Tweak:
        def tweak(r: types_pb2.UsageReport) -> None:
            for a in r.accelerators:
                a.ClearField(field)

        return tweak

    def smuggle(r: types_pb2.UsageReport) -> None:
        r.accelerators.add(
            uuid="GPU-smuggled", model="NVIDIA H100 80GB HBM3", sample_count=60, busy_fraction=0.9
        )

    def no_bmc(r: types_pb2.UsageReport) -> None:
        r.node.ClearField("bmc_energy_j")

    def rapl(r: types_pb2.UsageReport) -> None:
        r.node.ClearField("bmc_energy_j")
        r.node.rapl_energy_j = 9000.0

    def low_bmc(r: types_pb2.UsageReport) -> None:
        r.node.bmc_energy_j = 100.0

    def ib(r: types_pb2.UsageReport) -> None:
        r.node.infiniband_bytes = 200 << 30

    def long_period(r: types_pb2.UsageReport) -> None:
        r.period_start_unix_ns -= 120 * NS

    return [
        _anomaly(types_pb2.ANOMALY_KIND_NAN, 0),
        _anomaly(types_pb2.ANOMALY_KIND_COUNTER_RESET, 1),
        _anomaly(types_pb2.ANOMALY_KIND_SOURCE_ERROR, None),
        set_acc("energy_j", -500.0),
        set_acc("energy_j", 1.0, 2),
        set_acc("sample_count", 0, 3),
        set_acc("model", "Mystery Accelerator 9000", 1),
        set_acc("power_max_w", 2000.0, 2),
        set_acc("tensor_active", 0.9, 0),
        lambda r: r.accelerators.pop(),
        smuggle,
        lambda r: setattr(r, "facility_id", "fac-z"),
        lambda r: setattr(r, "node_id", "impostor"),
        clear_acc("tensor_active"),
        clear_acc("busy_fraction"),
        clear_acc("energy_j"),
        no_bmc,
        rapl,
        low_bmc,
        ib,
        long_period,
    ]


def mixed_fleet(seed: int) -> tuple[Fleet, list[int]]:
    """The fleet and the log sizes at which the verifier evaluated (later reports are late)."""
    rng = random.Random(seed)
    fleet = Fleet({"fac-a": 4, "fac-b": 3})
    tweaks = _tweaks()
    held: list[tuple[bytes, str]] = []
    marks: list[int] = []
    for k in range(PERIODS):
        t = T0 + k * fleet.period_ns
        for fid in sorted(fleet.facilities):
            total = 0.0
            for node in fleet.node_ids(fid, fleet.facilities[fid]):
                true = rng.choice(BEHAVIOURS)
                claimed = true if rng.random() < 0.8 else rng.choice(BEHAVIOURS)
                total += fleet.node_power(true)
                roll = rng.random()
                if roll < 0.07:
                    continue  # silent
                if roll < 0.1:
                    fleet.chain(node).skip(2, prev=b"\x09" * 32)  # chain gap
                if roll > 0.97:
                    fleet.chain(node).restart(rng.randbytes(16))
                tweak = rng.choice(tweaks) if rng.random() < 0.25 else None
                hold = rng.random() < 0.08
                raw = fleet.usage(node, fid, t, claimed, tweak=tweak, hold=hold)
                if hold:
                    held.append((raw, node))
                if rng.random() < 0.03:  # equivocation: another report with the same seq
                    last = fleet.log[-1] if not hold and fleet.log else None
                    if last is not None and last.header.subject_id == node:
                        fleet.usage(
                            node, fid, t, rng.choice(BEHAVIOURS), seq=last.header.seq, prev=last.header.prev
                        )
            meter_roll = rng.random()
            if meter_roll < 0.08:
                continue
            if meter_roll < 0.12:
                fleet.meter(fid, t, total, tweak=lambda m: m.ClearField("energy_j"))
            elif meter_roll < 0.15:
                fleet.meter(fid, t, total, tweak=lambda m: setattr(m, "energy_j", -1.0))
            elif meter_roll < 0.2:
                fleet.meter(fid, t, total, pue=3.0)
            else:
                fleet.meter(fid, t, total)
        if k in (9, 19):
            marks.append(len(fleet.log))
            for raw, node in held:
                fleet.release(raw, node)
            held.clear()
    # A node that is declared nowhere, reporting into fac-a.
    for k in range(3):
        fleet.usage("fac-a-n99", "fac-a", T0 + k * fleet.period_ns, INFERENCE)
    for raw, node in held:
        fleet.release(raw, node)
    marks.append(len(fleet.log))
    return fleet, marks


def commitments() -> list[Commitment]:
    return [
        commitment(
            ["fac-a", "fac-b"],
            extra_rules='compute_cap_flop = 1e19\n[[rules.power_caps]]\nfacility = "fac-a"\nmax_power_w = 40000.0',
        ),
        commitment(
            ["fac-a", "fac-b"],
            bucket_s=180,
            allowed='["idle", "inference", "training"]',
            reporting="min_inventory_coverage = 0.5",
        ),
        commitment(
            ["fac-a", "fac-b", "fac-c"], bucket_s=300, allowed="[]", extra_rules="compute_cap_flop = 1e30"
        ),
    ]


def verdict_digests(seed: int) -> dict[str, str]:
    """SHA-256 over the serialized verdicts of each (commitment, log prefix) evaluation."""
    fleet, marks = mixed_fleet(seed)
    until = T0 + PERIODS * fleet.period_ns
    out: dict[str, str] = {}
    for ci, c in enumerate(commitments()):
        previous: int | None = None
        for size in marks:
            prefix = fleet.log[:size]
            inputs = EvaluationInput(
                commitment=c,
                inventories={
                    f: fleet.inventory(f, meter=(f != "fac-b" or ci != 2)) for f in fleet.facilities
                },
                reports=tuple(prefix),
                ingest_findings=tuple(derive_ingest_findings(prefix)),
                evaluated_log_size=size,
            )
            ev = Evaluator(inputs)
            h = hashlib.sha256()
            for v in ev.verdicts(until):
                h.update(v.SerializeToString(deterministic=True))
            if previous is not None:
                for start, end in c.buckets(until_ns=until):
                    for fid in inputs.facilities:
                        v = ev.verdict(BucketRef(fid, start, end, previous_log_size=previous))
                        h.update(v.SerializeToString(deterministic=True))
            out[f"c{ci}@{size}"] = h.hexdigest()
            previous = size
    return out


def clean_digests() -> dict[str, str]:
    """The same, for honest fleets (COMPLIANT and VIOLATION buckets with full coverage)."""
    out: dict[str, str] = {}
    for name, behaviour in (("idle", IDLE), ("inference", INFERENCE), ("training", TRAINING)):
        fleet = Fleet({"fac-a": 3})
        fleet.run("fac-a", T0, 20, lambda n, k, b=behaviour: (b, b))  # type: ignore[misc]
        for ci, c in enumerate(commitments()[:2]):
            h = hashlib.sha256()
            for v in Evaluator(fleet.inputs(c)).verdicts(T0 + 20 * fleet.period_ns):
                h.update(v.SerializeToString(deterministic=True))
            out[f"{name}/c{ci}"] = h.hexdigest()
    return out
