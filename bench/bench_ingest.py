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
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_ed25519 import ed25519_verify_rate

REPO = Path(__file__).resolve().parents[1]
ATTESTORS = int(os.environ.get("PAUSEWATCH_BENCH_ATTESTORS", "10000"))
REPORTS_EACH = int(os.environ.get("PAUSEWATCH_BENCH_REPORTS_EACH", "6"))
BATCH = int(os.environ.get("PAUSEWATCH_BENCH_BATCH", "6"))
CLIENT_PROCS = int(os.environ.get("PAUSEWATCH_BENCH_CLIENT_PROCS", "1"))
ADMISSION_PROCS = int(os.environ.get("PAUSEWATCH_BENCH_ADMISSION_PROCESSES", "0"))  # 0: server default
MAX_ATTEMPTS = 50  # per batch; RESOURCE_EXHAUSTED is retried after the server's hint
FACILITIES = 10
ORIGIN = "bench.pausewatch/log"


def _config(tmp: Path, lab_pub: bytes, metrics_port: int) -> Path:
    from pausewatch.files.keyfile import generate_key_file

    for name in ("log", "challenge", "verdict"):
        generate_key_file(tmp / f"{name}.key")
    facilities = ", ".join(f'"fac-{i}"' for i in range(FACILITIES))
    cfg = tmp / "verifier.toml"
    cfg.write_text(
        f"""
listen = "127.0.0.1:0"
state_dir = "state"
metrics_listen = "127.0.0.1:{metrics_port}"
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
{f"admission_processes = {ADMISSION_PROCS}" if ADMISSION_PROCS else ""}
[evaluation]
enabled = false
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


def _client(port: int, batches_file: str, out: Any) -> None:
    """One client process: its attestors all in flight at once, each submitting its batches in
    order and retrying a refused batch (RESOURCE_EXHAUSTED) after the server's hint, as the
    attestor's uplink does. Every RPC's status code is counted; nothing fails silently."""
    import grpc

    from pausewatch.v1 import verifier_pb2, verifier_pb2_grpc

    with open(batches_file, "rb") as f:
        per_attestor: list[list[list[bytes]]] = pickle.load(f)

    async def main() -> dict[str, object]:
        rpc_latencies: list[float] = []  # accepted RPCs: send -> response with receipts
        batch_latencies: list[float] = []  # first attempt -> receipts (includes refusals)
        status: dict[str, int] = {}
        details: dict[str, int] = {}
        dispositions: dict[str, int] = {}
        failed_reports = 0
        channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(max(1, len(per_attestor) // 50))  # ~50 attestors per connection
        ]
        stubs = [verifier_pb2_grpc.VerifierStub(c) for c in channels]
        names = {1: "ACCEPTED", 2: "DUPLICATE", 3: "REJECTED"}

        async def attestor(i: int, batches: list[list[bytes]]) -> None:
            nonlocal failed_reports
            stub = stubs[i % len(stubs)]
            for batch in batches:
                first = time.monotonic()
                for _attempt in range(MAX_ATTEMPTS):
                    t = time.monotonic()
                    try:
                        call = stub.SubmitReports(
                            verifier_pb2.SubmitReportsRequest(envelopes=batch), timeout=120
                        )
                        resp = await call
                    except grpc.aio.AioRpcError as e:
                        code = e.code().name
                        status[code] = status.get(code, 0) + 1
                        key = f"{code}: {(e.details() or '').split(':')[0]}"[:80]
                        details[key] = details.get(key, 0) + 1
                        if e.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                            hints = [
                                str(v)
                                for k, v in e.trailing_metadata() or ()
                                if k == "pausewatch-retry-after-ms"
                            ]
                            delay = int(hints[0]) / 1000 if hints else 1.0
                            await asyncio.sleep(delay * (0.5 + random.random()))  # jittered, as the uplink
                            continue
                        failed_reports += len(batch)
                        break
                    status["OK"] = status.get("OK", 0) + 1
                    now = time.monotonic()
                    rpc_latencies.append(now - t)
                    batch_latencies.append(now - first)
                    for r in resp.results:
                        name = names.get(r.disposition, str(r.disposition))
                        dispositions[name] = dispositions.get(name, 0) + 1
                    break
                else:
                    failed_reports += len(batch)

        cpu0 = time.process_time()
        started = time.monotonic()
        await asyncio.gather(*(attestor(i, b) for i, b in enumerate(per_attestor)))
        ended = time.monotonic()
        for c in channels:
            await c.close(None)
        return {
            "rpc_latencies": rpc_latencies,
            "batch_latencies": batch_latencies,
            "status": status,
            "details": details,
            "dispositions": dispositions,
            "failed_reports": failed_reports,
            "started": started,
            "ended": ended,
            "cpu_s": time.process_time() - cpu0,
        }

    out.send(asyncio.run(main()))


def _py_spy(pid: int) -> subprocess.Popen[bytes] | None:
    """With PAUSEWATCH_BENCH_PYSPY=FILE: sample the server (all threads, collapsed stacks)."""
    out = os.environ.get("PAUSEWATCH_BENCH_PYSPY")
    if not out:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--format", "raw", "--threads", "-o", out, "--rate", "200"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _scrape(port: int) -> dict[str, float]:
    """The server's stage counters from its Prometheus endpoint."""
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()  # localhost
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(
            (
                "pausewatch_verifier_stage_seconds_total",
                "pausewatch_verifier_refused_reports_total",
                "pausewatch_verifier_tick_items_count",
                "pausewatch_verifier_tick_items_sum",
            )
        ):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(xs: list[float], q: float) -> float:
    return round(xs[min(len(xs) - 1, int(len(xs) * q))], 4) if xs else float("nan")


def run() -> dict[str, object]:
    import grpc

    from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
    from pausewatch.keys import Ed25519Signer
    from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
    from tests.factories import UsageChain

    load_before = os.getloadavg()
    reference = [ed25519_verify_rate(1.0)]
    with tempfile.TemporaryDirectory(prefix="pausewatch-bench-") as d:
        tmp = Path(d)
        lab = Ed25519Signer.generate()
        metrics_port = _free_port()
        proc, port = _start(_config(tmp, lab.public_key.raw, metrics_port), tmp)
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
            spy = _py_spy(proc.pid)
            server_cpu0 = _proc_cpu_s(proc.pid)
            results: list[dict[str, Any]] = [r.recv() for r in pipes]
            server_cpu = _proc_cpu_s(proc.pid) - server_cpu0
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            for cp in procs:
                cp.join()
            stages = _scrape(metrics_port)
        finally:
            proc.terminate()
            proc.wait(30)
    reference.append(ed25519_verify_rate(1.0))
    load_after = os.getloadavg()
    ed25519 = sum(reference) / len(reference)  # pausewatch.keys: libsodium, what ingest uses

    def merged(key: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in results:
            for k, v in r[key].items():
                out[k] = out.get(k, 0) + v
        return dict(sorted(out.items()))

    rpc_lat = sorted(x for r in results for x in r["rpc_latencies"])
    batch_lat = sorted(x for r in results for x in r["batch_latencies"])
    dispositions = merged("dispositions")
    failed = sum(r["failed_reports"] for r in results)
    total = ATTESTORS * REPORTS_EACH
    accepted = dispositions.get("ACCEPTED", 0)
    if sum(dispositions.values()) + failed != total:
        raise RuntimeError(f"bench accounting: {dispositions} + {failed} failed != {total} sent")
    elapsed = max(r["ended"] for r in results) - min(r["started"] for r in results)
    rate = accepted / elapsed
    client_cpu = sum(r["cpu_s"] for r in results)
    cpus = len(os.sched_getaffinity(0))
    admission = stages.get('pausewatch_verifier_stage_seconds_total{stage="admission"}', 0.0)
    commit = stages.get('pausewatch_verifier_stage_seconds_total{stage="commit"}', 0.0)
    ticks = stages.get("pausewatch_verifier_tick_items_count", 0.0)
    verify = accepted / ed25519  # CPU seconds the signatures alone cost at the reference rate
    return {
        "setup": (
            f"{ATTESTORS} attestors in {CLIENT_PROCS} client process(es) on the SAME {cpus}-CPU machine"
            " as the server (their CPU is measured separately below); real `pausewatch-verifier"
            " serve` subprocess, SQLite WAL synchronous=FULL, gRPC on localhost, insecure"
        ),
        "attestors": ATTESTORS,
        "reports_each": REPORTS_EACH,
        "batch": BATCH,
        "client_processes": CLIENT_PROCS,
        "report_bytes": round(report_bytes),
        "reports_sent": total,
        "dispositions": dispositions,
        "reports_failed": failed,
        "rpc_status_counts": merged("status"),
        "rpc_error_details": merged("details"),
        "seconds": round(elapsed, 2),
        "accepted_per_s": round(rate, 1),
        "receipt_latency_p50_s": _pct(rpc_lat, 0.5),
        "receipt_latency_p99_s": _pct(rpc_lat, 0.99),
        "batch_latency_incl_retries_p50_s": _pct(batch_lat, 0.5),
        "batch_latency_incl_retries_p99_s": _pct(batch_lat, 0.99),
        "ed25519_verify_per_s_single_thread": round(ed25519, 1),
        "ratio_to_ed25519": round(rate / ed25519, 3),
        "target_ratio": 0.8,
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "where_time_goes": {
            "wall_s": round(elapsed, 2),
            "cpu_capacity_s": round(elapsed * cpus, 2),
            "server_cpu_s": round(server_cpu, 2),
            "server_cpu_share_of_machine": round(server_cpu / (elapsed * cpus), 3),
            "clients_cpu_s": round(client_cpu, 2),
            "server_admission_thread_cpu_s": round(admission, 2),
            "of_which_signature_verification_cpu_s_est": round(verify, 2),
            "server_sequencer_commit_s": round(commit, 2),
            "server_rest_cpu_s_est": round(max(0.0, server_cpu - admission - commit), 2),
            "server_cpu_us_per_accepted_report": round(1e6 * server_cpu / max(1, accepted), 1),
            "signature_us_per_report": round(1e6 / ed25519, 1),
            "refused_reports_retried": int(stages.get("pausewatch_verifier_refused_reports_total", 0)),
            "sequencer_ticks": int(ticks),
            "sequencer_items_per_tick": round(
                stages.get("pausewatch_verifier_tick_items_sum", 0.0) / max(1, ticks), 1
            ),
            "sequencer_ms_per_tick": round(1000 * commit / max(1, ticks), 2),
        },
    }
