"""C2SP signed notes (c2sp.org/signed-note), verifier keys (vkey) and signer keys (skey).

A signed note is UTF-8 text ending in a newline, a blank line, then one or more signature lines
``— <key name> base64(key ID[4] || signature)``. The text is split from the signatures at the
*last* empty line. This module parses and formats notes byte for byte and verifies them against
a set of trusted :class:`NoteVerifier`\\ s, following golang.org/x/mod/sumdb/note:

- signatures whose (key name, key ID) is not trusted are kept as *unverified* and ignored;
- every signature from a trusted key must verify, or the whole note is rejected;
- at least one trusted key must have signed, or the note is rejected.

Limits (explicit, tested):

- :data:`MAX_NOTE_SIZE` (1 MiB): far above any real checkpoint (the biggest vector is under
  1 KiB; even 100 ML-DSA cosignatures of ~3.3 KiB base64 each fit);
- :data:`MAX_SIGNATURES` (100, as upstream Go): the spec asks verifiers to accept at least 16.

Decisions where the spec leaves room, all stricter than upstream Go only for inputs that no
correct signer produces:

- base64 must be canonical (the encoding :func:`base64.b64encode` produces), so one signature
  has one spelling and a parsed note re-formats to the same bytes;
- every signature by a trusted key is verified, not just the first one per key.

Key IDs are ``SHA-256(name || 0x0A || type || public key)[:4]``, big-endian (:func:`key_id_for`).
Type 0x01 is an Ed25519 note signature; 0x04 an Ed25519 tlog cosignature (see
:mod:`pausewatch.checkpoint`); other types are recognised by name and refused as unsupported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)

from pausewatch.errors import (
    FormatError,
    InputError,
    KeyFileError,
    LimitExceededError,
    SignatureError,
)
from pausewatch.keys import ED25519_PUBLIC_KEY_SIZE, Ed25519Key, Ed25519Signer

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "SIG_TYPE_COSIGNATURE_V1",
    "SIG_TYPE_ED25519",
    "Ed25519NoteSigner",
    "Ed25519NoteVerifier",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "OpenedNote",
    "UnsupportedKeyTypeError",
    "VerifierKey",
    "decode_base64",
    "ed25519_key_from_text",
    "is_valid_key_name",
    "key_id_for",
    "open_note",
    "parse_note",
    "parse_skey",
    "parse_vkey",
    "sign_note",
    "verifier_from_spki",
    "verify_note",
]

MAX_NOTE_SIZE = 1 << 20
"""Largest note accepted, in bytes (1 MiB)."""

MAX_SIGNATURES = 100
"""Most signature lines accepted in one note (upstream Go's limit; the spec's floor is 16)."""

SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04

_SIG_TYPE_NAMES = {
    0x01: "Ed25519",
    0x02: "ECDSA (transparency-dev/witness)",
    0x04: "Ed25519 cosignature/v1",
    0x05: "RFC 6962 TreeHeadSignature (ECDSA)",
    0x06: "ML-DSA-44 cosignature",
}

_SIG_PREFIX = "— "  # U+2014 em dash, space
_SKEY_PREFIX = "PRIVATE+KEY+"
_KEY_ID_RE = re.compile(r"[0-9a-fA-F]{8}")
_B64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
# Unicode White_Space (what Go's unicode.IsSpace tests), spelled out so that the set does not
# depend on the Python version's Unicode tables.
_UNICODE_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")


class UnsupportedKeyTypeError(KeyFileError):
    """A well-formed key of a type pausewatch does not verify (anything but Ed25519)."""


def decode_base64(text: str, what: str) -> bytes:
    """Decode canonical standard base64 (RFC 4648 section 4, padded); FormatError otherwise."""
    if _B64_RE.fullmatch(text) is None:
        raise FormatError(f"{what}: not standard padded base64: {_excerpt(text)}")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:  # pragma: no cover - the regex admits only valid
        raise FormatError(f"{what}: not valid base64: {e}") from e
    if base64.b64encode(raw).decode("ascii") != text:
        raise FormatError(f"{what}: non-canonical base64 (unused bits set): {_excerpt(text)}")
    return raw


def _excerpt(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def is_valid_key_name(name: str) -> bool:
    """A key name is non-empty UTF-8 with no Unicode space and no ``+``."""
    if not name or "+" in name or any(c in _UNICODE_SPACES for c in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _check_key_name(name: str, what: str) -> None:
    if not is_valid_key_name(name):
        raise FormatError(
            f"{what}: invalid key name {_excerpt(name)}: must be non-empty, without spaces or '+'"
        )


def key_id_for(name: str, sig_type: int, public_key: bytes) -> int:
    """``SHA-256(name || 0x0A || sig_type || public_key)[:4]`` as a big-endian uint32."""
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key
    ).digest()
    key_id: int = struct.unpack(">I", digest[:4])[0]
    return key_id


# --------------------------------------------------------------------------- notes


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 32-bit key ID and the signature bytes after the ID."""

    name: str
    key_id: int
    signature: bytes

    def __post_init__(self) -> None:
        _check_key_name(self.name, "signature line")
        if not 0 <= self.key_id <= 0xFFFFFFFF:
            raise FormatError(f"signature key ID {self.key_id} is not a uint32")
        if not self.signature:
            raise FormatError(f"signature by {self.name} is empty")

    def format(self) -> str:
        """The line, with its newline: ``— name base64(key ID || signature)\\n``."""
        blob = struct.pack(">I", self.key_id) + self.signature
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"


