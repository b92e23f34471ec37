"""Ed25519 keys behind two small interfaces: ``Signer`` signs bytes, ``PublicKey`` verifies.

Key ids are derived from the public key (lowercase hex SHA-256 of the raw 32 bytes) and are
only ever used as lookup hints: a verifier finds the enrolled key by id and then verifies with
that key, so a forged id can at worst make a lookup miss.

Key files are read and written by ``pausewatch.files.keyfile``.

Verification runs in libsodium (through PyNaCl): about 1.7x faster than OpenSSL here, and at
least as strict — it refuses non-canonical ``S`` values and small-order keys and ``R`` points —
so every role (attestor, verifier, auditor) accepts exactly the same signatures. Signing uses
OpenSSL through ``cryptography``; Ed25519 signatures are deterministic, so the library that
signs does not matter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from pausewatch.errors import FormatError, KeyFileError, SignatureError

__all__ = [
    "ED25519_PUBLIC_KEY_SIZE",
    "ED25519_SIGNATURE_SIZE",
    "Ed25519Key",
    "Ed25519Signer",
    "PublicKey",
    "Signer",
    "key_id",
]

ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64


def key_id(public_key_bytes: bytes) -> str:
    """The derived key id: lowercase hex SHA-256 of the raw public key."""
    return hashlib.sha256(public_key_bytes).hexdigest()


class PublicKey(Protocol):
    """Something that verifies signatures over exact bytes."""

    @property
    def key_id(self) -> str: ...

    @property
    def raw(self) -> bytes: ...

    def verify(self, signature: bytes, message: bytes) -> None:
        """Return nothing if ``signature`` is valid over ``message``; raise SignatureError."""
        ...


class Signer(Protocol):
    """Something that signs exact bytes."""

    @property
    def public_key(self) -> PublicKey: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class Ed25519Key:
    """An Ed25519 public key (RFC 8032), from its raw 32 bytes."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != ED25519_PUBLIC_KEY_SIZE:
            raise FormatError(
                f"Ed25519 public key must be {ED25519_PUBLIC_KEY_SIZE} bytes, got {len(self.raw)}"
            )
        try:
            Ed25519PublicKey.from_public_bytes(self.raw)
        except ValueError as e:
            raise FormatError(f"not an Ed25519 public key: {e}") from e

    @cached_property
    def key_id(self) -> str:
        """Derived once per key object (admission reads it several times per report)."""
        return key_id(self.raw)

    def verify(self, signature: bytes, message: bytes) -> None:
        if len(signature) != ED25519_SIGNATURE_SIZE:
            raise SignatureError(
                f"Ed25519 signature must be {ED25519_SIGNATURE_SIZE} bytes, got {len(signature)}"
            )
        try:
            nacl.bindings.crypto_sign_open(signature + message, self.raw)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as e:
            raise SignatureError(f"signature does not verify under key {self.key_id[:16]}") from e


class Ed25519Signer:
    """An Ed25519 private key held in memory."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._public = Ed25519Key(raw)

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519Signer:
        if len(seed) != 32:
            raise KeyFileError(f"Ed25519 seed must be 32 bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def seed(self) -> bytes:
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @property
    def public_key(self) -> Ed25519Key:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


