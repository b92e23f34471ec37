"""Crash test: real attestor processes SIGKILLed at 100+ random instants while they sign, spool
and upload to a real gRPC peer on localhost (accelerated clocks). Afterwards: no signed report
is lost, no seq was ever sent with two different contents, and every chain is intact."""

from __future__ import annotations

import base64
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from pausewatch.envelope import envelope_digest, parse_envelope, verify_envelope
from pausewatch.files.keyfile import load_key_file
from pausewatch.reports import decode_report
from tests.attestor.peer import ORIGIN, PeerThread
from tests.attestor.processes import START_LIMIT_S, log_tail, spawn, spool_rows, wait_ready, wait_until

pytestmark = pytest.mark.heavy

WORKERS = 4
KILLS_PER_WORKER = 26


def _config(state: Path, address: str, vkey: str, challenge_key: str) -> Path:
    cfg = state.parent / f"{state.name}.toml"
    cfg.write_text(f"""
state_dir = "{state}"
facility_id = "fac-crash"
node_id = "{state.name}"
period_s = 1
sample_interval_s = 0.25
[verifier]
address = "{address}"
insecure = true
challenge_key = "{challenge_key}"
[log]
origin = "{ORIGIN}"
vkey = "{vkey}"
[uplink]
batch_size = 4
deadline_s = 2
backoff_initial_s = 0.5
backoff_max_s = 2
challenge_refresh_s = 5
[clock]
mode = "accelerated"
speedup = 30
[[sources]]
kind = "simulator"
devices = 2
profile = "training"
""")
    return cfg


def _worker(cfg: Path, seed: int, kills: list[int]) -> None:
    rng = random.Random(seed)
    for _ in range(KILLS_PER_WORKER):
        proc = subprocess.Popen(
            [sys.executable, "-m", "attestor.cli", "run", "--config", str(cfg), "--log-level", "info"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        if rng.random() < 0.8:
            # Most crashes hit a running daemon: wait for its start line (machine load makes
            # start-up time vary), then kill at a random instant while it signs and uploads.
            for line in proc.stderr:
                if b"attestor started" in line:
                    break
            time.sleep(rng.uniform(0.0, 0.7))
        else:
            time.sleep(rng.uniform(0.0, 1.5))  # the rest hit start-up, opening the spool
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        kills.append(1)


def test_sigkill_at_random_instants_loses_nothing(tmp_path: Path) -> None:
    with PeerThread() as peer:
        vkey = peer.state.log_vkey
        challenge_key = base64.b64encode(peer.state.challenge_signer.public_key.raw).decode()
        states = [tmp_path / f"node-{i}" for i in range(WORKERS)]
        configs = [_config(s, peer.address, vkey, challenge_key) for s in states]
        kills: list[int] = []
        threads = [threading.Thread(target=_worker, args=(c, 1000 + i, kills)) for i, c in enumerate(configs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(kills) >= 100
        # One clean run each, on the real clock (so that delivery outpaces signing), until every
        # spooled report has its receipt, then SIGTERM.
        for c in configs:
            c.write_text(
                c.read_text()
                .replace('mode = "accelerated"', 'mode = "system"')
                .replace("batch_size = 4", "batch_size = 64")
                .replace("period_s = 1\n", "period_s = 5\n")
            )
        logs = [c.with_suffix(".log") for c in configs]
        ready = [c.with_suffix(".ready") for c in configs]
        procs = [
            spawn(c, log, ready_file=r, log_level="warning")
            for c, log, r in zip(configs, logs, ready, strict=True)
        ]
        try:
            # Each daemon running first (the spools may hold nothing but acked reports already,
            # and a SIGTERM must not come before the daemon did anything); then its uplink.
            for p, r, log in zip(procs, ready, logs, strict=True):
                wait_ready(p, r, log)
            for p, state, log in zip(procs, states, logs, strict=True):

                def all_acked(state: Path = state) -> bool:
                    rows = spool_rows(state)
                    return bool(rows) and all(st == "acked" for _, _, st in rows)

                wait_until("every spooled report was acked", all_acked, p, log, START_LIMIT_S)
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p, log in zip(procs, logs, strict=True):
                assert p.wait(30) == 0, log_tail(log)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        received = list(peer.state.received)

    by_key: dict[str, dict[int, set[bytes]]] = defaultdict(lambda: defaultdict(set))
    for raw in received:
        header, _ = decode_report(parse_envelope(raw))
        by_key[header.key_id][header.seq].add(raw)
    total = 0
    for state in states:
        signer = load_key_file(state / "node.key")
        key_id = signer.public_key.key_id
        sent = by_key[key_id]
        # Never two different contents for one seq.
        assert all(len(v) == 1 for v in sent.values()), [s for s, v in sent.items() if len(v) > 1]
        rows = spool_rows(state)
        seqs = [s for s, _, _ in rows]
        assert seqs == list(range(len(rows))), "a signed report vanished from the spool"
        # Everything was delivered before the stop; the stop itself may sign one last partial
        # period that is durable in the spool and goes out on the next start.
        pending = [s for s, _, st in rows if st != "acked"]
        assert pending in ([], [len(rows) - 1]), pending
        previous = None
        for seq, envelope, _ in rows:
            if seq not in pending:
                assert sent[seq] == {envelope}, f"seq {seq}: the verifier holds other bytes than the spool"
            else:
                assert sent.get(seq, {envelope}) == {envelope}
            env = parse_envelope(envelope)
            verify_envelope(env, signer.public_key)
            header, _ = decode_report(env)
            assert header.seq == seq
            assert header.prev == (b"" if previous is None else envelope_digest(previous))
            previous = envelope
        assert set(sent) <= set(seqs), "the verifier got a seq the spool does not hold"
        total += len(rows)
    assert total >= 100, f"only {total} reports were signed across {len(kills)} crashes"
