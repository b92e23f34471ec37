"""C2SP tlog checkpoints (c2sp.org/tlog-checkpoint) and Ed25519 cosignatures
(c2sp.org/tlog-cosignature, ``cosignature/v1``, signature type 0x04), plus the few pure
c2sp.org/tlog-tiles helpers an offline auditor needs (tile paths, entry bundles).

A checkpoint is the text of a signed note::

    <origin>\\n<tree size, decimal, no leading zeros>\\n<base64 root hash>\\n[<extension line>\\n]*

A cosignature is a note signature whose bytes are ``timestamp (u64 big-endian) || Ed25519
signature`` over ``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint text.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from pausewatch.errors import FormatError, LimitExceededError, SignatureError, VerificationError
from pausewatch.keys import Ed25519Key, Signer
from pausewatch.note import (
    MAX_NOTE_SIZE,
    SIG_TYPE_COSIGNATURE_V1,
    Note,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    VerifierKey,
    decode_base64,
    is_valid_key_name,
    key_id_for,
    open_note,
    parse_vkey,
    sign_note,
)

__all__ = [
    "COSIGNATURE_V1_HEADER",
    "HASH_SIZE",
    "MAX_TIMESTAMP",
    "MAX_TREE_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Checkpoint",
    "Cosignature",
    "CosignatureSigner",
    "CosignatureVerifier",
    "cosignature_message",
    "open_checkpoint",
    "parse_checkpoint",
    "parse_entry_bundle",
    "parse_sumdb_tile_path",
    "sign_checkpoint",
    "sign_cosignature",
    "sumdb_tile_path",
    "tile_index_path",
    "tile_path",
    "tile_paths_for_size",
]

HASH_SIZE = 32
MAX_TREE_SIZE = (1 << 63) - 1
"""Largest tree size (and leaf index + 1) accepted: the signed 64-bit range Go uses."""
MAX_TIMESTAMP = (1 << 63) - 1
"""tlog-cosignature: a timestamp MUST NOT exceed 2^63 - 1."""
COSIGNATURE_V1_HEADER = "cosignature/v1\n"
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT

_DECIMAL_RE = re.compile(r"0|[1-9][0-9]*")
_ED25519_SIG_SIZE = 64


def _parse_decimal(text: str, what: str, limit: int) -> int:
    if _DECIMAL_RE.fullmatch(text) is None or len(text) > 19:
        raise FormatError(
            f"{what} {text[:40]!r} is not a decimal number without sign or leading zeros"
        )
    value = int(text)
    if value > limit:
        raise LimitExceededError(f"{what} {value} exceeds the limit {limit}")
    return value


# --------------------------------------------------------------------------- checkpoint


@dataclass(frozen=True)
class Checkpoint:
    """The note text of a checkpoint: origin, tree size, root hash, optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin:
            raise FormatError("checkpoint origin is empty")
        for what, line in [("origin", self.origin), *(("extension line", e) for e in self.extensions)]:
            if not line:
                raise FormatError(f"checkpoint {what} is empty")
            if "\n" in line or any(ord(c) < 0x20 for c in line):
                raise FormatError(f"checkpoint {what} {line[:40]!r} contains a control character")
            try:
                line.encode("utf-8")
            except UnicodeEncodeError as e:
                raise FormatError(f"checkpoint {what} {line[:40]!r} is not valid Unicode") from e
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise FormatError(f"checkpoint tree size {self.size} is outside 0..2^63-1")
        if len(self.root_hash) != HASH_SIZE:
            raise FormatError(
                f"checkpoint root hash must be {HASH_SIZE} bytes, got {len(self.root_hash)}"
            )

    def format(self) -> str:
        """The note text, byte for byte (ends with a newline)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode("ascii")]
        return "".join(line + "\n" for line in (*lines, *self.extensions))

    def body(self) -> bytes:
        return self.format().encode("utf-8")


def parse_checkpoint(text: str | bytes, *, origin: str | None = None) -> Checkpoint:
    """Parse checkpoint note text (not the signatures: see :func:`open_checkpoint`).

    With ``origin``, a checkpoint from any other log raises VerificationError.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_NOTE_SIZE:
            raise LimitExceededError(f"checkpoint is {len(text)} bytes; at most {MAX_NOTE_SIZE}")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FormatError(f"checkpoint is not valid UTF-8 (byte offset {e.start})") from e
    if len(text) > MAX_NOTE_SIZE:
        raise LimitExceededError(f"checkpoint is {len(text)} characters; at most {MAX_NOTE_SIZE}")
    if not text.endswith("\n"):
        raise FormatError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise FormatError(
            f"checkpoint has {len(lines)} lines; needs origin, tree size and root hash"
        )
    if "" in lines:
        raise FormatError(f"checkpoint line {lines.index('') + 1} is empty")
    size = _parse_decimal(lines[1], "checkpoint tree size", MAX_TREE_SIZE)
    root = decode_base64(lines[2], "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise FormatError(f"checkpoint root hash must be {HASH_SIZE} bytes, got {len(root)}")
    checkpoint = Checkpoint(lines[0], size, root, tuple(lines[3:]))
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(
            f"checkpoint is for log {checkpoint.origin!r}, expected {origin!r}"
        )
    return checkpoint


def sign_checkpoint(
    checkpoint: Checkpoint, signers: Iterable[NoteSigner], *, keep: Iterable[NoteSignature] = ()
) -> Note:
    """Sign a checkpoint; ``.format()`` on the result gives the note bytes to publish."""
    return sign_note(checkpoint.format(), list(signers), keep=list(keep))


def open_checkpoint(
    data: bytes | Note, log: NoteVerifier, *, origin: str | None = None
) -> Checkpoint:
    """Verify ``log``'s signature on a checkpoint note and parse it.

    ``origin`` defaults to the log key's name (as C2SP recommends); pass it when they differ
    (sum.golang.org signs ``go.sum database tree``).
    """
    opened = open_note(data, [log])
    return parse_checkpoint(opened.text, origin=log.name if origin is None else origin)


# --------------------------------------------------------------------------- cosignatures


def cosignature_message(checkpoint: Checkpoint | str, timestamp: int) -> bytes:
    """``cosignature/v1\\ntime <timestamp>\\n`` || the checkpoint's note text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise FormatError(f"cosignature timestamp {timestamp} is outside 0..2^63-1")
    body = checkpoint.format() if isinstance(checkpoint, Checkpoint) else checkpoint
    return f"{COSIGNATURE_V1_HEADER}time {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class Cosignature:
    """An Ed25519 cosignature/v1: cosigner name and key ID, timestamp, 64-byte signature."""

    name: str
    key_id: int
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise FormatError(f"cosigner name {self.name!r} is not a valid key name")
        if not 0 <= self.timestamp <= MAX_TIMESTAMP:
            raise FormatError(f"cosignature timestamp {self.timestamp} is outside 0..2^63-1")
        if len(self.signature) != _ED25519_SIG_SIZE:
            raise FormatError(
                f"cosignature by {self.name} must carry a {_ED25519_SIG_SIZE}-byte Ed25519"
                f" signature, got {len(self.signature)} bytes"
            )

    @classmethod
    def from_note_signature(cls, sig: NoteSignature) -> Cosignature:
        if len(sig.signature) != 8 + _ED25519_SIG_SIZE:
            raise FormatError(
                f"cosignature by {sig.name} is {len(sig.signature)} bytes after the key ID;"
                f" an Ed25519 cosignature/v1 is 72 (timestamp + signature)"
            )
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        return cls(sig.name, sig.key_id, timestamp, sig.signature[8:])

    def to_note_signature(self) -> NoteSignature:
        return NoteSignature(
            self.name, self.key_id, struct.pack(">Q", self.timestamp) + self.signature
        )

    def format(self) -> str:
        """The signature line, with newline."""
        return self.to_note_signature().format()


@dataclass(frozen=True)
class CosignatureVerifier:
    """Verifies Ed25519 cosignature/v1 (type 0x04). Also a :class:`NoteVerifier`, so a
    cosigned checkpoint opens with :func:`pausewatch.note.open_note` like any note."""

    name: str
    key: Ed25519Key
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise FormatError(f"cosigner name {self.name!r} is not a valid key name")
        object.__setattr__(
            self, "key_id", key_id_for(self.name, SIG_TYPE_COSIGNATURE_V1, self.key.raw)
        )

    @classmethod
    def from_vkey(cls, vkey: str | VerifierKey) -> CosignatureVerifier:
        key = parse_vkey(vkey) if isinstance(vkey, str) else vkey
        key.require_type(SIG_TYPE_COSIGNATURE_V1, "witness")
        return cls(key.name, Ed25519Key(key.public_key))

    @property
    def vkey(self) -> str:
        return VerifierKey(self.name, SIG_TYPE_COSIGNATURE_V1, self.key.raw).format()

    def verify(self, text: bytes, signature: bytes) -> None:
        """Note-verifier form: ``signature`` is timestamp || Ed25519 signature."""
        if len(signature) != 8 + _ED25519_SIG_SIZE:
            raise SignatureError(
                f"invalid cosignature for key {self.name}+{self.key_id:08x}: {len(signature)}"
                " bytes, expected 72"
            )
        (timestamp,) = struct.unpack(">Q", signature[:8])
        if timestamp > MAX_TIMESTAMP:
            raise SignatureError(
                f"invalid cosignature for key {self.name}+{self.key_id:08x}: timestamp over 2^63-1"
            )
        try:
            body = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SignatureError("cosigned text is not UTF-8") from e
        try:
            self.key.verify(signature[8:], cosignature_message(body, timestamp))
        except SignatureError as e:
            raise SignatureError(
                f"invalid cosignature for key {self.name}+{self.key_id:08x}"
                f" (time {timestamp})"
            ) from e

    def verify_cosignature(self, cosignature: Cosignature, checkpoint: Checkpoint) -> None:
        """Return nothing if ``cosignature`` is this cosigner's valid one over ``checkpoint``."""
        if (cosignature.name, cosignature.key_id) != (self.name, self.key_id):
            raise SignatureError(
                f"cosignature is by {cosignature.name}+{cosignature.key_id:08x}, not by"
                f" {self.name}+{self.key_id:08x}"
            )
        self.verify(checkpoint.body(), cosignature.to_note_signature().signature)


class CosignatureSigner:
    """Makes Ed25519 cosignature/v1 signatures at a fixed timestamp (a NoteSigner, so it can
    be passed to :func:`sign_checkpoint`). The caller supplies the time: no clock in here."""

    def __init__(self, name: str, signer: Signer, timestamp: int) -> None:
        if not is_valid_key_name(name):
            raise FormatError(f"cosigner name {name!r} is not a valid key name")
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise FormatError(f"cosignature timestamp {timestamp} is outside 0..2^63-1")
        self._name = name
        self._signer = signer
        self._timestamp = timestamp
        self._key_id = key_id_for(name, SIG_TYPE_COSIGNATURE_V1, signer.public_key.raw)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._key_id

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self._name, Ed25519Key(self._signer.public_key.raw))

    def sign(self, text: bytes) -> bytes:
        try:
            body = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FormatError("cosigned text is not UTF-8") from e
        message = cosignature_message(body, self._timestamp)
        return struct.pack(">Q", self._timestamp) + self._signer.sign(message)


