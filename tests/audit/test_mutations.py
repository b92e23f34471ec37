"""Every change to a real exported bundle makes `verify` fail and name what failed.

One byte flipped in every file (at its first, middle and last byte, and for the entry file at
many places); entries deleted, duplicated and reordered — both raw (the manifest's digest
catches it) and repacked with a recomputed manifest, so that the deeper checks (tree, chains,
document files, counts) must catch it on their own.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from auditor.cli import main as audit_main
from auditor.outcome import AuditOutcome
from auditor.pipeline import AuditOptions, audit_bundle
from pausewatch import bundle as bf
from pausewatch.files import bundle as bf_files
from pausewatch.policy import parse_policy
from pausewatch.roots import parse_roots
from tests.audit.conftest import RealBundle, copy_bundle

pytestmark = pytest.mark.heavy


def audit(directory: Path, rb: RealBundle, *, pinned: bool = True) -> AuditOutcome:
    options = AuditOptions(workers=1, chunk_entries=64)
    if pinned:
        options = AuditOptions(
            policy=parse_policy(rb.policy.read_bytes()),
            roots=parse_roots(rb.roots.read_bytes()),
            workers=1,
            chunk_entries=64,
        )
    return audit_bundle(directory, options)


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def positions(size: int, extra: int = 0) -> list[int]:
    base = {0, size // 2, size - 1}
    if extra:
        base |= {size * k // extra for k in range(extra)}
    return sorted(p for p in base if 0 <= p < size)


def test_every_file_every_flip_fails(real_bundle: RealBundle, tmp_path: Path) -> None:
    files = bf_files.list_bundle_files(real_bundle.directory)
    assert len(files) >= 10
    tried = 0
    for name in files:
        size = (real_bundle.directory / name).stat().st_size
        # The trust files and the manifest matter most when the auditor has no trust of its
        # own; every other file is checked the same way either way.
        modes = (True, False) if name in (bf.POLICY_FILE, bf.ROOTS_FILE, bf.MANIFEST_FILE) else (True,)
        for offset in positions(size, extra=12 if name == bf.ENTRIES_FILE else 0):
            for pinned in modes:
                d = copy_bundle(real_bundle.directory, tmp_path / f"m{tried}")
                flip(d / name, offset)
                try:
                    out = audit(d, real_bundle, pinned=pinned)
                except bf.BundleVersionError:
                    continue  # a flip in "format"/"version": exit 2, tested below
                assert not out.ok, f"flipping byte {offset} of {name} went unnoticed (pinned={pinned})"
                assert out.failures
                assert all(f.check and f.message for f in out.failures)
                tried += 1
    assert tried > 30


def test_flip_in_manifest_version_is_an_error_that_says_so(
    real_bundle: RealBundle, tmp_path: Path, capsys
) -> None:
    d = copy_bundle(real_bundle.directory, tmp_path / "b")
    text = (d / bf.MANIFEST_FILE).read_text()
    (d / bf.MANIFEST_FILE).write_text(text.replace('"version": 1', '"version": 3'))
    assert audit_main(["verify", str(d)]) == 2
    assert "version 3 is newer" in capsys.readouterr().err


def repack(d: Path, records: list[bf.EntryRecord]) -> None:
    buf = io.BytesIO()
    for r in records:
        buf.write(bf.encode_entry_record(r.index, r.envelope))
    (d / bf.ENTRIES_FILE).write_bytes(buf.getvalue())
    bf_files.rewrite_manifest(d)


def entries(d: Path) -> list[bf.EntryRecord]:
    return list(bf.decode_entry_records((d / bf.ENTRIES_FILE).read_bytes()))


@pytest.mark.parametrize("mutation", ["delete", "duplicate", "reorder", "reindex"])
@pytest.mark.parametrize("where", [0.1, 0.9])
def test_entry_list_mutations_fail_and_are_named(
    real_bundle: RealBundle, tmp_path: Path, mutation: str, where: float
) -> None:
    raw = copy_bundle(real_bundle.directory, tmp_path / "raw")
    records = entries(raw)
    k = int(len(records) * where)
    if mutation == "delete":
        changed = records[:k] + records[k + 1 :]
    elif mutation == "duplicate":
        changed = records[: k + 1] + records[k:]
    elif mutation == "reorder":
        changed = [*records[:k], records[k + 1], records[k], *records[k + 2 :]]
    else:  # same order, swapped indices: the bytes of two entries trade places in the log
        a, b = records[k], records[k + 1]
        changed = [
            *records[:k],
            bf.EntryRecord(a.index, b.envelope),
            bf.EntryRecord(b.index, a.envelope),
            *records[k + 2 :],
        ]
    # Raw: only the entry file changes; the manifest digest names it.
    buf = b"".join(bf.encode_entry_record(r.index, r.envelope) for r in changed)
    (raw / bf.ENTRIES_FILE).write_bytes(buf)
    out = audit(raw, real_bundle)
    assert "bundle.digest" in out.failed_checks()
    # Repacked with a consistent manifest: the tree and the other checks must catch it.
    packed = copy_bundle(real_bundle.directory, tmp_path / "packed")
    repack(packed, changed)
    out = audit(packed, real_bundle)
    assert not out.ok
    checks = set(out.failed_checks())
    assert checks & {"tree.root", "tree.size", "entries.index", "entries.order"}, checks
    assert (
        audit_main(
            [
                "verify",
                str(packed),
                "--policy",
                str(real_bundle.policy),
                "--roots",
                str(real_bundle.roots),
                "--workers",
                "1",
            ]
        )
        == 1
    )
