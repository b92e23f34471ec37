"""Pause commitments: the domain value, its validation, signing checks and the TOML format.

A commitment is a lab's signed promise about its facilities over a time window. It travels as
a ``Commitment`` envelope (``PayloadType.COMMITMENT``) signed by k of the lab's keys and is
evaluated by ``pausewatch.evaluation``. ``Commitment.from_wire`` checks every invariant once;
each error names the field.

Authoring format (TOML; ``pausewatch-verifier commitment sign`` turns it into the envelope)::

    id = "pause-2026"                 # commitment_id: printable ASCII, no spaces, ≤ 128
    version = 1                       # ≥ 1; a new version replaces the old one
    lab_id = "lab-example"
    facilities = ["fac-a", "fac-b"]   # or: all_facilities_of_lab = true (not both)
    description = "No training runs; inference allowed."

    [window]
    start = 2026-01-01T00:00:00Z      # RFC 3339 with an explicit offset
    end = 2026-07-01T00:00:00Z        # strictly after start; at most 10 years later

    [rules]
    compute_cap_flop = 1e24           # optional: FLOP over the whole window, all facilities
    allowed_workloads = ["idle", "inference"]   # omit or [] for no restriction by class
    [[rules.power_caps]]              # optional, any number, one per facility
    facility = "fac-a"
    max_power_w = 2.5e6               # W, mean over any bucket

    [reporting]                       # every key optional; defaults shown
    max_report_interval_s = 120       # longest allowed report period
    max_gap_s = 180                   # longest tolerated uncovered stretch per device
    min_inventory_coverage = 1.0      # share of declared devices that must be fully covered
    bucket_s = 3600                   # evaluation bucket; divides the window from its start
    timeout_intervals = 3             # silent this many intervals at a bucket's end: TIMEOUT
    signatures_required = 1           # k of the lab's keys that must sign
    min_time_coverage = 0.95          # share of each bucket every declared device must be
                                      # covered by valid reports, every gap summed
                                      # (default 1 − max_gap_s / bucket_s, at least 0.5)

    [tolerances]                      # bounds on what an inventory may declare; defaults shown
    overhead_min_ratio = 1.0          # the widest overhead band any inventory may declare …
    overhead_max_ratio = 1.6          # … (metered energy / Σ node-reported energy)
    calibration_s = 10800             # the ratio baseline of each meter scope is learnt over its
                                      # first complete buckets from the window start (default 3
                                      # buckets; at most a week, or two buckets if longer)
    max_overhead_drift = 0.1          # a slow drift of the ratio beyond this from its calibrated
                                      # level is a finding, even inside the band
    max_fixed_load_w = 0.0            # the largest fixed load (W) an inventory may declare for
                                      # one meter scope (offices, lighting, the cooling plant's
                                      # base); absent: 0, no fixed load
    max_meter_accuracy = 0.05         # the loosest accuracy class (a fraction) a meter may be
                                      # declared with: every energy threshold scales with it
                                      # (absent: the hard limit; parties should set 0.01)

Hard limits: at most ``MAX_FACILITIES`` facilities and power caps; bucket between 60 s and 31
days; ``max_gap_s`` ≥ 0; ``timeout_intervals`` at most
``MAX_TIMEOUT_INTERVALS``; ``min_time_coverage`` within 0.5 … 1; overhead bounds within
``OVERHEAD_BOUND_LIMITS`` (a commitment cannot grant itself a band wider than physics allows);
calibration at least two buckets and at most ``MAX_CALIBRATION_NS`` (a week; or two buckets) (a window
shorter than its calibration never calibrates:
no baseline findings, the band still applies); drift within 0 … 0.5; fixed load within 0 …
``MAX_FIXED_LOAD_W``; meter accuracy within ``METER_ACCURACY_LIMITS``; intervals positive; caps
non-negative and finite. A commitment without
``[tolerances]`` gets the defaults above: an existing commitment file keeps parsing, its
facilities are held to a physically plausible band, and none may declare a fixed load.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pausewatch.errors import FormatError, LimitExceededError
from pausewatch.reports import check_id
from pausewatch.tomlread import Document, Table
from pausewatch.v1 import types_pb2

__all__ = [
    "DEFAULT_BUCKET_S",
    "DEFAULT_MAX_GAP_S",
    "DEFAULT_MAX_REPORT_INTERVAL_S",
    "DEFAULT_OVERHEAD_BOUNDS",
    "DEFAULT_TIMEOUT_INTERVALS",
    "MAX_FACILITIES",
    "MAX_FIXED_LOAD_W",
    "METER_ACCURACY_LIMITS",
    "OVERHEAD_BOUND_LIMITS",
    "WORKLOAD_NAMES",
    "Commitment",
    "PowerCapRule",
    "Reporting",
    "Tolerances",
    "commitment_from_toml",
    "located",
    "public_key",
    "read_conditions",
]

NS_PER_S: Final = 1_000_000_000
MAX_FACILITIES: Final = 1024
MAX_WINDOW_NS: Final = 10 * 366 * 86_400 * NS_PER_S
MIN_BUCKET_NS: Final = 60 * NS_PER_S
MAX_BUCKET_NS: Final = 31 * 86_400 * NS_PER_S
MAX_SIGNATURES_REQUIRED: Final = 16
DEFAULT_MAX_REPORT_INTERVAL_S: Final = 120
DEFAULT_MAX_GAP_S: Final = 180
DEFAULT_BUCKET_S: Final = 3600
DEFAULT_TIMEOUT_INTERVALS: Final = 3
MAX_TIMEOUT_INTERVALS: Final = 60
MIN_TIME_COVERAGE_FLOOR: Final = 0.5
DEFAULT_OVERHEAD_BOUNDS: Final = (1.0, 1.6)  # PUE-like; Uptime Institute's 2024 mean is 1.56
OVERHEAD_BOUND_LIMITS: Final = (0.8, 3.0)  # what a commitment may name at most
DEFAULT_CALIBRATION_BUCKETS: Final = 3
DEFAULT_MAX_OVERHEAD_DRIFT: Final = 0.1
MAX_OVERHEAD_DRIFT: Final = 0.5
# A fixed load hides hardware of its size from the energy balance: no bound or declaration may
# name more than this (100 MW, beyond the whole intake of nearly every facility).
MAX_FIXED_LOAD_W: Final = 1e8
# A meter's accuracy class, a fraction of its reading: IEC 62053-22 class 0.1S to class 5. The
# commitment bounds what an inventory may declare (``Tolerances.max_meter_accuracy``): every
# energy threshold is a multiple of it, so a lab declaring its meters loose widens its own band
# (a red team's: declared at 5 %, a hidden GPU's 2 MJ an hour above the band was under 3 σ).
METER_ACCURACY_LIMITS: Final = (0.001, 0.05)
# Absent: the hard limit, so that every commitment and inventory written before the bound keep
# their meaning; multilateral terms (and careful labs) set it to the class of the meters they
# accept.
DEFAULT_MAX_METER_ACCURACY: Final = METER_ACCURACY_LIMITS[1]
# Calibration learns a scope's ratio and noise; while it lasts no step is looked for, so a
# commitment may not make it longer than a week (daily and weekly cycles), or two buckets.
MAX_CALIBRATION_NS: Final = 7 * 86_400 * NS_PER_S

WORKLOAD_NAMES: Final[Mapping[str, int]] = {
    "idle": types_pb2.WORKLOAD_CLASS_IDLE,
    "inference": types_pb2.WORKLOAD_CLASS_INFERENCE,
    "training": types_pb2.WORKLOAD_CLASS_TRAINING,
}


def located(doc: Document, e: FormatError) -> FormatError:
    """A domain type's error (``field: problem``) named as the file spells the key, with its
    line: ``reporting.max_gap_ns`` → ``reporting.max_gap_s``."""
    field, sep, problem = str(e).partition(": ")
    if sep and re.fullmatch(r"[a-z_]+(\.[a-z_]+|\[\d+\])*", field):
        error = doc.error(re.sub(r"_ns$", "_s", field), problem)
        return error if isinstance(error, FormatError) else FormatError(str(error))
    return FormatError(f"{doc.file}: {e}")


def public_key(table: Table, key: str) -> bytes:
    """A raw 32-byte Ed25519 public key written as 64 hex digits or base64."""
    text = table.string(key).strip()
    try:
        raw = (
            bytes.fromhex(text)
            if re.fullmatch(r"[0-9a-fA-F]{64}", text)
            else base64.b64decode(text, validate=True)
        )
    except (binascii.Error, ValueError):
        raise table.fail(key, "must be 64 hex digits or base64 of a raw Ed25519 key") from None
    if len(raw) != 32:
        raise table.fail(key, f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True)
class PowerCapRule:
    """Mean facility power over any bucket must stay at or below ``max_power_w``."""

    facility_id: str
    max_power_w: float


@dataclass(frozen=True)
class Reporting:
    """Reporting requirements, in ns and ratios."""

    max_report_interval_ns: int
    max_gap_ns: int
    min_inventory_coverage: float
    bucket_ns: int
    timeout_intervals: int
    min_time_coverage: float


@dataclass(frozen=True)
class Tolerances:
    """Bounds on the tolerances the evaluation uses (see the module docstring)."""

    overhead_min_ratio: float
    overhead_max_ratio: float
    calibration_ns: int
    max_overhead_drift: float
    max_fixed_load_w: float = 0.0
    max_meter_accuracy: float = DEFAULT_MAX_METER_ACCURACY

    def band(self, declared_min: float, declared_max: float) -> tuple[float, float]:
        """The band the evaluation uses: the declared one cut to these bounds."""
        lo = max(declared_min, self.overhead_min_ratio)
        hi = min(declared_max, self.overhead_max_ratio)
        return (lo, hi) if lo <= hi else (self.overhead_min_ratio, self.overhead_max_ratio)

    def band_problem(self, declared: tuple[float, float]) -> tuple[str, str] | None:
        """Where a declared band is wider than these bounds: the end that crosses them
        (``min_ratio`` or ``max_ratio``) and why; None within them."""
        lo, hi = self.overhead_min_ratio, self.overhead_max_ratio
        if declared[0] < lo:
            return "min_ratio", f"{declared[0]} is outside the bounds {lo} … {hi}"
        if declared[1] > hi:
            return "max_ratio", f"{declared[1]} is outside the bounds {lo} … {hi}"
        return None

    def fixed_load_problem(self, declared_w: float) -> str | None:
        """Why a declared fixed load is above ``max_fixed_load_w``; None within it."""
        if declared_w > self.max_fixed_load_w:
            return f"{declared_w:g} W is above the bound {self.max_fixed_load_w:g} W"
        return None

    def accuracy_problem(self, declared: float) -> str | None:
        """Why a declared meter accuracy class is looser than ``max_meter_accuracy``; None
        within it."""
        if declared > self.max_meter_accuracy:
            return f"{declared:g} is above the bound {self.max_meter_accuracy:g}"
        return None

    def meter_accuracy(self, declared: float) -> float:
        """The accuracy class the evaluation credits a meter with: the declared one, at most
        ``max_meter_accuracy`` (an inventory declaring looser is refused at submission)."""
        return min(declared, self.max_meter_accuracy)

    def fixed_load(self, declared_w: float) -> float:
        """The fixed load (W) the evaluation subtracts from a scope's metered power: the declared
        one cut to ``max_fixed_load_w``."""
        return min(declared_w, self.max_fixed_load_w)


@dataclass(frozen=True)
class Commitment:
    """A validated commitment. Build with ``from_wire``; a signed one is verified by
    ``pausewatch.documents.verify_lab_commitment``."""

    commitment_id: str
    version: int
    lab_id: str
    facility_ids: tuple[str, ...]
    all_facilities_of_lab: bool
    window_start_ns: int
    window_end_ns: int
    compute_cap_flop: float | None
    power_caps: tuple[PowerCapRule, ...]
    allowed_workloads: frozenset[int]  # WorkloadClass values; empty: no restriction
    reporting: Reporting
    tolerances: Tolerances
    signatures_required: int
    description: str
    wire: types_pb2.Commitment

    def covers(self, facility_id: str, facility_lab_id: str) -> bool:
        """Whether a facility (with the lab that declared it) is in scope."""
        if self.all_facilities_of_lab:
            return facility_lab_id == self.lab_id
        return facility_id in self.facility_ids

    def allows(self, workload: int) -> bool:
        return not self.allowed_workloads or workload in self.allowed_workloads

    def power_cap_for(self, facility_id: str) -> float | None:
        caps = [c.max_power_w for c in self.power_caps if c.facility_id == facility_id]
        return min(caps) if caps else None

    def buckets(self, until_ns: int | None = None) -> list[tuple[int, int]]:
        """Bucket boundaries from the window start, the last one clipped to the window end."""
        end = self.window_end_ns if until_ns is None else min(until_ns, self.window_end_ns)
        step = self.reporting.bucket_ns
        out = []
        start = self.window_start_ns
        while start < end:
            out.append((start, min(start + step, self.window_end_ns)))
            start += step
        return out

    def bucket_of(self, t_ns: int) -> tuple[int, int] | None:
        """The bucket holding instant ``t_ns``, or None outside the window."""
        if not self.window_start_ns <= t_ns < self.window_end_ns:
            return None
        k = (t_ns - self.window_start_ns) // self.reporting.bucket_ns
        start = self.window_start_ns + k * self.reporting.bucket_ns
        return start, min(start + self.reporting.bucket_ns, self.window_end_ns)

    @classmethod
    def from_wire(cls, msg: types_pb2.Commitment) -> Commitment:
        """Validate a wire Commitment; every error names the offending field."""
        check_id(msg.commitment_id, "commitment_id")
        check_id(msg.lab_id, "lab_id")
        if msg.version < 1:
            raise FormatError("version: must be at least 1")
        if len(msg.facility_ids) > MAX_FACILITIES:
            raise LimitExceededError(f"facility_ids: {len(msg.facility_ids)} entries; limit {MAX_FACILITIES}")
        facilities = tuple(check_id(f, f"facility_ids[{i}]") for i, f in enumerate(msg.facility_ids))
        if len(set(facilities)) != len(facilities):
            raise FormatError("facility_ids: a facility is listed twice")
        if msg.all_facilities_of_lab and facilities:
            raise FormatError("facility_ids: must be empty when all_facilities_of_lab is set")
        if not msg.all_facilities_of_lab and not facilities:
            raise FormatError("facility_ids: name at least one facility or set all_facilities_of_lab")
        if msg.window_start_unix_ns <= 0:
            raise FormatError("window_start_unix_ns: must be a positive unix time")
        if msg.window_end_unix_ns <= msg.window_start_unix_ns:
            raise FormatError("window_end_unix_ns: the window must end after it starts")
        if msg.window_end_unix_ns - msg.window_start_unix_ns > MAX_WINDOW_NS:
            raise LimitExceededError("window_end_unix_ns: a window may last at most 10 years")
        rules = msg.rules
        cap: float | None = None
        if rules.HasField("compute_cap_flop"):
            cap = rules.compute_cap_flop
            if not math.isfinite(cap) or cap < 0:
                raise FormatError(f"rules.compute_cap_flop: must be finite and ≥ 0, got {cap}")
        if len(rules.power_caps) > MAX_FACILITIES:
            raise LimitExceededError(
                f"rules.power_caps: {len(rules.power_caps)} entries; limit {MAX_FACILITIES}"
            )
        power_caps = []
        for i, pc in enumerate(rules.power_caps):
            fid = check_id(pc.facility_id, f"rules.power_caps[{i}].facility_id")
            if facilities and fid not in facilities:
                raise FormatError(f"rules.power_caps[{i}].facility_id: {fid!r} is not in facility_ids")
            if not math.isfinite(pc.max_power_w) or pc.max_power_w <= 0:
                raise FormatError(f"rules.power_caps[{i}].max_power_w: must be finite and > 0")
            power_caps.append(PowerCapRule(fid, pc.max_power_w))
        workloads = list(rules.allowed_workloads)
        for i, w in enumerate(workloads):
            if w not in WORKLOAD_NAMES.values():
                raise FormatError(f"rules.allowed_workloads[{i}]: {w} is not a workload class")
        if len(set(workloads)) != len(workloads):
            raise FormatError("rules.allowed_workloads: a class is listed twice")
        rep = msg.reporting
        if rep.max_report_interval_ns <= 0:
            raise FormatError("reporting.max_report_interval_ns: must be positive")
        if rep.max_gap_ns < 0:
            raise FormatError("reporting.max_gap_ns: must not be negative")
        if not (0.0 <= rep.min_inventory_coverage <= 1.0):
            raise FormatError("reporting.min_inventory_coverage: must be within 0 … 1")
        if not (MIN_BUCKET_NS <= rep.bucket_ns <= MAX_BUCKET_NS):
            raise FormatError("reporting.bucket_ns: must be between 60 s and 31 days")
        if rep.max_report_interval_ns > rep.bucket_ns:
            raise FormatError("reporting.max_report_interval_ns: longer than a bucket")
        if rep.timeout_intervals < 1:
            raise FormatError("reporting.timeout_intervals: must be at least 1")
        if rep.timeout_intervals > MAX_TIMEOUT_INTERVALS:
            raise FormatError(f"reporting.timeout_intervals: at most {MAX_TIMEOUT_INTERVALS}")
        if rep.HasField("min_time_coverage"):
            time_coverage = rep.min_time_coverage
            if not (MIN_TIME_COVERAGE_FLOOR <= time_coverage <= 1.0):
                raise FormatError(
                    f"reporting.min_time_coverage: must be within {MIN_TIME_COVERAGE_FLOOR} … 1,"
                    f" got {time_coverage}"
                )
        else:
            time_coverage = max(MIN_TIME_COVERAGE_FLOOR, 1.0 - rep.max_gap_ns / rep.bucket_ns)
        tolerances = _tolerances(
            msg.tolerances, rep.bucket_ns, msg.window_end_unix_ns - msg.window_start_unix_ns
        )
        k = max(1, msg.signatures_required)
        if k > MAX_SIGNATURES_REQUIRED:
            raise LimitExceededError(f"signatures_required: {k}; limit {MAX_SIGNATURES_REQUIRED}")
        if len(msg.description) > 4096:
            raise LimitExceededError("description: longer than 4096 characters")
        copy = types_pb2.Commitment()
        copy.CopyFrom(msg)
        return cls(
            commitment_id=msg.commitment_id,
            version=msg.version,
            lab_id=msg.lab_id,
            facility_ids=facilities,
            all_facilities_of_lab=msg.all_facilities_of_lab,
            window_start_ns=msg.window_start_unix_ns,
            window_end_ns=msg.window_end_unix_ns,
            compute_cap_flop=cap,
            power_caps=tuple(power_caps),
            allowed_workloads=frozenset(workloads),
            reporting=Reporting(
                max_report_interval_ns=rep.max_report_interval_ns,
                max_gap_ns=rep.max_gap_ns,
                min_inventory_coverage=rep.min_inventory_coverage,
                bucket_ns=rep.bucket_ns,
                timeout_intervals=rep.timeout_intervals,
                min_time_coverage=time_coverage,
            ),
            tolerances=tolerances,
            signatures_required=k,
            description=msg.description,
            wire=copy,
        )


def _tolerances(msg: types_pb2.Tolerances, bucket_ns: int, window_ns: int) -> Tolerances:
    lo_limit, hi_limit = OVERHEAD_BOUND_LIMITS
    lo = msg.overhead_min_ratio if msg.HasField("overhead_min_ratio") else DEFAULT_OVERHEAD_BOUNDS[0]
    hi = msg.overhead_max_ratio if msg.HasField("overhead_max_ratio") else DEFAULT_OVERHEAD_BOUNDS[1]
    for name, value in (("overhead_min_ratio", lo), ("overhead_max_ratio", hi)):
        if not (math.isfinite(value) and lo_limit <= value <= hi_limit):
            raise FormatError(f"tolerances.{name}: must be within {lo_limit} … {hi_limit}, got {value}")
    if lo > hi:
        raise FormatError("tolerances.overhead_max_ratio: must not be below overhead_min_ratio")
    calibration = (
        msg.calibration_ns if msg.HasField("calibration_ns") else DEFAULT_CALIBRATION_BUCKETS * bucket_ns
    )
    if not (2 * bucket_ns <= calibration <= max(MAX_CALIBRATION_NS, 2 * bucket_ns)):
        raise FormatError(
            "tolerances.calibration_ns: must be at least two buckets and at most a week (while it"
            " lasts no step of the ratio baseline is looked for)"
        )
    drift = msg.max_overhead_drift if msg.HasField("max_overhead_drift") else DEFAULT_MAX_OVERHEAD_DRIFT
    if not (math.isfinite(drift) and 0.0 <= drift <= MAX_OVERHEAD_DRIFT):
        raise FormatError(f"tolerances.max_overhead_drift: must be within 0 … {MAX_OVERHEAD_DRIFT}")
    fixed = msg.max_fixed_load_w if msg.HasField("max_fixed_load_w") else 0.0
    if not (math.isfinite(fixed) and 0.0 <= fixed <= MAX_FIXED_LOAD_W):
        raise FormatError(
            f"tolerances.max_fixed_load_w: must be within 0 … {MAX_FIXED_LOAD_W:g} W, got {fixed}"
        )
    accuracy = msg.max_meter_accuracy if msg.HasField("max_meter_accuracy") else DEFAULT_MAX_METER_ACCURACY
    a_lo, a_hi = METER_ACCURACY_LIMITS
    if not (math.isfinite(accuracy) and a_lo <= accuracy <= a_hi):
        raise FormatError(f"tolerances.max_meter_accuracy: must be within {a_lo} … {a_hi}, got {accuracy}")
    return Tolerances(lo, hi, calibration, drift, fixed, accuracy)


_TOP_KEYS: Final = (
    "id",
    "version",
    "lab_id",
    "facilities",
    "all_facilities_of_lab",
    "description",
    "window",
    "rules",
    "reporting",
    "tolerances",
    "signatures_required",
)


def read_conditions(
    root: Table,
    msg: types_pb2.Commitment | types_pb2.Terms,
    *,
    reporting_extra: Sequence[str] = (),
) -> Table:
    """Read ``[window]``, ``[rules]``, ``[reporting]`` and ``[tolerances]`` into ``msg``: the
    conditions a commitment and multilateral terms (:mod:`pausewatch.terms`) state alike, with
    the same keys, units and defaults. Returns the ``[reporting]`` table (for the caller's own
    keys, ``reporting_extra``)."""
    window = root.table("window")
    window.only("start", "end")
    msg.window_start_unix_ns = window.date_time("start")
    msg.window_end_unix_ns = window.date_time("end")
    if msg.window_end_unix_ns <= msg.window_start_unix_ns:
        raise window.fail("end", "the window must end after it starts")
    rules = root.section("rules")
    rules.only("compute_cap_flop", "power_caps", "allowed_workloads")
    if "compute_cap_flop" in rules:
        cap = rules.number("compute_cap_flop")
        if cap < 0:
            raise rules.fail("compute_cap_flop", f"must not be negative, got {cap}")
        msg.rules.compute_cap_flop = cap
    for pc in rules.tables("power_caps"):
        pc.only("facility", "max_power_w")
        watts = pc.number("max_power_w")
        if watts <= 0:
            raise pc.fail("max_power_w", f"must be positive, got {watts}")
        msg.rules.power_caps.add(facility_id=pc.string("facility"), max_power_w=watts)
    for i, name in enumerate(rules.strings("allowed_workloads")):
        if name not in WORKLOAD_NAMES:
            problem = f"unknown class {name!r} (one of {', '.join(WORKLOAD_NAMES)})"
            raise root.doc.error((*rules.path, "allowed_workloads", i), problem)
        msg.rules.allowed_workloads.append(WORKLOAD_NAMES[name])  # type: ignore[arg-type]  # enum ints
    rep = root.section("reporting")
    rep.only(
        "max_report_interval_s",
        "max_gap_s",
        "min_inventory_coverage",
        "bucket_s",
        "timeout_intervals",
        "min_time_coverage",
        *reporting_extra,
    )
    for key, default in (
        ("max_report_interval_s", DEFAULT_MAX_REPORT_INTERVAL_S),
        ("max_gap_s", DEFAULT_MAX_GAP_S),
        ("bucket_s", DEFAULT_BUCKET_S),
    ):
        value = rep.number(key, float(default))
        if value < 0 or (key != "max_gap_s" and value == 0):
            raise rep.fail(key, f"must be positive, got {value}")
        setattr(msg.reporting, key[:-2] + "_ns", round(value * NS_PER_S))
    msg.reporting.min_inventory_coverage = rep.number("min_inventory_coverage", 1.0)
    timeouts = rep.integer("timeout_intervals", DEFAULT_TIMEOUT_INTERVALS)
    if timeouts < 1:
        raise rep.fail("timeout_intervals", "must be at least 1")
    msg.reporting.timeout_intervals = timeouts
    if "min_time_coverage" in rep:
        msg.reporting.min_time_coverage = rep.number("min_time_coverage")
    tol = root.section("tolerances")
    tol.only(
        "overhead_min_ratio",
        "overhead_max_ratio",
        "calibration_s",
        "max_overhead_drift",
        "max_fixed_load_w",
        "max_meter_accuracy",
    )
    for key in (
        "overhead_min_ratio",
        "overhead_max_ratio",
        "max_overhead_drift",
        "max_fixed_load_w",
        "max_meter_accuracy",
    ):
        if key in tol:
            setattr(msg.tolerances, key, tol.number(key))
    if "calibration_s" in tol:
        seconds = tol.number("calibration_s")
        if seconds <= 0:
            raise tol.fail("calibration_s", f"must be positive, got {seconds}")
        msg.tolerances.calibration_ns = round(seconds * NS_PER_S)
    return rep


def commitment_from_toml(text: str, source_name: str) -> types_pb2.Commitment:
    """Parse the TOML authoring format into a wire Commitment, validated by ``from_wire``."""
    doc = Document.parse(text, source_name)
    root = doc.root
    root.only(*_TOP_KEYS)
    msg = types_pb2.Commitment(
        commitment_id=root.string("id"),
        lab_id=root.string("lab_id"),
        description=root.string("description", ""),
        all_facilities_of_lab=root.boolean("all_facilities_of_lab", False),
    )
    version = root.integer("version")
    if version < 1:
        raise root.fail("version", "must be at least 1")
    msg.version = version
    msg.facility_ids.extend(root.strings("facilities"))
    rep = read_conditions(root, msg, reporting_extra=("signatures_required",))
    if "signatures_required" in rep and "signatures_required" in root:
        raise rep.fail("signatures_required", "given twice (top level and [reporting])")
    source = rep if "signatures_required" in rep else root
    k = source.integer("signatures_required", 1)
    if k < 1:
        raise source.fail("signatures_required", "must be at least 1")
    msg.signatures_required = k
    try:
        Commitment.from_wire(msg)
    except FormatError as e:
        raise located(doc, e) from e
    return msg
