"""Admission in worker processes: the signature checks and payload decoding of
:func:`verifier.ingest.admit_batch`, off the server process's GIL.

Why processes: in one process the admission threads, the sequencer's writer thread, gRPC's
poller thread and the event loop share one GIL. libsodium releases it for each signature, so
every report costs a GIL hand-off, and a thread that wants the GIL back waits while another
holds it (the convoy effect): measured, the writer then took ~1 ms of wall time per report
for ~0.1 ms of work, and the server used about one core of two. Worker processes have GILs
of their own, so signatures *and* decoding use the other cores, and the server process is
left with gRPC, the event loop and the writer.

Coalescing: the batches of many concurrent RPCs are sent to the workers together, a chunk of
up to ``chunk_reports`` reports per task, at most ``2 × processes`` tasks in flight. So the
per-task costs (pickling, the pool's feeder and result threads, a loop wake-up) are paid per
chunk, not per RPC, and a burst of small batches does not turn into a burst of hand-offs.

What travels: raw envelope bytes in; back, per report, either the exception or a compact
tuple (payload type, payload, signatures, header fields, signer key id) from which the server
rebuilds the :class:`AdmittedReport` without parsing again. The enrollment travels only when
it changed: each task names the enrollment's generation, and a worker that holds another
generation answers ``None`` and gets the task again with the enrollment attached.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from pausewatch.envelope import ParsedEnvelope
from pausewatch.errors import InternalError, PausewatchError
from pausewatch.keys import Ed25519Key
from pausewatch.reports import ReportHeader, ReportKind
from verifier.errors import UnknownKeyError
from verifier.ingest import AdmittedReport, EnrolledKey, Enrollment, admit_batch

__all__ = ["ProcessAdmission"]

_CHUNK_REPORTS: Final = 2000

# (key raw, kind value, facility id, subject id, inventory version) per enrolled key
_EnrollmentRows = tuple[tuple[bytes, str, str, str, int], ...]
_Packed = tuple[str, bytes, tuple[tuple[str, bytes], ...], tuple[Any, ...], str]


# --- the worker side ---------------------------------------------------------------------
_worker_enrollment: list[tuple[int, Enrollment]] = [(-1, Enrollment())]  # this worker's, by generation


def _enrollment_from_rows(rows: _EnrollmentRows) -> Enrollment:
    keys: dict[str, EnrolledKey] = {}
    for raw, kind, facility, subject, version in rows:
        k = Ed25519Key(raw)
        keys[k.key_id] = EnrolledKey(k, ReportKind(kind), facility, subject, version)
    return Enrollment(keys)


def _admit_chunk(
    generation: int, rows: _EnrollmentRows | None, raws: list[bytes], limit: int
) -> tuple[float, list[_Packed | PausewatchError]] | None:
    """In a worker: admit ``raws``; ``None`` when this worker lacks the enrollment ``generation``."""
    if _worker_enrollment[0][0] != generation:
        if rows is None:
            return None
        _worker_enrollment[0] = (generation, _enrollment_from_rows(rows))
    started = time.thread_time()
    out: list[_Packed | PausewatchError] = []
    for r in admit_batch(raws, _worker_enrollment[0][1], max_envelope_bytes=limit):
        if isinstance(r, PausewatchError):
            out.append(r)
            continue
        e = r.envelope
        out.append((e.payload_type, e.payload, e.signatures, r.header.row(), r.enrolled.key.key_id))
    return time.thread_time() - started, out


def _warm() -> int:
    return 0


# --- the server side ---------------------------------------------------------------------


@dataclass
class _Waiting:
    raws: Sequence[bytes]
    future: asyncio.Future[tuple[list[AdmittedReport | PausewatchError], float]]


class ProcessAdmission:
    """Admit report batches in ``processes`` worker processes (see the module docstring).
    Create and use on the event loop; :meth:`close` when done."""

    def __init__(
        self, processes: int, *, max_envelope_bytes: int, chunk_reports: int = _CHUNK_REPORTS
    ) -> None:
        self._pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
        self._limit = max_envelope_bytes
        self._chunk = chunk_reports
        self._max_tasks = 2 * processes
        self._tasks = 0
        self._waiting: list[_Waiting] = []
        self._enrollment: Enrollment | None = None
        self._rows: _EnrollmentRows = ()
        self._generation = 0

    def warm_up(self) -> None:
        """Start the workers now (blocking), not on the first batch."""
        for f in [self._pool.submit(_warm) for _ in range(self._max_tasks)]:
            f.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def admit(
        self, raws: Sequence[bytes], enrollment: Enrollment
    ) -> tuple[list[AdmittedReport | PausewatchError], float]:
        """:func:`admit_batch` of ``raws`` in a worker, and this batch's share of the worker CPU
        seconds. ``enrollment`` is the current one (a chunk uses the newest it is given)."""
        self._set_enrollment(enrollment)
        future: asyncio.Future[tuple[list[AdmittedReport | PausewatchError], float]] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting.append(_Waiting(raws, future))
        self._pump()
        return await future

    def _set_enrollment(self, enrollment: Enrollment) -> None:
        if enrollment is self._enrollment:
            return
        self._enrollment = enrollment
        self._generation += 1
        self._rows = tuple(
            (k.key.raw, k.kind.value, k.facility_id, k.subject_id, k.inventory_version)
            for k in enrollment.keys.values()
        )

    def _pump(self) -> None:
        while self._waiting and self._tasks < self._max_tasks:
            group: list[_Waiting] = []
            count = 0
            while self._waiting and (not group or count + len(self._waiting[0].raws) <= self._chunk):
                w = self._waiting.pop(0)
                group.append(w)
                count += len(w.raws)
            self._tasks += 1
            asyncio.get_running_loop().create_task(self._run(group))

    async def _run(self, group: list[_Waiting]) -> None:
        loop = asyncio.get_running_loop()
        raws = [r for w in group for r in w.raws]
        enrollment = self._enrollment or Enrollment()
        generation, rows = self._generation, self._rows
        try:
            pool, limit = self._pool, self._limit
            done = await loop.run_in_executor(pool, _admit_chunk, generation, None, raws, limit)
            if done is None:  # this worker holds an older enrollment: send it along
                done = await loop.run_in_executor(pool, _admit_chunk, generation, rows, raws, limit)
            if done is None:
                raise InternalError("an admission worker refused its enrollment")
            cpu_s, packed = done
            results = _unpack(packed, raws, enrollment)
        except BaseException as e:
            for w in group:
                if not w.future.done():
                    w.future.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        finally:
            self._tasks -= 1
            self._pump()
        at = 0
        share = cpu_s / max(1, len(raws))
        for w in group:
            n = len(w.raws)
            if not w.future.done():
                w.future.set_result((results[at : at + n], share * n))
            at += n


def _unpack(
    packed: list[_Packed | PausewatchError], raws: list[bytes], enrollment: Enrollment
) -> list[AdmittedReport | PausewatchError]:
    out: list[AdmittedReport | PausewatchError] = []
    keys = enrollment.keys
    for raw, p in zip(raws, packed, strict=True):
        if isinstance(p, PausewatchError):
            out.append(p)
            continue
        payload_type, payload, signatures, h, signer = p
        enrolled = keys.get(signer)
        if enrolled is None:  # cannot happen: the chunk's enrollment is the one it was admitted by
            out.append(UnknownKeyError("the report's key was unenrolled while it was admitted"))
            continue
        header = ReportHeader.from_row(h)
        out.append(AdmittedReport(ParsedEnvelope(raw, payload_type, payload, signatures), header, enrolled))
    return out
