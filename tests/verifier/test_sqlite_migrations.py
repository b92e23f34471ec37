"""SQLite storage beyond the shared conformance suite: its versioned migrations. A database
made by the release before schema version 2 (a report's envelope kept twice: in its
``reports`` row and as its log entry) opens with this code, is migrated in place without
rewriting a row, reads back every report as it was, and takes more, before and after the
operator drops the old column; scrub still checks the old copies; a newer database is
refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pausewatch.errors import EnvironmentFaultError
from pausewatch.reports import ReportHeader, ReportKind
from pausewatch.tlog_store import MerkleLog
from verifier.sqlite_storage import SCHEMA_VERSION, SqliteStorage, scrub_sqlite
from verifier.storage import StoredReport
from verifier.tlog_sqlite import BUNDLE_ENTRIES, SqliteTreeStore

NS = 1_000_000_000

# The schema exactly as version 1 created it (verifier/sqlite_storage.py before version 2).
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reports (
  log_index INTEGER PRIMARY KEY,
  digest BLOB NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  key_id TEXT NOT NULL,
  facility_id TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  boot_id BLOB NOT NULL,
  seq INTEGER NOT NULL,
  prev BLOB NOT NULL,
  period_start INTEGER NOT NULL,
  period_end INTEGER NOT NULL,
  nonce BLOB NOT NULL,
  signed_ns INTEGER NOT NULL,
  received_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_key_seq ON reports (key_id, seq, log_index);
CREATE INDEX IF NOT EXISTS reports_facility_period ON reports (facility_id, period_start);
CREATE TABLE IF NOT EXISTS chain_heads (key_id TEXT PRIMARY KEY, log_index INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS findings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  facility_id TEXT NOT NULL,
  finding_id TEXT NOT NULL,
  start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL,
  log_index INTEGER NOT NULL,
  body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_facility_time ON findings (facility_id, start_ns);
CREATE TABLE IF NOT EXISTS inventories (
  log_index INTEGER PRIMARY KEY,
  facility_id TEXT NOT NULL,
  lab_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  received_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL,
  UNIQUE (facility_id, version)
);
CREATE TABLE IF NOT EXISTS commitments (
  log_index INTEGER PRIMARY KEY,
  commitment_id TEXT NOT NULL,
  lab_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  received_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL,
  UNIQUE (commitment_id, version)
);
CREATE TABLE IF NOT EXISTS terms (
  log_index INTEGER PRIMARY KEY,
  terms_id TEXT NOT NULL,
  lab_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  received_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL,
  UNIQUE (terms_id, version)
);
CREATE TABLE IF NOT EXISTS challenges (
  log_index INTEGER PRIMARY KEY,
  seq INTEGER NOT NULL UNIQUE,
  nonce BLOB NOT NULL UNIQUE,
  issued_ns INTEGER NOT NULL,
  expires_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS verdicts (
  log_index INTEGER PRIMARY KEY,
  commitment_id TEXT NOT NULL,
  commitment_version INTEGER NOT NULL,
  facility_id TEXT NOT NULL,
  bucket_start INTEGER NOT NULL,
  bucket_end INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  status INTEGER NOT NULL,
  evaluated_ns INTEGER NOT NULL,
  envelope BLOB NOT NULL,
  UNIQUE (commitment_id, facility_id, bucket_start, revision)
);
CREATE TABLE IF NOT EXISTS checkpoints (
  size INTEGER PRIMARY KEY,
  root BLOB NOT NULL,
  note BLOB NOT NULL,
  signed_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoint_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  size INTEGER NOT NULL
);
"""


def report(index: int, key: str, seq: int) -> StoredReport:
    header = ReportHeader(
        ReportKind.USAGE,
        key,
        f"fac-{index % 2}",
        "node-1",
        b"\x01" * 16,
        seq,
        b"" if seq == 0 else b"\x02" * 32,
        seq * 60 * NS,
        (seq + 1) * 60 * NS,
        b"\x03" * 32,
        (seq + 1) * 60 * NS,
    )
    envelope = f"envelope {index} {header}".encode() * (1 + index % 5)  # sizes differ
    return StoredReport(index, envelope, header, 5 * NS + index)


