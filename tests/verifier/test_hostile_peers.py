"""Hostile peers (issue 12): one test per row, named for it, on a real server over gRPC.

Work before trust is bounded: the Ed25519 checks an envelope can cause are counted at the
libsodium call every verification goes through (``nacl.bindings.crypto_sign_open``).
"""

from __future__ import annotations

import asyncio
import threading

import grpc
import nacl.bindings
import pytest

from pausewatch.envelope import PayloadType
from pausewatch.v1 import types_pb2, verifier_pb2
from tests.verifier.harness import World, running

ACCEPTED, REJECTED = 1, 3
INVALID_ARGUMENT, UNAUTHENTICATED = 3, 16


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture
def ed25519_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every Ed25519 verification made in this process."""
    calls: list[int] = []
    real = nacl.bindings.crypto_sign_open

    def counting(signed: bytes, pk: bytes) -> bytes:
        calls.append(1)
        return real(signed, pk)  # type: ignore[no-any-return]

    monkeypatch.setattr(nacl.bindings, "crypto_sign_open", counting)
    return calls


def _with_signatures(raw: bytes, signatures: list[tuple[str, bytes]]) -> bytes:
    env = types_pb2.Envelope.FromString(raw)
    del env.signatures[:]
    for keyid, sig in signatures:
        env.signatures.add(keyid=keyid, sig=sig)
    return env.SerializeToString(deterministic=True)


def test_signature_amplification_a_report_costs_at_most_one_check(tmp_path, ed25519_checks):
    """Row 1: 16 bad signatures naming enrolled key ids (public in the log) cost no check at
    all (refused before any verification); one bad signature costs exactly one."""

    async def scenario() -> None:
        world = World(tmp_path, nodes=16)
        async with running(world) as r:
            chain = world.chain(0, await r.nonce())
            honest = chain.next()
            enrolled_ids = [k.public_key.key_id for k in world.node_keys]
            flood = _with_signatures(honest, [(kid, b"\x01" * 64) for kid in enrolled_ids])
            ed25519_checks.clear()
            (res,) = await r.submit(flood)
            assert (res.code, res.disposition) == (INVALID_ARGUMENT, REJECTED)
            assert "exactly one signature" in res.message
            assert ed25519_checks == []
            # one signature naming the report's own (enrolled) key, but bad: one check
            (res,) = await r.submit(_with_signatures(honest, [(enrolled_ids[0], b"\x01" * 64)]))
            assert (res.code, res.disposition) == (UNAUTHENTICATED, REJECTED)
            assert len(ed25519_checks) == 1
            # naming a key that is not enrolled: refused without a check
            ed25519_checks.clear()
            (res,) = await r.submit(_with_signatures(honest, [("f" * 64, b"\x01" * 64)]))
            assert (res.code, res.disposition) == (UNAUTHENTICATED, REJECTED)
            assert ed25519_checks == []
            # the honest report, signed once: one check, accepted
            (res,) = await r.submit(honest)
            assert res.disposition == ACCEPTED
            assert len(ed25519_checks) == 1
            assert r.counts()["reports"] == 1

    run(scenario())


def test_signature_amplification_a_document_checks_only_the_keys_it_names(tmp_path, ed25519_checks):
    """Rows 1 and 9: a lab document verifies only against the trusted keys it names, each
    once: 16 bad signatures naming other parties' keys cost nothing, one naming the lab's
    key costs one check, and so do two signatures under the lab's key id."""

    async def scenario() -> None:
        world = World(tmp_path)
        async with running(world) as r:
            signed = world.sign_inventory(world.inventory(version=2))
            strangers = [(k.public_key.key_id, b"\x02" * 64) for k in world.node_keys]
            strangers += [(f"{i:064x}", b"\x02" * 64) for i in range(16 - len(strangers))]
            ed25519_checks.clear()
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.stub.SubmitInventory(
                    verifier_pb2.SubmitSignedRequest(envelope=_with_signatures(signed, strangers)), timeout=5
                )
            assert e.value.code() is grpc.StatusCode.UNAUTHENTICATED
            assert ed25519_checks == []
            lab_bad = [*strangers[:15], (world.lab.public_key.key_id, b"\x02" * 64)]
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.stub.SubmitInventory(
                    verifier_pb2.SubmitSignedRequest(envelope=_with_signatures(signed, lab_bad)), timeout=5
                )
            assert e.value.code() is grpc.StatusCode.UNAUTHENTICATED
            assert len(ed25519_checks) == 1
            twice = [(world.lab.public_key.key_id, b"\x02" * 64), (world.lab.public_key.key_id, b"\x03" * 64)]
            ed25519_checks.clear()
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.stub.SubmitInventory(
                    verifier_pb2.SubmitSignedRequest(envelope=_with_signatures(signed, twice)), timeout=5
                )
            assert e.value.code() is grpc.StatusCode.UNAUTHENTICATED
            assert len(ed25519_checks) == 1
            resp = await r.stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=signed), timeout=5)
            assert resp.version == 2

    run(scenario())


def test_lab_documents_are_verified_off_the_event_loop(tmp_path, monkeypatch):
    """Row 9: while a document's signatures are being checked, other calls are answered."""
    import verifier.service

    entered, release = threading.Event(), threading.Event()
    released: list[bool] = []
    real = verifier.service.verify_inventory

    def held(envelope, trust):  # type: ignore[no-untyped-def]
        entered.set()
        released.append(release.wait(10))  # bounded: the test fails, it does not hang
        return real(envelope, trust)

    async def scenario() -> None:
        world = World(tmp_path)
        async with running(world) as r:
            monkeypatch.setattr(verifier.service, "verify_inventory", held)
            call = asyncio.ensure_future(
                r.stub.SubmitInventory(
                    verifier_pb2.SubmitSignedRequest(envelope=world.sign_inventory(world.inventory(version=2))),
                    timeout=20,
                )
            )
            assert await asyncio.to_thread(entered.wait, 10)
            challenge = await r.stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=5)
            assert challenge.envelope
            release.set()
            assert (await call).version == 2
            assert released == [True]

    run(scenario())


def test_payload_type_of_a_report_is_checked_before_its_signature(tmp_path, ed25519_checks):
    """A document sent as a report is refused by type, without a check."""

    async def scenario() -> None:
        world = World(tmp_path)
        async with running(world) as r:
            inv = world.sign_inventory(world.inventory(version=2))
            ed25519_checks.clear()
            (res,) = await r.submit(inv)
            assert (res.code, res.disposition) == (INVALID_ARGUMENT, REJECTED)
            assert PayloadType.INVENTORY in res.message
            assert ed25519_checks == []

    run(scenario())
