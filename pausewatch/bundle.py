"""The audit bundle format (version 1): what a verifier exports and an auditor checks offline.

A bundle is a directory (or the same directory as a ``.tar.gz``); ``docs/bundle-format.md``
is the full description. Files::

    manifest.json         format, version, origin, scope, tree size, counts, file digests
    policy.txt            C2SP tlog-policy: log key, witness keys, quorum
    roots.toml            lab keys, verdict key, challenge key (the pausewatch trust roots)
    checkpoints/<size>.note   signed checkpoints, size zero-padded to 20 digits
    entries.bin           log entries in log order: records of (index, envelope bytes)
    consistency.bin       consistency proofs between successive checkpoints
    inclusion.bin         slice bundles only: an inclusion proof per entry to the last checkpoint
    inventories.bin       the inventory entries of entries.bin again (same records)
    commitments.bin       the commitment entries
    terms.bin             the terms entries (only when the log holds terms; then counts.terms)
    verdicts.bin          the verdict entries
    challenges.bin        the challenge entries

Record framing (all integers big-endian):

- entry record: ``u64 log index | u32 length | envelope bytes``;
- proof record: ``u64 a | u64 b | u8 n | n x 32-byte hashes`` (consistency: a = old size,
  b = new size; inclusion: a = leaf index, b = tree size).

Everything here is bytes in, values out; reading and writing bundle files on disk is
``pausewatch.files.bundle``.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Final

from pausewatch.envelope import PayloadType
from pausewatch.errors import FormatError, InputError, LimitExceededError

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "CHALLENGES_FILE",
    "CHECKPOINTS_DIR",
    "COMMITMENTS_FILE",
    "CONSISTENCY_FILE",
    "COUNT_NAME",
    "ENTRIES_FILE",
    "INCLUSION_FILE",
    "INVENTORIES_FILE",
    "MANIFEST_FILE",
    "MAX_ENTRY_BYTES",
    "POLICY_FILE",
    "ROOTS_FILE",
    "TERMS_FILE",
    "VERDICTS_FILE",
    "BundleFileError",
    "BundleVersionError",
    "EntryRecord",
    "FileDigest",
    "Manifest",
    "ProofRecord",
    "Scope",
    "checkpoint_file_name",
    "decode_entry_records",
    "decode_proof_records",
    "encode_entry_record",
    "encode_proof_record",
    "iter_entry_file",
    "iter_proof_file",
    "parse_manifest",
]

BUNDLE_FORMAT: Final = "pausewatch-bundle"
BUNDLE_VERSION: Final = 1
MANIFEST_FILE: Final = "manifest.json"
POLICY_FILE: Final = "policy.txt"
ROOTS_FILE: Final = "roots.toml"
CHECKPOINTS_DIR: Final = "checkpoints"
ENTRIES_FILE: Final = "entries.bin"
CONSISTENCY_FILE: Final = "consistency.bin"
INCLUSION_FILE: Final = "inclusion.bin"
INVENTORIES_FILE: Final = "inventories.bin"
COMMITMENTS_FILE: Final = "commitments.bin"
TERMS_FILE: Final = "terms.bin"
VERDICTS_FILE: Final = "verdicts.bin"
CHALLENGES_FILE: Final = "challenges.bin"

MAX_ENTRY_BYTES: Final = 1 << 20  # the envelope limit (pausewatch.envelope.MAX_ENVELOPE_BYTES)
MAX_PROOF_HASHES: Final = 64
MAX_MANIFEST_BYTES: Final = 1 << 20
MAX_ARCHIVE_MEMBERS: Final = 1_000_000
MAX_ARCHIVE_BYTES: Final = 1 << 40
_ENTRY_HEAD = struct.Struct(">QI")
_PROOF_HEAD = struct.Struct(">QQB")
_HASH = 32
_CHECKPOINT_DIGITS = 20
_SCOPE_KINDS = ("full", "slice")
_COUNT_NAMES = (
    "entries",
    "checkpoints",
    "usage_reports",
    "meter_reports",
    "inventories",
    "commitments",
    "challenges",
    "verdicts",
)
_OPTIONAL_COUNT_NAMES = ("terms", "accounting_reports")  # only in bundles whose log holds such entries
COUNT_NAME: Final = {  # the manifest count (and document file) each entry's payload type adds to
    PayloadType.USAGE_REPORT: "usage_reports",
    PayloadType.METER_REPORT: "meter_reports",
    PayloadType.ACCOUNTING_REPORT: "accounting_reports",
    PayloadType.INVENTORY: "inventories",
    PayloadType.COMMITMENT: "commitments",
    PayloadType.TERMS: "terms",
    PayloadType.CHALLENGE: "challenges",
    PayloadType.VERDICT: "verdicts",
}


class BundleFileError(InputError):
    """A bundle file that is missing, unreadable, or framed wrongly; names the file."""


class BundleVersionError(InputError):
    """A bundle of a format or version this tool does not understand."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class EntryRecord:
    """One log entry: its index in the log and its exact envelope bytes."""

    index: int
    envelope: bytes


