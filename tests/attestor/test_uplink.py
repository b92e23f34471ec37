"""Delivery over real gRPC on localhost: outage and backlog, forked and omitting logs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pausewatch.envelope import envelope_digest, parse_envelope
from pausewatch.reports import decode_report
from tests.attestor.harness import start_attestor
from tests.attestor.peer import Peer


def _seq(raw: bytes) -> int:
    header, _ = decode_report(parse_envelope(raw))
    return header.seq


def test_outage_then_backlog_arrives_in_order_with_verified_receipts(tmp_path: Path) -> None:
    async def scenario() -> None:
        peer = Peer()
        await peer.start()
        h = await start_attestor(tmp_path, peer)
        await h.until(lambda: h.spool.status().acked >= 3)
        # The verifier goes away for 20 simulated minutes.
        await peer.stop()
        await h.advance(20 * 60)
        st = h.spool.status()
        assert st.pending >= 15, st
        before = len(peer.state.received)
        await peer.start()  # same port
        await h.until(lambda: h.spool.status().pending == 0 and h.spool.status().acked >= st.head_seq)
        st = h.spool.status()
        await h.close()
        await peer.stop()
        # Every report arrived; the backlog went out oldest first; the chain links up.
        assert st.alarms == ()
        assert st.rejected == st.disputed == 0
        assert st.acked == st.head_seq
        backlog = [_seq(r) for r in peer.state.received[before:]]
        assert backlog == sorted(backlog)
        stored = {_seq(r): r for r in peer.state.received}
        # (the clean stop signed one more, partial, period and delivered it too)
        assert sorted(stored) == list(range(len(stored)))
        assert len(stored) >= st.head_seq
        for seq in range(1, len(stored)):
            header, _ = decode_report(parse_envelope(stored[seq]))
            assert header.prev == envelope_digest(stored[seq - 1])
        assert st.checkpoint_size == st.head_seq  # the last verified checkpoint covers every report

    asyncio.run(scenario())


@pytest.mark.parametrize(("misbehaviour", "alarm"), [("fork", "log.fork"), ("omit", "log.omission")])
def test_misbehaving_log_raises_alarm(tmp_path: Path, misbehaviour: str, alarm: str) -> None:
    async def scenario() -> None:
        peer = Peer()
        await peer.start()
        h = await start_attestor(tmp_path, peer)
        await h.until(lambda: h.spool.status().acked >= 2)
        if misbehaviour == "fork":
            peer.state.fork()
        else:
            peer.state.mode = "omit"
        await h.until(
            lambda: any(a.kind == alarm for a in h.spool.status().alarms) and h.spool.status().disputed >= 1
        )
        st = h.spool.status()
        assert st.disputed >= 1
        value = h.metrics.registry.get_sample_value("pausewatch_attestor_alarms", {"kind": alarm})
        assert value == 1
        await h.close()
        await peer.stop()

    asyncio.run(scenario())


def test_status_command_reports_alarm_with_exit_1(tmp_path: Path) -> None:
    from attestor.cli import main

    async def scenario() -> None:
        peer = Peer()
        await peer.start()
        h = await start_attestor(tmp_path, peer)
        await h.until(lambda: h.spool.status().acked >= 1)
        peer.state.fork()
        await h.until(lambda: bool(h.spool.status().alarms))
        await h.close()
        await peer.stop()

    asyncio.run(scenario())
    assert main(["status", "--state-dir", str(tmp_path), "--json"]) == 1


def test_a_verifier_that_lost_its_database_is_log_fork_and_reports_stay_pending(tmp_path: Path) -> None:
    """Row 4 of issue 12: a verifier restarted on an empty database serves a smaller tree under
    the same key and refuses every report (nothing is enrolled). The attestor raises log.fork
    instead of retrying silently, and marks no report rejected for good."""

    async def scenario() -> None:
        peer = Peer()
        await peer.start()
        h = await start_attestor(tmp_path, peer)
        await h.until(lambda: h.spool.status().acked >= 3)
        peer.state.lose_database()
        await h.until(lambda: any(a.kind == "log.fork" for a in h.spool.status().alarms))
        await h.advance(10 * 60)  # more periods signed and offered to the lost log
        st = h.spool.status()
        assert st.rejected == 0, st
        assert st.pending >= 5
        assert st.checkpoint_size is not None
        assert st.checkpoint_size >= 3
        await h.close()
        await peer.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(("hint", "wait_s"), [("20000", (20, 22)), (None, (1, 2)), ("soon", (1, 2))])
def test_a_refusal_with_a_retry_hint_is_retried_when_the_verifier_said(
    tmp_path: Path, hint: str | None, wait_s: tuple[int, int]
) -> None:
    # The verifier's hint (pausewatch-retry-after-ms) names when to come back: the attestor
    # waits that long (plus up to a tenth), neither its own 1-2 s first backoff (refused again)
    # nor longer. Without a hint, or with one that is not milliseconds, its own backoff.
    async def scenario() -> None:
        peer = Peer()
        await peer.start()
        h = await start_attestor(tmp_path, peer)
        await h.until(lambda: h.spool.status().acked >= 1)
        peer.state.refuse_calls, peer.state.retry_after = 1, hint
        await h.until(lambda: peer.state.refused_calls == 1)
        refused_at = h.clock.now_ns()
        calls = len(peer.state.received)
        await h.until(lambda: len(peer.state.received) > calls, step=0.5)
        waited = (h.clock.now_ns() - refused_at) / 1e9
        await h.close()
        await peer.stop()
        assert wait_s[0] <= waited <= wait_s[1], waited

    asyncio.run(scenario())
