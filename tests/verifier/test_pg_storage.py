"""PostgreSQL storage beyond the shared conformance suite: versioned migrations, the log's
append-only triggers, and the writer lock that lets several hosts share one database — a
writer waits for the one holding the lock, and a writer killed with SIGKILL mid-transaction
frees it, with nothing of its transaction left behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psycopg
import pytest

from pausewatch.errors import EnvironmentFaultError
from verifier.pg_storage import MIGRATIONS, PgStorage, migrate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dsn(pg_cluster):
    return pg_cluster.database()


def test_migrations_are_versioned_and_applied_once(dsn):
    PgStorage(dsn).close()
    s = PgStorage(dsn)  # a second open applies nothing
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert [r[0] for r in rows] == [v for v, _ in MIGRATIONS]
        assert migrate(conn) == MIGRATIONS[-1][0]
    s.close()


def test_a_database_newer_than_the_code_is_refused(dsn):
    PgStorage(dsn).close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 0)")
    with pytest.raises(EnvironmentFaultError, match="version 99"):
        PgStorage(dsn)


def test_an_unreachable_database_is_one_clear_error(pg_cluster):
    with pytest.raises(EnvironmentFaultError, match="cannot connect"):
        PgStorage(pg_cluster.dsn("no_such_database"))


def test_the_log_is_append_only_in_the_database_too(dsn):
    s = PgStorage(dsn)
    with s.transaction() as tx:
        tx.append_entries([b"a", b"b"])
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in (
            "UPDATE tlog_entry SET data = 'x' WHERE idx = 0",
            "DELETE FROM tlog_entry WHERE idx = 1",
            "UPDATE tlog_meta SET size = 1",
            "DELETE FROM tlog_tile",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="tlog: "):
                conn.execute(statement)
    assert s.log_entries(0, 2) == [b"a", b"b"]
    s.close()


def test_a_second_writer_waits_for_the_lock_then_sees_the_first_ones_entries(dsn):
    a, b = PgStorage(dsn), PgStorage(dsn)
    inside, release, done = threading.Event(), threading.Event(), threading.Event()
    firsts: list[int] = []

    def first_writer() -> None:
        with a.transaction() as tx:
            tx.append_entries([b"a1", b"a2"])
            inside.set()
            assert release.wait(30)

    def second_writer() -> None:
        with b.transaction() as tx:
            firsts.append(tx.append_entries([b"b1"]))
        done.set()

    t1 = threading.Thread(target=first_writer)
    t1.start()
    assert inside.wait(30)
    t2 = threading.Thread(target=second_writer)
    t2.start()
    with psycopg.connect(dsn, autocommit=True) as watcher:  # b is queued on the lock, not done
        deadline = time.monotonic() + 30
        while not watcher.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the second writer never queued on the lock"
            time.sleep(0.01)
    assert not done.is_set()
    release.set()
    t1.join(30)
    t2.join(30)
    assert firsts == [2]
    assert b.log_entries(0, 3) == [b"a1", b"a2", b"b1"]
    a.close()
    b.close()


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from verifier.pg_storage import PgStorage
    s = PgStorage(sys.argv[1])
    with s.transaction() as tx:
        tx.append_entries([b"from the writer that dies"])
        print("inside", flush=True)
        time.sleep(600)
    """
)


@pytest.mark.timeout(60)  # the survivor would wait forever on a lock never freed
def test_a_writer_killed_mid_transaction_frees_the_lock_and_leaves_nothing(dsn):
    survivor = PgStorage(dsn)
    with survivor.transaction() as tx:
        tx.append_entries([b"before"])
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, dsn], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "inside"  # it holds the lock
        proc.kill()
        proc.wait(30)
        with survivor.transaction() as tx:  # returns once PostgreSQL dropped the dead session
            assert tx.append_entries([b"after"]) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert survivor.log_entries(0, 2) == [b"before", b"after"]
    survivor.close()


