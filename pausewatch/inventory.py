"""Facility inventories: what a lab declares, validated, and its TOML authoring format.

An inventory is signed by the lab (``PayloadType.INVENTORY``) and lists, for one facility, every
node with its attestor key and accelerators, every meter with its key and scope, and the
declared overhead band: the range of (metered energy) / (Σ node-reported energy) that the lab
says its facility shows (PUE-like; cooling, networking, hosts not reported by the nodes).
``Inventory.from_wire`` checks every invariant once.

Authoring format (TOML; ``inventory_from_toml`` turns it into the wire message)::

    facility_id = "fac-a"
    lab_id = "lab-example"
    version = 1
    issued = 2026-01-01T00:00:00Z

    [overhead]
    min_ratio = 1.05
    max_ratio = 1.40
    fixed_load_w = 3000               # optional: constant load the intake meters see outside
                                      # every node (offices, lighting), W; default 0

    [[nodes]]
    node_id = "a-node-01"
    attestor_public_key = "<64 hex digits or base64 of the raw Ed25519 key>"
    location = "hall 1 / row 3 / rack 7"
    enrolment_proof = "<base64: the node key's signature over its enrolment>"   # from init
    [[nodes.accelerators]]
    uuid = "GPU-6f1c…"
    model = "NVIDIA H100 80GB HBM3"
    serial = "1654123012345"          # optional

    [[meters]]
    meter_id = "a-intake"
    public_key = "<hex or base64>"
    scope = "facility"                # or "hall", "rack", "pdu", "nodes" with node_ids = [...]
    feed = "A"                        # optional: one of several feeds summed into one measurement
    accuracy = 0.005                  # optional: accuracy class as a fraction (default 0.01), at
                                      # most the commitments' tolerances.max_meter_accuracy
    overhead = { min_ratio = 1.0, max_ratio = 1.1 }   # optional: this scope's own band (and
                                      # its own fixed_load_w, default 0)
    enrolment_proof = "<base64>"      # the meter key's proof, from init

    [[schedulers]]                    # optional: a job-accounting attestor (docs/telemetry.md)
    scheduler_id = "a-slurm"
    public_key = "<hex or base64>"
    node_ids = ["a-node-01"]          # optional: the nodes it schedules (default: every node)
    host_names = { "gpu001" = "a-node-01" }   # optional: scheduler host name -> node id
    enrolment_proof = "<base64>"      # the scheduler key's proof, from init

``enrolment_proof`` (nodes and meters) is the entry's own key's signature over its enrolment
(:mod:`pausewatch.enrolment`), as ``pausewatch-attestor init`` prints it: proof that the key's
holder agreed to be enrolled as this node of this facility. It is optional, so inventories
written before proofs existed stay valid, but an entry without one holds its key only until a
proven entry of another facility claims the key (``check_key_holders``).

Meter topology. A *scope* is the set of nodes behind a meter: the whole facility, or the listed
nodes of a hall, rack, PDU or branch. Scopes nest: two scopes are equal, disjoint, or one holds
the other (a partial overlap is refused). On one scope, every meter without a ``feed`` measures
the whole scope by itself, and the meters that name a feed are summed into one more measurement
(an A and a B feed). The measurements of one scope are **redundant**: the evaluation compares
them (disagreement beyond their accuracy is a finding against a meter) and never adds them. Two
meters on one scope that both omit ``feed`` are therefore two independent readings of one
intake (a utility meter and an inspector's meter), not twice the energy. A meter without a
``scope`` key covers the facility. Every band (the facility's and a scope's own) must sit inside
the bounds of the commitments that cover the facility (``pausewatch.commitment.Tolerances``).

Fixed load. A meter scope's energy model is ``fixed load × time + ratio × Σ node energy``: the
fixed load (``fixed_load_w``, W, default 0) is what its meters see outside every node whatever
the nodes do (offices, lighting, network, the cooling plant's base). It is declared beside the
band it goes with: ``[overhead]``'s belongs to the facility's intake (the scope of its
``facility``-scope meters) only, a scope's own ``overhead`` table carries that scope's. Each
must sit within the commitments' ``tolerances.max_fixed_load_w`` (absent there: 0, none
allowed): hidden hardware drawing up to the declared fixed load is not seen by the balance.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from pausewatch.commitment import MAX_FIXED_LOAD_W, METER_ACCURACY_LIMITS, Tolerances, public_key
from pausewatch.enrolment import proven_key_ids
from pausewatch.errors import FormatError, LimitExceededError, VerificationError
from pausewatch.keys import ED25519_SIGNATURE_SIZE, Ed25519Key, key_id
from pausewatch.reports import MAX_ACCELERATORS, check_id
from pausewatch.tomlread import Document, Table
from pausewatch.v1 import types_pb2

__all__ = [
    "KEY_CONFLICT",
    "MAX_METERS",
    "MAX_NODES",
    "DeclaredAccelerator",
    "DeclaredMeter",
    "DeclaredNode",
    "DeclaredScheduler",
    "Inventory",
    "KeyConflictError",
    "KeyHolder",
    "MeterScopeGroup",
    "check_key_holders",
    "enrolled_key_ids",
    "inventory_from_toml",
    "key_conflict",
    "key_holders",
]

MAX_NODES: Final = 50_000
MAX_METERS: Final = 1024
MAX_MODEL_LENGTH: Final = 128
MAX_LOCATION_LENGTH: Final = 256
MAX_OVERHEAD_RATIO: Final = 10.0
DEFAULT_METER_ACCURACY: Final = 0.01  # IEC 62053-21 class 1
MAX_FEED_LENGTH: Final = 32


@dataclass(frozen=True)
class DeclaredAccelerator:
    uuid: str
    model: str
    serial: str


@dataclass(frozen=True)
class DeclaredNode:
    node_id: str
    attestor_key_id: str
    accelerators: tuple[DeclaredAccelerator, ...]
    location: str


@dataclass(frozen=True)
class DeclaredMeter:
    meter_id: str
    key_id: str
    scope: int  # MeterScope
    node_ids: tuple[str, ...]  # the nodes the meter sees (every node for FACILITY scope)
    feed: str = ""  # non-empty: one of the feeds summed into one measurement of the scope
    accuracy: float = DEFAULT_METER_ACCURACY
    overhead: tuple[float, float] | None = None  # this scope's own declared band
    fixed_load_w: float = 0.0  # this scope's own declared fixed load (with its own band), W


@dataclass(frozen=True)
class DeclaredScheduler:
    """A job-accounting attestor: the nodes whose jobs its reports list, and their host names."""

    scheduler_id: str
    key_id: str
    node_ids: tuple[str, ...]  # every declared node when the entry lists none
    host_names: Mapping[str, str] = field(default_factory=dict)  # scheduler host -> node id

    def node_of(self, host: str) -> str:
        """The node id a scheduler host name stands for (the name itself when not mapped)."""
        return self.host_names.get(host, host)


@dataclass(frozen=True)
class MeterScopeGroup:
    """The meters of one scope, as measurements: each unfed meter alone, the feeds together."""

    node_ids: tuple[str, ...]
    measurements: tuple[tuple[str, ...], ...]  # meter ids per measurement, sorted
    overhead: tuple[float, float]  # declared band of this scope
    fixed_load_w: float = 0.0  # declared fixed load of this scope, W
    # where versions logged in a bucket declared it differently: (start ns, end ns, W) of each
    # version's stretch of the bucket, ``fixed_load_w`` their mean (``evaluation.folds.balance``)
    fixed_load_steps: tuple[tuple[int, int, float], ...] = ()
    # and the band likewise: (start ns, end ns, (min, max)) of each version's stretch,
    # ``overhead`` their mean weighted by what the scope's nodes reported in each
    band_steps: tuple[tuple[int, int, tuple[float, float]], ...] = ()

    @property
    def meter_ids(self) -> tuple[str, ...]:
        return tuple(sorted(m for ms in self.measurements for m in ms))


@dataclass(frozen=True)
class Inventory:
    """A validated inventory of one facility."""

    facility_id: str
    lab_id: str
    version: int
    issued_ns: int
    nodes: tuple[DeclaredNode, ...]
    meters: tuple[DeclaredMeter, ...]
    overhead_min: float
    overhead_max: float
    node_by_key: Mapping[str, DeclaredNode] = field(repr=False, compare=False)
    meter_by_key: Mapping[str, DeclaredMeter] = field(repr=False, compare=False)
    node_by_id: Mapping[str, DeclaredNode] = field(repr=False, compare=False)
    schedulers: tuple[DeclaredScheduler, ...] = ()
    scheduler_by_key: Mapping[str, DeclaredScheduler] = field(default_factory=dict, repr=False, compare=False)
    fixed_load_w: float = 0.0  # declared fixed load of the facility's intake scope, W

    @property
    def accelerator_count(self) -> int:
        return sum(len(n.accelerators) for n in self.nodes)

    def scope_groups(self) -> tuple[MeterScopeGroup, ...]:
        """The meter scopes of this facility, largest first, each with its measurements."""
        by_scope: dict[tuple[str, ...], list[DeclaredMeter]] = {}
        for m in self.meters:
            by_scope.setdefault(m.node_ids, []).append(m)
        out = []
        for node_ids, meters in by_scope.items():
            unfed = [(m.meter_id,) for m in meters if not m.feed]
            fed = tuple(sorted(m.meter_id for m in meters if m.feed))
            measurements = tuple(sorted([*unfed, *([fed] if fed else [])]))
            own = [(m.overhead, m.fixed_load_w) for m in meters if m.overhead is not None]
            if own:
                band, fixed = own[0]
            else:  # the facility's band; its fixed load belongs to the intake only
                band = (self.overhead_min, self.overhead_max)
                intake = any(m.scope == types_pb2.METER_SCOPE_FACILITY for m in meters)
                fixed = self.fixed_load_w if intake else 0.0
            out.append(MeterScopeGroup(node_ids, measurements, band, fixed))
        return tuple(sorted(out, key=lambda g: (-len(g.node_ids), g.node_ids)))

    def check_bounds(self, tolerances: Tolerances, commitment_id: str) -> None:
        """Raise ``FormatError`` naming the field when a declared band is wider than a
        commitment's bounds (``tolerances.overhead_min_ratio`` … ``overhead_max_ratio``), a
        declared fixed load above its ``tolerances.max_fixed_load_w``, or a meter declared looser
        than its ``tolerances.max_meter_accuracy``."""
        bands = [("overhead", (self.overhead_min, self.overhead_max), self.fixed_load_w)]
        bands += [
            (f"meters[{m.meter_id}].overhead", m.overhead, m.fixed_load_w) for m in self.meters if m.overhead
        ]
        of = f"of commitment {commitment_id!r}"
        for where, band, fixed in bands:
            if (crossed := tolerances.band_problem(band)) is not None:
                name, why = crossed
                raise FormatError(
                    f"{where}.{name}: {why} {of} (tolerances.overhead_min_ratio/overhead_max_ratio)"
                )
            if (why_fixed := tolerances.fixed_load_problem(fixed)) is not None:
                raise FormatError(
                    f"{where}.fixed_load_w: {why_fixed} {of}"
                    " (tolerances.max_fixed_load_w; absent, no fixed load is allowed)"
                )
        for m in self.meters:
            if (why_loose := tolerances.accuracy_problem(m.accuracy)) is not None:
                raise FormatError(
                    f"meters[{m.meter_id}].accuracy: {why_loose} {of} (tolerances.max_meter_accuracy)"
                )

    @classmethod
    def from_wire(cls, msg: types_pb2.Inventory) -> Inventory:
        """Validate a wire Inventory; every error names the offending field."""
        facility = check_id(msg.facility_id, "facility_id")
        lab = check_id(msg.lab_id, "lab_id")
        if msg.version < 1:
            raise FormatError("version: must be at least 1")
        if len(msg.nodes) > MAX_NODES:
            raise LimitExceededError(f"nodes: {len(msg.nodes)} entries; limit {MAX_NODES}")
        if len(msg.meters) > MAX_METERS:
            raise LimitExceededError(f"meters: {len(msg.meters)} entries; limit {MAX_METERS}")
        band = msg.overhead
        _band(band, "overhead")
        fixed_load = _fixed_load(band, "overhead")
        keys: set[str] = set()
        uuids: set[str] = set()
        nodes: list[DeclaredNode] = []
        for i, n in enumerate(msg.nodes):
            where = f"nodes[{i}]"
            node_id = check_id(n.node_id, f"{where}.node_id")
            _check_key(n.attestor_public_key, where, "attestor_public_key")
            kid = key_id(n.attestor_public_key)
            if kid in keys:
                raise FormatError(f"{where}.attestor_public_key: key used twice in the inventory")
            keys.add(kid)
            if len(n.accelerators) > MAX_ACCELERATORS:
                raise LimitExceededError(f"{where}.accelerators: limit {MAX_ACCELERATORS}")
            _check_proof(n.enrolment_proof, where)
            if len(n.location) > MAX_LOCATION_LENGTH:
                raise LimitExceededError(f"{where}.location: longer than {MAX_LOCATION_LENGTH}")
            accs = []
            for j, a in enumerate(n.accelerators):
                uuid = check_id(a.uuid, f"{where}.accelerators[{j}].uuid")
                if uuid in uuids:
                    raise FormatError(f"{where}.accelerators[{j}].uuid: {uuid!r} declared twice")
                uuids.add(uuid)
                if not a.model or len(a.model) > MAX_MODEL_LENGTH or not a.model.isprintable():
                    raise FormatError(
                        f"{where}.accelerators[{j}].model: 1..{MAX_MODEL_LENGTH} printable chars"
                    )
                accs.append(DeclaredAccelerator(uuid, a.model, a.serial))
            nodes.append(DeclaredNode(node_id, kid, tuple(accs), n.location))
        node_ids = [n.node_id for n in nodes]
        if len(set(node_ids)) != len(node_ids):
            raise FormatError("nodes: a node_id is declared twice")
        known = set(node_ids)
        meters: list[DeclaredMeter] = []
        for i, m in enumerate(msg.meters):
            where = f"meters[{i}]"
            meter_id = check_id(m.meter_id, f"{where}.meter_id")
            kid = _new_key(m.public_key, m.enrolment_proof, where, keys)
            if m.scope == types_pb2.METER_SCOPE_FACILITY:
                if m.node_ids:
                    raise FormatError(f"{where}.node_ids: must be empty for a facility-scope meter")
                scope_nodes = tuple(sorted(known))
            elif m.scope in _PART_SCOPES:
                if not m.node_ids:
                    raise FormatError(
                        f"{where}.node_ids: a {_SCOPE_NAME[m.scope]}-scope meter must list its nodes"
                    )
                scope_nodes = _declared_ids(m.node_ids, known, where)
            else:
                raise FormatError(f"{where}.scope: must be FACILITY, HALL, RACK, PDU or NODES")
            if len(m.feed) > MAX_FEED_LENGTH or (m.feed and not m.feed.isprintable()):
                raise FormatError(f"{where}.feed: up to {MAX_FEED_LENGTH} printable characters")
            accuracy = m.accuracy if m.HasField("accuracy") else DEFAULT_METER_ACCURACY
            lo, hi = METER_ACCURACY_LIMITS
            if not (math.isfinite(accuracy) and lo <= accuracy <= hi):
                raise FormatError(f"{where}.accuracy: must be within {lo} … {hi}, got {accuracy}")
            own_band: tuple[float, float] | None = None
            own_fixed = 0.0
            if m.HasField("overhead"):
                own_band = _band(m.overhead, f"{where}.overhead")
                own_fixed = _fixed_load(m.overhead, f"{where}.overhead")
            meters.append(
                DeclaredMeter(meter_id, kid, m.scope, scope_nodes, m.feed, accuracy, own_band, own_fixed)
            )
        if len({m.meter_id for m in meters}) != len(meters):
            raise FormatError("meters: a meter_id is declared twice")
        _check_topology(meters)
        schedulers = _schedulers(msg, keys, known)
        return cls(
            facility_id=facility,
            lab_id=lab,
            version=msg.version,
            issued_ns=msg.issued_unix_ns,
            nodes=tuple(nodes),
            meters=tuple(meters),
            overhead_min=band.min_ratio,
            overhead_max=band.max_ratio,
            node_by_key={n.attestor_key_id: n for n in nodes},
            meter_by_key={m.key_id: m for m in meters},
            node_by_id={n.node_id: n for n in nodes},
            schedulers=schedulers,
            scheduler_by_key={sch.key_id: sch for sch in schedulers},
            fixed_load_w=fixed_load,
        )


MAX_SCHEDULERS: Final = 16


def _schedulers(msg: types_pb2.Inventory, keys: set[str], known: set[str]) -> tuple[DeclaredScheduler, ...]:
    """The optional job-accounting attestors; ``keys`` (the keys so far) grows by theirs."""
    if len(msg.schedulers) > MAX_SCHEDULERS:
        raise LimitExceededError(f"schedulers: {len(msg.schedulers)} entries; limit {MAX_SCHEDULERS}")
    out: list[DeclaredScheduler] = []
    claimed: set[str] = set()
    for i, sch in enumerate(msg.schedulers):
        where = f"schedulers[{i}]"
        scheduler_id = check_id(sch.scheduler_id, f"{where}.scheduler_id")
        kid = _new_key(sch.public_key, sch.enrolment_proof, where, keys)
        node_ids = _declared_ids(sch.node_ids, known, where) if sch.node_ids else tuple(sorted(known))
        overlap = sorted(claimed & set(node_ids))
        if overlap:
            raise FormatError(f"{where}.node_ids: node {overlap[0]!r} is scheduled by another scheduler too")
        claimed |= set(node_ids)
        names: dict[str, str] = {}
        for j, h in enumerate(sch.host_names):
            host = check_id(h.host, f"{where}.host_names[{j}].host")
            if h.node_id not in node_ids:
                raise FormatError(
                    f"{where}.host_names[{j}].node_id: {h.node_id[:40]!r} is not one of its nodes"
                )
            if host in names:
                raise FormatError(f"{where}.host_names[{j}].host: {host!r} is mapped twice")
            names[host] = h.node_id
        out.append(DeclaredScheduler(scheduler_id, kid, node_ids, names))
    if len({s.scheduler_id for s in out}) != len(out):
        raise FormatError("schedulers: a scheduler_id is declared twice")
    return tuple(out)


_PART_SCOPES: Final = frozenset(
    {
        types_pb2.METER_SCOPE_NODES,
        types_pb2.METER_SCOPE_HALL,
        types_pb2.METER_SCOPE_RACK,
        types_pb2.METER_SCOPE_PDU,
    }
)


def _band(band: types_pb2.OverheadBand, where: str) -> tuple[float, float]:
    if not (math.isfinite(band.min_ratio) and math.isfinite(band.max_ratio)):
        raise FormatError(f"{where}: ratios must be finite")
    if not (0.0 < band.min_ratio <= band.max_ratio <= MAX_OVERHEAD_RATIO):
        raise FormatError(
            f"{where}: need 0 < min_ratio ≤ max_ratio ≤ {MAX_OVERHEAD_RATIO},"
            f" got {band.min_ratio} … {band.max_ratio}"
        )
    return band.min_ratio, band.max_ratio


def _fixed_load(band: types_pb2.OverheadBand, where: str) -> float:
    """A band's declared fixed load, W: finite, ≥ 0, at most ``MAX_FIXED_LOAD_W``."""
    watts = band.fixed_load_w
    if not (math.isfinite(watts) and 0.0 <= watts <= MAX_FIXED_LOAD_W):
        raise FormatError(f"{where}.fixed_load_w: need 0 ≤ W ≤ {MAX_FIXED_LOAD_W:g} (finite), got {watts}")
    return watts


