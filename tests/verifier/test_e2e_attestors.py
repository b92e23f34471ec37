"""End to end with real processes: ``pausewatch-verifier serve`` and three
``pausewatch-attestor run`` daemons (simulator source) on one accelerated clock, talking gRPC
on localhost; the inventory is signed and submitted with the verifier's own CLI. No mock of
gRPC or storage anywhere."""

import base64
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pausewatch.files.keyfile import generate_key_file, load_key_file
from pausewatch.note import Ed25519NoteVerifier
from tests.verifier.harness import ORIGIN
from verifier.sqlite_storage import SqliteStorage

REPO = Path(__file__).resolve().parents[2]
NODES = 3
SPEEDUP = 30


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "verifier.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def acked(state: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{state / 'spool.sqlite'}?mode=ro", uri=True)
        try:
            return db.execute("SELECT COUNT(*) FROM reports WHERE state = 'acked'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


@pytest.mark.heavy
def test_real_attestors_deliver_chains_with_receipts_to_a_real_verifier(tmp_path):
    start_ns = time.time_ns()
    for name in ("log", "challenge", "verdict", "lab"):
        assert cli("keygen", "--out", str(tmp_path / f"{name}.key")).returncode == 0
    lab = load_key_file(tmp_path / "lab.key").public_key.raw
    vcfg = tmp_path / "verifier.toml"
    vcfg.write_text(f"""
listen = "127.0.0.1:0"
state_dir = "vstate"
metrics_listen = "127.0.0.1:0"
[log]
origin = "{ORIGIN}"
key_file = "log.key"
[challenge]
key_file = "challenge.key"
interval_s = 10
[verdict]
key_file = "verdict.key"
[clock]
mode = "accelerated"
start_unix_ns = {start_ns}
speedup = {SPEEDUP}
[[labs]]
lab_id = "lab-1"
public_keys = ["{base64.b64encode(lab).decode()}"]
facilities = ["fac-e2e"]
""")
    ready = tmp_path / "ready"
    verifier = subprocess.Popen(
        [sys.executable, "-m", "verifier.cli", "serve", "--config", str(vcfg), "--ready-file", str(ready)],
        cwd=REPO,
        stderr=open(tmp_path / "verifier.log", "wb"),  # noqa: SIM115  # the child owns it
    )
    attestors: list[subprocess.Popen] = []
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert verifier.poll() is None, (tmp_path / "verifier.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        address = f"127.0.0.1:{int(ready.read_text())}"

        states = [tmp_path / f"node-{i}" for i in range(NODES)]
        nodes_toml = []
        for i, state in enumerate(states):
            state.mkdir()
            key = generate_key_file(state / "node.key").public_key.raw
            nodes_toml.append(f"""
[[nodes]]
node_id = "node-{i}"
attestor_public_key = "{base64.b64encode(key).decode()}"
[[nodes.accelerators]]
uuid = "GPU-sim-{i}-0"
model = "NVIDIA H100 80GB HBM3"
""")
        inv = tmp_path / "inventory.toml"
        inv.write_text(
            'facility_id = "fac-e2e"\nlab_id = "lab-1"\nversion = 1\n'
            "[overhead]\nmin_ratio = 1.05\nmax_ratio = 1.6\n" + "".join(nodes_toml)
        )
        signed = cli(
            "inventory",
            "sign",
            "--key",
            str(tmp_path / "lab.key"),
            "--in",
            str(inv),
            "--out",
            str(tmp_path / "inv.env"),
        )
        assert signed.returncode == 0, signed.stderr
        submitted = cli(
            "--json", "inventory", "submit", "--address", address, "--in", str(tmp_path / "inv.env")
        )
        assert submitted.returncode == 0, submitted.stderr
        assert json.loads(submitted.stdout)["version"] == 1
        again = cli(
            "inventory",
            "submit",
            "--address",
            "127.0.0.1:1",
            "--in",
            str(tmp_path / "inv.env"),
            "--timeout",
            "1",
        )
        assert again.returncode == 2  # unreachable verifier: could not run

        vkey = Ed25519NoteVerifier(ORIGIN, load_key_file(tmp_path / "log.key").public_key).vkey
        # As a vkey: the attestor reads a base64 key containing "+" as a malformed vkey.
        challenge_key = Ed25519NoteVerifier(
            "challenge", load_key_file(tmp_path / "challenge.key").public_key
        ).vkey
        for i, state in enumerate(states):
            cfg = tmp_path / f"node-{i}.toml"
            cfg.write_text(f"""
state_dir = "{state}"
facility_id = "fac-e2e"
node_id = "node-{i}"
period_s = 5
sample_interval_s = 1
[verifier]
address = "{address}"
insecure = true
challenge_key = "{challenge_key}"
[log]
origin = "{ORIGIN}"
vkey = "{vkey}"
[uplink]
batch_size = 4
deadline_s = 5
challenge_refresh_s = 5
[clock]
mode = "accelerated"
start_unix_ns = {start_ns}
speedup = {SPEEDUP}
[[sources]]
kind = "simulator"
devices = 1
profile = "idle"
""")
            attestors.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "attestor.cli",
                        "run",
                        "--config",
                        str(cfg),
                        "--log-level",
                        "warning",
                    ],
                    cwd=REPO,
                    stderr=open(tmp_path / f"node-{i}.log", "wb"),  # noqa: SIM115  # the child owns it
                )
            )
        deadline = time.monotonic() + 90
        while min(acked(s) for s in states) < 4:
            assert time.monotonic() < deadline, [acked(s) for s in states]
            for p in attestors:
                assert p.poll() is None, (tmp_path / "node-0.log").read_text()[-2000:]
            time.sleep(0.2)
        for p in attestors:
            p.send_signal(signal.SIGTERM)
        for p in attestors:
            assert p.wait(30) == 0
    finally:
        for p in attestors:
            if p.poll() is None:
                p.kill()
        verifier.send_signal(signal.SIGTERM)
        assert verifier.wait(30) == 0, (tmp_path / "verifier.log").read_text()[-3000:]

    storage = SqliteStorage(tmp_path / "vstate" / "verifier.sqlite")
    try:
        for state in states:
            key_id = load_key_file(state / "node.key").public_key.key_id
            head = storage.chain_head(key_id)
            assert head is not None
            assert head.header.seq >= 3
            seqs = [storage.report_at(key_id, s) for s in range(head.header.seq + 1)]
            assert all(r is not None for r in seqs)  # an unbroken chain, every link stored
        bad = [
            f.finding_id
            for f in storage.findings("fac-e2e")
            if f.finding_id.startswith("chain.") and f.finding_id != "chain.new_boot"
        ]
        assert bad == []
        assert storage.latest_checkpoint().size == storage.log_size()
    finally:
        storage.close()
    log = (tmp_path / "verifier.log").read_text().splitlines()
    assert all(json.loads(line)["level"] for line in log)  # JSON logs on stderr