def sign_cosignature(
    checkpoint: Checkpoint, name: str, signer: Signer, timestamp: int
) -> Cosignature:
    """Cosign ``checkpoint`` as ``name`` at ``timestamp`` (POSIX seconds)."""
    cosigner = CosignatureSigner(name, signer, timestamp)
    raw = cosigner.sign(checkpoint.body())
    return Cosignature(name, cosigner.key_id, timestamp, raw[8:])


# --------------------------------------------------------------------------- tlog-tiles


def tile_index_path(index: int) -> str:
    """A tile index as path elements: ``1234067`` -> ``x001/x234/067``."""
    if index < 0:
        raise FormatError(f"tile index {index} is negative")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    return "/".join([f"x{g}" for g in reversed(groups[1:])] + [groups[0]])


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """C2SP tlog-tiles path: ``tile/<L>/<N>[.p/<W>]``; level -1 is ``tile/entries/<N>...``."""
    if level < -1 or not 1 <= width <= TILE_WIDTH:
        raise FormatError(f"no tile at level {level} with width {width}")
    level_part = "entries" if level == -1 else str(level)
    partial = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level_part}/{tile_index_path(index)}{partial}"


def tile_paths_for_size(size: int) -> list[str]:
    """The hash tiles (levels 0 and up) that cover a tree of ``size`` leaves."""
    if not 0 <= size <= MAX_TREE_SIZE:
        raise FormatError(f"tree size {size} is outside 0..2^63-1")
    paths = []
    level, count = 0, size
    while count > 0:
        full, partial = divmod(count, TILE_WIDTH)
        paths += [tile_path(level, n) for n in range(full)]
        if partial:
            paths.append(tile_path(level, full, partial))
        level, count = level + 1, count // TILE_WIDTH
    return paths


