"""Evaluation of pause commitments: from verified reports to verdicts, as pure functions.

The verifier runs these functions as buckets close; the auditor re-runs the very same ones
offline over an exported log and compares (``compare_verdicts``). A verdict is a pure function
of (commitment, inventories, the verified log entries with index < ``evaluated_log_size``, the
bucket, and — for ``continuity.late`` only — the log size of the verdict it supersedes). No
wall clock, dict order or summation order enters it: sums are ``math.fsum``, findings sorted.

Entry points: ``evaluate_bucket(inputs, bucket) -> Verdict`` (unsigned wire message; the
verifier signs it as ``PayloadType.VERDICT`` and logs it), ``Evaluator`` (the same, indexed
once, for many buckets), ``derive_ingest_findings(reports)`` (the chain findings of ingest,
re-derived from the log), ``compare_verdicts``.

Verdict rules. Each rule raises findings; severities decide:

- **COMPLIANT needs proof**: every declared accelerator and meter covered by valid reports for
  the whole bucket (no uncovered stretch over ``max_gap``), compute upper bound to date under
  the cap, metered power under the cap, metered energy within the declared overhead band of
  what the nodes report, every node's activity confidently not a forbidden class, and no
  WARNING or CRITICAL finding at all.
- **VIOLATION needs evidence** (a CRITICAL finding): ``workload.training`` (a forbidden class
  with training score ≥ 0.75 over ≥ 25 % of a node's covered time and ≥ 2 periods);
  ``compute.cap_exceeded`` (lower bound to date over the cap); ``power.cap_exceeded`` (metered,
  or the nodes' own reported, mean power over the cap); ``chain.fork`` / ``chain.rollback``
  (signed equivocation); ``energy.unexplained`` when metered energy exceeds what the overhead
  band allows for the reported energy *plus every silent node at 1.5 × its accelerators' board
  power* by ≥ 2 accelerator-equivalents (at the largest declared board power) and ≥ 5 % of the
  metered energy — energy that no signed report and no silence can explain is evidence of
  undeclared or misreported compute.
- **INCONCLUSIVE** otherwise, with the reason naming the WARNING ids.

Finding ids (``FindingId``) and when each fires:

- ``continuity.gap`` W: a node, device or meter uncovered for longer than ``max_gap`` (or a
  report period longer than ``max_report_interval``). ``continuity.timeout`` W: silent for
  ≥ ``timeout_intervals`` × ``max_report_interval`` up to the bucket's end. (Both INFO when the
  commitment's ``min_inventory_coverage`` < 1 tolerates them; uncovered time still counts at
  peak in the upper bound.) ``continuity.late`` I: logged after the bucket's previous verdict,
  or signed more than one interval after its period.
- ``chain.fork`` / ``chain.rollback`` C; ``chain.gap`` W (I once every skipped seq is logged);
  ``chain.new_boot``, ``chain.backfill`` I; ``freshness.*`` W (from ingest).
- ``compute.cap_exceeded`` C; ``compute.cap_at_risk`` W (upper over the cap, lower under);
  ``compute.unknown_model`` I (no peak figures: the table's largest is used).
- ``power.cap_exceeded`` C; ``power.cap_unverifiable`` W (no meter covers the bucket).
- ``workload.training`` C where forbidden (I where allowed); ``workload.inference`` I where
  allowed, C where forbidden and persistent; ``workload.low_confidence`` W: activity that can
  be neither proven nor shown to be a forbidden class.
- ``energy.unexplained`` C/W as above (W also when nodes claim more than was metered);
  ``energy.balance_unverifiable`` W: no meter, or meters that do not cover the bucket.
- ``inventory.missing`` W: a declared accelerator absent from its node's reports (or no
  inventory at all); ``inventory.unknown_device`` W: an undeclared accelerator, attestor or
  meter key; ``inventory.wrong_location`` W: a key reporting as another node or facility.
- ``plausibility.power_activity`` W: power that contradicts the reported activity (or energy
  that contradicts mean power, or a BMC below its GPUs); ``plausibility.counter_backwards`` W.
- ``telemetry.invalid`` W: values the source flagged (NaN, negative, out of range, source
  error, vanished metric) — never evidence of compliance; the device counts as uncovered and
  fully active.

W = WARNING, C = CRITICAL, I = INFO.
"""

from pausewatch.evaluation.findings import ALL_FINDING_IDS, Finding, FindingId, Quantity, status_of
from pausewatch.evaluation.ingest import derive_ingest_findings
from pausewatch.evaluation.inputs import BucketRef, EvaluationInput, IngestFinding, LoggedReport
from pausewatch.evaluation.verdict import Evaluator, commitment_scope, compare_verdicts, evaluate_bucket

__all__ = [
    "ALL_FINDING_IDS",
    "BucketRef",
    "EvaluationInput",
    "Evaluator",
    "Finding",
    "FindingId",
    "IngestFinding",
    "LoggedReport",
    "Quantity",
    "commitment_scope",
    "compare_verdicts",
    "derive_ingest_findings",
    "evaluate_bucket",
    "status_of",
]
