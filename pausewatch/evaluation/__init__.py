"""Evaluation of pause commitments: from verified reports to verdicts, as pure functions.

The verifier runs these functions as buckets close; the auditor re-runs the very same ones
offline over an exported log and compares (``compare_verdicts``). A verdict is a pure function
of (commitment, inventories, the verified log entries with index < ``evaluated_log_size``, the
bucket, and — for ``continuity.late`` only — the log size of the verdict it supersedes). No
wall clock, dict order or summation order enters it: sums are ``math.fsum``, findings sorted.

Entry points: ``evaluate_bucket(inputs, bucket) -> Verdict`` (unsigned wire message; the
verifier signs it as ``PayloadType.VERDICT`` and logs it), ``Evaluator`` (the same, indexed
once, for many buckets), ``commitment_scope`` (the verdicts one bucket gets: each facility's and,
for a commitment over two or more facilities, the commitment-level one, facility ``""``),
``derive_ingest_findings(reports)`` (the chain findings of ingest, re-derived from the log),
``compare_verdicts``.

A bucket's verdict reads its own reports and, to see across its edges, the reports just before
it: a gap at its start is measured from the node's last report before it; the classifier sees a
node's periods of the last ``HISTORY_S`` (evidence from the last ``CONTEXT_S`` and a job's
stalls ``EARLIER_S`` before it, a training job's carry over ``JOB_CARRY_S``); training labels
are counted over windows that reach into the previous bucket; each meter scope's ratio
baseline is folded bucket by bucket from the calibration start
(``pausewatch.evaluation.evidence``). Everything stays a function of the log prefix.

Verdict rules. Each rule raises findings; severities decide:

- **COMPLIANT needs proof**: every declared accelerator and meter covered by valid reports for
  at least ``min_time_coverage`` of the bucket (every gap summed, however short) and with no
  single gap over ``max_gap``; compute upper bound to date under the cap; metered power under
  the cap; in every meter scope, metered energy less its declared fixed load within the
  overhead band in force (the inventory's band and fixed load cut to the commitment's
  ``tolerances``) of what the nodes report, no step or
  drift of the scope's calibrated ratio, redundant meters agreeing; every node period with
  positive evidence of an allowed class (``idle``/``inference`` labels); and no WARNING or
  CRITICAL finding at all.
- **VIOLATION needs evidence** (a CRITICAL finding): ``workload.training`` (``training``
  labels in a bucket-long window more than the classifier's false-label rate explains, per node,
  per facility or per commitment: ``evidence.min_training_periods``); ``compute.cap_exceeded``
  (lower bound to date over the cap); ``power.cap_exceeded``; ``chain.fork`` /
  ``chain.rollback``; ``energy.unexplained`` when even every silent node at
  ``SILENT_NODE_FACTOR`` × its board power cannot explain the lowest redundant meter reading, by
  ``Z_VIOLATION`` σ of the balance and at least one accelerator at board power
  (``bucket.balance_decision``), and not because the ratio drifted there slowly.
- **INCONCLUSIVE** otherwise, with the reason naming the WARNING ids.

Finding ids (``FindingId``) and when each fires:

- ``continuity.gap`` W: a node, device or meter uncovered for longer than ``max_gap`` (measured
  across the bucket's start), or a report period longer than ``max_report_interval``.
  ``continuity.timeout`` W: silent for ≥ ``timeout_intervals`` × ``max_report_interval`` up to
  the bucket's end. ``continuity.coverage`` W: covered less than ``min_time_coverage`` of the
  bucket, gaps summed. (These three are INFO when the commitment's ``min_inventory_coverage``
  < 1 tolerates the devices *and* a meter proves the silent hardware drew no more than idle
  boards: ``balance.proven_quiet``;
  uncovered time still counts at peak in the upper bound.) ``continuity.late`` I: logged after
  the bucket's previous verdict, or signed more than one interval after its period.
- ``chain.fork`` / ``chain.rollback`` C; ``chain.gap`` W (I once every skipped seq is logged);
  ``chain.new_boot``, ``chain.backfill`` I; ``freshness.*`` W (from ingest).
- ``compute.cap_exceeded`` C; ``compute.cap_at_risk`` W (upper over the cap, lower under);
  ``compute.unknown_model`` W (no peak figures: the table's largest stand in, which need not
  bound a newer part, and no board to judge its quiet against; INFO before rules/9).
- ``power.cap_exceeded`` C (the lowest facility reading less its accuracy class over the cap,
  or the reports over it where the meters do not prove it kept, and in either case still over
  it read past the bucket's edges: ``folds.balance.past_edges``);
  ``power.cap_unverifiable`` W (no meter covers the bucket, the reading is within its accuracy
  of the cap, or over it only with an edge counted).
- ``workload.training`` C where forbidden and significant, W where forbidden and not (yet)
  significant, I where allowed; ``workload.inference`` I where allowed, C where forbidden and
  persistent; ``workload.low_confidence`` W: active periods labelled ``uncertain`` or
  ``other`` — no positive evidence of an allowed class (I when each stands alone between proven
  periods, they hold at most 5 % of the node's time and each drew at most
  ``rules.LONE_DRAW_MAX`` times the node's most drawing proven period; one partial period a
  bucket, at an attestor's start or stop, is not counted but held to that draw:
  ``rules._sustained_uncertainty``).
- ``energy.unexplained`` C as above, W when the highest reading exceeds the reports by
  ``Z_WARN`` σ (or nodes claim more than the band allows); ``energy.silent_draw`` W: only the
  power silent nodes could have drawn closes the gap; ``energy.baseline_step`` W and
  ``energy.baseline_drift`` W: see ``pausewatch.evaluation.evidence``;
  ``energy.balance_unverifiable`` W: no meter, no meter on the facility's intake (rack, hall
  or PDU meters bound only what is behind them), meters that do not cover the bucket,
  declared nodes behind no meter, or a ratio baseline still uncalibrated two calibration
  periods after the scope's first balance; ``meter.disagreement`` W: redundant meters of one
  scope differ beyond their accuracy.
- ``inventory.missing`` W: a declared accelerator absent from its node's reports (or no
  inventory at all); ``inventory.unknown_device`` W: an undeclared accelerator, attestor or
  meter key; ``inventory.wrong_location`` W: a key reporting as another node or facility;
  ``inventory.model_mismatch`` W: a device reported as another part than declared (the
  classifier judges a declared device as its declaration; its bounds take either part's:
  the larger upper figures, the smaller lower bound).
- ``plausibility.power_activity`` W: power that contradicts the reported activity (or energy
  that contradicts mean power beyond ``bucket.energy_tolerance_j``, or a BMC below its GPUs);
  ``plausibility.counter_backwards`` W.
- ``terms.no_commitment`` W: the lab is bound by multilateral terms but has logged no
  commitment under them; its facilities are evaluated under the terms alone
  (``pausewatch.terms``: commitment ``terms:<terms id>:<lab id>``), never COMPLIANT.
- ``jobs.unexplained_activity`` W, ``jobs.unreported_gpu_seconds`` W, ``jobs.accounting_missing``
  W: only where the inventory declares a scheduler (``pausewatch.evaluation.jobs``): its signed
  job accounting against the reports, corroborating evidence that never makes a VIOLATION.
- ``telemetry.invalid`` W: values the source flagged (NaN, negative, out of range, source
  error, vanished metric) — never evidence of compliance; the device counts as uncovered and
  fully active.

The commitment-level verdict sums the unexplained energy of every facility's top-level meter
scope against the summed σ, counts training labels over every facility, and carries each
facility's WARNING and CRITICAL findings (subjects prefixed with the facility id).
Thresholds and the sensitivity they give: ``docs/detection.md``.

W = WARNING, C = CRITICAL, I = INFO.
"""

from pausewatch.evaluation.findings import ALL_FINDING_IDS, Finding, FindingId, Quantity, status_of
from pausewatch.evaluation.ingest import derive_ingest_findings
from pausewatch.evaluation.inputs import BucketRef, EvaluationInput, IngestFinding, LoggedReport
from pausewatch.evaluation.verdict import (
    RULES,
    RULES_BEFORE,
    Evaluator,
    commitment_scope,
    compare_verdicts,
    evaluate_bucket,
)

__all__ = [
    "ALL_FINDING_IDS",
    "RULES",
    "RULES_BEFORE",
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
