"""A witness process SIGKILLed again and again under load never cosigns two inconsistent
checkpoints of one log and loses no checkpoint it cosigned.

Two clients hammer one ``pausewatch-witness serve`` process with add-checkpoint requests for the
same log (same key): one from an honest history, one from a fork of it at size ``FORK_AT`` —
each with proofs from the size the witness last told it. The witness is SIGKILLed ``KILLS``
times (20; ``PAUSEWATCH_WITNESS_KILLS`` changes it), at random moments under that load, and
restarted on the same state. Afterwards: every cosignature a client received is in the store
with its checkpoint in full; every stored checkpoint belongs to one history; the head is the
newest stored checkpoint (the witness checks that when it starts).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from pathlib import Path

import aiohttp
import pytest

from pausewatch.checkpoint import CosignatureVerifier, parse_checkpoint
from pausewatch.note import open_note
from pausewatch.tlog_witness import parse_cosignatures, parse_size
from tests.witness.logs import TestLog
from tests.witness.procs import make_witness
from witness.store import WitnessStore

pytestmark = pytest.mark.heavy

KILLS = int(os.environ.get("PAUSEWATCH_WITNESS_KILLS", "20"))
FORK_AT = 4
MAX_SIZE = 100_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """Submits its own history's growing checkpoints; remembers every cosignature it got."""

    def __init__(self, log: TestLog, url: str, witness: CosignatureVerifier) -> None:
        self.log, self.url, self.witness = log, url, witness
        self.held = 0
        self.received: list[tuple[int, bytes, bytes]] = []  # size, root, cosignature line
        self.answers: dict[int, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while not stop.is_set() and self.log.size < MAX_SIZE:
                if self.log.size <= self.held:  # past what the witness holds (maybe the other history's)
                    self.log.grow(self.held - self.log.size + random.randint(1, 3))
                size = self.log.size
                try:
                    async with http.post(
                        self.url + "/add-checkpoint", data=self.log.request(self.held, size)
                    ) as r:
                        status, body = r.status, await r.read()
                except (aiohttp.ClientError, TimeoutError):
                    await asyncio.sleep(0.01)
                    continue
                self.answers[status] = self.answers.get(status, 0) + 1
                if status == 200:
                    note = parse_cosignatures(body, self.log.checkpoint(size).format())
                    open_note(note, [self.witness])
                    self.received.append((size, self.log.tree.root(size), body))
                    self.held = size
                elif status == 409:
                    self.held = parse_size(body)
                else:
                    await asyncio.sleep(0.01)  # 422: the witness holds the other history


def test_sigkilled_witness_never_cosigns_two_histories_and_loses_nothing(tmp_path: Path) -> None:
    honest = TestLog()
    honest.grow(FORK_AT)
    fork = honest.fork_at(FORK_AT)
    w = make_witness(tmp_path / "w", "witness.test/kill", [(honest.origin, honest.vkey)])
    port = _free_port()
    text = w.config.read_text().replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"')
    w.config.write_text(text)
    verifier = CosignatureVerifier.from_vkey(w.vkey)
    url = f"http://127.0.0.1:{port}"
    clients = [Client(honest, url, verifier), Client(fork, url, verifier)]
    rng = random.Random(14)

    async def go() -> int:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(c.run(stop)) for c in clients]
        kills = 0
        try:
            for _ in range(KILLS):
                await asyncio.to_thread(w.start)
                before = sum(len(c.received) for c in clients)
                async with asyncio.timeout(20):  # load reaches the witness, then a random moment
                    while sum(len(c.received) for c in clients) < before + 1:
                        await asyncio.sleep(0.005)
                await asyncio.sleep(rng.uniform(0.0, 0.15))
                w.kill()
                kills += 1
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            w.kill()
        return kills

    try:
        kills = asyncio.run(asyncio.wait_for(go(), 120))
        w.start()  # starts only if the head is the newest cosigned checkpoint
    finally:
        w.stop()
    assert kills == KILLS

    store = WitnessStore(w.directory / "state" / "witness.sqlite")
    stored = store.cosigned(honest.origin)
    by_note = {r.note for r in stored}
    # nothing lost: every cosignature a client received is stored, with its checkpoint in full
    received = [x for c in clients for x in c.received]
    assert received
    for size, _root, line in received:
        assert any(note.endswith(line) and f"\n{size}\n".encode() in note for note in by_note), size
    # never two histories: every stored checkpoint is one history's, and only one history
    # appears past the fork
    histories = set()
    for record in stored:
        cp = parse_checkpoint(open_note(record.note, [verifier, honest.signer.verifier]).text)
        assert cp.root_hash == record.root
        mine = [
            log for log in (honest, fork) if cp.size <= log.size and log.tree.root(cp.size) == cp.root_hash
        ]
        assert mine, f"size {cp.size}: a root of neither history"
        if cp.size > FORK_AT:
            histories.add(id(mine[0]))
    assert len(histories) == 1
    sizes = [r.size for r in stored]
    assert sizes == sorted(sizes)  # cosigned in order: never rolled back
    assert store.head(honest.origin).size == sizes[-1]
    # both histories really competed: the loser was refused
    loser = next(c for c in clients if id(c.log) not in histories)
    assert loser.answers.get(422, 0) > 0