def _check_topology(meters: list[DeclaredMeter]) -> None:
    """Scopes nest (equal, disjoint or contained); one scope has one band; feeds are distinct."""
    scopes: dict[tuple[str, ...], DeclaredMeter] = {}
    feeds: set[tuple[tuple[str, ...], str]] = set()
    for m in meters:
        first = scopes.setdefault(m.node_ids, m)
        if (first.overhead, first.fixed_load_w) != (m.overhead, m.fixed_load_w) and first is not m:
            raise FormatError(
                f"meters[{m.meter_id}].overhead: meters {first.meter_id!r} and {m.meter_id!r} share"
                " one scope but declare different bands"
            )
        if m.feed:
            if (m.node_ids, m.feed) in feeds:
                raise FormatError(
                    f"meters[{m.meter_id}].feed: feed {m.feed!r} of this scope is declared twice"
                )
            feeds.add((m.node_ids, m.feed))
    ordered = sorted(scopes.items())
    for i, (a, ma) in enumerate(ordered):
        sa = set(a)
        for b, mb in ordered[i + 1 :]:
            sb = set(b)
            if sa & sb and not (sa <= sb or sb <= sa):
                raise FormatError(
                    f"meters[{mb.meter_id}].node_ids: its scope overlaps the scope of meter"
                    f" {ma.meter_id!r} without containing it or lying inside it"
                )


