import math

import pytest

from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.errors import FormatError, LimitExceededError
from pausewatch.reports import MAX_ACCELERATORS, ReportKind, decode_report
from pausewatch.v1 import types_pb2
from sim.factories import UsageChain, seeded_signer


def _decode(chain: UsageChain, msg: types_pb2.UsageReport):  # type: ignore[no-untyped-def]
    return decode_report(parse_envelope(chain.sign(msg)))


def test_valid_report_decodes_to_its_header() -> None:
    chain = UsageChain(seeded_signer("n1"))
    header, msg = decode_report(parse_envelope(chain.next()))
    assert header.kind is ReportKind.USAGE
    assert (header.facility_id, header.subject_id, header.seq) == ("fac-a", "node-01", 0)
    assert isinstance(msg, types_pb2.UsageReport)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"boot_id": b"short"}, "boot_id must be 16 bytes"),
        ({"challenge_nonce": b""}, "challenge_nonce must be 32 bytes"),
        ({"prev": b"\x00" * 32}, "seq 0"),
        ({"facility_id": ""}, "facility_id is empty"),
        ({"node_id": "has space"}, "printable ASCII"),
        ({"node_id": "n" * 129}, "limit is 128"),
        ({"period_end_unix_ns": 1}, "period must be positive"),
    ],
)
def test_invariants_are_checked_at_the_boundary(overrides: dict[str, object], message: str) -> None:
    chain = UsageChain(seeded_signer("n1"))
    with pytest.raises((FormatError, LimitExceededError), match=message):
        _decode(chain, chain.report(**overrides))


def test_later_report_needs_a_32_byte_prev() -> None:
    chain = UsageChain(seeded_signer("n1"))
    with pytest.raises(FormatError, match="32-byte"):
        _decode(chain, chain.report(seq=3, prev=b"\x01" * 31))


def test_non_finite_values_are_rejected_with_their_path() -> None:
    chain = UsageChain(seeded_signer("n1"))
    msg = chain.report()
    msg.accelerators[0].power_mean_w = math.nan
    with pytest.raises(FormatError, match=r"accelerators\[0\]\.power_mean_w"):
        _decode(chain, msg)


def test_too_many_accelerators_is_a_limit() -> None:
    chain = UsageChain(seeded_signer("n1"))
    msg = chain.report()
    for i in range(MAX_ACCELERATORS):
        msg.accelerators.add(uuid=f"GPU-{i}")
    with pytest.raises(LimitExceededError, match="accelerators"):
        _decode(chain, msg)


def test_garbage_payload_under_a_valid_signature_is_a_format_error() -> None:
    raw = sign_envelope(PayloadType.USAGE_REPORT, b"\xff\xff\xff", [seeded_signer("n1")])
    with pytest.raises(FormatError, match="not a valid UsageReport"):
        decode_report(parse_envelope(raw))


def test_non_report_payloads_are_refused() -> None:
    raw = sign_envelope(PayloadType.CHALLENGE, b"", [seeded_signer("n1")])
    with pytest.raises(FormatError, match="not a report"):
        decode_report(parse_envelope(raw))


def test_a_report_carries_exactly_its_attestors_signature() -> None:
    chain = UsageChain(seeded_signer("n1"))
    msg = chain.report().SerializeToString(deterministic=True)
    two = sign_envelope(PayloadType.USAGE_REPORT, msg, [chain.signer, seeded_signer("other")])
    with pytest.raises(FormatError, match="exactly one signature"):
        decode_report(parse_envelope(two))
    foreign = sign_envelope(PayloadType.USAGE_REPORT, msg, [seeded_signer("other")])
    with pytest.raises(FormatError, match="another key id"):
        decode_report(parse_envelope(foreign))
