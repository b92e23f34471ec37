"""``serve`` with front-end processes (verifier.frontends), as real processes on real gRPC.

A front-end SIGKILLed under load is started again by the core and nothing receipted is lost;
the core SIGKILLed takes its front-ends down (they exit by themselves) and a restart keeps
every receipt. Reads, lab documents and the streaming upload go through the front-ends too.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc
import pytest

from pausewatch.envelope import parse_envelope, parse_message
from pausewatch.files.keyfile import load_key_file
from pausewatch.note import Ed25519NoteVerifier
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from tests.verifier.harness import ORIGIN, World, check_receipt
from tests.verifier.test_crash import start, write_config
from verifier.sqlite_storage import SqliteStorage


def frontend_pids(core: int) -> list[int]:
    """The core's front-end children (spawned interpreters; not multiprocessing's tracker)."""
    try:
        children = Path(f"/proc/{core}/task/{core}/children").read_text().split()
    except OSError:
        return []
    out = []
    for pid in map(int, children):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                out.append(pid)
        except OSError:
            continue
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def wait_for(what: str, condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def with_metrics(cfg: Path, limits: str) -> int:
    """Turn on ``cfg``'s metrics endpoint (its port returned) and add ``limits`` lines."""
    from bench.bench_ingest import free_port

    port = free_port()
    cfg.write_text(
        cfg.read_text()
        .replace('metrics_listen = ""', f'metrics_listen = "127.0.0.1:{port}"')
        .replace("[limits]\n", "[limits]\n" + limits)
    )
    return port


def refused_calls(metrics_port: int) -> dict[str, float]:
    """``pausewatch_verifier_refused_calls_total`` on the verifier's /metrics, by reason."""
    import re
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    pattern = r'pausewatch_verifier_refused_calls_total\{reason="(\w+)"\} (\S+)'
    return {reason: float(v) for reason, v in re.findall(pattern, text)}


def retry_after_ms(metadata) -> list[str]:  # type: ignore[no-untyped-def]
    from verifier.service import RETRY_AFTER_KEY

    return [v for k, v in metadata or () if k == RETRY_AFTER_KEY]


def stop(proc: subprocess.Popen, tmp_path: Path) -> None:
    """SIGTERM ``serve`` and check it stopped cleanly (exit 0)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, (tmp_path / "verifier.log").read_text()[-2000:]


def run_calls(cfg: Path, tmp_path: Path, calls: Callable[[int], Awaitable[None]]) -> None:
    """Start ``serve`` with ``cfg``, run ``calls(port)`` against it, stop it."""
    proc, port = start(cfg, tmp_path)
    try:
        asyncio.run(calls(port))
    finally:
        stop(proc, tmp_path)


async def enrolled_chains(stub: verifier_pb2_grpc.VerifierStub, world: World) -> list:
    """Log ``world``'s inventory, take a challenge: a report chain per node."""
    await stub.SubmitInventory(
        verifier_pb2.SubmitSignedRequest(envelope=world.sign_inventory(world.inventory())), timeout=30
    )
    challenge = await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=30)
    nonce = parse_message(parse_envelope(challenge.envelope).payload, types_pb2.Challenge).nonce
    return [world.chain(i, nonce) for i in range(len(world.node_keys))]


