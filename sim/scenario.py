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
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path as FsPath
from typing import Any

from pausewatch.clock import NS_PER_S
from pausewatch.commitment import commitment_from_toml
from pausewatch.errors import FormatError, InputError, InternalError
from pausewatch.v1 import types_pb2
from sim._toml_lines import KeyLines, Path, format_path
from sim._units import format_duration, parse_duration_ns, parse_instant_ns

__all__ = [
    "DEFAULT_MODEL",
    "PROFILES",
    "STATUSES",
    "Action",
    "Expectation",
    "FacilitySpec",
    "FaultKind",
    "MeterSpec",
    "NodeSpec",
    "ReplayMode",
    "Scenario",
    "ScenarioError",
    "TimelineEvent",
    "commitment_toml",
    "load_scenario",
    "parse_scenario",
]

PROFILES = ("idle", "inference", "training")
STATUSES = ("COMPLIANT", "VIOLATION", "INCONCLUSIVE")
DEFAULT_MODEL = "NVIDIA H100 80GB HBM3"
MAX_NODES_PER_FACILITY = 256
MAX_DEVICES_PER_NODE = 64
MAX_PERIODS = 100_000  # per subject; keeps a typo ("600h" at "1s") from running for hours
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FINDING_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


class ScenarioError(InputError):
    """A scenario file that cannot be run; the message names file, line and key."""

    def __init__(self, file: str, line: int | None, key: str, problem: str) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {problem}")


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


class ReplayMode(Enum):
    DUPLICATE = "duplicate"        # byte-identical copies of earlier envelopes
    PREGENERATED = "pregenerated"  # "idle" reports signed in advance, against an old challenge


class FaultKind(Enum):
    GPU_LOST = "gpu_lost"          # accelerators fall off the bus (Xid 79): absent from reports
    NVML_ERRORS = "nvml_errors"    # the telemetry source fails samples; anomalies are reported


@dataclass(frozen=True)
class NodeSpec:
    """One node that exists. ``declared`` is False for hidden nodes (not in the inventory)."""

    name: str        # short name used by selectors: "n03", "h00", or the explicit id
    node_id: str     # id on the wire
    devices: int
    model: str
    declared: bool


@dataclass(frozen=True)
class MeterSpec:
    name: str        # "m0"
    meter_id: str


@dataclass(frozen=True)
class FacilitySpec:
    id: str
    lab: str
    nodes: tuple[NodeSpec, ...]     # declared nodes first, then hidden ones
    meters: tuple[MeterSpec, ...]
    profile: str                    # what every node runs when the timeline says nothing
    overhead: tuple[float, float]   # declared band: metered energy / Σ node energy
    true_overhead: float            # the ratio the meter really sees

    @property
    def declared_nodes(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if n.declared)

    @property
    def hidden_nodes(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if not n.declared)


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


# ---------------------------------------------------------------------------------------------
# Parsing


