"""``pausewatch-verifier serve`` runs the evaluation scheduler: a real server process on an
accelerated clock, fed an inventory, a commitment and reports over gRPC, answers GetVerdicts
with verdicts signed by the configured verdict key. Also the ``[evaluation]`` and
``[webhooks]`` config tables."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope, verify_envelope
from pausewatch.files.keyfile import generate_key_file
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from sim.factories import IDLE, NS, T0, Fleet, commitment
from verifier.config import ConfigError, load_config
from verifier.server import run_evaluation, run_webhooks, standard_background

REPO = Path(__file__).resolve().parents[2]


def _write_config(tmp: Path, lab_public: bytes, extra: str = "") -> Path:
    cfg = tmp / "verifier.toml"
    cfg.write_text(
        f"""
listen = "127.0.0.1:0"
state_dir = "state"
metrics_listen = ""
[log]
origin = "verifier.test/pausewatch"
key_file = "log.key"
[challenge]
key_file = "challenge.key"
[verdict]
key_file = "verdict.key"
[clock]
mode = "accelerated"
start_unix_ns = {T0 + 11 * 60 * NS}
speedup = 60.0
[evaluation]
interval_s = 1.0
grace_s = 60.0
[[labs]]
lab_id = "lab"
public_keys = ["{base64.b64encode(lab_public).decode()}"]
facilities = ["fac-a"]
{extra}
"""
    )
    return cfg


@pytest.mark.heavy
def test_serve_signs_verdicts_for_a_commitment_on_an_accelerated_clock(tmp_path: Path) -> None:
    for name in ("log", "challenge"):
        generate_key_file(tmp_path / f"{name}.key")
    verdict_key = generate_key_file(tmp_path / "verdict.key").public_key
    fleet = Fleet({"fac-a": 2}, gpus=2)
    cfg = _write_config(tmp_path, fleet.lab.public_key.raw)
    ready = tmp_path / "ready"
    log = tmp_path / "verifier.log"
    with log.open("wb") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "verifier.cli", "serve", "--config", str(cfg), "--ready-file", str(ready)],
            cwd=REPO,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60  # a generous bound on start-up, not a performance check
        while not ready.exists():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        with grpc.insecure_channel(f"127.0.0.1:{int(ready.read_text())}") as channel:
            stub = verifier_pb2_grpc.VerifierStub(channel)
            inventory = sign_envelope(
                PayloadType.INVENTORY, fleet.inventory_wire("fac-a").SerializeToString(), [fleet.lab]
            )
            stub.SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=inventory), timeout=30)
            c = commitment(["fac-a"])
            signed = sign_envelope(PayloadType.COMMITMENT, c.wire.SerializeToString(), [fleet.lab])
            stub.SubmitCommitment(verifier_pb2.SubmitSignedRequest(envelope=signed), timeout=30)
            for node in fleet.node_ids("fac-a", 2):
                batch = [fleet.usage(node, "fac-a", T0 + k * 60 * NS, IDLE) for k in range(10)]
                response = stub.SubmitReports(verifier_pb2.SubmitReportsRequest(envelopes=batch), timeout=30)
                assert all(r.disposition == verifier_pb2.DISPOSITION_ACCEPTED for r in response.results)

            verdicts: list[bytes] = []
            while not verdicts:  # the scheduler ticks every simulated second; wait for its first
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline + 60, log.read_text()
                verdicts = list(
                    stub.GetVerdicts(
                        verifier_pb2.GetVerdictsRequest(commitment_id=c.commitment_id), timeout=30
                    ).envelopes
                )
                time.sleep(0.1)
        for raw in verdicts:
            envelope = parse_envelope(raw)
            assert envelope.payload_type == PayloadType.VERDICT
            verify_envelope(envelope, verdict_key)  # signed with the configured verdict key
            verdict = types_pb2.Verdict()
            verdict.ParseFromString(envelope.payload)
            assert verdict.commitment_id == c.commitment_id
            assert verdict.facility_id == "fac-a"
            assert verdict.bucket_start_unix_ns >= T0
            assert verdict.status != types_pb2.VERDICT_STATUS_UNSPECIFIED
        assert any(_bucket(v) == T0 for v in verdicts)
    finally:
        server.terminate()
        assert server.wait(30) == 0, log.read_text()


def _bucket(raw: bytes) -> int:
    verdict = types_pb2.Verdict()
    verdict.ParseFromString(parse_envelope(raw).payload)
    return verdict.bucket_start_unix_ns


def test_evaluation_and_webhook_tables(tmp_path: Path) -> None:
    lab = b"\x01" * 32
    cfg = load_config(
        _write_config(
            tmp_path,
            lab,
            '[webhooks]\nurls = ["http://127.0.0.1:9/hook"]\nmin_severity = "CRITICAL"\nmax_attempts = 3\n',
        )
    )
    assert cfg.evaluation is not None
    assert (cfg.evaluation.interval_s, cfg.evaluation.grace_s) == (1.0, 60.0)
    assert cfg.webhooks.urls == ("http://127.0.0.1:9/hook",)
    assert cfg.webhooks.min_severity == types_pb2.SEVERITY_CRITICAL
    assert cfg.webhooks.max_attempts == 3
    assert standard_background(cfg) == [run_evaluation, run_webhooks]

    off = load_config(_write_config(tmp_path, lab).with_name("verifier.toml"))
    assert standard_background(off) == [run_evaluation]  # no urls: no webhook task

    disabled = tmp_path / "disabled.toml"
    disabled.write_text(
        _write_config(tmp_path, lab).read_text().replace("[evaluation]", "[evaluation]\nenabled = false")
    )
    assert standard_background(load_config(disabled)) == []

    for bad, needle in (
        ('[webhooks]\nurls = ["ftp://x/"]\n', "is not an http"),
        ('[webhooks]\nmin_severity = "LOUD"\n', "min_severity"),
        ("[webhooks]\nretries = 3\n", "unknown key"),
    ):
        with pytest.raises(ConfigError, match=needle):
            load_config(_write_config(tmp_path, lab, bad))
