"""The verifier collects witness cosignatures for its checkpoints (c2sp.org/tlog-witness).

After the sequencer signs a checkpoint it tells :class:`WitnessCollector` (``offer``: no wait,
no I/O), which submits it to every ``[[witnesses]]`` entry in the background, one task per
witness, with a consistency proof from the size that witness last cosigned. A 409 names the
size the witness holds: the collector resends once from there. A witness that is slow, dead or
refusing never holds up ingest; its task backs off and catches up with the newest checkpoint
(the ones signed meanwhile are skipped: a witness needs only the latest).

Cosignatures are verified with the configured vkey before they are kept, in
``STATE_DIR/cosignatures.sqlite`` (mode 0600), by checkpoint size (the log signs one checkpoint
per size). When a checkpoint has ``witness_quorum`` of them (0: every witness) it becomes the
*published* checkpoint — its note with the cosignature lines appended — which ``GetCheckpoint``
serves and ``export`` writes. The latest signed checkpoint goes into receipts the moment it is
signed, before any witness could have seen it; an attestor gets the cosigned one from
``GetCheckpoint`` and checks the two consistent.

What a witness refuses is logged as an error, counted, and (for a 409 at the same size or a 422,
meaning the witness saw a different history) named as a split view: the verifier's own log
disagrees with what a witness cosigned.

Visible: ``pausewatch_verifier_witness_*`` metrics, one log line per quorum reached, and
``pausewatch-verifier witnesses --config`` (each witness's last cosigned size; the published
size; exit 1 while the newest checkpoint lacks the quorum).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge

from pausewatch.checkpoint import CosignatureVerifier
from pausewatch.errors import EnvironmentFaultError, InputError
from pausewatch.files.statedir import ensure_private_file
from pausewatch.note import NoteSignature, open_note, parse_note
from pausewatch.tlog_witness import (
    ADD_CHECKPOINT_PATH,
    AddCheckpointRequest,
    parse_cosignatures,
    parse_size,
)
from verifier.cli import emit
from verifier.config import VerifierConfig, WitnessTarget, load_config, with_overrides
from verifier.sqlite_storage import SqliteStorage
from verifier.storage import StoredCheckpoint

__all__ = [
    "COSIGNATURES_FILE",
    "CosignatureStore",
    "WitnessCollector",
    "WitnessMetrics",
    "Witnessed",
    "register",
    "run_witnesses",
    "witness_policy",
    "witnessed_checkpoints",
]

COSIGNATURES_FILE: Final = "cosignatures.sqlite"
_log = logging.getLogger("pausewatch.verifier.witnesses")
_MAX_ANSWER_BYTES: Final = 64 * 1024
_BACKOFF_S: Final = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# At a stop, what a witness may still take (all witnesses at once): a request in flight, then
# one last try for one behind the newest checkpoint. Bounded whatever the witness's timeout_s.
_STOP_WAIT_S: Final = 2.0
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS cosignatures (
    size INTEGER NOT NULL,
    witness TEXT NOT NULL,
    line TEXT NOT NULL,
    received_ns INTEGER NOT NULL,
    PRIMARY KEY (size, witness)
) STRICT;
"""


