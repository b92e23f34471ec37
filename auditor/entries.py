"""Checking one contiguous chunk of log entries: the work the auditor spreads over all cores.

A worker process gets the small tables once (:class:`EntryContext`: enrolled keys per
inventory, logged challenges, the tree to prove slices against) and then chunks as byte
ranges of ``entries.bin`` that it reads itself, so only offsets cross the process boundary
on the way in and compact results on the way out. For each entry it computes the Merkle leaf
hash, checks the envelope's structure, verifies a report's signature under the key that the
latest inventory logged *before it* enrols for its facility and node (or meter), decodes it,
and checks that its challenge was logged before it and was fresh when it signed.
Non-report entries (inventories, commitments, challenges, verdicts) are only hashed and
typed here: the main process verifies them from their own files and then checks that those
files hold exactly the log's entries of that type.

Everything here is pure given its inputs except :func:`check_chunk_file`, which reads the
byte range it is told to.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from auditor.outcome import AuditFailure, Observation
from pausewatch import bundle as bf
from pausewatch import merkle
from pausewatch.bundle import EntryRecord, ProofRecord, decode_entry_records, decode_proof_records
from pausewatch.envelope import ParsedEnvelope, pae, parse_envelope
from pausewatch.errors import InputError, InternalError
from pausewatch.evaluation.inputs import IngestFinding, LoggedReport
from pausewatch.freshness import ChallengeHistory, assess_freshness
from pausewatch.keys import Ed25519Key
from pausewatch.reports import REPORT_PAYLOAD_TYPES, Report, ReportHeader, decode_report, report_key_id
from pausewatch.v1 import types_pb2

__all__ = [
    "ChunkResult",
    "ChunkTask",
    "DocumentEntry",
    "EntryContext",
    "InventoryKeys",
    "ReportLink",
    "check_chunk",
    "check_chunk_file",
]

NS_PER_MINUTE = 60 * 1_000_000_000


@dataclass(frozen=True)
class InventoryKeys:
    """What one logged inventory version enrols: key id -> (kind, node or meter id, raw key)."""

    log_index: int
    facility_id: str
    keys: Mapping[str, tuple[str, str, bytes]]


@dataclass(frozen=True)
class EntryContext:
    """The tables every worker needs, built by the main process from verified side files."""

    inventories: Mapping[str, Sequence[InventoryKeys]]  # facility -> versions in log order
    challenges: ChallengeHistory  # logged challenges in log order
    max_clock_skew_ns: int
    all_keys: Mapping[str, bytes]  # key id -> raw key, every inventory
    slice_tree: tuple[int, bytes] | None = None  # (size, root) proofs must reach
    # key id -> its verifier, built once per key and worker (a key is checked on the curve
    # when built: ~1.7 µs, per entry otherwise); never compared, filled as entries come
    _verifiers: dict[str, Ed25519Key] = field(default_factory=dict, compare=False, repr=False)

    def verifier(self, key_id: str) -> Ed25519Key:
        """The enrolled key ``key_id`` names (in ``all_keys``); FormatError if not a valid key."""
        key = self._verifiers.get(key_id)
        if key is None:
            key = self._verifiers[key_id] = Ed25519Key(self.all_keys[key_id])
        return key

    def enrolment(self, facility_id: str, index: int) -> InventoryKeys | None:
        """The latest inventory of ``facility_id`` logged before ``index``."""
        versions = self.inventories.get(facility_id, ())
        pos = bisect.bisect_left([v.log_index for v in versions], index)
        return versions[pos - 1] if pos else None


@dataclass(frozen=True)
class ChunkTask:
    """A chunk: ``count`` entries at bytes ``[start, end)`` of the entry file, the first at
    position ``position`` in the bundle; ``cuts`` are tree sizes whose root this chunk must
    also report (full bundles); ``proofs`` the matching byte range of the inclusion file."""

    entries_path: str
    start: int
    end: int
    position: int
    count: int
    cuts: tuple[int, ...] = ()
    proofs_path: str | None = None
    proofs_range: tuple[int, int] = (0, 0)
    reports_below: int = 0  # decoded reports with a smaller index go back for re-evaluation


@dataclass(frozen=True)
class ReportLink:
    """The compact form of a verified report the main process replays chains with."""

    index: int
    kind: str  # ReportKind value: "usage" | "meter" | "accounting"
    key_id: str
    facility_id: str
    subject_id: str
    seq: int
    boot_id: bytes
    prev: bytes
    digest: bytes
    period_start_ns: int
    period_end_ns: int


class DocumentEntry(NamedTuple):
    """A logged entry that is no report: the main process checks its type's file holds it."""

    log_index: int
    type_name: str
    digest: bytes