@dataclass(frozen=True)
class Note:
    """A parsed signed note: its text (with final newline) and its signatures, in order."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text)
        if not self.signatures:
            raise FormatError("a signed note needs at least one signature")
        if len(self.signatures) > MAX_SIGNATURES:
            raise LimitExceededError(
                f"note has {len(self.signatures)} signatures; at most {MAX_SIGNATURES} accepted"
            )

    def format(self) -> bytes:
        """The note's exact bytes."""
        out = self.text + "\n" + "".join(s.format() for s in self.signatures)
        return out.encode("utf-8")

    def with_signatures(self, *extra: NoteSignature) -> Note:
        """This note with ``extra`` signature lines appended (e.g. a witness cosignature)."""
        return Note(self.text, self.signatures + tuple(extra))


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise FormatError("note text must end with a newline")
    if (m := _CONTROL_RE.search(text)) is not None:
        raise FormatError(
            f"note text contains control character {m.group()!r} at offset {m.start()};"
            " only newline is allowed"
        )
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise FormatError(f"note text is not valid Unicode: {e.reason}") from e
    if size > MAX_NOTE_SIZE:
        raise LimitExceededError(f"note text is {size} bytes; at most {MAX_NOTE_SIZE} accepted")


def parse_note(data: bytes) -> Note:
    """Parse a signed note without verifying it; FormatError / LimitExceededError on bad input."""
    if len(data) > MAX_NOTE_SIZE:
        raise LimitExceededError(f"note is {len(data)} bytes; at most {MAX_NOTE_SIZE} accepted")
    try:
        msg = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"note is not valid UTF-8 (byte offset {e.start})") from e
    if (m := _CONTROL_RE.search(msg)) is not None:
        raise FormatError(
            f"note contains control character {m.group()!r} at offset {m.start()};"
            " only newline is allowed"
        )
    split = msg.rfind("\n\n")
    if split < 0:
        raise FormatError(
            "note has no blank line separating the text from the signatures (is it signed?)"
        )
    text, block = msg[: split + 1], msg[split + 2 :]
    if not block:
        raise FormatError("note has no signature lines after its last blank line")
    if not block.endswith("\n"):
        raise FormatError("the last signature line of the note does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise LimitExceededError(
            f"note has {len(lines)} signature lines; at most {MAX_SIGNATURES} accepted"
        )
    return Note(text, tuple(_parse_signature_line(line, n) for n, line in enumerate(lines, 1)))


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    where = f"signature line {number}"
    if not line.startswith(_SIG_PREFIX):
        raise FormatError(
            f"{where} does not start with an em dash and a space: {_excerpt(line)}"
        )
    name, sep, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not sep:
        raise FormatError(f"{where} has no space between key name and signature")
    _check_key_name(name, where)
    raw = decode_base64(b64, f"{where} ({name})")
    if len(raw) < 5:
        raise FormatError(f"{where} ({name}): signature has {len(raw)} bytes; need key ID + data")
    (key_id,) = struct.unpack(">I", raw[:4])
    return NoteSignature(name, key_id, raw[4:])


