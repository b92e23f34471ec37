"""The auditor's digest-based chain replay decides exactly as pausewatch.chain.classify_link
does on the verifier's stored state, over random histories with gaps, forks, rollbacks,
backfills and duplicates."""

from __future__ import annotations

import random

from auditor.chains import ChainReplay, CompactLink
from pausewatch.chain import ChainState, LinkKind, NewLink, classify_link
from pausewatch.envelope import PayloadType, envelope_digest, sign_envelope
from pausewatch.keys import Ed25519Signer
from pausewatch.reports import ReportHeader, ReportKind
from pausewatch.v1 import types_pb2

KEY = Ed25519Signer.from_seed(b"\x05" * 32)


def make(seq: int, prev: bytes, boot: bytes, salt: int) -> tuple[ReportHeader, bytes]:
    msg = types_pb2.UsageReport(
        attestor_key_id=KEY.public_key.key_id, seq=seq, prev=prev, boot_id=boot, signed_unix_ns=salt
    )
    env = sign_envelope(PayloadType.USAGE_REPORT, msg.SerializeToString(deterministic=True), [KEY])
    header = ReportHeader(
        ReportKind.USAGE, KEY.public_key.key_id, "fac", "n", boot, seq, prev, 1, 2, bytes(32), salt
    )
    return header, env


class StoredState:
    """What the verifier's storage holds: first report per seq, head advanced on NEXT/GAP."""

    def __init__(self) -> None:
        self.first: dict[int, NewLink] = {}
        self.head: NewLink | None = None

    def decide(self, link: NewLink) -> LinkKind:
        state = None
        if self.head is not None:
            s = link.header.seq
            at = self.first.get(s)
            before = self.first.get(s - 1)
            after = self.first.get(s + 1)
            state = ChainState(
                self.head,
                at_seq=at.envelope if at else None,
                before=before.envelope if before else None,
                after_prev=after.header.prev if after else None,
            )
        try:
            d = classify_link(state, link)
        except Exception as e:
            return type(e).__name__  # type: ignore[return-value]
        if d.advances_head:
            self.head = link
        if d.stores:
            self.first.setdefault(link.header.seq, link)
        return d.kind


def test_replay_matches_classify_link_on_random_histories() -> None:
    rng = random.Random(7)
    kinds_seen: set[object] = set()
    for trial in range(150):
        stored, replay = StoredState(), ChainReplay()
        sent: list[tuple[ReportHeader, bytes]] = []
        boot = b"\x01" * 16
        for step in range(12):
            r = rng.random()
            if sent and r < 0.12:
                header, env = rng.choice(sent)  # exact duplicate
            else:
                seq = max(0, (sent[-1][0].seq if sent else -1) + rng.choice([1, 1, 1, 2, 3, -1, -2, 0]))
                if rng.random() < 0.1:
                    boot = bytes([rng.randrange(256)]) * 16
                prev = (
                    b""
                    if seq == 0
                    else (
                        envelope_digest(sent[-1][1])
                        if sent and rng.random() < 0.8
                        else bytes([rng.randrange(256)]) * 32
                    )
                )
                header, env = make(seq, prev, boot, trial * 100 + step)
            sent.append((header, env))
            expected = stored.decide(NewLink(header, env))
            try:
                got: object = replay.add(
                    CompactLink(header.key_id, header.seq, header.boot_id, header.prev, envelope_digest(env))
                ).kind
            except Exception as e:
                got = type(e).__name__
            assert got == expected, (trial, step, header.seq)
            kinds_seen.add(expected)
    assert {LinkKind.NEXT, LinkKind.GAP, LinkKind.FORK, LinkKind.DUPLICATE, LinkKind.BACKFILL} <= kinds_seen