def sumdb_tile_path(height: int, level: int, index: int, width: int) -> str:
    """golang.org/x/mod/sumdb/tlog tile path: ``tile/<H>/<L or data>/<N>[.p/<W>]``."""
    if not 1 <= height <= 30 or level < -1 or not 1 <= width <= (1 << height):
        raise FormatError(f"no sumdb tile H={height} L={level} W={width}")
    level_part = "data" if level == -1 else str(level)
    partial = "" if width == 1 << height else f".p/{width}"
    return f"tile/{height}/{level_part}/{tile_index_path(index)}{partial}"


_SUMDB_TILE_RE = re.compile(
    r"tile/(?P<h>[1-9][0-9]?)/(?P<l>data|0|[1-9][0-9]?)/"
    r"(?P<n>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<w>[1-9][0-9]*))?"
)


def parse_sumdb_tile_path(path: str) -> tuple[int, int, int, int]:
    """Inverse of :func:`sumdb_tile_path`: ``(height, level, index, width)``."""
    m = _SUMDB_TILE_RE.fullmatch(path)
    if m is None:
        raise FormatError(f"not a tile path: {path[:80]!r}")
    height = int(m["h"])
    level = -1 if m["l"] == "data" else int(m["l"])
    index = int(m["n"].replace("x", "").replace("/", ""))
    width = int(m["w"]) if m["w"] else 1 << height
    if height > 30 or (width >= 1 << height and m["w"]):
        raise FormatError(f"not a tile path: {path[:80]!r} (bad height or partial width)")
    if sumdb_tile_path(height, level, index, width) != path:
        raise FormatError(f"not a canonical tile path: {path[:80]!r}")
    return height, level, index, width


def parse_entry_bundle(data: bytes, *, max_entries: int = TILE_WIDTH) -> list[bytes]:
    """Split a tlog-tiles entry bundle: entries each prefixed by a big-endian uint16 length."""
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(entries) == max_entries:
            raise LimitExceededError(f"entry bundle holds more than {max_entries} entries")
        if offset + 2 > len(data):
            raise FormatError(f"entry bundle truncated in a length prefix at byte {offset}")
        (length,) = struct.unpack_from(">H", data, offset)
        offset += 2
        if offset + length > len(data):
            raise FormatError(
                f"entry bundle entry {len(entries)} claims {length} bytes, only"
                f" {len(data) - offset} left"
            )
        entries.append(data[offset : offset + length])
        offset += length
    return entries