# --------------------------------------------------------------------------- verifiers


@runtime_checkable
class NoteVerifier(Protocol):
    """Verifies note signatures made by one key (identified by key name and key ID)."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> None:
        """Return nothing if ``signature`` (without key ID) is valid over ``text``; raise
        SignatureError otherwise."""
        ...


class NoteSigner(Protocol):
    """Signs note text with one key."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, text: bytes) -> bytes: ...


@dataclass(frozen=True)
class VerifierKey:
    """A C2SP vkey: ``<name>+<hex key ID>+base64(type || public key)``, decoded.

    Only the format is checked here (name, key ID matches, known key length for the types we
    support); turning it into a verifier is up to the module that owns the signature type.
    """

    name: str
    sig_type: int
    public_key: bytes
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name, "vkey")
        if not 0 <= self.sig_type <= 0xFF:
            raise FormatError(f"vkey signature type {self.sig_type} is not a byte")
        if (
            self.sig_type in (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1)
            and len(self.public_key) != ED25519_PUBLIC_KEY_SIZE
        ):
            raise FormatError(
                f"vkey {self.name}: Ed25519 public key must be {ED25519_PUBLIC_KEY_SIZE} bytes,"
                f" got {len(self.public_key)}"
            )
        object.__setattr__(self, "key_id", key_id_for(self.name, self.sig_type, self.public_key))

    @property
    def type_name(self) -> str:
        return _SIG_TYPE_NAMES.get(self.sig_type, f"unknown type 0x{self.sig_type:02x}")

    def format(self) -> str:
        key = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{key}"

    def __str__(self) -> str:
        return self.format()

    def require_type(self, sig_type: int, role: str) -> None:
        """Raise UnsupportedKeyTypeError unless this key has ``sig_type``."""
        if self.sig_type != sig_type:
            want = _SIG_TYPE_NAMES.get(sig_type, f"0x{sig_type:02x}")
            raise UnsupportedKeyTypeError(
                f"{role} key {self.name}+{self.key_id:08x} has signature type {self.type_name}"
                f" (0x{self.sig_type:02x}); a {role} key must be {want} (0x{sig_type:02x})"
            )


def ed25519_key_from_text(text: str, where: str) -> Ed25519Key:
    """An Ed25519 public key written as base64 of its raw 32 bytes, or as a C2SP vkey of
    signature type Ed25519 — the two forms every config and trust file accepts."""
    text = text.strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) == ED25519_PUBLIC_KEY_SIZE:
        return Ed25519Key(raw)
    try:
        vkey = parse_vkey(text)
        vkey.require_type(SIG_TYPE_ED25519, where)
    except InputError as e:
        raise KeyFileError(f"{where}: neither base64 of a raw 32-byte Ed25519 key nor a vkey: {e}") from e
    return Ed25519Key(vkey.public_key)


def parse_vkey(vkey: str) -> VerifierKey:
    """Parse a vkey string. KeyFileError (FormatError-like message) on any defect.

    The base64 part may itself contain ``+``, so the string is split on the first two ``+``.
    """
    name, sep1, rest = vkey.partition("+")
    hash_hex, sep2, key_b64 = rest.partition("+")
    if not (sep1 and sep2):
        raise KeyFileError(f"vkey {_excerpt(vkey)} is not <name>+<key ID>+<base64 key>")
    if not is_valid_key_name(name):
        raise KeyFileError(f"vkey {_excerpt(vkey)}: invalid key name")
    if _KEY_ID_RE.fullmatch(hash_hex) is None:
        raise KeyFileError(f"vkey {_excerpt(vkey)}: key ID must be 8 hex digits")
    try:
        blob = decode_base64(key_b64, "vkey key")
    except FormatError as e:
        raise KeyFileError(f"vkey {_excerpt(vkey)}: {e}") from e
    if not blob:
        raise KeyFileError(f"vkey {_excerpt(vkey)}: empty key")
    claimed = int(hash_hex, 16)
    actual = key_id_for(name, blob[0], blob[1:])
    if claimed != actual:
        raise KeyFileError(
            f"vkey {_excerpt(vkey)}: key ID {hash_hex} does not match the key (expected"
            f" {actual:08x})"
        )
    if blob[0] not in (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1):
        raise UnsupportedKeyTypeError(
            f"vkey {name}+{hash_hex}: signature type"
            f" {_SIG_TYPE_NAMES.get(blob[0], 'unknown')} (0x{blob[0]:02x}) is not supported;"
            " pausewatch verifies Ed25519 (0x01) and Ed25519 cosignature/v1 (0x04) keys"
        )
    try:
        return VerifierKey(name, blob[0], blob[1:])
    except FormatError as e:
        raise KeyFileError(str(e)) from e