def test_frontends_restart_after_sigkill_and_the_core_dying_loses_no_receipt(tmp_path):
    world = World(tmp_path, nodes=4)
    cfg = write_config(tmp_path, world)
    cfg.write_text(cfg.read_text().replace("[limits]\n", "[limits]\nfrontends = 2\n"))
    log_key = Ed25519NoteVerifier(ORIGIN, load_key_file(tmp_path / "log.key").public_key)
    receipted: dict[int, bytes] = {}
    unanswered: list[bytes] = []
    chains: list = []

    async def submit(stub: verifier_pb2_grpc.VerifierStub, batch: list[bytes]) -> bool:
        try:
            resp = await stub.SubmitReports(verifier_pb2.SubmitReportsRequest(envelopes=batch), timeout=10)
        except grpc.aio.AioRpcError as e:  # the front-end died under the call, or backpressure
            if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                raise
            unanswered.extend(batch)
            return False
        for env, res in zip(batch, resp.results, strict=True):
            assert res.disposition in (1, 2), res
            check_receipt(res.receipt, env, log_key)
            receipted[res.receipt.log_index] = env
        return True

    async def load(port: int, rounds: int, kill: int | None) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = verifier_pb2_grpc.VerifierStub(ch)
            if not chains:
                inv = await stub.SubmitInventory(
                    verifier_pb2.SubmitSignedRequest(envelope=world.sign_inventory(world.inventory())),
                    timeout=10,
                )
                assert inv.receipt.log_index > 0
                challenge = await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=10)
                nonce = parse_message(parse_envelope(challenge.envelope).payload, types_pb2.Challenge).nonce
                chains.extend(world.chain(i, nonce) for i in range(len(world.node_keys)))

            async def client(i: int) -> None:
                for r in range(rounds):
                    await submit(stub, [chains[i].next() for _ in range(5)])
                    if kill is not None and i == 0 and r == rounds // 2:
                        os.kill(kill, signal.SIGKILL)

            await asyncio.gather(*(client(i) for i in range(len(chains))))

    proc, port = start(cfg, tmp_path)
    try:
        wait_for("two front-ends", lambda: len(frontend_pids(proc.pid)) == 2)
        first = frontend_pids(proc.pid)
        # a front-end SIGKILLed in the middle of the load: the core starts another
        asyncio.run(load(port, 6, kill=first[0]))
        log = tmp_path / "verifier.log"
        wait_for("a new front-end serving", lambda: log.read_text().count('"front-end serving"') == 3)
        assert first[0] not in frontend_pids(proc.pid)
        assert len(frontend_pids(proc.pid)) == 2
        assert proc.poll() is None
        asyncio.run(load(port, 2, kill=None))  # served by both again

        async def upload() -> None:  # a backlog stream, through a front-end
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                call = verifier_pb2_grpc.VerifierStub(ch).UploadReports(timeout=10)
                for _ in range(3):
                    batch = [chains[0].next() for _ in range(4)]
                    await call.write(verifier_pb2.SubmitReportsRequest(envelopes=batch))
                    resp = await call.read()
                    for env, res in zip(batch, resp.results, strict=True):
                        assert res.disposition == 1, res
                        check_receipt(res.receipt, env, log_key)
                        receipted[res.receipt.log_index] = env
                await call.done_writing()

        asyncio.run(upload())

        # the core SIGKILLed: its front-ends exit by themselves
        fronts = frontend_pids(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_for("the front-ends to exit", lambda: not any(alive(p) for p in fronts))
        proc, port = start(cfg, tmp_path)

        async def finish() -> None:  # what never got an answer is accepted or a duplicate now
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = verifier_pb2_grpc.VerifierStub(ch)
                batch = list(unanswered)
                unanswered.clear()
                if batch:
                    assert await submit(stub, batch)

        asyncio.run(finish())
    finally:
        stop(proc, tmp_path)
    assert len(receipted) >= 4 * 5 * 6
    storage = SqliteStorage(tmp_path / "state" / "verifier.sqlite")
    try:
        for index, env in receipted.items():
            assert storage.log_entries(index, index + 1) == [env]
    finally:
        storage.close()


def test_frontends_config_and_its_deprecated_alias(tmp_path, caplog):
    from tests.verifier.test_config_cli import BASE, write
    from verifier.config import ConfigError, load_config

    assert load_config(write(tmp_path, BASE), environ={}).limits.frontends is None  # one per CPU
    assert (
        load_config(write(tmp_path, BASE + "\n[limits]\nfrontends = 0\n"), environ={}).limits.frontends == 0
    )
    # limits.admission_processes keeps parsing: 0 one process, N front-ends now; a warning says so
    with caplog.at_level("WARNING"):
        old = load_config(write(tmp_path, BASE + "\n[limits]\nadmission_processes = 3\n"), environ={})
    assert old.limits.frontends == 3
    assert "admission_processes is deprecated" in caplog.text
    both = BASE + "\n[limits]\nadmission_processes = 3\nfrontends = 1\n"
    assert load_config(write(tmp_path, both), environ={}).limits.frontends == 1
    with pytest.raises(ConfigError, match=r"limits.frontends: 300 is out of range \[0, 256\]"):
        load_config(write(tmp_path, BASE + "\n[limits]\nfrontends = 300\n"), environ={})


def test_a_frontends_counters_add_up_in_the_core():
    from verifier.frontend_link import apply_tally, counter_values, counters_by_name, pack_tally
    from verifier.metrics import VerifierMetrics

    front, core = VerifierMetrics(), VerifierMetrics()
    front.admission_seconds.inc(0.25)
    front.count_reports([(verifier_pb2.DISPOSITION_REJECTED, 16), (verifier_pb2.DISPOSITION_ACCEPTED, 0)])
    front.refused.inc(3)
    counters = counters_by_name(core)
    sent = counter_values(front.registry)
    message = pack_tally(sent, {})
    assert message is not None
    apply_tally(counters, message)
    front.refused.inc(2)
    message = pack_tally(counter_values(front.registry), sent)  # only what moved since
    assert message is not None
    apply_tally(counters, message)
    assert pack_tally(counter_values(front.registry), counter_values(front.registry)) is None
    got = counter_values(core.registry)
    assert got == counter_values(front.registry)
    assert got[("pausewatch_verifier_stage_seconds", (("stage", "admission"),))] == 0.25


def test_a_frontends_report_calls_are_counted_per_method_in_the_core(tmp_path):
    """SubmitReports and UploadReports answered by a front-end show in the core's per-method
    gRPC counters (sent with ``Tally``); a forwarded call is counted once, by the core."""
    import re
    import urllib.request

    from bench.bench_ingest import free_port

    world = World(tmp_path, nodes=1)
    cfg = write_config(tmp_path, world)
    metrics_port = free_port()
    cfg.write_text(
        cfg.read_text()
        .replace('metrics_listen = ""', f'metrics_listen = "127.0.0.1:{metrics_port}"')
        .replace("[limits]\n", "[limits]\nfrontends = 1\n")
    )

    def handled() -> dict[tuple[str, str], float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        pattern = (
            r'pausewatch_verifier_grpc_server_handled_total\{grpc_code="(\w+)",grpc_method="(\w+)"\} (\S+)'
        )
        return {(m, c): float(v) for c, m, v in re.findall(pattern, text)}

    async def calls(port: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = verifier_pb2_grpc.VerifierStub(ch)
            (chain,) = await enrolled_chains(stub, world)
            resp = await stub.SubmitReports(
                verifier_pb2.SubmitReportsRequest(envelopes=[chain.next()]), timeout=30
            )
            assert resp.results[0].disposition == 1, resp
            upload = stub.UploadReports(timeout=30)
            await upload.write(verifier_pb2.SubmitReportsRequest(envelopes=[chain.next()]))
            assert (await upload.read()).results[0].disposition == 1
            await upload.done_writing()
            assert await upload.code() == grpc.StatusCode.OK

    proc, port = start(cfg, tmp_path)
    try:
        asyncio.run(calls(port))
        wanted = {("SubmitReports", "ok"): 1.0, ("UploadReports", "ok"): 1.0, ("GetChallenge", "ok"): 1.0}
        wait_for(
            "the front-end's counters in the core",
            lambda: all(handled().get(k) == v for k, v in wanted.items()),
        )
        assert handled()[("GetChallenge", "ok")] == 1.0  # forwarded: not counted twice
    finally:
        stop(proc, tmp_path)
    # the core's start-up line names the public port the front-ends share, not its socket's
    serving = [line for line in (tmp_path / "verifier.log").read_text().splitlines() if "verifier serving" in line]
    assert serving, (tmp_path / "verifier.log").read_text()[-2000:]
    assert f'"port": {port}' in serving[-1], serving[-1]


_REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


@contextlib.contextmanager
def idle_watches(port: int, sources: list[str], n: int) -> Iterator[None]:
    """A raw HTTP/2 connection from each of ``sources`` (loopback addresses) opening ``n``
    reflection streams and sending nothing on them: idle forwarded streams, held open until
    the block ends."""
    socks = [open_watches(port, source, n) for source in sources]
    try:
        yield
    finally:
        for s in socks:
            s.close()


def open_watches(port: int, source: str, n: int):  # type: ignore[no-untyped-def]
    """A raw HTTP/2 connection from ``source`` (a loopback address) opening ``n`` reflection
    streams and sending nothing on them: idle forwarded streams, held open."""
    import socket

    from tests.verifier.test_overload_edge import _frame, _literal

    headers = (
        b"\x83\x86"  # :method POST, :scheme http
        + _literal(b":path", _REFLECTION.encode())
        + _literal(b":authority", b"verifier")
        + _literal(b"content-type", b"application/grpc")
        + _literal(b"te", b"trailers")
    )
    s = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0))
    for k in range(n):
        s.sendall(_frame(1, 0x4, 2 * k + 1, headers))  # END_HEADERS, the stream left open
    return s


async def refused_forwarded_streams(metrics_port: int, n: float) -> None:
    """Wait until ``n`` forwarded streams have been refused: at once, but a front-end's counts
    reach the core's /metrics by tally, and the machine may be loaded."""
    loop = asyncio.get_running_loop()
    until = loop.time() + 60
    while refused_calls(metrics_port).get("forwarded_streams") != n:
        assert loop.time() < until, refused_calls(metrics_port)
        await asyncio.sleep(0.05)


def test_strangers_idle_forwarded_streams_do_not_stop_reports(tmp_path):
    """Forwarded streams (here idle reflection streams, no key needed) once shared the core's
    connection with ``Sequence``, whose per-connection stream cap they filled: every report
    then ended DEADLINE_EXCEEDED. A front-end holds at most half that cap of forwarded streams
    (more are refused RESOURCE_EXHAUSTED, with a hint) on a connection of their own: here 16
    strangers' 32 streams fill the 8 slots, one each (a source's share), and reports and
    forwarded unary calls go on."""
    world = World(tmp_path, nodes=1)
    cfg = write_config(tmp_path, world)
    metrics_port = with_metrics(cfg, "frontends = 1\nmax_streams_per_connection = 16\n")

    async def calls(port: int) -> None:
        with idle_watches(port, [f"127.0.3.{i + 1}" for i in range(16)], 2):
            await refused_forwarded_streams(metrics_port, 24)
            # refused: 16 sources' second streams, and the first streams of 8 of them
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = verifier_pb2_grpc.VerifierStub(ch)
                (chain,) = await enrolled_chains(stub, world)  # forwarded unary calls get through
                for _ in range(3):
                    resp = await stub.SubmitReports(
                        verifier_pb2.SubmitReportsRequest(envelopes=[chain.next()]), timeout=10
                    )
                    assert resp.results[0].disposition == 1, resp
                from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

                async def never():  # no request written as the refusal arrives: a client
                    await asyncio.sleep(3600)  # doing so may read INTERNAL (grpc's race)
                    yield reflection_pb2.ServerReflectionRequest()

                watch = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(never())
                assert await watch.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # every slot held
                assert retry_after_ms(await watch.trailing_metadata()) == ["5000"]
                assert "retry after 5 s" in (await watch.details())
            await refused_forwarded_streams(metrics_port, 25)

    run_calls(cfg, tmp_path, calls)


def test_one_source_holds_only_its_share_of_forwarded_streams(tmp_path):
    """A red team: one source opening watches and leaving them open held every forwarded-stream
    slot of a front-end, and every other caller's ``WatchAlerts``, health ``Watch`` and
    reflection was refused. One source now holds an eighth (here 4 of 32); another caller's
    watch opens and is answered."""
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    world = World(tmp_path, nodes=1)
    cfg = write_config(tmp_path, world)
    metrics_port = with_metrics(cfg, "frontends = 1\nmax_streams_per_connection = 64\n")

    async def calls(port: int) -> None:
        with idle_watches(port, ["127.0.0.2"] * 2, 20):
            await refused_forwarded_streams(metrics_port, 36)

            async def one_request():
                yield reflection_pb2.ServerReflectionRequest(list_services="")

            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                watch = reflection_pb2_grpc.ServerReflectionStub(ch).ServerReflectionInfo(one_request())
                answers = [a async for a in watch]
                assert await watch.code() == grpc.StatusCode.OK
                names = {s.name for s in answers[0].list_services_response.service}
                assert "pausewatch.v1.Verifier" in names
            assert refused_calls(metrics_port).get("forwarded_streams") == 36.0

    run_calls(cfg, tmp_path, calls)


def test_a_strangers_half_sent_calls_do_not_take_the_honest_callers_slots(tmp_path):
    """A stranger's calls that send HEADERS and never their request once each took a slot of
    grpc's process-wide cap on calls (``max_concurrent_rpcs``, here 8), and every honest call
    was refused "Concurrent RPC limit exceeded!". The front-end now counts calls per source
    (``max_calls_per_source``, 8 here) from their start: the stranger's 9th and
    later are refused at once, an honest caller at another address is served."""
    import socket
    import struct

    from tests.verifier.test_overload_edge import _HEADERS, _frame

    world = World(tmp_path, nodes=1)
    cfg = write_config(tmp_path, world)
    cfg.write_text(
        cfg.read_text().replace(
            "[limits]\n", "[limits]\nfrontends = 1\nmax_calls_per_source = 8\nmax_concurrent_rpcs = 8\n"
        )
    )

    def stranger(port: int) -> socket.socket:  # from 127.0.0.2; the honest caller is 127.0.0.1
        s = socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0))
        for sid in (1, 3):
            s.sendall(
                _frame(1, 0x4, sid, _HEADERS)
                + _frame(0, 0, sid, b"\x00" + struct.pack(">I", 2000) + b"\x0a\x00")
            )
        return s

    async def calls(port: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = verifier_pb2_grpc.VerifierStub(ch)
            (chain,) = await enrolled_chains(stub, world)
            socks = [stranger(port) for _ in range(8)]  # 16 half-sent calls
            try:
                await asyncio.sleep(1.0)
                for _ in range(3):
                    resp = await stub.SubmitReports(
                        verifier_pb2.SubmitReportsRequest(envelopes=[chain.next()]), timeout=10
                    )
                    assert resp.results[0].disposition == 1, resp
            finally:
                for s in socks:
                    s.close()

    run_calls(cfg, tmp_path, calls)


@pytest.mark.parametrize("frontends", [1, 0])
def test_a_source_past_its_calls_in_flight_is_refused_with_a_hint_and_counted(tmp_path, frontends):
    """Past ``max_calls_per_source`` calls in flight from one address (attestors behind one
    NAT), a unary and a streaming call are refused RESOURCE_EXHAUSTED with the
    ``pausewatch-retry-after-ms`` hint (1000 ms), and the refusals are counted by reason on the
    verifier's /metrics: through a front-end (``Tally`` to the core) and in a single process.
    The slots are held by two open reflection streams, each answered once (so held)."""
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    world = World(tmp_path, nodes=1)
    cfg = write_config(tmp_path, world)
    metrics_port = with_metrics(cfg, f"frontends = {frontends}\nmax_calls_per_source = 2\n")

    async def calls(port: int) -> None:
        release = asyncio.Event()

        async def held_requests():
            yield reflection_pb2.ServerReflectionRequest(list_services="")
            await release.wait()

        async def quiet_requests():
            await release.wait()
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            reflection = reflection_pb2_grpc.ServerReflectionStub(ch)
            held = [reflection.ServerReflectionInfo(held_requests()) for _ in range(2)]
            try:
                for h in held:  # answered: the call holds its slot
                    assert (await asyncio.wait_for(h.read(), 30)).HasField("list_services_response")
                stub = verifier_pb2_grpc.VerifierStub(ch)
                with pytest.raises(grpc.aio.AioRpcError) as e:  # unary
                    await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=30)
                assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.value
                assert retry_after_ms(e.value.trailing_metadata()) == ["1000"]
                assert "retry after 1 s" in (e.value.details() or "")
                # streaming; its request waits for the refusal: a request written as the status
                # arrives can end the call INTERNAL ("Internal error from Core") on the client,
                # hint and all (seen in about 1 run in 6, with the request sent at once)
                stream = reflection.ServerReflectionInfo(quiet_requests(), timeout=30)
                assert await stream.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert retry_after_ms(await stream.trailing_metadata()) == ["1000"]
            finally:
                release.set()
            for h in held:
                assert await asyncio.wait_for(h.code(), 30) == grpc.StatusCode.OK
            # the slots are given back: served again, and not counted
            assert (await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=30)).envelope

    proc, port = start(cfg, tmp_path)
    try:
        asyncio.run(calls(port))
        want = {"per_source": 2.0, "forwarded_streams": 0.0}
        wait_for("the refusals on /metrics", lambda: refused_calls(metrics_port) == want)
    finally:
        stop(proc, tmp_path)


