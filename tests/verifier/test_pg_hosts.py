"""Two verifier hosts on one PostgreSQL database (real ``serve`` processes, separate state
directories): both admit and sequence, one writer at a time; SIGKILL one of them under load
and the other carries on; the killed one restarts beside it and sequences again. Afterwards, from the database: every receipted report is in the log
at its receipted index under a stored checkpoint, no tree size was signed twice, every
checkpoint verifies under the log key and is consistent with the next."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from bench.bench_ingest import FACILITIES, ORIGIN, free_port, start_serve, write_config
from bench.reports import NodeChain, node_inventory
from pausewatch import merkle
from pausewatch.checkpoint import open_checkpoint
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.files.keyfile import load_key_file
from pausewatch.keys import Ed25519Signer
from pausewatch.note import Ed25519NoteSigner
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from verifier.pg_storage import PgStorage

NODES_PER_HOST = 12
BATCH = 3


@dataclass
class Host:
    name: str
    port: int
    chains: list[NodeChain]
    receipts: list[tuple[bytes, types_pb2.Receipt, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    unsent: list[bytes] = field(default_factory=list)  # the batch in flight when the host died

    def drive(self) -> None:
        """Submit batches round-robin over this host's nodes until stopped or the host is gone
        (first the batch a dead host left unanswered, if any); keep every receipt (envelope,
        receipt, when)."""
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as ch:
            stub = verifier_pb2_grpc.VerifierStub(ch)
            while not self.stop.is_set():
                for chain in self.chains:
                    batch, self.unsent = self.unsent or [chain.next() for _ in range(BATCH)], []
                    for _attempt in range(300):
                        try:
                            resp = stub.SubmitReports(
                                verifier_pb2.SubmitReportsRequest(envelopes=batch), timeout=30
                            )
                        except grpc.RpcError as e:
                            self.failures.append(f"{e.code().name}: {e.details()}")  # type: ignore[attr-defined]
                            self.unsent = batch
                            return
                        # a host learns of an inventory another host logged within its sync
                        # interval (1 s): until then, the same batch again (a refusal stores nothing)
                        if self.receipts or "no enrolled key" not in resp.results[0].message:
                            break
                        time.sleep(0.1)
                    now = time.monotonic()
                    for env, r in zip(batch, resp.results, strict=True):
                        # a batch resent after its host died may have been logged: a duplicate,
                        # answered with the original's receipt
                        assert r.disposition in (
                            verifier_pb2.DISPOSITION_ACCEPTED, verifier_pb2.DISPOSITION_DUPLICATE
                        ), r.message
                        self.receipts.append((env, r.receipt, now))


def test_sigkill_one_of_two_hosts_under_load_loses_nothing_receipted(pg_cluster, tmp_path: Path) -> None:
    dsn = pg_cluster.database()
    storage_table = f'[storage]\nbackend = "postgresql"\ndsn = "{dsn}"\n'
    lab = Ed25519Signer.generate()
    procs = []
    try:
        ports, configs = [], []
        for h in range(2):
            cfg = write_config(tmp_path, lab.public_key.raw, free_port(), h, storage_table)
            configs.append(cfg)
            proc, port = start_serve(cfg, tmp_path)
            procs.append(proc)
            ports.append(port)
        signers = [Ed25519Signer.generate() for _ in range(2 * NODES_PER_HOST)]
        with grpc.insecure_channel(f"127.0.0.1:{ports[0]}") as ch:
            stub = verifier_pb2_grpc.VerifierStub(ch)
            for f in range(FACILITIES):
                nodes = [(f"n{i}", signers[i]) for i in range(f, len(signers), FACILITIES)]
                if nodes:
                    inv = node_inventory(f"fac-{f}", "lab", nodes)
                    env = sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [lab])
                    stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=env), timeout=30)
            challenge = types_pb2.Challenge()
            challenge.ParseFromString(
                parse_envelope(stub.GetChallenge(verifier_pb2.GetChallengeRequest()).envelope).payload
            )
        start_ns = time.time_ns() - 600 * 60 * 10**9
        chains = [
            NodeChain(s, f"fac-{i % FACILITIES}", f"n{i}", bytes(challenge.nonce), start_ns)
            for i, s in enumerate(signers)
        ]
        hosts = [Host(f"host-{h}", ports[h], chains[h::2]) for h in range(2)]
        threads = [threading.Thread(target=h.drive, daemon=True) for h in hosts]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(hosts[0].receipts) < 60 or len(hosts[1].receipts) < 60:  # both under load
            assert time.monotonic() < deadline, "the hosts did not get going"
            assert not hosts[0].failures + hosts[1].failures, hosts[0].failures + hosts[1].failures
            time.sleep(0.02)
        procs[0].kill()  # SIGKILL, mid-whatever it was doing
        killed_at = time.monotonic()
        procs[0].wait(30)
        before = len(hosts[1].receipts)
        while len(hosts[1].receipts) < before + 90:  # the survivor goes on sequencing
            assert time.monotonic() < deadline + 30, "the surviving host stopped sequencing"
            assert not hosts[1].failures, hosts[1].failures
            time.sleep(0.02)
        # the killed host comes back (its checkpoint file now older than the database) while
        # the other appends, resends what it left unanswered, and sequences again
        threads[0].join(30)
        (tmp_path / f"{configs[0].stem}.ready").unlink()
        procs[0], port = start_serve(configs[0], tmp_path)
        hosts.append(Host("host-0-again", port, hosts[0].chains, unsent=hosts[0].unsent))
        threads.append(threading.Thread(target=hosts[2].drive, daemon=True))
        threads[2].start()
        while len(hosts[2].receipts) < 30:
            assert time.monotonic() < deadline + 60, "the restarted host did not sequence"
            assert not hosts[2].failures + hosts[1].failures, hosts[2].failures + hosts[1].failures
            time.sleep(0.02)
        for h in hosts:
            h.stop.set()
        for t in threads:
            t.join(60)
        for p in procs:
            p.terminate()
            assert p.wait(30) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(30)
    assert hosts[0].failures, "the killed host's client should have seen it die"
    takeover = min(t for _e, r, t in hosts[1].receipts if t > killed_at) - killed_at
    print(f"first receipt from the survivor {takeover:.3f} s after SIGKILL")

    log_key = Ed25519NoteSigner(ORIGIN, load_key_file(tmp_path / "log.key")).verifier
    s = PgStorage(dsn, readonly=True)
    try:
        checkpoints = s.checkpoints()
        stored = {c.size: c for c in checkpoints}
        # every receipt: its entry at its index, under a stored checkpoint, with a valid proof
        receipted = [x for h in hosts for x in h.receipts]
        notes_by_size: dict[int, set[bytes]] = {}
        for env, receipt, _t in receipted:
            cp = open_checkpoint(receipt.checkpoint, log_key)
            notes_by_size.setdefault(cp.size, set()).add(bytes(receipt.checkpoint))
            assert s.log_entries(receipt.log_index, receipt.log_index + 1) == [env]
            assert stored[cp.size].note == bytes(receipt.checkpoint)
            merkle.verify_inclusion(
                merkle.leaf_hash(env), receipt.log_index, cp.size, list(receipt.inclusion_proof), cp.root_hash
            )
        assert all(len(notes) == 1 for notes in notes_by_size.values())  # no size signed twice
        # both hosts signed; each checkpoint is the stored tree's and consistent with the next
        assert {cp.size for cp in checkpoints} >= set(notes_by_size)
        previous = None
        for c in checkpoints:
            cp = open_checkpoint(c.note, log_key)
            assert (cp.size, cp.root_hash) == (c.size, c.root_hash) == (c.size, s.log_root(c.size))
            if previous is not None:
                merkle.verify_consistency(
                    previous.size, c.size, s.consistency_proof(previous.size, c.size),
                    previous.root_hash, c.root_hash,
                )
            previous = c
        assert len(receipted) == len({r.log_index for _e, r, _t in receipted})
        survivors_after = [r.log_index for _e, r, t in hosts[1].receipts if t > killed_at]
        assert min(survivors_after) > max(r.log_index for _e, r, _t in hosts[0].receipts)
    finally:
        s.close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
