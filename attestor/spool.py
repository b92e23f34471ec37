"""The durable spool: signed reports, the chain head, receipts, the last checkpoint, alarms.

SQLite in WAL mode with ``synchronous=FULL``: a commit is on disk before it returns. The rules:

- ``append`` signs *inside* the write transaction and stores the envelope and the new chain head
  together. If the process dies before the commit, nothing was stored and nothing was sent, so
  the seq is signed again after restart (the first signature never left the process). If it
  dies after, the report is durable before any attempt to send it. One seq therefore never
  leaves the node with two different contents.
- A report is sent only from the spool (``pending``), in seq order, exactly as stored.
- Acknowledged reports are pruned once older than ``prune_age``; when the spool is full, the
  oldest acknowledged reports go first, whatever their age.
- A spool full of *unacknowledged* (or rejected, kept as evidence) reports drops none of them:
  ``append`` returns None, and the daemon keeps the newest unsigned report of the gap in the
  single ``overflow`` slot (replaced each period, never signed until there is room) and raises
  the ``spool.full`` alarm. When room comes back, that newest report is signed first, so the
  verifier sees the gap in time, with an intact chain.
- The spool belongs to one key: opening it with another key id fails (a chain is per key).

Timestamps stored here come from the injected clock (unix ns).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from attestor.report import GENESIS, ChainHead, SignedReport
from pausewatch.errors import EnvironmentFaultError, InternalError
from pausewatch.files.statedir import ensure_private_file

__all__ = [
    "Alarm",
    "PendingReport",
    "Spool",
    "SpoolLimits",
    "SpoolStatus",
    "StoredCheckpoint",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chain_head (
  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, prev BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS reports (
  seq INTEGER PRIMARY KEY,
  envelope BLOB NOT NULL,
  digest BLOB NOT NULL,
  payload_type TEXT NOT NULL,
  period_start_ns INTEGER NOT NULL,
  period_end_ns INTEGER NOT NULL,
  spooled_ns INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'acked', 'rejected', 'disputed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  acked_ns INTEGER,
  log_index INTEGER,
  receipt BLOB,
  reject_code INTEGER,
  reject_message TEXT);
CREATE INDEX IF NOT EXISTS reports_by_state ON reports (state, seq);
CREATE TABLE IF NOT EXISTS checkpoint (
  id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, root BLOB NOT NULL,
  note BLOB NOT NULL, seen_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alarms (
  kind TEXT PRIMARY KEY, message TEXT NOT NULL, raised_ns INTEGER NOT NULL,
  last_ns INTEGER NOT NULL, count INTEGER NOT NULL, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS overflow (
  id INTEGER PRIMARY KEY CHECK (id = 1), payload_type TEXT NOT NULL, report BLOB NOT NULL,
  period_start_ns INTEGER NOT NULL, period_end_ns INTEGER NOT NULL,
  gap_start_ns INTEGER NOT NULL, skipped INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class SpoolLimits:
    """Capacity (rows and envelope bytes, all states) and the age past which acks are pruned."""

    max_rows: int = 200_000
    max_bytes: int = 512 << 20
    prune_age_ns: int = 7 * 86_400 * 1_000_000_000


@dataclass(frozen=True)
class PendingReport:
    seq: int
    envelope: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: bytes


@dataclass(frozen=True)
class Alarm:
    kind: str
    message: str
    raised_ns: int
    last_ns: int
    count: int
    active: bool


@dataclass(frozen=True)
class SpoolStatus:
    key_id: str
    head_seq: int
    head_digest: bytes
    pending: int
    acked: int
    rejected: int
    disputed: int
    rows: int
    bytes: int
    last_ack_seq: int | None
    last_ack_ns: int | None
    last_log_index: int | None
    checkpoint_size: int | None
    overflow_skipped: int
    alarms: tuple[Alarm, ...]


class Spool:
    """One SQLite spool file. Not shared between threads; one writer process at a time."""

    def __init__(self, conn: sqlite3.Connection, limits: SpoolLimits) -> None:
        self._db = conn
        self._limits = limits

    @classmethod
    def open(cls, path: Path, key_id: str, limits: SpoolLimits | None = None) -> Spool:
        """Open (or create) the spool for ``key_id``; EnvironmentFaultError on any failure."""
        ensure_private_file(path)  # 0600, and so its WAL and -shm
        try:
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key = 'key_id'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta (key, value) VALUES ('key_id', ?)", (key_id,))
            elif row[0] != key_id:
                conn.close()
                raise EnvironmentFaultError(
                    f"{path}: this spool holds the chain of key {row[0][:16]}, not {key_id[:16]};"
                    " a chain is per key: use another state directory"
                )
        except sqlite3.Error as e:
            raise EnvironmentFaultError(f"{path}: cannot open the spool: {e}") from e
        return cls(conn, limits or SpoolLimits())

    @classmethod
    def open_readonly(cls, path: Path) -> Spool:
        """For ``status``: read-only, while the daemon may be writing (WAL allows it)."""
        if not path.exists():
            raise EnvironmentFaultError(f"{path}: no spool here (has the daemon run?)")
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10.0)
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("SELECT 1 FROM meta").fetchall()
        except sqlite3.Error as e:
            raise EnvironmentFaultError(f"{path}: cannot read the spool: {e}") from e
        return cls(conn, SpoolLimits())

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ chain

    def head(self) -> ChainHead:
        row = self._db.execute("SELECT seq, prev FROM chain_head WHERE id = 1").fetchone()
        return GENESIS if row is None else ChainHead(int(row[0]), bytes(row[1]))

    def _usage(self) -> tuple[int, int]:
        rows, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(length(envelope)), 0) FROM reports"
        ).fetchone()
        return int(rows), int(size)

    def _make_room(self, incoming: int) -> bool:
        """Prune acknowledged reports, oldest first, until ``incoming`` bytes fit. Inside a txn."""
        lim = self._limits
        rows, size = self._usage()
        while rows + 1 > lim.max_rows or size + incoming > lim.max_bytes:
            victim = self._db.execute(
                "SELECT seq, length(envelope) FROM reports WHERE state = 'acked' ORDER BY seq LIMIT 1"
            ).fetchone()
            if victim is None:
                return False
            self._db.execute("DELETE FROM reports WHERE seq = ?", (victim[0],))
            rows, size = rows - 1, size - int(victim[1])
        return True

    def append(
        self, sign: Callable[[ChainHead], SignedReport], now_ns: int, *, estimate_bytes: int = 4096
    ) -> SignedReport | None:
        """Sign at the stored head and store report and new head in one transaction.

        Returns None (and stores nothing) when the spool is full of unacknowledged reports.
        """
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if not self._make_room(estimate_bytes):
                    self._db.execute("ROLLBACK")
                    return None
                head = self.head()
                link = sign(head)
                if link.seq != head.seq:
                    raise InternalError(f"signed seq {link.seq} at head {head.seq}")
                self._db.execute(
                    "INSERT INTO reports (seq, envelope, digest, payload_type, period_start_ns,"
                    " period_end_ns, spooled_ns, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                    (
                        link.seq,
                        link.envelope,
                        link.digest,
                        link.payload_type,
                        link.period_start_ns,
                        link.period_end_ns,
                        now_ns,
                    ),
                )
                nxt = link.next_head
                self._db.execute(
                    "INSERT INTO chain_head (id, seq, prev) VALUES (1, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, prev = excluded.prev",
                    (nxt.seq, nxt.prev),
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise EnvironmentFaultError(f"spool write failed: {e}") from e
        return link

    # ------------------------------------------------------------------ overflow

    def save_overflow(self, payload_type: str, report: bytes, start_ns: int, end_ns: int) -> int:
        """Keep the newest unsigned report of a full-spool gap; returns periods skipped so far."""
        with self._txn():
            row = self._db.execute("SELECT gap_start_ns, skipped FROM overflow WHERE id = 1").fetchone()
            gap_start, skipped = (start_ns, 1) if row is None else (int(row[0]), int(row[1]) + 1)
            self._db.execute(
                "INSERT OR REPLACE INTO overflow (id, payload_type, report, period_start_ns, period_end_ns,"
                " gap_start_ns, skipped) VALUES (1, ?, ?, ?, ?, ?, ?)",
                (payload_type, report, start_ns, end_ns, gap_start, skipped),
            )
        return skipped

    def overflow(self) -> tuple[str, bytes, int, int] | None:
        """(payload type, unsigned report bytes, gap start ns, periods skipped) or None."""
        row = self._db.execute(
            "SELECT payload_type, report, gap_start_ns, skipped FROM overflow WHERE id = 1"
        ).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]), int(row[2]), int(row[3]))

    def clear_overflow(self) -> None:
        with self._txn():
            self._db.execute("DELETE FROM overflow")

    # ------------------------------------------------------------------ upload state

    def pending(self, limit: int) -> list[PendingReport]:
        rows = self._db.execute(
            "SELECT seq, envelope FROM reports WHERE state = 'pending' ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [PendingReport(int(r[0]), bytes(r[1])) for r in rows]

    def envelope(self, seq: int) -> bytes | None:
        row = self._db.execute("SELECT envelope FROM reports WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else bytes(row[0])

    def mark_attempt(self, seqs: list[int]) -> None:
        with self._txn():
            self._db.executemany(
                "UPDATE reports SET attempts = attempts + 1 WHERE seq = ?", [(s,) for s in seqs]
            )

    def mark_acked(
        self, seq: int, log_index: int, receipt: bytes, checkpoint: StoredCheckpoint | None, now_ns: int
    ) -> None:
        """Record a verified receipt and (if newer) its checkpoint, in one transaction."""
        with self._txn():
            self._db.execute(
                "UPDATE reports SET state = 'acked', acked_ns = ?, log_index = ?, receipt = ? WHERE seq = ?",
                (now_ns, log_index, receipt, seq),
            )
            if checkpoint is not None:
                self._save_checkpoint(checkpoint, now_ns)

    def mark_rejected(self, seq: int, code: int, message: str) -> None:
        with self._txn():
            self._db.execute(
                "UPDATE reports SET state = 'rejected', reject_code = ?, reject_message = ? WHERE seq = ?",
                (code, message[:500], seq),
            )

    def mark_disputed(self, seq: int, message: str) -> None:
        """Delivered, but the receipt did not verify: kept as evidence, not resent automatically."""
        with self._txn():
            self._db.execute(
                "UPDATE reports SET state = 'disputed', reject_message = ? WHERE seq = ?",
                (message[:500], seq),
            )

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._txn():
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def last_checkpoint(self) -> StoredCheckpoint | None:
        row = self._db.execute("SELECT size, root, note FROM checkpoint WHERE id = 1").fetchone()
        return None if row is None else StoredCheckpoint(int(row[0]), bytes(row[1]), bytes(row[2]))

    def save_checkpoint(self, checkpoint: StoredCheckpoint, now_ns: int) -> None:
        with self._txn():
            self._save_checkpoint(checkpoint, now_ns)

    def _save_checkpoint(self, cp: StoredCheckpoint, now_ns: int) -> None:
        self._db.execute(
            "INSERT INTO checkpoint (id, size, root, note, seen_ns) VALUES (1, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root,"
            " note = excluded.note, seen_ns = excluded.seen_ns WHERE excluded.size >= checkpoint.size",
            (cp.size, cp.root, cp.note, now_ns),
        )

    def prune(self, now_ns: int) -> int:
        """Delete acknowledged reports older than the prune age; returns how many."""
        cutoff = now_ns - self._limits.prune_age_ns
        with self._txn():
            cur = self._db.execute("DELETE FROM reports WHERE state = 'acked' AND acked_ns < ?", (cutoff,))
        return int(cur.rowcount)

    # ------------------------------------------------------------------ alarms

    def raise_alarm(self, kind: str, message: str, now_ns: int) -> None:
        with self._txn():
            self._db.execute(
                "INSERT INTO alarms (kind, message, raised_ns, last_ns, count, active)"
                " VALUES (?, ?, ?, ?, 1, 1)"
                " ON CONFLICT (kind) DO UPDATE SET message = excluded.message, last_ns = excluded.last_ns,"
                " count = alarms.count + 1, active = 1,"
                " raised_ns = CASE WHEN alarms.active THEN alarms.raised_ns ELSE excluded.raised_ns END",
                (kind, message[:1000], now_ns, now_ns),
            )

    def clear_alarm(self, kind: str) -> None:
        with self._txn():
            self._db.execute("UPDATE alarms SET active = 0 WHERE kind = ?", (kind,))

    def alarms(self, *, active_only: bool = True) -> tuple[Alarm, ...]:
        sql = "SELECT kind, message, raised_ns, last_ns, count, active FROM alarms"
        if active_only:
            sql += " WHERE active = 1"
        rows = self._db.execute(sql + " ORDER BY raised_ns").fetchall()
        return tuple(Alarm(str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), bool(r[5])) for r in rows)

    # ------------------------------------------------------------------ status

    def status(self) -> SpoolStatus:
        db = self._db
        key = db.execute("SELECT value FROM meta WHERE key = 'key_id'").fetchone()
        counts = dict(db.execute("SELECT state, COUNT(*) FROM reports GROUP BY state").fetchall())
        rows, size = self._usage()
        last = db.execute(
            "SELECT seq, acked_ns, log_index FROM reports WHERE state = 'acked'"
            " ORDER BY acked_ns DESC, seq DESC LIMIT 1"
        ).fetchone()
        cp = self.last_checkpoint()
        overflow = self.overflow()
        head = self.head()
        return SpoolStatus(
            key_id="" if key is None else str(key[0]),
            head_seq=head.seq,
            head_digest=head.prev,
            pending=int(counts.get("pending", 0)),
            acked=int(counts.get("acked", 0)),
            rejected=int(counts.get("rejected", 0)),
            disputed=int(counts.get("disputed", 0)),
            rows=rows,
            bytes=size,
            last_ack_seq=None if last is None else int(last[0]),
            last_ack_ns=None if last is None else int(last[1]),
            last_log_index=None if last is None else int(last[2]),
            checkpoint_size=None if cp is None else cp.size,
            overflow_skipped=0 if overflow is None else overflow[3],
            alarms=self.alarms(),
        )

    def _txn(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error); sqlite errors -> EnvironmentFaultError."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise EnvironmentFaultError(f"spool transaction failed to start: {e}") from e

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._db.execute("COMMIT")
            elif self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error as e:
            raise EnvironmentFaultError(f"spool commit failed: {e}") from e
        if isinstance(exc, sqlite3.Error):
            raise EnvironmentFaultError(f"spool write failed: {exc}") from exc