def test_calls_are_counted_per_source_address():
    from verifier.frontend import _source

    assert _source("ipv4:10.1.2.3:5555") == "10.1.2.3"
    assert _source("ipv6:[2001:db8:1:2:aaaa::1]:5555") == "2001:db8:1:2::/64"
    assert _source("ipv6:[2001:db8:1:2:bbbb::9]:1") == "2001:db8:1:2::/64"
    assert _source("ipv6:[::ffff:10.1.2.3]:5555") == "10.1.2.3"
    assert _source("ipv6:[fe80::1%eth0]:5555") == "fe80::/64"
    # as grpc writes them (a reviewer's, 2026-12-06: each IPv6 connection was a source of its
    # own, the peer string with its port, so no per-source cap held for IPv6 callers)
    assert _source("ipv6:%5B2001:db8:1:2:aaaa::1%5D:5555") == "2001:db8:1:2::/64"
    assert _source("ipv6:%5B::1%5D:57108") == _source("ipv6:%5B::1%5D:57109") == "::/64"
    assert _source("ipv6:%5Bfe80::1%25eth0%5D:5555") == "fe80::/64"
    assert _source("unix:/run/x.sock") == "unix:/run/x.sock"


def test_ipv6_callers_are_counted_per_64_as_grpc_names_them():
    """Two connections from ::1 are one source, read from the peer string grpc itself gives a
    live call (percent-encoded), not from a string written by hand."""
    import socket

    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    from verifier.frontend import _source

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as e:
        pytest.skip(f"this machine has no IPv6 loopback (::1): {e}")

    async def go() -> list[str]:
        peers: list[str] = []

        class Health(health.aio.HealthServicer):
            async def Check(self, request, context):
                peers.append(context.peer())
                return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
        port = server.add_insecure_port("[::1]:0")
        await server.start()
        local = [("grpc.use_local_subchannel_pool", 1)]  # a connection each
        channels = [grpc.aio.insecure_channel(f"[::1]:{port}", options=local) for _ in range(2)]
        try:
            for ch in channels:  # both open at once: two connections, two ports
                await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
        finally:
            for ch in channels:
                await ch.close()
            await server.stop(None)
        return peers

    first, second = asyncio.run(go())
    assert first != second, first
    assert _source(first) == _source(second) == "::/64", (first, second)


def test_a_unary_call_with_two_requests_or_none_is_invalid_argument(tmp_path):
    """The front-end reads a unary call's one request itself (``_PerSource``): a client that
    sends two, or none, made a malformed call of a method that exists: INVALID_ARGUMENT (not
    UNIMPLEMENTED, which an attestor's uplink reads as "the method does not exist")."""
    world = World(tmp_path, nodes=1)
    cfg = write_config(tmp_path, world)
    cfg.write_text(cfg.read_text().replace("[limits]\n", "[limits]\nfrontends = 1\n"))

    async def calls(port: int) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            raw = ch.stream_unary("/pausewatch.v1.Verifier/GetChallenge")
            for requests in ([b"", b""], []):
                with pytest.raises(grpc.aio.AioRpcError) as e:
                    await raw(iter(requests), timeout=10)
                assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value
            stub = verifier_pb2_grpc.VerifierStub(ch)  # a well-formed call still answers
            assert (await stub.GetChallenge(verifier_pb2.GetChallengeRequest(), timeout=10)).envelope

    run_calls(cfg, tmp_path, calls)
