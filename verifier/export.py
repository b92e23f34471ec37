"""``pausewatch-verifier export``: write an audit bundle (``docs/bundle-format.md``).

::

    pausewatch-verifier export --config verifier.toml [--state-dir DIR] --out DIR [--tar]
        [--commitment ID | --facility ID | --from NS --to NS]

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
from pathlib import Path
from typing import Any

from pausewatch import bundle as bf
from pausewatch.envelope import PayloadType, parse_envelope
from pausewatch.errors import FormatError
from pausewatch.files import bundle as bf_files
from pausewatch.keys import Ed25519Key
from pausewatch.note import Ed25519NoteSigner
from pausewatch.reports import decode_report
from pausewatch.roots import AuditRoots, LabRoot, PartyRoot, format_roots
from pausewatch.v1 import types_pb2
from verifier.cli import CommandError, emit
from verifier.config import VerifierConfig, load_config, with_overrides
from verifier.server import VerifierKeys, load_keys
from verifier.sqlite_storage import SqliteStorage
from verifier.storage import StorageReader

__all__ = ["export_bundle", "register"]

_TYPE_NAMES = {
    PayloadType.USAGE_REPORT: "usage_reports",
    PayloadType.METER_REPORT: "meter_reports",
    PayloadType.INVENTORY: "inventories",
    PayloadType.COMMITMENT: "commitments",
    PayloadType.TERMS: "terms",
    PayloadType.CHALLENGE: "challenges",
    PayloadType.VERDICT: "verdicts",
}
_BATCH = 4096


def _type_of(envelope: bytes) -> str:
    return _TYPE_NAMES[parse_envelope(envelope).payload_type]


def trust_files(config: VerifierConfig, keys: VerifierKeys | None = None) -> tuple[bytes, bytes]:
    """The verifier's public trust: (tlog-policy, roots.toml), from its key files or ``keys``."""
    if keys is None:
        keys = load_keys(config)
    log = keys.log
    if not isinstance(log, Ed25519NoteSigner):
        raise CommandError("the log key must be an Ed25519 note signer")
    log_vkey = log.vkey
    policy = f"log {log_vkey}\nquorum none\n".encode()
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
    storage: StorageReader, out: Path, *, origin: str, policy: bytes, roots: bytes, scope: bf.Scope
) -> bf.Manifest:
    """Write the bundle for ``scope`` from ``storage`` into the new directory ``out``."""
    latest = storage.latest_checkpoint()
    if latest is None:
        raise CommandError("the log has no signed checkpoint yet; nothing to export")
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
        writer.add_checkpoint(c.size, c.note)
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
    if env.payload_type not in (PayloadType.USAGE_REPORT, PayloadType.METER_REPORT):
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


def _run(args: argparse.Namespace) -> int:
    config = with_overrides(load_config(args.config), state_dir=args.state_dir)
    policy, roots = trust_files(config)
    filters = {
        "commitment_id": args.commitment,
        "facility_id": args.facility,
        "from_unix_ns": args.from_ns,
        "to_unix_ns": args.to_ns,
    }
    kind = "slice" if any(v is not None for v in filters.values()) else "full"
    try:
        scope = bf.Scope(kind=kind, **filters)
    except FormatError as e:
        raise CommandError(str(e)) from e
    if not config.database_path.is_file():
        raise CommandError(f"{config.database_path}: no verifier database here")
    storage = SqliteStorage(config.database_path, readonly=True)
    directory = args.out
    try:
        manifest = export_bundle(
            storage, directory, origin=config.log_origin, policy=policy, roots=roots, scope=scope
        )
    finally:
        storage.close()
    archive = None
    if args.tar:
        archive = directory.with_name(directory.name + ".tar.gz")
        bf_files.write_archive(directory, archive)
    result: dict[str, Any] = {
        "command": "export",
        "exit_code": 0,
        "bundle": str(directory),
        "archive": None if archive is None else str(archive),
        "tree_size": manifest.tree_size,
        "counts": dict(manifest.counts),
        "scope": scope.to_json(),
    }
    emit(
        args,
        result,
        f"exported {manifest.counts['entries']} entries (tree size {manifest.tree_size}) to {directory}"
        + (f" and {archive}" if archive else ""),
    )
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export",
        help="write an audit bundle for pausewatch-audit verify",
        description="Export the log (or a slice of it) as an audit bundle; see docs/bundle-format.md.",
    )
    p.add_argument("--config", type=Path, help="the verifier's TOML configuration (keys, labs, origin)")
    p.add_argument("--state-dir", type=Path, help="state directory (overrides the config)")
    p.add_argument("--out", type=Path, required=True, help="bundle directory to create (must not exist)")
    p.add_argument("--tar", action="store_true", help="also write OUT.tar.gz")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--commitment", help="slice: the reports of this commitment's facilities")
    group.add_argument("--facility", help="slice: the reports of this facility")
    p.add_argument("--from", dest="from_ns", type=int, help="slice: reports overlapping [FROM, TO) (unix ns)")
    p.add_argument("--to", dest="to_ns", type=int, help="slice: end of the time range (unix ns)")
    p.set_defaults(run=_run, command="export")
