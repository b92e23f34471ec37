"""Replaying every attestor chain in log order, as the verifier's ingest did.

The verifier decides each report with :func:`pausewatch.chain.classify_link` on state it
loads from storage: the head is the highest seq accepted as NEXT or GAP; ``at_seq``,
``before`` and ``after_prev`` come from the FIRST stored report at a seq. The auditor rebuilds
that state from the log, in about 100 bytes per report (digests, not envelopes: the workers
that verified the signatures send back digests), and calls the very same rule,
:func:`pausewatch.chain.decide_link`, which works on digests — there is no second copy of the
decision table to drift (a copy once raised ``InternalError`` on a chain with seq 0, 10, 5
that the verifier had accepted as a backfill). ``tests/audit/test_chains.py`` drives both
with the same random histories, wide holes and reorderings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pausewatch.chain import LinkDecision, LinkFacts, decide_link

__all__ = ["ChainReplay", "CompactLink", "LinkOutcome"]


@dataclass(frozen=True)
class CompactLink:
    """What the chain decision reads of a report: key, seq, boot, prev, and its digest."""

    key_id: str
    seq: int
    boot_id: bytes
    prev: bytes
    digest: bytes


LinkOutcome = LinkDecision  # the auditor's name for the core rule's answer


@dataclass
class _KeyChain:
    head_seq: int
    head_digest: bytes
    head_boot: bytes
    first_at: dict[int, bytes] = field(default_factory=dict)  # seq -> digest || prev


def decide(chain: _KeyChain | None, link: CompactLink) -> LinkDecision:
    """:func:`pausewatch.chain.decide_link` on the replayed state of one key."""
    facts = LinkFacts(link.seq, link.boot_id, link.prev, link.digest)
    if chain is None:
        return decide_link(None, facts)
    after = chain.first_at.get(link.seq + 1)
    return decide_link(
        LinkFacts(chain.head_seq, chain.head_boot, b"", chain.head_digest),
        facts,
        at_seq=_digest(chain.first_at.get(link.seq)),
        before=_digest(chain.first_at.get(link.seq - 1)) if link.seq > 0 else None,
        after_prev=after[32:] if after is not None else None,
    )


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
