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

The rule itself is :func:`decide_link`, on digests — the one function the verifier's
``classify_link`` and the auditor's chain replay both call. It reads nothing and writes
nothing; the caller loads the state and stores the outcome. Equivocation proofs are portable:
``EquivocationProof.verify`` needs only the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from pausewatch.envelope import envelope_digest, parse_envelope, verify_envelope
from pausewatch.errors import InternalError, VerificationError
from pausewatch.keys import PublicKey
from pausewatch.reports import ReportHeader, decode_report

__all__ = [
    "ChainDecision",
    "ChainState",
    "Counterpart",
    "EquivocationProof",
    "LinkDecision",
    "LinkFacts",
    "LinkKind",
    "NewLink",
    "classify_link",
    "decide_link",
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
    # the envelope's digest, when the caller already holds it (not part of the link's identity)
    known_digest: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def digest(self) -> bytes:
        return self.known_digest if self.known_digest is not None else envelope_digest(self.envelope)


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


class Counterpart(Enum):
    """Which stored report a conflicting link conflicts with (for the equivocation proof)."""

    HEAD = "head"
    AT_SEQ = "at_seq"
    BEFORE = "before"


@dataclass(frozen=True)
class LinkFacts:
    """What the chain rule reads of a report: its seq, boot, ``prev`` and envelope digest."""

    seq: int
    boot_id: bytes
    prev: bytes
    digest: bytes


@dataclass(frozen=True)
class LinkDecision:
    """The chain rule's answer on digests; ``against`` names the stored report a FORK or
    ROLLBACK conflicts with (None when no second envelope at that seq exists)."""

    kind: LinkKind
    new_boot: bool = False
    missing: range | None = None
    against: Counterpart | None = None
    reason: str = ""

    @property
    def advances_head(self) -> bool:
        return self.kind in (LinkKind.NEXT, LinkKind.GAP)

    @property
    def stores(self) -> bool:
        """Whether the report is kept: everything authentic is evidence, duplicates aside."""
        return self.kind is not LinkKind.DUPLICATE


def decide_link(
    head: LinkFacts | None,
    link: LinkFacts,
    *,
    at_seq: bytes | None = None,
    before: bytes | None = None,
    after_prev: bytes | None = None,
) -> LinkDecision:
    """THE chain rule, on digests: the verifier (:func:`classify_link`) and the auditor
    (:class:`auditor.chains.ChainReplay`) both call it, so they cannot disagree.

    ``head`` is the stored report with the highest seq (None: the key has none). For a seq at
    or below the head: ``at_seq`` is the digest of the first stored report with the link's
    seq; ``before`` the digest of the first stored report at seq-1 and ``after_prev`` the
    ``prev`` of the first stored report at seq+1. Total: every input has an answer, whatever
    holes and reorderings the chain went through.
    """
    seq = link.seq
    if head is None:
        if seq == 0:
            return LinkDecision(LinkKind.NEXT)
        return LinkDecision(LinkKind.GAP, missing=range(seq))
    new_boot = link.boot_id != head.boot_id
    if seq == head.seq + 1:
        if link.prev == head.digest:
            return LinkDecision(LinkKind.NEXT, new_boot=new_boot)
        return LinkDecision(LinkKind.FORK, new_boot, None, Counterpart.HEAD, "prev does not match the head")
    if seq > head.seq + 1:
        return LinkDecision(LinkKind.GAP, new_boot=new_boot, missing=range(head.seq + 1, seq))
    stored = head.digest if seq == head.seq else at_seq
    if stored is not None and stored == link.digest:
        return LinkDecision(LinkKind.DUPLICATE)
    if seq == head.seq:
        return LinkDecision(LinkKind.FORK, new_boot, None, Counterpart.HEAD, f"two reports with seq {seq}")
    if stored is not None:
        kind = LinkKind.ROLLBACK if new_boot else LinkKind.FORK
        return LinkDecision(kind, new_boot, None, Counterpart.AT_SEQ, f"two reports with seq {seq}")
    # a backfill: it must fit the stored neighbours it has
    if seq > 0 and before is not None and link.prev != before:
        return LinkDecision(
            LinkKind.FORK, new_boot, None, Counterpart.BEFORE, "prev does not match the stored predecessor"
        )
    if after_prev is not None and after_prev != link.digest:
        # The stored successor committed to a different report at this seq: a rollback of
        # sequence numbers into a hole. No second envelope with this seq exists to prove it.
        return LinkDecision(LinkKind.ROLLBACK, new_boot=new_boot)
    # With no stored neighbour (a hole inside a hole) nothing contradicts it yet; a stored
    # neighbour arriving later is checked against it in turn.
    return LinkDecision(LinkKind.BACKFILL, new_boot=new_boot)


@dataclass(frozen=True)
class ChainDecision:
    """:class:`LinkDecision` with the equivocation proof built from the stored envelopes."""

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


def _facts(link: NewLink) -> LinkFacts:
    return LinkFacts(link.header.seq, link.header.boot_id, link.header.prev, link.digest)


def classify_link(state: ChainState | None, link: NewLink) -> ChainDecision:
    """Decide what ``link`` is relative to ``state`` (None: the key has no stored report):
    :func:`decide_link` on the envelopes' digests, plus the proof of a conflict."""
    if state is None:
        d = decide_link(None, _facts(link))
        return ChainDecision(d.kind, d.new_boot, d.missing)
    d = decide_link(
        _facts(state.head),
        _facts(link),
        at_seq=None if state.at_seq is None else envelope_digest(state.at_seq),
        before=None if state.before is None else envelope_digest(state.before),
        after_prev=state.after_prev,
    )
    proof = None
    if d.against is not None:
        first = {
            Counterpart.HEAD: state.head.envelope,
            Counterpart.AT_SEQ: state.at_seq,
            Counterpart.BEFORE: state.before,
        }[d.against]
        if first is None:
            raise InternalError(f"the chain rule named a stored {d.against.value} report that is absent")
        proof = EquivocationProof(first, link.envelope, d.reason)
    return ChainDecision(d.kind, d.new_boot, d.missing, proof)
