"""``make demo`` (``python -m sim.demo``): a hidden training run, caught, exported and audited.

1. Plays ``scenarios/demo-hidden-training.toml`` with real processes (``sim.processes``): a
   ``pausewatch-verifier serve`` (SQLite in a fresh state directory, gRPC on localhost, its own
   evaluation scheduler) and one ``pausewatch-attestor run`` per node and per facility meter —
   two facilities of 8 nodes x 8 simulated H100s and a meter each, 19 processes — under a pause
   commitment the lab signed and submitted with ``pausewatch-verifier``, within multilateral
   terms two parties co-signed (``pausewatch-verifier terms sign``, each with its own key: the
   verifier takes them to be in force only with both signatures, holds the commitment to them,
   and every verdict names them), all on one accelerated clock (six simulated hours in about a
   minute). fac-a keeps the pause; fac-b hides a training
   run: two attestors are stopped, six report idle, its meter tells the truth.
2. Prints the verdict table (the verdicts the verifier signed, read back over gRPC) with the
   findings that matter.
3. Exports an audit bundle with ``pausewatch-verifier export`` and checks it with
   ``pausewatch-audit verify --html``.

Each party also runs a witness (``pausewatch-witness serve``, two more processes, state under
``demo-out/witnesses/<party>/``): the verifier asks both to cosign every checkpoint
(``[[witnesses]]``), the bundle ends at the checkpoint both cosigned, and the audit requires
that quorum and compares the bundle with each witness's latest checkpoint
(``--witness-checkpoint``).
4. Says where everything is; exits 0 when the story's verdicts came out and the audit passed.

Ctrl-C (or SIGTERM) stops the run and every process it started (each in its own process group:
SIGTERM, then SIGKILL after a grace).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pausewatch.errors import PausewatchError
from pausewatch.note import Ed25519NoteSigner
from sim.cli import format_result
from sim.processes import run_with_processes, tool
from sim.runner import RunResult, log_origin, scratch_dir, verifier_signers
from sim.scenario import load_scenario
from verifier.config import load_config
from verifier.export import trust_files

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "demo-hidden-training.toml"
PARTIES = ("party-a", "party-b")  # co-sign the terms the lab's commitment is held to


def _run_tool(argv: Sequence[str], log: Path) -> int:
    """Run a pausewatch command in its own process group; Ctrl-C ends the group."""
    with log.open("w") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
        try:
            return proc.wait(timeout=600)
        except BaseException:
            _stop_group(proc)
            raise


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@dataclass
class _Witness:
    """A party's witness: ``pausewatch-witness`` made with ``init``, serving on localhost."""

    party: str
    directory: Path
    vkey: str
    url: str
    proc: subprocess.Popen[bytes]


