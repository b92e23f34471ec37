"""The ``--processes`` runner: a scenario played by real verifier and attestor processes.

The scenario drives everything; nothing here knows a particular story:

1. **Files**: keys derived from the scenario seed (lab, verifier, and each attestor's node key,
   written where ``pausewatch-attestor init`` finds and reuses it), one ``attestor.toml`` per
   declared node and meter, a ``verifier.toml``. A node's simulator source gets the schedule of
   what it *reports* (a lying node reports "idle" while it trains); a meter's gets every node of
   its facility — hidden ones too — with the schedule of what it *really* runs, the facility's
   true overhead and the scenario seed: the very draw the nodes' own sources compute, without
   talking to them.
2. **Enrolment with the real commands**, the day before the story (a verifier on its own
   clock): ``pausewatch-attestor init --json`` (inventory entries), ``pausewatch-verifier
   inventory sign|submit`` and ``commitment sign|submit``.
3. **One clock**: every process then runs ``[clock] mode = "accelerated"`` with the same
   ``start_unix_ns`` (the story's start), ``speedup`` and ``anchor_unix_ns`` (the real time at
   which the story starts: two rounds of process start-up, as ``init`` measured them, from
   now), so a restarted process agrees on simulated time too.
4. **The story as process control**: ``pausewatch-verifier serve --ready-file`` (restarted on
   the shared clock, same state); then one ``pausewatch-attestor run`` per declared node and
   meter, each in its own process group, awaited by its "attestor started" log line (at every
   start: nothing signals a process that is still starting).
   ``silent`` stops an attestor (SIGTERM: it signs the running period and stops) just before the
   range begins and starts it again at its end (new boot id, the chain continues from its
   spool); ``restart`` stops and starts it; ``verifier_outage`` stops the verifier and starts it
   again on the same state and port. Waiting is for readiness files and log lines, or until the
   real time at which the accelerated clock reaches the next event.
5. **Verdicts**: after the story, the verifier's own evaluation scheduler signs its verdicts;
   they are read over gRPC (``GetVerdicts``, signatures checked) and judged by the same code as
   the in-process runner.

Every process is stopped with SIGTERM, then SIGKILL after a grace, on success, on error, on
Ctrl-C (SIGINT) or SIGTERM to the runner, and at interpreter exit.

What needs a patched daemon — replays, forks, rollbacks, injected hardware faults — only runs
in-process; such a scenario is refused here (exit 2) with the entry's line.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import datetime as dt
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import grpc

from attestor.sources.simulator import WorkloadProfile
from attestor.spool import Spool
from pausewatch.clock import NS_PER_S
from pausewatch.commitment import WORKLOAD_NAMES, Commitment
from pausewatch.errors import EnvironmentFaultError, InternalError, PausewatchError
from pausewatch.keys import Ed25519Key, Ed25519Signer
from pausewatch.note import Ed25519NoteSigner
from pausewatch.v1 import types_pb2, verifier_pb2, verifier_pb2_grpc
from sim.expect import ObservedVerdict, judge
from sim.fleet import FleetKeys, derive_signer, schedule_of
from sim.runner import (
    RunResult,
    fetch_verdicts,
    log_origin,
    observed,
    scratch_dir,
    verifier_signers,
    wanted_buckets,
)
from sim.scenario import Action, Scenario, ScenarioError, commitment_toml
from sim.world import Emission, SubjectPlan, plan

__all__ = ["ProcessRunError", "ProcessSet", "run_with_processes", "tool", "write_key_file"]

_KEY_HEADER = "pausewatch ed25519 seed v1"
_SUPPORTED = {Action.PROFILE, Action.LIE, Action.SILENT, Action.RESTART, Action.VERIFIER_OUTAGE}
_STOP_GRACE_S = 5.0
_READY_LIMIT_S = 60.0       # real seconds a process may take to come up
_VERDICT_LIMIT_S = 60.0     # real seconds the verdicts may take after the story
_POLL_S = 0.05


class ProcessRunError(EnvironmentFaultError):
    """A process failed to start, died, or never became ready."""


def tool(name: str) -> str:
    """The path of a pausewatch command: beside this interpreter (the venv), else on PATH."""
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else (shutil.which(name) or name)


def write_key_file(path: Path, signer: Ed25519Signer) -> None:
    """Write ``signer`` as a pausewatch key file (mode 0600), as ``keygen`` would."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{_KEY_HEADER}\n{base64.b64encode(signer.seed).decode()}\n")


# ---------------------------------------------------------------------------------------------
# Processes