class _Table:
    """A TOML table being read: every key must be consumed once; leftovers are unknown keys."""

    def __init__(self, ctx: _Context, path: Path, data: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.path = path
        self.data = data
        self.used: set[str] = set()

    def fail(self, key: str | int | None, problem: str) -> ScenarioError:
        p = self.path if key is None else (*self.path, key)
        return self.ctx.error(p, problem)

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self.fail(key, "missing (required)")
            return None
        return self.data[key]

    def text(self, key: str, default: str | None = None, *, pattern: re.Pattern[str] | None = None) -> str:
        v = self._get(key, default is None)
        if v is None:
            if default is None:
                raise InternalError("default is unset here; a bug")
            return default
        if not isinstance(v, str):
            raise self.fail(key, f"expected a string, got {_tname(v)}")
        if pattern is not None and not pattern.match(v):
            raise self.fail(key, f"{v!r} is not a valid id (letters, digits, '.', '_', '-'; at most 64)")
        return v

    def choice(self, key: str, choices: Sequence[str], default: str | None = None) -> str:
        v = self.text(key, default)
        if v not in choices:
            raise self.fail(key, f"{v!r} is not one of {', '.join(choices)}")
        return v

    def integer(self, key: str, default: int | None = None, *, lo: int = 0, hi: int | None = None) -> int:
        v = self._get(key, default is None)
        if v is None:
            if default is None:
                raise InternalError("default is unset here; a bug")
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(key, f"expected an integer, got {_tname(v)}")
        if v < lo or (hi is not None and v > hi):
            raise self.fail(key, f"{v} is out of range [{lo}, {hi if hi is not None else '∞'}]")
        return v

    def number(self, key: str, default: float | None = None, *, lo: float = 0.0) -> float:
        v = self._get(key, default is None)
        if v is None:
            if default is None:
                raise InternalError("default is unset here; a bug")
            return default
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(key, f"expected a number, got {_tname(v)}")
        if not math.isfinite(v) or v < lo:
            raise self.fail(key, f"{v} must be a finite number ≥ {lo}")
        return float(v)

    def duration(self, key: str, default: int | None = None) -> int:
        v = self._get(key, default is None)
        if v is None:
            if default is None:
                raise InternalError("default is unset here; a bug")
            return default
        try:
            return parse_duration_ns(v)
        except ValueError as e:
            raise self.fail(key, str(e)) from None

    def instant(self, key: str) -> int:
        v = self._get(key, True)
        try:
            return parse_instant_ns(v)
        except ValueError as e:
            raise self.fail(key, str(e)) from None

    def texts(self, key: str, *, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
        v = self._get(key, False)
        if v is None:
            return ()
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.fail(key, "expected a string or a list of strings")
        for x in v:
            if pattern is not None and not pattern.match(x):
                raise self.fail(key, f"{x!r} is not a finding id such as \"continuity.gap\"")
        return tuple(v)

    def table(self, key: str, required: bool = True) -> _Table | None:
        v = self._get(key, required)
        if v is None:
            return None
        if not isinstance(v, dict):
            raise self.fail(key, f"expected a table, got {_tname(v)}")
        return _Table(self.ctx, (*self.path, key), v)

    def tables(self, key: str, required: bool = True) -> list[_Table]:
        v = self._get(key, required)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise self.fail(key, f"expected an array of tables ([[{key}]]), got {_tname(v)}")
        if required and not v:
            raise self.fail(key, "needs at least one entry")
        return [_Table(self.ctx, (*self.path, key, i), x) for i, x in enumerate(v)]

    def raw(self, key: str) -> Any:
        return self._get(key, False)

    def done(self) -> None:
        """Reject keys nobody asked for, naming the first by its line."""
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            k = min(unknown, key=lambda k: self.ctx.lines.line_of((*self.path, k)) or 0)
            known = ", ".join(sorted(self.used))
            raise self.fail(k, f"unknown key (this table takes: {known})")


@dataclass
class _Context:
    file: str
    lines: KeyLines

    def error(self, path: Path, problem: str) -> ScenarioError:
        return ScenarioError(self.file, self.lines.line_of(path), format_path(path), problem)

    def line(self, path: Path) -> int | None:
        return self.lines.line_of(path)


def _tname(v: object) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
            list: "an array", dict: "a table"}.get(type(v), type(v).__name__)


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
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        line = int(m.group(1)) if m else None
        raise ScenarioError(file, line, "(syntax)", f"not valid TOML: {e}") from None
    ctx = _Context(file, KeyLines.scan(text))
    root = _Table(ctx, (), data)

    head = root.table("scenario")
    if head is None:
        raise InternalError("head is unset here; a bug")
    name = head.text("name", pattern=_ID)
    story = head.text("story")
    start = head.instant("start")
    duration = head.duration("duration")
    period = head.duration("period", 60 * 1_000_000_000)
    seed = head.integer("seed", 0)
    speedup = head.number("speedup", 360.0, lo=1.0)
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

    facilities = tuple(_facility(t) for t in root.tables("facility"))
    ids = [f.id for f in facilities]
    for i, fid in enumerate(ids):
        if fid in ids[:i]:
            raise ctx.error(("facility", i, "id"), f"facility {fid!r} is defined twice")

    commitment_table = root.table("commitment")
    if commitment_table is None:
        raise InternalError("commitment_table is unset here; a bug")
    commitment_table.used.update(commitment_table.data)  # checked by pausewatch.commitment
    commitment = _commitment(ctx, text)
    for i, fid in enumerate(commitment.facility_ids):
        if fid not in ids:
            raise ctx.error(("commitment", "facilities"),
                            f"facility {fid!r} (entry {i}) is not in this scenario's fleet")
    for fid in ids:
        if fid not in commitment.facility_ids and not commitment.all_facilities_of_lab:
            raise ctx.error(("commitment", "facilities"), f"facility {fid!r} of the fleet is not covered")
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
        _event(t, facilities, period, duration) for t in root.tables("timeline", required=False)
    )
    _check_overlaps(ctx, timeline)
    expectations = tuple(
        _expectation(t, facilities, bucket, duration) for t in root.tables("expect")
    )
    root.done()
    return Scenario(
        path=file, name=name, story=story.strip(), start_unix_ns=start, duration_ns=duration,
        period_ns=period, seed=seed, speedup=speedup, sample_interval_ns=sample_interval,
        facilities=facilities,
        commitment=commitment, timeline=timeline,
        expectations=expectations, bucket_ns=bucket,
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


def _commitment(ctx: _Context, text: str) -> types_pb2.Commitment:
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
        lineno = ctx.line(("commitment", *parts))
        raise ScenarioError(ctx.file, lineno, ".".join(("commitment", *parts)), problem) from None


def _facility(t: _Table) -> FacilitySpec:
    fid = t.text("id", pattern=_ID)
    lab = t.text("lab", pattern=_ID)
    model = t.text("model", DEFAULT_MODEL)
    devices = t.integer("devices_per_node", 8, lo=1, hi=MAX_DEVICES_PER_NODE)
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
    hidden = t.integer("hidden_nodes", 0, hi=MAX_NODES_PER_FACILITY)
    nodes += [NodeSpec(f"h{i:02d}", f"{fid}-h{i:02d}", devices, model, False) for i in range(hidden)]
    meters = t.integer("meters", 1, hi=16)
    profile = t.choice("profile", PROFILES, "idle")
    overhead_raw = t.raw("overhead")
    t.used.add("overhead")
    if overhead_raw is None:
        overhead = (1.1, 1.4)
    elif (
        isinstance(overhead_raw, list) and len(overhead_raw) == 2
        and all(isinstance(x, int | float) and not isinstance(x, bool) for x in overhead_raw)
    ):
        overhead = (float(overhead_raw[0]), float(overhead_raw[1]))
        if not 1.0 <= overhead[0] <= overhead[1] <= 3.0:
            raise t.fail("overhead", "needs 1.0 ≤ min ≤ max ≤ 3.0")
    else:
        raise t.fail("overhead", "expected [min_ratio, max_ratio], e.g. [1.1, 1.4]")
    true_overhead = t.number("true_overhead", (overhead[0] + overhead[1]) / 2, lo=1.0)
    t.done()
    return FacilitySpec(
        id=fid, lab=lab, nodes=tuple(nodes),
        meters=tuple(MeterSpec(f"m{i}", f"{fid}-m{i}") for i in range(meters)),
        profile=profile, overhead=overhead, true_overhead=true_overhead,
    )


_NODE_ACTIONS = {Action.PROFILE, Action.LIE, Action.RESTART, Action.REPLAY, Action.FORK,
                 Action.ROLLBACK, Action.FAULT}
_POINT_ACTIONS = {Action.RESTART, Action.FORK, Action.ROLLBACK}
_ACTION_KEYS: dict[Action, set[str]] = {
    Action.PROFILE: {"profile"},
    Action.LIE: {"profile", "reports"},
    Action.SILENT: set(),
    Action.RESTART: set(),
    Action.REPLAY: {"mode"},
    Action.FORK: set(),
    Action.ROLLBACK: {"reports"},
    Action.FAULT: {"kind", "devices"},
    Action.VERIFIER_OUTAGE: set(),
}


def _event(t: _Table, facilities: Sequence[FacilitySpec], period: int, duration: int) -> TimelineEvent:
    do = t.choice("do", [a.value for a in Action])
    action = Action(do)
    allowed = {"do", "target", "from", "to", "at"} | _ACTION_KEYS[action]
    for k in t.data:
        if k not in allowed:
            raise t.fail(k, f"unknown key for do = \"{do}\" (it takes: {', '.join(sorted(allowed))})")
    if action in _POINT_ACTIONS:
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
        if key == "at" and value - period >= duration:
            raise t.fail("at", f"{format_duration(value - period)} is past the scenario's end "
                         f"({format_duration(duration)})")
        if value > duration:
            raise t.fail(key, f"{format_duration(value)} is past the scenario's end "
                         f"({format_duration(duration)})")
        if value % period:
            raise t.fail(key, f"{format_duration(value)} is not on a report-period boundary "
                         f"({format_duration(period)})")

    targets: tuple[tuple[str, str], ...] = ()
    if action is Action.VERIFIER_OUTAGE:
        if "target" in t.data:
            raise t.fail("target", "a verifier outage has no target")
    else:
        targets = _targets(t, facilities, meters_ok=action is Action.SILENT,
                           hidden_ok=action in (Action.PROFILE,))
    profile = reports = None
    replay_mode = None
    fault = None
    devices = rollback = 0
    if action in (Action.PROFILE, Action.LIE):
        profile = t.choice("profile", PROFILES)
    if action is Action.LIE:
        reports = t.choice("reports", PROFILES)
        if reports == profile:
            raise t.fail("reports", "a lie reports something other than the truth (`profile`)")
    if action is Action.REPLAY:
        replay_mode = ReplayMode(t.choice("mode", [m.value for m in ReplayMode]))
        if start == 0:
            raise t.fail("from", "a replay needs earlier reports to replay: start it after the first period")
    if action is Action.FAULT:
        fault = FaultKind(t.choice("kind", [k.value for k in FaultKind]))
        devices = t.integer("devices", 1, lo=1, hi=MAX_DEVICES_PER_NODE)
        for fac_id, name in targets:
            node = _node(facilities, fac_id, name)
            if node is not None and devices > node.devices:
                raise t.fail("devices", f"node {node.node_id} has only {node.devices} accelerators")
    if action is Action.ROLLBACK:
        rollback = t.integer("reports", lo=1, hi=10_000)
        if rollback * period > start:
            raise t.fail("reports", f"cannot roll back {rollback} reports at {format_duration(start)}: "
                         "there are not that many yet")
    t.used.update(t.data)
    return TimelineEvent(
        action=action, targets=targets, start_ns=start, end_ns=end, profile=profile, reports=reports,
        replay_mode=replay_mode, fault=fault, devices=devices, rollback_reports=rollback,
        line=t.ctx.line(t.path),
    )


def _node(facilities: Sequence[FacilitySpec], fac_id: str, name: str) -> NodeSpec | None:
    for f in facilities:
        if f.id == fac_id:
            for n in f.nodes:
                if n.name == name:
                    return n
    return None


def _targets(
    t: _Table, facilities: Sequence[FacilitySpec], *, meters_ok: bool, hidden_ok: bool
) -> tuple[tuple[str, str], ...]:
    """Resolve selectors: ``fac`` (its declared nodes), ``fac/hidden``, ``fac/meters``,
    ``fac/NAME`` and ``fac/FIRST..LAST`` (declared nodes in file order, inclusive)."""
    selectors = t.texts("target")
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


def _check_overlaps(ctx: _Context, timeline: Sequence[TimelineEvent]) -> None:
    """Two entries that decide the same thing for the same subject at the same time conflict:
    what a node runs (profile, lie), what it sends (lie, silent, replay), or two verifier
    outages. A `profile` and a `silent` on the same node may overlap: one says what the
    hardware does, the other that nobody reports it."""
    groups = ({Action.PROFILE, Action.LIE}, {Action.LIE, Action.SILENT, Action.REPLAY})
    for i, ev in enumerate(timeline):
        for other in timeline[:i]:
            if not (ev.start_ns < other.end_ns and other.start_ns < ev.end_ns):
                continue
            if ev.action is Action.VERIFIER_OUTAGE and other.action is Action.VERIFIER_OUTAGE:
                what = "the verifier"
            elif any(ev.action in g and other.action in g for g in groups):
                common = sorted(set(ev.targets) & set(other.targets))
                if not common:
                    continue
                what = "/".join(common[0])
            else:
                continue
            raise ScenarioError(
                ctx.file, ev.line, format_path(("timeline", i)),
                f"impossible timing: overlaps the entry on line {other.line} for {what} "
                f"({format_duration(max(ev.start_ns, other.start_ns))}.."
                f"{format_duration(min(ev.end_ns, other.end_ns))})",
            )


def _expectation(t: _Table, facilities: Sequence[FacilitySpec], bucket: int, duration: int) -> Expectation:
    facility = t.text("facility")
    if facility and facility not in {f.id for f in facilities}:
        raise t.fail("facility", f"no facility {facility!r} (use \"\" for the commitment as a whole)")
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
    findings = t.texts("findings", pattern=_FINDING_ID)
    absent = t.texts("absent", pattern=_FINDING_ID)
    any_findings = t.texts("any_findings", pattern=_FINDING_ID)
    clash = set(findings + any_findings) & set(absent)
    if clash:
        raise t.fail("absent", f"{sorted(clash)[0]!r} is both required and forbidden")
    t.done()
    return Expectation(
        facility=facility, start_ns=start, end_ns=end, statuses=statuses, findings=findings,
        absent=absent, any_findings=any_findings, line=t.ctx.line(t.path),
    )