def _start_witnesses(out: Path, scenario_origin: str, log_vkey: str, witnesses: list[_Witness]) -> None:
    """One witness per party, appended to ``witnesses`` as each starts (so all get stopped)."""
    for party in PARTIES:
        directory = out / "witnesses" / party
        directory.mkdir(parents=True, mode=0o700)
        config = directory / "witness.toml"
        config.write_text(
            f'name = "witness.{party}.invalid"\nlisten = "127.0.0.1:0"\nstate_dir = "state"\n'
            f'key_file = "witness.key"\n\n[[logs]]\norigin = "{scenario_origin}"\nvkey = "{log_vkey}"\n'
        )
        init = subprocess.run(
            [tool("pausewatch-witness"), "init", "--config", str(config)],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if init.returncode != 0:
            raise PausewatchError(f"pausewatch-witness init ({party}): {init.stderr.strip()}")
        vkey = next(line.split(" ", 1)[1] for line in init.stdout.splitlines() if line.startswith("vkey: "))
        ready = directory / "port"
        with (directory / "witness.log").open("w") as log:
            proc = subprocess.Popen(
                [tool("pausewatch-witness"), "serve", "--config", str(config), "--ready-file", str(ready)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
            )
        witnesses.append(_Witness(party, directory, vkey, "", proc))
        deadline = time.monotonic() + 60
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise PausewatchError(f"{party}'s witness did not start (log: {directory / 'witness.log'})")
            time.sleep(0.05)
        witnesses[-1].url = f"http://127.0.0.1:{int(ready.read_text())}"


def _witnesses_toml(witnesses: Sequence[_Witness]) -> str:
    lines = ["", "# each party's witness (pausewatch-witness), written by sim/demo.py"]
    for w in witnesses:
        lines += ["[[witnesses]]", f'url = "{w.url}"', f'vkey = "{w.vkey}"', ""]
    return "\n".join(lines)


def _fetch_witness_checkpoints(witnesses: Sequence[_Witness], origin: str) -> list[Path]:
    """What an auditor brings from each witness: its latest cosigned checkpoint of the log."""
    files = []
    for w in witnesses:
        url = f"{w.url}/checkpoint/{quote(origin, safe='')}"
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 -- http on localhost
            note = answer.read(65536)
        path = w.directory / "latest-checkpoint.note"
        path.write_bytes(note)
        files.append(path)
    return files


def _story_lines(result: RunResult) -> list[str]:
    out = []
    for fac in result.scenario.facilities:
        rows = [r for r in result.judgement.rows if r.facility == fac.id]
        statuses = [r.status or "?" for r in rows]
        findings = sorted({f for r in rows if r.status == "VIOLATION" for f in r.finding_ids})
        summary = " ".join(s[0] for s in statuses)  # C / V / I per hour
        line = f"  {fac.id}: {summary}   ({statuses.count('VIOLATION')} of {len(rows)} hours VIOLATION)"
        if findings:
            line += f"; evidence: {', '.join(findings)}"
        out.append(line)
    overall = [r for r in result.judgement.rows if r.facility == ""]
    if overall:
        statuses = [r.status or "?" for r in overall]
        out.append(
            f"  all facilities (commitment-level): {' '.join(s[0] for s in statuses)}"
            f"   ({statuses.count('VIOLATION')} of {len(overall)} hours VIOLATION)"
        )
    for v in sorted(result.verdicts, key=lambda v: (v.facility, v.bucket_start_ns)):
        if v.status == "VIOLATION" and v.facility:
            for fid, subject, message in v.findings:
                if fid in ("energy.unexplained", "continuity.timeout"):
                    out.append(f"    e.g. {fid} [{subject}] {message}")
            break
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.demo", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "demo-out", help="where to put everything")
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    args = parser.parse_args(argv)
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.monotonic()
    witnesses: list[_Witness] = []
    origin = ""
    try:
        scenario = load_scenario(args.scenario)
        nodes = sum(len(f.declared_nodes) for f in scenario.facilities)
        meters = sum(len(f.meters) for f in scenario.facilities)
        print(f"pausewatch demo: {scenario.name}")
        print("  " + scenario.story.replace("\n", "\n  "))
        print(
            f"\nstarting {1 + nodes + meters} processes on localhost: a verifier, {nodes} node attestors "
            f"({sum(n.devices for f in scenario.facilities for n in f.declared_nodes)} simulated GPUs) and "
            f"{meters} facility meters; {scenario.duration_ns // 3_600_000_000_000} simulated hours at "
            f"{scenario.speedup:g}x ...",
            flush=True,
        )
        # SQLite commits fsync (synchronous=FULL); on memory-backed scratch space they cost
        # nothing. The finished run — configs, keys, logs, the verifier's state and every
        # attestor's spool — is copied next to the other outputs.
        origin = log_origin(scenario)
        log_vkey = Ed25519NoteSigner(origin, verifier_signers(scenario)[0]).vkey
        _start_witnesses(out, origin, log_vkey, witnesses)
        print(
            "  witnesses up: " + ", ".join(f"{w.party} at {w.url}" for w in witnesses)
            + " (pausewatch-witness init|serve); the verifier needs both cosignatures",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="pausewatch-demo-", dir=scratch_dir()) as tmp:
            try:
                result = run_with_processes(
                    scenario,
                    work_dir=Path(tmp) / "run",
                    progress=lambda line: print(f"  {line}", flush=True),
                    terms_parties=PARTIES,
                    verifier_extra_toml=_witnesses_toml(witnesses),
                )
            finally:
                shutil.copytree(
                    Path(tmp) / "run", out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.ready")
                )
    except KeyboardInterrupt:
        print("\ninterrupted; every process the demo started is stopped", file=sys.stderr)
        _stop_witnesses(witnesses)
        return 130
    except PausewatchError as e:
        print(f"demo: could not run: {e}", file=sys.stderr)
        _stop_witnesses(witnesses)
        return 2
    try:
        return _report(out, result, witnesses, origin, t0)
    finally:
        _stop_witnesses(witnesses)


def _stop_witnesses(witnesses: Sequence[_Witness]) -> None:
    for w in witnesses:
        _stop_group(w.proc)


def _report(out: Path, result: RunResult, witnesses: Sequence[_Witness], origin: str, t0: float) -> int:
    scenario = result.scenario
    print()
    print(format_result(result))
    print("\nin short:")
    print("\n".join(_story_lines(result)))
    print(
        f"  terms: {scenario.commitment.commitment_id}-terms v1, co-signed by {' and '.join(PARTIES)};"
        f" verdicts under them: {sum(1 for v in result.verdicts if v.terms)} of {len(result.verdicts)}"
    )

    config = out / "verifier.toml"
    bundle, html = out / "bundle", out / "report.html"
    # The auditor's own trust files, pinned from the keys this demo generated (not the bundle's).
    try:
        policy, roots = trust_files(load_config(config))
    except PausewatchError as e:
        print(f"demo: could not write the auditor's trust files: {e}", file=sys.stderr)
        return 2
    (out / "trust").mkdir(exist_ok=True)
    (out / "trust" / "policy.txt").write_bytes(policy)
    (out / "trust" / "roots.toml").write_bytes(roots)
    try:
        export = [tool("pausewatch-verifier"), "export", "--config", str(config), "--out", str(bundle)]
        rc_export = _run_tool(export, out / "export.log")
        rc_audit = -1
        if rc_export == 0:
            brought = _fetch_witness_checkpoints(witnesses, origin)
            rc_audit = _run_tool(
                [
                    tool("pausewatch-audit"),
                    "verify",
                    str(bundle),
                    "--html",
                    str(html),
                    "--policy",
                    str(out / "trust" / "policy.txt"),
                    "--roots",
                    str(out / "trust" / "roots.toml"),
                    *(arg for path in brought for arg in ("--witness-checkpoint", str(path))),
                ],
                out / "audit.log",
            )
    except (OSError, PausewatchError) as e:
        print(f"demo: could not export or audit: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; child processes stopped", file=sys.stderr)
        return 130
    print("\nindependent audit of the exported bundle:")
    print(f"  pausewatch-verifier export -> exit {rc_export} (log: {out / 'export.log'})")
    print(f"  pausewatch-audit verify    -> exit {rc_audit} (log: {out / 'audit.log'}): the bundle's head")
    print("    cosigned by both parties' witnesses (the policy's quorum), and each witness's latest")
    print("    checkpoint agrees with it (--witness-checkpoint)")
    for name, rc in (("export.log", rc_export), ("audit.log", rc_audit)):
        if rc > 0:  # what went wrong, here, not only in a file a CI run throws away
            tail = (out / name).read_text(errors="replace").splitlines()[-20:]
            print(f"  {name} ends:\n" + "\n".join(f"    {line}" for line in tail))
    print("\nfiles:")
    print(f"  verifier:       {config} (keys: {out / 'keys'}, state: {out / 'state'})")
    print(f"  attestors:      {out / 'attestors'}/<id>/attestor.toml and state/ (key, spool)")
    print(f"  documents:      {out / 'documents'} (terms, inventories, commitment: TOML, envelopes)")
    print(f"  process logs:   {out / 'logs'}")
    print(f"  witnesses:      {out / 'witnesses'}/<party>/ (witness.toml, key, state/witness.sqlite: every")
    print("                  checkpoint each cosigned; `pausewatch-witness status --config ...`)")
    print(f"  audit bundle:   {bundle}")
    print(f"  HTML report:    {html}")
    print(f"\ndone in {time.monotonic() - t0:.0f} s")
    ok = result.ok and rc_export == 0 and rc_audit == 0
    if not ok:
        print("demo: the story did not come out as expected (see above)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
