"""The storage interface's contract, run against every implementation: SQLite on a file and
in memory, and PostgreSQL (a throwaway cluster, ``conftest.pg_cluster``)."""

import hashlib
import random
import sqlite3

import psycopg
import pytest

from pausewatch import merkle
from pausewatch.errors import InternalError
from pausewatch.reports import ReportHeader, ReportKind
from pausewatch.v1 import types_pb2
from verifier.pg_storage import PgStorage
from verifier.sqlite_storage import SqliteStorage
from verifier.storage import (
    CheckpointConflictError,
    StoredChallenge,
    StoredCheckpoint,
    StoredDocument,
    StoredFinding,
    StoredReport,
    StoredVerdict,
)

NS = 1_000_000_000


# A UNIQUE violation, as each driver raises it (the caller's transaction rolls back)
INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError)


@pytest.fixture(params=["file", "memory", "postgresql"])
def opener(request, tmp_path):
    """Opens a storage instance on one database (each call: a new instance on the same one)."""
    if request.param == "postgresql":
        dsn = request.getfixturevalue("pg_cluster").database()
        return lambda: PgStorage(dsn)
    path = tmp_path / "v.sqlite" if request.param == "file" else ":memory:"
    return lambda: SqliteStorage(path)


@pytest.fixture
def storage(opener):
    s = opener()
    yield s
    s.close()


def header(key="k1", seq=0, facility="fac-a", start=100 * NS, end=160 * NS):
    return ReportHeader(
        ReportKind.USAGE,
        key,
        facility,
        "node-1",
        b"\x01" * 16,
        seq,
        b"" if seq == 0 else b"\x02" * 32,
        start,
        end,
        b"\x03" * 32,
        end,
    )


def report(index, **kw):
    h = header(**kw)
    return StoredReport(index, f"envelope {index} {h}".encode(), h, 5 * NS)


def test_report_rows_log_entries_and_heads_commit_together(storage):
    with storage.transaction() as tx:
        first = tx.append_entries([report(0).envelope, report(1, seq=1).envelope])
        assert first == 0
        tx.put_report(report(0))
        tx.put_report(report(1, seq=1))
        tx.set_chain_head("k1", 1)
    assert storage.log_size() == 2
    assert storage.chain_head("k1") == report(1, seq=1)
    assert storage.report_at("k1", 0) == report(0)
    assert storage.report_by_digest(hashlib.sha256(report(1, seq=1).envelope).digest()).log_index == 1
    assert storage.log_entries(0, 2) == [report(0).envelope, report(1, seq=1).envelope]
    assert storage.leaf_hash(1) == merkle.leaf_hash(report(1, seq=1).envelope)
    root = storage.log_root(2)
    merkle.verify_inclusion(storage.leaf_hash(0), 0, 2, storage.inclusion_proof(0, 2), root)


def test_a_failed_transaction_leaves_nothing(storage):
    def crash_inside_a_transaction():
        with storage.transaction() as tx:
            tx.append_entries([report(0).envelope])
            tx.put_report(report(0))
            tx.set_chain_head("k1", 0)
            raise RuntimeError("crash inside the transaction")

    with pytest.raises(RuntimeError):
        crash_inside_a_transaction()
    assert storage.log_size() == 0
    assert storage.chain_head("k1") is None
    assert storage.report_at("k1", 0) is None
    with storage.transaction() as tx:  # and the next one works
        assert tx.append_entries([b"b"]) == 0


def test_reports_by_facility_and_period_in_log_order(storage):
    rows = [
        report(0, key="a", start=0, end=60 * NS),
        report(1, key="b", start=50 * NS, end=110 * NS),
        report(2, key="c", facility="fac-b", start=50 * NS, end=110 * NS),
        report(3, key="a", seq=1, start=120 * NS, end=180 * NS),
    ]
    with storage.transaction() as tx:
        tx.append_entries([r.envelope for r in rows])
        for r in rows:
            tx.put_report(r)
    got = list(storage.reports("fac-a", 55 * NS, 130 * NS))
    assert got == [rows[0], rows[1], rows[3]]
    assert [r.log_index for r in storage.reports("fac-a", 55 * NS, 130 * NS, after_log_index=1)] == [3]
    assert [r.log_index for r in storage.reports("fac-a", 110 * NS, 120 * NS)] == []