@dataclass
class ChunkResult:
    position: int
    count: int
    first_index: int = -1
    last_index: int = -1
    root: bytes = b""
    cut_roots: list[tuple[int, bytes]] = field(default_factory=list)
    links: list[ReportLink] = field(default_factory=list)
    others: list[DocumentEntry] = field(default_factory=list)
    failures: list[AuditFailure] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    freshness: list[IngestFinding] = field(default_factory=list)
    # the reports the re-evaluation reads (ChunkTask.reports_below), decoded once, here
    reports: list[LoggedReport] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    series: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    # per facility: [earliest period start, latest period end]; reports per period length;
    # reported accelerator-seconds per (facility, node)
    extents: dict[str, list[int]] = field(default_factory=dict)
    periods: dict[tuple[str, int], int] = field(default_factory=dict)
    node_seconds: dict[tuple[str, str], float] = field(default_factory=dict)


def check_chunk_file(task: ChunkTask, context: EntryContext) -> ChunkResult:
    """Read the chunk's bytes and check them (runs in a worker process)."""
    with open(task.entries_path, "rb") as f:
        f.seek(task.start)
        data = f.read(task.end - task.start)
    proofs: list[ProofRecord] | None = None
    if task.proofs_path is not None:
        a, b = task.proofs_range
        with open(task.proofs_path, "rb") as f:
            f.seek(a)
            proofs = decode_proof_records(f.read(b - a), name="inclusion.bin")
    records = list(decode_entry_records(data))
    return check_chunk(records, task.position, task.cuts, context, proofs, reports_below=task.reports_below)


def check_chunk(
    records: Sequence[EntryRecord],
    position: int,
    cuts: Iterable[int],
    context: EntryContext,
    proofs: Sequence[ProofRecord] | None = None,
    *,
    reports_below: int = 0,
) -> ChunkResult:
    """Check ``records`` (bundle positions ``position``..); pure. Reports with an index below
    ``reports_below`` come back decoded in ``ChunkResult.reports``."""
    result = ChunkResult(position=position, count=len(records))
    leaves: list[bytes] = []
    for k, record in enumerate(records):
        index = record.index
        if k == 0:
            result.first_index = index
        elif index <= result.last_index:
            problem = f"index {index} follows {result.last_index}"
            result.failures.append(AuditFailure("entries.order", "entries.bin", problem, index))
        result.last_index = index
        leaf = merkle.leaf_hash(record.envelope)
        leaves.append(leaf)
        if proofs is not None:
            _check_inclusion(result, record, leaf, proofs[k] if k < len(proofs) else None, context)
        _check_entry(result, record, context, reports_below)
    if context.slice_tree is None and leaves:
        result.root, result.cut_roots = _roots(leaves, position, sorted(cuts))
    return result


