"""Every float a report carries must be finite, wherever it sits: the check is driven by the
message types themselves, so this test enumerates every float and double field of both report
types (nested ones included) and puts NaN, +inf and -inf in each, on a full 8-GPU report."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from bench.reports import NodeChain
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.errors import FormatError
from pausewatch.reports import decode_report
from pausewatch.v1 import types_pb2
from sim.factories import T0, seeded_signer

SIGNER = seeded_signer("finite")


def _float_paths(d: Descriptor, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for f in d.fields:
        if f.type in (f.TYPE_DOUBLE, f.TYPE_FLOAT):
            yield (*prefix, f.name)
        elif f.type == f.TYPE_MESSAGE:
            yield from _float_paths(f.message_type, (*prefix, f.name))


def _usage() -> types_pb2.UsageReport:
    chain = NodeChain(SIGNER, "fac-a", "node-01", b"\x07" * 32, T0)
    chain.next()
    return chain.report()  # seq 1: 8 accelerators, node usage, every field set


def _meter() -> types_pb2.MeterReport:
    m = types_pb2.MeterReport(
        meter_key_id=SIGNER.public_key.key_id, facility_id="fac-a", meter_id="intake",
        boot_id=b"\x01" * 16, seq=0, period_start_unix_ns=T0, period_end_unix_ns=T0 + 60 * 10**9,
        challenge_nonce=b"\x07" * 32, signed_unix_ns=T0 + 60 * 10**9, sample_count=60,
    )
    m.energy_j, m.power_mean_w, m.power_min_w, m.power_max_w = 6e6, 1e5, 9e4, 1.1e5
    return m


def _decode(msg: Message, kind: PayloadType) -> None:
    decode_report(parse_envelope(sign_envelope(kind, msg.SerializeToString(deterministic=True), [SIGNER])))


def _set(msg: Message, path: tuple[str, ...], value: float) -> str:
    """Set the field at ``path`` (the last element of a repeated message) and name it as the
    error must: ``report.accelerators[7].energy_j``."""
    where = "report"
    for name in path[:-1]:
        field = getattr(msg, name)
        if hasattr(field, "add"):
            if not len(field):
                field.add(uuid="GPU-0") if name == "accelerators" else field.add()
            where += f".{name}[{len(field) - 1}]"
            msg = field[len(field) - 1]
        else:
            where += f".{name}"
            msg = field
    setattr(msg, path[-1], value)
    return f"{where}.{path[-1]}"


CASES = [
    (kind, build, path)
    for kind, build, d in (
        (PayloadType.USAGE_REPORT, _usage, types_pb2.UsageReport.DESCRIPTOR),
        (PayloadType.METER_REPORT, _meter, types_pb2.MeterReport.DESCRIPTOR),
    )
    for path in _float_paths(d)
]


def test_the_reports_carry_floats_at_every_depth() -> None:
    paths = {p for _k, _b, p in CASES}
    assert ("accelerators", "energy_j") in paths
    assert ("node", "bmc_energy_j") in paths
    assert ("energy_j",) in paths  # the meter's


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e35, -1e35])  # 1e35 fits a float32
@pytest.mark.parametrize(("kind", "build", "path"), CASES, ids=lambda x: ".".join(x) if isinstance(x, tuple) else None)
def test_a_non_finite_or_huge_value_is_refused_with_its_path(kind, build, path, value) -> None:  # type: ignore[no-untyped-def]
    msg = build()
    where = _set(msg, path, value)
    with pytest.raises(FormatError, match="^" + where.replace("[", r"\[").replace("]", r"\]") + " is "):
        _decode(msg, kind)


def test_infinities_of_both_signs_do_not_cancel() -> None:
    msg = _usage()
    msg.accelerators[0].energy_j, msg.accelerators[1].energy_j = math.inf, -math.inf
    with pytest.raises(FormatError, match=r"accelerators\[0\]\.energy_j is inf"):
        _decode(msg, PayloadType.USAGE_REPORT)


def test_values_at_the_bound_pass_and_finite_values_beyond_it_are_refused() -> None:
    # 1.5e308 is finite, but the evaluation squares what a report carries: a finite 1e160 W
    # overflowed there and stopped every verdict (a red team, 2026-12-05)
    msg = _usage()
    msg.accelerators[0].energy_j = msg.accelerators[1].energy_j = 1e30
    _decode(msg, PayloadType.USAGE_REPORT)
    msg.accelerators[0].energy_j = msg.accelerators[1].energy_j = 1.5e308
    with pytest.raises(FormatError, match=r"accelerators\[0\]\.energy_j is 1\.5e\+308: wire values must be at most"):
        _decode(msg, PayloadType.USAGE_REPORT)
