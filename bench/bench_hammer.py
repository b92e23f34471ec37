"""The hammer (issue 12, build 10): honest attestors against a real verifier under attack.

A real ``pausewatch-verifier serve`` process (SQLite WAL, synchronous=FULL, gRPC on localhost,
default limits) serves honest attestors, each submitting one fresh report at a time on a
seeded, jittered schedule (``INTERVAL_S``) and retrying a refused one after the server's hint,
as the attestor's uplink does. Two phases of ``PHASE_S`` seconds each, in the same run:

1. **unattacked**: the honest attestors alone — the reference;
2. **attacked**: the same honest load while one attacker process (its own CPU, as a real
   attacker's would be) runs every attacker of issue 12's table at once, each bounded:
   - ``signature_amplification``: 1000-envelope batches (~2.3 MB) of reports carrying 16 bad
     signatures that name enrolled key ids;
   - ``byte_flood``: batches of oversized envelopes (15 × 1 MiB) and a stream of 30 KiB ones;
   - ``idle_connections``: TCP connections that never speak;
   - ``stranger_watchers``: ``WatchAlerts`` streams opened again and again without identity;
   - ``enrolment_squatting``: another lab's inventories naming the honest nodes' keys;
   - ``late_data``: reports of an enrolled attacker key dated ten months back.

Figures: honest receipts per second, p50/p99 latency (first attempt to receipt) in each phase,
and the attacked/unattacked ratios; what each attacker got back (status codes). Target (issue
12): receipt rate ≥ 90 % of the unattacked one, p99 < 2 s on 2 cores. Seeded: the same seed
gives the same schedule and payloads (timing, of course, is the machine's).

``hammer(size="small")`` is what ``tests/verifier/test_hammer.py`` runs; ``run()`` (``make
bench``) the full size. Environment: PAUSEWATCH_HAMMER_SIZE (full|small), _SEED.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ORIGIN = "hammer.pausewatch/log"
NS = 1_000_000_000


@dataclass(frozen=True)
class Size:
    honest: int  # honest attestors
    interval_s: float  # each sends one report this often (jittered)
    phase_s: float  # seconds per phase
    amplifiers: int  # concurrent signature-amplification loops
    byte_flooders: int  # concurrent 15 MiB-request loops
    idle_connections: int
    strangers: int  # concurrent stranger WatchAlerts loops
    squatters: int
    late: int  # concurrent late-data loops


SIZES = {
    "full": Size(
        honest=40, interval_s=1.0, phase_s=20.0, amplifiers=2, byte_flooders=4,
        idle_connections=1000, strangers=64, squatters=1, late=2,
    ),
    "small": Size(
        honest=4, interval_s=0.5, phase_s=3.0, amplifiers=1, byte_flooders=1,
        idle_connections=50, strangers=8, squatters=1, late=1,
    ),
}  # fmt: skip


def _config(tmp: Path, lab1: bytes, lab2: bytes) -> Path:
    from pausewatch.files.keyfile import generate_key_file

    for name in ("log", "challenge", "verdict"):
        generate_key_file(tmp / f"{name}.key")
    cfg = tmp / "verifier.toml"
    cfg.write_text(
        f"""listen = "127.0.0.1:0"
