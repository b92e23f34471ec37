"""The freshness rule, judged from the log alone (pausewatch/freshness.py)."""

import pytest

from pausewatch.envelope import parse_envelope
from pausewatch.errors import InternalError
from pausewatch.freshness import (
    CLOCK_SKEW,
    STALE_CHALLENGE,
    UNKNOWN_CHALLENGE,
    ChallengeHistory,
    ChallengeRecord,
    assess_freshness,
)
from pausewatch.reports import ReportHeader, decode_report
from sim.factories import NS, T0, UsageChain, seeded_signer

SKEW = 120 * NS
INTERVAL = 30 * NS
LIFETIME = 120 * NS


def challenge(log_index: int, issued_s: int, nonce: int) -> ChallengeRecord:
    issued = T0 + issued_s * NS
    return ChallengeRecord(log_index, bytes([nonce]) * 32, issued, issued + LIFETIME)


def header(nonce: bytes, *, period: int = 0, signed_late_s: int = 0) -> ReportHeader:
    chain = UsageChain(seeded_signer("node"), nonce=nonce)
    msg = chain.report(seq=period, prev=b"\x01" * 32 if period else b"")
    msg.signed_unix_ns += signed_late_s * NS
    h, _ = decode_report(parse_envelope(chain.sign(msg)))
    return h


def ids(issues: list) -> list[str]:  # type: ignore[type-arg]
    return [i.finding_id for i in issues]


def steady_history(minutes: int) -> ChallengeHistory:
    """A challenge every 30 s from T0 - 30 s, each logged at its own index 0, 10, 20, ..."""
    return ChallengeHistory(challenge(10 * k, -30 + 30 * k, k + 1) for k in range(minutes * 2 + 2))


def test_a_report_answering_a_live_challenge_is_fresh() -> None:
    history = steady_history(3)
    # Period [T0, T0+60 s): the challenge issued at T0 (nonce 2) was live.
    assert assess_freshness(header(bytes([2]) * 32), 55, history, SKEW) == []


def test_no_challenge_and_an_unknown_challenge() -> None:
    history = steady_history(3)
    assert ids(assess_freshness(header(bytes(32)), 55, history, SKEW)) == [STALE_CHALLENGE]
    assert ids(assess_freshness(header(b"\xee" * 32), 55, history, SKEW)) == [UNKNOWN_CHALLENGE]


def test_a_challenge_logged_after_the_report_is_unknown_to_it() -> None:
    history = steady_history(3)
    # nonce 6 is logged at index 50: a report logged at 45 cannot have answered it honestly.
    assert ids(assess_freshness(header(bytes([6]) * 32, period=1), 45, history, SKEW)) == [
        UNKNOWN_CHALLENGE
    ]


def test_an_old_challenge_while_newer_ones_were_issued_is_stale() -> None:
    history = steady_history(60)
    # Period 30 (T0+30 min): nonce 1 expired long before, and many newer challenges existed.
    issues = assess_freshness(header(bytes([1]) * 32, period=30), 1000, history, SKEW)
    assert ids(issues) == [STALE_CHALLENGE]
    assert issues[0].evidence == (1000, 0)


def test_late_delivery_after_a_verifier_outage_is_not_stale() -> None:
    # The verifier issued nonces 1..3, went away for an hour, came back and issued nonce 4.
    history = ChallengeHistory(
        [challenge(0, -30, 1), challenge(1, 0, 2), challenge(2, 30, 3), challenge(500, 3600, 4)]
    )
    # A report for period 30 (T0+30 min) answers nonce 3, the newest issued before it ended.
    assert assess_freshness(header(bytes([3]) * 32, period=30), 501, history, SKEW) == []
    # Answering nonce 2 instead is stale: nonce 3 had been issued by then.
    assert ids(assess_freshness(header(bytes([2]) * 32, period=30), 501, history, SKEW)) == [
        STALE_CHALLENGE
    ]


def test_a_challenge_issued_after_the_period_is_stale() -> None:
    history = ChallengeHistory([challenge(0, 3600, 1)])
    assert ids(assess_freshness(header(bytes([1]) * 32), 5, history, SKEW)) == [STALE_CHALLENGE]


def test_a_report_from_beyond_the_logs_clock_is_skewed() -> None:
    history = steady_history(3)
    issues = assess_freshness(header(bytes([2]) * 32, signed_late_s=3600), 55, history, SKEW)
    assert ids(issues) == [CLOCK_SKEW]
    assert issues[0].quantities[0][0] == "ahead_s"


def test_history_refuses_out_of_order_challenges() -> None:
    history = ChallengeHistory([challenge(5, 0, 1)])
    with pytest.raises(InternalError):
        history.add(challenge(5, 30, 2))


def test_a_challenge_issued_during_the_period_does_not_make_the_older_one_stale() -> None:
    # The verifier came back (nonce 4) one minute into the report's period: the attestor,
    # cut off until then, could only have answered nonce 3.
    history = ChallengeHistory([challenge(0, -30, 1), challenge(1, 0, 2), challenge(2, 30, 3), challenge(9, 1860, 4)])
    assert assess_freshness(header(bytes([3]) * 32, period=30), 10, history, SKEW) == []
