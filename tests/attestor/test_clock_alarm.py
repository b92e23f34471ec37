"""Row 14 of issue 12 (the attestor's part): a node whose clock disagrees with the verifier's
signed challenge times raises ``clock.skew`` — before, an attestor a day ahead said nothing.
Real daemon, real spool, real gRPC to a peer verifier on localhost, simulated clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pausewatch.clock import NS_PER_S
from tests.attestor.harness import START_NS, start_attestor
from tests.attestor.peer import Peer

DAY_NS = 86_400 * NS_PER_S


def _active(h, kind: str) -> bool:  # type: ignore[no-untyped-def]
    return any(a.kind == kind for a in h.spool.status().alarms)


def test_clock_step_raises_a_clock_alarm_and_clears_when_it_agrees(tmp_path: Path) -> None:
    async def scenario() -> None:
        peer = Peer()
        # the verifier's signed time is a day behind this node's clock (the node stepped +1 day)
        peer.state.challenge_window = (START_NS - DAY_NS, START_NS - DAY_NS + 180 * NS_PER_S)
        await peer.start()
        h = await start_attestor(tmp_path, peer)
        await h.until(lambda: _active(h, "clock.skew"))
        (alarm,) = [a for a in h.spool.status().alarms if a.kind == "clock.skew"]
        assert "ahead of" in alarm.message
        assert h.metrics.registry.get_sample_value("pausewatch_attestor_alarms", {"kind": "clock.skew"}) == 1
        # the clocks agree again: the alarm clears at the next challenge
        now = h.clock.now_ns()
        peer.state.challenge_window = (now - 30 * NS_PER_S, now + 24 * 3600 * NS_PER_S)
        await h.until(lambda: not _active(h, "clock.skew"))
        assert h.metrics.registry.get_sample_value("pausewatch_attestor_alarms", {"kind": "clock.skew"}) == 0
        await h.close()
        await peer.stop()

    asyncio.run(scenario())
