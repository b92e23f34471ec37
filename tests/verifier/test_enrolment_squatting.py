"""Row 11 of issue 12: enrolment squatting.

Before: lab-1 enrolled lab-2's node key first (the key is public: it is in lab-2's inventory,
in the log); lab-2's own inventory was then refused (``inventory.key_conflict``, first come,
first served), so one lab could keep another's node out of the system. Now the node's entry
carries the node key's own signature over its enrolment (``pausewatch-attestor init`` makes
it, run here as a real process): lab-1 cannot make one for lab-2's facility, a copied one does
not verify for lab-1's facility, and lab-2's proven entry takes the key from lab-1's unproven
one — on a real verifier over gRPC, also across a restart.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from pausewatch.enrolment import EnrolmentProofError, check_enrolment_proofs
from pausewatch.files.keyfile import load_key_file
from pausewatch.inventory import KeyConflictError, inventory_from_toml, key_conflict
from pausewatch.v1 import types_pb2, verifier_pb2
from sim.factories import UsageChain
from tests.verifier.harness import World, running

REPO = Path(__file__).resolve().parents[2]
ACCEPTED = verifier_pb2.DISPOSITION_ACCEPTED


def _init_node(tmp: Path, facility: str, node_id: str) -> tuple[dict[str, object], Path]:
    state = tmp / f"{facility}-{node_id}"
    config = tmp / f"{facility}-{node_id}.toml"
    config.write_text(
        f'state_dir = "{state}"\nfacility_id = "{facility}"\nnode_id = "{node_id}"\n'
        '[[sources]]\nkind = "simulator"\ndevices = 1\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "attestor.cli", "init", "--config", str(config), "--json"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout), state / "node.key"


def _node(inv: types_pb2.Inventory, entry: dict[str, object], *, proof: bool) -> None:
    node = inv.nodes.add(
        node_id=str(entry["node_id"]),
        attestor_public_key=base64.b64decode(str(entry["attestor_public_key"])),
        enrolment_proof=base64.b64decode(str(entry["enrolment_proof"])) if proof else b"",
    )
    for acc in entry["accelerators"]:  # type: ignore[attr-defined]
        node.accelerators.add(uuid=acc["uuid"], model=acc["model"], serial=acc["serial"])


def _fac_b(world: World, entry: dict[str, object], *, proof: bool) -> types_pb2.Inventory:
    inv = types_pb2.Inventory(
        facility_id="fac-b", lab_id="lab-2", version=1, issued_unix_ns=world.clock.now_ns()
    )
    _node(inv, entry, proof=proof)
    inv.overhead.min_ratio, inv.overhead.max_ratio = 1.05, 1.6
    return inv


async def _submit(r, signed: bytes):  # type: ignore[no-untyped-def]
    return await r.stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=signed), timeout=10)


def test_init_prints_an_entry_whose_proof_the_inventory_tool_reads(tmp_path: Path) -> None:
    entry, _ = _init_node(tmp_path, "fac-b", "b-node-01")
    toml = subprocess.run(  # the TOML form of the same (reused) key, as a lab pastes it
        [sys.executable, "-m", "attestor.cli", "init", "--config", str(tmp_path / "fac-b-b-node-01.toml")],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    inv = inventory_from_toml(
        f'facility_id = "fac-b"\nlab_id = "lab-2"\nversion = 1\n'
        f"[overhead]\nmin_ratio = 1.1\nmax_ratio = 1.4\n{toml}",
        "inventory.toml",
        issued_ns=1,
    )
    assert inv.nodes[0].enrolment_proof == base64.b64decode(str(entry["enrolment_proof"]))
    check_enrolment_proofs(inv)
    inv.facility_id = "fac-a"  # the same entry in another facility's inventory
    with pytest.raises(EnrolmentProofError):
        check_enrolment_proofs(inv)


def test_enrolment_squatting_a_proven_entry_takes_its_key_back(tmp_path: Path) -> None:
    entry, key_file = _init_node(tmp_path, "fac-b", "b-node-01")
    lab2_node = load_key_file(key_file)
    assert base64.b64decode(str(entry["attestor_public_key"])) == lab2_node.public_key.raw

    async def scenario() -> None:
        world = World(tmp_path / "v", nodes=2)
        async with running(world) as r:
            # lab-1 copies lab-2's entry, proof and all, into its own facility: the proof is
            # over fac-b, not fac-a — refused, nothing stored
            before = r.counts()
            copied = world.inventory(version=2)
            _node(copied, entry, proof=True)
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await _submit(r, world.sign_inventory(copied))
            assert e.value.code() is grpc.StatusCode.PERMISSION_DENIED
            assert "enrolment_proof" in (e.value.details() or "")
            assert r.counts() == before
            # lab-1 squats with the bare key (no proof: an old-style entry is still accepted)
            squat = world.inventory(version=2)
            _node(squat, entry, proof=False)
            await _submit(r, world.sign_inventory(squat))
            # lab-2's old-style entry (no proof) is refused, as before: first come, first served
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await _submit(r, world.sign_inventory(_fac_b(world, entry, proof=False), world.other_lab))
            assert e.value.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert "no proof of possession" in (e.value.details() or "")
            # the fix: lab-2's entry as init printed it, with the node's proof, takes the key
            proven = _fac_b(world, entry, proof=True)
            assert (await _submit(r, world.sign_inventory(proven, world.other_lab))).version == 1
            chain = UsageChain(lab2_node, facility_id="fac-b", node_id="b-node-01", nonce=await r.nonce())
            (res,) = await r.submit(chain.next())
            assert res.disposition == ACCEPTED, res.message
            # and lab-1 cannot take it back without a proof
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await _submit(r, world.sign_inventory(_with_version(squat, 3)))
            assert e.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        # after a restart the key still belongs to fac-b (a proven entry is never displaced)
        async with running(world, enrol=False) as r:
            (res,) = await r.submit(chain.next())
            assert res.disposition == ACCEPTED, res.message
        # the auditor's check, on the same two inventories in log order, agrees
        key_conflict(proven, [squat])
        with pytest.raises(KeyConflictError):
            key_conflict(_with_version(squat, 3), [proven])

    asyncio.run(scenario())


def _with_version(inv: types_pb2.Inventory, version: int) -> types_pb2.Inventory:
    out = types_pb2.Inventory()
    out.CopyFrom(inv)
    out.version = version
    return out