def test_a_report_reads_back_in_its_transaction_before_and_after_its_entry_is_appended(storage):
    """A tick stores its report rows, may read them back (a fork within the tick), then appends
    the entries: a report's envelope is its log entry, whichever was written first."""
    r0, r1 = report(0), report(1, seq=1)
    with storage.transaction() as tx:
        tx.append_entries([r0.envelope])
        tx.put_reports([r0, r1])  # r1's entry is appended below
        assert tx.report_at("k1", 1) == r1
        assert tx.report_at("k1", 0) == r0
        assert tx.report_by_digest(r1.digest) == r1
        tx.append_entries([r1.envelope])
        assert list(tx.reports("fac-a", 0, 1000 * NS)) == [r0, r1]
    assert list(storage.reports("fac-a", 0, 1000 * NS)) == [r0, r1]
    assert storage.report_at("k1", 1) == r1


def test_findings_documents_challenges(storage):
    f = types_pb2.Finding(id="chain.gap", start_unix_ns=10, end_unix_ns=20, evidence_log_indices=[0])
    with storage.transaction() as tx:
        tx.append_entries([b"inv1", b"inv2", b"com1", b"ch0"])
        tx.put_finding(StoredFinding("fac-a", 0, f))
        tx.put_inventory(StoredDocument(0, "fac-a", "lab", 1, b"inv1", 1))
        tx.put_inventory(StoredDocument(1, "fac-a", "lab", 2, b"inv2", 2))
        tx.put_commitment(StoredDocument(2, "c-1", "lab", 1, b"com1", 3))
        tx.put_challenge(StoredChallenge(3, 0, b"\x09" * 32, 100, 200, b"ch0"))
    assert [x.finding for x in storage.findings("fac-a", 15, 16)] == [f]
    assert list(storage.findings("fac-a", 20, 30)) == []
    assert [d.version for d in storage.inventories("fac-a")] == [1, 2]
    assert storage.latest_inventory("fac-a").envelope == b"inv2"
    assert storage.latest_commitment("c-1").version == 1
    assert storage.commitments() == storage.commitments("c-1")
    assert storage.challenge_by_nonce(b"\x09" * 32).log_index == 3
    assert storage.latest_challenge().seq == 0
    assert [c.seq for c in storage.challenges(100, 101)] == [0]
    assert storage.challenges(101, 200) == []
    with pytest.raises(INTEGRITY), storage.transaction() as tx:  # one version once
        tx.put_inventory(StoredDocument(9, "fac-a", "lab", 2, b"other", 9))


def test_terms_versions_with_their_signers(storage):
    with storage.transaction() as tx:
        tx.append_entries([b"t1", b"t2"])
        tx.put_terms(StoredDocument(0, "pause-terms", "party-a,party-b", 1, b"t1", 5))
        tx.put_terms(StoredDocument(1, "pause-terms", "party-a,party-b", 2, b"t2", 6))
    assert [(d.version, d.lab_id, d.log_index) for d in storage.terms()] == [
        (1, "party-a,party-b", 0),
        (2, "party-a,party-b", 1),
    ]
    assert storage.terms("other") == []
    with pytest.raises(INTEGRITY), storage.transaction() as tx:  # one version once
        tx.put_terms(StoredDocument(9, "pause-terms", "party-a", 2, b"other", 9))


def test_verdict_revisions_are_rows_never_overwritten(storage):
    def v(index, revision, bucket=0):
        return StoredVerdict(
            index, "c-1", 1, "fac-a", bucket, bucket + 10, revision, 1, 5, f"v{index}".encode()
        )

    with storage.transaction() as tx:
        tx.append_entries([b"v"] * 3)
        tx.put_verdict(v(0, 0))
        tx.put_verdict(v(1, 1))
        tx.put_verdict(v(2, 0, bucket=10))
    assert [x.log_index for x in storage.verdicts("c-1")] == [1, 2]
    assert [x.log_index for x in storage.verdicts("c-1", include_superseded=True)] == [0, 1, 2]
    assert [x.log_index for x in storage.verdicts(from_ns=5, to_ns=20)] == [2]
    assert storage.latest_verdict("c-1", "fac-a", 0).revision == 1
    with pytest.raises(InternalError), storage.transaction() as tx:
        tx.put_verdict(v(5, 1))