@dataclass
class _Proc:
    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0


class ProcessSet:
    """The processes a run started; each in its own process group, all stopped on ``close``.

    ``close`` runs at most once per process, also from ``atexit`` and from the SIGINT/SIGTERM
    handlers ``install_signal_handlers`` sets (they raise KeyboardInterrupt in the main thread,
    so ``finally`` blocks run as for Ctrl-C).
    """

    def __init__(self, cwd: Path) -> None:
        self._cwd = cwd
        self._procs: dict[str, _Proc] = {}
        atexit.register(self.close)

    def add(self, name: str, argv: list[str], log: Path) -> None:
        self._procs[name] = _Proc(name, argv, log)

    def start(self, name: str) -> None:
        p = self._procs[name]
        if p.popen is not None and p.popen.poll() is None:
            raise InternalError(f"{name} is already running")
        with p.log.open("ab") as out:
            p.popen = subprocess.Popen(p.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=self._cwd, start_new_session=True)
        p.starts += 1

    def stop(self, names: Sequence[str], grace_s: float = _STOP_GRACE_S) -> None:
        """SIGTERM to each group, wait up to ``grace_s`` for all, then SIGKILL what is left."""
        running = [self._procs[n].popen for n in names]
        live = [p for p in running if p is not None and p.poll() is None]
        for p in live:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in live:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def starts(self, name: str) -> int:
        """How many times ``name`` was started."""
        return self._procs[name].starts

    def running(self, name: str) -> bool:
        p = self._procs[name].popen
        return p is not None and p.poll() is None

    def exit_code(self, name: str) -> int | None:
        p = self._procs[name].popen
        return None if p is None else p.poll()

    def log_text(self, name: str) -> str:
        try:
            return self._procs[name].log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, name: str, lines: int = 8) -> str:
        return "\n".join(self.log_text(name).splitlines()[-lines:])

    @property
    def names(self) -> list[str]:
        return list(self._procs)

    def close(self) -> None:
        self.stop(self.names)


@contextlib.contextmanager
def install_signal_handlers() -> Iterator[None]:
    """SIGTERM to the runner behaves as Ctrl-C (KeyboardInterrupt), so cleanup runs; restored after."""
    if sys.platform == "win32" or not _in_main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, interrupt)
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)


def _in_main_thread() -> bool:
    import threading  # noqa: PLC0415 - only for this check

    return threading.current_thread() is threading.main_thread()


def _run_tool(argv: list[str], cwd: Path, what: str) -> str:
    """Run a short command to completion; its stdout, or ProcessRunError with its stderr."""
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise ProcessRunError(f"{what}: exit {r.returncode}: {(r.stderr or r.stdout).strip()[-500:]}")
    return r.stdout


def _run_tools(jobs: Sequence[tuple[list[str], str]], cwd: Path) -> list[str]:
    """Run commands side by side (each in its own group); stdouts in order."""
    procs = [(subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL, start_new_session=True), what)
             for argv, what in jobs]
    outs: list[str] = []
    try:
        for p, what in procs:
            out, err = p.communicate(timeout=120)
            if p.returncode != 0:
                raise ProcessRunError(f"{what}: exit {p.returncode}: {(err or out).strip()[-500:]}")
            outs.append(out)
    finally:
        for p, _ in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    return outs


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# Files


