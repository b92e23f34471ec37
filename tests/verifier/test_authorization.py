"""Row 10 of issue 12: authorization per role, on a real verifier over real mutual TLS with
certificates made here.

Before: without credentials every RPC worked (all inventories, per-GPU telemetry, verdicts,
alerts); 256 stranger ``WatchAlerts`` streams locked the honest watcher out; under mTLS any
node certificate read other facilities' alerts. Now each certificate identity maps to a role
in ``[authorization]`` (verifier.authz); what a role may not do ends PERMISSION_DENIED with a
one-line reason, and streams are capped per identity."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from pausewatch.envelope import parse_envelope
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from tests.verifier.harness import OPERATOR_ON_LOOPBACK, World, running
from tests.verifier.test_tls import Authority, Issued
from verifier.authz import AuthorizationPolicy, IdentityGrant, Role
from verifier.config import ConfigError, LimitsConfig, TlsConfig, load_config
from verifier.errors import PermissionDeniedError
from verifier.server import VerifierServer, build_server

DENIED = grpc.StatusCode.PERMISSION_DENIED
STRANGERS = 256  # the issue's lockout: as many stranger streams as the verifier's watcher cap


@dataclass(frozen=True)
class Pki:
    ca: Authority
    server: Issued
    certs: dict[str, Issued]


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca = Authority.create("pausewatch authz test CA")
    names = ["node-a", "node-b", "lab-1-ops", "lab-2-ops", "auditor-1", "stranger"]
    return Pki(ca, ca.issue("verifier", server=True), {n: ca.issue(n, server=False) for n in names})


POLICY = AuthorizationPolicy(
    identities=(
        IdentityGrant("node-a", Role.ATTESTOR, frozenset({"fac-a"})),
        IdentityGrant("node-b", Role.ATTESTOR, frozenset({"fac-b"})),
        IdentityGrant("lab-1-ops", Role.LAB, lab_id="lab-1"),
        IdentityGrant("lab-2-ops", Role.LAB, lab_id="lab-2"),
        IdentityGrant("auditor-1", Role.AUDITOR),
    ),
    open_submissions=False,
    max_watch_streams=2,
    configured=True,
)


@dataclass
class Mtls:
    world: World
    server: VerifierServer
    channels: dict[str, grpc.aio.Channel]

    def stub(self, who: str) -> verifier_pb2_grpc.VerifierStub:
        return verifier_pb2_grpc.VerifierStub(self.channels[who])


async def _mtls(tmp: Path, pki: Pki, policy: AuthorizationPolicy) -> AsyncIterator[Mtls]:
    (tmp / "server.crt").write_bytes(pki.server.cert)
    (tmp / "server.key").write_bytes(pki.server.key)
    (tmp / "server.key").chmod(0o600)
    (tmp / "ca.crt").write_bytes(pki.ca.pem)
    world = World(tmp, authorization=policy, limits=LimitsConfig(max_watchers=STRANGERS))
    config = dataclasses.replace(
        world.config(), tls=TlsConfig(tmp / "server.crt", tmp / "server.key", tmp / "ca.crt")
    )
    server = build_server(config, clock=world.clock, keys=world.keys)
    await server.start()
    channels = {
        who: grpc.aio.secure_channel(
            f"127.0.0.1:{server.port}",
            grpc.ssl_channel_credentials(pki.ca.pem, private_key=c.key, certificate_chain=c.cert),
            options=[("grpc.ssl_target_name_override", "localhost")],
        )
        for who, c in pki.certs.items()
    }
    try:
        yield Mtls(world, server, channels)
    finally:
        for ch in channels.values():
            await ch.close()
        await server.stop(grace=1.0)


async def _code(call: Awaitable[Any]) -> grpc.StatusCode:
    try:
        await asyncio.wait_for(call, 20)
    except grpc.aio.AioRpcError as e:
        error = e
    else:
        return grpc.StatusCode.OK
    assert "\n" not in (error.details() or ""), "a refusal is one line"
    return error.code()


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(2000):  # at most ~20 s; no timing is asserted, only that it happens
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def _run(
    tmp: Path, pki: Pki, scenario: Callable[[Mtls], Awaitable[None]], policy: AuthorizationPolicy = POLICY
) -> None:
    async def main() -> None:
        async for m in _mtls(tmp, pki, policy):
            await scenario(m)

    asyncio.run(main())


def test_each_role_may_do_its_calls_and_nothing_else(tmp_path: Path, pki: Pki) -> None:
    async def scenario(m: Mtls) -> None:
        w = m.world
        inventory = verifier_pb2.SubmitSignedRequest(envelope=w.sign_inventory(w.inventory()))
        # a lab submits its own documents, not another lab's; others may not submit documents
        assert await _code(m.stub("lab-2-ops").SubmitInventory(inventory, timeout=10)) is DENIED
        assert await _code(m.stub("stranger").SubmitInventory(inventory, timeout=10)) is DENIED
        assert await _code(m.stub("node-a").SubmitInventory(inventory, timeout=10)) is DENIED
        assert await _code(m.stub("lab-1-ops").SubmitInventory(inventory, timeout=10)) is grpc.StatusCode.OK
        size = m.server.sequencer.latest.size  # type: ignore[union-attr]

        challenge = await m.stub("stranger").GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=10)
        ch = types_pb2.Challenge()
        ch.ParseFromString(parse_envelope(challenge.envelope).payload)
        chain = w.chain(0, bytes(ch.nonce))
        report = verifier_pb2.SubmitReportsRequest(envelopes=[chain.next()])
        # only attestors submit reports, and only for their own facilities
        assert await _code(m.stub("stranger").SubmitReports(report, timeout=10)) is DENIED
        assert await _code(m.stub("lab-1-ops").SubmitReports(report, timeout=10)) is DENIED
        (other,) = (await m.stub("node-b").SubmitReports(report, timeout=10)).results
        assert other.code == DENIED.value[0]
        assert "fac-a" in other.message
        assert m.server.sequencer.latest.size == size  # type: ignore[union-attr]  # nothing stored
        (own,) = (await m.stub("node-a").SubmitReports(report, timeout=10)).results
        assert own.code == 0
        assert own.HasField("receipt")

        # public: challenge, checkpoint, proofs, verdicts; raw entries only for auditors
        for who in pki.certs:
            stub = m.stub(who)
            assert await _code(stub.GetCheckpoint(verifier_pb2.GetCheckpointRequest(), timeout=10)) is (
                grpc.StatusCode.OK
            )
            assert (
                await _code(
                    stub.GetInclusionProof(verifier_pb2.GetInclusionProofRequest(index=0), timeout=10)
                )
                is grpc.StatusCode.OK
            )
            assert await _code(stub.GetVerdicts(verifier_pb2.GetVerdictsRequest(), timeout=10)) is (
                grpc.StatusCode.OK
            )
            entries = await _code(stub.GetEntries(verifier_pb2.GetEntriesRequest(start=0, end=2), timeout=10))
            assert entries is (grpc.StatusCode.OK if who == "auditor-1" else DENIED), who
        denied = m.server.metrics.registry.get_sample_value(
            "pausewatch_verifier_denied_calls_total", {"method": "GetEntries", "role": "public"}
        )
        assert denied == 1  # the stranger

    _run(tmp_path, pki, scenario)


def test_stranger_streams_cannot_lock_out_the_honest_watcher(tmp_path: Path, pki: Pki) -> None:
    async def scenario(m: Mtls) -> None:
        bus = m.server.alert_bus
        request = verifier_pb2.WatchAlertsRequest
        # the issue's attack: 256 streams by callers with no business watching
        strangers = [m.stub("stranger").WatchAlerts(request(), timeout=30) for _ in range(STRANGERS)]
        codes = await asyncio.gather(*(_code(s.read()) for s in strangers))
        assert set(codes) == {DENIED}
        # a node certificate reads no alerts, not even its own facility's
        assert await _code(m.stub("node-a").WatchAlerts(request(), timeout=10).read()) is DENIED
        # a lab reads its facilities only
        foreign = m.stub("lab-2-ops").WatchAlerts(request(facility_ids=["fac-a"]), timeout=10)
        assert await _code(foreign.read()) is DENIED
        # one identity holds at most max_watch_streams (2) streams
        own = [m.stub("lab-2-ops").WatchAlerts(request(), timeout=30) for _ in range(2)]
        await _until(lambda: bus.subscribers == 2, "lab-2's two streams")
        third = m.stub("lab-2-ops").WatchAlerts(request(), timeout=10)
        assert await _code(third.read()) is grpc.StatusCode.RESOURCE_EXHAUSTED

        honest = m.stub("lab-1-ops").WatchAlerts(request(), timeout=30)
        await _until(lambda: bus.subscribers == 3, "the honest watcher's stream")
        bus.publish(types_pb2.Alert(facility_id="fac-b", raised_unix_ns=1))  # lab-2's, not lab-1's
        bus.publish(types_pb2.Alert(facility_id="fac-a", raised_unix_ns=2))
        alert = await asyncio.wait_for(honest.read(), 20)
        assert (alert.facility_id, alert.raised_unix_ns) == ("fac-a", 2)
        for s in own:
            assert (await asyncio.wait_for(s.read(), 20)).facility_id == "fac-b"
            s.cancel()
        honest.cancel()

    _run(tmp_path, pki, scenario)


def test_verdicts_kept_from_the_public_go_to_their_facilities_only(tmp_path: Path, pki: Pki) -> None:
    """``public_verdicts = false``: a lab reads its own facilities' verdicts, naming one."""

    async def scenario(m: Mtls) -> None:
        def ask(who: str, facility: str = "") -> Awaitable[Any]:
            request = verifier_pb2.GetVerdictsRequest(facility_id=facility)
            return m.stub(who).GetVerdicts(request, timeout=10)

        assert await _code(ask("stranger")) is DENIED
        assert await _code(ask("node-a", "fac-a")) is DENIED
        assert await _code(ask("lab-2-ops")) is DENIED  # must name one of its facilities
        assert await _code(ask("lab-2-ops", "fac-a")) is DENIED  # not another lab's
        assert await _code(ask("lab-2-ops", "fac-b")) is grpc.StatusCode.OK
        assert await _code(ask("auditor-1")) is grpc.StatusCode.OK

    _run(tmp_path, pki, scenario, dataclasses.replace(POLICY, public_verdicts=False))


