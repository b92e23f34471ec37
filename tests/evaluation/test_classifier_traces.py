"""Workload classifier validated on real telemetry (../shared/data); prints its confusion matrix.

Claims (asserted below; stated in the README):

- training vs not-training, balanced accuracy ≥ ``CLAIMED_BALANCED_ACCURACY`` over every
  labelled node-period (real training, real inference, production inference pods, idle and
  busy-but-not-ML captures);
- training recall ≥ ``CLAIMED_TRAINING_RECALL``;
- no period that is not training reaches the violation threshold (score ≥ 0.75): the classifier
  alone never produces a false VIOLATION on this data;
- on the power time series (the source closest to an attestor's), 3-class accuracy ≥
  ``CLAIMED_TIMESERIES_ACCURACY``.
"""

from __future__ import annotations

from collections import Counter

from pausewatch.evaluation.bucket import TRAINING_EVIDENCE
from pausewatch.evaluation.workload import classify_node_period
from pausewatch.v1 import types_pb2
from tests.evaluation.real_traces import all_samples

CLAIMED_BALANCED_ACCURACY = 0.93
CLAIMED_TRAINING_RECALL = 0.90
CLAIMED_TIMESERIES_ACCURACY = 0.80
NAMES = {
    types_pb2.WORKLOAD_CLASS_IDLE: "idle",
    types_pb2.WORKLOAD_CLASS_INFERENCE: "inference",
    types_pb2.WORKLOAD_CLASS_TRAINING: "training",
}
LABELS = ("idle", "inference", "training", "other")


def test_classifier_on_real_traces() -> None:
    samples = all_samples()
    matrix: Counter[tuple[str, str]] = Counter()
    per_source: Counter[tuple[str, bool]] = Counter()
    false_violation = []
    ts_total = ts_right = 0
    for source, label, signals in samples:
        est = classify_node_period(signals)
        predicted = NAMES[est.workload]
        matrix[(label, predicted)] += 1
        right = (predicted == "training") == (label == "training")
        per_source[(source.split("/", 1)[0], right)] += 1
        if label != "training" and est.training_score >= TRAINING_EVIDENCE:
            false_violation.append((source, est.training_score))
        if source.startswith(("training/", "inference/")):
            ts_total += 1
            ts_right += predicted == label
    print("\nconfusion matrix (rows: truth, columns: predicted)")
    print(f"{'':>10} " + " ".join(f"{p:>10}" for p in ("idle", "inference", "training")))
    for label in LABELS:
        print(
            f"{label:>10} " + " ".join(f"{matrix[(label, p)]:>10}" for p in ("idle", "inference", "training"))
        )
    training = sum(matrix[("training", p)] for p in ("idle", "inference", "training"))
    recall = matrix[("training", "training")] / training
    negatives = sum(v for (label, _), v in matrix.items() if label != "training")
    specificity = (
        sum(v for (label, p), v in matrix.items() if label != "training" and p != "training") / negatives
    )
    balanced = (recall + specificity) / 2
    sources = sorted({s for s, _ in per_source})
    for s in sources:
        total = per_source[(s, True)] + per_source[(s, False)]
        print(f"{s:>12}: training-vs-not accuracy {per_source[(s, True)] / total:.3f} over {total} periods")
    print(
        f"training recall {recall:.3f}, specificity {specificity:.4f}, balanced accuracy {balanced:.3f},"
        f" time-series 3-class accuracy {ts_right / ts_total:.3f}"
    )
    assert training >= 15, "the validation set lost its training periods"
    assert negatives >= 1000, "the validation set lost its non-training periods"
    assert not false_violation, f"non-training periods at the violation threshold: {false_violation}"
    assert recall >= CLAIMED_TRAINING_RECALL
    assert balanced >= CLAIMED_BALANCED_ACCURACY
    assert ts_right / ts_total >= CLAIMED_TIMESERIES_ACCURACY
