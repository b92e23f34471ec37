"""Interop with the Go reference implementation (golang.org/x/mod/sumdb/note and sumdb/tlog).

``tests/interop/main.go`` is built once in GOPATH mode against the Debian package
golang-golang-x-mod-dev (no network) into ``.gobuild/`` and reused while its source and the Go
version are unchanged. Go then verifies notes, checkpoints, cosignatures, inclusion and
consistency proofs that our code made, and we verify notes and proofs that Go made.

A missing Go toolchain FAILS this test (CI installs it with ``make sysdeps``); it never skips.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pausewatch import merkle
from pausewatch.checkpoint import (
    Checkpoint,
    CosignatureSigner,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from pausewatch.keys import Ed25519Signer
from pausewatch.note import (
    Ed25519NoteSigner,
    Ed25519NoteVerifier,
    open_note,
    parse_skey,
    sign_note,
)
from pausewatch.tlog_proof import TlogProof, parse_tlog_proof
from pausewatch.tlog_store import MemoryTreeStore, MerkleLog
from tests.witness.harness import running_witness, witness_config, witness_vkey
from tests.witness.logs import TestLog

pytestmark = [pytest.mark.interop, pytest.mark.heavy]

REPO = Path(__file__).resolve().parents[1]
SOURCE = Path(__file__).resolve().parent / "interop" / "main.go"
BUILD_DIR = REPO / ".gobuild"
BINARY = BUILD_DIR / "pausewatch-interop"
STAMP = BUILD_DIR / "pausewatch-interop.stamp"
GOPATH = os.environ.get("PAUSEWATCH_GOPATH", "/usr/share/gocode")
SYSDEPS_HINT = (
    "run `make sysdeps` as root (installs Debian golang-go and golang-golang-x-mod-dev)"
)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GO111MODULE="off",
        GOPATH=GOPATH,
        GOCACHE=str(BUILD_DIR / "gocache"),
        GOPROXY="off",
        GOFLAGS="",
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
    )
    return env


@pytest.fixture(scope="module")
def go_binary() -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.fail(f"the Go toolchain (`go`) is not installed: {SYSDEPS_HINT}")
    if not (Path(GOPATH) / "src/golang.org/x/mod/sumdb/note/note.go").exists():
        pytest.fail(f"golang.org/x/mod is not under {GOPATH}: {SYSDEPS_HINT}")
    version = subprocess.run(
        [go, "version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    stamp = hashlib.sha256(SOURCE.read_bytes() + version.encode() + GOPATH.encode()).hexdigest()
    if BINARY.exists() and STAMP.exists() and STAMP.read_text() == stamp:
        return BINARY
    BUILD_DIR.mkdir(exist_ok=True)
    partial = BUILD_DIR / f"pausewatch-interop.{os.getpid()}.tmp"
    proc = subprocess.run(
        [go, "build", "-o", str(partial), "./tests/interop"],
        cwd=REPO,
        env=_go_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"building tests/interop failed ({SYSDEPS_HINT}?):\n{proc.stderr}")
    partial.replace(BINARY)
    STAMP.write_text(stamp)
    return BINARY


def go(binary: Path, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [str(binary)],
        input=json.dumps({"ops": ops}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results: list[dict[str, Any]] = json.loads(proc.stdout)["results"]
    assert len(results) == len(ops)
    return results


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def signer(name: str, i: int) -> Ed25519NoteSigner:
    return Ed25519NoteSigner(name, Ed25519Signer.from_seed(hashlib.sha256(b"%d" % i).digest()))


def cosigner(name: str, i: int, t: int) -> CosignatureSigner:
    return CosignatureSigner(name, Ed25519Signer.from_seed(hashlib.sha256(b"w%d" % i).digest()), t)


# --------------------------------------------------------------------------- our notes, Go verifies


def test_go_opens_notes_we_sign(go_binary: Path) -> None:
    texts = [
        "hello\n",
        "Ognuno sta solo sul cuor della terra\n\ned è subito sera.\n",
        "a\n\n\n",
        "x" * 5000 + "\n",
    ]
    signers = [signer(f"signer{i}.example/pw", i) for i in range(16)]
    ops = []
    expected = []
    for n, text in enumerate(texts):
        chosen = signers[: 1 + n * 5]
        note = sign_note(text, chosen).format().decode()
        ops.append({"op": "open_note", "note": note, "vkeys": [s.vkey for s in chosen]})
        expected.append((text, [f"{s.name}+{s.key_id:08x}" for s in chosen]))
        tampered = "!" + note
        ops.append({"op": "open_note", "note": tampered, "vkeys": [s.vkey for s in chosen]})
        expected.append(None)
    for result, want in zip(go(go_binary, ops), expected, strict=True):
        if want is None:
            assert not result["ok"]
            continue
        assert result["ok"], result
        assert result["text"] == want[0]
        assert result["verified"] == want[1]


def test_go_opens_our_cosigned_checkpoints(go_binary: Path) -> None:
    log = MerkleLog(MemoryTreeStore())
    log.append([b"entry %d" % i for i in range(37)])
    log_signer = signer("pausewatch.example/log", 99)
    witnesses = [cosigner(f"witness{i}.example", i, 1_700_000_000 + i) for i in range(3)]
    ops = []
    checkpoints = []
    for size in (0, 1, 2, 7, 8, 37):
        cp = Checkpoint(log_signer.name, size, log.root(size), ("ext line",) if size == 7 else ())
        note = sign_checkpoint(cp, [log_signer, *witnesses]).format().decode()
        checkpoints.append(cp)
        ops.append(
            {
                "op": "open_checkpoint",
                "note": note,
                "vkeys": [log_signer.vkey],
                "cosigner_vkeys": [w.verifier.vkey for w in witnesses],
            }
        )
    for cp, result in zip(checkpoints, go(go_binary, ops), strict=True):
        assert result["ok"], result
        assert result["origin"] == cp.origin
        assert result["size"] == cp.size
        assert result["root"] == b64(cp.root_hash)
        assert result["extensions"] == list(cp.extensions)
        assert result["verified"] == [
            f"{s.name}+{s.key_id:08x}" for s in (log_signer, *witnesses)
        ]


def test_go_rejects_our_cosignature_over_another_checkpoint(go_binary: Path) -> None:
    log_signer = signer("pausewatch.example/log", 99)
    witness = cosigner("witness.example", 1, 1_700_000_000)
    a = sign_checkpoint(Checkpoint(log_signer.name, 1, bytes(32)), [log_signer])
    b = sign_checkpoint(Checkpoint(log_signer.name, 2, bytes(32)), [witness])
    spliced = a.with_signatures(b.signatures[0]).format().decode()
    [result] = go(
        go_binary,
        [
            {
                "op": "open_checkpoint",
                "note": spliced,
                "vkeys": [log_signer.vkey],
                "cosigner_vkeys": [witness.verifier.vkey],
            }
        ],
    )
    assert not result["ok"]
    assert "invalid signature" in result["error"]


def test_go_verifies_cosignatures_our_witness_made(go_binary: Path, tmp_path: Path) -> None:
    """The witness daemon (witness/, over real HTTP) cosigns a growing log; Go opens every
    checkpoint it stored and answered with. x/mod/sumdb/note has no cosignature/v1 verifier of
    its own: note.Open checks the log's Ed25519 signature with note.NewVerifier and the
    witness's cosignature with the cosignature/v1 verifier in tests/interop/main.go (Go's
    crypto/ed25519 over "cosignature/v1\\ntime <t>\\n" || checkpoint, key hash checked against the
    vkey). A cosignature moved onto another checkpoint is refused."""
    log = TestLog()
    answers: list[bytes] = []

    async def cosign_some() -> list[bytes]:
        async with running_witness(witness_config(tmp_path, [log])) as w:
            held = 0
            for grow in (1, 6, 1, 30):
                log.grow(grow)
                status, body, _ = await w.post(log.request(held))
                assert status == 200, body
                answers.append(log.checkpoint().format().encode() + b"\n" + log.note().split(b"\n\n", 1)[1] + body)
                held = log.size
            return [r.note for r in w.service.store.cosigned(log.origin)]

    stored = asyncio.run(asyncio.wait_for(cosign_some(), 60))
    assert stored == answers  # the witness keeps exactly the note its answer completes
    witness = witness_vkey()
    ops = [
        {"op": "open_checkpoint", "note": note.decode(), "vkeys": [log.vkey], "cosigner_vkeys": [witness]}
        for note in stored
    ]
    spliced = log.note(1).decode() + stored[-1].decode().rsplit("\n", 2)[-2] + "\n"
    ops.append({"op": "open_checkpoint", "note": spliced, "vkeys": [log.vkey], "cosigner_vkeys": [witness]})
    results = go(go_binary, ops)
    for note, result in zip(stored, results, strict=False):
        assert result["ok"], result
        assert result["size"] == parse_checkpoint(note.decode().split("\n\n")[0] + "\n").size
        assert len(result["verified"]) == 2
        assert result["verified"][1].startswith("witness.test/w1+")
    assert not results[-1]["ok"]
    assert "invalid signature" in results[-1]["error"]


# --------------------------------------------------------------------------- Merkle proofs


def _entries(n: int) -> list[bytes]:
    return [hashlib.sha256(b"%d" % i).digest()[: i % 40] for i in range(n)]


def test_go_checks_our_inclusion_proofs_and_tlog_proofs(go_binary: Path) -> None:
    entries = _entries(70)
    log = MerkleLog(MemoryTreeStore())
    log.append(entries)
    ops = []
    for size in range(1, 71):
        root = b64(log.root(size))
        for index in range(size):
            proof = log.inclusion_proof(index, size)
            if size % 10 == 0:  # also through our tlog-proof writer and reader
                text = TlogProof(index, tuple(proof), b"cp\n").format()
                proof = list(parse_tlog_proof(text).hashes)
            ops.append(
                {
                    "op": "check_inclusion",
                    "entry": b64(entries[index]),
                    "index": index,
                    "size": size,
                    "root": root,
                    "proof": [b64(h) for h in proof],
                }
            )
    # A wrong entry must fail in Go as well.
    bad = dict(ops[-1], entry=b64(b"not the entry"))
    results = go(go_binary, [*ops, bad])
    assert all(r["ok"] for r in results[:-1]), [r for r in results if not r["ok"]][:3]
    assert not results[-1]["ok"]


def test_go_checks_our_consistency_proofs(go_binary: Path) -> None:
    entries = _entries(45)
    log = MerkleLog(MemoryTreeStore())
    log.append(entries)
    ops = []
    for new in range(1, 46):
        for old in range(1, new + 1):
            ops.append(
                {
                    "op": "check_consistency",
                    "old_size": old,
                    "size": new,
                    "old_root": b64(log.root(old)),
                    "root": b64(log.root(new)),
                    "proof": [b64(h) for h in log.consistency_proof(old, new)],
                }
            )
    bad = dict(ops[-2], old_root=b64(bytes(32)))
    results = go(go_binary, [*ops, bad])
    assert all(r["ok"] for r in results[:-1]), [r for r in results if not r["ok"]][:3]
    assert not results[-1]["ok"]


def test_go_proofs_equal_ours_byte_for_byte_and_verify_with_our_code(go_binary: Path) -> None:
    entries = _entries(33)
    log = MerkleLog(MemoryTreeStore())
    log.append(entries)
    ops = [
        {
            "op": "prove",
            "entries": [b64(e) for e in entries[:size]],
            "size": size,
            "index": (size * 7) % size,
            "old_size": max(1, size // 3),
        }
        for size in range(1, 34)
    ]
    for op, result in zip(ops, go(go_binary, ops), strict=True):
        size, index, old = op["size"], op["index"], op["old_size"]
        assert result["ok"], result
        root = base64.b64decode(result["root"])
        assert root == log.root(size)
        inclusion = [base64.b64decode(h) for h in result["inclusion"]]
        assert inclusion == log.inclusion_proof(index, size)
        merkle.verify_inclusion(merkle.leaf_hash(entries[index]), index, size, inclusion, root)
        consistency = [base64.b64decode(h) for h in result["consistency"]]
        assert consistency == log.consistency_proof(old, size)
        merkle.verify_consistency(old, size, consistency, log.root(old), root)


# --------------------------------------------------------------------------- Go's notes, we verify


def test_we_open_notes_go_signs_and_reproduce_them(go_binary: Path) -> None:
    keys = go(go_binary, [{"op": "generate_key", "name": f"go{i}.example/k"} for i in range(3)])
    texts = ["go says hi\n", "multi\n\nline — with em dash\n", "example.com/log\n5\n" + b64(bytes(32)) + "\n"]
    ops = [
        {"op": "sign_note", "skey": key["skey"], "text": text}
        for key in keys
        for text in texts
    ]
    signed = go(go_binary, ops)
    for op, result in zip(ops, signed, strict=True):
        assert result["ok"], result
        key = next(k for k in keys if k["skey"] == op["skey"])
        verifier = Ed25519NoteVerifier.from_vkey(key["vkey"])
        opened = open_note(result["note"].encode(), [verifier])
        assert opened.text == op["text"]
        ours = parse_skey(key["skey"])
        assert ours.vkey == key["vkey"]
        assert ours.skey == key["skey"]
        assert sign_note(op["text"], [ours]).format() == result["note"].encode()
    cp_note = signed[2]["note"].encode()
    verifier = Ed25519NoteVerifier.from_vkey(keys[0]["vkey"])
    assert open_checkpoint(cp_note, verifier, origin="example.com/log").size == 5
