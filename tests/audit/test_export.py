"""`pausewatch-verifier export` from a real verifier's state: full (with --tar) and sliced
bundles (by facility, by commitment, by time range) all verify."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from auditor.pipeline import AuditOptions, audit_bundle
from pausewatch.policy import parse_policy
from pausewatch.roots import parse_roots
from pausewatch.timespec import format_rfc3339
from sim.factories import NS, T0
from tests.audit.conftest import RealBundle
from tests.verifier.harness import ORIGIN
from verifier.cli import main as verifier_main


def key_file(path: Path, seed: bytes) -> Path:
    path.write_text(f"pausewatch ed25519 seed v1\n{base64.b64encode(seed).decode()}\n")
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def config(real_bundle: RealBundle, tmp_path: Path) -> Path:
    w = real_bundle.world
    log = key_file(tmp_path / "log.key", w.log_key.seed)
    ch = key_file(tmp_path / "challenge.key", w.keys.challenge.seed)  # type: ignore[attr-defined]
    vd = key_file(tmp_path / "verdict.key", w.keys.verdict.seed)  # type: ignore[attr-defined]
    lab = base64.b64encode(w.lab.public_key.raw).decode()
    cfg = tmp_path / "verifier.toml"
    cfg.write_text(
        f'state_dir = "{real_bundle.db.parent}"\n'
        f'[log]\norigin = "{ORIGIN}"\nkey_file = "{log}"\n'
        f'[challenge]\nkey_file = "{ch}"\n[verdict]\nkey_file = "{vd}"\n'
        f'[[labs]]\nlab_id = "lab-1"\npublic_keys = ["{lab}"]\nfacilities = ["fac-a"]\n'
    )
    return cfg


def pinned(rb: RealBundle) -> AuditOptions:
    return AuditOptions(
        policy=parse_policy(rb.policy.read_bytes()), roots=parse_roots(rb.roots.read_bytes()), workers=1
    )


def test_full_export_with_archive(real_bundle: RealBundle, config: Path, tmp_path: Path) -> None:
    out = tmp_path / "full"
    assert verifier_main(["export", "--config", str(config), "--out", str(out), "--tar"]) == 0
    assert (tmp_path / "full.tar.gz").is_file()
    result = audit_bundle(out, pinned(real_bundle))
    assert result.ok, [f.describe() for f in result.failures]
    assert result.verdicts_matched == 4
    shipped = parse_roots((out / "roots.toml").read_bytes())
    lab = shipped.lab("lab-1")
    assert lab is not None
    assert lab.keys[0].raw == real_bundle.world.lab.public_key.raw
    assert shipped.verdict_key.raw == real_bundle.world.keys.verdict.public_key.raw


@pytest.mark.parametrize(
    "flags",
    [
        ["--facility", "fac-a"],
        ["--commitment", "pause-2026"],
        ["--from", str(T0 + 10 * 60 * NS), "--to", str(T0 + 20 * 60 * NS)],
    ],
)
def test_slices_verify(real_bundle: RealBundle, config: Path, tmp_path: Path, flags: list[str]) -> None:
    out = tmp_path / "slice"
    assert verifier_main(["export", "--config", str(config), "--out", str(out), *flags]) == 0
    result = audit_bundle(out, pinned(real_bundle))
    assert result.ok, [f.describe() for f in result.failures]
    assert result.scope.startswith("kind=slice")
    if "--from" in flags:
        assert 0 < result.counts["usage_reports"] < 3 * 40 - 2
        assert result.verdicts_not_rerun == result.verdicts_checked == 4
    else:
        assert result.verdicts_matched == 4


def test_time_slice_verdicts_not_rerun_fail_unless_accepted(
    real_bundle: RealBundle, config: Path, tmp_path: Path
) -> None:
    from auditor.cli import main as audit_main

    out = tmp_path / "slice"
    span = ["--from", str(T0 + 10 * 60 * NS), "--to", str(T0 + 20 * 60 * NS)]
    assert verifier_main(["export", "--config", str(config), "--out", str(out), *span]) == 0
    trust = ["--policy", str(real_bundle.policy), "--roots", str(real_bundle.roots), "--workers", "1"]
    assert audit_main(["verify", str(out), *trust]) == 1
    assert audit_main(["verify", str(out), *trust, "--allow-unrerun-verdicts"]) == 0


def test_export_refuses_an_existing_directory(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "exists"
    out.mkdir()
    assert verifier_main(["export", "--config", str(config), "--out", str(out)]) == 2


def test_time_flags_take_rfc3339_as_well_as_unix_ns(config: Path, tmp_path: Path) -> None:
    """``--from``/``--to`` in RFC 3339 select exactly what the same instants in unix ns do."""
    start, end = T0 + 10 * 60 * NS, T0 + 20 * 60 * NS
    as_ns = ["--from", str(start), "--to", str(end)]
    as_text = ["--from", format_rfc3339(start), "--to", format_rfc3339(end)]
    assert as_text[1].endswith("Z")
    for name, flags in (("ns", as_ns), ("text", as_text)):
        assert verifier_main(["export", "--config", str(config), "--out", str(tmp_path / name), *flags]) == 0
    assert (tmp_path / "ns" / "entries.bin").read_bytes() == (tmp_path / "text" / "entries.bin").read_bytes()
    assert verifier_main(["export", "--config", str(config), "--out", str(tmp_path / "x"), "--from", "soon"]) == 2


def test_force_replaces_an_existing_bundle_whole(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert verifier_main(["export", "--config", str(config), "--out", str(out), "--tar"]) == 0
    before = (out / "manifest.json").read_bytes()
    assert verifier_main(["export", "--config", str(config), "--out", str(out), "--tar", "--force"]) == 0
    assert (out / "manifest.json").read_bytes() == before  # same log: the same bundle
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # nothing partial or old left
