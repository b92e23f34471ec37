"""The core alone: what a report costs in the core process and in a front-end's admission,
without public gRPC, clients or the other processes on the CPUs (their noise is what makes
``ingest``'s per-process figures move by tens of µs between runs).

One process builds a real verifier core on a temporary state directory (``build_server`` with
its core socket, SQLite WAL synchronous=FULL, the checkpoint file), logs a challenge and the
inventories enrolling the attestors, and signs full 8-GPU reports (``bench.reports``). Then:

- ``frontend``: :func:`verifier.ingest.admit_batch` and :func:`verifier.frontend_link.pack_reports`
  per batch, as a front-end runs them (thread CPU, µs per report);
- ``core``: the packed reports, ~600 per call, two calls in flight (as a front-end sends
  them), through the core's ``Sequence`` handler (:class:`verifier.frontend_link.CoreLink`)
  without its gRPC transport: unpacking, duplicates, quotas, the sequencer's ticks and the
  outcomes packed. CPU per report of the event-loop thread and of the other threads (the
  sequencer's writer: staging, SQLite, the checkpoint, receipts); the bytes the process
  wrote per report (``/proc/self/io``: the SQLite WAL and database, the checkpoint file).
Reference: one Ed25519 verification, measured in the same run.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_ed25519 import ed25519_verify_rate

GROUP = 600  # reports per Sequence call


async def _measure(attestors: int, each: int, batch: int) -> dict[str, Any]:
    from bench.bench_ingest import FACILITIES, write_config, written_bytes
    from bench.reports import NodeChain, node_inventory
    from pausewatch.envelope import PayloadType, sign_envelope
    from pausewatch.keys import Ed25519Signer, Signer
    from verifier.config import load_config
    from verifier.frontend_link import CoreLink, pack_reports, unpack_outcomes
    from verifier.ingest import admit_batch
    from verifier.server import build_server
    from verifier.service import _verify_document

    with tempfile.TemporaryDirectory(prefix="pausewatch-bench-core-") as d:
        tmp = Path(d)
        lab = Ed25519Signer.generate()
        cfg = write_config(tmp, lab.public_key.raw, 0)
        cfg.write_text(cfg.read_text().replace('metrics_listen = "127.0.0.1:0"', ""))
        config = load_config(cfg)
        server = build_server(config, core_socket=tmp / "state-0" / "core.sock")
        if server.servicer is None:
            raise RuntimeError("the core was built without its servicer")
        seq = server.sequencer
        await seq.start()
        try:
            await server.challenges.issue()
            keys = [Ed25519Signer.generate() for _ in range(attestors)]
            trust = server.servicer._trust
            for f in range(FACILITIES):
                enrolled: list[tuple[str, Signer]] = [
                    (f"n{i}", keys[i]) for i in range(f, len(keys), FACILITIES)
                ]
                inv = node_inventory(f"fac-{f}", "lab", enrolled)
                env = sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [lab])
                await seq.submit_document(_verify_document(env, 1 << 20, trust, inventory=True))
            challenge = server.storage.latest_challenge()
            if challenge is None:
                raise RuntimeError("no challenge was logged")
            now = time.time_ns()
            chains = [
                NodeChain(k, f"fac-{i % FACILITIES}", f"n{i}", challenge.nonce, now - each * 60_000_000_000)
                for i, k in enumerate(keys)
            ]
            signed = [[c.next() for _ in range(each)] for c in chains]
            batches = [s[j : j + batch] for j in range(0, each, batch) for s in signed]  # chains in order
            total = attestors * each
            # a front-end's admission, then what it sends the core
            enrollment, limit = seq.enrollment, config.limits.report_limit
            started = time.thread_time()
            groups: list[bytes] = []
            pending: list[Any] = []
            for b in batches:
                pending.extend(admit_batch(b, enrollment, max_envelope_bytes=limit))
                if len(pending) >= GROUP:
                    groups.append(pack_reports(pending))
                    pending = []
            if pending:
                groups.append(pack_reports(pending))
            frontend_us = (time.thread_time() - started) * 1e6 / total
            # the core
            link = CoreLink(server.servicer, seq, server.metrics)
            ticks, written = seq.ticks, written_bytes()
            cpu, loop_cpu = time.process_time(), time.thread_time()
            in_flight = asyncio.Semaphore(2)
            accepted = 0

            async def call(packed: bytes) -> None:
                nonlocal accepted
                async with in_flight:
                    outcomes = unpack_outcomes(await link._sequence(packed, None))  # type: ignore[arg-type]
                    accepted += sum(o.disposition == 1 for o in outcomes)

            await asyncio.gather(*(call(g) for g in groups))
            cpu, loop_cpu = time.process_time() - cpu, time.thread_time() - loop_cpu
            ticks, written = seq.ticks - ticks, written_bytes() - written
        finally:
            await seq.stop()
            server.storage.close()
    if accepted != total:
        raise RuntimeError(f"bench accounting: {accepted} of {total} reports accepted")
    return {
        "reports": total,
        "sequencer_ticks": ticks,
        "frontend_admission_and_pack_us_per_report": round(frontend_us, 1),
        "core_us_per_report": round(cpu * 1e6 / total, 1),
        "core_event_loop_us_per_report": round(loop_cpu * 1e6 / total, 1),
        "core_other_threads_us_per_report": round((cpu - loop_cpu) * 1e6 / total, 1),
        "core_bytes_written_per_report": round(written / total),
    }


def run(quick: bool = False) -> dict[str, object]:
    reference = ed25519_verify_rate(0.2 if quick else 1.0)
    figures = asyncio.run(_measure(*((20, 6, 6) if quick else (500, 60, 60))))
    signature_us = 1e6 / reference
    return {
        "setup": "one process: a real core (SQLite WAL synchronous=FULL) without its gRPC transport;"
        " full 8-GPU reports in batches of 60 (quick: 6), ~600 per Sequence call, 2 in flight",
        **figures,
        "ed25519_verify_us_reference": round(signature_us, 1),
        "frontend_plus_core_in_signature_verifications": round(
            (figures["frontend_admission_and_pack_us_per_report"] + figures["core_us_per_report"])
            / signature_us,
            2,
        ),
    }
