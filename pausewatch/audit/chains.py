"""Replaying every attestor chain in log order, as the verifier's ingest did.

The verifier decides each report with :func:`pausewatch.chain.classify_link` on state it
loads from storage: the head is the highest seq accepted as NEXT or GAP; ``at_seq``,
``before`` and ``after_prev`` come from the FIRST stored report at a seq. The auditor rebuilds
that state from the log. To stay within about 100 bytes per report on a million-entry log,
and because the workers that verified the signatures send back digests rather than
envelopes, the replay applies ``classify_link``'s decision table to *digests* (two envelopes
are equal exactly when their SHA-256 digests are). ``tests/audit/test_chains.py`` drives both
with the same random histories and requires the same decision every time, so the two cannot
drift apart silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pausewatch.chain import LinkKind
from pausewatch.errors import InternalError

__all__ = ["ChainReplay", "CompactLink", "LinkOutcome"]


@dataclass(frozen=True)
class CompactLink:
    """What the chain decision reads of a report: key, seq, boot, prev, and its digest."""

    key_id: str
    seq: int
    boot_id: bytes
    prev: bytes
    digest: bytes


@dataclass(frozen=True)
class LinkOutcome:
    kind: LinkKind
    new_boot: bool = False
    missing: range | None = None

    @property
    def advances_head(self) -> bool:
        return self.kind in (LinkKind.NEXT, LinkKind.GAP)

    @property
    def stores(self) -> bool:
        return self.kind is not LinkKind.DUPLICATE


@dataclass
class _KeyChain:
    head_seq: int
    head_digest: bytes
    head_boot: bytes
    first_at: dict[int, bytes] = field(default_factory=dict)  # seq -> digest || prev


def decide(chain: _KeyChain | None, link: CompactLink) -> LinkOutcome:
    """``classify_link``'s table on digests (see the module docstring)."""
    seq = link.seq
    if chain is None:
        return LinkOutcome(LinkKind.NEXT) if seq == 0 else LinkOutcome(LinkKind.GAP, missing=range(seq))
    head_seq = chain.head_seq
    new_boot = link.boot_id != chain.head_boot
    if seq == head_seq + 1:
        kind = LinkKind.NEXT if link.prev == chain.head_digest else LinkKind.FORK
        return LinkOutcome(kind, new_boot=new_boot)
    if seq > head_seq + 1:
        return LinkOutcome(LinkKind.GAP, new_boot=new_boot, missing=range(head_seq + 1, seq))
    stored = chain.head_digest if seq == head_seq else _digest(chain.first_at.get(seq))
    if stored is not None and stored == link.digest:
        return LinkOutcome(LinkKind.DUPLICATE)
    if seq == head_seq:
        return LinkOutcome(LinkKind.FORK, new_boot=new_boot)
    if stored is not None:
        return LinkOutcome(LinkKind.ROLLBACK if new_boot else LinkKind.FORK, new_boot=new_boot)
    before = _digest(chain.first_at.get(seq - 1)) if seq > 0 else None
    after = chain.first_at.get(seq + 1)
    after_prev = after[32:] if after is not None else None
    if seq > 0 and before is not None and link.prev != before:
        return LinkOutcome(LinkKind.FORK, new_boot=new_boot)
    if after_prev is not None and after_prev != link.digest:
        return LinkOutcome(LinkKind.ROLLBACK, new_boot=new_boot)
    if before is None and seq > 0 and after_prev is None:
        raise InternalError("BACKFILL needs at least one stored neighbour to check against")
    return LinkOutcome(LinkKind.BACKFILL, new_boot=new_boot)


def _digest(record: bytes | None) -> bytes | None:
    return None if record is None else record[:32]


class ChainReplay:
    """Feed reports in log order with :meth:`add`; each call returns its :class:`LinkOutcome`."""

    def __init__(self) -> None:
        self._chains: dict[str, _KeyChain] = {}

    @property
    def keys(self) -> int:
        return len(self._chains)

    def add(self, link: CompactLink) -> LinkOutcome:
        chain = self._chains.get(link.key_id)
        outcome = decide(chain, link)
        if chain is None:
            chain = _KeyChain(link.seq, link.digest, link.boot_id)
            self._chains[link.key_id] = chain
        elif outcome.advances_head:
            chain.head_seq, chain.head_digest, chain.head_boot = link.seq, link.digest, link.boot_id
        if outcome.stores:
            chain.first_at.setdefault(link.seq, link.digest + link.prev)
        return outcome
