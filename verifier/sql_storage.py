"""The SQL both storage implementations share (:mod:`verifier.sqlite_storage`,
:mod:`verifier.pg_storage`): reads and writes of :mod:`verifier.storage` over a DB-API
connection, in SQL that SQLite and PostgreSQL both run (multi-row ``INSERT``, ``ON CONFLICT``,
row-value comparison, ``LIMIT``). Statements are written with ``?`` placeholders; a
:class:`SqlDialect` turns them into the driver's. Schemas, connections, transactions and the
Merkle log's tile store are each implementation's own.

Where a report's envelope lives is the schema's choice: in its ``reports`` row (PostgreSQL), or
only as its log entry (SQLite, schema version 2: the row names the entry by ``log_index``; a
reader given ``entries_at`` reads envelopes from the log). Either way a stored report's
envelope is the log entry at its index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from pausewatch.errors import InternalError
from pausewatch.reports import MAX_PERIOD_NS, ReportHeader
from pausewatch.tlog_store import LogConflictError, MerkleLog
from pausewatch.v1 import types_pb2
from verifier.storage import (
    CheckpointConflictError,
    StoredChallenge,
    StoredCheckpoint,
    StoredDocument,
    StoredFinding,
    StoredReport,
    StoredVerdict,
)

__all__ = ["SqlDialect", "SqlReader", "SqlTransaction", "swap_log_size"]


@dataclass(frozen=True)
class SqlDialect:
    """What differs between the drivers in the shared SQL: the placeholder and the error a
    UNIQUE violation raises."""

    placeholder: str
    integrity_error: type[Exception]

    def statement(self, sql: str) -> str:
        return sql if self.placeholder == "?" else _with_placeholder(sql, self.placeholder)


@cache
def _with_placeholder(sql: str, placeholder: str) -> str:
    """``sql`` with each ``?`` replaced (the shared statements hold no literal ``?``)."""
    return sql.replace("?", placeholder)


_REPORT_COLUMNS: Final = (
    "log_index, kind, key_id, facility_id, subject_id, boot_id, seq, prev, period_start,"
    " period_end, nonce, signed_ns, received_ns"
)  # then ``envelope`` where the row holds it


_LOOKUP_CHUNK: Final = 500  # values per IN (...) list
_ROWS_PER_INSERT: Final = 500  # rows per multi-row INSERT: few statements, few GIL round trips


@cache
def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


@cache
def _multi_insert(head: str, width: int, rows: int, tail: str = "") -> str:
    """``head VALUES (?, ...), (?, ...) ... tail`` for ``rows`` rows of ``width`` values: one
    statement (one database step, one GIL release) instead of one per row."""
    row = f"({_placeholders(width)})"
    return f"{head} VALUES {', '.join([row] * rows)}{tail}"


def swap_log_size(conn: Any, placeholder: str, old_size: int, new_size: int) -> None:
    """The Merkle log's compare-and-swap on its size (``tlog_meta``, one row, which appears at
    the first append), inside the caller's transaction, on a DB-API connection of either
    backend (``placeholder``: its driver's); LogConflictError when the stored size is not
    ``old_size``: another writer moved the log."""
    if old_size == 0:
        sql = (
            "INSERT INTO tlog_meta (id, size) VALUES (0, ?) ON CONFLICT (id)"
            " DO UPDATE SET size = excluded.size WHERE tlog_meta.size = 0"
        )
        args: tuple[int, ...] = (new_size,)
    else:
        sql, args = "UPDATE tlog_meta SET size = ? WHERE id = 0 AND size = ?", (new_size, old_size)
    if placeholder != "?":
        sql = _with_placeholder(sql, placeholder)
    if conn.execute(sql, args).rowcount != 1:
        raise LogConflictError(f"log size changed under the writer (expected {old_size})")


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for at in range(0, len(values), size):
        yield values[at : at + size]


EntriesAt = Callable[[Sequence[int]], list[bytes]]
"""Reads the log entries at the given indices, in that order."""


def _finding_row(finding: StoredFinding) -> tuple[Any, ...]:
    f = finding.finding
    return (
        finding.facility_id,
        f.id,
        f.start_unix_ns,
        f.end_unix_ns,
        finding.log_index,
        f.SerializeToString(deterministic=True),
    )


def _finding(row: Sequence[Any]) -> StoredFinding:
    msg = types_pb2.Finding()
    msg.ParseFromString(row[2])
    return StoredFinding(facility_id=row[0], log_index=row[1], finding=msg)


_DOC_COLUMNS: Final = "log_index, {id}, lab_id, version, envelope, received_ns"
_CHALLENGE_COLUMNS: Final = "log_index, seq, nonce, issued_ns, expires_ns, envelope"
_VERDICT_COLUMNS: Final = (
    "log_index, commitment_id, commitment_version, facility_id, bucket_start, bucket_end,"
    " revision, status, evaluated_ns, envelope"
)


class SqlReader:
    """Reads over one DB-API connection; shared by a storage and its transactions. SQL is
    written with ``?`` placeholders and run through :meth:`_run`, which the dialect adapts."""

    def __init__(
        self,
        conn: Any,
        log: MerkleLog,
        dialect: SqlDialect,
        entries_at: EntriesAt | None = None,
        *,
        empty_envelope_column: bool = False,
    ) -> None:
        """``entries_at``: the report rows hold no envelope; it is read from the log with
        this. ``empty_envelope_column``: they still have an ``envelope`` column, which new rows
        fill with an empty blob and nothing reads."""
        self._conn = conn
        self._log = log
        self._dialect = dialect
        self._entries_at = entries_at
        self._report_columns = _REPORT_COLUMNS if entries_at else _REPORT_COLUMNS + ", envelope"
        self._empty_envelope = entries_at is not None and empty_envelope_column
        # envelopes of the reports a transaction stored, by log index: a report row may be read
        # back before its entry is appended (a tick stores its rows, then appends)
        self._stored_envelopes: dict[int, bytes] = {}

    def _run(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Execute one statement; return the cursor."""
        return self._conn.execute(self._dialect.statement(sql), args)

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._run(sql, args).fetchone()

    # --- log ---------------------------------------------------------------------------
    def log_size(self) -> int:
        return int(self._log.size)

    def log_root(self, size: int) -> bytes:
        return bytes(self._log.root(size))

    def log_entries(self, start: int, end: int) -> list[bytes]:
        return [bytes(e) for e in self._log.entries(start, end)]

    def leaf_hash(self, index: int) -> bytes:
        return bytes(self._log.leaf_hash_at(index))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return list(self._log.inclusion_proof(index, size))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return list(self._log.consistency_proof(old_size, new_size))

    # --- reports -----------------------------------------------------------------------
    def _reports(self, rows: Sequence[Sequence[Any]]) -> list[StoredReport]:
        """Rows of ``self._report_columns`` as reports, envelopes read from the log when the
        rows hold none."""
        if self._entries_at is None:
            envelopes = [row[13] for row in rows]
        else:
            envelopes = self._report_envelopes([row[0] for row in rows])
        return [
            StoredReport(row[0], envelope, ReportHeader.from_row(row[1:12]), row[12])
            for row, envelope in zip(rows, envelopes, strict=True)
        ]

    def _report(self, row: Sequence[Any] | None) -> StoredReport | None:
        return None if row is None else self._reports([row])[0]

    def _report_envelopes(self, indices: Sequence[int]) -> list[bytes]:
        if self._entries_at is None:
            raise InternalError("report envelopes are in their rows")
        mine = self._stored_envelopes
        if not mine:
            return self._entries_at(indices)
        others = [i for i in indices if i not in mine]
        read = dict(zip(others, self._entries_at(others), strict=True)) if others else {}
        return [mine[i] if i in mine else read[i] for i in indices]

    def report_by_digest(self, digest: bytes) -> StoredReport | None:
        return self._report(
            self._one(f"SELECT {self._report_columns} FROM reports WHERE digest = ?", (digest,))  # noqa: S608  # constant columns
        )

    def report_at(self, key_id: str, seq: int) -> StoredReport | None:
        return self._report(
            self._one(
                f"SELECT {self._report_columns} FROM reports WHERE key_id = ? AND seq = ?"  # noqa: S608  # constant columns
                " ORDER BY log_index LIMIT 1",
                (key_id, seq),
            )
        )

    def chain_head(self, key_id: str) -> StoredReport | None:
        return self._report(
            self._one(
                f"SELECT {self._report_columns} FROM reports WHERE log_index ="  # noqa: S608  # constant columns
                " (SELECT log_index FROM chain_heads WHERE key_id = ?)",
                (key_id,),
            )
        )

    def log_indices_by_digest(self, digests: Iterable[bytes]) -> dict[bytes, int]:
        out: dict[bytes, int] = {}
        for chunk in _chunks(list(digests), _LOOKUP_CHUNK):
            rows = self._run(
                f"SELECT digest, log_index FROM reports WHERE digest IN ({_placeholders(len(chunk))})",  # noqa: S608  # placeholders only
                chunk,
            ).fetchall()
            out.update((bytes(d), int(i)) for d, i in rows)
        return out

    def chain_heads(self, key_ids: Iterable[str]) -> dict[str, StoredReport]:
        out: dict[str, StoredReport] = {}
        columns = ", ".join(f"r.{c.strip()}" for c in self._report_columns.split(","))
        for chunk in _chunks(list(key_ids), _LOOKUP_CHUNK):
            rows = self._run(
                f"SELECT {columns} FROM chain_heads h JOIN reports r ON r.log_index = h.log_index"  # noqa: S608  # constant columns, placeholders
                f" WHERE h.key_id IN ({_placeholders(len(chunk))})",
                chunk,
            ).fetchall()
            out.update((report.header.key_id, report) for report in self._reports(rows))
        return out

    def recent_report_digests(self, limit: int) -> list[tuple[bytes, int]]:
        rows = self._run(
            "SELECT digest, log_index FROM reports ORDER BY log_index DESC LIMIT ?", (limit,)
        ).fetchall()
        return [(bytes(d), int(i)) for d, i in reversed(rows)]

    def report_digests_since(self, log_index: int) -> list[tuple[bytes, int]]:
        rows = self._run(
            "SELECT digest, log_index FROM reports WHERE log_index >= ? ORDER BY log_index", (log_index,)
        ).fetchall()
        return [(bytes(d), int(i)) for d, i in rows]

    def reports(
        self, facility_id: str, start_ns: int, end_ns: int, *, after_log_index: int = -1
    ) -> Iterator[StoredReport]:
        cursor = self._run(
            f"SELECT {self._report_columns} FROM reports WHERE facility_id = ?"  # noqa: S608  # constant columns
            " AND period_start < ? AND period_start > ? AND period_end > ? AND log_index > ?"
            " ORDER BY log_index",
            (facility_id, end_ns, start_ns - MAX_PERIOD_NS - 1, start_ns, after_log_index),
        )
        while rows := cursor.fetchmany(_LOOKUP_CHUNK):
            yield from self._reports(rows)

    def findings(
        self, facility_id: str | None = None, start_ns: int | None = None, end_ns: int | None = None
    ) -> Iterator[StoredFinding]:
        where = ["1 = 1"]
        args: list[Any] = []
        if facility_id is not None:
            where.append("facility_id = ?")
            args.append(facility_id)
        if start_ns is not None:
            where.append("end_ns > ?")
            args.append(start_ns)
        if end_ns is not None:
            where.append("start_ns < ?")
            args.append(end_ns)
        sql = "SELECT facility_id, log_index, body FROM findings WHERE " + " AND ".join(where)  # noqa: S608  # constant fragments, values bound
        for row in self._run(sql + " ORDER BY log_index, id", args):
            yield _finding(row)

    # --- documents ---------------------------------------------------------------------
    def _documents(self, table: str, id_column: str, document_id: str | None) -> list[StoredDocument]:
        sql = f"SELECT {_DOC_COLUMNS.format(id=id_column)} FROM {table}"  # noqa: S608  # constant names
        args: tuple[Any, ...] = ()
        if document_id is not None:
            sql += f" WHERE {id_column} = ?"
            args = (document_id,)
        rows = self._run(sql + " ORDER BY log_index", args).fetchall()
        return [StoredDocument(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def inventories(self, facility_id: str | None = None) -> list[StoredDocument]:
        return self._documents("inventories", "facility_id", facility_id)

    def latest_inventory(self, facility_id: str) -> StoredDocument | None:
        docs = self._documents("inventories", "facility_id", facility_id)
        return max(docs, key=lambda d: d.version) if docs else None

    def commitments(self, commitment_id: str | None = None) -> list[StoredDocument]:
        return self._documents("commitments", "commitment_id", commitment_id)

    def latest_commitment(self, commitment_id: str) -> StoredDocument | None:
        docs = self._documents("commitments", "commitment_id", commitment_id)
        return max(docs, key=lambda d: d.version) if docs else None

    def terms(self, terms_id: str | None = None) -> list[StoredDocument]:
        return self._documents("terms", "terms_id", terms_id)

    # --- challenges --------------------------------------------------------------------
    def challenge_by_nonce(self, nonce: bytes) -> StoredChallenge | None:
        row = self._one(f"SELECT {_CHALLENGE_COLUMNS} FROM challenges WHERE nonce = ?", (nonce,))  # noqa: S608  # constant columns
        return None if row is None else StoredChallenge(*row)

    def latest_challenge(self) -> StoredChallenge | None:
        row = self._one(f"SELECT {_CHALLENGE_COLUMNS} FROM challenges ORDER BY seq DESC LIMIT 1")  # noqa: S608  # constant columns
        return None if row is None else StoredChallenge(*row)

    def challenges(self, start_ns: int | None = None, end_ns: int | None = None) -> list[StoredChallenge]:
        lo = -(1 << 63) if start_ns is None else start_ns
        hi = (1 << 63) - 1 if end_ns is None else end_ns
        rows = self._run(
            f"SELECT {_CHALLENGE_COLUMNS} FROM challenges"  # noqa: S608  # constant columns
            " WHERE issued_ns >= ? AND issued_ns < ? ORDER BY log_index",
            (lo, hi),
        ).fetchall()
        return [StoredChallenge(*r) for r in rows]

    # --- verdicts ----------------------------------------------------------------------
    def verdicts(
        self,
        commitment_id: str | None = None,
        facility_id: str | None = None,
        from_ns: int | None = None,
        to_ns: int | None = None,
        *,
        include_superseded: bool = False,
        after: tuple[str, str, int, int] | None = None,
        limit: int | None = None,
    ) -> list[StoredVerdict]:
        where = ["1 = 1"]
        if after is not None:
            where.append("(v.commitment_id, v.facility_id, v.bucket_start, v.revision) > (?, ?, ?, ?)")
            args_after: list[Any] = list(after)
        else:
            args_after = []
        args: list[Any] = []
        for column, value in (("commitment_id", commitment_id), ("facility_id", facility_id)):
            if value is not None:
                where.append(f"v.{column} = ?")
                args.append(value)
        if from_ns is not None:
            where.append("v.bucket_start >= ?")
            args.append(from_ns)
        if to_ns is not None:
            where.append("v.bucket_start < ?")
            args.append(to_ns)
        if not include_superseded:
            where.append(
                "v.revision = (SELECT MAX(w.revision) FROM verdicts w WHERE w.commitment_id ="
                " v.commitment_id AND w.facility_id = v.facility_id AND w.bucket_start = v.bucket_start)"
            )
        columns = ", ".join(f"v.{c.strip()}" for c in _VERDICT_COLUMNS.split(","))
        sql = f"SELECT {columns} FROM verdicts v WHERE " + " AND ".join(where)  # noqa: S608  # constant fragments, values bound
        sql += " ORDER BY v.commitment_id, v.facility_id, v.bucket_start, v.revision"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [StoredVerdict(*r) for r in self._run(sql, args_after + args).fetchall()]

    def latest_verdict(
        self, commitment_id: str, facility_id: str, bucket_start_ns: int
    ) -> StoredVerdict | None:
        row = self._one(
            f"SELECT {_VERDICT_COLUMNS} FROM verdicts WHERE commitment_id = ? AND facility_id = ?"  # noqa: S608  # constant columns
            " AND bucket_start = ? ORDER BY revision DESC LIMIT 1",
            (commitment_id, facility_id, bucket_start_ns),
        )
        return None if row is None else StoredVerdict(*row)

    # --- checkpoints -------------------------------------------------------------------
    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self._one(
            "SELECT c.size, c.root, c.note, c.signed_ns FROM checkpoints c"
            " JOIN checkpoint_head h ON h.size = c.size WHERE h.id = 1"
        )
        return None if row is None else StoredCheckpoint(*row)

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._run("SELECT size, root, note, signed_ns FROM checkpoints ORDER BY size")
        return [StoredCheckpoint(*r) for r in rows.fetchall()]

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        row = self._one("SELECT size, root, note, signed_ns FROM checkpoints WHERE size = ?", (size,))
        return None if row is None else StoredCheckpoint(*row)


class SqlTransaction(SqlReader):
    """Writes inside the transaction the storage opened."""

    def append_entries(self, entries: Sequence[bytes]) -> int:
        return int(self._log.append(list(entries)))

    def put_report(self, report: StoredReport) -> None:
        self.put_reports([report])

    def put_reports(self, reports: Sequence[StoredReport]) -> None:
        rows: list[tuple[Any, ...]]
        columns = self._report_columns
        if self._entries_at is None:
            rows = [(r.digest, r.log_index, *r.header.row(), r.received_ns, r.envelope) for r in reports]
        elif self._empty_envelope:
            rows = [(r.digest, r.log_index, *r.header.row(), r.received_ns, b"") for r in reports]
            columns += ", envelope"
        else:
            rows = [(r.digest, r.log_index, *r.header.row(), r.received_ns) for r in reports]
        self._insert_rows(f"INSERT INTO reports (digest, {columns})", rows)
        if self._entries_at is not None:
            self._stored_envelopes.update((r.log_index, r.envelope) for r in reports)

    def put_findings(self, findings: Sequence[StoredFinding]) -> None:
        self._insert_rows(
            "INSERT INTO findings (facility_id, finding_id, start_ns, end_ns, log_index, body)",
            [_finding_row(f) for f in findings],
        )

    def set_chain_heads(self, heads: Sequence[tuple[str, int]]) -> None:
        self._insert_rows(
            "INSERT INTO chain_heads (key_id, log_index)",
            list(heads),
            " ON CONFLICT (key_id) DO UPDATE SET log_index = excluded.log_index",
        )

    def _insert_rows(self, head: str, rows: Sequence[tuple[Any, ...]], tail: str = "") -> None:
        if not rows:
            return
        width = len(rows[0])
        for chunk in _chunks(rows, _ROWS_PER_INSERT):
            self._run(
                _multi_insert(head, width, len(chunk), tail), [v for row in chunk for v in row]
            )

    def set_chain_head(self, key_id: str, log_index: int) -> None:
        self._run(
            "INSERT INTO chain_heads (key_id, log_index) VALUES (?, ?)"
            " ON CONFLICT (key_id) DO UPDATE SET log_index = excluded.log_index",
            (key_id, log_index),
        )

    def put_finding(self, finding: StoredFinding) -> None:
        self.put_findings([finding])

    def put_inventory(self, document: StoredDocument) -> None:
        self._put_document("inventories", "facility_id", document)

    def put_commitment(self, document: StoredDocument) -> None:
        self._put_document("commitments", "commitment_id", document)

    def put_terms(self, document: StoredDocument) -> None:
        self._put_document("terms", "terms_id", document)

    def _put_document(self, table: str, id_column: str, d: StoredDocument) -> None:
        self._run(
            f"INSERT INTO {table} (log_index, {id_column}, lab_id, version, received_ns, envelope)"  # noqa: S608  # constant names
            " VALUES (?, ?, ?, ?, ?, ?)",
            (d.log_index, d.document_id, d.lab_id, d.version, d.received_ns, d.envelope),
        )

    def put_challenge(self, challenge: StoredChallenge) -> None:
        c = challenge
        self._run(
            f"INSERT INTO challenges ({_CHALLENGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608  # constant columns
            (c.log_index, c.seq, c.nonce, c.issued_ns, c.expires_ns, c.envelope),
        )

    def put_verdict(self, verdict: StoredVerdict) -> None:
        v = verdict
        try:
            self._run(
                f"INSERT INTO verdicts ({_VERDICT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608  # constant columns
                (
                    v.log_index,
                    v.commitment_id,
                    v.commitment_version,
                    v.facility_id,
                    v.bucket_start_ns,
                    v.bucket_end_ns,
                    v.revision,
                    v.status,
                    v.evaluated_ns,
                    v.envelope,
                ),
            )
        except self._dialect.integrity_error as e:
            raise InternalError(
                f"verdict revision {v.revision} of {v.commitment_id}/{v.facility_id}"
                f"@{v.bucket_start_ns} already stored"
            ) from e

    def swap_checkpoint(self, expected_size: int | None, checkpoint: StoredCheckpoint) -> None:
        head = self._one("SELECT size FROM checkpoint_head WHERE id = 1")
        current = None if head is None else int(head[0])
        if current != expected_size:
            raise CheckpointConflictError(f"latest checkpoint is at size {current}, expected {expected_size}")
        if current is not None and checkpoint.size <= current:
            raise CheckpointConflictError(
                f"refusing to sign size {checkpoint.size}: not larger than the latest ({current})"
            )
        self._run(
            "INSERT INTO checkpoints (size, root, note, signed_ns) VALUES (?, ?, ?, ?)",
            (checkpoint.size, checkpoint.root_hash, checkpoint.note, checkpoint.signed_ns),
        )
        self._run(
            "INSERT INTO checkpoint_head (id, size) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET size = excluded.size",
            (checkpoint.size,),
        )