@dataclass(frozen=True)
class Ed25519NoteVerifier:
    """Verifies signature type 0x01: Ed25519 over the note text."""

    name: str
    key: Ed25519Key
    key_id: int = field(init=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name, "verifier")
        object.__setattr__(self, "key_id", key_id_for(self.name, SIG_TYPE_ED25519, self.key.raw))

    @classmethod
    def from_vkey(cls, vkey: str | VerifierKey) -> Ed25519NoteVerifier:
        key = parse_vkey(vkey) if isinstance(vkey, str) else vkey
        key.require_type(SIG_TYPE_ED25519, "note signer")
        return cls(key.name, Ed25519Key(key.public_key))

    @property
    def vkey(self) -> str:
        return VerifierKey(self.name, SIG_TYPE_ED25519, self.key.raw).format()

    def verify(self, text: bytes, signature: bytes) -> None:
        try:
            self.key.verify(signature, text)
        except SignatureError as e:
            raise SignatureError(f"invalid signature for key {self.name}+{self.key_id:08x}") from e


def verifier_from_spki(name: str, spki_der: bytes) -> Ed25519NoteVerifier:
    """A note verifier from a DER SubjectPublicKeyInfo (as in a Sigstore trusted root).

    Ed25519 keys are accepted; ECDSA and every other key type raise UnsupportedKeyTypeError.
    """
    try:
        key = load_der_public_key(spki_der)
    except (ValueError, TypeError) as e:
        raise KeyFileError(f"public key for {name} is not a DER SubjectPublicKeyInfo: {e}") from e
    if not isinstance(key, Ed25519PublicKey):
        raise UnsupportedKeyTypeError(
            f"public key for {name} is {type(key).__name__.lstrip('_')}: unsupported key type;"
            " pausewatch verifies only Ed25519 note signatures"
        )
    return Ed25519NoteVerifier(name, Ed25519Key(key.public_bytes(Encoding.Raw, PublicFormat.Raw)))


# --------------------------------------------------------------------------- signers


class Ed25519NoteSigner:
    """Signs notes with an Ed25519 key (signature type 0x01)."""

    def __init__(self, name: str, signer: Ed25519Signer) -> None:
        _check_key_name(name, "signer")
        self._name = name
        self._signer = signer
        self._key_id = key_id_for(name, SIG_TYPE_ED25519, signer.public_key.raw)

    @classmethod
    def generate(cls, name: str) -> Ed25519NoteSigner:
        return cls(name, Ed25519Signer.generate())

    @classmethod
    def from_skey(cls, skey: str) -> Ed25519NoteSigner:
        return parse_skey(skey)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._key_id

    @property
    def verifier(self) -> Ed25519NoteVerifier:
        return Ed25519NoteVerifier(self._name, self._signer.public_key)

    @property
    def vkey(self) -> str:
        return self.verifier.vkey

    @property
    def skey(self) -> str:
        """``PRIVATE+KEY+<name>+<key ID>+base64(0x01 || seed)``: secret, handle with care."""
        seed = base64.b64encode(bytes([SIG_TYPE_ED25519]) + self._signer.seed).decode("ascii")
        return f"{_SKEY_PREFIX}{self._name}+{self._key_id:08x}+{seed}"

    def sign(self, text: bytes) -> bytes:
        return self._signer.sign(text)

    def __repr__(self) -> str:  # never show the seed
        return f"Ed25519NoteSigner({self._name}+{self._key_id:08x})"


