"""Re-running the evaluation for every logged verdict and comparing the results.

The verifier evaluates with :mod:`pausewatch.evaluation`; the auditor calls the very same
``Evaluator`` on the inputs each verdict says it read: the commitment version it names, the
latest inventory of each facility in scope logged before ``evaluated_log_size``, every report
of those facilities logged before it (signatures already verified by the entry pass), and the
ingest findings re-derived from the log (chains with ``derive_ingest_findings``, challenges
with the freshness rule). ``compare_verdicts`` lists every difference; each is a failure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from pausewatch import bundle as bf
from pausewatch.audit.outcome import AuditOutcome
from pausewatch.commitment import Commitment
from pausewatch.envelope import PayloadType, envelope_digest, parse_envelope
from pausewatch.errors import InputError
from pausewatch.evaluation import Evaluator, compare_verdicts, derive_ingest_findings
from pausewatch.evaluation.inputs import BucketRef, EvaluationInput, IngestFinding, LoggedReport
from pausewatch.inventory import Inventory
from pausewatch.v1 import types_pb2

__all__ = ["reevaluate_verdicts"]

_REPORT_TYPES = (PayloadType.USAGE_REPORT, PayloadType.METER_REPORT)


def reevaluate_verdicts(
    directory: Path,
    *,
    verdicts: Sequence[tuple[int, bytes, types_pb2.Verdict]],
    commitments: Sequence[tuple[int, types_pb2.Commitment]],
    inventories: Sequence[tuple[int, types_pb2.Inventory]],
    freshness: Sequence[IngestFinding],
    out: AuditOutcome,
) -> None:
    """Re-evaluate each verdict; a difference or a verdict that cannot be re-run is a failure.
    ``verdicts`` are (log index, envelope bytes, message) of signature-verified verdicts."""
    if not verdicts:
        return
    horizon = max(v.evaluated_log_size for _, _, v in verdicts)
    reports = _load_reports(directory, horizon, out)
    chain_findings = derive_ingest_findings(reports)
    by_digest = {envelope_digest(raw): v for _, raw, v in verdicts}
    groups: dict[tuple[str, int, int], list[tuple[int, types_pb2.Verdict]]] = defaultdict(list)
    for index, _, v in verdicts:
        groups[(v.commitment_id, v.commitment_version, v.evaluated_log_size)].append((index, v))
    for (commitment_id, version, size), members in groups.items():
        subject = f"{commitment_id} v{version}"
        wire = next(
            (
                c
                for i, c in reversed(commitments)
                if i < size and c.commitment_id == commitment_id and c.version == version
            ),
            None,
        )
        if wire is None:
            for index, _ in members:
                out.fail(
                    "verdict.commitment", subject, "no such commitment version is logged before it", index
                )
            continue
        try:
            commitment = Commitment.from_wire(wire)
            latest: dict[str, Inventory] = {}
            for i, inv in inventories:
                if i < size:
                    latest[inv.facility_id] = Inventory.from_wire(inv)
            inputs = EvaluationInput(
                commitment=commitment,
                inventories=latest,
                reports=[r for r in reports if r.log_index < size],
                ingest_findings=sorted(
                    [f for f in (*chain_findings, *freshness) if f.log_index < size],
                    key=lambda f: (f.log_index, f.finding_id),
                ),
                evaluated_log_size=size,
            )
            evaluator = Evaluator(inputs)
        except InputError as e:
            for index, _ in members:
                out.fail("verdict.inputs", subject, f"cannot rebuild the evaluation inputs: {e}", index)
            continue
        for index, verdict in members:
            where = f"{commitment_id}/{verdict.facility_id or '*'}@{verdict.bucket_start_unix_ns}"
            if size > index:
                out.fail(
                    "verdict.prefix",
                    where,
                    f"claims to have read {size} entries but is logged at {index}",
                    index,
                )
                continue
            previous = None
            if verdict.supersedes:
                older = by_digest.get(verdict.supersedes)
                if older is None:
                    out.fail(
                        "verdict.supersedes", where, "supersedes a verdict that is not in the bundle", index
                    )
                    continue
                previous = older.evaluated_log_size
            bucket = BucketRef(
                verdict.facility_id, verdict.bucket_start_unix_ns, verdict.bucket_end_unix_ns, previous
            )
            try:
                recomputed = evaluator.verdict(bucket, verdict.evaluated_unix_ns)
            except InputError as e:
                out.fail("verdict.rerun", where, f"the evaluation could not run: {e}", index)
                continue
            diffs = compare_verdicts(verdict, recomputed)
            if diffs:
                out.fail(
                    "verdict.mismatch", where, "; ".join(diffs[:5]) + (" …" if len(diffs) > 5 else ""), index
                )
                _mark(out, verdict, matches=False)
            else:
                out.verdicts_matched += 1


def _mark(out: AuditOutcome, verdict: types_pb2.Verdict, *, matches: bool) -> None:
    series = out.series.get(verdict.facility_id or "*")
    if series is None:
        return
    for k, mark in enumerate(series.verdicts):
        if (mark.commitment_id, mark.start_ns) == (verdict.commitment_id, verdict.bucket_start_unix_ns):
            series.verdicts[k] = type(mark)(**{**mark.__dict__, "matches": matches})


def _load_reports(directory: Path, horizon: int, out: AuditOutcome) -> list[LoggedReport]:
    """Every report logged before ``horizon``: a second pass over entries.bin. Signatures and
    enrolment were verified by the entry pass; failures there already fail the audit."""
    reports: list[LoggedReport] = []
    try:
        with (directory / bf.ENTRIES_FILE).open("rb") as f:
            for record in bf.iter_entry_file(f):
                if record.index >= horizon:
                    break
                try:
                    env = parse_envelope(record.envelope)
                    if env.payload_type in _REPORT_TYPES:
                        reports.append(LoggedReport.from_verified(record.index, env))
                except InputError:
                    continue  # already a failure of the entry pass
    except (OSError, InputError) as e:
        out.fail("verdict.inputs", bf.ENTRIES_FILE, f"cannot read the reports: {e}")
    return reports
