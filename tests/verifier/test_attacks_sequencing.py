"""Attacks on what happens between admission and the log: a key revoked while its report waits
for the sequencer, one lab enrolling another lab's node key, one item failing a whole tick,
replays spending an attestor's rate budget. Real server over gRPC (harness), one test each."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from pausewatch.errors import InternalError
from pausewatch.inventory import KeyConflictError, key_conflict
from pausewatch.keys import key_id
from pausewatch.v1 import types_pb2, verifier_pb2
from tests.verifier.harness import T0, World, check_receipt, running
from verifier.config import LimitsConfig
from verifier.sequencer import LogSequencer

ACCEPTED, DUPLICATE, REJECTED = 1, 2, 3
OK, PERMISSION_DENIED, RESOURCE_EXHAUSTED, INTERNAL, UNAUTHENTICATED = 0, 7, 8, 13, 16
req = verifier_pb2.SubmitSignedRequest


# Real seconds: a bound on a hang, never on speed (a loaded machine may take seconds per step).
_LIMIT_S = 60.0


async def _until(pred: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _LIMIT_S
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def _spy(seq: LogSequencer) -> list[str]:
    """Names of the sequencer submissions made so far (each queued when it is listed)."""
    arrived: list[str] = []
    for name in ("submit_reports", "submit_document"):
        orig = getattr(seq, name)

        async def spy(arg: object, _orig: object = orig, _name: str = name) -> object:
            arrived.append(_name)
            return await _orig(arg)  # type: ignore[operator]

        setattr(seq, name, spy)
    return arrived


@contextlib.asynccontextmanager
async def _writer_held(seq: LogSequencer) -> AsyncIterator[None]:
    """Hold the sequencer's writer thread: ticks queue up behind it until the block ends."""
    entered, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def hold(_storage: object) -> None:
        entered.set()
        released.append(release.wait(_LIMIT_S))

    task = asyncio.create_task(seq.read(hold))
    assert await asyncio.to_thread(entered.wait, _LIMIT_S)
    try:
        yield
    finally:
        release.set()
        await task
    # Had the hold ended on its own, ticks would have gone through while the test took them to
    # be queued, and what it checked would not be what it meant to check.
    assert released == [True], "the writer was let go by the hold's time limit, not by the test"


def _without_node(world: World, version: int, i: int) -> types_pb2.Inventory:
    inv = world.inventory(version)
    del inv.nodes[i]
    return inv


@pytest.mark.parametrize("when", ["committed_earlier", "staged_earlier_in_the_tick"])
def test_a_key_revoked_while_its_report_waits_is_not_logged_after_the_revocation(
    tmp_path: Path, when: str
) -> None:
    """Finding 1: the report is admitted under the old enrollment; the inventory that drops its
    key is logged first (an earlier tick, or earlier in the same tick); the report must be
    refused, not logged under a key the log already revoked."""

    async def scenario() -> None:
        world = World(tmp_path)
        async with running(world) as r:
            seq = r.server.sequencer
            nonce = await r.nonce()
            revoked = world.chain(0, nonce).next()
            arrived = _spy(seq)
            before = r.counts()
            async with _writer_held(seq):
                expected = []
                if when == "staged_earlier_in_the_tick":  # a tick in flight: the next two share one
                    filler = asyncio.create_task(r.submit(world.chain(1, nonce).next()))
                    expected.append("submit_reports")
                    await _until(lambda: arrived == expected and seq.queued == 0, "the filler's tick")
                inventory = asyncio.ensure_future(
                    r.stub.SubmitInventory(
                        req(envelope=world.sign_inventory(_without_node(world, 2, 0))), timeout=10
                    )
                )
                expected.append("submit_document")
                queued = 1 if when == "staged_earlier_in_the_tick" else 0
                await _until(lambda: arrived == expected and seq.queued == queued, "the inventory")
                report = asyncio.create_task(r.submit(revoked))
                expected.append("submit_reports")
                await _until(lambda: arrived == expected and seq.queued == queued + 1, "the report")
            assert (await inventory).version == 2
            (res,) = await report
            assert (res.code, res.disposition) == (PERMISSION_DENIED, REJECTED), res
            filled = 0
            if when == "staged_earlier_in_the_tick":
                assert [x.disposition for x in await filler] == [ACCEPTED]
                filled = 1
            after = r.counts()
            assert after["reports"] == before["reports"] + filled
            assert after["log"] == before["log"] + filled + 1  # the filler and the inventory
            s = r.storage()
            try:
                assert s.report_at(world.node_keys[0].public_key.key_id, 0) is None
            finally:
                s.close()
            # and from now on admission itself refuses the key
            (again,) = await r.submit(revoked)
            assert (again.code, again.disposition) == (UNAUTHENTICATED, REJECTED)

    asyncio.run(scenario())


def _lab2_inventory(world: World, *keys: bytes, version: int = 1) -> bytes:
    inv = types_pb2.Inventory(facility_id="fac-b", lab_id="lab-2", version=version, issued_unix_ns=T0)
    for i, key in enumerate(keys):
        node = inv.nodes.add(node_id=f"b-node-{i:02d}", attestor_public_key=key)
        node.accelerators.add(uuid=f"GPU-b-{i:04d}", model="NVIDIA H100 80GB HBM3")
    inv.overhead.min_ratio, inv.overhead.max_ratio = 1.05, 1.6
    return world.sign_inventory(inv, world.other_lab)


