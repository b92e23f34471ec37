"""A stop signal during the attestor's start-up is a clean stop: a real ``pausewatch-attestor run``
gets SIGTERM (or SIGINT) at each stage it reports through ``NOTIFY_SOCKET`` (systemd's protocol,
read here from a socket of the test's own), and again right after it was spawned. Every time it
exits 0 (but when the signal beat the interpreter to the handler), signs nothing unless it had
said it was ready, signs exactly the running period if it had, and leaves an intact chain."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.attestor.processes import START_LIMIT_S, check_chain, log_tail, spawn, spool_rows

pytestmark = pytest.mark.heavy

SPAWNED = "spawned"  # signal as soon as Popen returns: before the handler, as a rule
# The stages ``run`` reports, in order; the test signals as soon as it hears one.
STAGES = ("STATUS=starting", "STATUS=opening the key, spool and sources", "READY=1")


def _config(tmp_path: Path) -> tuple[Path, Path]:
    state = tmp_path / "state"
    cfg = tmp_path / "attestor.toml"
    # No verifier (spool only); a long period, so that a stop after READY signs exactly one
    # report: the running period, closed at the stop.
    cfg.write_text(f"""
state_dir = "{state}"
facility_id = "fac-stop"
node_id = "node-stop"
period_s = 60
sample_interval_s = 1
[[sources]]
kind = "simulator"
devices = 2
profile = "training"
""")
    return cfg, state


class _NotifySocket:
    """An abstract-namespace datagram socket standing in for systemd's notify socket."""

    def __init__(self) -> None:
        self.name = f"pausewatch-test-{os.getpid()}-{os.urandom(6).hex()}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind("\0" + self.name)

    def close(self) -> None:
        self._sock.close()

    def wait_for(self, stage: str, proc: subprocess.Popen[bytes], log: Path) -> list[str]:
        """Messages up to and including the one that has ``stage``; fails if ``proc`` exits
        first or nothing comes within the start-up limit."""
        heard: list[str] = []
        self._sock.settimeout(1.0)
        for _ in range(int(START_LIMIT_S)):
            try:
                message = self._sock.recv(4096).decode()
            except TimeoutError:
                if proc.poll() is not None:
                    raise AssertionError(
                        f"exited {proc.returncode} before {stage}: {heard}\n{log_tail(log)}"
                    ) from None
                continue
            heard.append(message)
            if stage in message.split("\n"):
                return heard
        raise AssertionError(f"no {stage} within {START_LIMIT_S:.0f} s: {heard}\n{log_tail(log)}")

    def drain(self) -> list[str]:
        """What is queued; call it once the sender has exited, so that all it sent is here."""
        out: list[str] = []
        self._sock.setblocking(False)
        try:
            while True:
                out.append(self._sock.recv(4096).decode())
        except BlockingIOError:
            return out


def _assignments(messages: list[str]) -> list[str]:
    return [line for m in messages for line in m.split("\n")]


@pytest.mark.parametrize(("sig", "rounds"), [(signal.SIGTERM, 2), (signal.SIGINT, 1)])
def test_a_stop_signal_during_start_up_is_a_clean_stop(
    tmp_path: Path, sig: signal.Signals, rounds: int
) -> None:
    cfg, state = _config(tmp_path)
    notify = _NotifySocket()
    env = dict(os.environ, NOTIFY_SOCKET="@" + notify.name)
    ready_file = tmp_path / "attestor.ready"
    outcomes: list[tuple[str, int, bool]] = []
    try:
        for round_ in range(rounds):
            for instant in (SPAWNED, *STAGES):
                before = spool_rows(state)
                log = tmp_path / f"run-{round_}-{len(outcomes)}.log"
                proc = spawn(cfg, log, ready_file=ready_file, env=env)
                try:
                    heard = [] if instant == SPAWNED else notify.wait_for(instant, proc, log)
                    proc.send_signal(sig)
                    code = proc.wait(START_LIMIT_S)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                said = _assignments(heard + notify.drain())
                text = log_tail(log, 100_000)
                after = spool_rows(state)
                check_chain(state, after)
                assert after[: len(before)] == before, "a report signed earlier changed or vanished"
                assert all(st == "pending" for _, _, st in after)  # no verifier: nothing sent
                if code == -sig:
                    # The signal came before the handler: only possible right after the spawn,
                    # and then nothing was opened, reported or logged (SIGINT may leave Python's
                    # KeyboardInterrupt traceback, no line of the daemon's JSON log).
                    assert instant == SPAWNED, (instant, said, text)
                    assert (said, after) == ([], before)
                    assert '"msg"' not in text, text
                    outcomes.append((instant, code, False))
                    continue
                assert code == 0, f"{instant}: exit {code}\n{text}"
                assert "STOPPING=1" in said, said
                ready = "READY=1" in said
                if ready:
                    # It had said it was ready: a normal stop, which signs the running period.
                    assert ready_file.read_text().strip() == str(proc.pid)
                    assert '"attestor stopped"' in text, text
                    assert len(after) == len(before) + 1, (len(before), len(after))
                else:
                    # Stopped during start-up: nothing sampled, nothing signed, no ready file.
                    assert not ready_file.exists()
                    assert '"attestor stopped during start-up"' in text, text
                    assert '"attestor started"' not in text, text
                    assert after == before
                outcomes.append((instant, code, ready))
    finally:
        notify.close()
    # Signalled on hearing READY=1, it had (by definition) said so; the other stages show what
    # they show, but every run above was checked for what it said.
    assert [o for o in outcomes if o[0] == "READY=1"] == [("READY=1", 0, True)] * rounds
    assert len(outcomes) == rounds * (1 + len(STAGES))
