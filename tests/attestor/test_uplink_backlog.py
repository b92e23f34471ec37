"""A backlog after an outage goes over one UploadReports stream (real gRPC on localhost);
against a verifier without the stream it goes by unary calls. Either way: every report, in
order, each with a verified receipt."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pausewatch.envelope import parse_envelope
from pausewatch.reports import decode_report
from tests.attestor.harness import start_attestor
from tests.attestor.peer import Peer, PeerState


@pytest.mark.parametrize("streams", [True, False])
def test_a_backlog_is_streamed_when_the_verifier_can(tmp_path: Path, streams: bool) -> None:
    async def scenario() -> None:
        peer = Peer(PeerState(upload_streams=streams))
        await peer.start()
        h = await start_attestor(tmp_path, peer)
        await h.until(lambda: h.spool.status().acked >= 2)
        assert peer.state.streamed_batches == 0  # steady state: unary calls
        await peer.stop()
        await h.advance(60 * 60)  # an hour away: ~60 reports, more than 4 batches of 8
        st = h.spool.status()
        assert st.pending > 4 * 8, st
        before = len(peer.state.received)
        await peer.start()
        await h.until(lambda: h.spool.status().pending == 0 and h.spool.status().acked >= st.head_seq)
        end = h.spool.status()
        await h.close()
        await peer.stop()
        assert end.alarms == ()
        assert end.rejected == end.disputed == 0
        seqs = [decode_report(parse_envelope(r))[0].seq for r in peer.state.received[before:]]
        assert seqs == sorted(seqs)
        if streams:
            assert peer.state.streamed_batches >= 4
        else:
            assert peer.state.streamed_batches == 0

    asyncio.run(scenario())