def test_a_lab_cannot_take_over_another_labs_node_key(tmp_path: Path) -> None:
    """Finding 2: lab-2 enrolling lab-1's node-00 key for its own facility is refused
    (FAILED_PRECONDITION), and node-00 keeps reporting; once lab-1 drops the key, it is free."""

    async def scenario() -> None:
        world = World(tmp_path)
        async with running(world) as r:
            stolen = world.node_keys[0].public_key.raw
            fresh = b"\x01" * 32
            before = r.counts()
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.stub.SubmitInventory(req(envelope=_lab2_inventory(world, fresh, stolen)), timeout=5)
            assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert world.node_keys[0].public_key.key_id[:16] in (e.value.details() or "")
            assert r.counts() == before
            (res,) = await r.submit(world.chain(0, await r.nonce()).next())
            assert (res.code, res.disposition) == (OK, ACCEPTED), res
            # and the other way round: lab-1 may not enrol a key lab-2 holds
            await r.stub.SubmitInventory(req(envelope=_lab2_inventory(world, fresh)), timeout=5)
            taking = world.inventory(2)
            taking.nodes.add(node_id="node-99", attestor_public_key=fresh)
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.stub.SubmitInventory(req(envelope=world.sign_inventory(taking)), timeout=5)
            assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            # a key dropped by its facility's latest inventory may be enrolled elsewhere
            await r.stub.SubmitInventory(req(envelope=world.sign_inventory(_without_node(world, 2, 0))))
            moved = await r.stub.SubmitInventory(
                req(envelope=_lab2_inventory(world, fresh, stolen, version=2))
            )
            assert moved.version == 2

    asyncio.run(scenario())


def test_key_conflict_is_a_pure_check_the_auditor_can_share() -> None:
    def inv(facility: str, *keys: bytes) -> types_pb2.Inventory:
        out = types_pb2.Inventory(facility_id=facility, lab_id="lab", version=1)
        for i, key in enumerate(keys):
            out.nodes.add(node_id=f"n{i}", attestor_public_key=key)
        return out

    a, b = b"\x0a" * 32, b"\x0b" * 32
    key_conflict(inv("fac-a", a, b), [inv("fac-a", a), inv("fac-b")])  # own keys: fine
    with pytest.raises(KeyConflictError) as e:
        key_conflict(inv("fac-a", a, b), [inv("fac-b", b)])
    assert e.value.holder_facility_id == "fac-b"
    assert e.value.key_id == key_id(b)


@pytest.mark.parametrize("where", ["classify_link", "freshness_findings"])
def test_one_report_failing_inside_the_sequencer_fails_only_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Finding 3: an error of ours on one report (injected before, and after, the point where
    the old code had already appended it) refuses that report alone, with INTERNAL; the other
    attestors' reports in the tick are logged, and nothing of the failed one is."""
    import verifier.staging as staging_module  # where the sequencer stages each report

    async def scenario() -> None:
        world = World(tmp_path)
        async with running(world) as r:
            nonce = await r.nonce()
            envs = [world.chain(i, nonce).next() for i in range(3)]
            poisoned = world.node_keys[1].public_key.key_id
            real = getattr(staging_module, where)

            def failing(*args: object, **kw: object) -> object:
                headers = [a for a in args if getattr(a, "key_id", None) == poisoned]
                if headers or any(
                    getattr(getattr(a, "header", None), "key_id", None) == poisoned for a in args
                ):
                    raise InternalError("injected: a bug reached by one attestor's report")
                return real(*args, **kw)

            monkeypatch.setattr(staging_module, where, failing)
            before = r.counts()
            results = await r.submit(*envs)
            assert [(x.code, x.disposition) for x in results] == [
                (OK, ACCEPTED),
                (INTERNAL, REJECTED),
                (OK, ACCEPTED),
            ]
            after = r.counts()
            assert after["reports"] == before["reports"] + 2
            assert after["log"] == before["log"] + 2
            for env, res in ((envs[0], results[0]), (envs[2], results[2])):
                check_receipt(res.receipt, env, world.keys.log.verifier)  # type: ignore[attr-defined]
            s = r.storage()
            try:
                assert s.report_at(poisoned, 0) is None
            finally:
                s.close()
            monkeypatch.setattr(staging_module, where, real)
            (retry,) = await r.submit(envs[1])
            assert (retry.code, retry.disposition) == (OK, ACCEPTED)

    asyncio.run(scenario())


def test_replays_do_not_spend_the_attestors_rate_budget(tmp_path: Path) -> None:
    """Finding 4: replaying captured envelopes (alone or many in one batch) gets DUPLICATE and
    costs the real attestor nothing; its next reports still go through."""

    async def scenario() -> None:
        world = World(tmp_path, limits=LimitsConfig(reports_per_minute=1, burst_reports=3))
        async with running(world) as r:
            chain = world.chain(0, await r.nonce())
            captured = chain.next()
            (first,) = await r.submit(captured)
            assert first.disposition == ACCEPTED
            for _ in range(3):
                (res,) = await r.submit(captured)
                assert (res.code, res.disposition) == (OK, DUPLICATE)
            results = await r.submit(*[captured] * 5)
            assert [x.disposition for x in results] == [DUPLICATE] * 5
            fresh = chain.next()
            results = await r.submit(fresh, fresh, chain.next())  # a copy in the batch is free too
            assert [(x.code, x.disposition) for x in results] == [
                (OK, ACCEPTED),
                (OK, DUPLICATE),
                (OK, ACCEPTED),
            ]
            # the budget is real: the next new report is over it
            (over,) = await r.submit(chain.next())
            assert over.code == RESOURCE_EXHAUSTED

    asyncio.run(scenario())
