"""One test per chain situation of the threat model: replay, gap, restart, fork, rollback."""

import pytest

from pausewatch.chain import ChainState, EquivocationProof, LinkKind, NewLink, classify_link
from pausewatch.envelope import parse_envelope
from pausewatch.errors import SignatureError, VerificationError
from pausewatch.reports import decode_report
from sim.factories import UsageChain, seeded_signer


def link(raw: bytes) -> NewLink:
    header, _ = decode_report(parse_envelope(raw))
    return NewLink(header, raw)


def honest(n: int) -> tuple[UsageChain, list[bytes]]:
    chain = UsageChain(seeded_signer("node"))
    return chain, [chain.next() for _ in range(n)]


def test_first_report_starts_the_chain() -> None:
    _, (first,) = honest(1)
    assert classify_link(None, link(first)).kind is LinkKind.NEXT


def test_first_report_seen_late_in_a_chain_is_a_gap_from_zero() -> None:
    _, envs = honest(4)
    decision = classify_link(None, link(envs[3]))
    assert decision.kind is LinkKind.GAP
    assert decision.missing == range(3)


def test_next_link_and_new_boot() -> None:
    chain, envs = honest(2)
    state = ChainState(head=link(envs[0]))
    assert classify_link(state, link(envs[1])) == classify_link(state, link(envs[1]))
    assert classify_link(state, link(envs[1])).kind is LinkKind.NEXT
    chain.boot_id = b"\x02" * 16
    restarted = chain.next()
    decision = classify_link(ChainState(head=link(envs[1])), link(restarted))
    assert decision.kind is LinkKind.NEXT
    assert decision.new_boot


def test_replay_of_the_head_is_an_idempotent_duplicate() -> None:
    _, envs = honest(2)
    assert classify_link(ChainState(head=link(envs[1])), link(envs[1])).kind is LinkKind.DUPLICATE


def test_replay_of_an_older_report_is_a_duplicate() -> None:
    _, envs = honest(3)
    state = ChainState(head=link(envs[2]), at_seq=envs[0])
    decision = classify_link(state, link(envs[0]))
    assert decision.kind is LinkKind.DUPLICATE
    assert not decision.stores


def test_gap_names_the_missing_sequence_numbers() -> None:
    _, envs = honest(5)
    decision = classify_link(ChainState(head=link(envs[0])), link(envs[4]))
    assert decision.kind is LinkKind.GAP
    assert decision.missing == range(1, 4)
    assert decision.advances_head


def test_equivocation_at_the_head_is_a_fork_with_a_portable_proof() -> None:
    chain, envs = honest(2)
    other = chain.sign(chain.report(seq=1, prev=parse_envelope(envs[0]).digest, node_id="node-02"))
    decision = classify_link(ChainState(head=link(envs[1])), link(other))
    assert decision.kind is LinkKind.FORK
    assert decision.proof is not None
    decision.proof.verify(chain.signer.public_key)
    with pytest.raises(SignatureError):
        decision.proof.verify(seeded_signer("someone else").public_key)


def test_a_successor_with_a_foreign_prev_is_a_fork() -> None:
    chain, envs = honest(2)
    branch = chain.sign(chain.report(seq=2, prev=b"\x09" * 32))
    decision = classify_link(ChainState(head=link(envs[1])), link(branch))
    assert decision.kind is LinkKind.FORK
    assert decision.proof is not None
    decision.proof.verify(chain.signer.public_key)


def test_reused_sequence_number_after_restart_is_a_rollback() -> None:
    chain, envs = honest(4)
    chain.boot_id = b"\x03" * 16
    replayed = chain.sign(chain.report(seq=1, prev=parse_envelope(envs[0]).digest))
    state = ChainState(head=link(envs[3]), at_seq=envs[1])
    decision = classify_link(state, link(replayed))
    assert decision.kind is LinkKind.ROLLBACK
    assert decision.proof is not None
    decision.proof.verify(chain.signer.public_key)


def test_backfill_must_fit_both_stored_neighbours() -> None:
    _, envs = honest(4)
    state = ChainState(head=link(envs[3]), before=envs[0], after_prev=parse_envelope(envs[1]).digest)
    assert classify_link(state, link(envs[1])).kind is LinkKind.BACKFILL
    wrong_successor = ChainState(head=link(envs[3]), before=envs[0], after_prev=b"\x05" * 32)
    assert classify_link(wrong_successor, link(envs[1])).kind is LinkKind.ROLLBACK


def test_proof_of_two_unrelated_reports_does_not_verify() -> None:
    chain, envs = honest(3)
    proof = EquivocationProof(envs[0], envs[2], "not a conflict")
    with pytest.raises(VerificationError, match="do not conflict"):
        proof.verify(chain.signer.public_key)
    with pytest.raises(VerificationError, match="same envelope"):
        EquivocationProof(envs[0], envs[0], "x").verify(chain.signer.public_key)


def _rewrapped(raw: bytes, *, junk_signature: bool = False, keyid: str | None = None) -> bytes:
    """The same signed report in other bytes: what a third party can make of a copy."""
    from pausewatch.v1 import types_pb2

    env = types_pb2.Envelope.FromString(raw)
    if junk_signature:
        env.signatures.add(keyid="x", sig=bytes(64))
    if keyid is not None:
        env.signatures[0].keyid = keyid
    return env.SerializeToString(deterministic=True)


@pytest.mark.parametrize("how", ["junk_signature", "keyid"])
def test_nobody_can_frame_an_attestor_with_a_rewrapped_copy(how: str) -> None:
    """Signatures and key-id hints are outside what is signed: a copy of an honest report
    re-wrapped in other bytes must not pass as a second, conflicting report."""
    from pausewatch.errors import InputError

    chain, envs = honest(2)
    copy = _rewrapped(envs[1], junk_signature=how == "junk_signature", keyid="f" * 64 if how == "keyid" else None)
    assert copy != envs[1]
    # Structurally a fine envelope around the very same signed payload.
    assert parse_envelope(copy).payload == parse_envelope(envs[1]).payload
    with pytest.raises(InputError, match="signature"):
        decode_report(parse_envelope(copy))
    with pytest.raises(InputError):
        EquivocationProof(envs[1], copy, "forged").verify(chain.signer.public_key)


def test_a_hole_inside_a_hole_is_a_backfill_not_a_crash() -> None:
    """seq 0, then 10, then 5: no stored neighbour of 5 to check it against yet."""
    _, envs = honest(11)
    state = ChainState(head=link(envs[10]))
    assert classify_link(state, link(envs[5])).kind is LinkKind.BACKFILL
