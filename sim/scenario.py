"""Scenario files: a fleet, a commitment, a timeline of behaviours, and hand-written expectations.

A scenario is a TOML file (format documented in ``docs/scenarios.md``). ``load_scenario(path)``
parses it strictly — an unknown key, a missing field, a wrong type or an impossible timing is a
``ScenarioError`` naming the file, the line and the key — and returns a frozen ``Scenario``.
Everything here is pure: no keys, no clocks, no processes; the runners turn a ``Scenario`` into
signed reports.

Times inside a scenario are offsets from its ``start``; the parser keeps them as nanosecond
offsets and checks that they fall on report-period boundaries, inside the scenario.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path as FsPath
from typing import Any

from pausewatch.clock import NS_PER_S
from pausewatch.commitment import MAX_FIXED_LOAD_W, Commitment, commitment_from_toml
from pausewatch.errors import FormatError, InputError, InternalError, PausewatchError
from pausewatch.tomlread import Document, Path, Table, format_path, unknown_key
from pausewatch.v1 import types_pb2
from sim._units import format_duration

__all__ = [
    "DEFAULT_MODEL",
    "PROFILES",
    "SCOPES",
    "STATUSES",
    "Action",
    "Declared",
    "DeclaredChange",
    "DeviceSet",
    "Expectation",
    "FacilitySpec",
    "FaultKind",
    "JobSpec",
    "MeterSpec",
    "NodeSpec",
    "ReplayMode",
    "Scenario",
    "ScenarioError",
    "SchedulerSpec",
    "TimelineEvent",
    "commitment_toml",
    "load_scenario",
    "parse_scenario",
]

PROFILES = ("idle", "inference", "training", "tp-inference", "burn-in", "batch-generation", "off")
SCOPES = ("facility", "hall", "rack", "pdu", "nodes")
BOARD_POWER_W = 700.0  # the simulated accelerator's board power limit (H100 SXM)
STATUSES = ("COMPLIANT", "VIOLATION", "INCONCLUSIVE")
DEFAULT_MODEL = "NVIDIA H100 80GB HBM3"
MAX_NODES_PER_FACILITY = 256
MAX_DEVICES_PER_NODE = 64
MAX_PERIODS = 100_000  # per subject; keeps a typo ("600h" at "1s") from running for hours
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FINDING_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_FEED = re.compile(r"^[A-Za-z0-9]{1,8}$")


class ScenarioError(InputError):
    """A scenario file that cannot be run; the message names file, line and key."""

    def __init__(self, file: str, line: int | None, key: str, problem: str) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {problem}")

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[str, int | None, str, str]]:
        # rebuilt from its parts, not its message: a process pool sends it back to the parent
        return ScenarioError, (self.file, self.line, self.key, self.problem)


class Action(Enum):
    """What a timeline entry makes a node, meter or the verifier do."""

    PROFILE = "profile"        # nodes run this workload and report it truthfully
    LIE = "lie"                # nodes run `profile` but sign reports claiming `reports`
    SILENT = "silent"          # no reports for [from, to); the daemon comes back with a new boot
    RESTART = "restart"        # the daemon restarts at `at`: new boot id, chain continues
    REPLAY = "replay"          # old or pre-generated reports instead of real ones, [from, to)
    FORK = "fork"              # two different reports with the same seq at `at`
    ROLLBACK = "rollback"      # state restored `reports` links back at `at`; seqs are reused
    FAULT = "fault"            # ordinary hardware fault on `devices` accelerators, [from, to)
    VERIFIER_OUTAGE = "verifier_outage"  # the verifier is down [from, to); attestors spool
    SHIFT = "shift"            # reports of [from, to) claim period times moved by `by`
    IMPERSONATE = "impersonate"  # the target is silent; node `by` signs reports in its name
    REPLACE = "replace"        # the first `devices` cards of the nodes are swapped at `at`
    INVENTORY = "inventory"    # the lab signs and submits a new inventory version at `at`
    OVERHEAD = "overhead"      # the facility's true overhead / base load steps (`at`) or ramps


class ReplayMode(Enum):
    DUPLICATE = "duplicate"        # byte-identical copies of earlier envelopes
    PREGENERATED = "pregenerated"  # "idle" reports signed in advance, against an old challenge


class FaultKind(Enum):
    GPU_LOST = "gpu_lost"          # accelerators fall off the bus (Xid 79): absent from reports
    NVML_ERRORS = "nvml_errors"    # the telemetry source fails samples; anomalies are reported


@dataclass(frozen=True)
class NodeSpec:
    """One node that exists. ``declared`` is False for hidden nodes (not in the inventory).

    ``devices`` accelerators are in the inventory (for a hidden node: all it has); beyond them,
    ``undeclared_devices`` more sit in the node, drawing power, in no inventory; the attestor
    lists them in its reports only when ``reports_undeclared``.
    """

    name: str        # short name used by selectors: "n03", "h00", or the explicit id
    node_id: str     # id on the wire
    devices: int
    model: str
    declared: bool
    undeclared_devices: int = 0
    reports_undeclared: bool = True

    @property
    def total_devices(self) -> int:
        return self.devices + self.undeclared_devices

    @property
    def reported_devices(self) -> int:
        return self.devices + (self.undeclared_devices if self.reports_undeclared else 0)


@dataclass(frozen=True)
class MeterSpec:
    """A meter. ``nodes`` (node names, hidden ones included) is what it physically measures;
    empty for the facility scope (every node, plus the facility's base load)."""

    name: str        # "m0"
    meter_id: str
    scope: str = "facility"
    nodes: tuple[str, ...] = ()
    feed: str = ""                  # "" = the whole scope (redundant with the others of it)
    share: float = 1.0              # true share of the scope's power on this feed
    accuracy: float | None = None   # declared in the inventory; None: the inventory's default
    error: float = 0.0              # true systematic error: reads × (1 + error)
    noise: float = 0.0              # true random error per sample: relative σ
    kind: str = ""                  # what it is ("utility", "inspector", "pdu"): shown in its readings
    band: tuple[float, float] | None = None  # this scope's own declared overhead band
    energy_counter: bool = True     # it keeps an energy register its attestor reads (in-process)


@dataclass(frozen=True)
class JobSpec:
    """One allocation the facility's scheduler accounts: ``gpus`` on each of ``nodes`` (node
    names, hidden ones allowed), [start, end) as offsets. What the scheduler *says*; what the
    hardware runs is the timeline's business."""

    job_id: str
    nodes: tuple[str, ...]
    gpus: int                       # per node
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class SchedulerSpec:
    """A job-accounting attestor beside the facility's scheduler, declared in its inventory."""

    name: str
    scheduler_id: str
    jobs: tuple[JobSpec, ...] = ()


@dataclass(frozen=True)
class FacilitySpec:
    id: str
    lab: str
    nodes: tuple[NodeSpec, ...]     # declared nodes first, then hidden ones
    meters: tuple[MeterSpec, ...]
    profile: str                    # what every node runs when the timeline says nothing
    overhead: tuple[float, float]   # declared band: metered energy / Σ node energy
    true_overhead: float            # the ratio the meter really sees
    base_load_w: float = 0.0        # true facility load outside every node (facility-scope meters)
    scheduler: SchedulerSpec | None = None  # a declared job-accounting attestor
    fixed_load_w: float = 0.0       # declared fixed load of the intake, signed in the inventory

    @property
    def declared_nodes(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if n.declared)

    @property
    def hidden_nodes(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if not n.declared)

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


@dataclass(frozen=True)
class DeviceSet:
    """Which accelerators of a node an entry is about: the first ``first`` (declared ones
    come first), or every ``"declared"`` / ``"undeclared"`` one; all of them by default."""

    first: int = 0
    which: str = "all"              # "all" | "first" | "declared" | "undeclared"

    def indices(self, node: NodeSpec) -> range:
        if self.which == "first":
            return range(min(self.first, node.total_devices))
        if self.which == "declared":
            return range(node.devices)
        if self.which == "undeclared":
            return range(node.devices, node.total_devices)
        return range(node.total_devices)

    def describe(self) -> str:
        return {"first": f"the first {self.first}", "all": "all"}.get(self.which, self.which)


@dataclass(frozen=True)
class DeclaredChange:
    """What a ``do = "inventory"`` entry makes its version, and every later one until another
    entry changes it, declare; None keeps what the previous version declared. Only the
    declaration: the true loads are ``overhead`` entries' business (a lab may declare a lie)."""

    fixed_load_w: float | None = None   # [overhead] fixed_load_w
    min_ratio: float | None = None      # [overhead] min_ratio
    max_ratio: float | None = None      # [overhead] max_ratio
    accuracy: float | None = None       # every meter's accuracy
    dropped: tuple[str, ...] = ()       # declared nodes (names) no version from this one declares

    def __bool__(self) -> bool:
        return bool(self.dropped) or any(
            v is not None for v in (self.fixed_load_w, self.min_ratio, self.max_ratio, self.accuracy)
        )


@dataclass(frozen=True)
class Declared:
    """What an inventory version of a facility declares of its overhead and meter accuracy."""

    overhead: tuple[float, float]   # [overhead] min_ratio, max_ratio
    fixed_load_w: float             # [overhead] fixed_load_w
    accuracy: float | None = None   # every meter's accuracy; None: each meter's own (MeterSpec.accuracy)
    dropped: frozenset[str] = frozenset()  # declared nodes (names) this version no longer declares

    def changed(self, change: DeclaredChange) -> Declared:
        """This declaration with an ``inventory`` entry's changes made."""
        lo, hi = self.overhead
        return Declared(
            overhead=(lo if change.min_ratio is None else change.min_ratio,
                      hi if change.max_ratio is None else change.max_ratio),
            fixed_load_w=self.fixed_load_w if change.fixed_load_w is None else change.fixed_load_w,
            accuracy=self.accuracy if change.accuracy is None else change.accuracy,
            dropped=self.dropped | set(change.dropped),
        )


@dataclass(frozen=True)
class TimelineEvent:
    """One timeline entry, resolved: targets are (facility id, subject name) pairs."""

    action: Action
    targets: tuple[tuple[str, str], ...]
    start_ns: int                   # offset from the scenario start
    end_ns: int                     # exclusive; == start + period for point events
    profile: str | None = None      # PROFILE, LIE (the truth)
    reports: str | None = None      # LIE (the claim)
    replay_mode: ReplayMode | None = None
    fault: FaultKind | None = None
    devices: int = 0
    rollback_reports: int = 0
    line: int | None = None
    every_ns: int = 0               # with `on_ns`: only [from + k·every, from + k·every + on)
    on_ns: int = 0
    device_set: DeviceSet = DeviceSet()   # PROFILE, LIE: which accelerators
    power_limit_w: float | None = None    # PROFILE, LIE: an operator power cap on the truth
    factor: float = 1.0             # LIE on meters: reads × factor
    shift_ns: int = 0               # SHIFT: period times moved by this (negative: back-dated)
    by: str = ""                    # IMPERSONATE: name of the node whose attestor and key sign
    ratio: float | None = None      # OVERHEAD: the true overhead reached
    base_load_w: float | None = None  # OVERHEAD: the base load reached
    declares: DeclaredChange = DeclaredChange()  # INVENTORY: what the new version declares anew

    def windows(self) -> list[tuple[int, int]]:
        """The stretches [start, end) (offsets) during which the entry applies."""
        if not self.every_ns:
            return [(self.start_ns, self.end_ns)]
        out = []
        t = self.start_ns
        while t < self.end_ns:
            out.append((t, min(t + self.on_ns, self.end_ns)))
            t += self.every_ns
        return out


def _windows_meet(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """The first stretch where two sorted window lists overlap, or None."""
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            return lo, hi
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return None


@dataclass(frozen=True)
class Expectation:
    """What the verdicts for ``facility`` must say for every bucket starting in [start, end).

    ``facility`` empty means the commitment-level verdict (all facilities together).
    """

    facility: str
    start_ns: int
    end_ns: int
    statuses: tuple[str, ...]       # any of these
    findings: tuple[str, ...]       # each must be present in every bucket of the range
    absent: tuple[str, ...]         # none may be present in any bucket of the range
    any_findings: tuple[str, ...]   # present in at least one bucket of the range
    line: int | None = None


@dataclass(frozen=True)
class Scenario:
    path: str
    name: str
    story: str
    start_unix_ns: int
    duration_ns: int
    period_ns: int
    seed: int
    speedup: float                  # simulated seconds per real second, for --processes
    sample_interval_ns: int         # how often attestors sample their telemetry
    facilities: tuple[FacilitySpec, ...]
    commitment: types_pb2.Commitment  # validated by pausewatch.commitment; signed by the runner
    timeline: tuple[TimelineEvent, ...]
    expectations: tuple[Expectation, ...]
    bucket_ns: int
    extra: Mapping[str, Any] = field(default_factory=dict)
    # (line, key, what) of every use of a feature that `--processes` does not stage
    in_process_only: tuple[tuple[int | None, str, str], ...] = ()

    @property
    def end_unix_ns(self) -> int:
        return self.start_unix_ns + self.duration_ns

    @property
    def periods(self) -> int:
        return self.duration_ns // self.period_ns

    def facility(self, facility_id: str) -> FacilitySpec:
        for f in self.facilities:
            if f.id == facility_id:
                return f
        raise KeyError(facility_id)

    def declared(self, facility_id: str, offset_ns: int) -> Declared:
        """What an inventory version of the facility issued at ``offset_ns`` declares: the
        facility's own declaration with the changes of its ``inventory`` entries at or before
        then, in time order."""
        fac = self.facility(facility_id)
        out = Declared(fac.overhead, fac.fixed_load_w)
        for ev in sorted(self.timeline, key=lambda e: e.start_ns):
            if ev.action is Action.INVENTORY and ev.targets[0][0] == facility_id and ev.start_ns <= offset_ns:
                out = out.changed(ev.declares)
        return out


# ---------------------------------------------------------------------------------------------
# Parsing


_ID_WHAT = "a valid id (letters, digits, '.', '_', '-'; at most 64)"
_FINDING_WHAT = 'a finding id such as "continuity.gap"'


class _ScenarioDoc(Document):
    """A scenario file being read: a TOML document, and what ``--processes`` cannot stage."""

    def __init__(self, parsed: Document) -> None:
        super().__init__(parsed.data, parsed.file, lines=parsed.lines, error=ScenarioError)
        self.in_process_only: list[tuple[int | None, str, str]] = []

    def only_in_process(self, path: Path, what: str) -> None:
        """Record a feature that ``--processes`` does not stage (it refuses the scenario)."""
        self.in_process_only.append((self.line_of(path), format_path(path), what))


def _doc(t: Table) -> _ScenarioDoc:
    if not isinstance(t.doc, _ScenarioDoc):
        raise InternalError("a scenario table outside a scenario; a bug")
    return t.doc


def load_scenario(path: FsPath | str) -> Scenario:
    """Read and validate a scenario file."""
    p = FsPath(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(p), None, "(file)", "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(str(p), None, "(file)", f"cannot read: {e}") from None
    return parse_scenario(text, str(p))


def parse_scenario(text: str, file: str = "<scenario>") -> Scenario:
    """Validate scenario TOML text; ``file`` is only used in error messages."""
    ctx = _ScenarioDoc(Document.parse(text, file, error=ScenarioError))
    root = ctx.root

    head = root.table("scenario")
    name = head.string("name", pattern=_ID, what=_ID_WHAT)
    story = head.string("story")
    start = head.instant("start")
    duration = head.duration("duration")
    period = head.duration("period", 60 * 1_000_000_000)
    seed = head.integer("seed", 0, minimum=0)
    speedup = head.number("speedup", 360.0, minimum=1.0)
    sample_interval = head.duration("sample_interval", NS_PER_S)
    head.done()
    if not 0 < sample_interval <= period or period % sample_interval:
        raise head.fail("sample_interval", f"{format_duration(sample_interval)} must be positive and divide "
                        f"the report period ({format_duration(period)})")
    if period <= 0:
        raise head.fail("period", "must be positive")
    if duration <= 0:
        raise head.fail("duration", "must be positive")
    if duration % period:
        raise head.fail("duration", f"{format_duration(duration)} is not a whole number of "
                        f"report periods ({format_duration(period)})")
    if duration // period > MAX_PERIODS:
        raise head.fail("duration", f"{duration // period} periods; the limit is {MAX_PERIODS}")

    facilities = tuple(_facility(t) for t in root.tables("facility", required=True))
    ids = [f.id for f in facilities]
    for i, fid in enumerate(ids):
        if fid in ids[:i]:
            raise ctx.error(("facility", i, "id"), f"facility {fid!r} is defined twice")

    root.table("commitment").accept_all()  # checked by pausewatch.commitment
    commitment = _commitment(ctx, text)
    for i, fid in enumerate(commitment.facility_ids):
        if fid not in ids:
            raise ctx.error(("commitment", "facilities"),
                            f"facility {fid!r} (entry {i}) is not in this scenario's fleet")
    for fid in ids:
        if fid not in commitment.facility_ids and not commitment.all_facilities_of_lab:
            raise ctx.error(("commitment", "facilities"), f"facility {fid!r} of the fleet is not covered")
    _check_declarations(ctx, facilities, commitment)
    if not commitment.window_start_unix_ns <= start or start + duration > commitment.window_end_unix_ns:
        raise ctx.error(("commitment", "window"), "the scenario must lie inside the commitment's window")
    bucket = commitment.reporting.bucket_ns
    if bucket % period or (start - commitment.window_start_unix_ns) % bucket:
        raise ctx.error(
            ("commitment", "reporting", "bucket_s"),
            f"buckets ({format_duration(bucket)}) must be whole report periods "
            f"({format_duration(period)}) and the scenario must start on a bucket boundary",
        )

    timeline = tuple(
        _event(t, facilities, period, duration, sample_interval)
        for t in root.tables("timeline")
    )
    _check_overlaps(ctx, timeline, facilities)
    _check_declared_changes(ctx, timeline, facilities, commitment)
    _check_jobs(ctx, facilities, period, duration)
    _check_story(ctx, timeline, facilities, period)
    expectations = tuple(
        _expectation(t, facilities, bucket, duration) for t in root.tables("expect", required=True)
    )
    root.done()
    return Scenario(
        path=file, name=name, story=story.strip(), start_unix_ns=start, duration_ns=duration,
        period_ns=period, seed=seed, speedup=speedup, sample_interval_ns=sample_interval,
        facilities=facilities,
        commitment=commitment, timeline=timeline,
        expectations=expectations, bucket_ns=bucket, in_process_only=tuple(ctx.in_process_only),
    )


_COMMITMENT_ERROR = re.compile(r"^(?P<file>.*?):(?P<line>\d+): (?P<key>[^:]+): (?P<problem>.*)$", re.S)


def commitment_toml(text: str) -> str:
    """The ``[commitment]`` table of scenario text as a standalone commitment authoring file
    (``pausewatch-verifier commitment sign --in``): sub-tables renamed (``[commitment.rules]`` →
    ``[rules]``), every other line blanked, so that line numbers stay those of the scenario."""
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        m = re.match(r"^\s*(\[\[?)\s*([^\]]+?)\s*(\]\]?)\s*(#.*)?$", line)
        if m:
            name = m.group(2)
            inside = name == "commitment" or name.startswith("commitment.")
            if inside:
                sub = name[len("commitment."):] if name != "commitment" else ""
                out.append(f"{m.group(1)}{sub}{m.group(3)}" if sub else "")
                continue
        out.append(line if inside else "")
    return "\n".join(out) + "\n"


def _commitment(ctx: _ScenarioDoc, text: str) -> types_pb2.Commitment:
    """Hand the ``[commitment]`` table to the commitment format's own parser.

    The table is cut out of the source with its sub-tables renamed (``[commitment.rules]`` →
    ``[rules]``) and every other line blanked, so line numbers in its errors stay true.
    """
    try:
        return commitment_from_toml(commitment_toml(text), ctx.file)
    except FormatError as e:
        m = _COMMITMENT_ERROR.match(str(e))
        if m and m.group("file") == ctx.file:
            raise ScenarioError(ctx.file, int(m.group("line")), f"commitment.{m.group('key')}",
                                m.group("problem")) from None
        message = str(e).removeprefix(f"{ctx.file}: ")
        key, sep, problem = message.partition(": ")
        if not sep:
            key, problem = "", message
        # Wire-level checks name wire fields (``reporting.bucket_ns``); the file says ``bucket_s``.
        parts = tuple(key.replace("_ns", "_s").split(".")) if key else ()
        lineno = ctx.line_of(("commitment", *parts))
        raise ScenarioError(ctx.file, lineno, ".".join(("commitment", *parts)), problem) from None


def _check_declarations(
    ctx: _ScenarioDoc, facilities: Sequence[FacilitySpec], commitment: types_pb2.Commitment
) -> None:
    """What each facility's inventory will declare lies within the commitment's tolerances (a
    wider band, a larger fixed load, a looser meter than it allows is refused at submission):
    said here, at its line, rather than by the verifier mid-run."""
    try:
        bounds = Commitment.from_wire(commitment).tolerances
    except PausewatchError as e:
        raise ctx.error(("commitment",), str(e)) from None
    of = "of the commitment (commitment.tolerances)"
    for i, f in enumerate(facilities):
        declared: list[tuple[Path, tuple[float, float] | None, float, float | None]] = [
            (("facility", i), f.overhead, f.fixed_load_w, None)
        ]
        declared += [(("facility", i, "meter", j), m.band, 0.0, m.accuracy) for j, m in enumerate(f.meters)]
        for where, band, fixed, accuracy in declared:
            if band is not None and (crossed := bounds.band_problem(band)) is not None:
                raise ctx.error((*where, "overhead"), f"{crossed[1]} {of}")
            if (why_fixed := bounds.fixed_load_problem(fixed)) is not None:
                raise ctx.error((*where, "fixed_load_w"), f"{why_fixed} {of}")
            if accuracy is not None and (why_loose := bounds.accuracy_problem(accuracy)) is not None:
                raise ctx.error((*where, "accuracy"), f"{why_loose} {of}")


def _check_declared_changes(
    ctx: _ScenarioDoc, timeline: Sequence[TimelineEvent], facilities: Sequence[FacilitySpec],
    commitment: types_pb2.Commitment,
) -> None:
    """What each ``inventory`` entry makes its version declare, with what earlier versions
    declared: a band (min ≤ max) within the commitment's tolerances, like ``_check_declarations``
    asks of the facility's own; refused at the entry's key rather than by the verifier mid-run."""
    bounds = Commitment.from_wire(commitment).tolerances  # _check_declarations read it already
    of = "of the commitment (commitment.tolerances)"
    for fac in facilities:
        declared = Declared(fac.overhead, fac.fixed_load_w)
        entries = sorted((i for i, ev in enumerate(timeline)
                          if ev.action is Action.INVENTORY and ev.targets[0][0] == fac.id),
                         key=lambda i: timeline[i].start_ns)
        for i in entries:
            change = timeline[i].declares
            if not change:
                continue
            declared = declared.changed(change)
            lo, hi = declared.overhead
            if lo > hi:
                if change.max_ratio is None:
                    raise ctx.error(("timeline", i, "min_ratio"), f"{lo} is above the max_ratio in force "
                                    f"({hi}): a band needs 1.0 ≤ min ≤ max ≤ 3.0")
                raise ctx.error(("timeline", i, "max_ratio"), f"{hi} is below the min_ratio in force "
                                f"({lo}): a band needs 1.0 ≤ min ≤ max ≤ 3.0")
            if (change.min_ratio is not None or change.max_ratio is not None) \
                    and (crossed := bounds.band_problem(declared.overhead)) is not None:
                raise ctx.error(("timeline", i, crossed[0]), f"{crossed[1]} {of}")  # the half it gave
            if change.fixed_load_w is not None \
                    and (why_fixed := bounds.fixed_load_problem(change.fixed_load_w)) is not None:
                raise ctx.error(("timeline", i, "fixed_load_w"), f"{why_fixed} {of}")
            if change.accuracy is not None \
                    and (why_loose := bounds.accuracy_problem(change.accuracy)) is not None:
                raise ctx.error(("timeline", i, "accuracy"), f"{why_loose} {of}")


def _facility(t: Table) -> FacilitySpec:
    fid = t.string("id", pattern=_ID, what=_ID_WHAT)
    lab = t.string("lab", pattern=_ID, what=_ID_WHAT)
    model = t.string("model", DEFAULT_MODEL)
    devices = t.integer("devices_per_node", 8, minimum=1, maximum=MAX_DEVICES_PER_NODE)
    raw_nodes = t.raw("nodes")
    t.used.add("nodes")
    nodes: list[NodeSpec] = []
    if isinstance(raw_nodes, bool) or raw_nodes is None:
        raise t.fail("nodes", "missing (required: a count or a list of node ids)")
    if isinstance(raw_nodes, int):
        if not 1 <= raw_nodes <= MAX_NODES_PER_FACILITY:
            raise t.fail("nodes", f"{raw_nodes} is out of range [1, {MAX_NODES_PER_FACILITY}]")
        nodes = [NodeSpec(f"n{i:02d}", f"{fid}-n{i:02d}", devices, model, True) for i in range(raw_nodes)]
    elif isinstance(raw_nodes, list) and raw_nodes and all(isinstance(x, str) for x in raw_nodes):
        for x in raw_nodes:
            if not _ID.match(x):
                raise t.fail("nodes", f"{x!r} is not a valid node id")
        if len(set(raw_nodes)) != len(raw_nodes):
            raise t.fail("nodes", "a node id is listed twice")
        nodes = [NodeSpec(x, x, devices, model, True) for x in raw_nodes]
    else:
        raise t.fail("nodes", "expected a node count or a non-empty list of node ids")
    hidden = t.integer("hidden_nodes", 0, maximum=MAX_NODES_PER_FACILITY, minimum=0)
    nodes += [NodeSpec(f"h{i:02d}", f"{fid}-h{i:02d}", devices, model, False) for i in range(hidden)]
    described: set[str] = set()
    for nt in t.tables("node"):
        nodes = _node_override(nt, nodes, described)
    meter_tables = t.tables("meter")
    if meter_tables and "meters" in t.data:
        raise t.fail("meters", "give either `meters = N` (N redundant facility meters) "
                     "or [[facility.meter]] tables")
    meter_count = t.integer("meters", 1, maximum=16, minimum=0)
    meters = [MeterSpec(f"m{i}", f"{fid}-m{i}") for i in range(meter_count)]
    if meter_tables:
        meters = [_meter(mt, fid, i, nodes) for i, mt in enumerate(meter_tables)]
        _check_meters(t, meter_tables, meters, nodes)
    profile = t.string("profile", "idle", choices=PROFILES)
    if profile == "off":
        raise t.fail("profile", "a node that is always off cannot report; use `off` in the timeline")
    overhead = _band(t) if "overhead" in t.data else (1.1, 1.4)
    t.used.add("overhead")
    true_overhead = t.number("true_overhead", (overhead[0] + overhead[1]) / 2, minimum=1.0)
    base_load = t.number("base_load_w", 0.0, minimum=0.0)
    if base_load:
        _doc(t).only_in_process((*t.path, "base_load_w"), "a facility base load")
    fixed_load = t.number("fixed_load_w", 0.0, minimum=0.0, maximum=MAX_FIXED_LOAD_W)
    sched = t.table("scheduler", None)
    scheduler = _scheduler(sched, fid, nodes) if sched is not None else None
    t.done()
    return FacilitySpec(
        id=fid, lab=lab, nodes=tuple(nodes), meters=tuple(meters),
        profile=profile, overhead=overhead, true_overhead=true_overhead, base_load_w=base_load,
        scheduler=scheduler, fixed_load_w=fixed_load,
    )


def _scheduler(t: Table, fid: str, nodes: Sequence[NodeSpec]) -> SchedulerSpec:
    """``[facility.scheduler]``: a declared accounting attestor and the jobs its scheduler lists
    (``[[facility.scheduler.job]]``); times are checked against the story in ``_check_jobs``."""
    name = t.string("name", "slurm", pattern=_ID, what=_ID_WHAT)
    jobs: list[JobSpec] = []
    for i, jt in enumerate(t.tables("job")):
        job_id = jt.string("id", str(i + 1), pattern=_ID, what=_ID_WHAT)
        names = _node_names(jt, "nodes", nodes)
        if not names:
            raise jt.fail("nodes", "missing (required: the nodes the job holds GPUs on)")
        fewest = min(n.total_devices for n in nodes if n.name in names)
        gpus = jt.integer("gpus", fewest, minimum=0, maximum=MAX_DEVICES_PER_NODE)
        start = jt.duration("from")
        end = jt.duration("to")
        if end <= start:
            raise jt.fail("to", f"{format_duration(end)} is not after from = {format_duration(start)}")
        if job_id in {j.job_id for j in jobs}:
            raise jt.fail("id", f"job {job_id!r} is listed twice")
        jt.done()
        jobs.append(JobSpec(job_id, names, gpus, start, end))
    t.done()
    _doc(t).only_in_process(t.path, "a [facility.scheduler] (job accounting)")
    return SchedulerSpec(name, f"{fid}-{name}", tuple(jobs))


def _off_grid(value: int, period: int, duration: int) -> str | None:
    """Why an offset is no time of the story (past its end, off the report-period grid), or None."""
    if value > duration:
        return f"{format_duration(value)} is past the scenario's end ({format_duration(duration)})"
    if value % period:
        return f"{format_duration(value)} is not on a report-period boundary ({format_duration(period)})"
    return None


def _check_jobs(ctx: _ScenarioDoc, facilities: Sequence[FacilitySpec], period: int, duration: int) -> None:
    """Every job's times on report-period boundaries inside the story."""
    for fi, fac in enumerate(facilities):
        for ji, job in enumerate(fac.scheduler.jobs if fac.scheduler is not None else ()):
            for key, value in (("from", job.start_ns), ("to", job.end_ns)):
                problem = _off_grid(value, period, duration)
                if problem:
                    raise ctx.error(("facility", fi, "scheduler", "job", ji, key), problem)


def _node_override(t: Table, nodes: list[NodeSpec], described: set[str]) -> list[NodeSpec]:
    """A ``[[facility.node]]`` table: what one node has beyond the facility's defaults."""
    name = t.string("name")
    match = [i for i, n in enumerate(nodes) if n.name == name]
    if not match:
        have = ", ".join(n.name for n in nodes)
        raise t.fail("name", f"{name!r} is not a node of this facility (have: {have})")
    if name in described:
        raise t.fail("name", f"node {name!r} is described twice")
    described.add(name)
    i = match[0]
    node = nodes[i]
    devices = t.integer("devices", node.devices, minimum=1, maximum=MAX_DEVICES_PER_NODE)
    undeclared = t.integer("undeclared_devices", 0, maximum=MAX_DEVICES_PER_NODE, minimum=0)
    reports = t.boolean("reports_undeclared", True)
    if devices + undeclared > MAX_DEVICES_PER_NODE:
        raise t.fail("undeclared_devices", f"a node holds at most {MAX_DEVICES_PER_NODE} accelerators")
    if undeclared and not node.declared:
        raise t.fail("undeclared_devices", "every accelerator of a hidden node is undeclared: use `devices`")
    if "reports_undeclared" in t.data and not undeclared:
        raise t.fail("reports_undeclared", "the node has no undeclared_devices")
    t.done()
    _doc(t).only_in_process(t.path, "a [[facility.node]] table")
    out = list(nodes)
    out[i] = NodeSpec(node.name, node.node_id, devices, node.model, node.declared, undeclared, reports)
    return out


def _node_names(t: Table, key: str, nodes: Sequence[NodeSpec]) -> tuple[str, ...]:
    """Node selectors inside a facility: ``"n00"``, ``"n00..n03"``, ``"hidden"``, ``"h00"``."""
    selectors = t.strings(key, single=True)
    order = [n.name for n in nodes if n.declared]
    out: list[str] = []
    for sel in selectors:
        if sel == "hidden":
            names = [n.name for n in nodes if not n.declared]
        elif ".." in sel:
            first, _, last = sel.partition("..")
            if first not in order or last not in order or order.index(first) > order.index(last):
                raise t.fail(key, f"{sel!r}: not a range of declared nodes")
            names = order[order.index(first): order.index(last) + 1]
        elif any(n.name == sel for n in nodes):
            names = [sel]
        else:
            raise t.fail(key, f"{sel!r}: no such node (have: {', '.join(n.name for n in nodes)})")
        for name in names:
            if name in out:
                raise t.fail(key, f"{sel!r}: node {name} is listed twice")
            out.append(name)
    return tuple(out)


def _meter(t: Table, fid: str, index: int, nodes: Sequence[NodeSpec]) -> MeterSpec:
    """A ``[[facility.meter]]`` table: one meter, its scope, feed and how well it reads."""
    name = t.string("name", f"m{index}", pattern=_ID, what=_ID_WHAT)
    scope = t.string("scope", "facility", choices=SCOPES)
    names: tuple[str, ...] = ()
    if scope == "facility":
        if "nodes" in t.data:
            raise t.fail("nodes", "a facility-scope meter measures every node; "
                         "`nodes` is for the other scopes")
    else:
        if "nodes" not in t.data:
            raise t.fail("nodes", f"missing (a {scope}-scope meter lists the nodes behind it, "
                         "e.g. [\"n00..n03\"])")
        names = _node_names(t, "nodes", nodes)
        if not any(n.declared for n in nodes if n.name in names):
            raise t.fail("nodes", "the inventory names a meter's scope by declared nodes: list at least one")
    feed = t.string("feed", "")
    if feed and not _FEED.match(feed):
        raise t.fail("feed", f"{feed!r}: a feed is a short label of letters and digits, e.g. \"A\"")
    share = t.number("share", 0.0, minimum=0.0, maximum=1.0) if "share" in t.data else 0.0
    if "share" in t.data and not feed:
        raise t.fail("share", "only a feed meter carries a share of its scope (set `feed`)")
    if "share" in t.data and share <= 0.0:
        raise t.fail("share", "a feed carries a positive share of its scope's power")
    accuracy = t.number("accuracy", 0.0, maximum=0.5, minimum=0.0) if "accuracy" in t.data else None
    if accuracy is not None and accuracy <= 0.0:
        raise t.fail("accuracy", "must be positive (a fraction, e.g. 0.01)")
    error = _signed_fraction(t, "error")
    noise = t.number("noise", 0.0, maximum=0.5, minimum=0.0)
    kind = t.string("kind", "")
    if kind and (len(kind) > 64 or not kind.isprintable()):
        raise t.fail("kind", "a short printable label such as \"utility\" or \"inspector\"")
    band = _band(t) if "overhead" in t.data else None
    counter = t.boolean("energy_counter", True)
    t.done()
    return MeterSpec(name=name, meter_id=f"{fid}-{name}", scope=scope, nodes=names, feed=feed, share=share,
                     accuracy=accuracy, error=error, noise=noise, kind=kind, band=band,
                     energy_counter=counter)


def _band(t: Table) -> tuple[float, float]:
    """A declared overhead band ``[min_ratio, max_ratio]``."""
    raw = t.raw("overhead")
    t.used.add("overhead")
    if (
        isinstance(raw, list) and len(raw) == 2
        and all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw)
    ):
        band = (float(raw[0]), float(raw[1]))
        if not 1.0 <= band[0] <= band[1] <= 3.0:
            raise t.fail("overhead", "needs 1.0 ≤ min ≤ max ≤ 3.0")
        return band
    raise t.fail("overhead", "expected [min_ratio, max_ratio], e.g. [1.1, 1.4]")


def _signed_fraction(t: Table, key: str) -> float:
    v = t.number(key, 0.0)
    if not -0.5 <= v <= 0.5:
        raise t.fail(key, f"{v} must be within -0.5 … 0.5 (a fraction: 0.004 reads 0.4 % high)")
    return float(v)


def _check_meters(
    t: Table, tables: Sequence[Table], meters: list[MeterSpec], nodes: Sequence[NodeSpec]
) -> None:
    """Names unique; declared scopes nest (equal, disjoint or contained); the feeds of one scope
    share its power (unset shares split what the set ones leave evenly; they sum to 1)."""
    every = frozenset(n.name for n in nodes if n.declared)
    declared = {n.name for n in nodes if n.declared}

    def scope_of(m: MeterSpec) -> frozenset[str]:
        return every if m.scope == "facility" else frozenset(x for x in m.nodes if x in declared)

    for i, m in enumerate(meters):
        if any(o.name == m.name for o in meters[:i]):
            raise tables[i].fail("name", f"meter {m.name!r} is defined twice")
        if any(n.name == m.name for n in nodes):
            raise tables[i].fail("name", f"{m.name!r} is already a node's name")
        a = scope_of(m)
        for o in meters[:i]:
            b = scope_of(o)
            if not (a == b or not a & b or a < b or b < a):
                raise tables[i].fail("nodes", f"scope overlaps meter {o.name!r}'s without nesting "
                                     "(scopes must be equal, disjoint or contained)")
    groups: dict[frozenset[str], list[int]] = {}
    for i, m in enumerate(meters):
        if m.feed:
            groups.setdefault(scope_of(m), []).append(i)
    for members in groups.values():
        feeds = [meters[i].feed for i in members]
        for k, i in enumerate(members):
            if feeds[k] in feeds[:k]:
                raise tables[i].fail("feed", f"feed {feeds[k]!r} of this scope is declared twice")
        given = math.fsum(meters[i].share for i in members)
        unset = [i for i in members if meters[i].share == 0.0]
        if given > 1.0 + 1e-9 or (not unset and abs(given - 1.0) > 1e-6):
            raise tables[members[-1]].fail("share", f"the feeds of one scope carry all of its power: "
                                           f"shares sum to {given:g}, not 1")
        for i in unset:
            meters[i] = replace(meters[i], share=(1.0 - given) / len(unset))
    for i, m in enumerate(meters):
        if (m.scope, m.feed, m.accuracy, m.error, m.noise, m.kind, m.band) != \
                ("facility", "", None, 0.0, 0.0, "", None) \
                or m.name != f"m{i}":
            _doc(t).only_in_process(tables[i].path, "a [[facility.meter]] with a scope, feed or error")


_POINT_ACTIONS = {Action.RESTART, Action.FORK, Action.ROLLBACK, Action.REPLACE, Action.INVENTORY}
_FACILITY_ACTIONS = {Action.INVENTORY, Action.OVERHEAD}   # target: a facility id
_DUTY = {"every", "on"}
_ACTION_KEYS: dict[Action, set[str]] = {
    Action.PROFILE: {"profile", "devices", "power_limit_w"} | _DUTY,
    Action.LIE: {"profile", "reports", "devices", "power_limit_w", "factor"} | _DUTY,
    Action.SILENT: set(_DUTY),
    Action.RESTART: set(),
    Action.REPLAY: {"mode"},
    Action.FORK: set(),
    Action.ROLLBACK: {"reports"},
    Action.FAULT: {"kind", "devices"} | _DUTY,
    Action.VERIFIER_OUTAGE: set(),
    Action.SHIFT: {"by"},
    Action.IMPERSONATE: {"by", "reports"},
    Action.REPLACE: {"devices"},
    Action.INVENTORY: {"fixed_load_w", "min_ratio", "max_ratio", "accuracy", "drop"},
    Action.OVERHEAD: {"ratio", "base_load_w"},
}
_NEW_ACTIONS = {Action.SHIFT, Action.IMPERSONATE, Action.REPLACE, Action.INVENTORY, Action.OVERHEAD}


def _event(  # one entry's checks, key by key, in file order
    t: Table, facilities: Sequence[FacilitySpec], period: int, duration: int, sample: int
) -> TimelineEvent:
    do = t.string("do", choices=[a.value for a in Action])
    action = Action(do)
    allowed = {"do", "target", "from", "to", "at"} | _ACTION_KEYS[action]
    for k in t.data:
        if k not in allowed:
            problem = unknown_key(k, allowed).replace("unknown key", f"unknown key for do = \"{do}\"", 1)
            raise t.fail(k, problem)
    if action is Action.OVERHEAD and "at" in t.data:
        if "from" in t.data or "to" in t.data:
            raise t.fail("from" if "from" in t.data else "to", "an overhead change is a step (`at`) or a "
                         "ramp (`from`/`to`), not both")
        start = t.duration("at")
        end = start
        key_for_time = "at"
    elif action in _POINT_ACTIONS:
        if "from" in t.data or "to" in t.data:
            raise t.fail("from" if "from" in t.data else "to", f"do = \"{do}\" happens `at` one time")
        start = t.duration("at")
        end = start + period
        key_for_time = "at"
    else:
        if "at" in t.data:
            raise t.fail("at", f"do = \"{do}\" lasts from `from` to `to`")
        start = t.duration("from")
        end = t.duration("to")
        key_for_time = "to"
        if end <= start:
            raise t.fail("to", f"{format_duration(end)} is not after from = {format_duration(start)}")
    for key, value in (("from" if key_for_time == "to" else "at", start), (key_for_time, end)):
        if key == "at" and action in _FACILITY_ACTIONS:
            if value >= duration:
                raise t.fail("at", f"{format_duration(value)} is not before the scenario's end "
                             f"({format_duration(duration)})")
        elif key == "at" and value - period >= duration:
            raise t.fail("at", f"{format_duration(value - period)} is past the scenario's end "
                         f"({format_duration(duration)})")
        off_grid = _off_grid(value, period, duration)
        if off_grid:
            raise t.fail(key, off_grid)

    targets: tuple[tuple[str, str], ...] = ()
    if action is Action.VERIFIER_OUTAGE:
        if "target" in t.data:
            raise t.fail("target", "a verifier outage has no target")
    elif action in _FACILITY_ACTIONS:
        fac_id = t.string("target")
        if fac_id not in {f.id for f in facilities}:
            raise t.fail("target", f"{fac_id!r}: do = \"{do}\" targets a facility by its id "
                         f"(have: {', '.join(f.id for f in facilities)})")
        targets = ((fac_id, ""),)
    else:
        targets = _targets(t, facilities, meters_ok=action in (Action.SILENT, Action.LIE, Action.SHIFT),
                           hidden_ok=action in (Action.PROFILE,))
    if action in _NEW_ACTIONS:
        _doc(t).only_in_process(t.path, f"do = \"{do}\"")
    meter_names = {(f.id, m.name) for f in facilities for m in f.meters}
    on_meters = [x in meter_names for x in targets]
    if action is Action.LIE and any(on_meters):
        if not all(on_meters):
            raise t.fail("target", "a lie targets nodes or meters, not both")
        for k in ("profile", "reports", "devices", "power_limit_w"):
            if k in t.data:
                raise t.fail(k, "a lying meter only scales what it reads: give `factor`")
        factor = t.number("factor", minimum=0.0)
        if factor == 1.0 or factor > 10.0:
            raise t.fail("factor", f"{factor} is no lie: a lying meter reads × factor, 0 ≤ factor ≤ 10, ≠ 1")
        _doc(t).only_in_process(t.path, "a lying meter")
    elif "factor" in t.data:
        raise t.fail("factor", "`factor` is for a lying meter; a node's lie is `profile` and `reports`")
    else:
        factor = 1.0
    every = on = 0
    if _DUTY & set(t.data):
        if not set(t.data) >= _DUTY:
            raise t.fail("on" if "every" in t.data else "every", "a duty cycle needs both `every` and `on`")
        every, on = t.duration("every"), t.duration("on")
        grain, grain_name = ((sample, "sample interval") if action is Action.PROFILE
                             else (period, "report period"))
        for k, v in (("every", every), ("on", on)):
            if v <= 0 or v % grain:
                raise t.fail(k, f"{format_duration(v)} is not a positive whole number of the {grain_name} "
                             f"({format_duration(grain)})")
        if on >= every:
            raise t.fail("on", f"{format_duration(on)} must be shorter than every = {format_duration(every)}")
        _doc(t).only_in_process(t.path, "a duty cycle (`every`/`on`)")
    profile = reports = None
    replay_mode = None
    fault = None
    devices = rollback = 0
    device_set = DeviceSet()
    power_limit: float | None = None
    if action in (Action.PROFILE, Action.LIE) and not any(on_meters):
        profile = t.string("profile", choices=PROFILES)
        if "devices" in t.data:
            device_set = _device_set(t, facilities, targets)
        if "power_limit_w" in t.data:
            power_limit = t.number("power_limit_w", minimum=100.0)
            if power_limit > BOARD_POWER_W:
                raise t.fail("power_limit_w", f"{power_limit:g} W is above the board's {BOARD_POWER_W:g} W")
            _doc(t).only_in_process(t.path, "a power limit")
        if profile == "off" and action is Action.LIE:
            raise t.fail("profile", "an off node cannot sign anything: make it `silent`")
    if action is Action.LIE and not any(on_meters):
        reports = t.string("reports", choices=PROFILES)
        if reports == "off":
            raise t.fail("reports", "a report cannot claim the node is off: it would not be signed")
        if reports == profile:
            raise t.fail("reports", "a lie reports something other than the truth (`profile`)")
    shift = 0
    by = ""
    if action is Action.SHIFT:
        shift = t.signed_duration("by")
        if shift == 0:
            raise t.fail("by", "a shift of 0 moves nothing")
        if abs(shift) >= duration:
            raise t.fail("by", f"{format_duration(abs(shift))} is not shorter than the story")
    if action is Action.IMPERSONATE:
        by = t.string("by")
        reports = t.string("reports", "idle", choices=PROFILES)
        if reports == "off":
            raise t.fail("reports", "a report cannot claim the node is off: it would not be signed")
        for fac_id, name in targets:
            fac = next(f for f in facilities if f.id == fac_id)
            signer = [n for n in fac.declared_nodes if n.name == by]
            if not signer:
                raise t.fail("by", f"{by!r} is not a declared node of {fac_id}: the impersonating attestor "
                             "runs on one of the facility's own nodes")
            if name == by:
                raise t.fail("by", f"{fac_id}/{by} cannot impersonate itself")
    ratio = base = None
    if action is Action.OVERHEAD:
        if "ratio" not in t.data and "base_load_w" not in t.data:
            raise t.fail("ratio", "missing: an overhead change sets `ratio`, `base_load_w` or both")
        if "ratio" in t.data:
            ratio = t.number("ratio", minimum=1.0)
        if "base_load_w" in t.data:
            base = t.number("base_load_w", minimum=0.0)
    declares = _declared_change(t) if action is Action.INVENTORY else DeclaredChange()
    if action is Action.INVENTORY and "drop" in t.data:
        declares = replace(declares, dropped=_dropped(t, facilities, targets[0][0]))
    if action is Action.REPLACE:
        devices = t.integer("devices", 1, minimum=1, maximum=MAX_DEVICES_PER_NODE)
        for fac_id, name in targets:
            node = _node(facilities, fac_id, name)
            if node is not None and devices > node.devices:
                raise t.fail("devices", f"node {node.node_id} declares only {node.devices} accelerators")
    if action is Action.REPLAY:
        replay_mode = ReplayMode(t.string("mode", choices=[m.value for m in ReplayMode]))
        if start == 0:
            raise t.fail("from", "a replay needs earlier reports to replay: start it after the first period")
    if action is Action.FAULT:
        fault = FaultKind(t.string("kind", choices=[k.value for k in FaultKind]))
        devices = t.integer("devices", 1, minimum=1, maximum=MAX_DEVICES_PER_NODE)
        for fac_id, name in targets:
            node = _node(facilities, fac_id, name)
            if node is not None and devices > node.devices:
                raise t.fail("devices", f"node {node.node_id} has only {node.devices} accelerators")
    if action is Action.ROLLBACK:
        rollback = t.integer("reports", minimum=1, maximum=10_000)
        if rollback * period > start:
            raise t.fail("reports", f"cannot roll back {rollback} reports at {format_duration(start)}: "
                         "there are not that many yet")
    t.used.update(t.data)
    if profile in PROFILES[3:] or reports in PROFILES[3:]:
        _doc(t).only_in_process(t.path, "a profile the --processes attestor config does not carry")
    return TimelineEvent(
        action=action, targets=targets, start_ns=start, end_ns=end, profile=profile, reports=reports,
        replay_mode=replay_mode, fault=fault, devices=devices, rollback_reports=rollback,
        line=t.line(), every_ns=every, on_ns=on, device_set=device_set,
        power_limit_w=power_limit, factor=factor, shift_ns=shift, by=by, ratio=ratio, base_load_w=base,
        declares=declares,
    )


def _declared_change(t: Table) -> DeclaredChange:
    """The declared values a ``do = "inventory"`` entry changes, each in the range its own
    declaration in ``[[facility]]`` accepts (a band the entry leaves half in force is checked
    against the other half by ``_check_declared_changes``)."""
    fixed = (t.number("fixed_load_w", minimum=0.0, maximum=MAX_FIXED_LOAD_W)
             if "fixed_load_w" in t.data else None)
    lo = t.number("min_ratio", minimum=1.0, maximum=3.0) if "min_ratio" in t.data else None
    hi = t.number("max_ratio", minimum=1.0, maximum=3.0) if "max_ratio" in t.data else None
    if lo is not None and hi is not None and lo > hi:
        raise t.fail("max_ratio", f"{hi} is below min_ratio = {lo}: a band needs 1.0 ≤ min ≤ max ≤ 3.0")
    accuracy = t.number("accuracy", maximum=0.5, minimum=0.0) if "accuracy" in t.data else None
    if accuracy is not None and accuracy <= 0.0:
        raise t.fail("accuracy", "must be positive (a fraction, e.g. 0.01)")
    return DeclaredChange(fixed_load_w=fixed, min_ratio=lo, max_ratio=hi, accuracy=accuracy)


def _dropped(t: Table, facilities: Sequence[FacilitySpec], fac_id: str) -> tuple[str, ...]:
    """``drop = ["n03", …]``: declared nodes of the facility that the version no longer declares
    (a node decommissioned; what it draws is the timeline's business)."""
    raw = t.raw("drop")
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        raise t.fail("drop", 'a list of declared node names, e.g. ["n03"]')
    fac = next(f for f in facilities if f.id == fac_id)
    names = {n.name for n in fac.declared_nodes}
    for name in raw:
        if name not in names:
            raise t.fail("drop", f"{name!r} is no declared node of {fac_id}")
    if set(raw) == names:
        raise t.fail("drop", f"dropping every declared node of {fac_id} leaves an inventory of none")
    _doc(t).only_in_process((*t.path, "drop"), "a node dropped from an inventory version")
    return tuple(raw)


def _device_set(
    t: Table, facilities: Sequence[FacilitySpec], targets: Sequence[tuple[str, str]]
) -> DeviceSet:
    """``devices = k`` (the first k: declared ones first), ``"declared"`` or ``"undeclared"``."""
    raw = t.raw("devices")
    _doc(t).only_in_process((*t.path, "devices"), "a device subset")
    if isinstance(raw, str):
        if raw not in ("declared", "undeclared"):
            raise t.fail("devices", f"{raw!r}: give a count (the first k), \"declared\" or \"undeclared\"")
        for fac_id, name in targets:
            node = _node(facilities, fac_id, name)
            if raw == "undeclared" and node is not None and not node.undeclared_devices:
                raise t.fail("devices", f"{fac_id}/{name} has no undeclared accelerators")
        return DeviceSet(which=raw)
    k = t.integer("devices", minimum=1, maximum=MAX_DEVICES_PER_NODE)
    for fac_id, name in targets:
        node = _node(facilities, fac_id, name)
        if node is not None and k > node.total_devices:
            raise t.fail("devices", f"{fac_id}/{name} has only {node.total_devices} accelerators")
    return DeviceSet(first=k, which="first")


def _node(facilities: Sequence[FacilitySpec], fac_id: str, name: str) -> NodeSpec | None:
    for f in facilities:
        if f.id == fac_id:
            for n in f.nodes:
                if n.name == name:
                    return n
    return None


def _targets(
    t: Table, facilities: Sequence[FacilitySpec], *, meters_ok: bool, hidden_ok: bool
) -> tuple[tuple[str, str], ...]:
    """Resolve selectors: ``fac`` (its declared nodes), ``fac/hidden``, ``fac/meters``,
    ``fac/NAME`` and ``fac/FIRST..LAST`` (declared nodes in file order, inclusive)."""
    selectors = t.strings("target", single=True)
    if "target" not in t.data:
        raise t.fail("target", "missing (required: e.g. \"fac-b\", \"fac-b/n03\", \"fac-b/n00..n03\")")
    if not selectors:
        raise t.fail("target", "needs at least one selector")
    by_id = {f.id: f for f in facilities}
    out: list[tuple[str, str]] = []
    for sel in selectors:
        fac_id, _, rest = sel.partition("/")
        fac = by_id.get(fac_id)
        if fac is None:
            raise t.fail("target", f"{sel!r}: no facility {fac_id!r} (have: {', '.join(by_id)})")
        names: list[str]
        if rest == "":
            names = [n.name for n in fac.declared_nodes]
        elif rest == "hidden":
            names = [n.name for n in fac.hidden_nodes]
            if not names:
                raise t.fail("target", f"{sel!r}: facility {fac_id} has no hidden nodes")
        elif rest == "meters":
            names = [m.name for m in fac.meters]
        elif ".." in rest:
            first, _, last = rest.partition("..")
            order = [n.name for n in fac.declared_nodes]
            if first not in order or last not in order or order.index(first) > order.index(last):
                raise t.fail("target", f"{sel!r}: not a range of declared nodes of {fac_id}")
            names = order[order.index(first): order.index(last) + 1]
        else:
            known = {n.name for n in fac.nodes} | {m.name for m in fac.meters}
            if rest not in known:
                raise t.fail("target", f"{sel!r}: {fac_id} has no node or meter named {rest!r}")
            names = [rest]
        meter_names = {m.name for m in fac.meters}
        hidden_names = {n.name for n in fac.hidden_nodes}
        for name in names:
            if name in meter_names and not meters_ok:
                raise t.fail("target", f"{sel!r}: a meter can only be silenced")
            if name in hidden_names and not hidden_ok:
                raise t.fail("target", f"{sel!r}: hidden nodes never report; only `profile` applies to them")
            if (fac_id, name) in out:
                raise t.fail("target", f"{sel!r}: {fac_id}/{name} is selected twice")
            out.append((fac_id, name))
    return tuple(out)


def _conflict(
    ctx: _ScenarioDoc, i: int, ev: TimelineEvent, other: TimelineEvent, *, what: str, at: tuple[int, int]
) -> ScenarioError:
    return ScenarioError(
        ctx.file, ev.line, format_path(("timeline", i)),
        f"impossible timing: overlaps the entry on line {other.line} for {what} "
        f"({format_duration(at[0])}..{format_duration(at[1])})",
    )


def _check_overlaps(
    ctx: _ScenarioDoc, timeline: Sequence[TimelineEvent], facilities: Sequence[FacilitySpec]
) -> None:
    """Two entries that decide the same thing for the same subject at the same time conflict:
    what a node runs (profile, lie — on the same accelerators), what it sends (lie, silent,
    replay, impersonate; shift, silent, replay, impersonate), two verifier outages, two overhead
    changes of a facility, two inventories at once. A `profile` and a `silent` on the same node
    may overlap: one says what the hardware does, the other that nobody reports it. Duty cycles
    (`every`/`on`) only conflict where their stretches meet."""
    runs = {Action.PROFILE, Action.LIE}
    sent = ({Action.LIE, Action.SILENT, Action.REPLAY, Action.IMPERSONATE},
            {Action.SHIFT, Action.SILENT, Action.REPLAY, Action.IMPERSONATE})
    meters = {(f.id, m.name) for f in facilities for m in f.meters}
    windows = [ev.windows() for ev in timeline]
    for i, ev in enumerate(timeline):
        for j, other in enumerate(timeline[:i]):
            if ev.action is Action.VERIFIER_OUTAGE and other.action is Action.VERIFIER_OUTAGE:
                meet = _windows_meet(windows[i], windows[j])
                if meet:
                    raise _conflict(ctx, i, ev, other, what="the verifier", at=meet)
                continue
            common = sorted(set(ev.targets) & set(other.targets))
            if not common:
                continue
            if ev.action is Action.OVERHEAD and other.action is Action.OVERHEAD:
                a0, a1, b0, b1 = ev.start_ns, ev.end_ns, other.start_ns, other.end_ns
                clash = (a0 == a1 == b0 == b1) or (a0 < b1 and b0 < a1) or (a0 == a1 and b0 < a0 < b1) \
                    or (b0 == b1 and a0 < b0 < a1)
                if clash:
                    raise _conflict(ctx, i, ev, other, what=f"the overhead of {common[0][0]}",
                                    at=(max(a0, b0), max(min(a1, b1), a0, b0)))
                continue
            if ev.action is Action.INVENTORY and other.action is Action.INVENTORY:
                if ev.start_ns == other.start_ns:
                    raise _conflict(ctx, i, ev, other, what=f"the inventory of {common[0][0]}",
                                    at=(ev.start_ns, ev.end_ns))
                continue
            on_meter = common[0] in meters
            decides_runs = ev.action in runs and other.action in runs and not on_meter
            decides_sent = any(ev.action in g and other.action in g for g in sent)
            if not (decides_runs or decides_sent):
                continue
            meet = _windows_meet(windows[i], windows[j])
            if meet is None:
                continue
            if decides_runs and not decides_sent:
                shared = [x for x in common if _devices_meet(facilities, x, ev.device_set, other.device_set)]
                if not shared:
                    continue
                common = shared
            raise _conflict(ctx, i, ev, other, what="/".join(common[0]), at=meet)


def _devices_meet(
    facilities: Sequence[FacilitySpec], target: tuple[str, str], a: DeviceSet, b: DeviceSet
) -> bool:
    node = _node(facilities, *target)
    if node is None:
        return True
    return bool(set(a.indices(node)) & set(b.indices(node)))


def _check_story(
    ctx: _ScenarioDoc, timeline: Sequence[TimelineEvent], facilities: Sequence[FacilitySpec], period: int
) -> None:
    """What the timeline cannot mean: an `off` node that reports, an inventory submitted to a
    verifier that is down."""
    silent: dict[tuple[str, str], set[int]] = {}
    for ev in timeline:
        if ev.action in (Action.SILENT, Action.IMPERSONATE):
            for a, b in ev.windows():
                for target in ev.targets:
                    silent.setdefault(target, set()).update(range(a // period, -(-b // period)))
    outages = [(ev.start_ns, ev.end_ns) for ev in timeline if ev.action is Action.VERIFIER_OUTAGE]
    for i, ev in enumerate(timeline):
        if ev.action is Action.PROFILE and ev.profile == "off":
            for target in ev.targets:
                node = _node(facilities, *target)
                if node is None or not node.declared \
                        or not set(ev.device_set.indices(node)) & set(range(node.reported_devices)):
                    continue  # a hidden node, or cards its attestor never lists: nothing would report
                quiet = silent.get(target, set())
                for a, b in ev.windows():
                    missing = [k for k in range(a // period, -(-b // period)) if k not in quiet]
                    if missing:
                        raise ScenarioError(
                            ctx.file, ev.line, format_path(("timeline", i, "profile")),
                            f"impossible timing: {'/'.join(target)} is off at "
                            f"{format_duration(missing[0] * period)} but not `silent`: "
                            "an off node cannot report",
                        )
        if ev.action is Action.INVENTORY and any(a <= ev.start_ns < b for a, b in outages):
            raise ScenarioError(ctx.file, ev.line, format_path(("timeline", i, "at")),
                                "impossible timing: the verifier is down then; the lab cannot submit")


def _expectation(t: Table, facilities: Sequence[FacilitySpec], bucket: int, duration: int) -> Expectation:
    facility = t.string("facility")
    if facility and facility not in {f.id for f in facilities}:
        raise t.fail("facility", f"no facility {facility!r} (use \"\" for the commitment as a whole)")
    if not facility and len(facilities) < 2:
        raise t.fail("facility", "\"\" is the commitment-level verdict, which only a commitment over two"
                     " or more facilities has: name the facility")
    if "bucket" in t.data:
        for k in ("from", "to"):
            if k in t.data:
                raise t.fail(k, "give either `bucket` or `from`/`to`")
        start = t.duration("bucket")
        end = start + bucket
    else:
        start = t.duration("from")
        end = t.duration("to")
    for name, value in (("from", start), ("to", end)):
        key = "bucket" if "bucket" in t.data else name
        if value % bucket:
            raise t.fail(key, f"{format_duration(value)} is not on an evaluation-bucket boundary "
                         f"({format_duration(bucket)})")
        if value > duration:
            raise t.fail(key, f"{format_duration(value)} is past the scenario's end "
                         f"({format_duration(duration)})")
    if end <= start:
        raise t.fail("to", f"{format_duration(end)} is not after from = {format_duration(start)}")
    raw_status = t.raw("status")
    t.used.add("status")
    if isinstance(raw_status, str):
        statuses: tuple[str, ...] = (raw_status,)
    elif isinstance(raw_status, list) and raw_status and all(isinstance(s, str) for s in raw_status):
        statuses = tuple(raw_status)
    elif raw_status is None:
        raise t.fail("status", f"missing (required: one of {', '.join(STATUSES)}, or a list of them)")
    else:
        raise t.fail("status", "expected a status or a list of statuses")
    for s in statuses:
        if s not in STATUSES:
            raise t.fail("status", f"{s!r} is not one of {', '.join(STATUSES)}")
    findings = tuple(t.strings("findings", single=True, pattern=_FINDING_ID, what=_FINDING_WHAT))
    absent = tuple(t.strings("absent", single=True, pattern=_FINDING_ID, what=_FINDING_WHAT))
    any_findings = tuple(t.strings("any_findings", single=True, pattern=_FINDING_ID, what=_FINDING_WHAT))
    clash = set(findings + any_findings) & set(absent)
    if clash:
        raise t.fail("absent", f"{sorted(clash)[0]!r} is both required and forbidden")
    t.done()
    return Expectation(
        facility=facility, start_ns=start, end_ns=end, statuses=statuses, findings=findings,
        absent=absent, any_findings=any_findings, line=t.line(),
    )