def _new_key(raw: bytes, proof: bytes, where: str, keys: set[str]) -> str:
    """A meter's or scheduler's ``public_key`` (and proof): its key id, added to ``keys``; a key
    the inventory already holds is refused."""
    _check_key(raw, where, "public_key")
    kid = key_id(raw)
    if kid in keys:
        raise FormatError(f"{where}.public_key: key used twice in the inventory")
    keys.add(kid)
    _check_proof(proof, where)
    return kid


def _declared_ids(node_ids: Iterable[str], known: set[str], where: str) -> tuple[str, ...]:
    """``node_ids`` of a meter or scheduler, sorted: declared nodes, each once."""
    listed = list(node_ids)
    unknown = sorted(set(listed) - known)
    if unknown:
        raise FormatError(f"{where}.node_ids: {unknown[0]!r} is not a declared node")
    if len(set(listed)) != len(listed):
        raise FormatError(f"{where}.node_ids: a node is listed twice")
    return tuple(sorted(set(listed)))


def _check_proof(proof: bytes, where: str) -> None:
    """Shape only (empty, or one Ed25519 signature); :mod:`pausewatch.enrolment` verifies it."""
    if proof and len(proof) != ED25519_SIGNATURE_SIZE:
        raise FormatError(f"{where}.enrolment_proof: {len(proof)} bytes; an Ed25519 signature is 64")


