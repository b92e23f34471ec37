"""The entry pass decodes each report once and the re-evaluation reads those very reports:
``entries.bin`` is not read a second time to re-run the verdicts, with one worker or several."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from auditor.pipeline import AuditOptions, audit_bundle
from pausewatch import bundle as bf
from pausewatch.policy import parse_policy
from tests.audit.synth import add_commitment, add_verdicts, small_log


def _bundle(tmp_path: Path, *, tamper: bool = False) -> tuple[Path, AuditOptions, int]:
    log = small_log(rounds=40, nodes=3)
    verdicts = add_verdicts(log, add_commitment(log, bucket_s=600), tamper=tamper)
    options = AuditOptions(policy=parse_policy(log.policy_text), roots=log.roots, workers=1)
    return log.export(tmp_path / "bundle"), options, verdicts


def test_the_reevaluation_reads_no_entry_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory, options, verdicts = _bundle(tmp_path)
    assert verdicts >= 2

    side_files = bf.iter_entry_file

    def no_second_pass(f: BinaryIO, name: str = bf.ENTRIES_FILE) -> Iterator[bf.EntryRecord]:
        # the entry pass decodes the chunk it read (bytes in memory); a stream over the file
        # itself would be a second read
        assert name != bf.ENTRIES_FILE or isinstance(f, io.BytesIO), "entries.bin read twice"
        return side_files(f, name=name)

    monkeypatch.setattr(bf, "iter_entry_file", no_second_pass)
    out = audit_bundle(directory, options)
    assert out.ok, out.failures
    assert out.verdicts_matched == verdicts


@pytest.mark.parametrize("tamper", [False, True])
def test_reports_decoded_in_worker_processes_reevaluate_alike(tmp_path: Path, tamper: bool) -> None:
    """Reports decoded in worker processes (small chunks: several per worker) come back to the
    main process and re-derive the same verdicts as in one process; a tampered one is caught."""
    directory, options, verdicts = _bundle(tmp_path, tamper=tamper)
    one = audit_bundle(directory, options)
    many = audit_bundle(directory, AuditOptions(options.policy, options.roots, workers=2, chunk_entries=4))
    assert many.workers == 2
    assert (many.verdicts_matched, many.failed_checks()) == (one.verdicts_matched, one.failed_checks())
    assert one.verdicts_matched == (verdicts - 1 if tamper else verdicts)
    assert ("verdict.mismatch" in one.failed_checks()) == tamper
