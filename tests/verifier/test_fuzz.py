"""Hypothesis drives the real servicer over gRPC with generated hostile input: random bytes,
truncated and bit-flipped envelopes, valid signatures over mutated payloads, wrong types.
Every report gets a clear per-report status; a rejected one changes nothing stored; the server
keeps serving an honest attestor afterwards."""

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pausewatch.envelope import PayloadType, sign_envelope
from tests.verifier.harness import World, running

KNOWN_CODES = {0, 3, 7, 8, 9, 16}


def mutations(base: bytes):
    flip = st.tuples(st.integers(0, len(base) - 1), st.integers(1, 255)).map(
        lambda t: base[: t[0]] + bytes([base[t[0]] ^ t[1]]) + base[t[0] + 1 :]
    )
    truncate = st.integers(0, len(base) - 1).map(lambda n: base[:n])
    extend = st.binary(min_size=1, max_size=64).map(lambda extra: base + extra)
    return st.one_of(flip, truncate, extend, st.binary(max_size=512))


@pytest.mark.heavy
def test_generated_hostile_batches_never_change_state_and_never_stop_the_server(tmp_path):
    world = World(tmp_path)

    async def scenario():
        async with running(world) as r:
            nonce = await r.nonce()
            honest = world.chain(0, nonce)
            template = world.chain(1, nonce)
            base = template.sign(template.report())
            payload = template.report().SerializeToString(deterministic=True)

            garbage_signed = st.binary(max_size=300).map(
                lambda b: sign_envelope(PayloadType.USAGE_REPORT, b, [world.node_keys[1]])
            )
            wrong_type = st.sampled_from(
                [PayloadType.INVENTORY, PayloadType.CHALLENGE, PayloadType.METER_REPORT, PayloadType.VERDICT]
            ).map(lambda t: sign_envelope(t, payload, [world.node_keys[1]]))
            mutated_payload = mutations(payload).map(
                lambda p: sign_envelope(PayloadType.USAGE_REPORT, p, [world.node_keys[1]])
            )
            envelopes = st.lists(
                st.one_of(mutations(base), garbage_signed, wrong_type, mutated_payload),
                min_size=1,
                max_size=8,
            )
            loop = asyncio.get_running_loop()
            checked = 0

            @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(batch=envelopes)
            def check(batch):
                nonlocal checked
                before = r.counts()
                results = asyncio.run_coroutine_threadsafe(r.submit(*batch), loop).result(30)
                assert len(results) == len(batch)
                stored = 0
                for _env, res in zip(batch, results, strict=False):
                    assert res.code in KNOWN_CODES, res
                    if res.disposition == 3:
                        assert res.code != 0
                        assert res.message
                        assert not res.HasField("receipt")
                    else:
                        # Only a well-formed report under node-01's enrolled key can be kept.
                        stored += res.disposition == 1
                after = r.counts()
                assert after["reports"] == before["reports"] + stored
                checked += 1

            await loop.run_in_executor(None, check)
            assert checked >= 100
            (res,) = await r.submit(honest.next())
            assert res.disposition == 1
            assert res.code == 0

    asyncio.run(scenario())