def test_checkpoint_compare_and_swap(storage):
    def cp(size):
        return StoredCheckpoint(size, bytes([size]) * 32, f"note {size}".encode(), size)

    with storage.transaction() as tx:
        tx.swap_checkpoint(None, cp(1))
    with storage.transaction() as tx:
        tx.swap_checkpoint(1, cp(3))
    for expected, new in ((1, cp(4)), (None, cp(5)), (3, cp(3)), (3, cp(2))):
        with pytest.raises(CheckpointConflictError), storage.transaction() as tx:
            tx.swap_checkpoint(expected, new)
    assert storage.latest_checkpoint() == cp(3)
    assert [c.size for c in storage.checkpoints()] == [1, 3]
    assert storage.checkpoint_at(1) == cp(1)
    assert storage.checkpoint_at(2) is None


@pytest.mark.parametrize("opener", ["file", "postgresql"], indirect=True)  # memory ends with its connection
def test_state_survives_reopening(opener):
    s = opener()
    with s.transaction() as tx:
        tx.append_entries([report(0).envelope])
        tx.put_report(report(0))
        tx.set_chain_head("k1", 0)
    s.close()
    s = opener()
    assert s.chain_head("k1") == report(0)
    assert s.log_size() == 1
    s.close()


def test_bulk_writes_and_lookups_match_the_single_row_ones(storage):
    reports = [report(i, key=f"k{i % 3}", seq=i // 3) for i in range(9)]
    with storage.transaction() as tx:
        tx.append_entries([r.envelope for r in reports])
        tx.put_reports(reports)
        tx.set_chain_heads([("k0", 6), ("k1", 7), ("k2", 8)])
        tx.set_chain_heads([("k2", 5)])  # moves an existing head
        f = types_pb2.Finding(id="chain.gap", start_unix_ns=100 * NS, end_unix_ns=160 * NS)
        tx.put_findings([StoredFinding("fac-a", 1, f), StoredFinding("fac-a", 2, f)])
    digests = {r.digest: r.log_index for r in reports}
    assert storage.log_indices_by_digest([*digests, b"\x00" * 32]) == digests
    heads = storage.chain_heads(["k0", "k1", "k2", "nobody"])
    assert {k: h.log_index for k, h in heads.items()} == {"k0": 6, "k1": 7, "k2": 5}
    assert heads["k0"] == storage.chain_head("k0") == reports[6]
    assert [f.log_index for f in storage.findings("fac-a")] == [1, 2]
    assert storage.recent_report_digests(2) == [(reports[7].digest, 7), (reports[8].digest, 8)]
    with pytest.raises(INTEGRITY), storage.transaction() as tx:  # UNIQUE digest
        tx.put_reports([StoredReport(9, reports[0].envelope, reports[0].header, 0)])
    assert storage.log_indices_by_digest([reports[0].digest]) == {reports[0].digest: 0}


def test_the_log_past_several_tiles_matches_the_reference_tree(storage):
    """Uneven batches across tile and level boundaries (256, 65,536 leaves at level 1): every
    root and proof as the pure Merkle module computes them from the same entries."""
    rng = random.Random(7)
    entries: list[bytes] = []
    while len(entries) < 1300:
        batch = [rng.randbytes(rng.randrange(1, 90)) for _ in range(rng.choice((1, 3, 255, 256, 257, 400)))]
        with storage.transaction() as tx:
            assert tx.append_entries(batch) == len(entries)
        entries += batch
    leaves = [merkle.leaf_hash(e) for e in entries]
    n = len(entries)
    assert storage.log_size() == n
    for size in (1, 255, 256, 257, 512, 1000, n):
        assert storage.log_root(size) == merkle.root_of(leaves[:size])
    for i in (0, 255, 256, 1023, n - 1):
        merkle.verify_inclusion(leaves[i], i, n, storage.inclusion_proof(i, n), storage.log_root(n))
    merkle.verify_consistency(300, n, storage.consistency_proof(300, n), storage.log_root(300), storage.log_root(n))
    assert storage.log_entries(250, 260) == entries[250:260]
