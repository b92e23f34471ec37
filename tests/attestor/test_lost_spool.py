"""Row 13 of issue 12: a lost attestor spool is loud.

Before: an attestor whose spool was gone started again at seq 0 under the same key, silently;
the verifier then recorded a critical ``chain.rollback`` — a VIOLATION blamed on the lab. Now
``run`` refuses (exit 2, one line naming ``--new-chain``); ``init --new-chain`` retires the
key and makes a new one, whose entry the lab enrols in place of the old one: the verifier
records the new key's chain from seq 0 as a new chain, with no rollback.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from pausewatch.files.statedir import LOCK_FILE
from pausewatch.v1 import verifier_pb2
from tests.verifier.harness import World, running

REPO = Path(__file__).resolve().parents[2]
ATTESTOR = [sys.executable, "-m", "attestor.cli"]


def _holder_is(state: Path, pid: int) -> bool:
    try:
        return int(json.loads((state / LOCK_FILE).read_text())["pid"]) == pid
    except (OSError, ValueError, KeyError):
        return False


def _run_until_locked(config: Path, state: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*ATTESTOR, "run", "--config", str(config)], cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not _holder_is(state, proc.pid):  # observable: it holds its state directory
        assert proc.poll() is None, "the attestor exited"
        assert time.monotonic() < deadline, "the attestor never took its lock"
        time.sleep(0.02)
    return proc


def test_a_lost_spool_refuses_to_run_until_a_new_chain_is_started(tmp_path: Path) -> None:
    state = tmp_path / "node"
    config = tmp_path / "attestor.toml"
    config.write_text(
        f'state_dir = "{state}"\nfacility_id = "fac-a"\nnode_id = "node-00"\nperiod_s = 60\n'
        '[[sources]]\nkind = "simulator"\ndevices = 1\n'
    )
    init = subprocess.run(
        [*ATTESTOR, "init", "--config", str(config), "--json"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    old_key = json.loads(init.stdout)["attestor_public_key"]
    assert (state / "spool.sqlite").exists()  # init starts the chain
    proc = _run_until_locked(config, state)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    for p in state.glob("spool.sqlite*"):
        p.unlink()  # the spool is lost; the key survives
    refused = subprocess.run(
        [*ATTESTOR, "run", "--config", str(config)],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2, refused.stderr
    assert "--new-chain" in refused.stderr
    assert "rollback" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (state / "spool.sqlite").exists()  # nothing was signed
    reinit = subprocess.run(  # nor does a plain init quietly start the chain again
        [*ATTESTOR, "init", "--config", str(config)],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert reinit.returncode == 2, reinit.stderr
    assert "--new-chain" in reinit.stderr
    new = subprocess.run(
        [*ATTESTOR, "init", "--config", str(config), "--json", "--new-chain"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(new.stdout)["attestor_public_key"] != old_key
    assert list(state.glob("node.key.retired-*"))  # the old key is kept, not destroyed
    proc = _run_until_locked(config, state)  # runs again, on the new chain
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def test_the_verifier_records_a_new_chain_under_a_re_enrolled_key_not_a_rollback(tmp_path: Path) -> None:
    from pausewatch.keys import Ed25519Signer

    async def scenario() -> None:
        world = World(tmp_path, nodes=1)
        async with running(world) as r:
            nonce = await r.nonce()
            chain = world.chain(0, nonce)
            await r.submit(*[chain.next() for _ in range(4)])
            # the lost spool, silently restarted at seq 0 under the same key: a rollback
            silent = world.chain(0, nonce, boot_id=b"\x02" * 16)
            (res,) = await r.submit(silent.next())
            assert "chain.rollback" in res.finding_ids
            # the new chain: a new key the lab enrols (a signed restart), from seq 0
            world.node_keys[0] = Ed25519Signer.from_seed(b"\x09" * 32)
            await r.stub.SubmitInventory(
                verifier_pb2.SubmitSignedRequest(
                    envelope=world.sign_inventory(world.inventory(version=2))
                ),
                timeout=5,
            )
            fresh = world.chain(0, nonce, boot_id=b"\x03" * 16)
            results = await r.submit(*[fresh.next() for _ in range(3)])
            assert [x.disposition for x in results] == [1, 1, 1]
            assert not any(f in ("chain.rollback", "chain.fork") for x in results for f in x.finding_ids)

    asyncio.run(scenario())
