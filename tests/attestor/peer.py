"""A small but real gRPC peer for attestor tests: ``VerifierServicer`` over localhost with a real
``MerkleLog``, real checkpoint signing and real challenge signing, which can be told to
misbehave (``fork`` its log, ``omit`` reports from it) and can be stopped and restarted on the
same port to simulate an outage. It is a test double of the *peer*, not of the attestor.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field

import grpc
import grpc.aio

from pausewatch.checkpoint import Checkpoint, sign_checkpoint
from pausewatch.envelope import PayloadType, envelope_digest, parse_envelope, sign_envelope
from pausewatch.keys import Ed25519Signer
from pausewatch.merkle import leaf_hash
from pausewatch.note import Ed25519NoteSigner
from pausewatch.retry import RETRY_AFTER_KEY
from pausewatch.tlog_store import MemoryTreeStore, MerkleLog
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc

ORIGIN = "pausewatch.test/log"


@dataclass
class PeerState:
    log_signer: Ed25519NoteSigner = field(default_factory=lambda: Ed25519NoteSigner.generate(ORIGIN))
    challenge_signer: Ed25519Signer = field(default_factory=Ed25519Signer.generate)
    log: MerkleLog = field(default_factory=lambda: MerkleLog(MemoryTreeStore()))
    index_of: dict[bytes, int] = field(default_factory=dict)
    received: list[bytes] = field(default_factory=list)  # every envelope ever submitted, in order
    mode: str = "ok"  # ok | omit | fork | lost
    challenge_seq: int = 0
    challenge_window: tuple[int, int] = (1, 2**62)  # (issued, expires) of the challenges it signs
    upload_streams: bool = True  # False: an older verifier, UploadReports is UNIMPLEMENTED
    streamed_batches: int = 0  # batches that came over UploadReports
    refuse_calls: int = 0  # the next this many SubmitReports calls are refused RESOURCE_EXHAUSTED
    retry_after: str | None = None  # ... with this retry hint (pausewatch.retry), if any
    refused_calls: int = 0

    @property
    def log_vkey(self) -> str:
        return self.log_signer.vkey

    @property
    def challenge_key_b64(self) -> str:
        import base64

        return base64.b64encode(self.challenge_signer.public_key.raw).decode()

    def fork(self) -> None:
        """Rewrite history: a new tree whose first entry differs, then every later entry."""
        old = self.log.entries(0, self.log.size)
        forked = MerkleLog(MemoryTreeStore())
        forked.append([b"rewritten history", *old[1:]] if old else [b"rewritten history"])
        self.log = forked
        self.mode = "fork"

    def lose_database(self) -> None:
        """Restarted on an empty database under the same log key: a new, smaller tree, and no
        enrolment any more, so every report is refused (UNAUTHENTICATED)."""
        self.log = MerkleLog(MemoryTreeStore())
        self.log.append([b"the first challenge of a new log"])
        self.index_of = {}
        self.mode = "lost"


class PeerServicer(verifier_pb2_grpc.VerifierServicer):
    def __init__(self, state: PeerState) -> None:
        self.s = state

    def _checkpoint(self) -> bytes:
        cp = Checkpoint(ORIGIN, self.s.log.size, self.s.log.root())
        return sign_checkpoint(cp, [self.s.log_signer]).format()

    async def SubmitReports(self, request, context):  # type: ignore[no-untyped-def]
        if self.s.refuse_calls > 0:
            self.s.refuse_calls -= 1
            self.s.refused_calls += 1
            if self.s.retry_after is not None:
                context.set_trailing_metadata(((RETRY_AFTER_KEY, self.s.retry_after),))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "the verifier is saturated")
        results = []
        for raw in request.envelopes:
            self.s.received.append(raw)
            if self.s.mode == "lost":
                results.append(
                    verifier_pb2.ReportResult(
                        code=16, message="key not enrolled", disposition=verifier_pb2.DISPOSITION_REJECTED
                    )
                )
                continue
            try:
                parse_envelope(raw)
            except Exception as e:
                results.append(
                    verifier_pb2.ReportResult(
                        code=3, message=str(e), disposition=verifier_pb2.DISPOSITION_REJECTED
                    )
                )
                continue
            digest = envelope_digest(raw)
            disposition = verifier_pb2.DISPOSITION_DUPLICATE
            if digest not in self.s.index_of:
                disposition = verifier_pb2.DISPOSITION_ACCEPTED
                if self.s.mode == "omit":
                    # Claims acceptance, never logs it: the receipt points at someone else's leaf.
                    self.s.log.append([b"someone else's entry " + os.urandom(8)])
                    index = self.s.log.size - 1
                    receipt = types_pb2.Receipt(
                        log_index=index,
                        checkpoint=self._checkpoint(),
                        inclusion_proof=self.s.log.inclusion_proof(index),
                        leaf_hash=leaf_hash(raw),
                    )
                    results.append(
                        verifier_pb2.ReportResult(code=0, disposition=disposition, receipt=receipt)
                    )
                    continue
                self.s.index_of[digest] = self.s.log.append([raw])
            index = self.s.index_of[digest]
            receipt = types_pb2.Receipt(
                log_index=index,
                checkpoint=self._checkpoint(),
                inclusion_proof=self.s.log.inclusion_proof(index),
                leaf_hash=leaf_hash(raw),
            )
            results.append(verifier_pb2.ReportResult(code=0, disposition=disposition, receipt=receipt))
        return verifier_pb2.SubmitReportsResponse(results=results)

    async def UploadReports(self, requests, context):  # type: ignore[no-untyped-def]
        if not self.s.upload_streams:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        async for request in requests:
            self.s.streamed_batches += 1
            yield await self.SubmitReports(request, context)

    async def GetChallenge(self, request, context):  # type: ignore[no-untyped-def]
        self.s.challenge_seq += 1
        ch = types_pb2.Challenge(
            nonce=os.urandom(32),
            issued_unix_ns=self.s.challenge_window[0],
            expires_unix_ns=self.s.challenge_window[1],
            log_origin=ORIGIN,
            seq=self.s.challenge_seq,
        )
        env = sign_envelope(PayloadType.CHALLENGE, ch.SerializeToString(), [self.s.challenge_signer])
        return verifier_pb2.GetChallengeResponse(envelope=env)

    async def GetCheckpoint(self, request, context):  # type: ignore[no-untyped-def]
        return verifier_pb2.GetCheckpointResponse(checkpoint=self._checkpoint())

    async def GetConsistencyProof(self, request, context):  # type: ignore[no-untyped-def]
        new = request.new_size or self.s.log.size
        if not request.old_size <= new <= self.s.log.size:
            await context.abort(grpc.StatusCode.OUT_OF_RANGE, "sizes out of range")
        return verifier_pb2.GetConsistencyProofResponse(
            new_size=new, hashes=self.s.log.consistency_proof(request.old_size, new)
        )


class Peer:
    """Runs the servicer on 127.0.0.1 in the caller's event loop; ``stop``/``start`` keep the port."""

    def __init__(self, state: PeerState | None = None) -> None:
        self.state = state or PeerState()
        self.port = 0
        self._server: grpc.aio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        server = grpc.aio.server()
        verifier_pb2_grpc.add_VerifierServicer_to_server(PeerServicer(self.state), server)
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0)
            self._server = None


class PeerThread:
    """The peer on its own event loop in a thread, for tests that run attestor processes."""

    def __init__(self, state: PeerState | None = None) -> None:
        self.peer = Peer(state)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Peer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.peer.start(), self._loop).result(10)
        return self.peer

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.peer.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def call(self, fn):  # type: ignore[no-untyped-def]
        """Run ``fn()`` on the peer's loop (thread-safe access to its state)."""

        async def wrapper():  # type: ignore[no-untyped-def]
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)
