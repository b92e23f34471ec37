"""Checks on what the verifier's log says about our reports: pure, no network.

- ``verify_receipt``: the receipt's checkpoint is signed by the configured log key for the
  configured origin; its ``leaf_hash`` is ``merkle.leaf_hash`` of *our* envelope bytes; the log
  index is inside the tree; the inclusion proof leads from that leaf to the checkpoint's root.
  A bad signature is ``ReceiptError("receipt.invalid")``; a leaf that is not proven to be in
  the tree is ``ReceiptError("log.omission")``.
- ``verify_consistency_with``: two checkpoints of the same log, either order, are consistent
  (equal sizes need equal roots; otherwise the RFC 9162 consistency proof from the smaller to
  the larger verifies). Anything else is ``ReceiptError("log.fork")`` — also a checkpoint
  smaller than one verified before, when the log cannot prove the two consistent (a verifier
  that lost its database and started a new tree under the same key).
- ``verify_checkpoint``: a checkpoint served on its own (``GetCheckpoint``) is signed by the
  log key, else ``receipt.invalid``.

- ``open_witness_checkpoint``: a checkpoint served by a witness of the attestor's C2SP policy
  (``GET <witness url>/checkpoint/<origin>``) is signed by the log and cosigned by that witness;
  ``witnessed`` says whether a checkpoint meets the policy's witness quorum. The daemon then
  checks the witness's checkpoint consistent with its own view (``verify_consistency_with``):
  a failure there is ``log.split_view`` — the log showed that witness another history.

The alarm kinds (``receipt.invalid``, ``log.omission``, ``log.fork``, ``log.split_view``) are the
ids the daemon logs, counts in metrics and shows in ``status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pausewatch.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from pausewatch.errors import InputError, VerificationError
from pausewatch.merkle import leaf_hash, verify_consistency, verify_inclusion
from pausewatch.note import NoteVerifier, open_note
from pausewatch.policy import Policy, PolicyWitness, check_checkpoint
from pausewatch.v1 import types_pb2

__all__ = [
    "LogTrust",
    "ReceiptError",
    "VerifiedReceipt",
    "open_witness_checkpoint",
    "verify_checkpoint",
    "verify_consistency_with",
    "verify_receipt",
    "witnessed",
]


class ReceiptError(VerificationError):
    """A receipt or checkpoint that does not hold up; ``kind`` is the alarm id."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@dataclass(frozen=True)
class LogTrust:
    """The log we trust: its origin line and its checkpoint-signing key."""

    origin: str
    verifier: NoteVerifier


@dataclass(frozen=True)
class VerifiedReceipt:
    log_index: int
    checkpoint: Checkpoint
    note: bytes


def verify_receipt(envelope: bytes, receipt: types_pb2.Receipt, trust: LogTrust) -> VerifiedReceipt:
    """Return the verified receipt for ``envelope``; raise ReceiptError otherwise."""
    try:
        checkpoint = open_checkpoint(receipt.checkpoint, trust.verifier, origin=trust.origin)
    except InputError as e:
        raise ReceiptError("receipt.invalid", f"checkpoint does not verify under the log key: {e}") from e
    expected = leaf_hash(envelope)
    if receipt.leaf_hash != expected:
        raise ReceiptError(
            "log.omission", f"receipt names leaf {receipt.leaf_hash.hex()[:16]}, not our report"
        )
    if receipt.log_index >= checkpoint.size:
        raise ReceiptError(
            "log.omission", f"log index {receipt.log_index} is outside the tree of {checkpoint.size}"
        )
    try:
        verify_inclusion(
            expected, receipt.log_index, checkpoint.size, list(receipt.inclusion_proof), checkpoint.root_hash
        )
    except InputError as e:
        raise ReceiptError(
            "log.omission", f"report is not proven included at {receipt.log_index}: {e}"
        ) from e
    return VerifiedReceipt(receipt.log_index, checkpoint, bytes(receipt.checkpoint))


def verify_checkpoint(note: bytes, trust: LogTrust) -> Checkpoint:
    """A checkpoint the verifier serves, signed by the configured log key for its origin."""
    try:
        return open_checkpoint(note, trust.verifier, origin=trust.origin)
    except InputError as e:
        raise ReceiptError("receipt.invalid", f"checkpoint does not verify under the log key: {e}") from e


def verify_consistency_with(
    old_size: int, old_root: bytes, new_size: int, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Two views of one log agree; ``proof`` goes from the smaller tree to the larger."""
    if old_size == new_size:
        if old_root != new_root:
            raise ReceiptError("log.fork", f"two different roots for tree size {new_size}")
        return
    small, big = (
        ((old_size, old_root), (new_size, new_root))
        if old_size < new_size
        else ((new_size, new_root), (old_size, old_root))
    )
    try:
        verify_consistency(small[0], big[0], list(proof), small[1], big[1])
    except InputError as e:
        raise ReceiptError("log.fork", f"tree {small[0]} is not a prefix of tree {big[0]}: {e}") from e


def witnessed(note: bytes, policy: Policy) -> tuple[str, ...] | None:
    """The policy witnesses whose cosignatures make ``note`` meet the quorum; None if it does not."""
    try:
        return check_checkpoint(note, policy).witnesses
    except InputError:
        return None


def open_witness_checkpoint(note: bytes, trust: LogTrust, witness: PolicyWitness) -> Checkpoint:
    """A witness's latest checkpoint: the log's signature and this witness's cosignature verify.
    A witness serving anything else is broken (``witness.invalid``), not evidence about the log."""
    try:
        opened = open_note(note, [trust.verifier, witness.verifier])
        signers = {(sig.name, sig.key_id) for _, sig in opened.verified}
        if (witness.key.name, witness.key.key_id) not in signers:
            raise VerificationError(f"no cosignature by {witness.name}")
        if (trust.verifier.name, trust.verifier.key_id) not in signers:
            raise VerificationError("no signature by the log key")
        return parse_checkpoint(opened.text, origin=trust.origin)
    except InputError as e:
        raise ReceiptError(
            "witness.invalid", f"witness {witness.name} served a checkpoint that does not verify: {e}"
        ) from e
