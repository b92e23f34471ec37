"""The demo's shape, from signed reports: an honest facility and one hiding a training run."""

from __future__ import annotations

from pausewatch.evaluation import BucketRef, Evaluator
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, INFERENCE, NS, T0, TRAINING, Fleet, commitment

COMPLIANT = types_pb2.VERDICT_STATUS_COMPLIANT
VIOLATION = types_pb2.VERDICT_STATUS_VIOLATION


def _ids(v: types_pb2.Verdict, severity: int | None = None) -> set[str]:
    return {f.id for f in v.findings if severity is None or f.severity == severity}


def test_honest_facility_compliant_and_hidden_training_is_a_violation() -> None:
    fleet = Fleet({"fac-a": 8, "fac-b": 8})
    c = commitment(["fac-a", "fac-b"])

    def plan_a(node: str, k: int):  # half the nodes serve inference, half idle: the pause held
        b = INFERENCE if int(node[-2:]) % 2 == 0 else IDLE
        return b, b

    # 1 node goes silent, 7 claim idle; all of them train. (Had 3 of 8 gone silent, the power
    # they could have drawn would explain the meter: INCONCLUSIVE, not evidence.)
    def plan_b(node: str, k: int):
        i = int(node[-2:])
        if i < 1:
            return TRAINING, (IDLE if k < 5 else None)
        return TRAINING, IDLE

    fleet.run("fac-a", T0, 20, plan_a)
    fleet.run("fac-b", T0, 20, plan_b)
    ev = Evaluator(fleet.inputs(c))
    for start in (T0, T0 + 600 * NS):
        a = ev.verdict(BucketRef("fac-a", start, start + 600 * NS))
        assert a.status == COMPLIANT, (a.reason, [(f.id, f.subject, f.message) for f in a.findings])
        assert "workload.inference" in _ids(a, types_pb2.SEVERITY_INFO)
        b = ev.verdict(BucketRef("fac-b", start, start + 600 * NS))
        assert b.status == VIOLATION, b.reason
        unexplained = [f for f in b.findings if f.id == "energy.unexplained"]
        assert unexplained
        assert unexplained[0].severity == types_pb2.SEVERITY_CRITICAL
        q = {x.name: x.value for x in unexplained[0].quantities}
        assert q["accelerator_equivalents"] >= 2.0
        assert unexplained[0].evidence_log_indices
    later = ev.verdict(BucketRef("fac-b", T0 + 600 * NS, T0 + 1200 * NS))
    assert "continuity.timeout" in _ids(later)
    first = ev.verdict(BucketRef("fac-b", T0, T0 + 600 * NS))
    assert "continuity.timeout" in _ids(first) or "continuity.gap" in _ids(first)
