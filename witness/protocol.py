"""What a witness decides about an add-checkpoint request (c2sp.org/tlog-witness): pure code.

The checks, in the spec's order, each with its status:

1. the body splits into old size, at most 63 proof hashes and a checkpoint (else 400);
2. the checkpoint's origin is a configured log (else 404);
3. a signature by that log's key verifies, and no signature by it fails; signatures by other
   keys are ignored (else 403; a malformed signature line counts as one that does not verify);
4. the old size is at most the checkpoint's size (else 400);
5. against the stored state, atomically with the update (:mod:`witness.store`): the old size is
   the size the witness last cosigned for the log (else 409 and that size); at equal sizes the
   roots are equal (else 409); otherwise the consistency proof from the *stored* root verifies
   (else 422).

Only a request that passes 1-4 can change anything or be kept as evidence: a stranger's bytes
cost one parse and at most one signature check, and leave nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pausewatch.checkpoint import Checkpoint, parse_checkpoint
from pausewatch.errors import InputError
from pausewatch.merkle import verify_consistency
from pausewatch.note import Note, open_note, parse_note
from pausewatch.tlog_witness import AddCheckpointRequest, parse_add_checkpoint
from witness.config import TrustedLog

__all__ = ["Rejected", "StoredHead", "Submission", "check_against_head", "open_submission"]


class Rejected(Exception):  # noqa: N818 -- an answer, not an error of ours
    """The request's answer is ``status`` with the one-line ``reason``; ``size`` for a 409."""

    def __init__(self, status: int, reason: str, *, size: int | None = None, evidence: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.size = size
        self.evidence = evidence
        """True when the request was signed by the log: worth keeping as proof of misbehaviour."""


@dataclass(frozen=True)
class StoredHead:
    """What the witness holds for a log: the size and root it last cosigned (0 and the empty
    root before the first)."""

    size: int
    root: bytes


@dataclass(frozen=True)
class Submission:
    """A request that passed checks 1-4: a signed checkpoint of a configured log."""

    request: AddCheckpointRequest
    note: Note
    checkpoint: Checkpoint
    log: TrustedLog


def open_submission(body: bytes, logs: Sequence[TrustedLog]) -> Submission:
    """Checks 1-4; raise :class:`Rejected` with the spec's status."""
    try:
        request = parse_add_checkpoint(body)
    except InputError as e:
        raise Rejected(400, f"malformed request: {e}") from e
    split = request.note.rfind(b"\n\n")
    try:
        checkpoint = parse_checkpoint(request.note[: split + 1] if split >= 0 else request.note)
    except InputError as e:
        raise Rejected(400, f"malformed checkpoint: {e}") from e
    log = next((lg for lg in logs if lg.origin == checkpoint.origin), None)
    if log is None:
        raise Rejected(404, f"unknown log: origin {checkpoint.origin[:100]!r} is not witnessed here")
    try:
        note = parse_note(request.note)
        open_note(note, [log.verifier])
    except InputError as e:
        raise Rejected(403, f"invalid signature: {e}") from e
    if request.old_size > checkpoint.size:
        raise Rejected(
            400, f"old size {request.old_size} is larger than the checkpoint's size {checkpoint.size}"
        )
    return Submission(request, note, checkpoint, log)


def check_against_head(submission: Submission, head: StoredHead) -> None:
    """Check 5: the submission extends what the witness holds; raise :class:`Rejected`."""
    old, cp = submission.request.old_size, submission.checkpoint
    if old != head.size:
        raise Rejected(409, f"old size {old}, but this witness holds size {head.size}", size=head.size)
    if old == cp.size:
        if cp.root_hash != head.root:
            raise Rejected(
                409,
                f"a different root for size {cp.size} than the one this witness cosigned",
                size=head.size,
                evidence=True,
            )
        return
    try:
        verify_consistency(old, cp.size, list(submission.request.proof), head.root, cp.root_hash)
    except InputError as e:
        raise Rejected(422, f"bad consistency proof from size {old} to {cp.size}: {e}", evidence=True) from e
