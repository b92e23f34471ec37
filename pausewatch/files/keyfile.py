"""Key files: the 32-byte Ed25519 seed, base64, on one line after a header line; created 0600,
never overwritten, refused when group or others may read them."""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from pausewatch.errors import KeyFileError
from pausewatch.keys import Ed25519Signer

__all__ = ["generate_key_file", "load_key_file"]

_KEY_FILE_HEADER = "pausewatch ed25519 seed v1"


def generate_key_file(path: Path) -> Ed25519Signer:
    """Create a new key file at ``path`` (mode 0600, never overwriting) and return its signer."""
    signer = Ed25519Signer.generate()
    text = f"{_KEY_FILE_HEADER}\n{base64.b64encode(signer.seed).decode()}\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise KeyFileError(f"{path}: key file already exists; refusing to overwrite it") from e
    except OSError as e:
        raise KeyFileError(f"{path}: cannot create key file: {e.strerror}") from e
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return signer


def load_key_file(path: Path) -> Ed25519Signer:
    """Load a key file written by ``generate_key_file``; every failure names the file."""
    try:
        st = path.stat()
        text = path.read_text(encoding="ascii")
    except FileNotFoundError as e:
        raise KeyFileError(f"{path}: key file not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError(f"{path}: cannot read key file: {e}") from e
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: key file is readable by group or others (mode {st.st_mode & 0o777:o});"
            " run chmod 600"
        )
    lines = text.splitlines()
    if len(lines) != 2 or lines[0] != _KEY_FILE_HEADER:
        raise KeyFileError(f"{path}: not a pausewatch key file (expected header {_KEY_FILE_HEADER!r})")
    try:
        seed = base64.b64decode(lines[1], validate=True)
    except binascii.Error as e:
        raise KeyFileError(f"{path}: key is not valid base64") from e
    if len(seed) != 32:
        raise KeyFileError(f"{path}: key must be a 32-byte Ed25519 seed, got {len(seed)} bytes")
    return Ed25519Signer.from_seed(seed)
