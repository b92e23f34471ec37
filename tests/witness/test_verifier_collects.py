"""The verifier collects cosignatures from its [[witnesses]] (verifier.witnesses): real
verifier (gRPC, SQLite), real witnesses (HTTP on localhost), in one process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path

import pytest

from pausewatch.checkpoint import CosignatureVerifier, parse_checkpoint
from pausewatch.note import open_note
from pausewatch.v1 import verifier_pb2
from tests.verifier.harness import ORIGIN, World
from tests.witness.harness import running_witness, until, verifier_with, witness_config, witness_vkey
from verifier.cli import main as verifier_main
from verifier.config import WitnessTarget
from verifier.witnesses import COSIGNATURES_FILE
from witness.store import WitnessStore

SEED_A, SEED_B = b"\x0a" * 32, b"\x0b" * 32
NAME_A, NAME_B = "witness.test/party-a", "witness.test/party-b"


def log_config(world: World, state: Path, name: str) -> object:
    return witness_config(state, [(ORIGIN, world.vkey())], name=name)


def test_checkpoints_are_cosigned_by_every_witness_and_published(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = World(tmp_path)

    async def go() -> None:
        async with (
            running_witness(log_config(world, tmp_path / "wa", NAME_A), SEED_A) as wa,  # type: ignore[arg-type]
            running_witness(log_config(world, tmp_path / "wb", NAME_B), SEED_B) as wb,  # type: ignore[arg-type]
        ):
            targets = [
                WitnessTarget(wa.url, witness_vkey(NAME_A, SEED_A)),
                WitnessTarget(wb.url, witness_vkey(NAME_B, SEED_B)),
            ]
            async with verifier_with(world, targets) as r:
                chain = world.chain(0, await r.nonce())
                for _ in range(3):
                    results = await r.submit(*(chain.next() for _ in range(4)))
                    assert all(x.disposition == 1 for x in results)
                seq = r.server.sequencer
                await until(
                    lambda: (
                        seq.published is not None
                        and seq.latest is not None
                        and parse_checkpoint(open_note(seq.published, [world.keys.log.verifier]).text).size
                        == seq.latest.size
                    ),
                    "the latest checkpoint published with its cosignatures",
                )
                response = await r.stub.GetCheckpoint(verifier_pb2.GetCheckpointRequest(), timeout=5)
                witnesses = [
                    CosignatureVerifier.from_vkey(witness_vkey(NAME_A, SEED_A)),
                    CosignatureVerifier.from_vkey(witness_vkey(NAME_B, SEED_B)),
                ]
                opened = open_note(response.checkpoint, [world.keys.log.verifier, *witnesses])
                assert sorted(s.name for _, s in opened.verified) == sorted([ORIGIN, NAME_A, NAME_B])
                latest_size = seq.latest.size  # type: ignore[union-attr]
            for w in (wa, wb):
                assert w.service.store.head(ORIGIN).size == latest_size
            # `pausewatch-verifier witnesses`: how far each witness got, what is published
            toml = tmp_path / "verifier.toml"
            toml.write_text(
                f'state_dir = "state"\n[log]\norigin = "{ORIGIN}"\nkey_file = "l.key"\n'
                '[challenge]\nkey_file = "c.key"\n[verdict]\nkey_file = "v.key"\n'
                + "".join(f'[[witnesses]]\nurl = "{t.url}"\nvkey = "{t.vkey}"\n' for t in targets)
            )
            assert verifier_main(["witnesses", "--config", str(toml), "--json"]) == 0
            status = json.loads(capsys.readouterr().out)
            assert status["published_size"] == status["latest_size"] == latest_size
            assert [w["cosigned_size"] for w in status["witnesses"]] == [latest_size] * 2

    asyncio.run(asyncio.wait_for(go(), 60))


def _blackhole() -> socket.socket:
    """A listener that accepts connections and never answers: a witness that hangs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def test_a_hanging_and_a_dead_witness_never_stall_ingest(tmp_path: Path) -> None:
    world = World(tmp_path)
    hanging = _blackhole()
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    targets = [
        WitnessTarget(
            f"http://127.0.0.1:{hanging.getsockname()[1]}", witness_vkey(NAME_A, SEED_A), timeout_s=600
        ),
        WitnessTarget(f"http://127.0.0.1:{dead.getsockname()[1]}", witness_vkey(NAME_B, SEED_B)),
    ]

    async def go() -> None:
        async with verifier_with(world, targets) as r:
            chain = world.chain(0, await r.nonce())
            for _ in range(10):
                # each batch gets its receipts while the witness submissions hang or fail
                results = await r.submit(*(chain.next() for _ in range(5)))
                assert all(x.disposition == 1 for x in results)
            assert r.counts()["reports"] == 50
            assert r.server.sequencer.published is None  # nothing witnessed, nothing published
            response = await r.stub.GetCheckpoint(verifier_pb2.GetCheckpointRequest(), timeout=5)
            assert response.checkpoint == r.server.sequencer.latest.note  # type: ignore[union-attr]

    try:
        asyncio.run(asyncio.wait_for(go(), 60))
    finally:
        hanging.close()
        dead.close()


