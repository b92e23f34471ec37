"""The real ``pausewatch-audit`` console script, run as a subprocess: exit codes 0/1/2, --json,
--help at every level."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pausewatch.checkpoint import Checkpoint, CosignatureSigner, sign_checkpoint
from pausewatch.keys import Ed25519Signer
from pausewatch.note import Ed25519NoteSigner
from pausewatch.tlog_proof import TlogProof
from pausewatch.tlog_store import MemoryTreeStore, MerkleLog

VECTORS = Path(__file__).parent / "vectors"
GO = json.loads((VECTORS / "golang-x-mod-sumdb-note.json").read_text("utf-8"))
FORMATS = json.loads((VECTORS / "transparency-dev-formats-tlog-proof.json").read_text("utf-8"))


def _script() -> str:
    candidate = Path(sys.executable).parent / "pausewatch-audit"
    found = str(candidate) if candidate.exists() else shutil.which("pausewatch-audit")
    if found is None:
        pytest.fail("pausewatch-audit is not installed: run .venv/bin/pip install -e .")
    return found


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_script(), *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def run_json(*args: str | Path) -> tuple[int, dict[str, Any]]:
    proc = run("--json", *args)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    result: dict[str, Any] = json.loads(lines[0])
    assert result["exit_code"] == proc.returncode
    return proc.returncode, result


@pytest.fixture
def peter_note(tmp_path: Path) -> Path:
    path = tmp_path / "peter.note"
    path.write_text(GO["peterneumann"]["signed_note"], encoding="utf-8")
    return path


PETER_VKEY = GO["peterneumann"]["vkey"]
ENOCH_VKEY = GO["enochroot"]["vkey"]


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize(
    "args", [(), ("note",), ("note", "verify"), ("proof",), ("proof", "verify")]
)
def test_help_at_every_level(args: tuple[str, ...]) -> None:
    proc = run(*args, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: pausewatch-audit")


def test_no_command_is_a_usage_error() -> None:
    proc = run()
    assert proc.returncode == 2
    assert "required" in proc.stderr


# --------------------------------------------------------------------------- note verify


def test_note_verify_ok(peter_note: Path) -> None:
    proc = run("note", "verify", "--key", PETER_VKEY, peter_note)
    assert proc.returncode == 0, proc.stderr
    assert "PeterNeumann+c74f20a3" in proc.stdout
    code, result = run_json("note", "verify", "--key", ENOCH_VKEY, "--key", PETER_VKEY, peter_note)
    assert code == 0
    assert result["result"] == "verified"
    assert result["verified_by"] == ["PeterNeumann+c74f20a3"]
    assert result["text"] == GO["peterneumann"]["note_text"]


def test_note_verify_json_flag_after_subcommand(peter_note: Path) -> None:
    proc = run("note", "verify", "--json", "--key", PETER_VKEY, peter_note)
    assert json.loads(proc.stdout)["result"] == "verified"


def test_note_verify_unknown_key_fails_1(peter_note: Path) -> None:
    code, result = run_json("note", "verify", "--key", ENOCH_VKEY, peter_note)
    assert code == 1
    assert result["result"] == "failed"
    assert "no verifiable signatures" in result["reason"]


def test_note_verify_tampered_fails_1(tmp_path: Path, peter_note: Path) -> None:
    peter_note.write_text(peter_note.read_text("utf-8").replace("cryptography", "Cryptography"))
    proc = run("note", "verify", "--key", PETER_VKEY, peter_note)
    assert proc.returncode == 1
    assert "invalid signature for key PeterNeumann+c74f20a3" in proc.stderr
    assert proc.stdout == ""


def test_note_verify_malformed_note_fails_1(peter_note: Path) -> None:
    peter_note.write_bytes(b"\xff" + peter_note.read_bytes())
    code, result = run_json("note", "verify", "--key", PETER_VKEY, peter_note)
    assert code == 1
    assert "UTF-8" in result["reason"]


def test_note_verify_bad_vkey_is_2(peter_note: Path) -> None:
    code, result = run_json("note", "verify", "--key", GO["bad_vkeys"][0], peter_note)
    assert code == 2
    assert result["result"] == "error"
    assert "--key" in result["reason"]


def test_note_verify_missing_file_is_2(tmp_path: Path) -> None:
    proc = run("note", "verify", "--key", PETER_VKEY, tmp_path / "absent.note")
    assert proc.returncode == 2
    assert "cannot read note file" in proc.stderr


def test_note_verify_without_key_is_2_and_json_still_works(peter_note: Path) -> None:
    code, result = run_json("note", "verify", peter_note)
    assert code == 2
    assert "--key" in result["reason"]


# --------------------------------------------------------------------------- proof verify


@pytest.fixture
def derived(tmp_path: Path) -> dict[str, Path]:
    case = FORMATS["derived_verifiable"][1]
    paths = {
        "proof": tmp_path / "entry.tlog-proof",
        "entry": tmp_path / "entry.bin",
        "policy": tmp_path / "policy",
    }
    paths["proof"].write_text(case["tlog_proof"], encoding="utf-8")
    paths["entry"].write_text(case["entry"], encoding="utf-8")
    paths["policy"].write_text(f"log {case['log_vkey']}\nquorum none\n", encoding="utf-8")
    return paths


def proof_args(p: dict[str, Path]) -> tuple[str | Path, ...]:
    return ("proof", "verify", "--policy", p["policy"], "--entry", p["entry"], p["proof"])


def test_proof_verify_ok(derived: dict[str, Path]) -> None:
    proc = run(*proof_args(derived))
    assert proc.returncode == 0, proc.stderr
    assert "entry 3 is in example.com/log/testdata at size 15" in proc.stdout
    code, result = run_json(*proof_args(derived))
    assert code == 0
    assert result["index"] == 3
    assert result["tree_size"] == 15
    assert result["origin"] == "example.com/log/testdata"
    assert result["witnesses"] == []


def test_proof_verify_wrong_entry_fails_1(derived: dict[str, Path]) -> None:
    derived["entry"].write_bytes(b"five")
    code, result = run_json(*proof_args(derived))
    assert code == 1
    assert "does not match root" in result["reason"]


def test_proof_verify_malformed_proof_fails_1(derived: dict[str, Path]) -> None:
    derived["proof"].write_text("c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n")
    code, result = run_json(*proof_args(derived))
    assert code == 1
    assert "leading zeros" in result["reason"]


def test_proof_verify_bad_policy_is_2(derived: dict[str, Path]) -> None:
    derived["policy"].write_text("log nonsense\n")
    code, result = run_json(*proof_args(derived))
    assert code == 2
    assert "policy" in result["reason"]
    assert "line 1" in result["reason"]


def test_proof_verify_missing_entry_is_2(derived: dict[str, Path]) -> None:
    derived["entry"].unlink()
    proc = run(*proof_args(derived))
    assert proc.returncode == 2
    assert "cannot read entry file" in proc.stderr


def test_proof_verify_witness_quorum(tmp_path: Path) -> None:
    log_signer = Ed25519NoteSigner("audit.example/log", Ed25519Signer.from_seed(bytes([1]) * 32))
    witnesses = [
        CosignatureSigner(f"w{i}.example", Ed25519Signer.from_seed(bytes([10 + i]) * 32), 1700000000)
        for i in range(3)
    ]
    log = MerkleLog(MemoryTreeStore())
    log.append([b"report-%d" % i for i in range(7)])
    cp = Checkpoint("audit.example/log", 7, log.root())
    (tmp_path / "entry").write_bytes(b"report-4")
    policy = [f"log {log_signer.vkey}"]
    policy += [f"witness W{i} {w.verifier.vkey}" for i, w in enumerate(witnesses)]
    policy += ["group G 2 W0 W1 W2", "quorum G"]
    (tmp_path / "policy").write_text("\n".join(policy) + "\n")
    args = ("proof", "verify", "--policy", tmp_path / "policy", "--entry", tmp_path / "entry")

    def write_proof(*cosigners: int) -> Path:
        note = sign_checkpoint(cp, [log_signer, *(witnesses[i] for i in cosigners)]).format()
        path = tmp_path / "p.tlog-proof"
        path.write_bytes(TlogProof(4, tuple(log.inclusion_proof(4)), note).format())
        return path

    code, result = run_json(*args, write_proof(0, 2))
    assert code == 0
    assert result["witnesses"] == ["W0", "W2"]
    assert result["cosignature_times"] == [1700000000, 1700000000]
    code, result = run_json(*args, write_proof(1))
    assert code == 1
    assert "quorum 'G' not met" in result["reason"]
