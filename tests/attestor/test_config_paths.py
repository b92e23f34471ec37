"""Relative paths in a config file mean beside the file, from whatever directory the command
starts: an attestor started elsewhere finds its key and spool, never silently makes a new key
(every report of which the verifier would refuse). Flags and the environment stay relative to
the current directory. The verifier has resolved its file's paths this way all along."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attestor.cli import main
from attestor.config import load_config
from verifier.config import load_config as load_verifier_config

CONFIG = """
facility_id = "fac-a"
node_id = "a-node-01"
state_dir = "state"
[[sources]]
kind = "replay"
path = "traces/node.csv"
"""


def test_attestor_paths_resolve_beside_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "attestor.toml").write_text(
        CONFIG.replace('kind = "replay"\npath = "traces/node.csv"', 'kind = "simulator"')
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["init", "--config", "../etc/attestor.toml", "--json"]) == 0
    capsys.readouterr()
    assert (etc / "state" / "node.key").is_file()
    assert not (elsewhere / "state").exists()
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)  # a second start from yet another directory: the same key and spool
    assert main(["init", "--config", str(etc / "attestor.toml"), "--json"]) == 0
    assert "key reused" in capsys.readouterr().err
    assert main(["status", "--config", str(etc / "attestor.toml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert not (other / "state").exists()


def test_source_paths_and_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "attestor.toml").write_text(CONFIG)
    monkeypatch.chdir("/")
    cfg = load_config(tmp_path / "attestor.toml", env={})
    assert cfg.state_dir == tmp_path / "state"
    assert cfg.key_file == tmp_path / "state" / "node.key"
    assert dict(cfg.sources[0].options)["path"] == str(tmp_path / "traces" / "node.csv")
    monkeypatch.chdir(tmp_path / "..")
    cfg = load_config(tmp_path / "attestor.toml", env={}, overrides=["state_dir=run/state"])
    assert cfg.state_dir == Path.cwd() / "run" / "state"  # a flag: relative to where it was typed
    cfg = load_config(tmp_path / "attestor.toml", env={"PAUSEWATCH_ATTESTOR_KEY_FILE": "k/node.key"})
    assert cfg.key_file == Path.cwd() / "k" / "node.key"


def test_verifier_paths_resolve_beside_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (Path(__file__).parents[2] / "deploy" / "verifier.example.toml").read_text()
    text = text.replace('"/var/lib/pausewatch-verifier"', '"state"').replace(
        '"/run/credentials/pausewatch-verifier.service/log.key"', '"keys/log.key"'
    )
    text = text.replace("<base64 raw Ed25519 key or vkey>", "A" * 43 + "=")
    (tmp_path / "verifier.toml").write_text(text)
    monkeypatch.chdir("/")
    cfg = load_verifier_config(tmp_path / "verifier.toml", environ={})
    assert cfg.state_dir == tmp_path / "state"
    assert cfg.log_key_file == tmp_path / "keys" / "log.key"