def _check_key(raw: bytes, where: str, name: str) -> None:
    try:
        Ed25519Key(raw)
    except FormatError as e:
        raise FormatError(f"{where}.{name}: {e}") from e


_SCOPES: Final = {
    "facility": types_pb2.METER_SCOPE_FACILITY,
    "hall": types_pb2.METER_SCOPE_HALL,
    "rack": types_pb2.METER_SCOPE_RACK,
    "pdu": types_pb2.METER_SCOPE_PDU,
    "nodes": types_pb2.METER_SCOPE_NODES,
}
_SCOPE_NAME: Final = {v: k for k, v in _SCOPES.items()}


def inventory_from_toml(text: str, source_name: str, *, issued_ns: int | None = None) -> types_pb2.Inventory:
    """Parse the TOML authoring format into a wire Inventory, validated by ``from_wire``.

    ``issued`` comes from the file when it has one, else from ``issued_ns`` (the signing tool
    passes the time of signing)."""
    doc = Document.parse(text, source_name)
    root = doc.root
    root.only("facility_id", "lab_id", "version", "issued", "overhead", "nodes", "meters", "schedulers")
    msg = types_pb2.Inventory(
        facility_id=root.string("facility_id"),
        lab_id=root.string("lab_id"),
        issued_unix_ns=root.date_time("issued") if "issued" in root or issued_ns is None else issued_ns,
    )
    version = root.integer("version")
    if version < 1:
        raise root.fail("version", "must be at least 1")
    msg.version = version
    band = root.table("overhead")
    _band_from_toml(band, msg.overhead)
    if not 0 < msg.overhead.min_ratio <= msg.overhead.max_ratio:
        raise band.fail("max_ratio", "need 0 < min_ratio ≤ max_ratio")
    for n in root.tables("nodes"):
        n.only("node_id", "attestor_public_key", "location", "accelerators", "enrolment_proof")
        node = msg.nodes.add(
            node_id=n.string("node_id"),
            attestor_public_key=public_key(n, "attestor_public_key"),
            location=n.string("location", ""),
            enrolment_proof=_proof_from_toml(n),
        )
        for a in n.tables("accelerators"):
            a.only("uuid", "model", "serial")
            node.accelerators.add(
                uuid=a.string("uuid"), model=a.string("model"), serial=a.string("serial", "")
            )
    for m in root.tables("meters"):
        m.only(
            "meter_id", "public_key", "scope", "node_ids", "feed", "accuracy", "overhead", "enrolment_proof"
        )
        scope = m.string("scope", "facility", choices=tuple(_SCOPES))
        meter = msg.meters.add(
            meter_id=m.string("meter_id"),
            public_key=public_key(m, "public_key"),
            scope=_SCOPES[scope],
            feed=m.string("feed", ""),
            enrolment_proof=_proof_from_toml(m),
        )
        meter.node_ids.extend(m.strings("node_ids"))
        if "accuracy" in m:
            meter.accuracy = m.number("accuracy")
        if "overhead" in m:
            _band_from_toml(m.table("overhead"), meter.overhead)
    for t in root.tables("schedulers"):
        t.only("scheduler_id", "public_key", "node_ids", "host_names", "enrolment_proof")
        sch = msg.schedulers.add(
            scheduler_id=t.string("scheduler_id"),
            public_key=public_key(t, "public_key"),
            enrolment_proof=_proof_from_toml(t),
        )
        sch.node_ids.extend(t.strings("node_ids"))
        names = t.section("host_names")
        for host in sorted(names.data):
            sch.host_names.add(host=host, node_id=names.string(host))
    try:
        Inventory.from_wire(msg)
    except FormatError as e:
        field, sep, problem = str(e).partition(": ")
        if sep and re.fullmatch(r"[a-z_]+(\.[a-z_]+|\[[\w.-]+\])*", field):
            raise doc.error(field, problem) from e
        raise FormatError(f"{source_name}: {e}") from e
    return msg