def _q(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def _schedule_toml(prefix: str, schedule: Sequence[tuple[int, WorkloadProfile]]) -> list[str]:
    lines: list[str] = []
    for start, profile in schedule:
        lines += [f"[[{prefix}]]", f"from_unix_ns = {start}", f"profile = {_q(profile.kind)}",
                  f"job_seed = {profile.job_seed}"]
    return lines


@dataclass(frozen=True)
class _Layout:
    root: Path

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def docs(self) -> Path:
        return self.root / "documents"

    @property
    def verifier_config(self) -> Path:
        return self.root / "verifier.toml"

    @property
    def verifier_state(self) -> Path:
        return self.root / "state"

    @property
    def ready_file(self) -> Path:
        return self.root / "verifier.ready"

    def attestor_dir(self, subject_id: str) -> Path:
        return self.root / "attestors" / subject_id

    def attestor_config(self, subject_id: str) -> Path:
        return self.attestor_dir(subject_id) / "attestor.toml"


@dataclass(frozen=True)
class _ClockPlan:
    start_unix_ns: int      # simulated time at the anchor: the story's start
    anchor_unix_ns: int     # real unix time at which the story starts
    speedup: float

    def toml(self) -> list[str]:
        return ["[clock]", 'mode = "accelerated"', f"start_unix_ns = {self.start_unix_ns}",
                f"anchor_unix_ns = {self.anchor_unix_ns}", f"speedup = {self.speedup!r}"]

    def real_at(self, sim_ns: int) -> float:
        """Real unix time (s) at which simulated time reaches ``sim_ns``."""
        return (self.anchor_unix_ns + (sim_ns - self.start_unix_ns) / self.speedup) / NS_PER_S

    def sim_now(self) -> int:
        return self.start_unix_ns + int((time.time_ns() - self.anchor_unix_ns) * self.speedup)


def _verifier_toml(
    scenario: Scenario, layout: _Layout, port: int, clock: _ClockPlan, parties: Sequence[str] = ()
) -> str:
    period_s = scenario.period_ns / NS_PER_S
    labs: dict[str, list[str]] = {}
    for fac in scenario.facilities:
        labs.setdefault(fac.lab, []).append(fac.id)
    keys = FleetKeys(scenario.seed)
    lines = [
        f"# {scenario.name} under --processes: written by sim/processes.py",
        f'listen = "127.0.0.1:{port}"', 'state_dir = "state"', 'metrics_listen = ""', "",
        "[log]", f"origin = {_q(log_origin(scenario))}", 'key_file = "keys/log.key"', "",
        # One challenge per report period, valid for ten, and a skew of five: a real second is
        # `speedup` simulated seconds, so an attestor or verifier starved of CPU for a few real
        # seconds by other work on the machine (a second test run beside this one) must not
        # answer an expired challenge, or one issued that much after its period ended.
        "[challenge]", 'key_file = "keys/challenge.key"', f"interval_s = {period_s!r}",
        f"lifetime_s = {10 * period_s!r}", f"max_clock_skew_s = {5 * period_s!r}", "",
        "[verdict]", 'key_file = "keys/verdict.key"', "",
        # Look for closed buckets every fifth of a period; wait two periods for in-flight reports.
        "[evaluation]", f"interval_s = {max(0.1, period_s / 5)!r}", f"grace_s = {2 * period_s!r}", "",
        *clock.toml(), "",
    ]
    for lab, facilities in sorted(labs.items()):
        key = base64.b64encode(keys.lab(lab).public_key.raw).decode()
        lines += ["[[labs]]", f"lab_id = {_q(lab)}", f"public_keys = [{_q(key)}]",
                  f"facilities = [{', '.join(_q(f) for f in facilities)}]", ""]
    for party in parties:
        key = base64.b64encode(party_signer(scenario, party).public_key.raw).decode()
        lines += ["[[parties]]", f"party_id = {_q(party)}", f"public_keys = [{_q(key)}]", ""]
    return "\n".join(lines)


def party_signer(scenario: Scenario, party: str) -> Ed25519Signer:
    """A party's key, derived from the scenario's seed."""
    return derive_signer(scenario.seed, f"party/{party}")


def _rfc3339(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // NS_PER_S, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quoted(items: Sequence[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def terms_toml(scenario: Scenario, parties: Sequence[str]) -> str:
    """Terms stating the commitment's own conditions (window, rules, reporting, tolerances as
    ``pausewatch.commitment`` resolves them) for every lab of the scenario, co-signed by all of
    ``parties``: the commitment is exactly as strict as the terms, so it is accepted."""
    c = Commitment.from_wire(scenario.commitment)
    labs: dict[str, list[str]] = {}
    for fac in scenario.facilities:
        labs.setdefault(fac.lab, []).append(fac.id)
    names = {v: k for k, v in WORKLOAD_NAMES.items()}
    r, t = c.reporting, c.tolerances
    s = NS_PER_S
    lines = [
        f"id = {_q(c.commitment_id + '-terms')}",
        "version = 1",
        f"parties = {_quoted(parties)}",
        f"signatures_required = {len(parties)}",
        f"description = {_q('Multilateral terms of ' + scenario.name)}",
        "",
    ]
    for lab, facilities in sorted(labs.items()):
        lines += ["[[labs]]", f"lab_id = {_q(lab)}", f"facilities = {_quoted(facilities)}", ""]
    lines += ["[window]", f"start = {_rfc3339(c.window_start_ns)}", f"end = {_rfc3339(c.window_end_ns)}", ""]
    lines.append("[rules]")
    if c.compute_cap_flop is not None:
        lines.append(f"compute_cap_flop = {c.compute_cap_flop!r}")
    lines.append(f"allowed_workloads = {_quoted([names[w] for w in sorted(c.allowed_workloads)])}")
    for cap in c.power_caps:
        lines += ["[[rules.power_caps]]", f"facility = {_q(cap.facility_id)}"]
        lines.append(f"max_power_w = {cap.max_power_w!r}")
    lines += [
        "",
        "[reporting]",
        f"max_report_interval_s = {r.max_report_interval_ns / s!r}",
        f"max_gap_s = {r.max_gap_ns / s!r}",
        f"bucket_s = {r.bucket_ns / s!r}",
        f"timeout_intervals = {r.timeout_intervals}",
        f"min_inventory_coverage = {r.min_inventory_coverage!r}",
        f"min_time_coverage = {r.min_time_coverage!r}",
        "",
        "[tolerances]",
        f"overhead_min_ratio = {t.overhead_min_ratio!r}",
        f"overhead_max_ratio = {t.overhead_max_ratio!r}",
        f"calibration_s = {t.calibration_ns / s!r}",
        f"max_overhead_drift = {t.max_overhead_drift!r}",
        f"max_fixed_load_w = {t.max_fixed_load_w!r}",
        f"max_meter_accuracy = {t.max_meter_accuracy!r}",
        "",
    ]
    return "\n".join(lines)


def _attestor_toml(
    scenario: Scenario, subject: SubjectPlan, all_subjects: Sequence[SubjectPlan], layout: _Layout, *,
    port: int, clock: _ClockPlan,
) -> str:
    log, challenge, _ = verifier_signers(scenario)
    period_s = scenario.period_ns / NS_PER_S
    lines = [
        f"# {subject.subject_id} of {scenario.name} under --processes: written by sim/processes.py",
        f'mode = "{"meter" if subject.is_meter else "node"}"',
        'state_dir = "state"',  # beside this file (relative paths resolve against the file's directory)
        f"facility_id = {_q(subject.facility_id)}",
        f"{'meter_id' if subject.is_meter else 'node_id'} = {_q(subject.subject_id)}",
        f"period_s = {period_s!r}", f"sample_interval_s = {scenario.sample_interval_ns / NS_PER_S!r}", "",
        "[verifier]", f'address = "127.0.0.1:{port}"', "insecure = true",
        f"challenge_key = {_q(base64.b64encode(challenge.public_key.raw).decode())}", "",
        "[log]", f"origin = {_q(log_origin(scenario))}",
        f"vkey = {_q(Ed25519NoteSigner(log_origin(scenario), log).vkey)}", "",
        # Uplink timing is on the simulated clock: refresh the challenge once a period, back off
        # from a tenth of one up to two.
        "[uplink]", f"challenge_refresh_s = {period_s!r}", f"backoff_initial_s = {period_s / 10!r}",
        f"backoff_max_s = {2 * period_s!r}", "",
        *clock.toml(), "",
        "[[sources]]", 'kind = "simulator"', f"seed = {scenario.seed}",
    ]
    if subject.is_meter:
        fac = scenario.facility(subject.facility_id)
        lines += [f"overhead = {fac.true_overhead!r}", "base_w = 0.0"]
        for node in (s for s in all_subjects if s.facility_id == subject.facility_id and not s.is_meter):
            lines += ["[[sources.nodes]]", f"node_id = {_q(node.subject_id)}", f"devices = {node.devices}",
                      f"model = {_q(node.model)}"]
            lines += _schedule_toml("sources.nodes.schedule", schedule_of(scenario, node, reported=False))
    else:
        lines += [f"devices = {subject.devices}", f"model = {_q(subject.model)}"]
        lines += _schedule_toml("sources.schedule", schedule_of(scenario, subject, reported=True))
    return "\n".join(lines) + "\n"


def _inventory_toml(scenario: Scenario, facility_id: str, entries: dict[str, dict[str, object]]) -> str:
    fac = scenario.facility(facility_id)
    lines = [f"facility_id = {_q(fac.id)}", f"lab_id = {_q(fac.lab)}", "version = 1", "",
             "[overhead]", f"min_ratio = {fac.overhead[0]!r}", f"max_ratio = {fac.overhead[1]!r}",
             *([f"fixed_load_w = {fac.fixed_load_w!r}"] if fac.fixed_load_w else []), ""]
    for node in fac.declared_nodes:
        e = entries[node.node_id]
        lines += ["[[nodes]]", f"node_id = {_q(node.node_id)}",
                  f"attestor_public_key = {_q(str(e['attestor_public_key']))}",
                  f"location = {_q(f'{fac.id} hall 1')}"]
        accelerators = e["accelerators"]
        if not isinstance(accelerators, list):
            raise InternalError("accelerators is not a list; a bug")
        for acc in accelerators:
            lines += ["[[nodes.accelerators]]", f"uuid = {_q(acc['uuid'])}", f"model = {_q(acc['model'])}",
                      f"serial = {_q(acc['serial'])}"]
        lines.append("")
    for meter in fac.meters:
        e = entries[meter.meter_id]
        lines += ["[[meters]]", f"meter_id = {_q(meter.meter_id)}",
                  f"public_key = {_q(str(e['public_key']))}", 'scope = "facility"', ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The story as process events


@dataclass(frozen=True)
class _Event:
    at_ns: int          # offset from the story's start (simulated)
    kind: str           # "stop" | "start"
    name: str           # process name: a subject id, or "verifier"

    def order(self) -> tuple[int, int, str]:
        return (self.at_ns, 0 if self.kind == "stop" else 1, self.name)


def _events(
    scenario: Scenario, subjects: Sequence[SubjectPlan], outages: Sequence[tuple[int, int]]
) -> list[_Event]:
    # A stopped attestor signs its running period at "now": stop it a sample and a half before
    # the silence begins, so that no sample of the silent range is signed by a late signal.
    lead = scenario.sample_interval_ns * 3 // 2
    out: list[_Event] = []
    for s in subjects:
        up_before = True
        for p in s.periods:
            up = p.emission is not Emission.NONE
            if up_before and not up:
                out.append(_Event(max(0, p.start_ns - lead), "stop", s.subject_id))
            elif up and not up_before:
                out.append(_Event(p.start_ns, "start", s.subject_id))
            elif up and p.new_boot and p.index > 0:
                out += [_Event(p.start_ns, "stop", s.subject_id), _Event(p.start_ns, "start", s.subject_id)]
            up_before = up
    for a, b in outages:
        out += [_Event(a, "stop", "verifier"), _Event(b, "start", "verifier")]
    return sorted(out, key=_Event.order)


def _check_supported(scenario: Scenario) -> None:
    for line, key, what in scenario.in_process_only:
        raise ScenarioError(scenario.path, line, key,
                            f"{what} is not staged with real processes (a patched attestor, a simulated "
                            "meter or scheduler would be needed) and runs only in-process (drop --processes)")
    for i, ev in enumerate(scenario.timeline):
        if ev.action not in _SUPPORTED:
            raise ScenarioError(
                scenario.path, ev.line, f"timeline[{i}].do",
                f"\"{ev.action.value}\" needs a patched attestor and runs only in-process "
                "(drop --processes)",
            )


# ---------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class _Counts:
    acked: int = 0
    pending: int = 0
    rejected: int = 0
    disputed: int = 0


def run_with_processes(
    scenario: Scenario,
    *,
    work_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    terms_parties: Sequence[str] = (),
    verifier_extra_toml: str = "",
) -> RunResult:
    """Play ``scenario`` with real processes (blocking). ``work_dir`` keeps every file (configs,
    keys, the verifier's state, each attestor's spool, the logs); by default a temporary
    directory that is removed afterwards. ``progress`` gets one line per stage.

    ``terms_parties``: the run happens under multilateral terms (``pausewatch.terms``) that
    these parties co-sign — all of them, each with ``pausewatch-verifier terms sign`` on its own
    key — stating the commitment's own conditions for every lab of the scenario; the verifier
    trusts the parties (``[[parties]]``) and holds the commitment to the terms.

    ``verifier_extra_toml``: appended to the verifier's configuration (the demo's
    ``[[witnesses]]``)."""
    _check_supported(scenario)
    t_start = time.monotonic()

    def say(line: str) -> None:
        if progress is not None:
            progress(f"[{time.monotonic() - t_start:5.1f} s] {line}")

    cpu_start = _children_cpu()
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pausewatch-proc-",
                                                                        dir=scratch_dir())))
        else:
            root = work_dir
            root.mkdir(parents=True, exist_ok=True)
        layout = _Layout(root)
        procs = ProcessSet(root)
        stack.callback(procs.close)
        stack.enter_context(install_signal_handlers())
        result = _run(scenario, layout, procs, say, tuple(terms_parties), extra_toml=verifier_extra_toml)
        procs.close()
        wall = time.monotonic() - t_start
        cpu = _children_cpu() - cpu_start
        notes = (*result.notes, f"processes used {cpu:.1f} CPU-s over {wall:.1f} s on {os.cpu_count()} CPUs")
        return RunResult(
            scenario=scenario, verdicts=result.verdicts, judgement=result.judgement,
            dispositions=result.dispositions, log_size=result.log_size, wall_s=wall,
            state_dir=str(layout.verifier_state) if work_dir is not None else None, notes=notes,
        )


