"""Burst ingest: many concurrent attestor clients submitting batches of full 8-GPU reports
(``bench.reports``, ~2.5 KiB each) over gRPC on localhost to real ``pausewatch-verifier serve``
processes with durable storage, compared with the single-thread Ed25519 verification rate
measured in the same run.

Setup per case: attestors enrolled across 10 facilities; each holds its reports pre-signed (as
after a spool backlog) and submits them in batches over one of the client processes, all
attestors in flight at once. Cases: batches of 6 (10,000 attestors x 6 reports) and of 60
(1,000 attestors x 60 reports), on SQLite (WAL, synchronous=FULL). Figures: sustained accepted
reports per second (first send to last receipt), p50/p99 receipt latency per RPC, server CPU
per report split by stage (from the server's own stage counters), the load generator's own
CPU, the Ed25519 reference and the ratio to it (target at batches of 60: >= 0.5).
Scaling: the batches-of-60 case again with ``limits.frontends`` = 0 (one process), 1 and 2
front-end processes (verifier.frontends); the server's CPU is the whole process tree's.
Environment knobs: PAUSEWATCH_BENCH_CLIENT_PROCS, PAUSEWATCH_BENCH_FRONTENDS (the main
cases' front-ends; default: serve's, one per CPU), PAUSEWATCH_BENCH_PROFILE (cProfile file),
PAUSEWATCH_BENCH_PYSPY (py-spy raw file).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_ed25519 import ed25519_verify_rate

REPO = Path(__file__).resolve().parents[1]
CLIENT_PROCS = int(os.environ.get("PAUSEWATCH_BENCH_CLIENT_PROCS", "1"))
_FRONTENDS_ENV = os.environ.get("PAUSEWATCH_BENCH_FRONTENDS")
FRONTENDS = int(_FRONTENDS_ENV) if _FRONTENDS_ENV else None  # None: serve's default
MAX_ATTEMPTS = 50  # per batch; RESOURCE_EXHAUSTED is retried after the server's hint
FACILITIES = 10
ORIGIN = "bench.pausewatch/log"


@dataclass(frozen=True)
class Case:
    attestors: int
    reports_each: int
    batch: int


FULL = (Case(10_000, 6, 6), Case(1_000, 60, 60))
QUICK = (Case(20, 6, 6), Case(2, 60, 60))


def write_config(
    tmp: Path,
    lab_pub: bytes,
    metrics_port: int,
    host: int = 0,
    storage: str = "",
    frontends: int | None = None,
) -> Path:
    """A verifier config in ``tmp`` (keys shared by every host there; state dir per host)."""
    from pausewatch.files.keyfile import generate_key_file

    for name in ("log", "challenge", "verdict"):
        if not (tmp / f"{name}.key").exists():
            generate_key_file(tmp / f"{name}.key")
    facilities = ", ".join(f'"fac-{i}"' for i in range(FACILITIES))
    cfg = tmp / f"verifier-{host}.toml"
    cfg.write_text(
        f"""
listen = "127.0.0.1:0"
state_dir = "state-{host}"
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
# every simulated attestor calls from 127.0.0.1, where real ones come from their own addresses
max_calls_per_source = 10000000
{"" if frontends is None else f"frontends = {frontends}"}
[evaluation]
enabled = false
[[labs]]
lab_id = "lab"
public_keys = ["{base64.b64encode(lab_pub).decode()}"]
facilities = [{facilities}]
{storage}
"""
    )
    return cfg


def start_serve(cfg: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A real ``pausewatch-verifier serve`` process on ``cfg``; (process, its gRPC port)."""
    ready = tmp / f"{cfg.stem}.ready"
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


def _proc_cpu_split(pid: int) -> dict[str, float]:
    """CPU seconds of a ``serve`` process tree, split: ``core`` (the process itself) and
    ``frontends`` (its descendants; the spawn context's resource tracker among them, idle),
    each ``user`` and ``system``."""
    user, system = _own_cpu_s(pid)
    out = {"core_user": user, "core_system": system, "frontends_user": 0.0, "frontends_system": 0.0}
    stack = _children(pid)
    while stack:
        child = stack.pop()
        u, s = _own_cpu_s(child)
        out["frontends_user"] += u
        out["frontends_system"] += s
        stack.extend(_children(child))
    return out


def written_bytes(pid: int | str = "self") -> int:
    """Bytes process ``pid`` has written with write(2) and the like so far (``wchar`` of
    ``/proc/PID/io``: the SQLite WAL and database, the checkpoint file; 0 if unreadable)."""
    try:
        lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in lines if line.startswith("wchar:")), 0)


