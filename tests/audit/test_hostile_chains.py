"""Row 3 of issue 12: one attestor's chain can no longer crash every audit.

A chain with seq 0, 10, 5 (a hole inside a hole) is a routine backfill to the verifier; the
auditor's own copy of the chain table once raised ``InternalError`` on it and
``pausewatch-audit verify`` died with a traceback. Now both call one rule
(:func:`pausewatch.chain.decide_link`): the bundle exported by a real verifier that took
such chains — wide holes, reorderings — audits clean, in a real ``pausewatch-audit``
process.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from pathlib import Path

from auditor.chains import ChainReplay, CompactLink
from pausewatch import bundle as bf
from pausewatch.chain import LinkKind
from pausewatch.envelope import envelope_digest, parse_envelope
from pausewatch.reports import decode_report
from tests.verifier.harness import ORIGIN, World, running
from verifier.export import export_bundle, trust_files
from verifier.sqlite_storage import SqliteStorage

REPO = Path(__file__).resolve().parents[2]
ACCEPTED = 1

# (node, the order its chain's reports are delivered in)
ORDERS = {
    0: [0, 10, 5],  # the crash of the issue
    1: [0, 40, 20, 10, 30, 39, 1, 21, 11, 19],  # wide holes, each filled from both sides
    2: [7, 3, 5, 0, 6, 4],  # the first report arrives last
}


def _compact(raw: bytes) -> CompactLink:
    header, _ = decode_report(parse_envelope(raw))
    return CompactLink(header.key_id, header.seq, header.boot_id, header.prev, envelope_digest(raw))


def test_chain_replay_takes_a_hole_inside_a_hole(tmp_path: Path) -> None:
    world = World(tmp_path, nodes=1)
    chain = world.chain(0, b"\x07" * 32)
    sent = [chain.next() for _ in range(11)]
    replay = ChainReplay()
    kinds = [replay.add(_compact(sent[s])).kind for s in (0, 10, 5)]
    assert kinds == [LinkKind.NEXT, LinkKind.GAP, LinkKind.BACKFILL]


def test_chain_replay_never_raises_on_reordered_chains_with_wide_holes(tmp_path: Path) -> None:
    world = World(tmp_path, nodes=1)
    chain = world.chain(0, b"\x07" * 32)
    sent = [chain.next() for _ in range(64)]
    rng = random.Random(12)
    for _ in range(200):
        order = rng.sample(range(64), rng.randrange(1, 20))
        replay = ChainReplay()
        for s in order:  # every one is an honest link delivered out of order: never a conflict
            assert replay.add(_compact(sent[s])).kind in {
                LinkKind.NEXT,
                LinkKind.GAP,
                LinkKind.BACKFILL,
            }


def test_audit_of_a_real_log_with_holes_inside_holes_exits_0(tmp_path: Path) -> None:
    world = World(tmp_path, nodes=3)

    async def scenario() -> None:
        async with running(world) as r:
            nonce = await r.nonce()
            for node, order in ORDERS.items():
                chain = world.chain(node, nonce)
                sent = [chain.next() for _ in range(max(order) + 1)]
                for s in order:
                    (res,) = await r.submit(sent[s])
                    assert res.disposition == ACCEPTED, (node, s, res.message)

    asyncio.run(scenario())
    policy, roots = trust_files(world.config(), keys=world.keys)
    (tmp_path / "policy.txt").write_bytes(policy)
    (tmp_path / "roots.toml").write_bytes(roots)
    storage = SqliteStorage(world.db, readonly=True)
    try:
        export_bundle(storage, tmp_path / "bundle", origin=ORIGIN, policy=policy, roots=roots, scope=bf.Scope())
    finally:
        storage.close()
    audit = subprocess.run(
        [
            str(Path(sys.executable).parent / "pausewatch-audit"),
            "verify",
            str(tmp_path / "bundle"),
            "--policy",
            str(tmp_path / "policy.txt"),
            "--roots",
            str(tmp_path / "roots.toml"),
            "--workers",
            "1",
        ],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in audit.stderr + audit.stdout
    assert audit.returncode == 0, audit.stderr + audit.stdout


def test_a_bug_in_the_auditor_is_exit_2_with_one_line_not_a_traceback(monkeypatch, capsys) -> None:
    import importlib

    from auditor.cli import main as audit_main
    from pausewatch.errors import InternalError

    audit_verify = importlib.import_module("auditor.verify")  # after audit_cli: it imports it

    def broken(args: object) -> dict[str, object]:
        raise InternalError("BACKFILL needs at least one stored neighbour")

    monkeypatch.setattr(audit_verify, "_verify", broken, raising=True)
    code = audit_main(["verify", "anything", "--trust-bundle-keys"])
    err = capsys.readouterr().err
    assert code == 2
    assert "internal error" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
