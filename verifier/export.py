"""``pausewatch-verifier export``: write an audit bundle (``docs/bundle-format.md``).

::

    pausewatch-verifier export --config verifier.toml [--state-dir DIR] --out DIR [--tar] [--force]
        [--commitment ID | --facility ID | --from TIME --to TIME]

TIME is RFC 3339 (``2026-03-02T00:00:00Z``), a duration before now (``6h``), or, as before,
unix nanoseconds. The bundle is written under a temporary name beside OUT and renamed when
complete: a failed or interrupted export leaves nothing, and OUT is never half-written. An
existing OUT is refused unless ``--force``.

Without a filter the bundle holds the whole log up to the latest checkpoint, every signed
checkpoint at or below it and the consistency proofs between them; the auditor rebuilds the
tree. With a filter it holds a slice: the selected reports, every inventory, commitment,
challenge and verdict (they are few and every check needs them), each with an inclusion proof
to the latest checkpoint. The trust files are the verifier's own public keys (log key as a
tlog-policy, lab, party, verdict and challenge keys as ``roots.toml``); auditors should bring
theirs.

The export reads the database read-only, so it can run beside a serving verifier.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import time
from pathlib import Path
from typing import Any

from pausewatch import bundle as bf
from pausewatch.envelope import parse_envelope
from pausewatch.errors import FormatError
from pausewatch.files import bundle as bf_files
from pausewatch.keys import Ed25519Key
from pausewatch.note import Ed25519NoteSigner
from pausewatch.reports import REPORT_PAYLOAD_TYPES, decode_report
from pausewatch.roots import AuditRoots, LabRoot, PartyRoot, format_roots
from pausewatch.timespec import parse_time_flag
from pausewatch.v1 import types_pb2
from verifier.cli import CommandError, emit
from verifier.config import VerifierConfig, load_config, with_overrides
from verifier.server import VerifierKeys, load_keys
from verifier.sqlite_storage import SqliteStorage
from verifier.storage import StorageReader
from verifier.witnesses import Witnessed, witness_policy, witnessed_checkpoints

__all__ = ["export_bundle", "register"]

_BATCH = 4096


def _type_of(envelope: bytes) -> str:
    return bf.COUNT_NAME[parse_envelope(envelope).payload_type]


def trust_files(config: VerifierConfig, keys: VerifierKeys | None = None) -> tuple[bytes, bytes]:
    """The verifier's public trust: (tlog-policy, roots.toml), from its key files or ``keys``."""
    if keys is None:
        keys = load_keys(config)
    log = keys.log
    if not isinstance(log, Ed25519NoteSigner):
        raise CommandError("the log key must be an Ed25519 note signer")
    log_vkey = log.vkey
    policy = witness_policy(config, log_vkey)
    roots = AuditRoots(
        labs=tuple(
            LabRoot(
                lab.lab_id,
                tuple(Ed25519Key(k.raw) for k in lab.keys),
                lab.facilities,
                lab.inventory_threshold,
            )
            for lab in config.labs
        ),
        parties=tuple(
            PartyRoot(p.party_id, tuple(Ed25519Key(k.raw) for k in p.keys)) for p in config.parties
        ),
        verdict_key=Ed25519Key(keys.verdict.public_key.raw),
        challenge_key=Ed25519Key(keys.challenge.public_key.raw),
        max_clock_skew_ns=int(config.challenge.max_clock_skew_s * 1_000_000_000),
    )
    return policy, format_roots(roots)


def export_bundle(
    storage: StorageReader,
    out: Path,
    *,
    origin: str,
    policy: bytes,
    roots: bytes,
    scope: bf.Scope,
    witnessed: Witnessed | None = None,
) -> bf.Manifest:
    """Write the bundle for ``scope`` from ``storage`` into the new directory ``out``. With
    ``witnessed`` (the verifier has [[witnesses]]), the bundle ends at the latest checkpoint
    cosigned to the quorum, and every checkpoint carries the cosignatures kept for it."""
    latest = storage.latest_checkpoint()
    if witnessed is not None:
        latest = storage.checkpoint_at(witnessed.head_size) if witnessed.head_size else None
    if latest is None:
        what = "witnessed (cosigned to the quorum)" if witnessed is not None else "signed"
        raise CommandError(f"the log has no {what} checkpoint yet; nothing to export")
    size = latest.size
    checkpoints = [c for c in storage.checkpoints() if 0 < c.size <= size]
    writer = bf_files.BundleWriter(out, origin=origin, scope=scope, type_of=_type_of)
    commitment_facilities = _commitment_facilities(storage, scope)
    for start in range(0, size, _BATCH):
        for offset, envelope in enumerate(storage.log_entries(start, min(size, start + _BATCH))):
            index = start + offset
            if scope.kind == "full":
                writer.add_entry(index, envelope)
            elif _selected(envelope, scope, commitment_facilities):
                writer.add_entry(index, envelope, storage.inclusion_proof(index, size), tree_size=size)
    for c in checkpoints:
        writer.add_checkpoint(c.size, c.note if witnessed is None else witnessed.note(c.size, c.note))
    for old, new in itertools.pairwise(checkpoints):
        writer.add_consistency(old.size, new.size, storage.consistency_proof(old.size, new.size))
    return writer.finish(policy=policy, roots=roots)


