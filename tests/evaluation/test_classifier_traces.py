"""The workload classifier on every labelled real trace, by time, source by source (LOSO).

This is ``pausewatch-sim classify-eval``: the same streams, the same path (the attestor's
aggregation, ``signals_from_usage``, ``classify_node_history``), the same scoring. The rules have
no fitted parameters, so each source's row is its held-out score (see ``sim.classify_eval``).

Asserted, on every source: no training second classed ``idle`` or ``inference`` (a false proof),
no other second classed ``training`` (a false violation), both as each period's verdict
classes it (with the later reports of its hourly bucket: hindsight) and causally, as each
report arrives. Asserted as measured floors (the figures in docs/classify.md; the issue's 0.95
pooled target is not met over all sources, see there):

- GPU telemetry pooled (every source with per-device telemetry), as the verdicts class it:
  balanced accuracy ≥ 0.97, training recall ≥ 0.95; causally, ≥ 0.69 and ≥ 0.38 — the
  training missed causally is the first minutes of a run, before its second stall (or its
  rhythm with collective waits) is seen: ``uncertain``, never ``idle``/``inference``, and
  ``training`` by the bucket's end;
- whole-node BMC power (``h200-node-bmc``): recall 0 — node power alone can neither prove idle
  nor tell training from other sustained work, so every period is ``uncertain``.
"""

from __future__ import annotations

import pytest

from sim.classify import DEFAULT_BUCKET_S
from sim.classify_eval import NODE_POWER_SOURCES, evaluate, format_table
from tests.evaluation.real_traces import require_data

# (balanced accuracy, recall) floors on GPU telemetry pooled: as the verdicts class it, causally
GPU_FLOORS = {True: (0.97, 0.95), False: (0.69, 0.38)}


@pytest.mark.parametrize("in_hindsight", [True, False], ids=["verdict", "causal"])
def test_classifier_leave_one_source_out(in_hindsight: bool) -> None:
    data = require_data()
    for folder in (
        "gpu-power-traces",
        "gpu-power-traces-more",
        "alibaba-clusterdata",
        "nvidia-smi",
        "dcgm-exporter",
    ):
        require_data(folder)
    ev = evaluate(data, bucket_s=DEFAULT_BUCKET_S if in_hindsight else None)
    print("\n" + format_table(ev))
    assert set(ev.per_source) == {
        "h100-training",
        "a100-inference",
        "rtx4090-eval",
        "h200-node-bmc",
        "vllm-pcie",
        "alibaba-pods",
        "snapshots",
    }
    for name, score in ev.per_source.items():
        assert score.false_proof_s == 0, f"{name}: training seconds classed idle or inference"
        assert score.false_violation_s == 0, f"{name}: non-training seconds classed training"
    gpu = ev.pooled([s for s in ev.per_source if s not in NODE_POWER_SOURCES])
    assert gpu.training_s >= 15 * 60, "the validation set lost its training minutes"
    assert gpu.other_s >= 100_000 * 60, "the validation set lost its non-training minutes"
    balanced_floor, recall_floor = GPU_FLOORS[in_hindsight]
    assert gpu.recall is not None
    assert gpu.recall >= recall_floor
    assert gpu.balanced is not None
    assert gpu.balanced >= balanced_floor
    node = ev.per_source["h200-node-bmc"]
    assert node.training_s >= 380 * 60
    assert node.seconds[("training", "uncertain")] == node.training_s
