"""Audit throughput: a 1,000,000-entry bundle audited on every core, next to the raw
single-thread Ed25519 verification rate measured in the same run (the target is >= 1.5x that
rate on 2 cores).

The bundle is generated here, with several processes: 250 attestor keys (8-GPU nodes, full
~2.5 KiB reports: ``bench.reports``) enrolled by one lab-signed inventory, each with an unbroken chain of usage reports that answer a logged
challenge issued every round, checkpoints every 100,000 entries with consistency proofs
between them. It lives in a temporary directory for the duration of the run.

Environment: ``PAUSEWATCH_BENCH_AUDIT_ENTRIES`` overrides the entry count (for a quick look).
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import struct
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import nacl.bindings

from auditor.pipeline import AuditOptions, audit_bundle
from bench.bench_ed25519 import ed25519_verify_rate
from bench.reports import NodeChain, node_inventory
from pausewatch import bundle as bf
from pausewatch import merkle
from pausewatch.checkpoint import Checkpoint, sign_checkpoint
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.files import bundle as bf_files
from pausewatch.keys import Ed25519Key, Ed25519Signer
from pausewatch.note import Ed25519NoteSigner
from pausewatch.roots import AuditRoots, LabRoot, format_roots
from pausewatch.v1 import types_pb2

ORIGIN = "bench.pausewatch/audit"
KEYS = 250
T0 = 1_767_225_600 * 1_000_000_000
S = 1_000_000_000
CHECKPOINT_EVERY = 100_000


class _NaclSigner:
    """Ed25519 signing through libsodium (deterministic: same signatures as OpenSSL)."""

    def __init__(self, seed: bytes) -> None:
        pk, sk = nacl.bindings.crypto_sign_seed_keypair(seed)
        self._sk = sk
        self.public_key = Ed25519Key(pk)

    def sign(self, message: bytes) -> bytes:
        return nacl.bindings.crypto_sign(message, self._sk)[:64]


def _seed(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def _nonce(round_no: int) -> bytes:
    return hashlib.sha256(b"nonce %d" % round_no).digest()


def _write_group(args: tuple[int, int, int, str]) -> str:
    """Worker: every report of keys [first, last) for ``rounds`` rounds, round-major."""
    first, last, rounds, path = args
    chains = [
        NodeChain(_NaclSigner(_seed(f"node-{k}")), "fac-bench", f"node-{k}", b"", T0)
        for k in range(first, last)
    ]
    with open(path, "wb") as f:
        for r in range(rounds):
            for chain in chains:
                chain.nonce = _nonce(r)
                env = chain.next()
                f.write(struct.pack(">I", len(env)) + env)
    return path


class _Levels:
    """Every complete subtree hash of the tree, level by level (a SubtreeHashSource)."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.levels = [leaves]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [
                    hashlib.sha256(b"\x01" + below[i] + below[i + 1]).digest()
                    for i in range(0, len(below) - 1, 2)
                ]
            )

    def subtree_hashes(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        return [self.levels[level][index] for level, index in nodes]


def generate(directory: Path, entries: int) -> dict[str, float]:
    rounds = max(1, (entries - 1) // (KEYS + 1))
    lab = _NaclSigner(_seed("lab"))
    challenge_key = _NaclSigner(_seed("challenge"))
    verdict_key = _NaclSigner(_seed("verdict"))
    log_signer = Ed25519NoteSigner(ORIGIN, Ed25519Signer.from_seed(_seed("log")))
    started = time.perf_counter()
    procs = max(1, os.cpu_count() or 1)
    step = -(-KEYS // procs)
    tmp = directory.parent
    jobs = [(a, min(KEYS, a + step), rounds, str(tmp / f"group-{a}.bin")) for a in range(0, KEYS, step)]
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        paths = pool.map(_write_group, jobs)
    signed = time.perf_counter() - started

    inv = node_inventory(
        "fac-bench", "lab-bench", [(f"node-{k}", _NaclSigner(_seed(f"node-{k}"))) for k in range(KEYS)]
    )
    inv.issued_unix_ns = T0
    kind = {"now": "inventories"}
    writer = bf_files.BundleWriter(directory, origin=ORIGIN, scope=bf.Scope(), type_of=lambda _env: kind["now"])
    leaves: list[bytes] = []
    cuts: list[int] = []

    def add(envelope: bytes, type_name: str) -> None:
        kind["now"] = type_name
        writer.add_entry(len(leaves), envelope)
        leaves.append(merkle.leaf_hash(envelope))
        if len(leaves) % CHECKPOINT_EVERY == 0:
            cuts.append(len(leaves))

    add(sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(deterministic=True), [lab]), "inventories")
    files = [open(p, "rb") for p in paths]  # noqa: SIM115 -- closed below, many at once
    try:
        for r in range(rounds):
            ch = types_pb2.Challenge(
                nonce=_nonce(r),
                issued_unix_ns=T0 + r * 60 * S,
                expires_unix_ns=T0 + r * 60 * S + 180 * S,
                log_origin=ORIGIN,
                seq=r,
            )
            add(
                sign_envelope(
                    PayloadType.CHALLENGE, ch.SerializeToString(deterministic=True), [challenge_key]
                ),
                "challenges",
            )
            for (a, b, _, _), f in zip(jobs, files, strict=True):
                for _ in range(a, b):
                    (n,) = struct.unpack(">I", f.read(4))
                    add(f.read(n), "usage_reports")
    finally:
        for f in files:
            f.close()
        for p in paths:
            os.unlink(p)
    if not cuts or cuts[-1] != len(leaves):
        cuts.append(len(leaves))
    levels = _Levels(leaves)
    for size in cuts:
        root = merkle.tree_root(size, levels)
        writer.add_checkpoint(size, sign_checkpoint(Checkpoint(ORIGIN, size, root), [log_signer]).format())
    for old, new in itertools.pairwise(cuts):
        writer.add_consistency(old, new, merkle.consistency_proof(old, new, levels))
    roots = AuditRoots(
        labs=(LabRoot("lab-bench", (Ed25519Key(lab.public_key.raw),), ("fac-bench",), 1),),
        verdict_key=Ed25519Key(verdict_key.public_key.raw),
        challenge_key=Ed25519Key(challenge_key.public_key.raw),
    )
    writer.finish(policy=f"log {log_signer.vkey}\nquorum none\n".encode(), roots=format_roots(roots))
    return {"entries": float(len(leaves)), "generate_s": time.perf_counter() - started, "sign_s": signed}


def run(quick: bool = False) -> dict[str, object]:
    entries = int(os.environ.get("PAUSEWATCH_BENCH_AUDIT_ENTRIES", "2000" if quick else "1000000"))
    reference_s = 0.2 if quick else 2.0
    with tempfile.TemporaryDirectory(prefix="pausewatch-bench-audit-") as tmp:
        directory = Path(tmp) / "bundle"
        gen = generate(directory, entries)
        # The reference is taken just before and just after the audit and averaged, so that a
        # machine whose load changes during the run skews both figures alike; the load average
        # is printed so that a reader can tell a busy machine's figures from an idle one's.
        before = ed25519_verify_rate(reference_s)
        load_before = os.getloadavg()[0]
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        out = audit_bundle(directory, AuditOptions(workers=cores))
        load_after = os.getloadavg()[0]
        after = ed25519_verify_rate(reference_s)
        reference = (before + after) / 2
        if not out.ok:
            raise RuntimeError(
                "the bench bundle failed its audit: " + "; ".join(f.describe() for f in out.failures[:5])
            )
        rate = out.counts["entries"] / out.seconds
    return {
        "entries": int(gen["entries"]),
        "generate_s": round(gen["generate_s"], 1),
        "audit_s": round(out.seconds, 1),
        "workers": out.workers,
        "audit_entries_per_s": round(rate, 1),
        "ed25519_verify_per_s_single_thread": round(reference, 1),
        "ed25519_verify_per_s_before_after": [round(before, 1), round(after, 1)],
        "load_average_before_after": [round(load_before, 2), round(load_after, 2)],
        "ratio_to_ed25519_single_thread": round(rate / reference, 2),
        "target_ratio": 1.5,
        "meets_target": rate / reference >= 1.5,
        "verifier": "libsodium through pausewatch.keys, the same primitive as the reference",
    }