@dataclass(frozen=True)
class ProofRecord:
    """A Merkle proof: (old size, new size) for consistency, (index, size) for inclusion."""

    a: int
    b: int
    hashes: tuple[bytes, ...]


def encode_entry_record(index: int, envelope: bytes) -> bytes:
    if len(envelope) > MAX_ENTRY_BYTES:
        raise LimitExceededError(f"entry {index} is {len(envelope)} bytes; the limit is {MAX_ENTRY_BYTES}")
    return _ENTRY_HEAD.pack(index, len(envelope)) + envelope


def encode_proof_record(a: int, b: int, hashes: Iterable[bytes]) -> bytes:
    hs = list(hashes)
    if len(hs) > MAX_PROOF_HASHES or any(len(h) != _HASH for h in hs):
        raise FormatError("a proof holds at most 64 hashes of exactly 32 bytes")
    return _PROOF_HEAD.pack(a, b, len(hs)) + b"".join(hs)


def decode_entry_records(data: bytes, *, name: str = ENTRIES_FILE) -> Iterator[EntryRecord]:
    """Split a whole entry file held in memory; BundleFileError names the byte offset."""
    yield from iter_entry_file(io.BytesIO(data), name=name)


def decode_proof_records(data: bytes, *, name: str) -> list[ProofRecord]:
    return list(iter_proof_file(io.BytesIO(data), name=name))


def iter_entry_file(stream: IO[bytes], *, name: str = ENTRIES_FILE) -> Iterator[EntryRecord]:
    """Stream the records of an entry file, never holding more than one entry in memory."""
    offset = 0
    while True:
        head = stream.read(_ENTRY_HEAD.size)
        if not head:
            return
        if len(head) < _ENTRY_HEAD.size:
            raise BundleFileError(f"{name}: truncated record header at byte {offset}")
        index, length = _ENTRY_HEAD.unpack(head)
        if length > MAX_ENTRY_BYTES:
            raise BundleFileError(
                f"{name}: record at byte {offset} claims {length} bytes; the limit is {MAX_ENTRY_BYTES}"
            )
        body = stream.read(length)
        if len(body) < length:
            raise BundleFileError(f"{name}: truncated entry {index} at byte {offset}")
        offset += _ENTRY_HEAD.size + length
        yield EntryRecord(index, body)


def iter_proof_file(stream: IO[bytes], *, name: str) -> Iterator[ProofRecord]:
    offset = 0
    while True:
        head = stream.read(_PROOF_HEAD.size)
        if not head:
            return
        if len(head) < _PROOF_HEAD.size:
            raise BundleFileError(f"{name}: truncated proof header at byte {offset}")
        a, b, n = _PROOF_HEAD.unpack(head)
        if n > MAX_PROOF_HASHES:
            raise BundleFileError(f"{name}: proof at byte {offset} claims {n} hashes; at most 64")
        body = stream.read(n * _HASH)
        if len(body) < n * _HASH:
            raise BundleFileError(f"{name}: truncated proof at byte {offset}")
        offset += _PROOF_HEAD.size + n * _HASH
        yield ProofRecord(a, b, tuple(body[i : i + _HASH] for i in range(0, len(body), _HASH)))


def checkpoint_file_name(size: int) -> str:
    """``checkpoints/<size, 20 digits>.note``: lexical order is size order."""
    return f"{CHECKPOINTS_DIR}/{size:0{_CHECKPOINT_DIGITS}d}.note"


def checkpoint_size_from_name(name: str) -> int:
    stem = name.removeprefix(f"{CHECKPOINTS_DIR}/").removesuffix(".note")
    if len(stem) != _CHECKPOINT_DIGITS or not stem.isdigit() or checkpoint_file_name(int(stem)) != name:
        raise BundleFileError(f"{name}: not a checkpoint file name (checkpoints/<20 digits>.note)")
    return int(stem)


