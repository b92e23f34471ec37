"""A bucket is judged against the inventory version in force when the log's clock passed its end
(``pausewatch-rules/5`` on), whatever the lab's reports do after: a real verifier run (real gRPC on
localhost, real SQLite, its own scheduler, simulated clock), then the offline audit of its export.

The run: three idle nodes and an intake meter that also sees a hidden 3 kW. Bucket 0 is judged
VIOLATION (``energy.unexplained``). After it closed, the lab logs inventory version 2, declaring
the 3 kW as fixed load, and node 2 delivers its last report of bucket 0, withheld until then, so
that the bucket is judged again with a report logged after version 2. Under rules/4 (the version
logged before the bucket's newest report) that revised the VIOLATION to COMPLIANT; now the
bucket stays under version 1, the buckets after it are under version 2 (COMPLIANT: what a fixed
load declared in advance is), and the auditor re-derives every verdict, revisions included.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from auditor.pipeline import AuditOptions, audit_bundle
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope
from pausewatch.policy import parse_policy
from pausewatch.roots import parse_roots
from pausewatch.v1 import types_pb2, verifier_pb2
from sim import factories
from sim.factories import MeterChain
from tests.audit.conftest import ChallengeWatch, export_world, node_chain
from tests.verifier.harness import World, running
from verifier.scheduler import EvaluationScheduler

HIDDEN_W = 3000.0
BUCKET_S = 600
ACCEPTED = verifier_pb2.DISPOSITION_ACCEPTED


def _commitment() -> bytes:
    c = factories.commitment_message(["fac-a"], bucket_s=BUCKET_S)
    c.tolerances.max_fixed_load_w = 4000.0
    return c.SerializeToString(deterministic=True)


async def _run(world: World) -> dict[int, list[types_pb2.Verdict]]:
    """Every verdict of fac-a the verifier logged, by bucket (oldest revision first)."""
    async with running(world, enrol=False) as r:
        challenges = ChallengeWatch(r)
        stub = r.stub
        v1 = world.inventory(version=1)
        await stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=world.sign_inventory(v1)), timeout=5)
        await stub.SubmitCommitment(
            verifier_pb2.SubmitSignedRequest(
                envelope=sign_envelope(PayloadType.COMMITMENT, _commitment(), [world.lab])
            ),
            timeout=5,
        )
        scheduler = EvaluationScheduler(r.server.sequencer, r.server.verdict_signer, world.clock)
        chains = [node_chain(world, i) for i in range(3)]
        meter = MeterChain(world.meter_key, b"\x02" * 16, source_version="test")
        withheld: list[bytes] = []

        async def minute(m: int) -> None:
            world.clock.advance(60)  # the server's challenge loop issues the next one
            await challenges.issued_at(world.clock.now_ns())
            nonce = await r.nonce()
            batch = []
            for i, chain in enumerate(chains):
                chain.nonce = nonce
                if i == 2 and m in (9, 10):
                    withheld.append(chain.next())  # signed in its period, delivered late
                    continue
                batch.append(chain.next())
            meter.nonce = nonce
            batch.append(meter.next(70.0 * 3 * 1.2 + HIDDEN_W))
            results = await r.submit(*batch)
            assert all(x.disposition == ACCEPTED for x in results), results

        for m in range(12):  # bucket 0, then two minutes of bucket 1: the log's clock passed 600 s
            await minute(m)
        await scheduler.tick()  # 720 s: bucket 0 is past its grace
        v2 = world.inventory(version=2)
        v2.overhead.fixed_load_w = HIDDEN_W
        await stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=world.sign_inventory(v2)), timeout=5)
        results = await r.submit(*withheld)  # node 2's minutes 9 and 10, after version 2
        assert all(x.disposition == ACCEPTED for x in results), results
        for m in range(12, 30):
            await minute(m)
        world.clock.advance(200)
        await scheduler.tick()
        await challenges.issued_at(world.clock.now_ns())
        storage = r.storage()
        try:
            stored = storage.verdicts(include_superseded=True)
        finally:
            storage.close()
    by_bucket: dict[int, list[types_pb2.Verdict]] = {}
    for sv in stored:
        v = types_pb2.Verdict.FromString(parse_envelope(sv.envelope).payload)
        if v.facility_id == "fac-a":
            by_bucket.setdefault((v.bucket_start_unix_ns - factories.T0) // (BUCKET_S * factories.NS), []).append(v)
    return {b: sorted(vs, key=lambda v: v.revision) for b, vs in by_bucket.items()}


def test_a_version_logged_after_a_bucket_closed_does_not_revise_it(tmp_path: Path) -> None:
    world = World(tmp_path, nodes=3)
    verdicts = asyncio.run(_run(world))
    first = verdicts[0]
    assert first[0].status == types_pb2.VERDICT_STATUS_VIOLATION
    assert any(f.id == "energy.unexplained" for f in first[0].findings)
    # the late report changed the evidence (node 2's last minute), so the bucket was judged
    # again (a revision) — and is judged against version 1 still
    assert len(first) >= 2, [v.revision for v in first]
    assert first[-1].status == types_pb2.VERDICT_STATUS_VIOLATION, [
        (v.revision, types_pb2.VerdictStatus.Name(v.status)) for v in first
    ]
    assert any(f.id == "energy.unexplained" for f in first[-1].findings)
    # version 2 declared the load before bucket 2 began: it is explained there
    assert verdicts[2][-1].status != types_pb2.VERDICT_STATUS_VIOLATION
    assert not any(f.id == "energy.unexplained" for f in verdicts[2][-1].findings)

    directory = tmp_path / "bundle"
    policy, roots = export_world(world, directory)
    out = audit_bundle(
        directory, AuditOptions(policy=parse_policy(policy), roots=parse_roots(roots), workers=1)
    )
    assert out.ok, out.failures
    assert out.verdicts_checked == sum(len(v) for v in verdicts.values())  # one facility: no others