def _own_cpu_s(pid: int) -> tuple[float, float]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone meanwhile
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_split_us_per_report(
    before: dict[str, float], after: dict[str, float], reports: int
) -> dict[str, float]:
    """:func:`_proc_cpu_split`'s growth between two readings, in µs per report."""
    return {k: round((after[k] - before[k]) * 1e6 / max(1, reports), 1) for k in sorted(after)}


def enrol(port: int, lab: Any, keys: list[Any]) -> bytes:
    """Enrol ``keys`` as nodes ``n{i}`` across the facilities; the current challenge nonce."""
    import grpc

    from bench.reports import node_inventory
    from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
    from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = verifier_pb2_grpc.VerifierStub(ch)
        for f in range(FACILITIES):
            enrolled = [(f"n{i}", keys[i]) for i in range(f, len(keys), FACILITIES)]
            inv = node_inventory(f"fac-{f}", "lab", enrolled)
            env = sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [lab])
            stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=env), timeout=60)
        c = types_pb2.Challenge()
        c.ParseFromString(
            parse_envelope(stub.GetChallenge(verifier_pb2.GetChallengeRequest()).envelope).payload
        )
    return bytes(c.nonce)


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


def _sum_splits(splits: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(s[k] for s in splits) for k in splits[0]}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(xs: list[float], q: float) -> float:
    return round(xs[min(len(xs) - 1, int(len(xs) * q))], 4) if xs else float("nan")


def burst(
    case: Case,
    storage: str = "",
    hosts: int = 1,
    client_procs: int = CLIENT_PROCS,
    frontends: int | None = FRONTENDS,
) -> dict[str, object]:
    """One burst: ``case`` against ``hosts`` serve processes (separate state dirs; with a
    shared ``storage`` table, one database), the attestors spread over the hosts."""
    from bench.reports import NodeChain
    from pausewatch.keys import Ed25519Signer

    load_before = os.getloadavg()
    reference = [ed25519_verify_rate(0.2 if case.attestors * case.reports_each < 1000 else 1.0)]
    with tempfile.TemporaryDirectory(prefix="pausewatch-bench-") as d:
        tmp = Path(d)
        lab = Ed25519Signer.generate()
        servers: list[tuple[subprocess.Popen[bytes], int, int]] = []  # process, port, metrics port
        try:
            for h in range(hosts):
                metrics_port = free_port()
                cfg = write_config(tmp, lab.public_key.raw, metrics_port, h, storage, frontends)
                proc, port = start_serve(cfg, tmp)
                servers.append((proc, port, metrics_port))
            keys = [Ed25519Signer.generate() for _ in range(case.attestors)]
            nonce = enrol(servers[0][1], lab, keys)
            now = time.time_ns()
            per_attestor = []
            for i, key in enumerate(keys):
                chain = NodeChain(
                    key,
                    f"fac-{i % FACILITIES}",
                    f"n{i}",
                    nonce,
                    start_ns=now - case.reports_each * 60_000_000_000,
                )
                envs = [chain.next() for _ in range(case.reports_each)]
                per_attestor.append([envs[j : j + case.batch] for j in range(0, len(envs), case.batch)])
            report_bytes = sum(len(e) for b in per_attestor[0] for e in b) / case.reports_each
            ctx = mp.get_context("spawn")
            pipes, procs = [], []
            client_procs = max(client_procs, hosts)
            for p in range(client_procs):
                path = tmp / f"batches-{p}.pickle"
                path.write_bytes(pickle.dumps(per_attestor[p::client_procs]))
                recv, send = ctx.Pipe(duplex=False)
                cp = ctx.Process(target=_client, args=(servers[p % hosts][1], str(path), send))
                cp.start()
                pipes.append(recv)
                procs.append(cp)
            spy = _py_spy(servers[0][0].pid)
            split0 = [_proc_cpu_split(s[0].pid) for s in servers]
            written = sum(written_bytes(s[0].pid) for s in servers)
            results: list[dict[str, Any]] = [r.recv() for r in pipes]
            split1 = [_proc_cpu_split(s[0].pid) for s in servers]
            written = sum(written_bytes(s[0].pid) for s in servers) - written
            server_cpu = sum(sum(a.values()) - sum(b.values()) for a, b in zip(split1, split0, strict=True))
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            for cp in procs:
                cp.join()
            stages: dict[str, float] = {}
            for _proc, _port, metrics_port in servers:
                for k, v in _scrape(metrics_port).items():
                    stages[k] = stages.get(k, 0.0) + v
        finally:
            for proc, _port, _m in servers:
                proc.terminate()
            for proc, _port, _m in servers:
                proc.wait(30)
    reference.append(ed25519_verify_rate(0.2 if case.attestors * case.reports_each < 1000 else 1.0))
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
    total = case.attestors * case.reports_each
    accepted = dispositions.get("ACCEPTED", 0)
    if sum(dispositions.values()) + failed != total:
        raise RuntimeError(f"bench accounting: {dispositions} + {failed} failed != {total} sent")
    elapsed = max(r["ended"] for r in results) - min(r["started"] for r in results)
    rate = accepted / elapsed
    client_cpu = sum(r["cpu_s"] for r in results)
    cpus = len(os.sched_getaffinity(0))
    ticks = stages.get("pausewatch_verifier_tick_items_count", 0.0)
    by_stage = {
        k.split('stage="', 1)[1].rstrip('"}'): v
        for k, v in stages.items()
        if k.startswith("pausewatch_verifier_stage_seconds_total{")
    }
    commit = by_stage.get("commit", 0.0)
    per_report = 1e6 / max(1, accepted)
    signature_us = 1e6 / ed25519
    return {
        "setup": (
            f"{case.attestors} attestors x {case.reports_each} reports in batches of {case.batch}, "
            f"{client_procs} client process(es) on the SAME {cpus}-CPU machine as {hosts} server(s) "
            "(client CPU measured separately below); real `pausewatch-verifier serve` subprocesses, "
            f"{'PostgreSQL' if 'postgresql' in storage else 'SQLite WAL synchronous=FULL'}, "
            "gRPC on localhost, insecure"
        ),
        "attestors": case.attestors,
        "reports_each": case.reports_each,
        "batch": case.batch,
        "hosts": hosts,
        "frontends": "serve's default (one per CPU)" if frontends is None else frontends,
        "client_processes": client_procs,
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
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "where_time_goes": {
            "wall_s": round(elapsed, 2),
            "cpu_capacity_s": round(elapsed * cpus, 2),
            "server_cpu_s": round(server_cpu, 2),
            "server_cpu_share_of_machine": round(server_cpu / (elapsed * cpus), 3),
            "load_generator_cpu_s": round(client_cpu, 2),
            "load_generator_cpu_us_per_report": round(client_cpu * per_report, 1),
            "server_cpu_us_per_accepted_report": round(server_cpu * per_report, 1),
            "server_cpu_per_report_in_signature_verifications": round(
                server_cpu * per_report / signature_us, 2
            ),
            "server_cpu_us_per_report_by_process": cpu_split_us_per_report(
                _sum_splits(split0), _sum_splits(split1), accepted
            ),
            "core_bytes_written_per_report": round(written / max(1, accepted)),
            "signature_us_per_report": round(signature_us, 1),
            "stage_us_per_report": {k: round(v * per_report, 1) for k, v in sorted(by_stage.items())},
            "refused_reports_retried": int(stages.get("pausewatch_verifier_refused_reports_total", 0)),
            "sequencer_ticks": int(ticks),
            "sequencer_items_per_tick": round(
                stages.get("pausewatch_verifier_tick_items_sum", 0.0) / max(1, ticks), 1
            ),
            "sequencer_ms_per_tick": round(1000 * commit / max(1, ticks), 2),
        },
    }