def _children_cpu() -> float:
    r = os.times()
    return r.children_user + r.children_system


def _run(
    scenario: Scenario,
    layout: _Layout,
    procs: ProcessSet,
    say: Callable[[str], None],
    parties: tuple[str, ...] = (),
    *,
    extra_toml: str = "",
) -> RunResult:
    fleet_plan = plan(scenario)
    keys = FleetKeys(scenario.seed)
    subjects = [s for s in fleet_plan.subjects if s.declared]
    for d in (layout.keys, layout.logs, layout.docs):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    log, challenge, verdict = verifier_signers(scenario)
    for name, signer in (("log", log), ("challenge", challenge), ("verdict", verdict)):
        write_key_file(layout.keys / f"{name}.key", signer)
    for lab in sorted({f.lab for f in scenario.facilities}):
        write_key_file(layout.keys / f"lab-{lab}.key", keys.lab(lab))
    for party in parties:
        write_key_file(layout.keys / f"party-{party}.key", party_signer(scenario, party))

    # Configs need the clock; the clock's anchor needs to know how long enrolment takes. So:
    # node keys and a first config (the same but for the anchor) → init → the real anchor.
    port = _free_port()
    provisional = _ClockPlan(scenario.start_unix_ns, time.time_ns(), scenario.speedup)
    for s in subjects:
        directory = layout.attestor_dir(s.subject_id)
        write_key_file(directory / "state" / "node.key", keys.subject(s.subject_id))
        layout.attestor_config(s.subject_id).write_text(
            _attestor_toml(scenario, s, fleet_plan.subjects, layout, port=port, clock=provisional))
    t0 = time.monotonic()
    attestor = tool("pausewatch-attestor")
    outs = _run_tools([([attestor, "init", "--config", str(layout.attestor_config(s.subject_id)), "--json"],
                        f"pausewatch-attestor init ({s.subject_id})") for s in subjects], layout.root)
    entries = {s.subject_id: json.loads(out) for s, out in zip(subjects, outs, strict=True)}
    start_cost = time.monotonic() - t0
    say(f"enrolled {len(subjects)} attestors with pausewatch-attestor init ({start_cost:.1f} s)")

    # Enrolment happens the day before the story, on a verifier of its own clock; then the
    # verifier restarts on the demo's clock, beside the attestors. The story starts once they
    # are all up: about one and a half rounds of process start-up (as measured by init) from now.
    verifier_cmd = tool("pausewatch-verifier")
    procs.add("verifier", [verifier_cmd, "serve", "--config", str(layout.verifier_config), "--ready-file",
                           str(layout.ready_file), "--log-level", "warning"], layout.logs / "verifier.log")
    day_before = _ClockPlan(scenario.start_unix_ns - 86_400 * NS_PER_S, time.time_ns(), 1.0)
    verifier_toml = _verifier_toml(scenario, layout, port, day_before, parties) + extra_toml
    layout.verifier_config.write_text(verifier_toml)
    _start_verifier(procs, layout)
    _documents(scenario, layout, port, entries, parties)
    procs.stop(["verifier"])
    if parties:
        say(f"parties {', '.join(parties)} co-signed the terms and submitted them"
            " (pausewatch-verifier terms sign|submit)")
    say("labs signed and submitted inventories and the commitment (pausewatch-verifier inventory|commitment)")

    lead_s = max(4.0, 2.0 * start_cost + 2.0)
    clock = _ClockPlan(scenario.start_unix_ns, time.time_ns() + int(lead_s * NS_PER_S), scenario.speedup)
    layout.verifier_config.write_text(_verifier_toml(scenario, layout, port, clock, parties) + extra_toml)
    for s in subjects:
        layout.attestor_config(s.subject_id).write_text(
            _attestor_toml(scenario, s, fleet_plan.subjects, layout, port=port, clock=clock))
    _start_verifier(procs, layout)
    say(f"verifier serving on 127.0.0.1:{port} (state: {layout.verifier_state})")
    for s in subjects:
        procs.add(s.subject_id, [attestor, "run", "--config", str(layout.attestor_config(s.subject_id))],
                  layout.logs / f"{s.subject_id}.log")
        procs.start(s.subject_id)
    _wait_started(procs, [s.subject_id for s in subjects])
    late_s = time.time() - clock.real_at(scenario.start_unix_ns)
    notes: list[str] = [
        f"{1 + len(subjects)} processes: 1 verifier, {sum(not s.is_meter for s in subjects)} node attestors, "
        f"{sum(s.is_meter for s in subjects)} meter attestors; {scenario.speedup:g} simulated s per real s"
    ]
    if late_s > 0:
        notes.append(f"the attestors were up {late_s:.1f} s after the story began: its first "
                     f"{late_s * scenario.speedup:.0f} simulated s may lack coverage")
    say(f"{len(subjects)} attestors running; the story starts "
        f"{'now' if late_s > 0 else f'in {-late_s:.1f} s'} and lasts "
        f"{scenario.duration_ns / NS_PER_S / scenario.speedup:.0f} s")

    down: set[str] = set()
    events = _events(scenario, subjects, fleet_plan.outages)
    for at_ns, group in itertools.groupby(events, key=lambda e: e.at_ns):
        _sleep_until(clock.real_at(scenario.start_unix_ns + at_ns), procs, down)
        when = f"{at_ns / NS_PER_S / 3600:.2f} h"
        started: list[str] = []
        for ev in group:
            if ev.kind == "stop":
                procs.stop([ev.name])
                down.add(ev.name)
                say(f"  {when}: stopped {ev.name}")
            else:
                if ev.name == "verifier":
                    _start_verifier(procs, layout)
                else:
                    procs.start(ev.name)
                    started.append(ev.name)
                down.discard(ev.name)
                say(f"  {when}: started {ev.name}")
        # Up before the story goes on: a later stop must find a running attestor, not one still
        # starting (the attestors of one instant start side by side).
        _wait_started(procs, started)

    # After the story: the verifier's scheduler signs each bucket once its grace has passed.
    _sleep_until(clock.real_at(scenario.end_unix_ns), procs, down)
    say("story over; waiting for the verifier's signed verdicts")
    verdicts, log_size = asyncio.run(_read_verdicts(scenario, port, procs))
    procs.stop([s.subject_id for s in subjects])
    procs.stop(["verifier"])
    counts = _spool_counts(layout, subjects)
    notes += _restarts(procs, subjects)
    return RunResult(
        scenario=scenario, verdicts=tuple(verdicts), judgement=judge(scenario, verdicts),
        dispositions={k: v for k, v in vars(counts).items() if v}, log_size=log_size, wall_s=0.0,
        notes=tuple(notes),
    )


