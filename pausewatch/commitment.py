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

Hard limits: at most ``MAX_FACILITIES`` facilities and power caps; bucket between 60 s and 31
days; ``max_gap_s`` ≥ 0; intervals positive; caps non-negative and finite.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pausewatch.envelope import ParsedEnvelope, PayloadType, parse_envelope, verify_threshold
from pausewatch.errors import FormatError, LimitExceededError
from pausewatch.keys import PublicKey
from pausewatch.reports import check_id
from pausewatch.v1 import types_pb2

__all__ = [
    "DEFAULT_BUCKET_S",
    "DEFAULT_MAX_GAP_S",
    "DEFAULT_MAX_REPORT_INTERVAL_S",
    "DEFAULT_TIMEOUT_INTERVALS",
    "MAX_FACILITIES",
    "WORKLOAD_NAMES",
    "Commitment",
    "PowerCapRule",
    "Reporting",
    "TomlDocument",
    "commitment_from_toml",
    "verify_commitment",
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

WORKLOAD_NAMES: Final[Mapping[str, int]] = {
    "idle": types_pb2.WORKLOAD_CLASS_IDLE,
    "inference": types_pb2.WORKLOAD_CLASS_INFERENCE,
    "training": types_pb2.WORKLOAD_CLASS_TRAINING,
}


class TomlDocument:
    """A parsed TOML document that reports errors with the file name and the key's line."""

    def __init__(self, text: str, source_name: str) -> None:
        self.text = text
        self.source = source_name
        try:
            self.root: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise FormatError(f"{source_name}: not valid TOML: {e}") from e

    def _line(self, path: str) -> int | None:
        key = path.rsplit(".", 1)[-1].split("[", 1)[0]
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=", re.MULTILINE)
        m = pattern.search(self.text)
        if m is None:
            header = re.compile(rf"^\s*\[+\s*{re.escape(path.split('[', 1)[0])}\s*\]+", re.MULTILINE)
            m = header.search(self.text)
        return None if m is None else self.text.count("\n", 0, m.start()) + 1

    def error(self, path: str, problem: str) -> FormatError:
        line = self._line(path)
        where = f"{self.source}:{line}" if line is not None else self.source
        return FormatError(f"{where}: {path}: {problem}")

    def reject_unknown(self, table: Mapping[str, Any], allowed: Iterable[str], path: str) -> None:
        extra = sorted(set(table) - set(allowed))
        if extra:
            where = f"{path}." if path else ""
            raise self.error(f"{where}{extra[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def table(self, parent: Mapping[str, Any], key: str, path: str, *, required: bool) -> dict[str, Any]:
        value = parent.get(key)
        if value is None:
            if required:
                raise self.error(path, "missing table")
            return {}
        if not isinstance(value, dict):
            raise self.error(path, "must be a table")
        return value

    def string(self, table: Mapping[str, Any], key: str, path: str, *, default: str | None = None) -> str:
        value = table.get(key, default)
        if value is None:
            raise self.error(path, "missing")
        if not isinstance(value, str):
            raise self.error(path, f"must be a string, got {type(value).__name__}")
        return value

    def integer(self, table: Mapping[str, Any], key: str, path: str, *, default: int | None = None) -> int:
        value = table.get(key, default)
        if value is None:
            raise self.error(path, "missing")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"must be an integer, got {type(value).__name__}")
        return value

    def number(self, table: Mapping[str, Any], key: str, path: str, *, default: float | None = None) -> float:
        value = table.get(key, default)
        if value is None:
            raise self.error(path, "missing")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(path, f"must be a number, got {type(value).__name__}")
        result = float(value)
        if not math.isfinite(result):
            raise self.error(path, f"must be finite, got {value}")
        return result

    def boolean(self, table: Mapping[str, Any], key: str, path: str, *, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.error(path, f"must be true or false, got {type(value).__name__}")
        return value

    def strings(self, table: Mapping[str, Any], key: str, path: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(path, "must be a list of strings")
        return list(value)

    def tables(self, table: Mapping[str, Any], key: str, path: str) -> list[dict[str, Any]]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(path, "must be an array of tables ([[...]])")
        return list(value)

    def time_ns(self, table: Mapping[str, Any], key: str, path: str) -> int:
        """An RFC 3339 instant with an explicit offset (TOML datetime or string) → unix ns."""
        value = table.get(key)
        if value is None:
            raise self.error(path, "missing")
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as e:
                raise self.error(path, f"not an RFC 3339 time: {value!r}") from e
        if not isinstance(value, dt.datetime):
            raise self.error(path, "must be an RFC 3339 date-time, e.g. 2026-01-01T00:00:00Z")
        if value.tzinfo is None:
            raise self.error(path, "needs an explicit offset (Z or +hh:mm): local times are ambiguous")
        delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000

    def public_key(self, table: Mapping[str, Any], key: str, path: str) -> bytes:
        """A raw 32-byte Ed25519 public key written as 64 hex digits or base64."""
        text = self.string(table, key, path).strip()
        try:
            raw = (
                bytes.fromhex(text)
                if re.fullmatch(r"[0-9a-fA-F]{64}", text)
                else base64.b64decode(text, validate=True)
            )
        except (binascii.Error, ValueError) as e:
            raise self.error(path, "must be 64 hex digits or base64 of a raw Ed25519 key") from e
        if len(raw) != 32:
            raise self.error(path, f"an Ed25519 public key is 32 bytes, got {len(raw)}")
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


@dataclass(frozen=True)
class Commitment:
    """A validated commitment. Build with ``from_wire`` (or ``verify_commitment``)."""

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
            ),
            signatures_required=k,
            description=msg.description,
            wire=copy,
        )


def verify_commitment(envelope_bytes: bytes, lab_keys: Sequence[PublicKey]) -> Commitment:
    """Verify a signed commitment against the lab's keys and return it validated.

    At least one lab signature is verified before the payload is parsed; then the threshold the
    commitment itself asks for (``signatures_required``, k distinct lab keys) is enforced.
    """
    envelope: ParsedEnvelope = parse_envelope(envelope_bytes)
    if envelope.payload_type != PayloadType.COMMITMENT:
        raise FormatError(f"payload type {envelope.payload_type!r} is not a commitment")
    verify_threshold(envelope, lab_keys, 1)
    msg = envelope.decode_payload()
    if not isinstance(msg, types_pb2.Commitment):
        raise FormatError("payload is not a Commitment")
    commitment = Commitment.from_wire(msg)
    verify_threshold(envelope, lab_keys, commitment.signatures_required)
    return commitment


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
    "signatures_required",
)