def _check_inclusion(
    result: ChunkResult, record: EntryRecord, leaf: bytes, proof: ProofRecord | None, context: EntryContext
) -> None:
    if context.slice_tree is None:
        raise InternalError("inclusion checked on a bundle that is not a slice")
    size, root = context.slice_tree
    if proof is None:
        missing = AuditFailure("proof.missing", "inclusion.bin", "no inclusion proof", record.index)
        result.failures.append(missing)
        return
    if proof.a != record.index or proof.b != size:
        result.failures.append(
            AuditFailure(
                "proof.mismatch",
                "inclusion.bin",
                f"proof is for leaf {proof.a} of {proof.b}, not leaf {record.index} of {size}",
                record.index,
            )
        )
        return
    try:
        merkle.verify_inclusion(leaf, record.index, size, proof.hashes, root)
    except InputError as e:
        result.failures.append(AuditFailure("proof.inclusion", "entries.bin", str(e), record.index))


def _check_entry(result: ChunkResult, record: EntryRecord, context: EntryContext, reports_below: int) -> None:
    index = record.index
    try:
        envelope = parse_envelope(record.envelope)
    except InputError as e:
        result.failures.append(AuditFailure("entry.format", "entries.bin", str(e), index))
        return
    type_name = bf.COUNT_NAME[envelope.payload_type]
    result.counts[type_name] = result.counts.get(type_name, 0) + 1
    digest = hashlib.sha256(record.envelope).digest()
    if envelope.payload_type not in REPORT_PAYLOAD_TYPES:
        result.others.append(DocumentEntry(index, type_name, digest))
        return
    # The signer is the one key the report's one signature names (refused before any check
    # when it carries more: the verifier's rule, pausewatch.reports.report_key_id), among keys
    # that some logged, lab-signed inventory enrols, and it is verified under that enrolled
    # key (never a key from the wire); whether it was enrolled *here and then* is checked
    # after decoding.
    keep = index < reports_below
    try:
        hint = report_key_id(envelope)
    except InputError as e:
        result.failures.append(AuditFailure("entry.payload", "entries.bin", str(e), index))
        _keep_failed(result, index, envelope, keep)
        return
    if hint not in context.all_keys:
        _keep_failed(result, index, envelope, keep)
        result.failures.append(
            AuditFailure(
                "signature.unknown_key",
                "entries.bin",
                "the report is signed by no key that any logged inventory enrols",
                index,
            )
        )
        return
    signer: str | None = hint
    try:
        context.verifier(hint).verify(envelope.signatures[0][1], pae(envelope.payload_type, envelope.payload))
    except InputError:
        signer = None
    if signer is None:
        problem = "report signature does not verify"
        result.failures.append(AuditFailure("signature.report", "entries.bin", problem, index))
        _keep_failed(result, index, envelope, keep)
        return
    try:
        header, message_pb = decode_report(envelope)
    except InputError as e:
        result.failures.append(AuditFailure("entry.payload", "entries.bin", str(e), index))
        return
    if keep:  # decoded once, here: the re-evaluation reads this very object
        result.reports.append(_logged(index, envelope, header, message_pb))
    subject = f"{header.facility_id}/{header.subject_id}"
    if header.key_id != signer:
        result.failures.append(
            AuditFailure(
                "signature.key_id",
                subject,
                "the report names another key than the one that signed it",
                index,
            )
        )
        return
    inventory = context.enrolment(header.facility_id, index)
    enrolled = inventory.keys.get(signer) if inventory is not None else None
    kind = header.kind.value
    noun = header.kind.subject_prefix[:-1]  # node, meter, scheduler
    if inventory is None or enrolled is None or enrolled[0] != kind or enrolled[1] != header.subject_id:
        result.failures.append(
            AuditFailure(
                "enrolment",
                subject,
                f"key {signer[:16]} is not enrolled for this {noun} by the"
                " latest inventory of the facility logged before the report",
                index,
            )
        )
        return
    for issue in assess_freshness(header, index, context.challenges, context.max_clock_skew_ns):
        result.observations.append(Observation(issue.finding_id, subject, index, issue.message))
        result.freshness.append(
            IngestFinding(
                issue.finding_id,
                index,
                signer,
                header.facility_id,
                header.kind.subject_prefix + header.subject_id,
                header.period_start_ns,
                header.period_end_ns,
                issue.message,
            )
        )
    result.links.append(
        ReportLink(
            index,
            kind,
            signer,
            header.facility_id,
            header.subject_id,
            header.seq,
            header.boot_id,
            header.prev,
            digest,
            header.period_start_ns,
            header.period_end_ns,
        )
    )
    if not isinstance(message_pb, types_pb2.AccountingReport):  # jobs add nothing to the energy series
        _accumulate(result, header.facility_id, header.subject_id, message_pb)


