"""Ingest throughput: many concurrent attestor clients submitting batches over gRPC on
localhost to a real ``pausewatch-verifier serve`` process with durable storage (SQLite WAL,
synchronous=FULL), compared with the single-thread Ed25519 verification rate measured in the
same run.

Setup: ``ATTESTORS`` enrolled node keys across 10 facilities; each attestor holds
``REPORTS_EACH`` pre-signed reports of its chain (as after a spool backlog) and submits them
in batches of ``BATCH`` over one of ``CLIENT_PROCS`` client processes, all attestors in flight
at once. Figures: sustained accepted reports per second (first send to last receipt), p50/p99
receipt latency per RPC, the Ed25519 reference, and their ratio (target >= 0.8).
Environment knobs: PAUSEWATCH_BENCH_ATTESTORS, _REPORTS_EACH, _BATCH, _CLIENT_PROCS.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing as mp
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_ed25519 import ed25519_verify_rate

REPO = Path(__file__).resolve().parents[1]
ATTESTORS = int(os.environ.get("PAUSEWATCH_BENCH_ATTESTORS", "10000"))
REPORTS_EACH = int(os.environ.get("PAUSEWATCH_BENCH_REPORTS_EACH", "6"))
BATCH = int(os.environ.get("PAUSEWATCH_BENCH_BATCH", "6"))
CLIENT_PROCS = int(os.environ.get("PAUSEWATCH_BENCH_CLIENT_PROCS", "1"))
FACILITIES = 10
ORIGIN = "bench.pausewatch/log"


def _config(tmp: Path, lab_pub: bytes) -> Path:
    from pausewatch.keys import generate_key_file

    for name in ("log", "challenge", "verdict"):
        generate_key_file(tmp / f"{name}.key")
    facilities = ", ".join(f'"fac-{i}"' for i in range(FACILITIES))
    cfg = tmp / "verifier.toml"
    cfg.write_text(
        f"""
