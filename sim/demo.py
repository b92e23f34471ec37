"""``make demo`` (``python -m sim.demo``): a hidden training run, caught, exported and audited.

1. Runs ``scenarios/demo-hidden-training.toml``: a real verifier (SQLite in ``demo-out/state``,
   gRPC on a free localhost port) and two simulated facilities of 8 nodes x 8 H100 and a meter,
   on simulated time, under a signed pause commitment. fac-a keeps the pause; fac-b hides a
   training run (two nodes silent, six reporting idle, its meter truthful).
2. Prints the verdict table with the findings that matter.
3. Writes the verifier's config and key files beside its state, exports an audit bundle with
   ``pausewatch-verifier export`` and checks it with ``pausewatch-audit verify --html``.
4. Says where everything is; exits 0 when the story's verdicts came out and the audit passed.

Ctrl-C stops the run and any child process (process group, SIGTERM then SIGKILL).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pausewatch.errors import PausewatchError
from sim.cli import format_result
from sim.fleet import SimulatedFleet
from sim.runner import RunResult, lab_trust, log_origin, run_scenario, scratch_dir, verifier_signers
from sim.scenario import load_scenario
from sim.world import plan

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "demo-hidden-training.toml"
_KEY_HEADER = "pausewatch ed25519 seed v1"


def _write_key(path: Path, seed: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{_KEY_HEADER}\n{base64.b64encode(seed).decode()}\n")


def _write_verifier_config(out: Path, result: RunResult) -> Path:
    """The config a ``pausewatch-verifier serve`` of this state would use (keys included)."""
    scenario = result.scenario
    log, challenge, verdict = verifier_signers(scenario)
    keys = out / "keys"
    keys.mkdir(mode=0o700, exist_ok=True)
    for name, signer in (("log", log), ("challenge", challenge), ("verdict", verdict)):
        _write_key(keys / f"{name}.key", signer.seed)
    labs = lab_trust(scenario, SimulatedFleet(scenario, plan(scenario)))
    lines = [
        'listen = "127.0.0.1:0"', 'state_dir = "state"', 'metrics_listen = ""', "",
        "[log]", f'origin = "{log_origin(scenario)}"', 'key_file = "keys/log.key"', "",
        "[challenge]", 'key_file = "keys/challenge.key"', "",
        "[verdict]", 'key_file = "keys/verdict.key"', "",
    ]
    for lab in labs:
        keys_b64 = ", ".join(f'"{base64.b64encode(k.raw).decode()}"' for k in lab.keys)
        facs = ", ".join(f'"{f}"' for f in lab.facilities)
        lines += ["[[labs]]", f'lab_id = "{lab.lab_id}"', f"public_keys = [{keys_b64}]",
                  f"facilities = [{facs}]", ""]
    path = out / "verifier.toml"
    path.write_text("\n".join(lines))
    return path


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


def _tool(name: str) -> str:
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else (shutil.which(name) or name)


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
    for v in sorted(result.verdicts, key=lambda v: (v.facility, v.bucket_start_ns)):
        if v.status == "VIOLATION":
            for fid, subject, message in v.findings:
                if fid in ("energy.unexplained", "continuity.timeout"):
                    out.append(f"    e.g. {fid} [{subject}] {message}")
            break
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "demo-out", help="where to put everything")
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    args = parser.parse_args(argv)
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.monotonic()
    try:
        scenario = load_scenario(args.scenario)
        print(f"pausewatch demo: {scenario.name}")
        print("  " + scenario.story.replace("\n", "\n  "))
        print(f"\nrunning {len(scenario.facilities)} facilities, "
              f"{sum(len(f.nodes) for f in scenario.facilities)} nodes, "
              f"{sum(n.devices for f in scenario.facilities for n in f.nodes)} GPUs for "
              f"{scenario.duration_ns // 3_600_000_000_000} simulated hours ...", flush=True)
        # The run's SQLite commits fsync; on memory-backed scratch space they cost nothing, and
        # the finished state is copied next to the other outputs.
        with tempfile.TemporaryDirectory(prefix="pausewatch-demo-", dir=scratch_dir()) as tmp:
            result = run_scenario(scenario, state_dir=Path(tmp) / "state")
            shutil.copytree(Path(tmp) / "state", out / "state")
    except KeyboardInterrupt:
        print("\ninterrupted; nothing left running", file=sys.stderr)
        return 130
    except PausewatchError as e:
        print(f"demo: could not run: {e}", file=sys.stderr)
        return 2
    print()
    print(format_result(result))
    print("\nin short:")
    print("\n".join(_story_lines(result)))

    config = _write_verifier_config(out, result)
    bundle, html = out / "bundle", out / "report.html"
    try:
        export = [_tool("pausewatch-verifier"), "export", "--config", str(config), "--out", str(bundle)]
        rc_export = _run_tool(export, out / "export.log")
        rc_audit = -1
        if rc_export == 0:
            rc_audit = _run_tool([_tool("pausewatch-audit"), "verify", str(bundle), "--html", str(html)],
                                 out / "audit.log")
    except KeyboardInterrupt:
        print("\ninterrupted; child processes stopped", file=sys.stderr)
        return 130
    print("\nindependent audit of the exported bundle:")
    print(f"  pausewatch-verifier export -> exit {rc_export} (log: {out / 'export.log'})")
    print(f"  pausewatch-audit verify    -> exit {rc_audit} (log: {out / 'audit.log'})")
    print("\nfiles:")
    print(f"  verifier state: {out / 'state'}   config: {config}")
    print(f"  audit bundle:   {bundle}")
    print(f"  HTML report:    {html}")
    print(f"\ndone in {time.monotonic() - t0:.0f} s")
    ok = result.ok and rc_export == 0 and rc_audit == 0
    if not ok:
        print("demo: the story did not come out as expected (see above)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
