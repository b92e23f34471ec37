"""Multilateral terms at the verifier's door (issue 19), over real gRPC with real SQLite.

Two parties (``party-a``, ``party-b``) and two labs (``lab-1`` with fac-a, ``lab-2`` with
fac-b). Terms signed by one party alone are refused; co-signed terms take effect; a lab's
commitment or inventory wider than the terms is refused naming the field; a narrower one is
accepted. Bad input — no quorum, an unknown signer, a version contradicting the earlier
window, a tolerance outside physical sense — is refused with the reason, and nothing is
stored (no row, no log entry)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import grpc
import pytest

from pausewatch.commitment import commitment_from_toml
from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.keys import Ed25519Signer
from pausewatch.roots import PartyRoot
from pausewatch.terms import terms_from_toml
from pausewatch.v1 import types_pb2, verifier_pb2
from sim.factories import seeded_signer
from tests.verifier.harness import Running, World, running
from verifier.config import VerifierConfig

req = verifier_pb2.SubmitSignedRequest

TERMS = """
id = "pause-terms"
version = {version}
parties = ["party-a", "party-b"]
signatures_required = 2

[[labs]]
lab_id = "lab-1"

[[labs]]
lab_id = "lab-2"

[window]
start = {start}
end = {end}

[rules]
compute_cap_flop = 1e24
allowed_workloads = ["idle", "inference"]