def _restarts(procs: ProcessSet, subjects: Sequence[SubjectPlan]) -> list[str]:
    bad = [s.subject_id for s in subjects if procs.exit_code(s.subject_id) not in (0, None)]
    return [f"attestors that exited with an error: {', '.join(bad)}"] if bad else []


def _start_verifier(procs: ProcessSet, layout: _Layout) -> None:
    layout.ready_file.unlink(missing_ok=True)
    procs.start("verifier")
    _wait_ready(procs, layout)


def _wait_ready(procs: ProcessSet, layout: _Layout) -> None:
    deadline = time.monotonic() + _READY_LIMIT_S
    while not layout.ready_file.exists():
        if not procs.running("verifier"):
            raise ProcessRunError(f"pausewatch-verifier serve exited {procs.exit_code('verifier')}:\n"
                                  f"{procs.log_tail('verifier')}")
        if time.monotonic() > deadline:
            raise ProcessRunError("pausewatch-verifier serve never wrote its ready file")
        time.sleep(_POLL_S)


def _documents(
    scenario: Scenario,
    layout: _Layout,
    port: int,
    entries: dict[str, dict[str, object]],
    parties: Sequence[str] = (),
) -> None:
    """The parties co-sign the terms (each with its own key, one after the other), the labs sign
    their inventories and the commitment, and everything is submitted (real commands)."""
    verifier = tool("pausewatch-verifier")
    sign_jobs: list[tuple[list[str], str]] = []
    envelopes: list[tuple[Path, str]] = []
    if parties:
        source = layout.docs / "terms.toml"
        source.write_text(terms_toml(scenario, parties))
        signed = source
        for k, party in enumerate(parties):
            env = layout.docs / f"terms-{k + 1}.env"
            env.unlink(missing_ok=True)
            _run_tool([verifier, "terms", "sign", "--key", str(layout.keys / f"party-{party}.key"),
                       "--in", str(signed), "--out", str(env)], layout.root, f"terms sign ({party})")
            signed = env
        envelopes.append((signed, "terms"))
    for fac in scenario.facilities:
        source = layout.docs / f"inventory-{fac.id}.toml"
        source.write_text(_inventory_toml(scenario, fac.id, entries))
        env = layout.docs / f"inventory-{fac.id}.env"
        env.unlink(missing_ok=True)
        sign_jobs.append(([verifier, "inventory", "sign", "--key", str(layout.keys / f"lab-{fac.lab}.key"),
                           "--in", str(source), "--out", str(env)], f"inventory sign ({fac.id})"))
        envelopes.append((env, "inventory"))
    text = Path(scenario.path).read_text(encoding="utf-8")
    source = layout.docs / "commitment.toml"
    source.write_text(commitment_toml(text))
    env = layout.docs / "commitment.env"
    env.unlink(missing_ok=True)
    lab = scenario.commitment.lab_id
    sign_jobs.append(([verifier, "commitment", "sign", "--key", str(layout.keys / f"lab-{lab}.key"),
                       "--in", str(source), "--out", str(env)], "commitment sign"))
    envelopes.append((env, "commitment"))
    _run_tools(sign_jobs, layout.root)
    # Terms first, then inventories before the commitment that names their facilities.
    for env, kind in envelopes:
        _run_tool([verifier, kind, "submit", "--address", f"127.0.0.1:{port}", "--in", str(env)], layout.root,
                  f"{kind} submit ({env.name})")


