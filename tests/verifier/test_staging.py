"""The stager on its own, on a real SQLite store: what each item of a tick becomes, checked
against the committed state *and the items staged before it in the same tick*, and which
changes wait for COMMIT (:mod:`verifier.staging`)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.v1 import types_pb2
from sim.factories import IDLE, NS, T0, Fleet, seeded_signer
from verifier.errors import NotEnrolledHereError
from verifier.ingest import FindingId, admit_report
from verifier.registry import VerifiedDocument
from verifier.sqlite_storage import SqliteStorage
from verifier.staging import (
    Appended,
    ChallengeItem,
    DocumentItem,
    Duplicate,
    Refused,
    ReportItem,
    Staged,
    Stager,
    Work,
)


def _tick(storage: SqliteStorage, stager: Stager, items: Sequence[Work]) -> list[Staged]:
    """One tick as the sequencer runs it, without the checkpoint: stage, write, append, commit."""
    with storage.transaction() as tx:
        batch = stager.begin(tx, tx.log_size(), items)
        staged = [stager.stage(tx, batch, item, T0) for item in items]
        batch.flush(tx)
        if batch.entries:
            tx.append_entries(batch.entries)
    stager.committed(batch)
    return staged


def _inventory(fleet: Fleet, inv: types_pb2.Inventory) -> DocumentItem:
    env = parse_envelope(sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(), [fleet.lab]))
    return DocumentItem(VerifiedDocument(env, inv.facility_id, "lab", inv.version, inv))


def _enrolled(fleet: Fleet, stager: Stager) -> tuple[SqliteStorage, types_pb2.Inventory]:
    storage = SqliteStorage(":memory:")
    inv = fleet.inventory_wire("fac-a")
    assert _tick(storage, stager, [_inventory(fleet, inv)]) == [Appended(0)]
    return storage, inv


def _report(fleet: Fleet, stager: Stager, node: str, k: int = 0) -> ReportItem:
    raw = fleet.usage(node, "fac-a", T0 + k * 60 * NS, IDLE)
    return ReportItem(admit_report(raw, stager.enrollment, max_envelope_bytes=1 << 20))


@pytest.mark.parametrize("digest_index_bound", [1_000_000, 0])  # 0: every lookup goes to storage
def test_a_report_twice_is_appended_once_and_then_is_its_duplicate(digest_index_bound: int) -> None:
    fleet = Fleet({"fac-a": 1})
    stager = Stager(max_clock_skew_ns=86_400 * NS, digest_index_bound=digest_index_bound)
    storage, _ = _enrolled(fleet, stager)
    report = _report(fleet, stager, "fac-a-n00")
    first, again = _tick(storage, stager, [report, report])  # twice in one tick
    assert isinstance(first, Appended)
    assert first.log_index == 1
    assert again == Duplicate(1)
    assert _tick(storage, stager, [report]) == [Duplicate(1)]  # and in a later one
    assert storage.log_size() == 2
    assert stager.logged_index(report.digest) == (1 if digest_index_bound else None)


def test_an_inventory_staged_earlier_in_the_tick_refuses_the_report_of_a_key_it_dropped() -> None:
    fleet = Fleet({"fac-a": 2})
    stager = Stager(max_clock_skew_ns=86_400 * NS)
    storage, inv = _enrolled(fleet, stager)
    report = _report(fleet, stager, "fac-a-n01")  # admitted while its key is enrolled
    dropped = types_pb2.Inventory()
    dropped.CopyFrom(inv)
    dropped.version = 2
    del dropped.nodes[1]
    committed = stager.enrollment

    with storage.transaction() as tx:
        batch = stager.begin(tx, tx.log_size(), [])
        assert stager.stage(tx, batch, _inventory(fleet, dropped), T0) == Appended(1)
        refused = stager.stage(tx, batch, report, T0)
        assert isinstance(refused, Refused)
        assert isinstance(refused.error, NotEnrolledHereError)
        assert len(batch.entries) == 1  # the refused report staged nothing
        assert stager.enrollment is committed  # the tick's enrolment waits for COMMIT
        batch.flush(tx)
        tx.append_entries(batch.entries)
    stager.committed(batch)
    assert stager.enrollment is not committed
    assert report.report.header.key_id not in stager.enrollment.keys
    assert storage.report_at(report.report.header.key_id, 0) is None


def test_a_challenge_judges_the_reports_after_it_in_its_tick_and_is_forgotten_when_the_tick_fails() -> None:
    fleet = Fleet({"fac-a": 2})
    stager = Stager(max_clock_skew_ns=86_400 * NS)
    storage, _ = _enrolled(fleet, stager)
    challenge = types_pb2.Challenge(
        nonce=b"\x07" * 32,  # the nonce the fleet's reports answer
        issued_unix_ns=T0 - 60 * NS,
        expires_unix_ns=T0 + 86_400 * NS,
        log_origin="test.example/log",
        seq=0,
    )
    signed = sign_envelope(PayloadType.CHALLENGE, challenge.SerializeToString(), [seeded_signer("verdict")])
    report, other = _report(fleet, stager, "fac-a-n00"), _report(fleet, stager, "fac-a-n01")

    def failing_tick() -> None:
        with storage.transaction() as tx:
            batch = stager.begin(tx, tx.log_size(), [report])
            assert stager.stage(tx, batch, ChallengeItem(signed, challenge), T0) == Appended(1)
            assert stager.stage(tx, batch, report, T0) == Appended(2)  # answers it: no findings
            raise RuntimeError("the storage failed: the tick is rolled back")

    with pytest.raises(RuntimeError):
        failing_tick()
    stager.rolled_back(storage)

    # logged after where the challenge was staged: judged without it all the same
    for staged, index in zip(_tick(storage, stager, [other, report]), (1, 2), strict=True):
        assert isinstance(staged, Appended)
        assert staged.log_index == index
        assert [f.id for f in staged.findings] == [FindingId.UNKNOWN_CHALLENGE]
