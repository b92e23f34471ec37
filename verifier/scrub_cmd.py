"""``pausewatch-verifier scrub``: check everything the verifier stores, offline or beside a
running ``serve`` (it opens the database read-only).

Checks: SQLite's ``integrity_check``; every log entry re-hashed against its leaf and every
tile rebuilt from the entries and compared (:func:`verifier.sqlite_storage.scrub_sqlite`);
every row that names a log index (reports, documents, challenges, verdicts) holds that
entry's exact bytes; every stored checkpoint signed by the configured log key for the
configured origin, with the root the rebuilt tree has at its size; the checkpoint file
(:mod:`verifier.checkpoint_file`) likewise, and not ahead of the database.

Exit 0: clean; 1: problems found (one line each on stdout, the count on stderr); 2: could not
run. A corrupt byte that ``quick_check`` cannot see — in an entry, a tile, a row — is found
here, instead of only by an auditor.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pausewatch.checkpoint import open_checkpoint
from pausewatch.errors import InputError
from pausewatch.files.keyfile import load_key_file
from pausewatch.note import Ed25519NoteVerifier
from pausewatch.tlog_store import MerkleLog
from verifier.checkpoint_file import CHECKPOINT_FILE, CheckpointFile
from verifier.cli import EXIT_FAILED, EXIT_OK, CheckFailedError, CommandError, emit
from verifier.config import load_config, with_overrides
from verifier.sqlite_storage import SqliteStorage, scrub_sqlite
from verifier.storage import StorageReader

__all__ = ["register"]


def _checkpoint_problems(
    storage: StorageReader,
    rebuilt: MerkleLog,
    verifier: Ed25519NoteVerifier,
    origin: str,
    file_note: bytes | None,
) -> list[str]:
    problems: list[str] = []
    size = rebuilt.size
    for stored in storage.checkpoints():
        where = f"checkpoint of size {stored.size}"
        try:
            cp = open_checkpoint(stored.note, verifier, origin=origin)
        except InputError as e:
            problems.append(f"{where} does not verify under the log key: {e}")
            continue
        if (cp.size, cp.root_hash) != (stored.size, stored.root_hash):
            problems.append(f"{where}: its note and its row disagree")
        elif cp.size > size:
            problems.append(f"{where} is beyond the stored log (size {size})")
        elif rebuilt.root(cp.size) != cp.root_hash:
            problems.append(f"{where} does not match the tree rebuilt from the entries")
    if file_note is not None:
        try:
            cp = open_checkpoint(file_note, verifier, origin=origin)
        except InputError as e:
            problems.append(f"the checkpoint file does not verify under the log key: {e}")
        else:
            if cp.size > size:
                problems.append(f"the checkpoint file (size {cp.size}) is ahead of the database ({size})")
            elif rebuilt.root(cp.size) != cp.root_hash:
                problems.append(f"the checkpoint file (size {cp.size}) is not the rebuilt tree: a fork")
    return problems


def _run(args: argparse.Namespace) -> int:
    config = with_overrides(load_config(args.config), state_dir=args.state_dir)
    if not config.database_path.is_file():
        raise CommandError(f"{config.database_path}: no verifier database here")
    verifier = Ed25519NoteVerifier(config.log_origin, load_key_file(config.log_key_file).public_key)
    file_note = CheckpointFile(config.state_dir / CHECKPOINT_FILE).read()
    storage = SqliteStorage(config.database_path, readonly=True)
    try:
        problems, rebuilt = scrub_sqlite(storage)
        problems += _checkpoint_problems(storage, rebuilt, verifier, config.log_origin, file_note)
        size = rebuilt.size
    finally:
        storage.close()
    result: dict[str, Any] = {
        "command": "scrub",
        "exit_code": EXIT_FAILED if problems else EXIT_OK,
        "log_size": size,
        "problems": problems,
    }
    if problems:
        emit(args, result, "\n".join(problems))
        raise CheckFailedError(f"scrub found {len(problems)} problem(s) in {config.database_path}")
    emit(args, result, f"scrub: clean (log size {size}, every entry, tile, row and checkpoint checked)")
    return EXIT_OK


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "scrub",
        help="check every entry, tile, row and checkpoint the verifier stores",
        description="Re-hash every log entry, rebuild and compare every tile, check every row against its"
        " entry and every checkpoint against the log key and the rebuilt tree. Read-only: may run beside"
        " serve. Exit 0 clean, 1 problems found, 2 could not run.",
    )
    p.add_argument("--config", type=Path, help="the verifier's TOML configuration")
    p.add_argument("--state-dir", type=Path, help="state directory (overrides the config)")
    p.set_defaults(run=_run, command="scrub")
