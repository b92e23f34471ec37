"""Hash chains of signed reports: one pure decision per new report.

Every attestor key (node or meter) signs an unbroken chain: report ``seq`` n+1 carries
``prev`` = SHA-256 of report n's envelope bytes, and ``boot_id`` changes each time the daemon
starts. Given what the verifier already holds for that key (a ``ChainState``) and a new,
signature-verified report, ``classify_link`` says what the report is:

- ``NEXT``: the next link (``new_boot`` tells whether the daemon restarted in between);
- ``DUPLICATE``: byte-identical to a stored report: idempotent, answer with the original receipt;
- ``GAP``: ahead of the head; ``missing`` names the sequence numbers not seen;
- ``BACKFILL``: fills a hole left by an earlier gap, and fits its stored neighbours;
- ``FORK``: conflicts with a stored report (same seq, other bytes; or a ``prev`` that does not
  match the stored predecessor); ``proof`` holds both signed envelopes;
- ``ROLLBACK``: reuses a sequence number below the head with other content: the attestor's
  state was rolled back. Also carries a proof when the stored report at that seq is known.

The function reads nothing and writes nothing; the caller loads the state and stores the
outcome. Equivocation proofs are portable: ``EquivocationProof.verify`` needs only the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pausewatch.envelope import envelope_digest, parse_envelope, verify_envelope
from pausewatch.errors import VerificationError
from pausewatch.keys import PublicKey
from pausewatch.reports import ReportHeader, decode_report

__all__ = [
    "ChainDecision",
    "ChainState",
    "EquivocationProof",
    "LinkKind",
    "NewLink",
    "classify_link",
]


class LinkKind(Enum):
    NEXT = "next"
    DUPLICATE = "duplicate"
    GAP = "gap"
    BACKFILL = "backfill"
    FORK = "fork"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class NewLink:
    """A verified report as the chain sees it."""

    header: ReportHeader
    envelope: bytes

    @property
    def digest(self) -> bytes:
        return envelope_digest(self.envelope)


@dataclass(frozen=True)
class ChainState:
    """What the caller holds for one key.

    ``head`` is the stored report with the highest seq. ``at_seq`` is the stored envelope with
    the new report's seq, if any (the caller looks it up only when seq <= head seq);
    ``before`` the stored envelope at seq-1 and ``after_prev`` the ``prev`` of the stored report
    at seq+1, both only needed for BACKFILL.
    """

    head: NewLink
    at_seq: bytes | None = None
    before: bytes | None = None
    after_prev: bytes | None = None


@dataclass(frozen=True)
class EquivocationProof:
    """Two envelopes signed by one key that cannot both belong to one honest chain."""

    first: bytes
    second: bytes
    reason: str

    def verify(self, key: PublicKey) -> None:
        """Return nothing if the proof stands on its own under ``key``; raise otherwise."""
        if self.first == self.second:
            raise VerificationError("equivocation proof holds the same envelope twice")
        headers = []
        signed = []
        for raw in (self.first, self.second):
            env = parse_envelope(raw)
            verify_envelope(env, key)
            header, _ = decode_report(env)
            headers.append(header)
            signed.append((env.payload_type, env.payload))
        if signed[0] == signed[1]:
            raise VerificationError("equivocation proof holds one signed report twice, in other bytes")
        a, b = headers
        if (a.kind, a.key_id) != (b.kind, b.key_id):
            raise VerificationError("equivocation proof mixes reports of different chains")
        same_seq = a.seq == b.seq
        # b claims a predecessor at a.seq that is not a.
        branch = b.seq == a.seq + 1 and b.prev != envelope_digest(self.first)
        if not (same_seq or branch):
            raise VerificationError(
                f"reports {a.seq} and {b.seq} do not conflict: neither the same seq nor a branch"
            )


@dataclass(frozen=True)
class ChainDecision:
    kind: LinkKind
    new_boot: bool = False
    missing: range | None = None
    proof: EquivocationProof | None = None

    @property
    def advances_head(self) -> bool:
        return self.kind in (LinkKind.NEXT, LinkKind.GAP)

    @property
    def stores(self) -> bool:
        """Whether the report is kept: everything authentic is evidence, duplicates aside."""
        return self.kind is not LinkKind.DUPLICATE


def classify_link(state: ChainState | None, link: NewLink) -> ChainDecision:
    """Decide what ``link`` is relative to ``state`` (None: the key has no stored report)."""
    seq = link.header.seq
    if state is None:
        if seq == 0:
            return ChainDecision(LinkKind.NEXT)
        return ChainDecision(LinkKind.GAP, missing=range(seq))

    head = state.head
    head_seq = head.header.seq
    new_boot = link.header.boot_id != head.header.boot_id

    if seq == head_seq + 1:
        if link.header.prev == head.digest:
            return ChainDecision(LinkKind.NEXT, new_boot=new_boot)
        proof = EquivocationProof(head.envelope, link.envelope, "prev does not match the head")
        return ChainDecision(LinkKind.FORK, new_boot=new_boot, proof=proof)

    if seq > head_seq + 1:
        return ChainDecision(LinkKind.GAP, new_boot=new_boot, missing=range(head_seq + 1, seq))

    stored = head.envelope if seq == head_seq else state.at_seq
    if stored is not None and stored == link.envelope:
        return ChainDecision(LinkKind.DUPLICATE)
    if seq == head_seq:
        proof = EquivocationProof(head.envelope, link.envelope, f"two reports with seq {seq}")
        return ChainDecision(LinkKind.FORK, new_boot=new_boot, proof=proof)
    if stored is not None:
        proof = EquivocationProof(stored, link.envelope, f"two reports with seq {seq}")
        kind = LinkKind.ROLLBACK if new_boot else LinkKind.FORK
        return ChainDecision(kind, new_boot=new_boot, proof=proof)
    return _backfill(state, link, new_boot)


def _backfill(state: ChainState, link: NewLink, new_boot: bool) -> ChainDecision:
    seq = link.header.seq
    if seq > 0 and state.before is not None and link.header.prev != envelope_digest(state.before):
        proof = EquivocationProof(state.before, link.envelope, "prev does not match the stored predecessor")
        return ChainDecision(LinkKind.FORK, new_boot=new_boot, proof=proof)
    if state.after_prev is not None and state.after_prev != link.digest:
        # The stored successor committed to a different report at this seq: a rollback of
        # sequence numbers into a hole. No second envelope with this seq exists to prove it.
        return ChainDecision(LinkKind.ROLLBACK, new_boot=new_boot)
    # With no stored neighbour (a hole inside a hole) nothing contradicts it yet; a stored
    # neighbour arriving later is checked against it in turn.
    return ChainDecision(LinkKind.BACKFILL, new_boot=new_boot)
