"""One test per threat-model attack the ingest path answers, on a real server over gRPC.

Each asserts the per-report status code and disposition and what was (or was not) stored.
"""

import asyncio

import grpc
import pytest

from pausewatch.envelope import PayloadType, sign_envelope
from pausewatch.v1 import types_pb2, verifier_pb2
from sim.factories import seeded_signer
from tests.verifier.harness import NS, OPERATOR_ON_LOOPBACK, World, check_receipt, running
from verifier.config import LimitsConfig

ACCEPTED, DUPLICATE, REJECTED = 1, 2, 3
OK, INVALID_ARGUMENT, PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, UNAUTHENTICATED = (
    0,
    3,
    7,
    8,
    9,
    16,
)


def run(coro):
    return asyncio.run(coro)


def test_replay_of_a_report_returns_the_original_receipt_and_stores_nothing(tmp_path):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            chain = world.chain(0, await r.nonce())
            env = chain.next()
            (first,) = await r.submit(env)
            before = r.counts()
            (again,) = await r.submit(env)
            assert (again.code, again.disposition) == (OK, DUPLICATE)
            assert again.receipt.log_index == first.receipt.log_index
            check_receipt(again.receipt, env, world.keys.log.verifier)
            assert r.counts() == before
            # A replay inside one batch is a duplicate of its twin, stored once.
            env2 = chain.next()
            a, b = await r.submit(env2, env2)
            assert (a.disposition, b.disposition) == (ACCEPTED, DUPLICATE)
            assert a.receipt.log_index == b.receipt.log_index
            assert r.counts()["reports"] == before["reports"] + 1

    run(scenario())


def test_rollback_of_the_attestor_is_stored_with_a_rollback_finding(tmp_path):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            nonce = await r.nonce()
            chain = world.chain(0, nonce)
            await r.submit(*[chain.next() for _ in range(3)])
            before = r.counts()
            # Restored from a snapshot: new boot, reuses seq 1 with other content.
            rolled = world.chain(0, nonce, boot_id=b"\x02" * 16)
            rolled.prev = chain.prev
            env = rolled.sign(rolled.report(seq=1, prev=envelope_prev(chain, 0)))
            (res,) = await r.submit(env)
            assert (res.code, res.disposition) == (OK, ACCEPTED)
            assert "chain.rollback" in res.finding_ids
            assert "chain.new_boot" in res.finding_ids
            after = r.counts()
            assert after["reports"] == before["reports"] + 1
            s = r.storage()
            ids = [f.finding_id for f in s.findings(world.facility_id)]
            s.close()
            assert "chain.rollback" in ids

    run(scenario())


def envelope_prev(chain, seq):
    from pausewatch.envelope import envelope_digest

    return envelope_digest(chain.sent[seq])


def test_fork_is_stored_and_raises_an_alert_with_both_envelopes_as_evidence(tmp_path):
    async def scenario():
        world = World(tmp_path, authorization=OPERATOR_ON_LOOPBACK)
        async with running(world) as r:
            watch = r.stub.WatchAlerts(verifier_pb2.WatchAlertsRequest(facility_ids=[world.facility_id]))
            chain = world.chain(1, await r.nonce())
            results = await r.submit(*[chain.next() for _ in range(3)])
            honest_index = results[2].receipt.log_index
            fork = chain.sign(chain.report(seq=2, prev=envelope_prev(chain, 1), node_id="node-01"))
            fork_msg = chain.report(seq=2, prev=envelope_prev(chain, 1))
            fork_msg.accelerators[0].energy_j = 1.0  # same seq, same boot, other content
            fork = chain.sign(fork_msg)
            (res,) = await r.submit(fork)
            assert (res.code, res.disposition) == (OK, ACCEPTED)
            assert "chain.fork" in res.finding_ids
            alert = await asyncio.wait_for(watch.read(), 5)
            assert alert.finding.id == "chain.fork"
            assert set(alert.finding.evidence_log_indices) == {honest_index, res.receipt.log_index}
            watch.cancel()
            s = r.storage()
            assert s.report_at(chain.signer.public_key.key_id, 2).log_index == honest_index
            assert (
                s.report_by_digest(__import__("hashlib").sha256(fork).digest()).log_index
                == res.receipt.log_index
            )
            s.close()

    run(scenario())


def test_unknown_key_is_unauthenticated_and_leaves_nothing(tmp_path):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            stranger = world.chain(0, await r.nonce())
            stranger.signer = seeded_signer("stranger")
            before = r.counts()
            (res,) = await r.submit(stranger.next())
            assert (res.code, res.disposition) == (UNAUTHENTICATED, REJECTED)
            assert not res.HasField("receipt")
            assert r.counts() == before

    run(scenario())