[tolerances]
overhead_max_ratio = 1.5
"""

COMMITMENT = """
id = "lab-1-pause"
version = {version}
lab_id = "lab-1"
facilities = ["fac-a"]
[window]
start = 2026-01-01T00:00:00Z
end = 2026-07-01T00:00:00Z
[rules]
compute_cap_flop = {cap}
allowed_workloads = ["idle"]
[tolerances]
overhead_max_ratio = {hi}
"""


class TermsWorld(World):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.party_a = seeded_signer("party-a")
        self.party_b = seeded_signer("party-b")
        self.stranger = seeded_signer("party-c")

    def config(self) -> VerifierConfig:
        return dataclasses.replace(
            super().config(),
            parties=(
                PartyRoot("party-a", (self.party_a.public_key,)),
                PartyRoot("party-b", (self.party_b.public_key,)),
            ),
        )

    def terms(
        self,
        *signers: Ed25519Signer,
        version: int = 1,
        start: str = "2026-01-01T00:00:00Z",
        end: str = "2026-07-01T00:00:00Z",
    ) -> bytes:
        msg = terms_from_toml(TERMS.format(version=version, start=start, end=end), "terms.toml")
        return sign_envelope(PayloadType.TERMS, msg.SerializeToString(deterministic=True), signers)

    def commitment(self, *, cap: float = 1e23, hi: float = 1.4, version: int = 1) -> bytes:
        msg = commitment_from_toml(COMMITMENT.format(cap=cap, hi=hi, version=version), "c.toml")
        return sign_envelope(PayloadType.COMMITMENT, msg.SerializeToString(deterministic=True), [self.lab])


def _stored(r: Running) -> tuple[int, int, int]:
    s = r.storage()
    try:
        return s.log_size(), len(s.terms()), len(s.commitments())
    finally:
        s.close()


async def _refused(r: Running, call: str, envelope: bytes, code: grpc.StatusCode, *words: str) -> None:
    before = _stored(r)
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await getattr(r.stub, call)(req(envelope=envelope), timeout=5)
    assert e.value.code() == code, e.value.details()
    for word in words:
        assert word in (e.value.details() or ""), e.value.details()
    assert _stored(r) == before  # nothing stored, nothing logged


def test_terms_take_effect_only_co_signed_and_hold_commitments_to_them(tmp_path: Path) -> None:
    async def scenario() -> None:
        world = TermsWorld(tmp_path)
        async with running(world, enrol=False) as r:
            inv = world.inventory()
            inv.overhead.max_ratio = 1.4
            await r.stub.SubmitInventory(req(envelope=world.sign_inventory(inv)), timeout=5)
            # one party alone: no quorum
            await _refused(
                r,
                "SubmitTerms",
                world.terms(world.party_a),
                grpc.StatusCode.UNAUTHENTICATED,
                "needs 2",
                "party-a",
            )
            # an unknown signer beside the quorum
            await _refused(
                r,
                "SubmitTerms",
                world.terms(world.party_a, world.party_b, world.stranger),
                grpc.StatusCode.UNAUTHENTICATED,
                "no known party",
            )
            # a lab key is not a party key
            await _refused(
                r, "SubmitTerms", world.terms(world.party_a, world.lab), grpc.StatusCode.UNAUTHENTICATED
            )
            # co-signed: in force
            ok = await r.stub.SubmitTerms(req(envelope=world.terms(world.party_a, world.party_b)), timeout=5)
            assert ok.version == 1
            s = r.storage()
            try:
                (logged,) = s.terms()
                assert logged.lab_id == "party-a,party-b"  # who signed, at which log index, when
                assert logged.log_index == ok.receipt.log_index
            finally:
                s.close()
            # a commitment wider than the terms: refused, the field named
            await _refused(
                r,
                "SubmitCommitment",
                world.commitment(cap=1e25),
                grpc.StatusCode.FAILED_PRECONDITION,
                "rules.compute_cap_flop",
            )
            await _refused(
                r,
                "SubmitCommitment",
                world.commitment(hi=1.55),
                grpc.StatusCode.FAILED_PRECONDITION,
                "tolerances.overhead_max_ratio",
            )
            # an inventory band wider than the terms' bounds: refused
            wide = world.inventory(2)
            wide.overhead.max_ratio = 1.55
            before = _stored(r)
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.stub.SubmitInventory(req(envelope=world.sign_inventory(wide)), timeout=5)
            assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "terms pause-terms" in (e.value.details() or "")
            assert _stored(r) == before
            # narrower: accepted
            ok = await r.stub.SubmitCommitment(req(envelope=world.commitment()), timeout=5)
            assert ok.version == 1

    asyncio.run(scenario())


def test_bad_terms_are_refused_with_the_reason_and_nothing_stored(tmp_path: Path) -> None:
    async def scenario() -> None:
        world = TermsWorld(tmp_path)
        both = (world.party_a, world.party_b)
        async with running(world) as r:
            await r.stub.SubmitTerms(req(envelope=world.terms(*both)), timeout=5)
            # a new version contradicting the earlier window (start moved, or end cut)
            await _refused(
                r,
                "SubmitTerms",
                world.terms(*both, version=2, start="2026-02-01T00:00:00Z"),
                grpc.StatusCode.FAILED_PRECONDITION,
                "window.start",
            )
            await _refused(
                r,
                "SubmitTerms",
                world.terms(*both, version=2, end="2026-03-01T00:00:00Z"),
                grpc.StatusCode.FAILED_PRECONDITION,
                "window.end",
            )
            # a replay of the stored version: not a new version
            await _refused(
                r,
                "SubmitTerms",
                world.terms(*both, end="2026-08-01T00:00:00Z"),
                grpc.StatusCode.FAILED_PRECONDITION,
                "version",
            )
            # a tolerance outside physical sense (a crafted payload: the TOML reader refuses it too)
            msg = terms_from_toml(
                TERMS.format(version=2, start="2026-01-01T00:00:00Z", end="2026-08-01T00:00:00Z"), "t"
            )
            msg.tolerances.overhead_max_ratio = 12.0
            crafted = sign_envelope(PayloadType.TERMS, msg.SerializeToString(deterministic=True), both)
            await _refused(
                r, "SubmitTerms", crafted, grpc.StatusCode.INVALID_ARGUMENT, "tolerances.overhead_max_ratio"
            )
            msg.tolerances.overhead_max_ratio = 1.5
            msg.reporting.min_time_coverage = 0.1
            crafted = sign_envelope(PayloadType.TERMS, msg.SerializeToString(deterministic=True), both)
            await _refused(
                r, "SubmitTerms", crafted, grpc.StatusCode.INVALID_ARGUMENT, "reporting.min_time_coverage"
            )
            # a commitment may not take the name of the commitments terms imply
            stolen = types_pb2.Commitment()
            stolen.ParseFromString(
                commitment_from_toml(COMMITMENT.format(cap=1e23, hi=1.4, version=1), "c").SerializeToString()
            )
            stolen.commitment_id = "terms:pause-terms:lab-1"
            env = sign_envelope(
                PayloadType.COMMITMENT, stolen.SerializeToString(deterministic=True), [world.lab]
            )
            await _refused(r, "SubmitCommitment", env, grpc.StatusCode.INVALID_ARGUMENT, "commitment_id")
            # a new version extending the window, with the quorum: in force
            ok = await r.stub.SubmitTerms(
                req(envelope=world.terms(*both, version=2, end="2026-08-01T00:00:00Z")), timeout=5
            )
            assert ok.version == 2

    asyncio.run(scenario())


def test_without_parties_no_terms_take_effect_and_commitments_are_as_before(tmp_path: Path) -> None:
    """A verifier with no [[parties]] refuses terms and behaves as before for everything else."""

    async def scenario() -> None:
        world = World(tmp_path)
        party = seeded_signer("party-a")
        msg = terms_from_toml(
            TERMS.format(version=1, start="2026-01-01T00:00:00Z", end="2026-07-01T00:00:00Z"), "t"
        )
        env = sign_envelope(PayloadType.TERMS, msg.SerializeToString(deterministic=True), [party])
        async with running(world) as r:
            await _refused(r, "SubmitTerms", env, grpc.StatusCode.UNAUTHENTICATED, "no party keys")
            wide = commitment_from_toml(COMMITMENT.format(cap=1e30, hi=1.6, version=1), "c.toml")
            ok = await r.stub.SubmitCommitment(
                req(
                    envelope=sign_envelope(
                        PayloadType.COMMITMENT, wide.SerializeToString(deterministic=True), [world.lab]
                    )
                ),
                timeout=5,
            )
            assert ok.version == 1

    asyncio.run(scenario())