def _band_from_toml(table: Table, band: types_pb2.OverheadBand) -> None:
    """An ``overhead`` table: ``min_ratio``, ``max_ratio`` and the optional ``fixed_load_w``."""
    table.only("min_ratio", "max_ratio", "fixed_load_w")
    band.min_ratio = table.number("min_ratio")
    band.max_ratio = table.number("max_ratio")
    if "fixed_load_w" in table:
        band.fixed_load_w = table.number("fixed_load_w")


def _proof_from_toml(table: Table) -> bytes:
    text = table.string("enrolment_proof", "").strip()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        problem = "must be base64 (as pausewatch-attestor init prints it)"
        raise table.fail("enrolment_proof", problem) from None


# --- one key, one facility -------------------------------------------------------------------
KEY_CONFLICT: Final = "inventory.key_conflict"  # the check's id, for verifier and auditor alike


class KeyConflictError(VerificationError):
    """An inventory enrols a report key that another facility's latest inventory holds.

    First come, first served: a key belongs to the facility whose latest inventory enrolled it
    first, until that facility's newer inventory drops it. Otherwise one lab could take over
    another lab's node or meter by enrolling its public key (whose reports would then be
    refused as "not enrolled here"). One exception: an entry with a proof of possession
    (:mod:`pausewatch.enrolment`) takes a key from a holder whose entry has none, so that a
    lab that enrolled someone else's key without a proof (it cannot make one) blocks nobody."""

    def __init__(self, key_id: str, facility_id: str, holder_facility_id: str, where: str) -> None:
        super().__init__(
            f"inventory for {facility_id} enrols key {key_id[:16]} ({where}), which the latest"
            f" inventory of facility {holder_facility_id} holds"
        )
        self.key_id = key_id
        self.facility_id = facility_id
        self.holder_facility_id = holder_facility_id


