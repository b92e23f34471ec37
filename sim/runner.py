"""The in-process runner: a scenario against the real verifier, on simulated time.

One event loop holds a real verifier (``verifier.server.build_server``: SQLite in a fresh state
directory, the log sequencer, challenges, the evaluation scheduler) serving gRPC on a free
localhost port, and a ``SimulatedFleet`` whose attestors sign reports with the attestor's own
building blocks. Time is a ``SimulatedClock`` that only moves when the runner advances it, one
report period at a time; nothing sleeps to wait for a result — after each step the runner
waits for the *event* it needs (the next challenge, the verdicts), with a bound in real time
that only a hang can reach.

Per period: advance the clock to the period's end → the verifier issues its next challenge →
the fleet signs the period's reports with the challenge it held when the period began → every
report whose delivery time has come is sent over gRPC (``SubmitReports``). A verifier outage
stops the server and later starts a new one on the same state directory: a real restart.
A new inventory version (``do = "inventory"``) is signed and submitted when its time comes,
after the reports of the periods before it are in; the verifier's evaluation scheduler is
ticked just before, so that buckets already closed are judged against the version that was
in force, as a running verifier would have.
At the end the clock moves past the last bucket, the verifier's evaluation scheduler
(``verifier.scheduler``) signs and logs its verdicts, and the runner reads them back
(``GetVerdicts``), checks the verdict signatures, and judges them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from pausewatch.clock import NS_PER_S, SimulatedClock
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope, verify_envelope
from pausewatch.errors import FormatError, InternalError
from pausewatch.keys import Ed25519Key, Ed25519Signer
from pausewatch.note import Ed25519NoteSigner
from pausewatch.roots import LabRoot
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from sim.expect import Judgement, ObservedVerdict, judge, observed_from_wire
from sim.fleet import Outgoing, SimulatedFleet, derive_signer
from sim.scenario import Scenario
from sim.world import inventory_times, plan
from verifier.config import ChallengeConfig, LimitsConfig, VerifierConfig
from verifier.scheduler import EvaluationScheduler, SchedulerConfig
from verifier.server import Background, VerifierKeys, VerifierServer, build_server

__all__ = ["RunResult", "fetch_verdicts", "observed", "run_in_process", "run_scenario", "wanted_buckets"]

_RPC_DEADLINE_S = 30.0
_SETTLE_LIMIT_S = 60.0  # real seconds an awaited event may take before we call it a hang
_BATCH = 500


@dataclass(frozen=True)
class RunResult:
    scenario: Scenario
    verdicts: tuple[ObservedVerdict, ...]
    judgement: Judgement
    dispositions: dict[str, int]
    log_size: int
    wall_s: float
    state_dir: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.judgement.ok


def run_scenario(scenario: Scenario, *, state_dir: Path | None = None) -> RunResult:
    """Run ``scenario`` in-process (blocking); ``state_dir`` keeps the verifier's files."""
    return asyncio.run(run_in_process(scenario, state_dir=state_dir))


def verifier_signers(scenario: Scenario) -> tuple[Ed25519Signer, Ed25519Signer, Ed25519Signer]:
    """(log, challenge, verdict) keys of the scenario's verifier, derived from its seed."""
    return (derive_signer(scenario.seed, "verifier/log"), derive_signer(scenario.seed, "verifier/challenge"),
            derive_signer(scenario.seed, "verifier/verdict"))


def log_origin(scenario: Scenario) -> str:
    return f"sim.pausewatch.invalid/{scenario.name}"


def lab_trust(scenario: Scenario, fleet: SimulatedFleet) -> tuple[LabRoot, ...]:
    labs: dict[str, list[str]] = {}
    for fac in scenario.facilities:
        labs.setdefault(fac.lab, []).append(fac.id)
    return tuple(
        LabRoot(lab_id=lab, keys=(fleet.keys.lab(lab).public_key,), facilities=tuple(facs))
        for lab, facs in sorted(labs.items())
    )


