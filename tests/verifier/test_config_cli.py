"""Configuration (TOML, then environment, then flags; errors name key and file) and the CLI's
exit codes, --help and --json."""

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pausewatch.files.keyfile import generate_key_file
from verifier.config import ConfigError, load_config, with_overrides

REPO = Path(__file__).resolve().parents[2]
LAB = base64.b64encode(b"\x11" * 32).decode()
BASE = f"""
state_dir = "state"
[log]
origin = "v.test/log"
key_file = "log.key"
[challenge]
key_file = "c.key"
[verdict]
key_file = "v.key"
[[labs]]
lab_id = "lab-1"
public_keys = ["{LAB}"]
facilities = ["fac-a"]
"""


def write(tmp_path, text):
    p = tmp_path / "verifier.toml"
    p.write_text(text)
    return p


def test_file_then_environment_then_flags(tmp_path):
    cfg = load_config(write(tmp_path, BASE + '\n[clock]\nmode = "accelerated"\nspeedup = 60\n'), environ={})
    assert cfg.state_dir == tmp_path / "state"
    assert cfg.log_key_file == tmp_path / "log.key"
    assert cfg.clock.mode == "accelerated"
    assert cfg.labs[0].keys[0].raw == b"\x11" * 32
    assert cfg.challenge.lifetime_s == 3 * cfg.challenge.interval_s
    env = {"PAUSEWATCH_VERIFIER_LISTEN": "0.0.0.0:9", "PAUSEWATCH_VERIFIER_CLOCK_SPEEDUP": "10"}
    cfg = load_config(write(tmp_path, BASE), environ=env)
    assert cfg.listen == "0.0.0.0:9"
    assert cfg.clock.speedup == 10
    assert with_overrides(cfg, listen="127.0.0.1:1", state_dir=None).listen == "127.0.0.1:1"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("listen = 5\n", "verifier.toml:1: listen: must be a string, got an integer"),
        ('listen = "nowhere"\n', "verifier.toml:1: listen: must be host:port"),
        ("bogus = 1\n", "verifier.toml:1: bogus: unknown key"),
        ("[limits]\nmax_batch_reports = 0\n", "limits.max_batch_reports: 0 is out of range [1, 100000]"),
        ('[clock]\nmode = "fast"\n', "clock.mode: 'fast' is not one of system, accelerated"),
        # verdicts wait for the first challenge after a bucket's end (its inventory version)
        ("[evaluation]\ngrace_s = 30\n", "evaluation.grace_s: 30 s is shorter than challenge.interval_s (60 s)"),
    ],
)
def test_errors_name_the_key_and_the_file(tmp_path, extra, needle):
    text = extra + BASE if not extra.startswith("[") else BASE + extra
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text), environ={})
    assert needle in str(e.value)
    assert "verifier.toml" in str(e.value)


def test_bad_lab_key_and_bad_environment(tmp_path):
    with pytest.raises(ConfigError, match="public_keys"):
        load_config(write(tmp_path, BASE.replace(LAB, "not-a-key")), environ={})
    with pytest.raises(ConfigError, match="PAUSEWATCH_VERIFIER_CLOCK_SPEEDUP"):
        load_config(write(tmp_path, BASE), environ={"PAUSEWATCH_VERIFIER_CLOCK_SPEEDUP": "fast"})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml", environ={})


def cli(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "verifier.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_help_exit_codes_and_json(tmp_path):
    assert cli("--help").returncode == 0
    assert "serve" in cli("--help").stdout
    bad = cli("serve", "--config", str(write(tmp_path, "listen = 5\n" + BASE)))
    assert bad.returncode == 2
    assert "listen: must be a string" in bad.stderr
    out = cli("--json", "keygen", "--out", str(tmp_path / "k.key"), "--name", "v.test/log")
    assert out.returncode == 0
    assert json.loads(out.stdout)["vkey"].startswith("v.test/log+")
    assert cli("keygen", "--out", str(tmp_path / "k.key")).returncode == 2  # never overwrites
    generate_key_file(tmp_path / "lab.key")
    (tmp_path / "inv.toml").write_text('facility_id = "fac-a"\nlab_id = "lab-1"\n')  # no version
    res = cli(
        "inventory",
        "sign",
        "--key",
        str(tmp_path / "lab.key"),
        "--in",
        str(tmp_path / "inv.toml"),
        "--out",
        str(tmp_path / "x"),
    )
    assert res.returncode == 2
    assert "version" in res.stderr


def test_an_endless_or_huge_config_file_is_refused_not_read_forever(tmp_path):
    # a red team named /dev/zero: the verifier read it until killed (2026-12-05)
    with pytest.raises(ConfigError, match=r"/dev/zero: .*at most 1048576"):
        load_config(Path("/dev/zero"), environ={})
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(ConfigError, match="at most 1048576"):
        load_config(big, environ={})
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(deep, environ={})


def test_a_challenge_interval_past_the_default_grace_is_refused_at_its_key(tmp_path):
    text = BASE.replace('key_file = "c.key"', 'key_file = "c.key"\ninterval_s = 300')
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text), environ={})
    assert "challenge.interval_s: 300 s is longer than evaluation.grace_s (120 s)" in str(e.value)
    cfg = load_config(write(tmp_path, text + "[evaluation]\ngrace_s = 300\n"), environ={})
    assert (cfg.challenge.interval_s, cfg.evaluation.grace_s) == (300, 300)
