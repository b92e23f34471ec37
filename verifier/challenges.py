"""Verifier challenges: a fresh random nonce every interval, signed, logged, served.

Each challenge is a ``Challenge`` envelope (PayloadType.CHALLENGE) signed by the challenge
key and appended to the log before it is served, numbered by ``seq``: a gap in ``seq`` or in
``issued`` time shows that the verifier was down, and a stream of challenges in the log is the
verifier's own liveness record (checkpoints follow every append).

The logged challenges are also the log's clock for freshness (:mod:`pausewatch.freshness`):
a report is judged against the challenges logged before it, and its clock skew against the
newest one's expiry. So the verifier logs a fresh challenge at start, *before* it admits any
report (:meth:`verifier.server.VerifierServer.start` awaits :meth:`ChallengeIssuer.issue`
before the gRPC server starts): after a restart the log's clock is current, and reports
spooled through the outage, answering the last challenge issued before it, are judged late
but not stale.

Hosts sharing one PostgreSQL database share one stream: each reads the newest logged
challenge before issuing, serves it when it is under half an interval old, and serves the
other host's when that host logged the same ``seq`` first.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from pausewatch.clock import NS_PER_S, Clock
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.keys import Signer
from pausewatch.reports import NONCE_SIZE
from pausewatch.v1 import types_pb2
from verifier.errors import StaleVersionError
from verifier.sequencer import LogSequencer

__all__ = ["ChallengeIssuer"]

_log = logging.getLogger("pausewatch.verifier.challenges")


class ChallengeIssuer:
    def __init__(
        self,
        sequencer: LogSequencer,
        signer: Signer,
        clock: Clock,
        *,
        interval_s: float,
        lifetime_s: float,
    ) -> None:
        self._sequencer = sequencer
        self._signer = signer
        self._clock = clock
        self.interval_s = interval_s
        self._lifetime_ns = int(lifetime_s * NS_PER_S)
        self.current: bytes | None = None
        self.current_challenge: types_pb2.Challenge | None = None
        self._next_seq: int | None = None
        self._issuing = asyncio.Lock()  # one at a time: ``seq`` is unique in the log
        self._half_interval_ns = int(interval_s * NS_PER_S / 2)

    async def issue(self) -> types_pb2.Challenge:
        """Sign, log and publish a new challenge; return it once it is in the log."""
        async with self._issuing:
            return await self._issue()

    async def _issue(self) -> types_pb2.Challenge:
        now = self._clock.now_ns()
        if self._next_seq is None or self._sequencer.shared:
            latest = await self._sequencer.read(lambda s: s.latest_challenge())
            self._next_seq = 0 if latest is None else latest.seq + 1
            # hosts sharing one database share one stream of challenges: one host logged a
            # challenge within half an interval, so serve that one rather than add another
            recent = latest is not None and now - latest.issued_ns < self._half_interval_ns
            if latest is not None and recent and self._sequencer.shared:
                return self._serve(latest.envelope)
        challenge = types_pb2.Challenge(
            nonce=secrets.token_bytes(NONCE_SIZE),
            issued_unix_ns=now,
            expires_unix_ns=now + self._lifetime_ns,
            log_origin=self._sequencer.origin,
            seq=self._next_seq,
        )
        envelope = sign_envelope(
            PayloadType.CHALLENGE, challenge.SerializeToString(deterministic=True), [self._signer]
        )
        try:
            index = await self._sequencer.append_challenge(envelope, challenge)
        except StaleVersionError:  # another host logged this seq first: serve its challenge
            latest = await self._sequencer.read(lambda s: s.latest_challenge())
            if latest is None:
                raise
            self._next_seq = latest.seq + 1
            return self._serve(latest.envelope)
        self._next_seq += 1
        self.current, self.current_challenge = envelope, challenge
        _log.info("challenge issued", extra={"seq": challenge.seq, "log_index": index})
        return challenge

    def _serve(self, envelope: bytes) -> types_pb2.Challenge:
        """Serve a challenge another host logged."""
        challenge = types_pb2.Challenge()
        challenge.ParseFromString(parse_envelope(envelope).payload)
        self.current, self.current_challenge = envelope, challenge
        return challenge

    async def run(self) -> None:
        """Issue a challenge now and then every ``interval_s`` of the injected clock."""
        while True:
            try:
                await self.issue()
            except Exception:
                _log.exception("could not issue a challenge; retrying next interval")
            await self._clock.sleep(self.interval_s)