class _Verifier:
    """A verifier that can be stopped and started again on the same state directory."""

    def __init__(
        self, scenario: Scenario, fleet: SimulatedFleet, clock: SimulatedClock, state_dir: Path
    ) -> None:
        log, challenge, verdict = verifier_signers(scenario)
        self.keys = VerifierKeys(log=Ed25519NoteSigner(log_origin(scenario), log), challenge=challenge,
                                 verdict=verdict)
        period_s = scenario.period_ns / NS_PER_S
        self.config = VerifierConfig(
            state_dir=state_dir, log_origin=log_origin(scenario),
            log_key_file=state_dir / "unused-log.key", challenge_key_file=state_dir / "unused-challenge.key",
            verdict_key_file=state_dir / "unused-verdict.key",
            listen="127.0.0.1:0", metrics_listen="", labs=lab_trust(scenario, fleet),
            challenge=ChallengeConfig(
                interval_s=period_s, lifetime_s=3 * period_s, max_clock_skew_s=2 * period_s
            ),
            source=f"{scenario.path} (sim)",
            # One caller, one call at a time: nothing to batch, and a tick held back for batching
            # (10 ms) after each of a story's few thousand calls was half of every run's wall time.
            limits=LimitsConfig(sequencer_min_tick_s=0.0, sequencer_busy_tick_s=0.0),
        )
        self.scenario = scenario
        self.clock = clock
        self.server: VerifierServer | None = None
        self.channel: grpc.aio.Channel | None = None
        self.stub: verifier_pb2_grpc.VerifierStub | None = None

    async def start(self, background: Sequence[Background]) -> None:
        self.server = build_server(self.config, clock=self.clock, keys=self.keys, background=background)
        await self.server.start()
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.server.port}")
        self.stub = verifier_pb2_grpc.VerifierStub(self.channel)

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close(None)
        if self.server is not None:
            await self.server.stop(grace=1.0)
        self.server = self.channel = self.stub = None

    @property
    def up(self) -> bool:
        return self.server is not None

    def rpc(self) -> verifier_pb2_grpc.VerifierStub:
        if self.stub is None:
            raise InternalError("the verifier is down")
        return self.stub


async def _settle(what: str, done: Callable[[], bool]) -> None:
    """Yield to the loop (and the sequencer's writer thread) until ``done()``; a hang raises."""
    deadline = time.monotonic() + _SETTLE_LIMIT_S
    while not done():
        if time.monotonic() > deadline:
            raise InternalError(f"the verifier never got to: {what}")
        await asyncio.sleep(0.002)


async def _challenge_after(v: _Verifier, t_ns: int) -> bytes:
    """The nonce of the verifier's challenge issued at or after ``t_ns``."""
    server = v.server
    if server is None:
        raise InternalError("server is unset here; a bug")
    await _settle(
        "issue a challenge",
        lambda: server.challenges.current_challenge is not None
        and server.challenges.current_challenge.issued_unix_ns >= t_ns,
    )
    resp = await v.rpc().GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=_RPC_DEADLINE_S)
    env = parse_envelope(resp.envelope)
    if env.payload_type != PayloadType.CHALLENGE:
        raise InternalError("GetChallenge returned something else than a challenge")
    verify_envelope(env, v.keys.challenge.public_key)
    challenge = env.decode_payload()
    if not isinstance(challenge, types_pb2.Challenge):
        raise InternalError("challenge is not a Challenge; a bug")
    return challenge.nonce