def test_bad_signature_is_unauthenticated_and_leaves_nothing(tmp_path):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            chain = world.chain(0, await r.nonce())
            env = types_pb2.Envelope()
            env.ParseFromString(chain.next())
            sig = bytearray(env.signatures[0].sig)
            sig[5] ^= 0x40
            env.signatures[0].sig = bytes(sig)
            before = r.counts()
            (res,) = await r.submit(env.SerializeToString(deterministic=True))
            assert (res.code, res.disposition) == (UNAUTHENTICATED, REJECTED)
            assert r.counts() == before

    run(scenario())


def test_valid_signature_over_garbage_is_invalid_argument(tmp_path):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            before = r.counts()
            garbage = sign_envelope(PayloadType.USAGE_REPORT, b"\xff\xfe not a report", [world.node_keys[0]])
            (res,) = await r.submit(garbage)
            assert (res.code, res.disposition) == (INVALID_ARGUMENT, REJECTED)
            assert r.counts() == before

    run(scenario())


def test_report_for_another_node_is_permission_denied(tmp_path):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            chain = world.chain(0, await r.nonce())
            chain.node_id = "node-01"  # node-00's key speaking for node-01
            (res,) = await r.submit(chain.next())
            assert (res.code, res.disposition) == (PERMISSION_DENIED, REJECTED)
            other = world.chain(0, await r.nonce())
            other.facility_id = "fac-b"
            before = r.counts()
            (res,) = await r.submit(other.next())
            assert (res.code, res.disposition) == (PERMISSION_DENIED, REJECTED)
            assert r.counts() == before

    run(scenario())


@pytest.mark.parametrize("which", ["zero", "unknown", "expired"])
def test_stale_challenge_is_stored_with_a_freshness_finding(tmp_path, which):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            nonce = await r.nonce()
            if which == "zero":
                chain = world.chain(0, bytes(32))
                expected = "freshness.stale_challenge"
            elif which == "unknown":
                chain = world.chain(0, b"\x55" * 32)
                expected = "freshness.unknown_challenge"
            else:  # answers the first challenge for a period two hours after it expired,
                # while the verifier kept issuing newer ones: stale (pre-generated looks so)
                world.clock.advance(3600)
                await r.server.challenges.issue()  # a newer challenge, an hour before the period
                world.clock.advance(3600)
                await r.server.challenges.issue()
                chain = world.chain(0, nonce, start_ns=world.clock.now_ns() - 60 * NS)
                expected = "freshness.stale_challenge"
            before = r.counts()
            (res,) = await r.submit(chain.next())
            assert (res.code, res.disposition) == (OK, ACCEPTED)
            assert expected in res.finding_ids
            assert r.counts()["reports"] == before["reports"] + 1
            fresh = world.chain(1, await r.nonce(), start_ns=world.clock.now_ns() - 60 * NS)
            (ok,) = await r.submit(fresh.next())
            assert not [f for f in ok.finding_ids if f.startswith("freshness.")]

    run(scenario())


def test_reports_spooled_through_a_verifier_outage_are_late_but_not_stale(tmp_path):
    """The shared freshness rule (pausewatch.freshness): reports for periods while the verifier
    was down, answering the last challenge it logged before going away, carry no freshness
    finding after the restart; the restarted verifier logs a fresh challenge before admitting
    any report, so a report of the old challenge for a period after the restart is stale."""

    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            last_nonce = await r.nonce()
            outage_start = world.clock.now_ns()
        world.clock.advance(3600)  # the verifier is down for an hour
        async with running(world, enrol=False) as r:
            assert await r.nonce() != last_nonce  # a fresh challenge logged at start
            spooled = world.chain(0, last_nonce, start_ns=outage_start)
            # the outage's minutes, up to the skew (120 s) before the restart's challenge
            envs = [spooled.next() for _ in range(57)]
            results = await r.submit(*envs)
            assert [(x.code, x.disposition) for x in results] == [(OK, ACCEPTED)] * len(envs)
            assert not [f for x in results for f in x.finding_ids if f.startswith("freshness.")]
            # a period well after the restart, answering the pre-outage challenge: stale
            world.clock.advance(300)
            await r.server.challenges.issue()
            late = world.chain(1, last_nonce, start_ns=world.clock.now_ns() - 60 * NS)
            (res,) = await r.submit(late.next())
            assert res.disposition == ACCEPTED
            assert "freshness.stale_challenge" in res.finding_ids

    run(scenario())