def parse_skey(skey: str) -> Ed25519NoteSigner:
    """Parse a Go-format signer key; KeyFileError on any defect (the key is never echoed)."""
    if not skey.startswith(_SKEY_PREFIX):
        raise KeyFileError("signer key does not start with PRIVATE+KEY+")
    name, sep1, rest = skey[len(_SKEY_PREFIX) :].partition("+")
    hash_hex, sep2, key_b64 = rest.partition("+")
    if not (sep1 and sep2) or not is_valid_key_name(name):
        raise KeyFileError("signer key is not PRIVATE+KEY+<name>+<key ID>+<base64 key>")
    if _KEY_ID_RE.fullmatch(hash_hex) is None:
        raise KeyFileError(f"signer key {name}: key ID must be 8 hex digits")
    try:
        blob = decode_base64(key_b64, "signer key")
    except FormatError as e:
        raise KeyFileError(f"signer key {name}: key is not canonical base64") from e
    if not blob or blob[0] != SIG_TYPE_ED25519:
        raise UnsupportedKeyTypeError(f"signer key {name}: only Ed25519 (type 0x01) is supported")
    if len(blob) != 33:
        raise KeyFileError(f"signer key {name}: Ed25519 seed must be 32 bytes")
    signer = Ed25519NoteSigner(name, Ed25519Signer.from_seed(blob[1:]))
    if signer.key_id != int(hash_hex, 16):
        raise KeyFileError(f"signer key {name}: key ID {hash_hex} does not match the key")
    return signer


def sign_note(
    text: str, signers: Sequence[NoteSigner], *, keep: Sequence[NoteSignature] = ()
) -> Note:
    """Sign ``text`` with each signer; ``keep`` are earlier signatures to carry over (those from
    a key that signs now are dropped, as upstream Go does). Returns the note; ``.format()``."""
    _check_text(text)
    if not signers:
        raise FormatError("sign_note needs at least one signer")
    message = text.encode("utf-8")
    fresh = tuple(NoteSignature(s.name, s.key_id, s.sign(message)) for s in signers)
    replaced = {(s.name, s.key_id) for s in fresh}
    carried = tuple(s for s in keep if (s.name, s.key_id) not in replaced)
    return Note(text, carried + fresh)


# --------------------------------------------------------------------------- opening


@dataclass(frozen=True)
class OpenedNote:
    """A note whose trusted signatures all verified (at least one)."""

    note: Note
    verified: tuple[tuple[NoteVerifier, NoteSignature], ...]
    unverified: tuple[NoteSignature, ...]

    @property
    def text(self) -> str:
        return self.note.text


def open_note(data: bytes | Note, verifiers: Iterable[NoteVerifier]) -> OpenedNote:
    """Parse ``data`` and verify it against ``verifiers``.

    Signatures from unknown keys (name and key ID not both matching a verifier) are ignored.
    A known key's bad signature raises SignatureError, as does a note with no signature from a
    known key.
    """
    note = data if isinstance(data, Note) else parse_note(data)
    known: dict[tuple[str, int], NoteVerifier] = {}
    for v in verifiers:
        ident = (v.name, v.key_id)
        if ident in known and known[ident] != v:
            raise KeyFileError(
                f"two different trusted keys share key name and ID {v.name}+{v.key_id:08x}"
            )
        known[ident] = v
    text = note.text.encode("utf-8")
    verified: list[tuple[NoteVerifier, NoteSignature]] = []
    unverified: list[NoteSignature] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        verifier.verify(text, sig.signature)
        verified.append((verifier, sig))
    if not verified:
        signed_by = ", ".join(f"{s.name}+{s.key_id:08x}" for s in unverified) or "nobody"
        trusted = ", ".join(f"{n}+{k:08x}" for n, k in known) or "none"
        raise SignatureError(
            f"note has no verifiable signatures: signed by {signed_by}; trusted keys: {trusted}"
        )
    return OpenedNote(note, tuple(verified), tuple(unverified))


def verify_note(data: bytes | Note, verifiers: Iterable[NoteVerifier]) -> None:
    """Return nothing if :func:`open_note` accepts ``data``; raise otherwise."""
    open_note(data, verifiers)