@dataclass(frozen=True)
class KeyHolder:
    """The facility whose latest inventory enrols a key, and whether its entry proved possession."""

    facility_id: str
    proven: bool


def enrolled_key_ids(inventory: types_pb2.Inventory) -> list[tuple[str, str]]:
    """(key id, where) for every node, meter and scheduler key of ``inventory``, in declaration order."""
    out = [(key_id(n.attestor_public_key), f"node {n.node_id}") for n in inventory.nodes]
    out += [(key_id(m.public_key), f"meter {m.meter_id}") for m in inventory.meters]
    out += [(key_id(s.public_key), f"scheduler {s.scheduler_id}") for s in inventory.schedulers]
    return out


def check_key_holders(new: types_pb2.Inventory, holder_of: Callable[[str], KeyHolder | None]) -> None:
    """Raise :class:`KeyConflictError` for the first key of ``new`` that ``holder_of`` (key id ->
    its holder, or None) gives to another facility — unless ``new``'s entry for it carries a
    proof of possession and the holder's does not (the proof takes the key over)."""
    proven = proven_key_ids(new)
    for kid, where in enrolled_key_ids(new):
        holder = holder_of(kid)
        if holder is None or holder.facility_id == new.facility_id:
            continue
        if kid in proven and not holder.proven:
            continue
        suffix = (
            "" if holder.proven else " (its entry has no proof of possession; a proven entry would take it)"
        )
        raise KeyConflictError(kid, new.facility_id, holder.facility_id, where + suffix)


def key_holders(inventories: Iterable[types_pb2.Inventory]) -> dict[str, KeyHolder]:
    """Key id -> holder over the latest inventories of several facilities, in the order they were
    logged: the first to enrol a key holds it, but a proven entry beats an unproven one."""
    holders: dict[str, KeyHolder] = {}
    for inv in inventories:
        proven = proven_key_ids(inv)
        for kid, _ in enrolled_key_ids(inv):
            held = holders.get(kid)
            if held is None or (kid in proven and not held.proven):
                holders[kid] = KeyHolder(inv.facility_id, kid in proven)
    return holders


def key_conflict(new: types_pb2.Inventory, latest_of_others: Iterable[types_pb2.Inventory]) -> None:
    """The ``inventory.key_conflict`` check: ``new`` may enrol no key that the latest inventory
    of another facility (``latest_of_others``, as logged before ``new``) holds
    (:func:`check_key_holders`); raise :class:`KeyConflictError` naming the first such key.
    Inventories of ``new``'s own facility in ``latest_of_others`` are ignored (a new version
    may keep its keys)."""
    holders = key_holders(inv for inv in latest_of_others if inv.facility_id != new.facility_id)
    check_key_holders(new, holders.get)
