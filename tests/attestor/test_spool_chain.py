"""Spool durability rules, chain signing, and configuration errors."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from attestor.aggregate import Aggregator
from attestor.cli import main
from attestor.config import ConfigError, load_config
from attestor.report import GENESIS, NO_CHALLENGE, ChainSigner, ReportBuilder
from attestor.spool import Spool, SpoolLimits
from pausewatch.chain import ChainState, LinkKind, NewLink, classify_link
from pausewatch.envelope import envelope_digest, parse_envelope, verify_envelope
from pausewatch.errors import EnvironmentFaultError
from pausewatch.keys import Ed25519Signer
from pausewatch.reports import decode_report

NS = 10**9


def _period(i: int):  # type: ignore[no-untyped-def]
    return Aggregator().close(1_700_000_000 * NS + i * 60 * NS, 1_700_000_000 * NS + (i + 1) * 60 * NS)


def test_chain_links_verify_with_the_core_chain_rules(tmp_path: Path) -> None:
    signer = Ed25519Signer.generate()
    spool = Spool.open(tmp_path / "s.sqlite", signer.public_key.key_id)
    builder = ReportBuilder("fac-a", "a-node-01")
    chain = ChainSigner(signer, b"\x01" * 16)
    links = []
    for i in range(3):
        report = builder.usage(_period(i), challenge_nonce=NO_CHALLENGE, signed_ns=i)
        link = spool.append(lambda head, report=report: chain.sign(head, report), i)
        assert link is not None
        links.append(link)
    state = None
    for link in links:
        env = parse_envelope(link.envelope)
        verify_envelope(env, signer.public_key)
        header, _ = decode_report(env)
        new = NewLink(header, link.envelope)
        decision = classify_link(state, new)
        assert decision.kind in (LinkKind.NEXT,)
        state = ChainState(new)
    assert spool.head().seq == 3
    assert spool.head().prev == envelope_digest(links[-1].envelope)
    # A new boot continues the same chain from the stored head.
    spool.close()
    spool = Spool.open(tmp_path / "s.sqlite", signer.public_key.key_id)
    again = ChainSigner(signer, b"\x02" * 16)
    report = builder.usage(_period(3), challenge_nonce=NO_CHALLENGE, signed_ns=4)
    link = spool.append(lambda head: again.sign(head, report), 4)
    assert link is not None
    header, _ = decode_report(parse_envelope(link.envelope))
    decision = classify_link(state, NewLink(header, link.envelope))
    assert decision.kind is LinkKind.NEXT
    assert decision.new_boot


def test_crash_before_commit_leaves_nothing(tmp_path: Path) -> None:
    signer = Ed25519Signer.generate()
    spool = Spool.open(tmp_path / "s.sqlite", signer.public_key.key_id)

    def sign_then_die(head):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        spool.append(sign_then_die, 0)
    assert spool.head() == GENESIS
    assert spool.pending(10) == []


def test_full_spool_never_drops_unacknowledged_reports(tmp_path: Path) -> None:
    signer = Ed25519Signer.generate()
    spool = Spool.open(
        tmp_path / "s.sqlite", signer.public_key.key_id, SpoolLimits(max_rows=10, max_bytes=1 << 30)
    )
    builder = ReportBuilder("fac-a", "a-node-01")
    chain = ChainSigner(signer, b"\x01" * 16)
    stored = 0
    for i in range(12):
        report = builder.usage(_period(i), challenge_nonce=NO_CHALLENGE, signed_ns=i)
        if spool.append(lambda head, report=report: chain.sign(head, report), i) is not None:
            stored += 1
    assert stored == 10
    assert len(spool.pending(100)) == 10
    # Acknowledged reports make room (oldest first), whatever their age.
    spool.mark_acked(0, 0, b"", None, 100)
    report = builder.usage(_period(12), challenge_nonce=NO_CHALLENGE, signed_ns=12)
    assert spool.append(lambda head: chain.sign(head, report), 12) is not None
    assert [p.seq for p in spool.pending(100)] == list(range(1, 11))


def test_spool_belongs_to_one_key(tmp_path: Path) -> None:
    Spool.open(tmp_path / "s.sqlite", "a" * 64).close()
    with pytest.raises(EnvironmentFaultError, match="chain is per key"):
        Spool.open(tmp_path / "s.sqlite", "b" * 64)


def test_config_precedence_and_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "attestor.toml"
    cfg.write_text('facility_id = "fac-a"\nnode_id = "n1"\nperiod_s = 30\n[uplink]\nbatch_size = 5\n')
    c = load_config(cfg, env={"PAUSEWATCH_ATTESTOR_UPLINK_BATCH_SIZE": "7"}, overrides=["period_s=15"])
    assert (c.batch_size, c.period_s) == (7, 15.0)
    cfg.write_text('facility_id = "fac-a"\nnode_id = "n1"\nperiod_s = "soon"\n')
    with pytest.raises(ConfigError, match=r"attestor\.toml:3: period_s: expected float"):
        load_config(cfg, env={})
    cfg.write_text('facility_id = "fac-a"\nnode_id = "n1"\n[verifier]\naddres = "x"\n')
    with pytest.raises(ConfigError, match=r"attestor\.toml:4: verifier\.addres: unknown key; did you mean 'verifier\.address'\?"):
        load_config(cfg, env={})
    cfg.write_text('facility_id = "fac-a"\n')
    with pytest.raises(ConfigError, match="node_id: required"):
        load_config(cfg, env={})
    cfg.write_text('facility_id = "fac-a"\nnode_id = "n1"\n[[sources]]\nkind = "gpu"\n')
    with pytest.raises(ConfigError, match=r"sources\[0\]\.kind"):
        load_config(cfg, env={})


def test_cli_config_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "attestor.toml"
    cfg.write_text('facility_id = "fac-a"\nnode_id = "n1"\nsample_interval_s = -1\n')
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "sample_interval_s" in err
    assert str(cfg) in err
    # run catches stop signals from its first line; it gives the caller's handlers back.
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers


def test_init_prints_inventory_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    cfg = tmp_path / "attestor.toml"
    cfg.write_text(
        f'state_dir = "{tmp_path}/state"\nfacility_id = "fac-a"\nnode_id = "a-node-01"\n'
        '[[sources]]\nkind = "simulator"\ndevices = 2\n'
    )
    assert main(["init", "--config", str(cfg), "--json"]) == 0
    out = capsys.readouterr()
    entry = json.loads(out.out)
    assert set(entry) == {"node_id", "attestor_public_key", "location", "enrolment_proof", "accelerators"}
    assert len(entry["accelerators"]) == 2
    assert set(entry["accelerators"][0]) == {"uuid", "model", "serial"}
    assert "a-node-01+" in out.err  # the vkey line
    assert main(["init", "--config", str(cfg)]) == 0  # reuses the key
    text = capsys.readouterr().out
    assert "[[nodes]]" in text
    assert entry["attestor_public_key"] in text
    assert "key reused" in text


def test_challenge_key_accepts_raw_base64_with_plus_signs_and_vkeys() -> None:
    import base64

    from attestor.cli import _public_key
    from pausewatch.note import Ed25519NoteSigner

    raw = bytes.fromhex("b1039bdf96d274784668c6272d953e6ed4420657edf7e4d20a4be25b3b94ffef")
    text = base64.b64encode(raw).decode()
    assert text.count("+") >= 2
    assert _public_key(text, "k").raw == raw
    signer = Ed25519NoteSigner.generate("verifier.example/challenge")
    assert _public_key(signer.vkey, "k").raw == signer.verifier.key.raw
    with pytest.raises(ConfigError, match=r"k: neither base64 .* nor a vkey"):
        _public_key("not+a+key", "k")