def test_a_witness_ahead_of_what_the_verifier_remembers_answers_409_and_is_resent(tmp_path: Path) -> None:
    """The verifier lost its cosignature database: it submits from size 0, the witness answers
    409 with the size it holds, and the verifier resends with a proof from there."""
    world = World(tmp_path)

    async def go() -> None:
        async with running_witness(log_config(world, tmp_path / "wa", NAME_A), SEED_A) as wa:  # type: ignore[arg-type]
            targets = [WitnessTarget(wa.url, witness_vkey(NAME_A, SEED_A))]
            async with verifier_with(world, targets) as r:
                chain = world.chain(0, await r.nonce())
                await r.submit(*(chain.next() for _ in range(3)))
                seq = r.server.sequencer
                await until(lambda: wa.service.store.head(ORIGIN).size == seq.latest.size, "first cosigned")  # type: ignore[union-attr]
                first = wa.service.store.head(ORIGIN).size
            (tmp_path / "state" / COSIGNATURES_FILE).unlink()
            async with verifier_with(world, targets) as r:
                await r.submit(*(chain.next() for _ in range(3)))
                seq = r.server.sequencer
                await until(
                    lambda: seq.latest is not None and wa.service.store.head(ORIGIN).size == seq.latest.size,
                    "cosigned again after a 409",
                )
                assert wa.service.store.head(ORIGIN).size > first
                assert wa.service.metrics.requests.labels("409")._value.get() >= 1
                assert seq.published is not None
            sizes = [c.size for c in WitnessStore(tmp_path / "wa" / "witness.sqlite").cosigned(ORIGIN)]
            assert sizes == sorted(sizes)

    asyncio.run(asyncio.wait_for(go(), 60))


def test_a_stopping_verifier_brings_a_witness_that_was_backing_off_up_to_the_newest_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Witness B refused the newest checkpoint once (down) and its task waits out a long backoff
    when the verifier stops: B gets one last try, so A and B stop at the same size. Otherwise A
    holds a checkpoint beyond the quorum's, and an auditor who brings A's checkpoint cannot
    check it against any bundle (the `make demo` failure this test was written for)."""
    monkeypatch.setattr("verifier.witnesses._BACKOFF_S", (60.0,))
    world = World(tmp_path)
    reserved = socket.socket()
    reserved.bind(("127.0.0.1", 0))  # bound, not listening: B is down
    port_b = reserved.getsockname()[1]

    async def go() -> None:
        async with (
            running_witness(log_config(world, tmp_path / "wa", NAME_A), SEED_A) as wa,  # type: ignore[arg-type]
            contextlib.AsyncExitStack() as later,
        ):
            targets = [
                WitnessTarget(wa.url, witness_vkey(NAME_A, SEED_A)),
                WitnessTarget(f"http://127.0.0.1:{port_b}", witness_vkey(NAME_B, SEED_B)),
            ]
            async with verifier_with(world, targets) as r:
                chain = world.chain(0, await r.nonce())
                await r.submit(*(chain.next() for _ in range(3)))
                seq = r.server.sequencer

                def b_refused() -> float:
                    labels = {"witness": NAME_B, "reason": "unreachable"}
                    value = r.server.metrics.registry.get_sample_value(
                        "pausewatch_verifier_witness_failures_total", labels
                    )
                    return value or 0.0

                await until(
                    lambda: (
                        seq.latest is not None
                        and wa.service.store.head(ORIGIN).size == seq.latest.size
                        and b_refused() >= 1
                    ),
                    "A cosigned the newest checkpoint, B was refused once",
                )
                newest = seq.latest.size  # type: ignore[union-attr]
                reserved.close()
                b_config = log_config(world, tmp_path / "wb", NAME_B)
                wb = await later.enter_async_context(running_witness(b_config, SEED_B, port=port_b))  # type: ignore[arg-type]
                assert wb.service.store.head(ORIGIN).size == 0  # B's task is backing off
            # the verifier has stopped
            assert wb.service.store.head(ORIGIN).size == newest
            assert wa.service.store.head(ORIGIN).size == newest

    try:
        asyncio.run(asyncio.wait_for(go(), 60))
    finally:
        reserved.close()
