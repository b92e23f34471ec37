"""Steady-state receipt latency, offered open-loop: single-report ``SubmitReports`` calls at a
fixed rate (200, 500, 1,000 and 2,000 calls/s), each issued on its schedule whether or not
the earlier ones were answered — a slow verifier cannot slow the offered load down, as it
would a closed loop. Against a real ``pausewatch-verifier serve`` (its default front-ends,
one per CPU; SQLite WAL synchronous=FULL) with full 8-GPU reports (``bench.reports``).

Per rate: p50/p99 receipt latency (send to response), calls refused (RESOURCE_EXHAUSTED, not
retried: open loop) and failed, accepted reports per second, how late the generator issued
its calls (its schedule lag p99: a figure above a few ms means the generator, not the server,
set the pace), the generator's own CPU, the server's CPU (core and front-ends) per report,
and the single-thread Ed25519 verify rate measured in the same run. Target (issue 15): p99 <
1 s and nothing refused at 1,000 calls/s on 2 CPUs with the generator on the same machine.

PAUSEWATCH_BENCH_FRONTENDS sets ``limits.frontends`` (default: serve's, one per CPU).
The generator is one process with ``CONNECTIONS`` connections, calls spread round robin; each
call carries the next report of one of ``ATTESTORS`` attestors, round robin, so one
attestor's consecutive reports are a second or more apart (no report overtakes its
predecessor in its chain). Attestors each hold a connection with a call or two in flight:
``CONNECTIONS`` is enough that no connection reaches the verifier's stream cap
(``limits.max_streams_per_connection``, 256) even with a whole run's calls in flight (20,000
at 2,000 calls/s: ~160 a connection). With 16, each connection sat at the cap in overload,
and gRPC refused streams there (RST_STREAM, UNAVAILABLE "Stream removed"; docs/scale.md).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_ed25519 import ed25519_verify_rate
from bench.bench_ingest import (
    FACILITIES,
    FRONTENDS,
    _pct,
    _proc_cpu_split,
    cpu_split_us_per_report,
    enrol,
    free_port,
    start_serve,
    write_config,
)

RATES = (200, 500, 1000, 2000)
SECONDS = 10.0
QUICK_RATES = (100,)
QUICK_SECONDS = 1.0
CONNECTIONS = 128


def _generator(port: int, reports_file: str, rate: float, out: Any) -> None:
    """One open-loop generator process: call i goes at start + i / rate."""
    import grpc

    from pausewatch.v1 import verifier_pb2, verifier_pb2_grpc

    with open(reports_file, "rb") as f:
        reports: list[bytes] = pickle.load(f)

    async def main() -> dict[str, Any]:
        channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(CONNECTIONS)
        ]
        stubs = [verifier_pb2_grpc.VerifierStub(c) for c in channels]
        for c in channels:
            await c.channel_ready()
        latencies: list[float] = []
        lags: list[float] = []
        status: dict[str, int] = {}
        details: dict[str, int] = {}
        accepted = 0

        async def call(i: int, env: bytes) -> None:
            nonlocal accepted
            t = time.monotonic()
            try:
                resp = await stubs[i % len(stubs)].SubmitReports(
                    verifier_pb2.SubmitReportsRequest(envelopes=[env]), timeout=60
                )
            except grpc.aio.AioRpcError as e:
                status[e.code().name] = status.get(e.code().name, 0) + 1
                key = f"{e.code().name}: {(e.details() or '')[:120]}"
                details[key] = details.get(key, 0) + 1
                return
            latencies.append(time.monotonic() - t)
            status["OK"] = status.get("OK", 0) + 1
            accepted += sum(1 for r in resp.results if r.disposition == verifier_pb2.DISPOSITION_ACCEPTED)

        cpu0 = time.process_time()
        tasks = []
        start = time.monotonic() + 0.05
        for i, env in enumerate(reports):
            due = start + i / rate
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            lags.append(max(0.0, time.monotonic() - due))
            tasks.append(asyncio.create_task(call(i, env)))
        issued = time.monotonic()
        await asyncio.gather(*tasks)
        ended = time.monotonic()
        for c in channels:
            await c.close(None)
        return {
            "latencies": sorted(latencies),
            "lags": sorted(lags),
            "status": dict(sorted(status.items())),
            "details": dict(sorted(details.items())),
            "accepted": accepted,
            "issue_s": issued - start,
            "seconds": ended - start,
            "cpu_s": time.process_time() - cpu0,
        }

    out.send(asyncio.run(main()))


def offered(rate: float, seconds: float, attestors: int) -> dict[str, object]:
    """``rate`` single-report calls/s for ``seconds`` against a fresh verifier."""
    from bench.reports import NodeChain
    from pausewatch.keys import Ed25519Signer

    calls = round(rate * seconds)
    each = -(-calls // attestors)
    with tempfile.TemporaryDirectory(prefix="pausewatch-bench-") as d:
        tmp = Path(d)
        lab = Ed25519Signer.generate()
        cfg = write_config(tmp, lab.public_key.raw, free_port(), frontends=FRONTENDS)
        proc, port = start_serve(cfg, tmp)
        try:
            keys = [Ed25519Signer.generate() for _ in range(attestors)]
            nonce = enrol(port, lab, keys)
            now = time.time_ns()
            chains = [
                NodeChain(k, f"fac-{i % FACILITIES}", f"n{i}", nonce, start_ns=now - each * 60_000_000_000)
                for i, k in enumerate(keys)
            ]
            reports = [chains[i % attestors].next() for i in range(calls)]  # round robin over attestors
            path = tmp / "reports.pickle"
            path.write_bytes(pickle.dumps(reports))
            ctx = mp.get_context("spawn")
            recv, send = ctx.Pipe(duplex=False)
            gen = ctx.Process(target=_generator, args=(port, str(path), rate, send))
            split0 = _proc_cpu_split(proc.pid)
            gen.start()
            send.close()  # the generator holds the only sending end: its death ends recv
            try:
                result: dict[str, Any] = recv.recv()
            except EOFError:
                gen.join()
                raise RuntimeError(
                    f"the load generator died (exit {gen.exitcode}) before its figures"
                ) from None
            split1 = _proc_cpu_split(proc.pid)
            server_cpu = sum(split1.values()) - sum(split0.values())
            gen.join()
        finally:
            proc.terminate()
            proc.wait(30)
    accepted = result["accepted"]
    per_report = 1e6 / max(1, accepted)
    return {
        "offered_calls_per_s": rate,
        "calls": calls,
        "status_counts": result["status"],
        "error_details": result["details"],
        "refused": result["status"].get("RESOURCE_EXHAUSTED", 0),
        "failed_other": sum(v for k, v in result["status"].items() if k not in ("OK", "RESOURCE_EXHAUSTED")),
        "accepted_per_s": round(accepted / result["seconds"], 1),
        "receipt_latency_p50_s": _pct(result["latencies"], 0.5),
        "receipt_latency_p99_s": _pct(result["latencies"], 0.99),
        "generator_schedule_lag_p99_s": _pct(result["lags"], 0.99),
        "generator_issue_s": round(result["issue_s"], 2),
        "generator_cpu_s": round(result["cpu_s"], 2),
        "generator_cpu_share_of_one_cpu": round(result["cpu_s"] / result["seconds"], 3),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_us_per_accepted_report": round(server_cpu * per_report, 1),
        "server_cpu_us_per_report_by_process": cpu_split_us_per_report(split0, split1, accepted),
    }


def run(quick: bool = False) -> dict[str, object]:
    rates, seconds = (QUICK_RATES, QUICK_SECONDS) if quick else (RATES, SECONDS)
    reference = [ed25519_verify_rate(0.2 if quick else 1.0)]
    out: dict[str, object] = {
        "setup": (
            f"open loop, single-report calls for {seconds:g} s per rate, one generator process with"
            f" {CONNECTIONS} connections on the SAME {len(os.sched_getaffinity(0))}-CPU machine as a real"
            " `pausewatch-verifier serve` (default front-ends, SQLite WAL synchronous=FULL); full 8-GPU reports"
        ),
    }
    for rate in rates:
        out[f"rate_{rate}"] = offered(rate, seconds, attestors=max(20, 2 * rate))
    reference.append(ed25519_verify_rate(0.2 if quick else 1.0))
    ed25519 = sum(reference) / len(reference)
    out["ed25519_verify_per_s_single_thread"] = round(ed25519, 1)
    for rate in rates:
        figures = out[f"rate_{rate}"]
        assert isinstance(figures, dict)
        figures["server_cpu_per_report_in_signature_verifications"] = round(
            figures["server_cpu_us_per_accepted_report"] / (1e6 / ed25519), 2
        )
    at_1000 = out.get("rate_1000")
    out["targets"] = {"rate_1000_receipt_latency_p99_s": 1.0, "rate_1000_refused": 0}
    if isinstance(at_1000, dict):
        out["meets_targets"] = {
            "rate_1000_receipt_latency_p99_s": at_1000["receipt_latency_p99_s"] < 1.0,
            "rate_1000_refused": at_1000["refused"] == 0 and at_1000["failed_other"] == 0,
        }
    return out