def _logged(index: int, envelope: ParsedEnvelope, header: ReportHeader, message: Report) -> LoggedReport:
    if isinstance(message, types_pb2.UsageReport):
        return LoggedReport(index, envelope.raw, header, usage=message)
    if isinstance(message, types_pb2.AccountingReport):
        return LoggedReport(index, envelope.raw, header, accounting=message)
    assert isinstance(message, types_pb2.MeterReport)  # noqa: S101  # decode_report's three kinds
    return LoggedReport(index, envelope.raw, header, meter=message)


def _keep_failed(result: ChunkResult, index: int, envelope: ParsedEnvelope, keep: bool) -> None:
    """A report that failed its signature checks still goes to the re-evaluation when it
    decodes (the audit has failed already; the verifier evaluated with it)."""
    if keep:
        with contextlib.suppress(InputError):
            result.reports.append(LoggedReport.from_verified(index, envelope))


def _accumulate(
    result: ChunkResult,
    facility_id: str,
    subject_id: str,
    report: types_pb2.UsageReport | types_pb2.MeterReport,
) -> None:
    """Add one report to the facility's minute series, spread over the minutes its own period
    covers in proportion to the overlap (the quantities are taken as uniform over the period)."""
    start, end = report.period_start_unix_ns, report.period_end_unix_ns
    if end <= start:
        return
    extent = result.extents.get(facility_id)
    if extent is None:
        result.extents[facility_id] = [start, end]
    else:
        extent[0], extent[1] = min(extent[0], start), max(extent[1], end)
    key = (facility_id, end - start)
    result.periods[key] = result.periods.get(key, 0) + 1
    values = [0.0, 0.0, 0.0, 0.0]
    if isinstance(report, types_pb2.MeterReport):
        if report.HasField("energy_j"):
            values[1] = report.energy_j
    else:
        period_s = (end - start) / 1e9
        for acc in report.accelerators:
            if acc.HasField("energy_j"):
                values[0] += acc.energy_j
            values[2] += period_s
            if acc.HasField("tensor_active"):
                values[3] += acc.tensor_active * period_s
        node = (facility_id, subject_id)
        result.node_seconds[node] = result.node_seconds.get(node, 0.0) + values[2]
    span = end - start
    minute = start - start % NS_PER_MINUTE
    first = True
    while minute < end:
        share = (min(end, minute + NS_PER_MINUTE) - max(start, minute)) / span
        point = result.series.get((facility_id, minute))
        if point is None:
            point = result.series[(facility_id, minute)] = [0.0, 0.0, 0.0, 0.0, 0.0]
        for k in range(4):
            point[k] += values[k] * share
        if first:  # a report counts once, in the minute its period starts
            point[4] += 1
            first = False
        minute += NS_PER_MINUTE


def _roots(
    leaves: Sequence[bytes], position: int, cuts: Sequence[int]
) -> tuple[bytes, list[tuple[int, bytes]]]:
    """MTH of the chunk's leaves, and of each prefix ending at a cut, in one pass.

    A stack of complete subtrees merges as leaves arrive (O(n) hashes); a prefix root folds
    the stack right to left (O(log n) per cut), as RFC 9162's MTH decomposes a range.
    """
    stack = merkle.SubtreeStack()
    out: list[tuple[int, bytes]] = []
    wanted = iter(cuts)
    cut = next(wanted, None)
    for n, h in enumerate(leaves, 1):
        stack.push(1, h)
        while cut is not None and cut - position == n:
            out.append((cut, stack.root()))
            cut = next(wanted, None)
    return stack.root(), out