# --------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Scope:
    """What part of the log a bundle holds. ``full``: every entry 0..size-1. ``slice``: the
    entries one filter selects (plus the inventories, commitments and challenges they need),
    each with an inclusion proof to the last checkpoint."""

    kind: str = "full"
    commitment_id: str | None = None
    facility_id: str | None = None
    from_unix_ns: int | None = None
    to_unix_ns: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in _SCOPE_KINDS:
            raise FormatError(f"scope kind {self.kind!r} is not one of {', '.join(_SCOPE_KINDS)}")
        filters = (self.commitment_id, self.facility_id, self.from_unix_ns, self.to_unix_ns)
        if self.kind == "full" and any(f is not None for f in filters):
            raise FormatError("a full bundle has no filter")
        if self.kind == "slice" and all(f is None for f in filters):
            raise FormatError("a slice bundle needs a filter (commitment, facility or time range)")
        if (self.from_unix_ns is None) != (self.to_unix_ns is None):
            raise FormatError("a time range needs both from and to")
        if (
            self.from_unix_ns is not None
            and self.to_unix_ns is not None
            and self.to_unix_ns <= self.from_unix_ns
        ):
            raise FormatError("a time range must end after it starts")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for key in ("commitment_id", "facility_id", "from_unix_ns", "to_unix_ns"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class FileDigest:
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """The table of contents. Every field is checked against the content by the auditor, and
    the file must be in canonical form (``format()``), so no byte of it goes unchecked."""

    origin: str
    tree_size: int
    scope: Scope
    counts: Mapping[str, int]
    files: Mapping[str, FileDigest]
    version: int = BUNDLE_VERSION
    format_name: str = BUNDLE_FORMAT
    extras: Mapping[str, Any] = field(default_factory=dict)

    def format(self) -> bytes:
        doc = {
            "format": self.format_name,
            "version": self.version,
            "origin": self.origin,
            "tree_size": self.tree_size,
            "scope": self.scope.to_json(),
            "counts": dict(self.counts),
            "files": {k: {"sha256": v.sha256, "bytes": v.size} for k, v in self.files.items()},
        }
        return _canonical_json(doc)


def _canonical_json(doc: object) -> bytes:
    return (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=True) + "\n").encode("ascii")


