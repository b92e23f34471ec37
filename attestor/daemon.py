"""The attestor daemon loop: sample -> aggregate per period -> sign into the spool -> upload.

Everything runs on one asyncio loop and one injected ``Clock``. Samples are taken at multiples
of ``sample_interval_s``; periods end at multiples of ``period_s`` (the first period after a
start begins at the first sample, so a restart never overlaps the previous report). A tick that
comes late (the process was stopped) first closes the period it missed. On stop (SIGTERM) the
running period is closed at "now" and signed, the uplink gets one last delivery attempt within
its deadline, and the spool is closed: nothing signed is ever only in memory.

Start-up and stop: ``run`` calls ``on_ready`` once the daemon is running (its spool read, its
alarms loaded, ``attestor started`` logged) and before its first sample; the process then
reports itself ready (``attestor.cli``: a ready file, systemd's ``READY=1``). A stop requested
before ``run`` begins (a SIGTERM during the process's start-up) is a clean stop, not a crash:
``run`` closes the sources and returns at once, without ``on_ready``, a sample, a signature or
an upload attempt, and the caller closes the spool. So a daemon stopped before it said it was
ready has signed nothing; one stopped after signs the running period, as above.

Blocking sources (NVML, dcgm-exporter, nvidia-smi, Redfish) are sampled in a worker thread so
that uploads keep going while a scrape waits on its timeout.

Accounting mode (``DaemonSettings.accounting``): no telemetry; at each period's end the
scheduler is read for that period (``attestor.sources.slurm.AccountingSource``, in a worker
thread) and its jobs signed as one ``AccountingReport``. A read that fails signs nothing: the
report says its list is complete for its period, and an empty list is not what the scheduler
said. The period stays unaccounted (the verifier's ``jobs.accounting_missing``) and the failure
is logged and counted (``source_errors``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from attestor.aggregate import AggregationLimits, Aggregator, PeriodAggregate
from attestor.alarms import Alarms
from attestor.metrics import AttestorMetrics
from attestor.report import NO_CHALLENGE, ChainSigner, ReportBuilder
from attestor.spool import Spool
from attestor.telemetry import AnomalyKind, Sample, SourceAnomaly, SourceKind, TelemetrySource
from attestor.uplink import Uplink
from pausewatch.clock import Clock
from pausewatch.envelope import PAYLOAD_TYPES, PayloadType
from pausewatch.errors import InternalError, PausewatchError
from pausewatch.jobs import JobAccounting
from pausewatch.keys import Signer
from pausewatch.reports import MAX_REPORT_BYTES, Report
from pausewatch.v1 import types_pb2

__all__ = ["AttestorDaemon", "DaemonSettings"]

_log = logging.getLogger("pausewatch.attestor")
_NS = 1_000_000_000
_BLOCKING = {
    SourceKind.NVML, SourceKind.DCGM_EXPORTER, SourceKind.NVIDIA_SMI, SourceKind.REDFISH, SourceKind.AMD_SMI,
}  # fmt: skip


class AccountingCaptureLike(Protocol):
    @property
    def tool(self) -> str: ...

    @property
    def accounting(self) -> JobAccounting: ...


class AccountingReader(Protocol):
    """What accounting mode reads each period (``attestor.sources.slurm.AccountingSource``)."""

    def read(self, window: tuple[int, int]) -> AccountingCaptureLike: ...


_ACCOUNTING_SOURCE_KIND = {
    "sacct": types_pb2.SOURCE_KIND_SLURM_SACCT,
    "slurmrestd": types_pb2.SOURCE_KIND_SLURMRESTD,
}


@dataclass(frozen=True)
class DaemonSettings:
    facility_id: str
    subject_id: str
    meter: bool
    period_ns: int
    sample_interval_ns: int
    final_upload_s: float = 5.0
    accounting: AccountingReader | None = None  # accounting mode: the scheduler it reads
    accounting_max_bytes: int = MAX_REPORT_BYTES  # accounting mode: the largest report it signs


class AttestorDaemon:
    def __init__(
        self,
        *,
        settings: DaemonSettings,
        clock: Clock,
        signer: Signer,
        spool: Spool,
        sources: list[TelemetrySource],
        uplink: Uplink | None,
        metrics: AttestorMetrics,
        alarms: Alarms,
        boot_id: bytes | None = None,
    ) -> None:
        self._s = settings
        self._clock = clock
        self._spool = spool
        self._sources = sources
        self._uplink = uplink
        self._metrics = metrics
        self._alarms = alarms
        self._chain = ChainSigner(signer, boot_id if boot_id is not None else os.urandom(16))
        self._builder = ReportBuilder(settings.facility_id, settings.subject_id)
        max_interval = max(10.0, 5 * settings.sample_interval_ns / _NS)
        # A meter's one channel is a facility intake, not an accelerator: bound it by the node and
        # meter-channel limit, or any real facility above 5 kW reads as out of range.
        limits = AggregationLimits(max_interval_s=max_interval)
        if settings.meter:
            limits = AggregationLimits(
                max_device_power_w=limits.max_node_power_w, max_interval_s=max_interval
            )
        self._agg = Aggregator(limits)
        self._samples_in_period = 0

    @property
    def chain(self) -> ChainSigner:
        return self._chain

    # ------------------------------------------------------------------ run

    async def run(self, stop: asyncio.Event, on_ready: Callable[[], None] | None = None) -> None:
        if stop.is_set():
            self._close_sources()
            status = self._spool.status()
            _log.info(
                "attestor stopped during start-up",
                extra={"fields": {"opened": True, "next_seq": status.head_seq, "pending": status.pending}},
            )
            return
        status = self._spool.status()
        self._metrics.spool_depth.set(status.pending)
        self._alarms.load()
        _log.info(
            "attestor started",
            extra={
                "fields": {
                    "key_id": self._chain.key_id,
                    "boot_id": self._chain.boot_id.hex(),
                    "next_seq": status.head_seq,
                    "pending": status.pending,
                    "sources": [s.kind.name.lower() for s in self._sources],
                }
            },
        )
        if on_ready is not None:
            on_ready()
        uplink_stop = asyncio.Event()
        uplink_task = asyncio.create_task(self._uplink.run(uplink_stop)) if self._uplink else None
        try:
            await self._sample_loop(stop)
        finally:
            uplink_stop.set()
            if uplink_task is not None:
                await uplink_task
                await self._final_upload()
                await self._uplink.close()  # type: ignore[union-attr]
            self._close_sources()
            _log.info(
                "attestor stopped",
                extra={
                    "fields": {"next_seq": self._spool.head().seq, "pending": self._spool.status().pending}
                },
            )

    def _close_sources(self) -> None:
        for s in self._sources:
            try:
                s.close()
            except Exception:
                _log.warning("source close failed", exc_info=True)

    async def _final_upload(self) -> None:
        if self._uplink is None:
            raise InternalError("final upload without an uplink")
        try:
            await asyncio.wait_for(self._uplink.deliver_once(), timeout=self._s.final_upload_s)
        except (TimeoutError, PausewatchError, Exception) as e:
            _log.info("final upload skipped", extra={"fields": {"reason": str(e)[:200] or type(e).__name__}})

    async def _sample_loop(self, stop: asyncio.Event) -> None:
        interval = self._s.sample_interval_ns
        period = self._s.period_ns
        t = self._clock.now_ns()
        period_start = t
        period_end = (t // period + 1) * period
        await self._sample(t)
        while True:
            next_tick = (t // interval + 1) * interval
            if await self._wait_until(next_tick, stop):
                break
            t = self._clock.now_ns()
            if t > period_end:
                await self._close(period_start, period_end)
                period_start = period_end
                period_end = -(-t // period) * period
            await self._sample(t)
            if t >= period_end:
                await self._close(period_start, period_end)
                period_start, period_end = period_end, period_end + period
        now = self._clock.now_ns()
        if self._samples_in_period and now > period_start:
            await self._close(period_start, now)

    async def _wait_until(self, deadline_ns: int, stop: asyncio.Event) -> bool:
        """Sleep on the clock until ``deadline_ns``; True if stopped first."""
        if stop.is_set():
            return True
        delay = (deadline_ns - self._clock.now_ns()) / _NS
        if delay <= 0:
            return False
        sleeper = asyncio.ensure_future(self._clock.sleep(delay))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
        return stop.is_set()

    async def _sample(self, t: int) -> None:
        for source in self._sources:
            try:
                if source.kind in _BLOCKING:
                    sample = await asyncio.to_thread(source.sample, t)
                else:
                    sample = source.sample(t)
            except Exception as e:
                _log.warning(
                    "source failed", extra={"fields": {"source": source.kind.name, "error": str(e)[:300]}}
                )
                sample = Sample(
                    t,
                    source.kind,
                    "",
                    (),
                    None,
                    (SourceAnomaly(AnomalyKind.SOURCE_ERROR, source.kind.name.lower(), str(e)[:200]),),
                )
            self._agg.add(sample)
        self._samples_in_period += 1
        self._metrics.samples.inc()

    # ------------------------------------------------------------------ periods

    async def _close(self, start: int, end: int) -> None:
        period = self._agg.close(start, end)
        self._samples_in_period = 0
        if self._s.accounting is not None:
            await self._account(self._s.accounting, (start, end))
            return
        self.sign_period(period)

    async def _account(self, reader: AccountingReader, window: tuple[int, int]) -> None:
        """Accounting mode: read the scheduler for ``window`` and sign what it says."""
        try:
            capture = await asyncio.to_thread(reader.read, window)
        except Exception as e:
            self._metrics.accounting_errors.inc()
            _log.warning(
                "accounting read failed: period left unaccounted",
                extra={"fields": {"start_ns": window[0], "end_ns": window[1], "error": str(e)[:300]}},
            )
            return
        self.sign_accounting(window, capture)

    def sign_accounting(self, window: tuple[int, int], capture: AccountingCaptureLike) -> None:
        """Build, sign and spool the accounting report of ``window``."""
        now = self._clock.now_ns()
        kind = _ACCOUNTING_SOURCE_KIND.get(capture.tool, types_pb2.SOURCE_KIND_UNSPECIFIED)
        source = types_pb2.SourceInfo(kind=kind)
        report = self._builder.accounting(
            window,
            capture.accounting,
            source,
            challenge_nonce=self._challenge(),
            signed_ns=now,
            max_bytes=self._s.accounting_max_bytes,
        )
        self._sign(PayloadType.ACCOUNTING_REPORT, report, window, now, len(report.jobs), len(report.problems))

    def _challenge(self) -> bytes:
        stored = self._spool.get_meta("challenge_nonce")
        return NO_CHALLENGE if stored is None else bytes.fromhex(stored)

    def sign_period(self, period: PeriodAggregate) -> None:
        """Build, sign and spool the report of ``period`` (after any overflow report)."""
        now = self._clock.now_ns()
        nonce = self._challenge()
        report: types_pb2.UsageReport | types_pb2.MeterReport
        if self._s.meter:
            report = self._builder.meter(period, challenge_nonce=nonce, signed_ns=now)
            payload_type = PayloadType.METER_REPORT
        else:
            report = self._builder.usage(period, challenge_nonce=nonce, signed_ns=now)
            payload_type = PayloadType.USAGE_REPORT
        window = (period.start_ns, period.end_ns)
        self._sign(payload_type, report, window, now, len(period.accelerators), len(period.anomalies))

    def _sign(  # noqa: PLR0917  # what the log line says of the report
        self, payload_type: str, report: Report, window: tuple[int, int], now: int, items: int, anomalies: int
    ) -> None:
        if not self._drain_overflow(now):
            self._overflow(payload_type, report, window)
            return
        link = self._spool.append(lambda head: self._chain.sign(head, report), now)
        if link is None:
            self._overflow(payload_type, report, window)
            return
        self._metrics.reports_signed.inc()
        self._metrics.spool_depth.inc()
        self._alarms.sync()  # an alarm acknowledged by `ack` since the last period
        _log.info(
            "report signed",
            extra={
                "fields": {
                    "seq": link.seq,
                    "period_start_ns": window[0],
                    "period_end_ns": window[1],
                    "jobs" if payload_type == PayloadType.ACCOUNTING_REPORT else "devices": items,
                    "anomalies": anomalies,
                    "bytes": len(link.envelope),
                }
            },
        )
        if self._uplink is not None:
            self._uplink.notify()
        self._spool.prune(now)

    def _drain_overflow(self, now: int) -> bool:
        """Sign the kept overflow report, if any; False while the spool is still full."""
        kept = self._spool.overflow()
        if kept is None:
            return True
        payload_type, raw, gap_start, skipped = kept
        msg = PAYLOAD_TYPES[payload_type]()
        msg.ParseFromString(raw)
        if not isinstance(msg, (types_pb2.UsageReport, types_pb2.MeterReport, types_pb2.AccountingReport)):
            raise InternalError(f"the spool's overflow holds a {payload_type}, not a report")
        link = self._spool.append(lambda head: self._chain.sign(head, msg), now)
        if link is None:
            return False
        self._spool.clear_overflow()
        self._alarms.clear("spool.full")
        self._metrics.reports_signed.inc()
        _log.warning(
            "spool has room again",
            extra={"fields": {"seq": link.seq, "gap_start_ns": gap_start, "periods_unreported": skipped - 1}},
        )
        return True

    def _overflow(self, payload_type: str, report: Report, window: tuple[int, int]) -> None:
        skipped = self._spool.save_overflow(
            payload_type, report.SerializeToString(deterministic=True), window[0], window[1]
        )
        self._alarms.raise_alarm(
            "spool.full",
            f"spool full of unacknowledged reports; {skipped} period(s) held back,"
            " newest kept unsigned until there is room",
        )
