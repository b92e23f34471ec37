"""A bundle exported from a real verifier run verifies, as a directory and as an archive,
through the installed command, with the auditor's own trust files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from auditor.pipeline import AuditOptions, audit_bundle
from pausewatch.evaluation import RULES
from pausewatch.policy import parse_policy
from pausewatch.roots import parse_roots
from tests.audit.conftest import RealBundle

AUDIT = [sys.executable, "-c", "import sys; from auditor.cli import main; sys.exit(main())"]


def run_audit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUDIT, *map(str, args)], capture_output=True, text=True, timeout=300, check=False)


def test_real_bundle_verifies_with_pinned_trust(real_bundle: RealBundle) -> None:
    out = audit_bundle(
        real_bundle.directory,
        AuditOptions(
            policy=parse_policy(real_bundle.policy.read_bytes()),
            roots=parse_roots(real_bundle.roots.read_bytes()),
            workers=2,
            chunk_entries=32,
        ),
    )
    assert out.ok, [f.describe() for f in out.failures]
    assert out.pinned
    assert out.counts["usage_reports"] == 3 * 40 - 2
    assert out.counts["meter_reports"] == 40
    assert out.counts["verdicts"] == 4
    assert out.verdicts_matched == 4
    findings = {o.finding for o in out.observations}
    assert {"chain.new_boot", "chain.gap"} <= findings


def test_cli_json_exit_0_for_directory_and_archive(real_bundle: RealBundle) -> None:
    for target in (real_bundle.directory, real_bundle.archive):
        r = run_audit(
            "verify", target, "--policy", real_bundle.policy, "--roots", real_bundle.roots, "--json"
        )
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["result"] == "verified"
        assert doc["pinned"] is True
        assert doc["verdicts_matched"] == doc["counts"]["verdicts"] == 4
        assert doc["ok"] is True
        # each re-derived verdict: its status, findings and evidence
        assert len(doc["verdicts"]) == 4
        assert {v["rerun"] for v in doc["verdicts"]} == {"match"}
        assert all(v["rederived_status"] == v["status"] for v in doc["verdicts"])
        assert {v["rules"] for v in doc["verdicts"]} == {RULES}  # the rules that made them
        assert doc["verdicts_other_rules"] == 0
        assert {v["status"] for v in doc["verdicts"]} <= {"COMPLIANT", "VIOLATION", "INCONCLUSIVE"}
        gap = [f for v in doc["verdicts"] for f in v["findings"] if f["id"] == "chain.gap"]
        assert gap
        assert gap[0]["evidence_log_indices"]
        assert {k["role"] for k in doc["trusted_keys"]} >= {"log", "verdict", "challenge", "lab"}


def test_unpinned_run_fails_and_names_why(real_bundle: RealBundle) -> None:
    """The auditor trusts only the keys it brings: a bundle vouching for itself is not verified."""
    r = run_audit("verify", real_bundle.directory, "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["result"] == "failed"
    assert "[trust.unpinned]" in doc["reason"]
    assert doc["ok"] is False
    assert doc["error"] == doc["reason"]
    assert doc["verdicts"]  # the details come with the failure
    assert "trust.unpinned: --policy and --roots: not given" in doc["reason"]
    r = run_audit("verify", real_bundle.directory, "--policy", real_bundle.policy)
    assert r.returncode == 1
    assert "trust.unpinned: --roots" in r.stdout


def test_trust_bundle_keys_is_a_quick_look_that_says_so_loudly(real_bundle: RealBundle) -> None:
    r = run_audit("verify", real_bundle.directory, "--trust-bundle-keys")
    assert r.returncode == 0, r.stderr
    assert "THE BUNDLE'S OWN (not pinned)" in r.stdout
    assert "WARNING" in r.stdout


def test_one_entry_proves_itself_to_a_third_party(real_bundle: RealBundle, tmp_path: Path) -> None:
    r = run_audit(
        "extract", real_bundle.directory, "--index", "7", "--out", tmp_path, "--policy", real_bundle.policy
    )
    assert r.returncode == 0, r.stderr
    r = run_audit(
        "proof",
        "verify",
        "--policy",
        real_bundle.policy,
        "--entry",
        tmp_path / "entry-7.bin",
        tmp_path / "entry-7.tlog-proof",
    )
    assert r.returncode == 0, r.stderr
    tampered = bytearray((tmp_path / "entry-7.bin").read_bytes())
    tampered[-1] ^= 1
    (tmp_path / "entry-7.bin").write_bytes(bytes(tampered))
    r = run_audit(
        "proof",
        "verify",
        "--policy",
        real_bundle.policy,
        "--entry",
        tmp_path / "entry-7.bin",
        tmp_path / "entry-7.tlog-proof",
    )
    assert r.returncode == 1
