"""Bad input never gives a traceback: exit 2 when the tool cannot run, 1 when the evidence
fails, with a message that says which."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main as audit_main
from pausewatch import bundle as bf
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.files import bundle as bf_files
from pausewatch.keys import Ed25519Signer
from pausewatch.v1 import types_pb2
from tests.audit.conftest import RealBundle, copy_bundle


def verify(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    """``verify`` on the bundle's own trust files unless ``--policy`` is given: these tests are
    about the bundle (its policy.txt and roots.toml included), not about pinning."""
    trust = [] if "--policy" in args else ["--trust-bundle-keys"]
    code = audit_main(["verify", *map(str, args), *trust, "--workers", "1"])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    return code, cap.err + cap.out


def test_truncated_archive(real_bundle: RealBundle, tmp_path: Path, capsys) -> None:
    data = real_bundle.archive.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 20):
        bad = tmp_path / f"cut{cut}.tar.gz"
        bad.write_bytes(data[:cut])
        code, text = verify(capsys, bad)
        assert code == 1, text
        assert "corrupt or truncated archive" in text or "missing" in text


def test_not_a_bundle_path(tmp_path: Path, capsys) -> None:
    code, text = verify(capsys, tmp_path / "nope")
    assert code == 2
    assert "no such file" in text


@pytest.mark.parametrize("name", [bf.ENTRIES_FILE, bf.POLICY_FILE, bf.MANIFEST_FILE, bf.VERDICTS_FILE])
def test_missing_file(real_bundle: RealBundle, tmp_path: Path, capsys, name: str) -> None:
    d = copy_bundle(real_bundle.directory, tmp_path / "b")
    (d / name).unlink()
    code, text = verify(capsys, d)
    assert code == 1
    assert "missing" in text
    assert name in text


def test_auditor_policy_without_log_key_cannot_run(real_bundle: RealBundle, tmp_path: Path, capsys) -> None:
    policy = tmp_path / "policy.txt"
    policy.write_text("quorum none\n")
    code, text = verify(capsys, real_bundle.directory, "--policy", policy)
    assert code == 2
    assert "no log key" in text


def test_bundle_policy_without_log_key_fails(real_bundle: RealBundle, tmp_path: Path, capsys) -> None:
    d = copy_bundle(real_bundle.directory, tmp_path / "b")
    (d / bf.POLICY_FILE).write_text("quorum none\n")
    bf_files.rewrite_manifest(d)
    code, text = verify(capsys, d)
    assert code == 1
    assert "no log key" in text


def test_broken_manifest_with_pinned_trust_is_not_called_unpinned(
    real_bundle: RealBundle, tmp_path: Path, capsys
) -> None:
    """A manifest that fails stops the audit before the trust files are read; the auditor's
    --policy and --roots were still given, so no trust.unpinned failure and no WARNING (both
    were printed: a red team)."""
    d = copy_bundle(real_bundle.directory, tmp_path / "b")
    manifest = json.loads((d / bf.MANIFEST_FILE).read_text())
    manifest["files"]["checkpoints/7.note"] = manifest["files"][bf.POLICY_FILE]  # not a checkpoint name
    (d / bf.MANIFEST_FILE).write_text(json.dumps(manifest))
    code, text = verify(capsys, d, "--policy", real_bundle.policy, "--roots", real_bundle.roots)
    assert code == 1, text
    assert "bundle.manifest" in text
    assert "trust.unpinned" not in text
    assert "WARNING" not in text
    assert "policy: the auditor's own (pinned); roots: the auditor's own (pinned)" in text


def test_malformed_roots_cannot_run(real_bundle: RealBundle, tmp_path: Path, capsys) -> None:
    roots = tmp_path / "roots.toml"
    roots.write_text('format = "pausewatch-audit-roots"\nversion = 1\nverdict_key = "nope"\n')
    code, text = verify(capsys, real_bundle.directory, "--roots", roots)
    assert code == 2
    assert "verdict_key" in text


def test_future_format_version(real_bundle: RealBundle, tmp_path: Path, capsys) -> None:
    d = copy_bundle(real_bundle.directory, tmp_path / "b")
    text = (d / bf.MANIFEST_FILE).read_text().replace('"version": 1', '"version": 2')
    (d / bf.MANIFEST_FILE).write_text(text)
    code, out = verify(capsys, d)
    assert code == 2
    assert "version 2 is newer" in out


def test_entry_of_unknown_type(real_bundle: RealBundle, tmp_path: Path, capsys) -> None:
    d = copy_bundle(real_bundle.directory, tmp_path / "b")
    records = list(bf.decode_entry_records((d / bf.ENTRIES_FILE).read_bytes()))
    env = types_pb2.Envelope(payload=b"x", payload_type="application/vnd.evil+proto")
    env.signatures.add(keyid="00" * 32, sig=bytes(64))
    records[5] = bf.EntryRecord(records[5].index, env.SerializeToString(deterministic=True))
    (d / bf.ENTRIES_FILE).write_bytes(b"".join(bf.encode_entry_record(r.index, r.envelope) for r in records))
    bf_files.rewrite_manifest(d)
    code, text = verify(capsys, d)
    assert code == 1
    assert "entry.format" in text
    assert "unknown payload type" in text


def test_report_signed_by_a_key_enrolled_only_later(tmp_path: Path) -> None:
    from auditor.pipeline import AuditOptions, audit_bundle
    from tests.audit.synth import small_log

    log = small_log(rounds=2, nodes=2)
    late = Ed25519Signer.generate()
    from tests.audit.synth import new_node

    node = new_node("node-late", late)
    early = log.append(log.usage_report(node))  # before any inventory names this key
    log.nodes.append(node)
    log.add_inventory(3)
    log.append(log.usage_report(node))  # now enrolled: fine
    out = audit_bundle(log.export(tmp_path / "b"), AuditOptions(workers=1))
    assert out.failed_checks() == ["enrolment"], out.failures
    assert [f.index for f in out.failures] == [early]


def test_duplicate_report_in_log_is_a_failure(tmp_path: Path) -> None:
    from auditor.pipeline import AuditOptions, audit_bundle
    from tests.audit.synth import small_log

    log = small_log(rounds=2, nodes=2)
    again = log.log.entry(log.log.size - 1)
    log.append(again)
    out = audit_bundle(log.export(tmp_path / "b"), AuditOptions(workers=1))
    assert out.failed_checks() == ["chain.duplicate"]


def test_forged_inventory_is_refused(tmp_path: Path) -> None:
    from auditor.pipeline import AuditOptions, audit_bundle
    from tests.audit.synth import small_log

    log = small_log(rounds=1, nodes=2)
    inv = types_pb2.Inventory(facility_id="fac-a", lab_id="lab-1", version=9)
    log.append(sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(), [Ed25519Signer.generate()]))
    out = audit_bundle(log.export(tmp_path / "b"), AuditOptions(workers=1))
    assert out.failed_checks() == ["signature.inventory"]