def parse_manifest(data: bytes) -> Manifest:
    """Parse ``manifest.json``: BundleVersionError for another format or a newer version,
    FormatError for anything else wrong, including a non-canonical encoding."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise LimitExceededError(f"{MANIFEST_FILE} is {len(data)} bytes; at most {MAX_MANIFEST_BYTES}")
    try:
        doc = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"{MANIFEST_FILE} is not ASCII JSON: {e}") from e
    if not isinstance(doc, dict):
        raise FormatError(f"{MANIFEST_FILE} must hold a JSON object")
    fmt = doc.get("format")
    if fmt != BUNDLE_FORMAT:
        raise BundleVersionError(
            f"{MANIFEST_FILE}: format is {fmt!r}, not {BUNDLE_FORMAT!r}: not a pausewatch bundle"
        )
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormatError(f"{MANIFEST_FILE}: version must be a positive integer, got {version!r}")
    if version > BUNDLE_VERSION:
        raise BundleVersionError(
            f"bundle format version {version} is newer than this auditor understands"
            f" (up to {BUNDLE_VERSION}); use a newer pausewatch-audit"
        )
    expected_keys = {"format", "version", "origin", "tree_size", "scope", "counts", "files"}
    if set(doc) != expected_keys:
        extra = sorted(set(doc) ^ expected_keys)
        raise FormatError(f"{MANIFEST_FILE}: unexpected or missing keys {extra}")
    origin = doc["origin"]
    if not isinstance(origin, str) or not origin:
        raise FormatError(f"{MANIFEST_FILE}: origin must be a non-empty string")
    tree_size = _nonneg_int(doc["tree_size"], "tree_size")
    scope = _parse_scope(doc["scope"])
    counts_doc = doc["counts"]
    if not isinstance(counts_doc, dict) or not (
        set(_COUNT_NAMES) <= set(counts_doc) <= set(_COUNT_NAMES) | set(_OPTIONAL_COUNT_NAMES)
    ):
        raise FormatError(
            f"{MANIFEST_FILE}: counts must have exactly the keys {', '.join(_COUNT_NAMES)}"
            f" (and {', '.join(_OPTIONAL_COUNT_NAMES)} where the log holds such entries)"
        )
    counts = {k: _nonneg_int(v, f"counts.{k}") for k, v in counts_doc.items()}
    files_doc = doc["files"]
    if not isinstance(files_doc, dict):
        raise FormatError(f"{MANIFEST_FILE}: files must be an object")
    files: dict[str, FileDigest] = {}
    for name, entry in files_doc.items():
        _check_member_name(name)
        if not isinstance(entry, dict) or set(entry) != {"sha256", "bytes"}:
            raise FormatError(f"{MANIFEST_FILE}: files[{name!r}] must have exactly sha256 and bytes")
        digest = entry["sha256"]
        if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise FormatError(f"{MANIFEST_FILE}: files[{name!r}].sha256 is not 64 lowercase hex digits")
        files[name] = FileDigest(digest, _nonneg_int(entry["bytes"], f"files[{name!r}].bytes"))
    manifest = Manifest(origin, tree_size, scope, counts, files, version=version)
    if manifest.format() != data:
        raise FormatError(
            f"{MANIFEST_FILE} is not in canonical form (sorted keys, one-space indent, ASCII);"
            " it was edited after export"
        )
    return manifest


def _nonneg_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 1 << 63:
        raise FormatError(f"{MANIFEST_FILE}: {what} must be an integer in 0..2^63-1, got {value!r}")
    return value


def _parse_scope(doc: object) -> Scope:
    if not isinstance(doc, dict):
        raise FormatError(f"{MANIFEST_FILE}: scope must be an object")
    allowed = {"kind", "commitment_id", "facility_id", "from_unix_ns", "to_unix_ns"}
    if not set(doc) <= allowed:
        raise FormatError(f"{MANIFEST_FILE}: unknown scope keys {sorted(set(doc) - allowed)}")
    for key in ("commitment_id", "facility_id"):
        if key in doc and not (isinstance(doc[key], str) and doc[key]):
            raise FormatError(f"{MANIFEST_FILE}: scope.{key} must be a non-empty string")
    for key in ("from_unix_ns", "to_unix_ns"):
        if key in doc and (not isinstance(doc[key], int) or isinstance(doc[key], bool)):
            raise FormatError(f"{MANIFEST_FILE}: scope.{key} must be an integer")
    kind = doc.get("kind")
    if not isinstance(kind, str):
        raise FormatError(f"{MANIFEST_FILE}: scope.kind must be a string")
    return Scope(
        kind=kind,
        commitment_id=doc.get("commitment_id"),
        facility_id=doc.get("facility_id"),
        from_unix_ns=doc.get("from_unix_ns"),
        to_unix_ns=doc.get("to_unix_ns"),
    )


def _check_member_name(name: str) -> None:
    fixed = {
        POLICY_FILE,
        ROOTS_FILE,
        ENTRIES_FILE,
        CONSISTENCY_FILE,
        INCLUSION_FILE,
        INVENTORIES_FILE,
        COMMITMENTS_FILE,
        TERMS_FILE,
        VERDICTS_FILE,
        CHALLENGES_FILE,
    }
    if name in fixed:
        return
    if name.startswith(f"{CHECKPOINTS_DIR}/"):
        try:
            checkpoint_size_from_name(name)
        except BundleFileError as e:
            raise FormatError(f"{MANIFEST_FILE}: {e}") from e
        return
    raise FormatError(f"{MANIFEST_FILE}: {name!r} is not a file a version-1 bundle holds")


def make_counts(**counts: int) -> dict[str, int]:
    """All count names, zero unless given."""
    unknown = set(counts) - set(_COUNT_NAMES)
    if unknown:
        raise FormatError(f"unknown count names {sorted(unknown)}")
    return {name: counts.get(name, 0) for name in _COUNT_NAMES}


__all__ += ["checkpoint_size_from_name", "make_counts"]


# --------------------------------------------------------------------------- document files

DOC_FILES: Final = {
    "inventories": INVENTORIES_FILE,
    "commitments": COMMITMENTS_FILE,
    "challenges": CHALLENGES_FILE,
    "verdicts": VERDICTS_FILE,
}
OPTIONAL_DOC_FILES: Final = {"terms": TERMS_FILE}  # written only when the log holds such entries

__all__ += ["DOC_FILES", "OPTIONAL_DOC_FILES"]
