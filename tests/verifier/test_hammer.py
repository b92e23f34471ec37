"""Build 10 of issue 12: the hammer at a small size (``bench/bench_hammer.py``).

A real ``serve`` process, honest attestors alone and then under every attacker of the table at
once (signature amplification, byte floods, idle connections, stranger alert streams, enrolment
squatting, late data) from a separate process. Asserted: the honest attestors keep getting
receipts under attack, every attacker is refused with its precise status, and the verifier is
still up. Not asserted: any timing — ``make bench`` reports the rates and latencies."""

from __future__ import annotations

import grpc

from bench.bench_hammer import hammer


def test_honest_attestors_get_receipts_under_every_attack() -> None:
    out = hammer("small", seed=7)
    shape = out["shape"]
    assert isinstance(shape, dict)
    for phase in ("unattacked", "attacked"):
        figures = out[phase]
        assert isinstance(figures, dict)
        assert figures["receipts"] >= shape["honest"], (phase, figures)  # every attestor, at least once
    attackers = out["attackers"]
    assert isinstance(attackers, dict)

    def codes(name: str) -> set[int]:
        got = attackers.get(name)
        assert got, f"the {name} attacker did not run: {attackers}"
        return {int(c) for c in got}

    s = grpc.StatusCode
    assert codes("signature_amplification") <= {s.INVALID_ARGUMENT.value[0], s.RESOURCE_EXHAUSTED.value[0]}
    assert codes("byte_flood") == {s.RESOURCE_EXHAUSTED.value[0]}
    assert codes("stranger_watchers") == {s.PERMISSION_DENIED.value[0]}
    assert codes("enrolment_squatting") <= {s.FAILED_PRECONDITION.value[0], s.PERMISSION_DENIED.value[0]}
    assert codes("late_data") <= {s.FAILED_PRECONDITION.value[0], s.RESOURCE_EXHAUSTED.value[0]}
    assert attackers["idle_connections"].get("open", 0) > 0
    assert out["server_alive_after"]
