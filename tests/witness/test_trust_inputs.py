"""The auditor's witness checkpoint check (pausewatch.roots), the witness's and the
verifier's configuration, and the witness command line: bad input is one line and an exit code."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from pausewatch.checkpoint import CosignatureSigner, sign_checkpoint
from pausewatch.errors import VerificationError
from pausewatch.keys import Ed25519Signer
from pausewatch.policy import parse_policy
from pausewatch.roots import check_witness_checkpoint
from tests.witness.harness import WITNESS_NAME, WITNESS_SEED, running_witness, witness_config, witness_vkey
from tests.witness.logs import TestLog
from verifier.config import ConfigError
from verifier.config import load_config as load_verifier_config
from witness.cli import main as witness_main
from witness.config import ConfigError as WitnessConfigError
from witness.config import load_config

STRANGER = CosignatureSigner("stranger.test/w", Ed25519Signer.from_seed(b"\x55" * 32), 1)


def _setup() -> tuple[TestLog, TestLog, bytes]:
    log = TestLog()
    log.grow(6)
    fork = log.fork_at(3)
    fork.grow(2)  # size 6 too, another root
    policy = f"log {log.vkey}\nwitness w1 {witness_vkey()}\nquorum w1\n".encode()
    return log, fork, policy


def _cosigned(log: TestLog, size: int, *cosigners: CosignatureSigner) -> bytes:
    signers = cosigners or (CosignatureSigner(WITNESS_NAME, Ed25519Signer.from_seed(WITNESS_SEED), 100),)
    return sign_checkpoint(log.checkpoint(size), [log.signer, *signers]).format()


def test_a_witness_checkpoint_the_bundle_holds_passes() -> None:
    log, _, policy = _setup()
    roots = {s: log.tree.root(s) for s in (2, 4, 6)}
    check = check_witness_checkpoint(_cosigned(log, 4), parse_policy(policy), roots, 6)
    assert check.witnesses == ("w1",)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("split view", "SPLIT VIEW"),
        ("size missing from the bundle", "holds no checkpoint of that size"),
        ("beyond the head", "beyond the bundle's head"),
        ("no policy witness cosigned", "no cosignature by a witness of the policy"),
        ("another log", "does not verify under the policy"),
    ],
)
def test_a_witness_checkpoint_that_disagrees_fails(case: str, message: str) -> None:
    log, fork, policy = _setup()
    roots = {s: log.tree.root(s) for s in (2, 4, 6)}
    head = 6
    note = _cosigned(fork, 6)
    if case == "size missing from the bundle":
        note = _cosigned(log, 5)
    elif case == "beyond the head":
        log.grow(1)
        note = _cosigned(log, 7)
    elif case == "no policy witness cosigned":
        note = _cosigned(log, 4, STRANGER)
    elif case == "another log":
        note = _cosigned(TestLog(seed=9, origin="other.test/log").fork_at(0), 1)
    with pytest.raises(VerificationError, match=message):
        check_witness_checkpoint(note, parse_policy(policy), roots, head)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("listen = 'x'\n", r"name: missing \(required\)"),
        ("name = 'a b'\n", "not a valid C2SP key name"),
        ("name = 'w'\nbogus = 1\n", "bogus: unknown key"),
        ("name = 'w'\nlisten = 'nohost'\n", "is not host:port"),
        ("name = 'w'\n[limits]\nmax_request_bytes = 10\n", r"w.toml:3: limits.max_request_bytes: 10 is out of range"),
        ("name = 'w'\n[[logs]]\nvkey = 'nope'\n", r"logs\[0\]\.vkey: vkey"),
        ("name = 'w'\n[[logs]]\norigin = 'x'\n", r"logs\[0\]\.vkey: missing \(required\)"),
        ("name = = 'w'\n", "w.toml:1: \\(syntax\\): not valid TOML"),
    ],
)
def test_witness_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "w.toml"
    path.write_text(text)
    with pytest.raises(WitnessConfigError, match=message):
        load_config(path)


def test_witness_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = TestLog()
    config = tmp_path / "w.toml"
    config.write_text(f'name = "w.test/1"\nstate_dir = "state"\n[[logs]]\nvkey = "{log.vkey}"\n')
    assert witness_main(["--version"]) == 0
    assert witness_main(["init", "--config", str(config)]) == 0
    assert (tmp_path / "witness.key").stat().st_mode & 0o777 == 0o600
    assert witness_main(["init", "--config", str(config)]) == 2  # never overwrites a key
    assert witness_main(["status", "--config", str(config), "--json"]) == 0
    assert witness_main(["status", "--config", str(tmp_path / "missing.toml")]) == 2
    assert witness_main(["serve"]) == 2  # --config is required
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "refusing to overwrite" in err


def test_status_exits_1_while_the_witness_holds_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = TestLog()
    log.grow(3)
    fork = log.fork_at(2)
    config = witness_config(tmp_path / "state", [log])

    async def go() -> None:
        async with running_witness(config) as w:
            assert (await w.post(log.request(0)))[0] == 200
            assert (await w.post(fork.request(3)))[0] == 409  # same size, another root: evidence

    asyncio.run(asyncio.wait_for(go(), 30))
    toml = tmp_path / "w.toml"
    toml.write_text(
        f'name = "{WITNESS_NAME}"\nstate_dir = "state"\nkey_file = "w.key"\n[[logs]]\nvkey = "{log.vkey}"\n'
    )
    (tmp_path / "w.key").write_text(
        f"pausewatch ed25519 seed v1\n{base64.b64encode(WITNESS_SEED).decode()}\n"
    )
    (tmp_path / "w.key").chmod(0o600)
    assert witness_main(["status", "--config", str(toml), "--json"]) == 1
    assert '"evidence": 1' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('url = "ftp://w"\nvkey = "x"\n', "url: must start with http"),
        ('url = "http://w"\nvkey = "nope"\n', "witnesses\\[0\\].vkey"),
        ('url = "http://w"\n', r"witnesses\[0\]\.vkey: missing \(required\)"),
    ],
)
def test_verifier_witness_config_errors(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "v.toml"
    path.write_text(
        'state_dir = "s"\n[log]\norigin = "o.test/l"\nkey_file = "l.key"\n[challenge]\nkey_file = "c.key"\n'
        '[verdict]\nkey_file = "v.key"\n[[witnesses]]\n' + table
    )
    with pytest.raises(ConfigError, match=message):
        load_verifier_config(path)


def test_attestor_log_policy_is_read_and_checked(tmp_path: Path) -> None:
    from attestor.cli import _policy
    from attestor.config import ConfigError as AttestorConfigError
    from attestor.config import load_config as load_attestor_config

    log, _, policy = _setup()
    good = tmp_path / "policy.txt"
    good.write_bytes(policy.replace(b"\nquorum", b" http://127.0.0.1:1\nquorum"))
    config = tmp_path / "attestor.toml"
    config.write_text(f'facility_id = "fac-a"\nnode_id = "n1"\n[log]\nvkey = "{log.vkey}"\npolicy = "{good}"\n')
    assert load_attestor_config(config, env={}).log_policy == str(good)
    parsed = _policy(str(good))
    assert parsed is not None
    assert [w.url for w in parsed.witnesses] == ["http://127.0.0.1:1"]
    assert _policy("") is None
    with pytest.raises(AttestorConfigError, match=r"log\.policy: cannot read"):
        _policy(str(tmp_path / "missing.txt"))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"quorum nobody\n")
    with pytest.raises(AttestorConfigError, match=r"log\.policy: .*quorum"):
        _policy(str(bad))