def _config(tmp_path: Path, storage: str) -> Path:
    cfg = tmp_path / "verifier.toml"
    cfg.write_text(
        'state_dir = "state"\n[log]\norigin = "t/log"\nkey_file = "log.key"\n[challenge]\nkey_file = "c.key"\n'
        f'[verdict]\nkey_file = "v.key"\n{storage}'
    )
    return cfg


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[storage]\nbackend = "mysql"\n', "storage.backend: 'mysql' is not one of sqlite, postgresql"),
        ('[storage]\nbackend = "postgresql"\n', "storage.dsn: required"),
        ('[storage]\ndsn = "dbname=x"\n', "storage.dsn: required with backend 'postgresql', and only"),
        ('[storage]\nbackend = "sqlite"\nurl = "x"\n', "storage.url: unknown key"),
    ],
)
def test_storage_config_errors_name_the_key(tmp_path, table, message):
    from verifier.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, table), environ={})


def test_storage_config_selects_the_backend(tmp_path, dsn):
    from verifier.config import load_config
    from verifier.sqlite_storage import SqliteStorage
    from verifier.storage_backends import open_storage

    default = load_config(_config(tmp_path, ""), environ={})
    assert (default.storage.backend, default.storage.dsn) == ("sqlite", "")
    (tmp_path / "state").mkdir(mode=0o700)
    s = open_storage(default)
    assert isinstance(s, SqliteStorage)
    s.close()
    pg = load_config(_config(tmp_path, f'[storage]\nbackend = "postgresql"\ndsn = "{dsn}"\n'), environ={})
    s = open_storage(pg)
    assert isinstance(s, PgStorage)
    s.close()


def test_hosts_on_one_database_share_one_challenge_stream(dsn):
    """Two sequencers on one database, in one process: the second host serves the challenge
    the first logged moments ago; when both sign the same seq, the later one is refused for
    that item alone (nothing stored, the rest of its tick unharmed) and serves the first's."""
    import asyncio

    from pausewatch.clock import SimulatedClock
    from pausewatch.note import Ed25519NoteSigner
    from sim.factories import T0, seeded_signer
    from verifier.challenges import ChallengeIssuer
    from verifier.sequencer import LogSequencer

    async def main() -> None:
        clock = SimulatedClock(T0)
        hosts = [
            LogSequencer(
                PgStorage(dsn),
                log_signer=Ed25519NoteSigner("o", seeded_signer("log")),
                origin="o",
                clock=clock,
                max_clock_skew_ns=120 * 10**9,
                sync_interval_s=1.0,
            )
            for _ in range(2)
        ]
        for h in hosts:
            await h.start()
        a, b = (ChallengeIssuer(h, seeded_signer("ch"), clock, interval_s=60, lifetime_s=180) for h in hosts)
        try:
            first = await a.issue()
            assert (await b.issue()) == first  # logged 0 s ago: served, not re-issued
            clock.advance(61)
            # both may read seq 1 as next before either logs it: the one logged second is
            # refused and serves the first's; either way they serve one challenge
            late = await asyncio.gather(a.issue(), b.issue())
            assert late[0] == late[1]
            assert late[0].seq == 1
            assert [c.seq for c in await hosts[0].read(lambda s: s.challenges())] == [0, 1]
        finally:
            for h in hosts:
                await h.stop()

    asyncio.run(main())


def test_a_lost_connection_fails_one_call_then_reconnects(dsn):
    s = PgStorage(dsn)
    with s.transaction() as tx:
        tx.append_entries([b"a"])
    for read in ("latest_checkpoint", "log_size"):  # a query of its own, a log read
        with psycopg.connect(dsn, autocommit=True) as admin:  # the server drops our session
            admin.execute("SELECT pg_terminate_backend(%s)", (s._conn.info.backend_pid,))
        with pytest.raises(EnvironmentFaultError):
            getattr(s, read)()
        assert s.log_entries(0, 1) == [b"a"]  # the next call connected again
    with s.transaction() as tx:
        assert tx.append_entries([b"b"]) == 1
    s.close()
