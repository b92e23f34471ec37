"""Delivery of spooled reports to the verifier over gRPC (``grpc.aio``), and receipt checks.

``Uplink.run`` loops until stopped: it refreshes the verifier's signed challenge, sends pending
reports in seq order in batches of ``batch_size``, each call with a deadline, and checks every
receipt (``attestor.receipts``), including consistency of the receipt's checkpoint with the last
checkpoint this attestor verified (``GetConsistencyProof``). Failures back off exponentially
with full jitter on the injected clock; after an outage the backlog goes out oldest first —
over one ``UploadReports`` stream when more than ``_BACKLOG_BATCHES`` batches wait (the same
checks per batch, without a call per batch; each response within ``deadline_s``), and by
unary ``SubmitReports`` in steady state or against a verifier without the stream.

Per-report outcomes: ACCEPTED or DUPLICATE with a verified receipt -> acked; REJECTED with a
permanent code -> ``rejected`` (kept as evidence) and the ``report.rejected`` alarm;
RESOURCE_EXHAUSTED / UNAVAILABLE / DEADLINE_EXCEEDED / ABORTED -> retried later (after the
verifier's retry hint where a refused call carries one, ``pausewatch.retry``); a receipt
that fails verification -> ``disputed`` and the alarm named by the failure (``log.omission``,
``log.fork``, ``receipt.invalid``). The log itself is checked (``check_log``: its current
checkpoint, signed and consistent with the last one verified) at every challenge refresh and
before any report is marked rejected for good: a verifier that lost its database and started
a new log under the same key is ``log.fork``, loudly, and the reports stay pending. With a
``policy`` (``log.policy``, a C2SP tlog-policy) the served checkpoint's witness quorum is logged
and each policy witness's latest checkpoint of the log (its read endpoint) must agree with the
log this attestor was shown, or ``log.split_view``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiohttp
import grpc
import grpc.aio

from attestor.alarms import Alarms
from attestor.metrics import AttestorMetrics
from attestor.receipts import (
    LogTrust,
    ReceiptError,
    open_witness_checkpoint,
    verify_checkpoint,
    verify_consistency_with,
    verify_receipt,
    witnessed,
)
from attestor.spool import PendingReport, Spool, StoredCheckpoint
from pausewatch.clock import Clock
from pausewatch.envelope import PayloadType, parse_envelope, verify_envelope
from pausewatch.errors import EnvironmentFaultError, InputError
from pausewatch.keys import PublicKey
from pausewatch.policy import Policy
from pausewatch.reports import NONCE_SIZE
from pausewatch.retry import retry_after_s
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc

__all__ = ["CLOCK_TOLERANCE_NS", "TlsSettings", "Uplink", "UplinkSettings", "open_channel", "retry_delay"]

_log = logging.getLogger("pausewatch.attestor.uplink")
_NS = 1_000_000_000
_MAX_WITNESS_ANSWER = 64 * 1024
_MIN_HINT_S = 0.05  # a hint of 0 (a verifier's bug) is no licence to retry in a loop; the core's least
_BACKLOG_BATCHES = 4  # more batches than this pending: deliver them over one UploadReports stream
_STREAM_BATCHES = 500  # batches per stream (the verifier's limits.max_upload_batches is 1000)
_TRANSIENT = {
    grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
    grpc.StatusCode.UNAVAILABLE.value[0],
    grpc.StatusCode.DEADLINE_EXCEEDED.value[0],
    grpc.StatusCode.ABORTED.value[0],
}


@dataclass(frozen=True)
class TlsSettings:
    insecure: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""


@dataclass(frozen=True)
class UplinkSettings:
    address: str
    tls: TlsSettings
    challenge_key: PublicKey
    log: LogTrust
    policy: Policy | None = None  # C2SP tlog-policy: witnesses to compare with, their quorum
    batch_size: int = 32
    deadline_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    challenge_refresh_s: float = 30.0


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise EnvironmentFaultError(f"{path}: cannot read {what}: {e.strerror}") from e


def open_channel(settings: UplinkSettings) -> grpc.aio.Channel:
    """A channel with TLS (or mutual TLS with a client certificate), or plaintext if insecure."""
    options: list[tuple[str, object]] = [
        ("grpc.max_receive_message_length", 8 << 20),
        ("grpc.keepalive_time_ms", 60_000),
        # Our own backoff (jittered, on the injected clock) paces retries; the channel only needs
        # to notice quickly that the verifier is back.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 5_000),
    ]
    if settings.tls.insecure:
        return grpc.aio.insecure_channel(settings.address, options=options)
    tls = settings.tls
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(tls.ca_file, "the CA bundle") if tls.ca_file else None,
        private_key=_read(tls.key_file, "the client key") if tls.key_file else None,
        certificate_chain=_read(tls.cert_file, "the client certificate") if tls.cert_file else None,
    )
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.aio.secure_channel(settings.address, credentials, options=options)


def _permanent_rejection(result: verifier_pb2.ReportResult) -> bool:
    return bool(result.disposition == verifier_pb2.DISPOSITION_REJECTED and result.code not in _TRANSIENT)


class _TransientError(Exception):
    """The verifier could not take the batch now; back off and retry."""


# How far this node's clock may sit outside a fresh challenge's [issued, expires] window
# before ``clock.skew`` (the verifier's default ``challenge.max_clock_skew_s``).
CLOCK_TOLERANCE_NS = 120 * 1_000_000_000


def retry_delay(
    failures: int, hint_s: float | None, *, initial_s: float, max_s: float, rng: random.Random
) -> float:
    """How long to wait after the ``failures``-th failure in a row: the verifier's retry hint
    where it gave one — it named when to come back (a slot it booked, or its pace): sooner is
    refused again, our own backoff may overshoot it by minutes — a tenth more at random, so
    that attestors refused together do not return in one burst, and at least ``_MIN_HINT_S`` (a
    hint of 0 is no licence to retry in a loop); else the exponential backoff with jitter (half
    to all of ``initial_s × 2^failures``). Never past ``max_s``."""
    if hint_s is not None:
        return min(max_s, max(_MIN_HINT_S, hint_s) * rng.uniform(1.0, 1.1))
    cap = min(max_s, initial_s * 2 ** min(failures, 30))
    return rng.uniform(cap / 2, cap)


class Uplink:
    """Sends the spool's pending reports; all state lives in the spool."""

    def __init__(
        self,
        settings: UplinkSettings,
        spool: Spool,
        clock: Clock,
        metrics: AttestorMetrics,
        alarms: Alarms,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._s = settings
        self._spool = spool
        self._clock = clock
        self._metrics = metrics
        self._alarm = alarms.raise_alarm
        self._clear_alarm = alarms.clear
        self._rng = rng or random.Random()
        self._channel: grpc.aio.Channel | None = None
        self._stub: verifier_pb2_grpc.VerifierStub | None = None
        self._challenge_at_ns: int | None = None
        self._streams = True  # False once the verifier answered UploadReports UNIMPLEMENTED
        self._wakeable = True
        self.wake = asyncio.Event()
        # Set while ``run`` waits with nothing it can do before its clock deadline, a new report
        # or stop; cleared while it works. Tests on a simulated clock await it after moving time
        # instead of polling in real time.
        self.idle = asyncio.Event()

    def notify(self) -> None:
        """A new report is in the spool: end the wait now, unless backing off after a failure."""
        self.wake.set()
        if self._wakeable:
            self.idle.clear()

    @property
    def challenge_nonce(self) -> bytes | None:
        stored = self._spool.get_meta("challenge_nonce")
        return None if stored is None else bytes.fromhex(stored)

    def _connect(self) -> verifier_pb2_grpc.VerifierStub:
        if self._stub is None:
            self._channel = open_channel(self._s)
            self._stub = verifier_pb2_grpc.VerifierStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
        self._channel = None
        self._stub = None

    # ------------------------------------------------------------------ challenge

    async def refresh_challenge(self) -> bytes:
        """Fetch, verify and store the verifier's current challenge nonce."""
        stub = self._connect()
        response = await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=self._s.deadline_s)
        try:
            env = parse_envelope(response.envelope)
            if env.payload_type != PayloadType.CHALLENGE:
                raise InputError(f"challenge envelope has payload type {env.payload_type!r}")
            verify_envelope(env, self._s.challenge_key)
            challenge = types_pb2.Challenge()
            challenge.ParseFromString(env.payload)
        except (InputError, ValueError) as e:
            self._alarm("challenge.invalid", f"the verifier's challenge does not verify: {e}")
            raise _TransientError(str(e)) from e
        if len(challenge.nonce) != NONCE_SIZE:
            self._alarm("challenge.invalid", f"challenge nonce is {len(challenge.nonce)} bytes")
            raise _TransientError("bad challenge nonce")
        self._clear_alarm("challenge.invalid", "a challenge verified with the configured key")
        self._spool.set_meta("challenge_nonce", challenge.nonce.hex())
        self._challenge_at_ns = self._clock.now_ns()
        self._check_clock(challenge, self._challenge_at_ns)
        return bytes(challenge.nonce)

    def _check_clock(self, challenge: types_pb2.Challenge, now_ns: int) -> None:
        """``clock.skew``: a challenge fetched just now was signed for [issued, expires]; a
        local clock outside that window by more than CLOCK_TOLERANCE_NS disagrees with the
        verifier's signed time (reports would be dated wrong). Cleared when it agrees again."""
        early = challenge.issued_unix_ns - now_ns
        late = now_ns - challenge.expires_unix_ns
        if early > CLOCK_TOLERANCE_NS or late > CLOCK_TOLERANCE_NS:
            off_s = (early if early > 0 else -late) / 1e9
            self._alarm(
                "clock.skew",
                f"this node's clock is {abs(off_s):.0f} s {'behind' if off_s > 0 else 'ahead of'} the"
                f" verifier's signed challenge time (challenge seq {challenge.seq})",
            )
        else:
            self._clear_alarm("clock.skew", "the clock agrees with a fresh challenge")

    # ------------------------------------------------------------------ delivery

    async def deliver_once(self) -> int:
        """Send one batch of pending reports; returns how many reached a final state."""
        batch = self._spool.pending(self._s.batch_size)
        if not batch:
            return 0
        stub = self._connect()
        self._spool.mark_attempt([p.seq for p in batch])
        sent_ns = self._clock.monotonic_ns()
        response = await stub.SubmitReports(
            verifier_pb2.SubmitReportsRequest(envelopes=[p.envelope for p in batch]),
            timeout=self._s.deadline_s,
        )
        return await self._settle(batch, response, sent_ns)

    async def deliver_backlog(self) -> int:
        """Send up to ``_STREAM_BATCHES`` batches over one ``UploadReports`` stream, one at a
        time, each settled as :meth:`deliver_once` settles its answer before the next is
        read from the spool; returns how many reports reached a final state. A batch with a
        report not taken now, or a refusal of the stream, ends it (the caller backs off)."""
        stub = self._connect()
        call = stub.UploadReports()
        resolved = 0
        try:
            for _ in range(_STREAM_BATCHES):
                batch = self._spool.pending(self._s.batch_size)
                if not batch:
                    break
                self._spool.mark_attempt([p.seq for p in batch])
                sent_ns = self._clock.monotonic_ns()
                request = verifier_pb2.SubmitReportsRequest(envelopes=[p.envelope for p in batch])
                await asyncio.wait_for(call.write(request), self._s.deadline_s)
                response = await asyncio.wait_for(call.read(), self._s.deadline_s)
                if not isinstance(response, verifier_pb2.SubmitReportsResponse):  # EOF
                    self._metrics.upload_errors.labels("protocol").inc()
                    raise _TransientError("the verifier ended the upload stream early")
                resolved += await self._settle(batch, response, sent_ns)
            await call.done_writing()
        except TimeoutError as e:
            raise _TransientError(f"no answer on the upload stream within {self._s.deadline_s} s") from e
        finally:
            call.cancel()
        return resolved

    async def _deliver(self) -> int:
        """One step of delivery: a stream for a backlog, else one unary batch."""
        if self._streams and self._spool.status().pending > _BACKLOG_BATCHES * self._s.batch_size:
            try:
                return await self.deliver_backlog()
            except grpc.aio.AioRpcError as e:
                if e.code() is not grpc.StatusCode.UNIMPLEMENTED:
                    raise
                self._streams = False  # an older verifier: batches by unary calls
        return await self.deliver_once()

    async def _settle(
        self, batch: list[PendingReport], response: verifier_pb2.SubmitReportsResponse, sent_ns: int
    ) -> int:
        """Record one batch's answer in the spool; raise _TransientError when some of it was not
        taken now. Returns how many reports reached a final state."""
        if len(response.results) != len(batch):
            self._metrics.upload_errors.labels("protocol").inc()
            raise _TransientError(f"{len(response.results)} results for {len(batch)} reports")
        if any(_permanent_rejection(r) for r in response.results):
            # before marking anything rejected for good: is this still our log? A verifier
            # that lost its database refuses every report (its enrolment is gone) — that is
            # log.fork, and the reports stay pending for the log they belong to
            await self.check_log()
        acked = 0
        resolved = 0
        transient = 0
        for item, result in zip(batch, response.results, strict=True):
            if result.disposition in (verifier_pb2.DISPOSITION_ACCEPTED, verifier_pb2.DISPOSITION_DUPLICATE):
                resolved += 1
                if await self._accept(item.seq, item.envelope, result.receipt):
                    acked += 1
            elif _permanent_rejection(result):
                resolved += 1
                self._spool.mark_rejected(item.seq, result.code, result.message)
                self._metrics.upload_errors.labels("rejected").inc()
                self._alarm(
                    "report.rejected", f"seq {item.seq} rejected (code {result.code}): {result.message[:200]}"
                )
            else:
                transient += 1
        if acked:
            self._metrics.receipt_latency.observe((self._clock.monotonic_ns() - sent_ns) / _NS)
            if not any(_permanent_rejection(r) for r in response.results):
                self._clear_alarm("report.rejected", "a later batch was accepted with no rejection")
        self._metrics.spool_depth.set(self._spool.status().pending)
        if transient:
            self._metrics.upload_errors.labels("busy").inc()
            raise _TransientError(f"{transient} report(s) not taken now")
        return resolved

    async def _accept(self, seq: int, envelope: bytes, receipt: types_pb2.Receipt) -> bool:
        now = self._clock.now_ns()
        try:
            verified = verify_receipt(envelope, receipt, self._s.log)
            await self._check_consistency(verified.checkpoint.size, verified.checkpoint.root_hash)
        except ReceiptError as e:
            self._spool.mark_disputed(seq, str(e))
            self._metrics.upload_errors.labels(e.kind).inc()
            self._alarm(e.kind, f"seq {seq}: {e}")
            return False
        cp = verified.checkpoint
        self._spool.mark_acked(
            seq,
            verified.log_index,
            receipt.SerializeToString(deterministic=True),
            StoredCheckpoint(cp.size, cp.root_hash, verified.note),
            now,
        )
        self._metrics.receipt_seen()
        return True

    async def check_log(self) -> None:
        """The verifier's current checkpoint is signed by the log key and consistent with the
        last one this attestor verified (raises ReceiptError: ``log.fork`` for a smaller or
        inconsistent tree — a verifier that lost its database and started a new log under
        the same key — ``receipt.invalid`` for a bad signature); remembered when larger."""
        response = await self._connect().GetCheckpoint(
            verifier_pb2.GetCheckpointRequest(), timeout=self._s.deadline_s
        )
        cp = verify_checkpoint(response.checkpoint, self._s.log)
        await self._check_consistency(cp.size, cp.root_hash)
        self._spool.save_checkpoint(
            StoredCheckpoint(cp.size, cp.root_hash, bytes(response.checkpoint)), self._clock.now_ns()
        )
        if self._s.policy is not None:
            by = witnessed(bytes(response.checkpoint), self._s.policy)
            _log.info(
                "log checkpoint " + ("witnessed" if by is not None else "not (yet) cosigned to the quorum"),
                extra={"fields": {"size": cp.size, "witnesses": list(by or ())}},
            )
            await self.check_witnesses()

    async def check_witnesses(self) -> None:
        """Each policy witness's latest checkpoint of this log agrees with what the verifier
        showed this attestor (equal roots at equal size, else a consistency proof from the
        verifier): otherwise ``log.split_view``. An unreachable or broken witness is a warning."""
        policy = self._s.policy
        if policy is None:
            return
        for witness in policy.witnesses:
            if not witness.url:
                continue
            url = f"{witness.url.rstrip('/')}/checkpoint/{quote(self._s.log.origin, safe='')}"
            try:
                timeout = aiohttp.ClientTimeout(total=self._s.deadline_s)
                async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as answer:
                    if answer.status == 404:
                        continue  # it has cosigned nothing of this log yet
                    answer.raise_for_status()
                    if (answer.content_length or _MAX_WITNESS_ANSWER + 1) > _MAX_WITNESS_ANSWER:
                        raise ReceiptError("witness.invalid", "answer without a length, or too long")
                    note = await answer.read()
                cp = open_witness_checkpoint(note, self._s.log, witness)
            except (aiohttp.ClientError, TimeoutError, ReceiptError) as e:
                _log.warning(
                    "cannot read a witness's checkpoint",
                    extra={"fields": {"witness": witness.name, "error": str(e)}},
                )
                continue
            try:
                await self._check_consistency(cp.size, cp.root_hash)
            except ReceiptError as e:
                raise ReceiptError(
                    "log.split_view",
                    f"witness {witness.name} cosigned a tree of size {cp.size} that disagrees with the log"
                    f" this attestor was shown: {e}",
                ) from e

    async def _check_consistency(self, size: int, root: bytes) -> None:
        last = self._spool.last_checkpoint()
        if last is None or (last.size == size and last.root == root):
            return
        proof: list[bytes] = []
        if last.size != size:
            lo, hi = min(last.size, size), max(last.size, size)
            try:
                response = await self._connect().GetConsistencyProof(
                    verifier_pb2.GetConsistencyProofRequest(old_size=lo, new_size=hi),
                    timeout=self._s.deadline_s,
                )
            except grpc.aio.AioRpcError as e:
                if e.code() is not grpc.StatusCode.OUT_OF_RANGE:
                    raise
                raise ReceiptError(
                    "log.fork",
                    f"the log signed a tree of {size} after one of {last.size} and cannot prove them"
                    f" consistent ({e.details()})",
                ) from e
            if response.new_size != hi:
                raise ReceiptError(
                    "log.fork", f"asked for a proof to size {hi}, got one to {response.new_size}"
                )
            proof = list(response.hashes)
        verify_consistency_with(last.size, last.root, size, root, proof)

    # ------------------------------------------------------------------ loop

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, backing off with jitter while the verifier is away."""
        failures = 0
        while not stop.is_set():
            try:
                now = self._clock.now_ns()
                if (
                    self._challenge_at_ns is None
                    or now - self._challenge_at_ns >= self._s.challenge_refresh_s * _NS
                ):
                    await self.refresh_challenge()
                    await self.check_log()
                while not stop.is_set() and await self._deliver():
                    pass
                failures = 0
                delay = self._s.challenge_refresh_s
            except (grpc.aio.AioRpcError, _TransientError, ReceiptError) as e:
                failures += 1
                reason = e.code().name.lower() if isinstance(e, grpc.aio.AioRpcError) else "transient"
                if isinstance(e, grpc.aio.AioRpcError):
                    self._metrics.upload_errors.labels(reason).inc()
                if isinstance(e, ReceiptError):
                    self._alarm(e.kind, str(e))
                hint = (
                    retry_after_s(e.trailing_metadata())
                    if isinstance(e, grpc.aio.AioRpcError) and e.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
                    else None
                )
                delay = retry_delay(
                    failures,
                    hint,
                    initial_s=self._s.backoff_initial_s,
                    max_s=self._s.backoff_max_s,
                    rng=self._rng,
                )
                _log.warning(
                    "upload failed; backing off",
                    extra={
                        "fields": {
                            "reason": reason,
                            "error": str(e)[:300],
                            "retry_in_s": round(delay, 3),
                            "retry_hint_s": hint,
                            "failures": failures,
                        }
                    },
                )
            self.wake.clear()
            await self._wait(stop, delay, wakeable=failures == 0)
        self.idle.set()

    async def _wait(self, stop: asyncio.Event, seconds: float, *, wakeable: bool) -> None:
        """Sleep ``seconds`` on the clock or until stopped; a new report ends the wait only when
        the last attempt succeeded (a backoff is never cut short)."""
        tasks = {asyncio.ensure_future(self._clock.sleep(seconds)), asyncio.ensure_future(stop.wait())}
        if wakeable:
            tasks.add(asyncio.ensure_future(self.wake.wait()))
        self._wakeable = wakeable
        self.idle.set()
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.idle.clear()
            for t in tasks:
                t.cancel()