class CosignatureStore:
    """Verified cosignature lines by checkpoint size and witness name."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        try:
            if readonly:
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            else:
                ensure_private_file(path)
                self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(_SCHEMA)
                ensure_private_file(path)
        except sqlite3.Error as e:
            raise EnvironmentFaultError(f"{path}: cannot open the cosignature database: {e}") from e

    def close(self) -> None:
        self._db.close()

    def add(self, size: int, witness: str, line: str, now_ns: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO cosignatures VALUES (?, ?, ?, ?)", (size, witness, line, now_ns)
        )

    def lines(self, size: int) -> list[str]:
        rows = self._db.execute(
            "SELECT line FROM cosignatures WHERE size = ? ORDER BY witness", (size,)
        ).fetchall()
        return [r[0] for r in rows]

    def last_size(self, witness: str) -> int:
        row = self._db.execute("SELECT MAX(size) FROM cosignatures WHERE witness = ?", (witness,)).fetchone()
        return int(row[0] or 0)

    def published_size(self, quorum: int) -> int:
        """The largest size cosigned by at least ``quorum`` witnesses (0: none)."""
        row = self._db.execute(
            "SELECT MAX(size) FROM (SELECT size FROM cosignatures GROUP BY size HAVING COUNT(*) >= ?)",
            (max(quorum, 1),),
        ).fetchone()
        return int(row[0] or 0)

    def cosigned_note(self, size: int, note: bytes) -> bytes:
        """``note`` (the log-signed checkpoint of ``size``) with the cosignatures kept for it."""
        lines = self.lines(size)
        return note + "".join(lines).encode("utf-8") if lines else note

    def per_witness(self) -> dict[str, tuple[int, int]]:
        """Witness name -> (largest size cosigned, when it arrived)."""
        rows = self._db.execute(
            "SELECT witness, MAX(size), MAX(received_ns) FROM cosignatures GROUP BY witness"
        ).fetchall()
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}


class WitnessMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.cosigned = Counter(
            "pausewatch_verifier_witness_cosignatures",
            "cosignatures received and verified",
            ["witness"],
            registry=registry,
        )
        self.failures = Counter(
            "pausewatch_verifier_witness_failures",
            "submissions a witness did not cosign",
            ["witness", "reason"],
            registry=registry,
        )
        self.witness_size = Gauge(
            "pausewatch_verifier_witness_size",
            "the size each witness last cosigned",
            ["witness"],
            registry=registry,
        )
        self.published_size = Gauge(
            "pausewatch_verifier_witnessed_size",
            "size of the latest checkpoint cosigned to the quorum",
            registry=registry,
        )
        self.quorum_met = Gauge(
            "pausewatch_verifier_witness_quorum_met",
            "1 when the newest checkpoint has the witness quorum",
            registry=registry,
        )
        self.split_views = Counter(
            "pausewatch_verifier_witness_split_views",
            "witness answers saying it cosigned a different history (409 at equal size, 422)",
            ["witness"],
            registry=registry,
        )


@dataclass(frozen=True)
class _Witness:
    target: WitnessTarget
    verifier: CosignatureVerifier

    @property
    def name(self) -> str:
        return self.verifier.name


class _Refused(Exception):  # noqa: N818 -- an answer, not our error
    def __init__(self, reason: str, *, split_view: bool = False) -> None:
        super().__init__(reason)
        self.split_view = split_view


ProofSource = Callable[[int, int], Awaitable[list[bytes]]]
NoteSource = Callable[[int], Awaitable[bytes | None]]


class WitnessCollector:
    """Submits the newest checkpoint to every witness, keeps what they cosign, publishes."""

    def __init__(
        self,
        targets: Sequence[WitnessTarget],
        *,
        quorum: int,
        store: CosignatureStore,
        proofs: ProofSource,
        notes: NoteSource,
        metrics: WitnessMetrics,
        publish: Callable[[bytes], None],
        now_ns: Callable[[], int],
    ) -> None:
        self._witnesses = [_Witness(t, CosignatureVerifier.from_vkey(t.vkey)) for t in targets]
        names = [w.name for w in self._witnesses]
        if len(set(names)) != len(names):
            raise InputError("two [[witnesses]] share a key name")
        self.quorum = quorum or len(self._witnesses)
        self._store = store
        self._proofs = proofs
        self._notes = notes
        self._metrics = metrics
        self._publish = publish
        self._now_ns = now_ns
        self._latest: StoredCheckpoint | None = None
        self._wake = {w.name: asyncio.Event() for w in self._witnesses}
        self.published_size = store.published_size(self.quorum)

    def offer(self, checkpoint: StoredCheckpoint) -> None:
        """A new checkpoint was signed: wake every witness task. Never blocks."""
        if self._latest is None or checkpoint.size > self._latest.size:
            self._latest = checkpoint
            self._metrics.quorum_met.set(0)
            for event in self._wake.values():
                event.set()

    async def start_published(self) -> None:
        """After a restart: publish what the stored cosignatures already reach."""
        if self.published_size:
            note = await self._notes(self.published_size)
            if note is not None:
                self._publish(self._store.cosigned_note(self.published_size, note))
                self._metrics.published_size.set(self.published_size)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=max(w.target.timeout_s for w in self._witnesses))
        # a task group, not gather: cancelled, it waits for every witness's last try before the
        # session closes
        # an idle connection is given up after 5 s, before a witness closes it (its default
        # idle_timeout_s is 10 s), so that a request is not sent down one being closed
        connector = aiohttp.TCPConnector(keepalive_timeout=5.0)
        async with (
            aiohttp.ClientSession(timeout=timeout, connector=connector) as session,
            asyncio.TaskGroup() as group,
        ):
            for w in self._witnesses:
                group.create_task(self._serve(session, w))

    async def _serve(self, session: aiohttp.ClientSession, witness: _Witness) -> None:
        try:
            await self._loop(session, witness)
        except asyncio.CancelledError:
            await self._last_try(session, witness)
            raise

    async def _loop(self, session: aiohttp.ClientSession, witness: _Witness) -> None:
        held = self._store.last_size(witness.name)  # what we believe the witness holds
        self._metrics.witness_size.labels(witness.name).set(held)
        failures = 0
        wake = self._wake[witness.name]
        while True:
            await wake.wait()
            wake.clear()
            checkpoint = self._latest
            if checkpoint is None or checkpoint.size <= held:
                continue
            try:
                held = await _finish_on_cancel(self._submit(session, witness, checkpoint, held))
                failures = 0
            except _Refused as e:
                reason = "split_view" if e.split_view else "refused"
                self._metrics.failures.labels(witness.name, reason).inc()
                if e.split_view:
                    self._metrics.split_views.labels(witness.name).inc()
                    _log.error(
                        "SPLIT VIEW: a witness holds a different history of this log",
                        extra={"witness": witness.name, "size": checkpoint.size, "detail": str(e)},
                    )
                else:
                    _log.error(
                        "witness refused the checkpoint",
                        extra={"witness": witness.name, "size": checkpoint.size, "detail": str(e)},
                    )
                failures += 1
                await self._backoff(wake, failures)
            except (aiohttp.ClientError, TimeoutError, InputError) as e:
                self._metrics.failures.labels(witness.name, "unreachable").inc()
                failures += 1
                _log.warning(
                    "witness unreachable or answered nonsense; retrying",
                    extra={"witness": witness.name, "detail": f"{type(e).__name__}: {e}"[:300]},
                )
                await self._backoff(wake, failures)

    async def _last_try(self, session: aiohttp.ClientSession, witness: _Witness) -> None:
        """The verifier stops: a witness behind the newest checkpoint (its task was waiting, or
        backing off) gets one more short try. Otherwise the witnesses stop at different sizes,
        and one that cosigned the newest checkpoint is ahead of every checkpoint this log
        publishes (the quorum's) until the next start: an auditor who brings that witness's
        checkpoint cannot check it against a bundle."""
        checkpoint = self._latest
        held = self._store.last_size(witness.name)
        if checkpoint is None or checkpoint.size <= held:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._submit(session, witness, checkpoint, held), _STOP_WAIT_S)

    async def _backoff(self, wake: asyncio.Event, failures: int) -> None:
        # real time: the witness is across a real network, whatever the log's clock says
        await asyncio.sleep(_BACKOFF_S[min(failures, len(_BACKOFF_S)) - 1])
        wake.set()  # then try the newest checkpoint again

    async def _submit(
        self, session: aiohttp.ClientSession, witness: _Witness, checkpoint: StoredCheckpoint, held: int
    ) -> int:
        """Submit; return the size the witness now holds. At most one resend after a 409."""
        for _ in range(2):
            if held > checkpoint.size:
                raise _Refused(
                    f"the witness holds size {held}, beyond this log's {checkpoint.size}", split_view=True
                )
            proof = await self._proofs(held, checkpoint.size) if 0 < held < checkpoint.size else []
            body = AddCheckpointRequest(held, tuple(proof), checkpoint.note).format()
            async with session.post(witness.target.url + ADD_CHECKPOINT_PATH, data=body) as response:
                if (response.content_length or _MAX_ANSWER_BYTES + 1) > _MAX_ANSWER_BYTES:
                    raise InputError(
                        f"answer {response.status} without a length, or over {_MAX_ANSWER_BYTES} bytes"
                    )
                answer = await response.read()
                status = response.status
            if status == 200:
                self._keep(witness, checkpoint, answer)
                return checkpoint.size
            if status == 409:
                size = parse_size(answer)
                if size == held:  # same size, different root
                    raise _Refused(f"409 at size {size}: the witness cosigned another root", split_view=True)
                _log.info(
                    "witness holds another size; resending", extra={"witness": witness.name, "size": size}
                )
                held = size
                self._metrics.witness_size.labels(witness.name).set(held)
                continue
            reason = answer[:200].decode("utf-8", "replace").strip()
            raise _Refused(f"{status}: {reason}", split_view=status == 422)
        raise _Refused("409 twice in a row")

    def _keep(self, witness: _Witness, checkpoint: StoredCheckpoint, answer: bytes) -> None:
        text = parse_note(checkpoint.note).text
        note = parse_cosignatures(answer, text)
        opened = open_note(note, [witness.verifier])  # ignores other keys' lines
        signature: NoteSignature = opened.verified[0][1]
        self._store.add(checkpoint.size, witness.name, signature.format(), self._now_ns())
        self._metrics.cosigned.labels(witness.name).inc()
        self._metrics.witness_size.labels(witness.name).set(checkpoint.size)
        if len(self._store.lines(checkpoint.size)) >= self.quorum and checkpoint.size > self.published_size:
            self.published_size = checkpoint.size
            self._publish(self._store.cosigned_note(checkpoint.size, checkpoint.note))
            self._metrics.published_size.set(checkpoint.size)
            latest = self._latest
            self._metrics.quorum_met.set(1 if latest is not None and latest.size == checkpoint.size else 0)
            _log.info(
                "witness quorum reached",
                extra={"size": checkpoint.size, "quorum": self.quorum, "witnesses": len(self._witnesses)},
            )


async def _finish_on_cancel(submission: Awaitable[int]) -> int:
    """Await ``submission``; if the collector is cancelled (the verifier stops) meanwhile, let a
    request already sent finish (up to ``_STOP_WAIT_S``) so that a cosignature the witness
    committed is kept here too, then stop."""
    task = asyncio.ensure_future(submission)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, _STOP_WAIT_S)
        raise


async def run_witnesses(server: Any) -> None:
    """Background task of ``serve`` (``verifier.server.standard_background``) with [[witnesses]]."""
    config: VerifierConfig = server.config
    if not config.witnesses:
        return
    store = CosignatureStore(Path(config.state_dir) / COSIGNATURES_FILE)
    sequencer = server.sequencer

    async def proofs(old: int, new: int) -> list[bytes]:
        proof: list[bytes] = await sequencer.read(lambda s: s.consistency_proof(old, new))
        return proof

    async def notes(size: int) -> bytes | None:
        stored = await sequencer.read(lambda s: s.checkpoint_at(size))
        return None if stored is None else bytes(stored.note)

    def publish(note: bytes) -> None:
        sequencer.published = note

    collector = WitnessCollector(
        config.witnesses,
        quorum=config.witness_quorum,
        store=store,
        proofs=proofs,
        notes=notes,
        metrics=WitnessMetrics(server.metrics.registry),
        publish=publish,
        now_ns=server.clock.now_ns,
    )
    try:
        await collector.start_published()
        sequencer.checkpoint_listeners.append(collector.offer)
        if sequencer.latest is not None:
            collector.offer(sequencer.latest)
        await collector.run()
    finally:
        with contextlib.suppress(ValueError):
            sequencer.checkpoint_listeners.remove(collector.offer)
        store.close()


# --------------------------------------------------------------------------- export, status


@dataclass(frozen=True)
class Witnessed:
    """What ``export`` needs: the bundle's head (the published size) and the cosigned notes."""

    head_size: int
    store: CosignatureStore

    def note(self, size: int, note: bytes) -> bytes:
        return self.store.cosigned_note(size, note)


@contextlib.contextmanager
def witnessed_checkpoints(config: VerifierConfig) -> Iterator[Witnessed | None]:
    """The cosignatures kept beside ``config``'s database; None without [[witnesses]]."""
    if not config.witnesses:
        yield None
        return
    path = Path(config.state_dir) / COSIGNATURES_FILE
    if not path.exists():
        raise EnvironmentFaultError(f"{path}: no witness has cosigned a checkpoint of this log yet")
    store = CosignatureStore(path, readonly=True)
    try:
        yield Witnessed(store.published_size(config.witness_quorum or len(config.witnesses)), store)
    finally:
        store.close()


def witness_policy(config: VerifierConfig, log_vkey: str) -> bytes:
    """The verifier's own c2sp.org/tlog-policy: its log key, its witnesses and their quorum."""
    lines = [f"log {log_vkey}"]
    names = []
    for target in config.witnesses:
        name = CosignatureVerifier.from_vkey(target.vkey).name
        names.append(name)
        lines.append(f"witness {name} {target.vkey} {target.url}")
    if names:
        quorum = config.witness_quorum or len(names)
        lines.append(f"group witnesses {quorum} {' '.join(names)}")
        lines.append("quorum witnesses")
    else:
        lines.append("quorum none")
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _status(args: argparse.Namespace) -> int:
    config = with_overrides(load_config(args.config), state_dir=args.state_dir)
    path = Path(config.state_dir) / COSIGNATURES_FILE
    quorum = config.witness_quorum or len(config.witnesses)
    held: dict[str, tuple[int, int]] = {}
    published = 0
    if path.exists():
        store = CosignatureStore(path, readonly=True)
        try:
            held, published = store.per_witness(), store.published_size(quorum)
        finally:
            store.close()
    latest = 0
    if config.database_path.is_file():
        storage = SqliteStorage(config.database_path, readonly=True)
        try:
            stored = storage.latest_checkpoint()
            latest = 0 if stored is None else stored.size
        finally:
            storage.close()
    witnesses = []
    for target in config.witnesses:
        name = CosignatureVerifier.from_vkey(target.vkey).name
        size, at = held.get(name, (0, 0))
        witnesses.append(
            {"name": name, "url": target.url, "cosigned_size": size, "last_cosigned_unix_ns": at}
        )
    behind = bool(config.witnesses) and published < latest
    result = {
        "command": "witnesses",
        "exit_code": 1 if behind else 0,
        "quorum": quorum,
        "latest_size": latest,
        "published_size": published,
        "quorum_met": not behind,
        "witnesses": witnesses,
    }
    lines = [f"quorum {quorum} of {len(config.witnesses)}; latest checkpoint {latest}, published {published}"]
    lines += [f"  {w['name']} ({w['url']}): cosigned up to {w['cosigned_size']}" for w in witnesses]
    emit(args, result, "\n".join(lines))
    return 1 if behind else 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "witnesses",
        help="the witnesses' cosignatures: who cosigned up to which size, what is published",
        description="Show each [[witnesses]] entry's last cosigned size and the published (quorum)"
        " checkpoint. Exit 1 while the latest checkpoint lacks the quorum.",
    )
    p.add_argument("--config", type=Path, help="the verifier's TOML configuration")
    p.add_argument("--state-dir", type=Path, help="state directory (overrides the config)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(run=_status, command="witnesses")