async def run_in_process(scenario: Scenario, *, state_dir: Path | None = None) -> RunResult:
    t_start = time.monotonic()
    async with _state(state_dir) as directory:
        fleet_plan = plan(scenario)
        fleet = SimulatedFleet(scenario, fleet_plan)
        period_s = scenario.period_ns / NS_PER_S
        # The verifier starts one period before the story, so the first challenge predates it.
        clock = SimulatedClock(scenario.start_unix_ns - scenario.period_ns)
        background: Sequence[Background] = ()  # the scheduler is ticked explicitly at the end
        v = _Verifier(scenario, fleet, clock, directory)
        await v.start(background)
        dispositions: Counter[str] = Counter()
        try:
            await _documents(v, scenario, fleet)
            nonce = await _challenge_after(v, clock.now_ns())
            clock.advance(period_s)
            nonce = await _challenge_after(v, scenario.start_unix_ns)
            queue: list[Outgoing] = []
            submissions = sorted((at, f.id) for f in scenario.facilities
                                 for at in inventory_times(scenario, f.id))
            for i in range(scenario.periods):
                while submissions and submissions[0][0] == i * scenario.period_ns:
                    _, facility_id = submissions.pop(0)
                    await _new_inventory(v, fleet, facility_id)
                end_offset = (i + 1) * scenario.period_ns
                was_up = fleet_plan.verifier_up(i * scenario.period_ns)
                held = nonce
                clock.advance(period_s)
                now = clock.now_ns()
                up = fleet_plan.verifier_up(end_offset)
                if was_up and not up:
                    await v.stop()
                elif not was_up and up:
                    await v.start(background)
                if v.up:
                    nonce = await _challenge_after(v, now)
                queue += fleet.period(i, held)
                if v.up:
                    due = [o for o in queue if o.deliver_ns <= now]
                    queue = [o for o in queue if o.deliver_ns > now]
                    dispositions.update(await _deliver(v, due))
            if queue:
                raise InternalError(f"{len(queue)} reports were never delivered")
            verdicts = await _verdicts(v, scenario, clock)
            server = v.server
            if server is None:
                raise InternalError("server is unset here; a bug")
            log_size = await server.sequencer.read(lambda s: s.log_size())
        finally:
            await v.stop()
        judgement = judge(scenario, verdicts)
        return RunResult(
            scenario=scenario, verdicts=tuple(verdicts), judgement=judgement,
            dispositions=dict(dispositions), log_size=log_size, wall_s=time.monotonic() - t_start,
            state_dir=str(directory) if state_dir is not None else None,
        )


def server_of(v: _Verifier) -> VerifierServer:
    if v.server is None:
        raise InternalError("the verifier is down")
    return v.server


async def _new_inventory(v: _Verifier, fleet: SimulatedFleet, facility_id: str) -> None:
    """Judge the buckets closed so far under the inventory in force, then submit the next version."""
    server = server_of(v)
    await EvaluationScheduler(server.sequencer, server.verdict_signer, v.clock, SchedulerConfig(grace_s=0.0),
                              server.alert_bus).tick()
    inv = fleet.inventory(facility_id, v.clock.now_ns())
    env = sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(deterministic=True),
                        [fleet.keys.lab(inv.lab_id)])
    await v.rpc().SubmitInventory(verifier_pb2.SubmitSignedRequest(envelope=env), timeout=_RPC_DEADLINE_S)


@contextlib.asynccontextmanager
async def _state(state_dir: Path | None) -> AsyncIterator[Path]:
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
        yield state_dir
        return
    with tempfile.TemporaryDirectory(prefix="pausewatch-sim-", dir=scratch_dir()) as tmp:
        yield Path(tmp)


def scratch_dir() -> str | None:
    """Memory-backed scratch space when the machine has it: a simulation's verifier state is
    thrown away, and on a disk every commit's fsync (synchronous=FULL) would dominate the run."""
    shm = Path("/dev/shm")  # noqa: S108 - only as the parent of a private mkdtemp directory
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


async def _documents(v: _Verifier, scenario: Scenario, fleet: SimulatedFleet) -> None:
    """The labs sign and submit their inventories and the commitment; one the verifier refuses
    is the scenario's error (``FormatError`` with the verifier's reason), not a traceback."""
    now = v.clock.now_ns()
    try:
        for inv in fleet.inventories(now):
            env = sign_envelope(PayloadType.INVENTORY, inv.SerializeToString(deterministic=True),
                                [fleet.keys.lab(inv.lab_id)])
            await v.rpc().SubmitInventory(
                verifier_pb2.SubmitSignedRequest(envelope=env), timeout=_RPC_DEADLINE_S
            )
        commitment = scenario.commitment
        env = sign_envelope(PayloadType.COMMITMENT, commitment.SerializeToString(deterministic=True),
                            [fleet.keys.lab(commitment.lab_id)])
        await v.rpc().SubmitCommitment(
            verifier_pb2.SubmitSignedRequest(envelope=env), timeout=_RPC_DEADLINE_S
        )
    except grpc.aio.AioRpcError as e:
        raise FormatError(f"the verifier refused the scenario's documents: {e.details()}") from None