def test_report_from_the_future_leaves_a_clock_skew_finding(tmp_path):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            chain = world.chain(0, await r.nonce(), start_ns=world.clock.now_ns() + 3600 * NS)
            (res,) = await r.submit(chain.next())
            assert res.disposition == ACCEPTED
            assert "freshness.clock_skew" in res.finding_ids
            # judged against the newest logged challenge, not the verifier's wall clock: once
            # the log's clock has caught up (a challenge issued after the period), no skew
            world.clock.advance(3700)
            nonce = await r.nonce()
            await r.server.challenges.issue()
            fresh = world.chain(1, nonce, start_ns=world.clock.now_ns() - 120 * NS)
            (ok,) = await r.submit(fresh.next())
            assert "freshness.clock_skew" not in ok.finding_ids

    run(scenario())


def test_oversized_envelope_and_batch_are_resource_exhausted(tmp_path):
    async def scenario():
        world = World(tmp_path, limits=LimitsConfig(max_envelope_bytes=4096, max_batch_reports=10))
        async with running(world) as r:
            chain = world.chain(0, await r.nonce())
            msg = chain.report()
            for i in range(60):
                msg.accelerators.add(uuid=f"GPU-{i:04d}", model="x" * 100)
            big = chain.sign(msg)
            assert len(big) > 4096
            before = r.counts()
            (res,) = await r.submit(big)
            assert (res.code, res.disposition) == (RESOURCE_EXHAUSTED, REJECTED)
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await r.submit(*[chain.next() for _ in range(11)])
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert r.counts() == before

    run(scenario())


def test_too_fast_is_resource_exhausted_and_recovers_with_time(tmp_path):
    async def scenario():
        world = World(tmp_path, limits=LimitsConfig(reports_per_minute=2, burst_reports=3))
        async with running(world) as r:
            chain = world.chain(0, await r.nonce())
            envs = [chain.next() for _ in range(5)]
            results = await r.submit(*envs)
            assert [x.code for x in results] == [OK, OK, OK, RESOURCE_EXHAUSTED, RESOURCE_EXHAUSTED]
            assert r.counts()["reports"] == 3
            world.clock.advance(60)
            results = await r.submit(*envs[3:])
            assert [x.disposition for x in results] == [ACCEPTED, ACCEPTED]

    run(scenario())


def test_gap_then_backfill_are_findings_and_both_stored(tmp_path):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            chain = world.chain(2, await r.nonce())
            envs = [chain.next() for _ in range(4)]
            results = await r.submit(envs[0], envs[3])
            assert "chain.gap" in results[1].finding_ids
            results = await r.submit(envs[1], envs[2])
            assert all("chain.backfill" in x.finding_ids for x in results)
            assert r.counts()["reports"] == 4

    run(scenario())


def test_inventory_attacks(tmp_path):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            req = verifier_pb2.SubmitSignedRequest
            v1_again = world.inventory(1)
            v1_again.issued_unix_ns += 1  # other content, same version: not an increase
            # Signed by the right lab but not well formed: the evaluation and the auditor
            # could not use it, so it must not enter the log.
            no_band = world.inventory(2)
            no_band.ClearField("overhead")
            twice = world.inventory(2)
            twice.nodes[1].accelerators[0].uuid = twice.nodes[0].accelerators[0].uuid
            cases = [
                (
                    world.sign_inventory(world.inventory(2), seeded_signer("nobody")),
                    grpc.StatusCode.UNAUTHENTICATED,
                ),
                (
                    world.sign_inventory(world.inventory(2), world.other_lab),
                    grpc.StatusCode.PERMISSION_DENIED,
                ),
                (world.sign_inventory(v1_again), grpc.StatusCode.FAILED_PRECONDITION),
                (b"\x00garbage", grpc.StatusCode.INVALID_ARGUMENT),
                (world.sign_inventory(no_band), grpc.StatusCode.INVALID_ARGUMENT),
                (world.sign_inventory(twice), grpc.StatusCode.INVALID_ARGUMENT),
            ]
            before = r.counts()
            for envelope, code in cases:
                with pytest.raises(grpc.aio.AioRpcError) as e:
                    await r.stub.SubmitInventory(req(envelope=envelope), timeout=5)
                assert e.value.code() == code, (code, e.value.details())
            assert r.counts() == before
            v2 = world.sign_inventory(world.inventory(2))
            first = await r.stub.SubmitInventory(req(envelope=v2), timeout=5)
            again = await r.stub.SubmitInventory(req(envelope=v2), timeout=5)
            assert first.version == 2
            assert again.receipt.log_index == first.receipt.log_index

    run(scenario())
