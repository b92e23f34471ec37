"""The witness answers c2sp.org/tlog-witness add-checkpoint as the spec says, over real HTTP:
one test per answer, the litewitness request sequence, bad input that leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from pausewatch.checkpoint import CosignatureVerifier, parse_checkpoint
from pausewatch.keys import Ed25519Key, Ed25519Signer
from pausewatch.note import open_note
from pausewatch.tlog_witness import AddCheckpointRequest, parse_cosignatures
from tests.witness.harness import WITNESS_NAME, WITNESS_SEED, running_witness, witness_config
from tests.witness.logs import TestLog
from witness.config import Limits
from witness.store import WitnessStore

VECTORS = Path(__file__).parent.parent / "vectors"
LITEWITNESS = json.loads((VECTORS / "filosottile-torchwood-litewitness.json").read_text())
WITNESS = CosignatureVerifier(WITNESS_NAME, Ed25519Key(Ed25519Signer.from_seed(WITNESS_SEED).public_key.raw))


def run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


def _cosigned(log: TestLog, size: int, body: bytes) -> None:
    text = log.checkpoint(size).format()
    note = parse_cosignatures(body, text)
    opened = open_note(note, [WITNESS])
    assert [s.name for _, s in opened.verified] == [WITNESS_NAME]


def test_first_checkpoint_then_growth_cosigned_and_stored(tmp_path: Path) -> None:
    log = TestLog()
    log.grow(5)

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log])) as w:
            status, body, _ = await w.post(log.request(0))
            assert status == 200
            _cosigned(log, 5, body)
            log.grow(7)
            status, body, _ = await w.post(log.request(5))
            assert status == 200
            _cosigned(log, 12, body)
            status, latest = await w.get("/checkpoint/" + quote(log.origin, safe=""))
            assert status == 200
            opened = open_note(latest, [WITNESS, log.signer.verifier])
            assert parse_checkpoint(opened.text) == log.checkpoint(12)

    run(go())
    store = WitnessStore(tmp_path / "witness.sqlite")
    assert [r.size for r in store.cosigned(log.origin)] == [5, 12]  # every one, in full
    for record in store.cosigned(log.origin):
        open_note(record.note, [WITNESS, log.signer.verifier])


def test_stale_old_size_is_409_with_the_size_held(tmp_path: Path) -> None:
    log = TestLog()
    log.grow(3)

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log])) as w:
            assert (await w.post(log.request(0)))[0] == 200
            log.grow(2)
            status, body, ctype = await w.post(log.request(0))
            assert (status, body, ctype) == (409, b"3\n", "text/x.tlog.size")
            status, body, ctype = await w.post(log.request(3))
            assert status == 200

    run(go())


def test_same_size_other_root_is_409_and_kept_as_evidence(tmp_path: Path) -> None:
    log = TestLog()
    log.grow(4)
    fork = log.fork_at(3)  # also size 4, another root

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log])) as w:
            first = await w.post(log.request(0))
            again = await w.post(log.request(4))  # the same checkpoint again: the same cosignature
            assert first[0] == again[0] == 200
            assert first[1] == again[1]
            status, body, _ = await w.post(fork.request(4))
            assert (status, body) == (409, b"4\n")

    run(go())
    store = WitnessStore(tmp_path / "witness.sqlite")
    assert len(store.cosigned(log.origin)) == 1  # a repeated checkpoint is not stored twice
    (evidence,) = store.evidence(log.origin)
    assert evidence.status == 409
    assert store.head(log.origin).root == log.tree.root(4)


def test_fork_is_422_kept_as_evidence_and_never_cosigned(tmp_path: Path) -> None:
    log = TestLog()
    log.grow(4)
    fork = log.fork_at(3)
    fork.grow(3)

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log])) as w:
            assert (await w.post(log.request(0)))[0] == 200
            # The forked log's proof is honest about its own tree, but not from the root held.
            status, body, _ = await w.post(fork.request(4))
            assert status == 422
            assert b"consistency proof" in body

    run(go())
    store = WitnessStore(tmp_path / "witness.sqlite")
    assert [r.size for r in store.cosigned(log.origin)] == [4]
    (evidence,) = store.evidence(log.origin)
    request = evidence.request
    assert evidence.status == 422
    assert AddCheckpointRequest(4, tuple(fork.tree.consistency_proof(4, 7)), fork.note(7)).format() == request


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("no blank line", b"old 0\n", 400),
        ("not old", b"new 0\n\nx\n", 400),
        ("leading zero", b"old 01\n\nx\n", 400),
        ("negative", b"old -1\n\nx\n", 400),
        ("bad base64 proof", b"old 1\n!!!\n\nx\n", 400),
        ("short proof hash", b"old 1\nAAAA\n\nx\n", 400),
        (
            "64 proof lines",
            b"old 1\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64 + b"\nx\n",
            400,
        ),
        ("not a checkpoint", b"old 0\n\nhello\n", 400),
        ("binary", b"old 0\n\n\xff\xfe\x00\n", 400),
        ("empty", b"", 400),
    ],
)
def test_malformed_request_is_400_and_leaves_nothing(
    tmp_path: Path, name: str, body: bytes, status: int
) -> None:
    log = TestLog()

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log])) as w:
            got, reason, _ = await w.post(body)
            assert got == status, (name, reason)
            assert reason.endswith(b"\n")
            assert reason.count(b"\n") == 1

    run(go())
    store = WitnessStore(tmp_path / "witness.sqlite")
    assert store.status() == []


def test_unknown_origin_404_bad_signature_403_old_above_size_400(tmp_path: Path) -> None:
    log, stranger = TestLog(), TestLog(seed=2, origin="stranger.test/log")
    impostor = TestLog(seed=3)  # right origin, wrong key
    for lg in (log, stranger, impostor):
        lg.grow(3)

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log])) as w:
            assert (await w.post(stranger.request(0)))[0] == 404
            status, reason, _ = await w.post(impostor.request(0))
            assert status == 403, reason
            assert (await w.post(AddCheckpointRequest(5, (), log.note(3)).format()))[0] == 400
            assert (await w.get("/checkpoint/" + quote(log.origin, safe="")))[0] == 404
            assert (await w.get("/checkpoint/" + quote(stranger.origin, safe="")))[0] == 404

    run(go())
    assert WitnessStore(tmp_path / "witness.sqlite").status() == []


def test_oversize_request_is_413(tmp_path: Path) -> None:
    log = TestLog()

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log], Limits(max_request_bytes=2048))) as w:
            status, _, _ = await w.post(b"old 0\n\n" + b"a" * 4096)
            assert status == 413
            assert (await w.get("/healthz"))[0] == 200

    run(go())


def test_racing_requests_from_one_size_cosign_only_one(tmp_path: Path) -> None:
    """The spec's race: two requests checked against one stored size. The check and the update
    are one transaction, so exactly one of them is cosigned; the other is 409."""
    log = TestLog()
    log.grow(2)
    a = log.fork_at(2, b"a")
    b = log.fork_at(2, b"b")

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log])) as w:
            assert (await w.post(log.request(0)))[0] == 200
            results = await asyncio.gather(*(w.post(x.request(2)) for x in (a, b) * 4))
            statuses = sorted(r[0] for r in results)
            assert statuses.count(200) == 1
            assert set(statuses) <= {200, 409}

    run(go())
    store = WitnessStore(tmp_path / "witness.sqlite")
    assert [r.size for r in store.cosigned(log.origin)] == [2, 3]


def test_litewitness_request_sequence(tmp_path: Path) -> None:
    """litewitness's testscript, replayed against this witness. Where the spec and litewitness
    differ (an unknown origin: the spec says 404, litewitness answers 403), we follow the spec."""
    logs = [(LITEWITNESS["log_vkey"].split("+")[0], LITEWITNESS["log_vkey"])]
    config = witness_config(tmp_path, logs, name=LITEWITNESS["witness_name"])

    async def go() -> None:
        async with running_witness(config) as w:
            for step in LITEWITNESS["sequence"]:
                status, body, _ = await w.post(step["request_body"].encode())
                expected = 404 if "unknown origin" in step["why"] else step["expected_status"]
                assert status == expected, (step["why"], body)
                _kind, _, value = step["assert"].partition(" ")
                want = json.loads(value.split(" ", 1)[1])
                if value.startswith("contains") and status != 404:
                    assert want.encode() in body, step["why"]
                elif value.startswith("=="):
                    assert body == want.encode(), step["why"]

    run(go())


def test_a_body_that_never_arrives_is_408_and_the_witness_stays_up(tmp_path: Path) -> None:
    log = TestLog()
    log.grow(2)
    limits = Limits(request_timeout_s=0.2)

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log], limits)) as w:
            host, port = w.url.removeprefix("http://").split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nold 0\n")
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 30)
            assert status_line.startswith(b"HTTP/1.1 408"), status_line
            writer.close()
            assert (await w.post(log.request(0)))[0] == 200

    run(go())


def test_slow_bodies_from_strangers_do_not_crowd_out_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A red team: 64 sockets sending add-checkpoint bodies at 1 byte/s held every slot, and the
    log's own requests were all answered 503; each dropped body logged a traceback. A body is
    now read before a slot is taken, and a peer that drops its connection is a metric."""
    log = TestLog()
    log.grow(2)
    slow = 6
    limits = Limits(request_timeout_s=20.0, max_concurrent_requests=2)

    async def go() -> None:
        async with running_witness(witness_config(tmp_path, [log], limits)) as w:
            host, port = w.url.removeprefix("http://").split(":")
            writers = []
            for _ in range(slow):
                _, writer = await asyncio.open_connection(host, int(port))
                writer.write(
                    b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nold 0\n"
                )
                await writer.drain()
                writers.append(writer)
            await asyncio.sleep(0.3)  # the witness has their headers: each handler has begun
            status, body, _ = await w.post(log.request(0))
            assert status == 200, body
            for writer in writers:
                writer.transport.abort()  # the strangers go away mid-body
            aborted = w.service.metrics.aborted
            for _ in range(3000):  # up to 30 s on a loaded machine; it is milliseconds here
                if aborted._value.get() == slow:
                    break
                await asyncio.sleep(0.01)
            assert aborted._value.get() == slow
            log.grow(1)
            assert (await w.post(log.request(2)))[0] == 200

    with caplog.at_level("DEBUG"):
        run(go())
    assert not [r for r in caplog.records if r.levelno >= 30], [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.exc_info]
