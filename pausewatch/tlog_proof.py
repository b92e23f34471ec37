"""Offline proofs of logging (c2sp.org/tlog-proof@v1): read, write and verify.

::

    c2sp.org/tlog-proof@v1
    [extra <base64>]
    index <decimal>
    <base64 hash>            (zero or more: the RFC 6962 inclusion proof, leaf sibling first)

    <checkpoint note, verbatim: text, blank line, signatures>

Parsing keeps the checkpoint's bytes exactly as given (the format vectors use placeholders such
as ``test checkpoint\\n``); :func:`verify_tlog_proof` then checks the checkpoint against a
:class:`~pausewatch.policy.Policy` and the inclusion of an entry's raw bytes
(leaf hash ``SHA-256(0x00 || entry)``). Limits: at most :data:`MAX_PROOF_HASHES` hashes of
exactly 32 bytes, an index below 2^63, and :data:`MAX_PROOF_SIZE` bytes in all.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from pausewatch import merkle
from pausewatch.checkpoint import HASH_SIZE, MAX_TREE_SIZE
from pausewatch.errors import FormatError, LimitExceededError, VerificationError
from pausewatch.note import MAX_NOTE_SIZE, decode_base64
from pausewatch.policy import Policy, VerifiedCheckpoint, check_checkpoint

__all__ = [
    "MAX_PROOF_HASHES",
    "MAX_PROOF_SIZE",
    "TLOG_PROOF_HEADER",
    "TlogProof",
    "parse_tlog_proof",
    "verify_tlog_proof",
]

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES = 63
"""A tree of at most 2^63 leaves has inclusion proofs of at most 63 hashes."""
MAX_PROOF_SIZE = MAX_NOTE_SIZE + 64 * 1024
"""The checkpoint's limit plus room for the header, extra data and hashes."""
_MAX_EXTRA = 48 * 1024
_DECIMAL_RE = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class TlogProof:
    """Index, inclusion hashes, the checkpoint note's exact bytes and optional extra data."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index < MAX_TREE_SIZE:
            raise FormatError(f"tlog-proof index {self.index} is outside 0..2^63-2")
        if len(self.hashes) > MAX_PROOF_HASHES:
            raise LimitExceededError(
                f"tlog-proof has {len(self.hashes)} hashes; at most {MAX_PROOF_HASHES}"
            )
        for n, h in enumerate(self.hashes, 1):
            if len(h) != HASH_SIZE:
                raise FormatError(f"tlog-proof hash {n} is {len(h)} bytes, must be {HASH_SIZE}")
        if not self.checkpoint or not self.checkpoint.endswith(b"\n"):
            raise FormatError("tlog-proof checkpoint is empty or does not end with a newline")
        if len(self.checkpoint) > MAX_NOTE_SIZE:
            raise LimitExceededError(f"tlog-proof checkpoint exceeds {MAX_NOTE_SIZE} bytes")
        if self.extra is not None and not 0 < len(self.extra) <= _MAX_EXTRA:
            raise FormatError(f"tlog-proof extra data must be 1..{_MAX_EXTRA} bytes when present")

    def format(self) -> bytes:
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode("ascii"))
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode("ascii") for h in self.hashes]
        return ("\n".join(lines) + "\n\n").encode("ascii") + self.checkpoint


def parse_tlog_proof(data: bytes) -> TlogProof:
    """Parse a tlog-proof; FormatError / LimitExceededError say which line is wrong."""
    if len(data) > MAX_PROOF_SIZE:
        raise LimitExceededError(f"tlog-proof is {len(data)} bytes; at most {MAX_PROOF_SIZE}")
    head, sep, checkpoint = data.partition(b"\n\n")
    if not sep:
        raise FormatError("tlog-proof has no empty line before its checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as e:
        raise FormatError(f"tlog-proof header is not ASCII (byte offset {e.start})") from e
    if lines[0] != TLOG_PROOF_HEADER:
        raise FormatError(
            f"not a tlog-proof: first line is {lines[0][:40]!r}, expected {TLOG_PROOF_HEADER!r}"
        )
    pos = 1
    extra = None
    if pos < len(lines) and lines[pos].startswith("extra "):
        extra = decode_base64(lines[pos][len("extra ") :], "tlog-proof extra data")
        if not extra:
            raise FormatError("tlog-proof 'extra' line carries no data; omit the line instead")
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith("index "):
        raise FormatError(f"tlog-proof line {pos + 1} must be 'index <decimal>'")
    index_text = lines[pos][len("index ") :]
    if _DECIMAL_RE.fullmatch(index_text) is None or len(index_text) > 19:
        raise FormatError(
            f"tlog-proof index {index_text[:40]!r} is not a decimal without sign or leading zeros"
        )
    index = int(index_text)
    hash_lines = lines[pos + 1 :]
    if len(hash_lines) > MAX_PROOF_HASHES:
        raise LimitExceededError(
            f"tlog-proof has {len(hash_lines)} hashes; at most {MAX_PROOF_HASHES}"
        )
    hashes = []
    for n, line in enumerate(hash_lines, 1):
        h = decode_base64(line, f"tlog-proof hash {n}")
        if len(h) != HASH_SIZE:
            raise FormatError(f"tlog-proof hash {n} is {len(h)} bytes, must be {HASH_SIZE}")
        hashes.append(h)
    return TlogProof(index, tuple(hashes), checkpoint, extra)


def verify_tlog_proof(
    proof: TlogProof | bytes, entry: bytes, policy: Policy
) -> VerifiedCheckpoint:
    """Verify that ``entry`` (raw leaf data) is in the log, per a checkpoint ``policy`` accepts.

    Raises VerificationError (SignatureError for the checkpoint) or a FormatError; returns the
    verified checkpoint and who vouched for it.
    """
    parsed = proof if isinstance(proof, TlogProof) else parse_tlog_proof(proof)
    verified = check_checkpoint(parsed.checkpoint, policy)
    size = verified.checkpoint.size
    if parsed.index >= size:
        raise VerificationError(
            f"tlog-proof index {parsed.index} is not in the checkpointed tree of size {size}"
        )
    merkle.verify_inclusion(
        merkle.leaf_hash(entry), parsed.index, size, parsed.hashes, verified.checkpoint.root_hash
    )
    return verified