def _commitment_facilities(storage: StorageReader, scope: bf.Scope) -> set[str] | None:
    if scope.commitment_id is None:
        return None
    facilities: set[str] = set()
    for doc in storage.commitments(scope.commitment_id):
        msg = types_pb2.Commitment()
        msg.ParseFromString(parse_envelope(doc.envelope).payload)
        facilities.update(msg.facility_ids)
    if not facilities:
        raise CommandError(f"no commitment {scope.commitment_id!r} is logged")
    return facilities


def _selected(envelope: bytes, scope: bf.Scope, commitment_facilities: set[str] | None) -> bool:
    """Reports that match the filter; every other entry type is always kept."""
    env = parse_envelope(envelope)
    if env.payload_type not in REPORT_PAYLOAD_TYPES:
        return True
    try:
        header, _ = decode_report(env)  # the verifier verified it before logging it
    except FormatError:
        return True
    if scope.facility_id is not None and header.facility_id != scope.facility_id:
        return False
    if commitment_facilities is not None and header.facility_id not in commitment_facilities:
        return False
    if scope.from_unix_ns is not None and scope.to_unix_ns is not None:
        return header.period_end_ns > scope.from_unix_ns and header.period_start_ns < scope.to_unix_ns
    return True


def _time(flag: str, value: str | None, now_ns: int) -> int | None:
    if value is None:
        return None
    try:
        return parse_time_flag(value, now_ns, allow_unix_ns=True)
    except ValueError as e:
        raise CommandError(f"{flag}: {e}") from e


def _run(args: argparse.Namespace) -> int:
    out: Path = args.out
    archive = out.with_name(out.name + ".tar.gz") if args.tar else None
    for target in (out, archive):
        if target is not None and target.exists() and not args.force:
            raise CommandError(f"{target}: already exists; pass --force to replace it")
    now = time.time_ns()
    config = with_overrides(load_config(args.config), state_dir=args.state_dir)
    policy, roots = trust_files(config)
    filters = {
        "commitment_id": args.commitment,
        "facility_id": args.facility,
        "from_unix_ns": _time("--from", args.from_, now),
        "to_unix_ns": _time("--to", args.to, now),
    }
    kind = "slice" if any(v is not None for v in filters.values()) else "full"
    try:
        scope = bf.Scope(kind=kind, **filters)
    except FormatError as e:
        raise CommandError(str(e)) from e
    if not config.database_path.is_file():
        raise CommandError(f"{config.database_path}: no verifier database here")
    # Written under a temporary name beside OUT and renamed at the end: an export that fails
    # or is interrupted leaves nothing behind (its partial directory is removed) and nothing
    # under OUT, so the retry starts clean.
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    partial_archive = None if archive is None else archive.with_name(f".{archive.name}.partial-{os.getpid()}")
    try:
        storage = SqliteStorage(config.database_path, readonly=True)
        try:
            with witnessed_checkpoints(config) as witnessed:
                manifest = export_bundle(
                    storage,
                    partial,
                    origin=config.log_origin,
                    policy=policy,
                    roots=roots,
                    scope=scope,
                    witnessed=witnessed,
                )
        finally:
            storage.close()
        if archive is not None and partial_archive is not None:
            bf_files.write_archive(partial, partial_archive, top=out.name)
            _replace(partial_archive, archive)
        _replace(partial, out)
    except OSError as e:
        raise CommandError(f"{e.filename or out}: cannot write the bundle: {e.strerror}") from e
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        if partial_archive is not None:
            partial_archive.unlink(missing_ok=True)
    result: dict[str, Any] = {
        "ok": True,
        "command": "export",
        "exit_code": 0,
        "bundle": str(out),
        "archive": None if archive is None else str(archive),
        "tree_size": manifest.tree_size,
        "counts": dict(manifest.counts),
        "scope": scope.to_json(),
    }
    emit(
        args,
        result,
        f"exported {manifest.counts['entries']} entries (tree size {manifest.tree_size}) to {out}"
        + (f" and {archive}" if archive else ""),
    )
    return 0


def _replace(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing target (``--force``) goes only once ``new`` is
    complete, and is removed after the move."""
    if not target.exists():
        new.rename(target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    target.rename(old)
    new.rename(target)
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export",
        help="write an audit bundle for pausewatch-audit verify",
        description="Export the log (or a slice of it) as an audit bundle; see docs/bundle-format.md.",
    )
    p.add_argument("--config", type=Path, help="the verifier's TOML configuration (keys, labs, origin)")
    p.add_argument("--state-dir", type=Path, help="state directory (overrides the config)")
    p.add_argument("--out", type=Path, required=True, help="bundle directory to create")
    p.add_argument("--force", action="store_true", help="replace OUT (and OUT.tar.gz) if they exist")
    p.add_argument("--tar", action="store_true", help="also write OUT.tar.gz")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--commitment", help="slice: the reports of this commitment's facilities")
    group.add_argument("--facility", help="slice: the reports of this facility")
    p.add_argument(
        "--from",
        dest="from_",
        metavar="TIME",
        help="slice: reports overlapping [FROM, TO); RFC 3339, a duration before now (6h), or unix ns",
    )
    p.add_argument("--to", metavar="TIME", help="slice: end of the time range (as --from)")
    p.set_defaults(run=_run, command="export")