listen = "127.0.0.1:0"
state_dir = "state"
metrics_listen = ""
[log]
origin = "{ORIGIN}"
key_file = "log.key"
[challenge]
key_file = "challenge.key"
interval_s = 60
[verdict]
key_file = "verdict.key"
[limits]
reports_per_minute = 1000000
burst_reports = 1000000
max_concurrent_rpcs = 100000
[[labs]]
lab_id = "lab"
public_keys = ["{base64.b64encode(lab_pub).decode()}"]
facilities = [{facilities}]
"""
    )
    return cfg


def _start(cfg: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    ready = tmp / "ready"
    profile = os.environ.get("PAUSEWATCH_BENCH_PROFILE")  # cProfile the server into this file
    prefix = ["-m", "cProfile", "-o", profile] if profile else []
    proc = subprocess.Popen(
        [
            sys.executable,
            *prefix,
            "-m",
            "verifier.cli",
            "serve",
            "--config",
            str(cfg),
            "--ready-file",
            str(ready),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("verifier did not start")
        time.sleep(0.05)
    return proc, int(ready.read_text())


def _client(port: int, batches_file: str, out: mp.connection.Connection) -> None:  # type: ignore[name-defined]
    import grpc

    from pausewatch.v1 import verifier_pb2, verifier_pb2_grpc

    with open(batches_file, "rb") as f:
        per_attestor: list[list[list[bytes]]] = pickle.load(f)

    async def main() -> tuple[list[float], int, int, float, float, dict[str, int]]:
        latencies: list[float] = []
        failed: list[int] = []
        errors: dict[str, int] = {}
        accepted = rejected = 0
        channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(max(1, len(per_attestor) // 50))  # ~50 attestors per connection
        ]
        stubs = [verifier_pb2_grpc.VerifierStub(c) for c in channels]

        async def attestor(i: int, batches: list[list[bytes]]) -> None:
            nonlocal accepted, rejected
            stub = stubs[i % len(stubs)]
            for batch in batches:
                t = time.monotonic()
                try:
                    resp = await stub.SubmitReports(
                        verifier_pb2.SubmitReportsRequest(envelopes=batch), timeout=300
                    )
                except grpc.aio.AioRpcError as e:
                    failed.append(len(batch))  # counted as rejected, not fatal
                    key = f"{e.code().name}: {e.details()}"[:120]
                    errors[key] = errors.get(key, 0) + 1
                    continue
                latencies.append(time.monotonic() - t)
                for r in resp.results:
                    if r.disposition == 1:
                        accepted += 1
                    else:
                        rejected += 1

        started = time.monotonic()
        await asyncio.gather(*(attestor(i, b) for i, b in enumerate(per_attestor)))
        ended = time.monotonic()
        for c in channels:
            await c.close()
        return latencies, accepted, rejected + sum(failed), started, ended, errors

    out.send(asyncio.run(main()))


def run() -> dict[str, object]:
    import grpc

    from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
    from pausewatch.keys import Ed25519Signer
    from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
    from tests.factories import UsageChain

    reference = ed25519_verify_rate(2.0)
    with tempfile.TemporaryDirectory(prefix="pausewatch-bench-") as d:
        tmp = Path(d)
        lab = Ed25519Signer.generate()
        proc, port = _start(_config(tmp, lab.public_key.raw), tmp)
        try:
            keys = [Ed25519Signer.generate() for _ in range(ATTESTORS)]
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = verifier_pb2_grpc.VerifierStub(ch)
                for f in range(FACILITIES):
                    inv = types_pb2.Inventory(facility_id=f"fac-{f}", lab_id="lab", version=1)
                    for i in range(f, ATTESTORS, FACILITIES):
                        node = inv.nodes.add(node_id=f"n{i}", attestor_public_key=keys[i].public_key.raw)
                        node.accelerators.add(uuid=f"GPU-{i}", model="NVIDIA H100 80GB HBM3")
                    env = sign_envelope(
                        PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [lab]
                    )
                    stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=env), timeout=60)
                c = types_pb2.Challenge()
                c.ParseFromString(
                    parse_envelope(stub.GetChallenge(verifier_pb2.GetChallengeRequest()).envelope).payload
                )
            now = time.time_ns()
            per_attestor = []
            for i, key in enumerate(keys):
                chain = UsageChain(
                    key,
                    facility_id=f"fac-{i % FACILITIES}",
                    node_id=f"n{i}",
                    nonce=bytes(c.nonce),
                    start_ns=now - REPORTS_EACH * 60_000_000_000,
                )
                envs = [chain.next() for _ in range(REPORTS_EACH)]
                per_attestor.append([envs[j : j + BATCH] for j in range(0, len(envs), BATCH)])
            report_bytes = sum(len(e) for b in per_attestor[0] for e in b) / REPORTS_EACH
            ctx = mp.get_context("spawn")
            pipes, procs = [], []
            for p in range(CLIENT_PROCS):
                path = tmp / f"batches-{p}.pickle"
                path.write_bytes(pickle.dumps(per_attestor[p::CLIENT_PROCS]))
                recv, send = ctx.Pipe(duplex=False)
                cp = ctx.Process(target=_client, args=(port, str(path), send))
                cp.start()
                pipes.append(recv)
                procs.append(cp)
            results = [r.recv() for r in pipes]
            for cp in procs:
                cp.join()
        finally:
            proc.terminate()
            proc.wait(30)
    latencies = sorted(x for r in results for x in r[0])
    accepted = sum(r[1] for r in results)
    rejected = sum(r[2] for r in results)
    elapsed = max(r[4] for r in results) - min(r[3] for r in results)
    rate = accepted / elapsed
    return {
        "attestors": ATTESTORS,
        "reports_each": REPORTS_EACH,
        "batch": BATCH,
        "client_processes": CLIENT_PROCS,
        "report_bytes": round(report_bytes),
        "accepted": accepted,
        "rejected": rejected,
        "seconds": round(elapsed, 2),
        "accepted_per_s": round(rate, 1),
        "receipt_latency_p50_s": round(latencies[len(latencies) // 2], 4),
        "receipt_latency_p99_s": round(latencies[int(len(latencies) * 0.99)], 4),
        "ed25519_verify_per_s_single_thread": round(reference, 1),
        "ratio_to_ed25519": round(rate / reference, 3),
        "target_ratio": 0.8,
        "rpc_errors": {k: v for r in results for k, v in r[5].items()},
    }