_DISPOSITION_NAMES = {
    verifier_pb2.DISPOSITION_ACCEPTED: "accepted",
    verifier_pb2.DISPOSITION_DUPLICATE: "duplicate",
    verifier_pb2.DISPOSITION_REJECTED: "rejected",
}


async def _deliver(v: _Verifier, due: Sequence[Outgoing]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for i in range(0, len(due), _BATCH):
        batch = due[i: i + _BATCH]
        req = verifier_pb2.SubmitReportsRequest(envelopes=[o.envelope for o in batch])
        resp = await v.rpc().SubmitReports(req, timeout=_RPC_DEADLINE_S)
        for r in resp.results:
            counts[_DISPOSITION_NAMES.get(r.disposition, "unspecified")] += 1
    return counts


async def _verdicts(v: _Verifier, scenario: Scenario, clock: SimulatedClock) -> list[ObservedVerdict]:
    """Move time past the last bucket, let the verifier's evaluation scheduler sign its verdicts
    (one deterministic tick rather than waiting for its interval), then read them back over
    gRPC and check every signature against the verdict key."""
    clock.advance(scenario.period_ns * 4 / NS_PER_S)
    server = v.server
    if server is None:
        raise InternalError("server is unset here; a bug")
    scheduler = EvaluationScheduler(server.sequencer, server.verdict_signer, clock,
                                    SchedulerConfig(grace_s=0.0), server.alert_bus)
    seen: dict[tuple[str, int], types_pb2.Verdict] = {}
    key = Ed25519Key(v.keys.verdict.public_key.raw)

    async def fetch() -> None:
        await scheduler.tick()
        await fetch_verdicts(v.rpc(), scenario, key, seen)

    await _poll("sign a verdict for every bucket", fetch, lambda: wanted_buckets(scenario) <= set(seen))
    return observed(scenario, seen)


def wanted_buckets(scenario: Scenario) -> set[tuple[str, int]]:
    """(facility, bucket start) of every bucket of the story: each needs a verdict."""
    buckets = scenario.duration_ns // scenario.bucket_ns
    facilities = [f.id for f in scenario.facilities]
    if any(e.facility == "" for e in scenario.expectations):
        facilities.append("")  # the commitment-level verdict
    return {(f, scenario.start_unix_ns + b * scenario.bucket_ns) for f in facilities for b in range(buckets)}


async def fetch_verdicts(
    stub: verifier_pb2_grpc.VerifierStub, scenario: Scenario, key: Ed25519Key,
    seen: dict[tuple[str, int], types_pb2.Verdict],
) -> None:
    """Read the story's verdicts over gRPC (``GetVerdicts``) into ``seen``, each signature
    checked against the verdict key; a later revision replaces an earlier one."""
    token = ""
    while True:  # every page
        resp = await stub.GetVerdicts(
            verifier_pb2.GetVerdictsRequest(commitment_id=scenario.commitment.commitment_id,
                                            from_unix_ns=scenario.start_unix_ns,
                                            to_unix_ns=scenario.end_unix_ns, page_token=token),
            timeout=_RPC_DEADLINE_S,
        )
        for raw in resp.envelopes:
            env = parse_envelope(raw)
            verify_envelope(env, key)
            verdict = env.decode_payload()
            if not isinstance(verdict, types_pb2.Verdict):
                raise InternalError("GetVerdicts returned something else than a verdict")
            seen[(verdict.facility_id, verdict.bucket_start_unix_ns)] = verdict
        token = resp.next_page_token
        if not token:
            return


def observed(scenario: Scenario, seen: dict[tuple[str, int], types_pb2.Verdict]) -> list[ObservedVerdict]:
    return [observed_from_wire(vd, scenario.start_unix_ns) for vd in seen.values()
            if scenario.start_unix_ns <= vd.bucket_start_unix_ns < scenario.end_unix_ns]


async def _poll(what: str, fetch: Callable[[], Awaitable[None]], done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _SETTLE_LIMIT_S
    while True:
        await fetch()
        if done():
            return
        if time.monotonic() > deadline:
            raise InternalError(f"the verifier never got to: {what}")
        await asyncio.sleep(0.02)