def _wait_started(procs: ProcessSet, names: Sequence[str]) -> None:
    """Until each attestor has logged that it started, once for each time it was started (its
    key, spool and sources are open; its log is appended to across starts)."""
    deadline = time.monotonic() + _READY_LIMIT_S
    waiting = set(names)
    while waiting:
        for name in sorted(waiting):
            if procs.log_text(name).count('"attestor started"') >= procs.starts(name):
                waiting.discard(name)
            elif not procs.running(name):
                raise ProcessRunError(f"pausewatch-attestor run ({name}) exited {procs.exit_code(name)}:\n"
                                      f"{procs.log_tail(name)}")
        if waiting and time.monotonic() > deadline:
            raise ProcessRunError(f"attestors never started: {', '.join(sorted(waiting))}")
        if waiting:
            time.sleep(_POLL_S)


def _sleep_until(real_unix_s: float, procs: ProcessSet, down: set[str]) -> None:
    """Wait for a point of the story (the accelerated clock reaching it), watching for deaths."""
    while True:
        left = real_unix_s - time.time()
        if left <= 0:
            return
        for name in procs.names:
            if name not in down and not procs.running(name) and procs.exit_code(name) is not None:
                raise ProcessRunError(f"{name} exited {procs.exit_code(name)} during the story:\n"
                                      f"{procs.log_tail(name)}")
        time.sleep(min(left, 0.2))