def test_without_an_authorization_table_entries_and_alerts_are_not_public(tmp_path: Path) -> None:
    """The default policy (a config without ``[authorization]``): submissions and public reads
    work as before; raw entries and alert streams are refused, also on loopback."""

    async def scenario(world: World, watch: bool) -> list[grpc.StatusCode]:
        async with running(world) as r:
            chain = world.chain(0, await r.nonce())
            (result,) = await r.submit(chain.next())
            assert result.HasField("receipt")
            codes = [
                await _code(r.stub.GetVerdicts(verifier_pb2.GetVerdictsRequest(), timeout=10)),
                await _code(r.stub.GetEntries(verifier_pb2.GetEntriesRequest(start=0, end=1), timeout=10)),
            ]
            if watch:
                codes.append(
                    await _code(r.stub.WatchAlerts(verifier_pb2.WatchAlertsRequest(), timeout=10).read())
                )
            return codes

    codes = asyncio.run(scenario(World(tmp_path / "default"), watch=True))
    assert codes == [grpc.StatusCode.OK, DENIED, DENIED]
    operator = World(tmp_path / "operator", authorization=OPERATOR_ON_LOOPBACK)  # loopback_role = "operator"
    assert asyncio.run(scenario(operator, watch=False)) == [grpc.StatusCode.OK, grpc.StatusCode.OK]