state_dir = "state"
metrics_listen = ""
[log]
origin = "{ORIGIN}"
key_file = "log.key"
[challenge]
key_file = "challenge.key"
interval_s = 10
[verdict]
key_file = "verdict.key"
[evaluation]
enabled = false
[[labs]]
lab_id = "lab-1"
public_keys = ["{base64.b64encode(lab1).decode()}"]
facilities = ["fac-a", "fac-x"]
[[labs]]
lab_id = "lab-2"
public_keys = ["{base64.b64encode(lab2).decode()}"]
facilities = ["fac-b"]
"""
    )
    return cfg


def _start(cfg: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    ready = tmp / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "verifier.cli", "serve", "--config", str(cfg), "--ready-file", str(ready),
         "--log-level", "error"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("verifier did not start")
        time.sleep(0.05)
    return proc, int(ready.read_text())


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * q))], 4) if xs else float("nan")


# --- honest attestors (this process) -------------------------------------------------------
@dataclass
class Phase:
    receipts: int = 0
    latencies: list[float] = field(default_factory=list)  # first attempt -> receipt, seconds
    codes: Counter[str] = field(default_factory=Counter)  # every answer's status code
    refusals: Counter[str] = field(default_factory=Counter)  # why, by the message's start

    def figures(self, seconds: float) -> dict[str, object]:
        lat = self.latencies
        return {
            "receipts": self.receipts,
            "receipt_rate_per_s": round(self.receipts / seconds, 2),
            "latency_p50_s": _pct(lat, 0.5),
            "latency_p99_s": _pct(lat, 0.99),
            "latency_max_s": round(max(lat), 4) if lat else float("nan"),
            "codes": dict(self.codes),
            "refusals": dict(self.refusals.most_common(5)),
        }


async def _honest(port: int, chains: list[Any], size: Size, seed: int, seconds: float) -> Phase:
    """Each chain an attestor on its own connection: one fresh report per ``interval_s``
    (jittered), sent alone and retried after a refusal until it has its receipt; the phase ends
    after ``seconds``."""
    import grpc

    from pausewatch.envelope import parse_envelope
    from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc

    phase = Phase()
    latencies, codes = phase.latencies, phase.codes
    rng = random.Random(seed)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = verifier_pb2_grpc.VerifierStub(channel)
        answer = await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=30)
        challenge = types_pb2.Challenge()
        challenge.ParseFromString(parse_envelope(answer.envelope).payload)
        start = time.monotonic()
        end = start + seconds

        async def attestor(chain: Any) -> None:
            own_connection = [("grpc.use_local_subchannel_pool", 1)]  # a node's own TCP connection
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=own_connection) as own:
                await send_reports(chain, verifier_pb2_grpc.VerifierStub(own))

        async def send_reports(chain: Any, stub: Any) -> None:
            chain.nonce = bytes(challenge.nonce)
            next_at = start + rng.uniform(0, size.interval_s)
            while next_at < end:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                envelope = chain.next()
                first = time.monotonic()
                while True:  # as the uplink: retry a refused report
                    try:
                        resp = await stub.SubmitReports(
                            verifier_pb2.SubmitReportsRequest(envelopes=[envelope]), timeout=30
                        )
                        code, message = resp.results[0].code, resp.results[0].message
                    except grpc.aio.AioRpcError as e:
                        code, message = e.code().value[0], e.details() or ""
                    codes[str(code)] += 1
                    if code:
                        phase.refusals[message[:60]] += 1
                    if code == 0:
                        phase.receipts += 1
                        latencies.append(time.monotonic() - first)
                        break
                    if time.monotonic() > end + 30:
                        break
                    await asyncio.sleep(0.2)
                next_at += size.interval_s * rng.uniform(0.8, 1.2)

        await asyncio.gather(*(attestor(c) for c in chains))
    return phase


# --- attackers (their own process) ---------------------------------------------------------
def _attackers(port: int, seed: int, size: Size, seconds: float, material: dict[str, Any], out: Any) -> None:
    """Every attacker of the table at once, bounded by ``seconds``; sends back status counts."""
    import grpc

    from pausewatch.envelope import PayloadType, sign_envelope
    from pausewatch.keys import Ed25519Signer
    from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
    from sim.factories import UsageChain

    rng = random.Random(seed)
    codes: dict[str, Counter[str]] = {}

    def count(name: str, code: object) -> None:
        codes.setdefault(name, Counter())[str(code)] += 1

    attacker_key = Ed25519Signer.from_seed(material["attacker_seed"])
    lab2 = Ed25519Signer.from_seed(material["lab2_seed"])
    victim_ids = material["victim_key_ids"]

    # signature amplification: a report of an enrolled node with 16 bad signatures naming keys
    payload = UsageChain(attacker_key, facility_id="fac-x", node_id="x0").report().SerializeToString()
    amp = types_pb2.Envelope(payload=payload, payload_type=PayloadType.USAGE_REPORT)
    for j in range(16):
        amp.signatures.add(keyid=victim_ids[j % len(victim_ids)], sig=rng.randbytes(64))
    amp_batch = [amp.SerializeToString()] * 1000  # ~2.3 MB
    huge = rng.randbytes(1 << 20)
    flood_batch = [huge] * 15  # 15 MiB
    late_chain = UsageChain(
        attacker_key, facility_id="fac-x", node_id="x0", start_ns=time.time_ns() - 300 * 86_400 * NS
    )
    late_batch = [late_chain.next() for _ in range(100)]

    async def main() -> None:
        end = time.monotonic() + seconds
        idle: list[socket.socket] = []
        for _ in range(size.idle_connections):
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError as e:
                count("idle_connections", type(e).__name__)
            else:
                count("idle_connections", "open")
        channels = [
            grpc.aio.insecure_channel(
                f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)]
            )
            for _ in range(4)
        ]
        stubs = [verifier_pb2_grpc.VerifierStub(ch) for ch in channels]

        async def loop(name: str, call: Any, pause: float = 0.0) -> None:
            n = 0
            while time.monotonic() < end:
                try:
                    resp = await call(stubs[n % len(stubs)])
                    results = getattr(resp, "results", None)
                    if results:
                        for r in results[:1]:
                            count(name, r.code)
                    else:
                        count(name, 0)
                except grpc.aio.AioRpcError as e:
                    count(name, e.code().value[0])
                n += 1
                await asyncio.sleep(pause)

        def submit(batch: list[bytes]) -> Any:
            return lambda s: s.SubmitReports(verifier_pb2.SubmitReportsRequest(envelopes=batch), timeout=10)

        async def stranger(s: Any) -> Any:
            call = s.WatchAlerts(verifier_pb2.WatchAlertsRequest(), timeout=5)
            try:
                return await call.read()
            finally:
                call.cancel()

        version = [1]

        async def squat(s: Any) -> Any:
            inv = types_pb2.Inventory(facility_id="fac-b", lab_id="lab-2", version=version[0])
            inv.overhead.min_ratio, inv.overhead.max_ratio = 1.05, 1.6
            version[0] += 1
            for j, key_raw in enumerate(material["victim_raw_keys"]):
                node = inv.nodes.add(node_id=f"squat-{j}", attestor_public_key=key_raw)
                node.accelerators.add(uuid=f"GPU-S{j}", model="NVIDIA H100 80GB HBM3")
            env = sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [lab2])
            return await s.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=env), timeout=10)

        tasks = []
        tasks += [loop("signature_amplification", submit(amp_batch)) for _ in range(size.amplifiers)]
        tasks += [loop("byte_flood", submit(flood_batch)) for _ in range(size.byte_flooders)]
        tasks += [loop("stranger_watchers", stranger, 0.01) for _ in range(size.strangers)]
        tasks += [loop("enrolment_squatting", squat, 0.05) for _ in range(size.squatters)]
        tasks += [loop("late_data", submit(late_batch)) for _ in range(size.late)]
        await asyncio.gather(*tasks)
        for ch in channels:
            await ch.close()
        for sock in idle:
            sock.close()

    asyncio.run(main())
    out.send({k: dict(v) for k, v in codes.items()})
    out.close()


# --- the run --------------------------------------------------------------------------------
def hammer(size: str = "full", seed: int = 12) -> dict[str, object]:
    import grpc

    from pausewatch.enrolment import sign_enrolment
    from pausewatch.envelope import PayloadType, sign_envelope
    from pausewatch.keys import Ed25519Signer
    from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc

    shape = SIZES[size]
    rng = random.Random(seed)
    seeds = [rng.randbytes(32) for _ in range(shape.honest + 3)]
    lab1, lab2 = Ed25519Signer.from_seed(seeds[-1]), Ed25519Signer.from_seed(seeds[-2])
    attacker = Ed25519Signer.from_seed(seeds[-3])
    keys = [Ed25519Signer.from_seed(s) for s in seeds[: shape.honest]]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="pausewatch-hammer-") as d:
        tmp = Path(d)
        proc, port = _start(_config(tmp, lab1.public_key.raw, lab2.public_key.raw), tmp)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = verifier_pb2_grpc.VerifierStub(ch)
                for facility, members in (("fac-a", list(enumerate(keys))), ("fac-x", [(0, attacker)])):
                    inv = types_pb2.Inventory(facility_id=facility, lab_id="lab-1", version=1)
                    inv.overhead.min_ratio, inv.overhead.max_ratio = 1.05, 1.6
                    for i, key in members:
                        node_id = f"n{i}" if facility == "fac-a" else "x0"
                        node = inv.nodes.add(
                            node_id=node_id,
                            attestor_public_key=key.public_key.raw,
                            enrolment_proof=sign_enrolment(key, facility, "node", node_id),
                        )
                        node.accelerators.add(uuid=f"GPU-{facility}-{i}", model="NVIDIA H100 80GB HBM3")
                    env = sign_envelope(
                        PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [lab1]
                    )
                    stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=env), timeout=60)
            from sim.factories import UsageChain

            # one-second periods from a few seconds back, so that reports stay near log time
            chains = [
                UsageChain(
                    k, facility_id="fac-a", node_id=f"n{i}", period_ns=NS, start_ns=time.time_ns() - 5 * NS
                )
                for i, k in enumerate(keys)
            ]
            rss_before = _rss_mib(proc.pid)
            calm = asyncio.run(_honest(port, chains, shape, seed, shape.phase_s))
            material = {
                "attacker_seed": seeds[-3],
                "lab2_seed": seeds[-2],
                "victim_key_ids": [k.public_key.key_id for k in keys],
                "victim_raw_keys": [k.public_key.raw for k in keys],
            }
            ctx = mp.get_context("spawn")
            recv, send = ctx.Pipe(duplex=False)
            attack = ctx.Process(
                target=_attackers, args=(port, seed, shape, shape.phase_s + 2.0, material, send)
            )
            attack.start()
            time.sleep(1.0)  # the attackers are under way (their set-up, idle sockets) first
            attacked = asyncio.run(_honest(port, chains, shape, seed + 1, shape.phase_s))
            rss_attacked = _rss_mib(proc.pid)
            attackers = recv.recv() if recv.poll(120) else {"error": "the attacker process sent nothing"}
            attack.join(60)
            alive = proc.poll() is None
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    calm_f, attacked_f = calm.figures(shape.phase_s), attacked.figures(shape.phase_s)
    rate_ratio = attacked.receipts / calm.receipts if calm.receipts else float("nan")
    p99 = attacked_f["latency_p99_s"]
    return {
        "what": "honest attestors' receipts and latency against a real `serve` process, alone and"
        " under every attacker of issue 12 at once (separate attacker process); localhost gRPC,"
        " SQLite WAL synchronous=FULL, default limits",
        "size": size,
        "shape": asdict(shape),
        "seed": seed,
        "cpus": len(os.sched_getaffinity(0)),
        "load_avg_before": [round(x, 2) for x in load_before],
        "unattacked": calm_f,
        "attacked": attacked_f,
        "receipt_rate_ratio": round(rate_ratio, 3),
        "p99_ratio": round(float(p99) / float(calm_f["latency_p99_s"]), 2)
        if calm.latencies
        else float("nan"),
        "target": {"receipt_rate_ratio_min": 0.9, "attacked_p99_max_s": 2.0},
        "target_met": bool(rate_ratio >= 0.9 and float(p99) < 2.0),
        "attackers": attackers,
        "server_alive_after": alive,
        "server_rss_mib": {"before": round(rss_before, 1), "attacked": round(rss_attacked, 1)},
    }


def run() -> dict[str, object]:
    return hammer(
        os.environ.get("PAUSEWATCH_HAMMER_SIZE", "full"), int(os.environ.get("PAUSEWATCH_HAMMER_SEED", "12"))
    )


if __name__ == "__main__":
    import json

    print(json.dumps(hammer(sys.argv[1] if len(sys.argv) > 1 else "small"), indent=2))
