"""A split view, caught three ways, with real witness processes on localhost.

The verifier is modified in the test to fork its log: after a history witnessed up to size N,
its state directory is copied, and the two copies go on with different entries under the same
log key (two histories from one size). History A is shown to the witnesses (two
``pausewatch-witness serve`` processes, each party's own) and to one attestor; history B to
another attestor and to the auditor. The fork is caught

- by the witnesses: history B's checkpoint is refused (422: its proof does not lead from the
  root they cosigned) and kept as evidence (``pausewatch-witness status`` exits 1);
- by an attestor shown history B: its log check compares the witnesses' latest checkpoints
  (their read endpoint) with its own view and raises ``log.split_view`` — checked in process
  (``Uplink.check_log``; the same check against history A raises nothing) and with a real
  ``pausewatch-attestor run`` process whose ``log.policy`` names the witnesses, whose
  ``pausewatch-attestor status`` then shows the alarm (exit 1);
- by the auditor: ``pausewatch-audit verify`` (a real process) with the auditor's own policy
  exits 1 on history B's bundle (its head lacks the witness quorum, and it disagrees with the
  checkpoint the auditor brought from a witness), and 0 on history A's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from attestor.alarms import Alarms
from attestor.metrics import AttestorMetrics
from attestor.receipts import LogTrust, ReceiptError
from attestor.spool import Spool
from attestor.uplink import TlsSettings, Uplink, UplinkSettings
from pausewatch import bundle as bf
from pausewatch.keys import Ed25519Signer
from pausewatch.note import Ed25519NoteVerifier
from pausewatch.policy import parse_policy
from sim.factories import UsageChain
from tests.verifier.harness import ORIGIN, Running, World
from tests.witness.harness import verifier_with
from tests.witness.procs import WitnessProcess, make_witness
from verifier.config import WitnessTarget
from verifier.export import export_bundle, trust_files
from verifier.sqlite_storage import SqliteStorage
from verifier.witnesses import COSIGNATURES_FILE, CosignatureStore, Witnessed

pytestmark = pytest.mark.heavy


async def witness_size(w: WitnessProcess) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{w.url}/checkpoint/{quote(ORIGIN, safe='')}") as r:
        if r.status == 404:
            return 0
        text = (await r.read()).decode()
        return int(text.split("\n")[1])


async def witnessed_to_latest(r: Running, witnesses: list[WitnessProcess]) -> int:
    seq = r.server.sequencer
    sizes: list[int] = []

    async def check() -> bool:
        sizes[:] = [await witness_size(w) for w in witnesses]
        return seq.latest is not None and all(s == seq.latest.size for s in sizes)

    async with asyncio.timeout(30):
        while not await check():
            await asyncio.sleep(0.05)
    return sizes[0]


def attestor_uplink(tmp: Path, r: Running, world: World, policy_bytes: bytes) -> tuple[Uplink, Spool]:
    tmp.mkdir(parents=True, exist_ok=True)
    signer = Ed25519Signer.generate()
    spool = Spool.open(tmp / "spool.sqlite", signer.public_key.key_id)
    metrics = AttestorMetrics(lambda: world.clock.now_ns() / 1e9)
    settings = UplinkSettings(
        address=f"127.0.0.1:{r.server.port}",
        tls=TlsSettings(insecure=True),
        challenge_key=world.keys.challenge.public_key,
        log=LogTrust(ORIGIN, Ed25519NoteVerifier.from_vkey(world.vkey())),
        policy=parse_policy(policy_bytes),
        deadline_s=10.0,
    )
    return Uplink(
        settings, spool, world.clock, metrics, Alarms(spool, metrics, world.clock), rng=random.Random(1)
    ), spool


async def attestor_alarms(directory: Path, r: Running, world: World, policy: Path) -> list[str]:
    """A real ``pausewatch-attestor run`` shown this verifier's log, with the witnesses in its
    ``log.policy``: the alarms ``pausewatch-attestor status`` shows once its log check ran."""
    directory.mkdir(parents=True)
    config = directory / "attestor.toml"
    challenge_key = base64.b64encode(world.keys.challenge.public_key.raw).decode()
    config.write_text(
        f'state_dir = "{directory / "state"}"\nfacility_id = "fac-a"\nnode_id = "node-09"\nperiod_s = 60\n'
        f'[verifier]\naddress = "127.0.0.1:{r.server.port}"\ninsecure = true\n'
        f'challenge_key = "{challenge_key}"\n[log]\nvkey = "{world.vkey()}"\npolicy = "{policy}"\n'
        '[[sources]]\nkind = "simulator"\ndevices = 1\n'
    )
    attestor = str(Path(sys.executable).parent / "pausewatch-attestor")
    with (directory / "attestor.log").open("wb") as log:
        proc = subprocess.Popen([attestor, "run", "--config", str(config)], stdout=log, stderr=log)
    try:
        async with asyncio.timeout(60):
            while True:
                done = await asyncio.to_thread(
                    subprocess.run,
                    [attestor, "status", "--config", str(config), "--json"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                # before the spool exists, status --json is {"ok": false, "error": ...}: no alarms yet
                kinds = [a["kind"] for a in json.loads(done.stdout).get("alarms", [])] if done.stdout.strip() else []
                if "log.split_view" in kinds:
                    assert done.returncode == 1
                    return kinds
                assert proc.poll() is None, (directory / "attestor.log").read_text()[-2000:]
                await asyncio.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def export(world: World, config_witnessed: bool, out: Path, policy: bytes, roots: bytes) -> None:
    storage = SqliteStorage(world.db, readonly=True)
    store = CosignatureStore(world.db.parent / COSIGNATURES_FILE, readonly=True)
    try:
        witnessed = Witnessed(store.published_size(2), store) if config_witnessed else None
        export_bundle(
            storage,
            out,
            origin=ORIGIN,
            policy=policy,
            roots=roots,
            scope=bf.Scope(kind="full"),
            witnessed=witnessed,
        )
    finally:
        store.close()
        storage.close()


def audit(bundle: Path, policy: Path, roots: Path, witness_checkpoint: Path) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "pausewatch-audit"),
            "verify",
            str(bundle),
            "--policy",
            str(policy),
            "--roots",
            str(roots),
            "--witness-checkpoint",
            str(witness_checkpoint),
            "--workers",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_a_forked_log_is_caught_by_witnesses_attestor_and_auditor(tmp_path: Path) -> None:
    world = World(tmp_path / "a")
    (tmp_path / "a").mkdir()
    witnesses = [
        make_witness(tmp_path / "w1", "witness.party-a/w1", [(ORIGIN, world.vkey())]),
        make_witness(tmp_path / "w2", "witness.party-b/w2", [(ORIGIN, world.vkey())]),
    ]
    for w in witnesses:
        w.start()
    targets = [WitnessTarget(w.url, w.vkey) for w in witnesses]

    async def go() -> dict[str, object]:
        found: dict[str, object] = {}
        async with verifier_with(world, targets, quorum=2) as r:
            policy_bytes, roots_bytes = trust_files(r.server.config, world.keys)
            chain = world.chain(0, await r.nonce())
            await r.submit(*(chain.next() for _ in range(4)))
            found["n"] = await witnessed_to_latest(r, witnesses)
        # the fork: one state directory becomes two, same log key, same first N entries
        shutil.copytree(tmp_path / "a", tmp_path / "b")
        world_b = World(tmp_path / "b")
        async with verifier_with(world, targets, quorum=2) as ra:  # history A, shown to the witnesses
            await ra.submit(*(chain.next() for _ in range(2)))
            found["a"] = await witnessed_to_latest(ra, witnesses)
            uplink_a, spool_a = attestor_uplink(tmp_path / "attestor-a", ra, world, policy_bytes)
            await uplink_a.check_log()  # consistent with the witnesses: no alarm
            await uplink_a.close()
            spool_a.close()
        async with verifier_with(world_b, targets, quorum=2) as rb:  # history B
            chain_b = UsageChain(
                world.node_keys[1], facility_id=world.facility_id, node_id="node-01", nonce=await rb.nonce()
            )  # type: ignore[arg-type]
            for _ in range(3):
                await rb.submit(*(chain_b.next() for _ in range(3)))
            found["b"] = rb.server.sequencer.latest.size  # type: ignore[union-attr]
            async with asyncio.timeout(30):
                while not all(w.status()[1]["logs"][0]["evidence"] for w in witnesses):  # type: ignore[index]
                    await asyncio.sleep(0.05)
            uplink_b, spool_b = attestor_uplink(tmp_path / "attestor-b", rb, world_b, policy_bytes)
            with pytest.raises(ReceiptError) as caught:
                await uplink_b.check_log()
            found["attestor"] = caught.value.kind
            await uplink_b.close()
            spool_b.close()
            (tmp_path / "policy.txt").write_bytes(policy_bytes)
            found["attestor_process"] = await attestor_alarms(
                tmp_path / "attestor-b-process", rb, world_b, tmp_path / "policy.txt"
            )
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{witnesses[0].url}/checkpoint/{quote(ORIGIN, safe='')}") as resp,
        ):
            (tmp_path / "from-w1.note").write_bytes(await resp.read())
        (tmp_path / "policy.txt").write_bytes(policy_bytes)
        (tmp_path / "roots.toml").write_bytes(roots_bytes)
        return found

    try:
        found = asyncio.run(asyncio.wait_for(go(), 120))
        statuses = [w.status() for w in witnesses]
    finally:
        for w in witnesses:
            w.stop()
    assert found["b"] > found["a"] > found["n"]  # type: ignore[operator]
    # the witnesses: 422 kept as evidence, status exits 1; they cosigned history A only
    for code, status in statuses:
        assert code == 1
        log = status["logs"][0]  # type: ignore[index]
        assert log["size"] == found["a"]
        assert log["evidence"] >= 1
    assert found["attestor"] == "log.split_view"
    assert "log.split_view" in found["attestor_process"]  # type: ignore[operator]
    # the auditor, with its own policy (both witnesses, quorum 2) and W1's latest checkpoint
    policy, roots, brought = tmp_path / "policy.txt", tmp_path / "roots.toml", tmp_path / "from-w1.note"
    export(world, True, tmp_path / "bundle-a", policy.read_bytes(), roots.read_bytes())
    code, out = audit(tmp_path / "bundle-a", policy, roots, brought)
    assert code == 0, out
    export(World(tmp_path / "b"), False, tmp_path / "bundle-b", policy.read_bytes(), roots.read_bytes())
    code, out = audit(tmp_path / "bundle-b", policy, roots, brought)
    assert code == 1
    assert "checkpoint.signature" in str(out["reason"])  # the head lacks the witness quorum
    assert "witness.checkpoint" in str(out["reason"])  # and disagrees with what W1 cosigned