def reports_of(keys: int, each: int, first: int = 0) -> list[StoredReport]:
    out = [
        report(first + j * keys + k, f"k{k}", (first // keys) + j) for j in range(each) for k in range(keys)
    ]
    return sorted(out, key=lambda r: r.log_index)


def write_v1(path: Path, reports: list[StoredReport], *, tick: int = 170) -> None:
    """A version 1 database holding ``reports``: the old DDL, rows and log by SQL, in ticks
    (so that the log holds full bundles and a tail), as the v1 writer left them."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(V1_SCHEMA)
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    log = MerkleLog(SqliteTreeStore(conn))
    for at in range(0, len(reports), tick):
        chunk = reports[at : at + tick]
        conn.execute("BEGIN IMMEDIATE")
        assert log.append([r.envelope for r in chunk]) == at
        conn.executemany(
            "INSERT INTO reports (digest, log_index, kind, key_id, facility_id, subject_id, boot_id, seq,"
            " prev, period_start, period_end, nonce, signed_ns, received_ns, envelope)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.digest, r.log_index, *r.header.row(), r.received_ns, r.envelope) for r in chunk],
        )
        conn.executemany(
            "INSERT INTO chain_heads (key_id, log_index) VALUES (?, ?)"
            " ON CONFLICT (key_id) DO UPDATE SET log_index = excluded.log_index",
            [(r.header.key_id, r.log_index) for r in chunk],
        )
        conn.execute("COMMIT")
    conn.close()


def version_and_columns(path: Path) -> tuple[int, list[str]]:
    conn = sqlite3.connect(path)
    try:
        version = int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
        columns = [r[1] for r in conn.execute("PRAGMA table_info(reports)")]
    finally:
        conn.close()
    return version, columns


def row_envelopes(path: Path) -> dict[int, bytes]:
    conn = sqlite3.connect(path)
    try:
        return {int(i): bytes(e) for i, e in conn.execute("SELECT log_index, envelope FROM reports")}
    finally:
        conn.close()


def assert_reads_back(storage: SqliteStorage, reports: list[StoredReport]) -> None:
    by_index = {r.log_index: r for r in reports}
    for r in reports:
        assert storage.report_by_digest(r.digest) == r
        assert storage.report_at(r.header.key_id, r.header.seq) == r
    for facility in ("fac-0", "fac-1"):
        got = list(storage.reports(facility, 0, 1 << 62))
        assert got == [r for r in reports if r.header.facility_id == facility]
    heads = storage.chain_heads({r.header.key_id for r in reports})
    for key, head in heads.items():
        assert head == max((r for r in reports if r.header.key_id == key), key=lambda r: r.log_index)
        assert storage.chain_head(key) == head
    assert storage.log_indices_by_digest(r.digest for r in reports) == {
        d.digest: i for i, d in by_index.items()
    }


def append(storage: SqliteStorage, reports: list[StoredReport]) -> None:
    with storage.transaction() as tx:
        assert tx.append_entries([r.envelope for r in reports]) == reports[0].log_index
        tx.put_reports(reports)
        tx.set_chain_heads([(r.header.key_id, r.log_index) for r in reports[-7:]])


def test_a_version_1_database_is_migrated_reads_every_report_back_and_takes_more(tmp_path: Path) -> None:
    path = tmp_path / "verifier.sqlite"
    old = reports_of(keys=7, each=100)  # 700 reports: two full bundles and a tail
    assert len(old) > 2 * BUNDLE_ENTRIES
    write_v1(path, old)
    assert version_and_columns(path)[0] == 1

    readonly = SqliteStorage(path, readonly=True)  # a reader (export, scrub) needs no migration
    assert_reads_back(readonly, old)
    readonly.close()
    assert version_and_columns(path)[0] == 1

    storage = SqliteStorage(path)
    version, columns = version_and_columns(path)
    assert version == SCHEMA_VERSION == 2
    assert "envelope" in columns
    # nothing rewritten: the old rows keep their copy (which nothing reads any more)
    assert row_envelopes(path) == {r.log_index: r.envelope for r in old}
    assert_reads_back(storage, old)
    assert storage.log_entries(0, len(old)) == [r.envelope for r in old]

    new = reports_of(keys=7, each=20, first=len(old))
    append(storage, new)
    assert_reads_back(storage, old + new)
    held = row_envelopes(path)
    assert all(held[r.log_index] == b"" for r in new)  # a new row holds no envelope
    problems, _ = scrub_sqlite(storage)
    assert problems == []
    storage.close()

    again = SqliteStorage(path)  # a second open migrates nothing
    assert version_and_columns(path)[0] == SCHEMA_VERSION
    assert_reads_back(again, old + new)
    again.close()

    # the operator's offline step that returns the old copies' space: the code reads that shape too
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE reports DROP COLUMN envelope")
    conn.execute("VACUUM")
    conn.close()
    dropped = SqliteStorage(path)
    more = reports_of(keys=7, each=10, first=len(old) + len(new))
    append(dropped, more)
    assert_reads_back(dropped, old + new + more)
    assert scrub_sqlite(dropped)[0] == []
    dropped.close()
    assert "envelope" not in version_and_columns(path)[1]


def test_a_new_database_has_no_envelope_column(tmp_path: Path) -> None:
    path = tmp_path / "verifier.sqlite"
    storage = SqliteStorage(path)
    rows = reports_of(keys=7, each=3)
    append(storage, rows)
    assert_reads_back(storage, rows)
    storage.close()
    version, columns = version_and_columns(path)
    assert version == SCHEMA_VERSION
    assert "envelope" not in columns


def test_a_version_1_copy_that_differs_from_its_log_entry_is_not_read_and_scrub_names_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "verifier.sqlite"
    old = reports_of(keys=3, each=100)
    write_v1(path, old)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE reports SET envelope = ? WHERE log_index = 123", (b"not the entry",))
    conn.commit()
    conn.close()
    storage = SqliteStorage(path)
    assert storage.report_at(old[123].header.key_id, old[123].header.seq) == old[123]  # the log's bytes
    problems, _ = scrub_sqlite(storage)
    assert problems == ["reports row at log index 123 holds other bytes than the log entry"]
    storage.close()


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "verifier.sqlite"
    SqliteStorage(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(EnvironmentFaultError, match="version 99 is newer"):
        SqliteStorage(path)


def test_scrub_finds_a_report_row_naming_another_entry(tmp_path: Path) -> None:
    path = tmp_path / "verifier.sqlite"
    storage = SqliteStorage(path)
    rows = reports_of(keys=2, each=3)
    with storage.transaction() as tx:
        tx.append_entries([r.envelope for r in rows])
        tx.put_reports(rows)
    storage._conn.execute("UPDATE reports SET digest = ? WHERE log_index = 4", (b"\x00" * 32,))
    problems, _ = scrub_sqlite(storage)
    assert problems == ["reports row at log index 4 names another digest than the log entry's"]
    storage.close()