def test_one_certificate_naming_two_identities_is_refused() -> None:
    with pytest.raises(PermissionDeniedError, match="one certificate, one identity"):
        POLICY.caller(["node-a", "auditor-1"], loopback=False, lab_facilities={})
    caller = POLICY.caller(["node-a", "unmapped.example"], loopback=False, lab_facilities={})
    assert caller.role is Role.ATTESTOR


_BASE = """
state_dir = "state"
[log]
origin = "v.example/pw"
key_file = "log.key"
[challenge]
key_file = "c.key"
[verdict]
key_file = "v.key"
[[labs]]
lab_id = "lab-1"
public_keys = ["11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="]
facilities = ["fac-a"]
"""


def test_authorization_table_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "v.toml"
    path.write_text(
        _BASE
        + """
[authorization]
open_submissions = false
public_verdicts = false
max_watch_streams = 3
[[authorization.identities]]
name = "node-1.fac-a"
role = "attestor"
facilities = ["fac-a"]
[[authorization.identities]]
name = "ops.lab-1"
role = "lab"
lab_id = "lab-1"
"""
    )
    policy = load_config(path).authorization
    assert (policy.open_submissions, policy.public_verdicts, policy.max_watch_streams) == (False, False, 3)
    lab = policy.caller(["ops.lab-1"], loopback=False, lab_facilities={"lab-1": ("fac-a",)})
    assert (lab.role, lab.facilities, lab.scoped_verdicts) == (Role.LAB, frozenset({"fac-a"}), True)
    default = tmp_path / "default.toml"
    default.write_text(_BASE)
    assert not load_config(default).authorization.configured
    bad = {
        'name = "x"\nrole = "root"': "role: must be one of",
        'name = "x"\nrole = "attestor"': "facilities: an attestor identity must name its facilities",
        'name = "x"\nrole = "lab"\nlab_id = "lab-9"': "lab_id: must name a [[labs]] entry",
        'name = "x"\nrole = "public"': "role: public is every",
    }
    for entry, message in bad.items():
        path.write_text(_BASE + "[[authorization.identities]]\n" + entry + "\n")
        with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as e:
            load_config(path)
        assert "authorization.identities[0]" in str(e.value)