def run(quick: bool = False) -> dict[str, object]:
    out: dict[str, object] = {}
    cases = QUICK if quick else FULL
    for case in cases:
        out[f"batch_{case.batch}"] = burst(case)
    # scaling in front-end processes: the batches-of-60 case with 0 (one process), 1 and 2
    scaling: dict[str, object] = {}
    for n in (1,) if quick else (0, 1, 2):  # quick: the code path only
        b = burst(cases[-1], frontends=n)
        where = b["where_time_goes"]
        assert isinstance(where, dict)
        scaling[f"frontends_{n}"] = {
            "accepted_per_s": b["accepted_per_s"],
            "ratio_to_ed25519": b["ratio_to_ed25519"],
            "receipt_latency_p99_s": b["receipt_latency_p99_s"],
            "server_cpu_per_report_in_signature_verifications": where[
                "server_cpu_per_report_in_signature_verifications"
            ],
            "rpc_status_counts": b["rpc_status_counts"],
        }
    out["scaling_batch_60"] = scaling
    targets = {"batch_60_ratio_to_ed25519": 0.5, "server_cpu_per_report_in_signature_verifications": 2.5}
    b60 = out.get("batch_60")
    if isinstance(b60, dict):
        out["meets_targets"] = {
            "batch_60_ratio_to_ed25519": b60["ratio_to_ed25519"] >= 0.5,
            "server_cpu_per_report_in_signature_verifications": (
                b60["where_time_goes"]["server_cpu_per_report_in_signature_verifications"] <= 2.5
            ),
        }
    out["targets"] = targets
    return out