def commitment_from_toml(text: str, source_name: str) -> types_pb2.Commitment:
    """Parse the TOML authoring format into a wire Commitment, validated by ``from_wire``."""
    doc = TomlDocument(text, source_name)
    root = doc.root
    doc.reject_unknown(root, _TOP_KEYS, "")
    msg = types_pb2.Commitment(
        commitment_id=doc.string(root, "id", "id"),
        lab_id=doc.string(root, "lab_id", "lab_id"),
        description=doc.string(root, "description", "description", default=""),
        all_facilities_of_lab=doc.boolean(
            root, "all_facilities_of_lab", "all_facilities_of_lab", default=False
        ),
    )
    version = doc.integer(root, "version", "version")
    if version < 1:
        raise doc.error("version", "must be at least 1")
    msg.version = version
    msg.facility_ids.extend(doc.strings(root, "facilities", "facilities"))
    window = doc.table(root, "window", "window", required=True)
    doc.reject_unknown(window, ("start", "end"), "window")
    msg.window_start_unix_ns = doc.time_ns(window, "start", "window.start")
    msg.window_end_unix_ns = doc.time_ns(window, "end", "window.end")
    if msg.window_end_unix_ns <= msg.window_start_unix_ns:
        raise doc.error("window.end", "the window must end after it starts")
    rules = doc.table(root, "rules", "rules", required=False)
    doc.reject_unknown(rules, ("compute_cap_flop", "power_caps", "allowed_workloads"), "rules")
    if "compute_cap_flop" in rules:
        cap = doc.number(rules, "compute_cap_flop", "rules.compute_cap_flop")
        if cap < 0:
            raise doc.error("rules.compute_cap_flop", f"must not be negative, got {cap}")
        msg.rules.compute_cap_flop = cap
    for i, pc in enumerate(doc.tables(rules, "power_caps", "rules.power_caps")):
        path = f"rules.power_caps[{i}]"
        doc.reject_unknown(pc, ("facility", "max_power_w"), path)
        watts = doc.number(pc, "max_power_w", f"{path}.max_power_w")
        if watts <= 0:
            raise doc.error(f"{path}.max_power_w", f"must be positive, got {watts}")
        msg.rules.power_caps.add(
            facility_id=doc.string(pc, "facility", f"{path}.facility"), max_power_w=watts
        )
    for i, name in enumerate(doc.strings(rules, "allowed_workloads", "rules.allowed_workloads")):
        if name not in WORKLOAD_NAMES:
            raise doc.error(
                f"rules.allowed_workloads[{i}]",
                f"unknown class {name!r} (one of {', '.join(WORKLOAD_NAMES)})",
            )
        msg.rules.allowed_workloads.append(WORKLOAD_NAMES[name])  # type: ignore[arg-type]  # enum ints
    rep = doc.table(root, "reporting", "reporting", required=False)
    doc.reject_unknown(
        rep,
        (
            "max_report_interval_s",
            "max_gap_s",
            "min_inventory_coverage",
            "bucket_s",
            "timeout_intervals",
            "signatures_required",
        ),
        "reporting",
    )
    for key, default in (
        ("max_report_interval_s", DEFAULT_MAX_REPORT_INTERVAL_S),
        ("max_gap_s", DEFAULT_MAX_GAP_S),
        ("bucket_s", DEFAULT_BUCKET_S),
    ):
        value = doc.number(rep, key, f"reporting.{key}", default=float(default))
        if value < 0 or (key != "max_gap_s" and value == 0):
            raise doc.error(f"reporting.{key}", f"must be positive, got {value}")
        setattr(msg.reporting, key[:-2] + "_ns", round(value * NS_PER_S))
    msg.reporting.min_inventory_coverage = doc.number(
        rep, "min_inventory_coverage", "reporting.min_inventory_coverage", default=1.0
    )
    timeouts = doc.integer(
        rep, "timeout_intervals", "reporting.timeout_intervals", default=DEFAULT_TIMEOUT_INTERVALS
    )
    if timeouts < 1:
        raise doc.error("reporting.timeout_intervals", "must be at least 1")
    msg.reporting.timeout_intervals = timeouts
    if "signatures_required" in rep and "signatures_required" in root:
        raise doc.error("reporting.signatures_required", "given twice (top level and [reporting])")
    source = rep if "signatures_required" in rep else root
    k = doc.integer(source, "signatures_required", "signatures_required", default=1)
    if k < 1:
        raise doc.error("signatures_required", "must be at least 1")
    msg.signatures_required = k
    try:
        Commitment.from_wire(msg)
    except FormatError as e:
        raise FormatError(f"{source_name}: {e}") from e
    return msg