async def _read_verdicts(
    scenario: Scenario, port: int, procs: ProcessSet
) -> tuple[list[ObservedVerdict], int]:
    _, _, verdict_signer = verifier_signers(scenario)
    key = Ed25519Key(verdict_signer.public_key.raw)
    wanted = wanted_buckets(scenario)
    seen: dict[tuple[str, int], types_pb2.Verdict] = {}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = verifier_pb2_grpc.VerifierStub(channel)
        deadline = time.monotonic() + _VERDICT_LIMIT_S
        while True:
            if not procs.running("verifier"):
                raise ProcessRunError(f"the verifier exited {procs.exit_code('verifier')}:\n"
                                      f"{procs.log_tail('verifier')}")
            await fetch_verdicts(stub, scenario, key, seen)
            if wanted <= set(seen):
                break
            if time.monotonic() > deadline:
                missing = sorted(wanted - set(seen))
                raise ProcessRunError(f"the verifier signed no verdict for {len(missing)} buckets, e.g. "
                                      f"{missing[0][0]} at {missing[0][1]}")
            await asyncio.sleep(0.25)
        resp = await stub.GetCheckpoint(verifier_pb2.GetCheckpointRequest(), timeout=10.0)
    lines = resp.checkpoint.decode("utf-8", "replace").split("\n")
    log_size = int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else 0
    return list(observed(scenario, seen)), log_size


def _spool_counts(layout: _Layout, subjects: Sequence[SubjectPlan]) -> _Counts:
    acked = pending = rejected = disputed = 0
    for s in subjects:
        path = layout.attestor_dir(s.subject_id) / "state" / "spool.sqlite"
        try:
            spool = Spool.open_readonly(path)
        except PausewatchError:
            continue
        try:
            st = spool.status()
        finally:
            spool.close()
        acked += st.acked
        pending += st.pending
        rejected += st.rejected
        disputed += st.disputed
    return _Counts(acked, pending, rejected, disputed)
