"""The wire format of C2SP tlog-witness (c2sp.org/tlog-witness), written once for both sides:
the witness (``witness/``) parses what the log's client (``verifier/witnesses.py``) formats.

``POST <prefix>/add-checkpoint`` carries::

    old <size>\\n
    <base64 consistency proof hash>\\n      (0 to 63 lines; none when old is 0)
    \\n
    <signed checkpoint note>

Answers: 200 with cosignature lines (signed-note signature lines); 409 with
``Content-Type: text/x.tlog.size`` and ``<size>\\n`` (the size the witness holds); 400, 403,
404 and 422 with a one-line reason (``text/plain``).

Pure code: bytes in, values out, :class:`pausewatch.errors.FormatError` on malformed input.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Final

from pausewatch.checkpoint import MAX_TREE_SIZE
from pausewatch.errors import FormatError, LimitExceededError
from pausewatch.merkle import HASH_SIZE
from pausewatch.note import MAX_NOTE_SIZE, Note, decode_base64, parse_note

__all__ = [
    "ADD_CHECKPOINT_PATH",
    "MAX_PROOF_LINES",
    "MAX_REQUEST_SIZE",
    "SIZE_CONTENT_TYPE",
    "AddCheckpointRequest",
    "format_size",
    "parse_add_checkpoint",
    "parse_cosignatures",
    "parse_size",
]

ADD_CHECKPOINT_PATH: Final = "/add-checkpoint"
SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"
MAX_PROOF_LINES: Final = 63
"""The spec: a client MUST NOT send more than 63 consistency proof lines."""
MAX_REQUEST_SIZE: Final = MAX_NOTE_SIZE + 4096
"""Upper bound of a well-formed request: the old line, 63 base64 hashes, a maximal note."""

_DECIMAL: Final = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class AddCheckpointRequest:
    """An add-checkpoint request: the size the client believes the witness holds, a
    consistency proof from it, and the signed checkpoint note (exact bytes, not yet verified)."""

    old_size: int
    proof: tuple[bytes, ...]
    note: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.old_size <= MAX_TREE_SIZE:
            raise FormatError(f"old size {self.old_size} is outside 0..2^63-1")
        if len(self.proof) > MAX_PROOF_LINES:
            raise LimitExceededError(f"{len(self.proof)} consistency proof lines; at most {MAX_PROOF_LINES}")
        if any(len(h) != HASH_SIZE for h in self.proof):
            raise FormatError(f"every consistency proof hash must be {HASH_SIZE} bytes")

    def format(self) -> bytes:
        lines = [f"old {self.old_size}", *(base64.b64encode(h).decode("ascii") for h in self.proof)]
        return ("".join(line + "\n" for line in lines) + "\n").encode("ascii") + self.note


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Split a request body into old size, proof and note; the note is only split off here
    (the witness parses and verifies it, so that it can answer 404 and 403 as the spec says)."""
    if len(body) > MAX_REQUEST_SIZE:
        raise LimitExceededError(f"request is {len(body)} bytes; at most {MAX_REQUEST_SIZE}")
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise FormatError("request has no empty line between the old size and proof and the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as e:
        raise FormatError("old size and proof lines must be ASCII") from e
    if len(lines) > MAX_PROOF_LINES + 1:
        raise LimitExceededError(f"{len(lines) - 1} consistency proof lines; at most {MAX_PROOF_LINES}")
    old_text = lines[0].removeprefix("old ")
    if old_text == lines[0] or _DECIMAL.fullmatch(old_text) is None:
        raise FormatError(
            f"first line {lines[0][:40]!r} is not 'old <size>' (decimal, no sign or leading zeros)"
        )
    proof = tuple(decode_base64(line, f"consistency proof line {n}") for n, line in enumerate(lines[1:], 1))
    if not note:
        raise FormatError("request carries no checkpoint after the empty line")
    return AddCheckpointRequest(int(old_text), proof, note)


def format_size(size: int) -> bytes:
    """The body of a 409 answer: the size the witness holds."""
    return f"{size}\n".encode("ascii")


def parse_size(body: bytes) -> int:
    """The size in a 409 answer's ``text/x.tlog.size`` body."""
    text = body.decode("ascii", "replace")
    if not text.endswith("\n") or _DECIMAL.fullmatch(text[:-1]) is None:
        raise FormatError(f"409 body {text[:40]!r} is not a tree size and a newline")
    size = int(text[:-1])
    if size > MAX_TREE_SIZE:
        raise FormatError(f"409 body names size {size}, over 2^63-1")
    return size


def parse_cosignatures(body: bytes, checkpoint_text: str) -> Note:
    """A 200 answer's signature lines, as the spec suggests, concatenated to the checkpoint
    text: a note to open with the witness keys the caller trusts (others are ignored)."""
    if len(body) > MAX_NOTE_SIZE:
        raise LimitExceededError(f"answer is {len(body)} bytes; at most {MAX_NOTE_SIZE}")
    return parse_note(checkpoint_text.encode("utf-8") + b"\n" + body)
