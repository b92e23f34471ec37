import asyncio

from tests.verifier.harness import World, check_receipt, running


def test_accepts_a_chain_and_returns_verifiable_receipts(tmp_path):
    async def scenario():
        world = World(tmp_path)
        async with running(world) as r:
            nonce = await r.nonce()
            chain = world.chain(0, nonce)
            envs = [chain.next() for _ in range(5)]
            results = await r.submit(*envs)
            assert [x.disposition for x in results] == [1] * 5, results
            for env, res in zip(envs, results, strict=False):
                check_receipt(res.receipt, env, world.keys.log.verifier)
            assert r.counts()["reports"] == 5

    asyncio.run(scenario())
