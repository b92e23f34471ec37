"""Job-accounting reports at every boundary: the scheduler's bytes (attestor), the signed wire
message (verifier admission, auditor), the inventory's scheduler entry. Hostile or broken input
gets a clear error and costs nothing; nothing is invented."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from attestor.alarms import Alarms
from attestor.cli import main
from attestor.config import ConfigError, load_config
from attestor.daemon import AttestorDaemon, DaemonSettings
from attestor.metrics import AttestorMetrics
from attestor.report import GENESIS, ChainHead, ChainSigner, ReportBuilder
from attestor.sources.slurm import AccountingSource, read_slurmrestd
from attestor.spool import Spool
from pausewatch.clock import NS_PER_S, SimulatedClock
from pausewatch.enrolment import EnrolmentProofError, check_enrolment_proofs, sign_enrolment
from pausewatch.envelope import PayloadType, parse_envelope, sign_envelope, verify_envelope
from pausewatch.errors import EnvironmentFaultError, FormatError, LimitExceededError
from pausewatch.inventory import Inventory, inventory_from_toml
from pausewatch.jobs import JobAccounting, JobRecord, job_from_wire, parse_sacct, parse_slurmrestd_jobs
from pausewatch.keys import Ed25519Signer
from pausewatch.reports import MAX_JOBS, MAX_REPORT_BYTES, ReportKind, decode_report
from pausewatch.v1 import types_pb2
from verifier.errors import NotEnrolledHereError, UnknownKeyError
from verifier.ingest import Enrollment, admit_report

NS = NS_PER_S
T0 = 1_767_225_600 * NS
NODE = Ed25519Signer.from_seed(b"n" * 32)
SCHED = Ed25519Signer.from_seed(b"s" * 32)
SACCT = types_pb2.SourceInfo(kind=types_pb2.SOURCE_KIND_SLURM_SACCT)


def _report(jobs: list[JobRecord] | None = None, **chain: object) -> types_pb2.AccountingReport:
    jobs = [JobRecord("42", "RUNNING", ("gpu01",), 8, T0 - 60 * NS, None)] if jobs is None else jobs
    msg = ReportBuilder("fac-a", "fac-a-slurm").accounting(
        (T0, T0 + 60 * NS), JobAccounting(tuple(jobs)), SACCT, challenge_nonce=b"\x07" * 32, signed_ns=T0
    )
    msg.accounting_key_id = SCHED.public_key.key_id
    msg.boot_id = b"\x01" * 16
    for name, value in chain.items():
        setattr(msg, name, value)
    return msg


def _sign(payload: bytes, payload_type: str = PayloadType.ACCOUNTING_REPORT) -> bytes:
    return sign_envelope(payload_type, payload, [SCHED])


def _decode(msg: types_pb2.AccountingReport | bytes) -> tuple[object, object]:
    payload = msg if isinstance(msg, bytes) else msg.SerializeToString(deterministic=True)
    env = parse_envelope(_sign(payload))
    verify_envelope(env, SCHED.public_key)
    return decode_report(env)


def _inventory_wire() -> types_pb2.Inventory:
    inv = types_pb2.Inventory(facility_id="fac-a", lab_id="lab", version=1, issued_unix_ns=T0)
    inv.overhead.min_ratio, inv.overhead.max_ratio = 1.05, 1.4
    node = inv.nodes.add(node_id="gpu01", attestor_public_key=NODE.public_key.raw)
    node.accelerators.add(uuid="GPU-1", model="NVIDIA H100 80GB HBM3")
    inv.schedulers.add(scheduler_id="fac-a-slurm", public_key=SCHED.public_key.raw)
    return inv


# ---- the signed wire message ---------------------------------------------------------------------


def test_a_signed_accounting_report_decodes_to_a_chained_header_and_its_jobs() -> None:
    header, msg = _decode(_report())
    assert header.kind is ReportKind.ACCOUNTING  # type: ignore[attr-defined]
    assert header.subject_id == "fac-a-slurm"  # type: ignore[attr-defined]
    assert isinstance(msg, types_pb2.AccountingReport)
    (job,) = msg.jobs
    assert job_from_wire(job) == JobRecord("42", "RUNNING", ("gpu01",), 8, T0 - 60 * NS, None)


def test_a_payload_that_is_not_an_accounting_report() -> None:
    with pytest.raises(FormatError, match="AccountingReport"):
        _decode(b"\xff\xff\xff")


def test_fields_of_a_newer_schema_are_refused_not_half_read() -> None:
    payload = _report().SerializeToString(deterministic=True)
    with pytest.raises(FormatError, match="newer schema"):
        _decode(payload + b"\xa8\x06\x01")  # field 101, varint 1
    msg = _report()
    job = msg.jobs[0].SerializeToString() + b"\xa8\x06\x01"
    del msg.jobs[:]
    msg.jobs.add().MergeFromString(job)
    with pytest.raises(FormatError, match="newer schema"):
        _decode(msg)


def test_a_future_wire_version_is_an_unknown_payload_type() -> None:
    env = types_pb2.Envelope(
        payload=_report().SerializeToString(), payload_type="application/vnd.pausewatch.v2.accounting-report+proto"
    )
    env.signatures.add(keyid=SCHED.public_key.key_id, sig=b"\x00" * 64)
    with pytest.raises(FormatError, match="unknown payload type"):
        parse_envelope(env.SerializeToString(deterministic=True))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda j: setattr(j, "gpus", 4_000_000_000), "a node holds at most"),
        (lambda j: setattr(j, "end_unix_ns", j.start_unix_ns - 1), "before it starts"),
        (lambda j: (j.ClearField("start_unix_ns"), setattr(j, "end_unix_ns", T0)), "an end without a start"),
        (lambda j: setattr(j, "start_unix_ns", -5), "is not a time"),
        (lambda j: j.hosts.append("gpu01"), "listed twice"),
        (lambda j: j.hosts.append("gpu 02"), "printable ASCII"),
        (lambda j: setattr(j, "job_id", ""), "job_id is empty"),
        (lambda j: setattr(j, "state", "R" * 40), "state"),
        (lambda j: (setattr(j, "end_unix_ns", T0), setattr(j, "elapsed_s", -1.0)), "negative"),
        (lambda j: (setattr(j, "end_unix_ns", T0), setattr(j, "elapsed_s", float("nan"))), "finite"),
    ],
)
def test_a_job_that_cannot_be_true_refuses_the_report(edit: object, message: str) -> None:
    msg = _report()
    edit(msg.jobs[0])  # type: ignore[operator]
    with pytest.raises(FormatError, match=message):
        _decode(msg)


def test_too_many_jobs_or_problems() -> None:
    msg = _report()
    for i in range(MAX_JOBS):
        msg.jobs.add(job_id=f"j{i}", state="PENDING")
    with pytest.raises(LimitExceededError, match="jobs"):
        _decode(msg)
    msg = _report()
    msg.problems.append("x" * 300)
    with pytest.raises(LimitExceededError, match="problems"):
        _decode(msg)


def test_the_builder_bounds_what_it_signs() -> None:
    many = tuple(JobRecord(f"{i:05d}", "COMPLETED", (f"cpu{i % 50:03d}",), 0, T0, T0) for i in range(MAX_JOBS + 5))
    gpu = tuple(JobRecord(f"9{i:04d}", "RUNNING", (f"gpu{i:03d}",), 8, T0, None) for i in range(3))
    problems = tuple(f"line {i}: garbage" for i in range(100))
    msg = ReportBuilder("fac-a", "s").accounting(
        (T0, T0 + NS), JobAccounting(many + gpu, problems), SACCT, challenge_nonce=b"\0" * 32, signed_ns=T0
    )
    signed = ChainSigner(SCHED, b"\x01" * 16).sign(ChainHead(7, b"\x02" * 32), msg)
    assert len(signed.envelope) <= MAX_REPORT_BYTES  # what the verifier takes by default
    assert 100 < len(msg.jobs) < MAX_JOBS
    assert {j.job_id for j in msg.jobs if j.gpus} == {"90000", "90001", "90002"}  # GPU jobs kept first
    assert [j.job_id for j in msg.jobs] == sorted(j.job_id for j in msg.jobs)
    assert "68 more problems" in msg.problems[-2]
    assert msg.problems[-1].startswith(f"{len(many) + 3 - len(msg.jobs)} jobs left out (0 with GPUs)")
    decode_report(parse_envelope(signed.envelope))  # and the verifier reads it
    bigger = ReportBuilder("fac-a", "s").accounting(
        (T0, T0 + NS), JobAccounting(many), SACCT, challenge_nonce=b"\0" * 32, signed_ns=T0, max_bytes=1 << 20
    )
    assert len(bigger.jobs) == MAX_JOBS


# ---- admission -----------------------------------------------------------------------------------


def test_admission_checks_a_scheduler_key_is_enrolled_for_accounting_reports() -> None:
    enrollment = Enrollment.from_inventories([_inventory_wire()])
    signed = ChainSigner(SCHED, b"\x01" * 16).sign(GENESIS, _report())
    admitted = admit_report(signed.envelope, enrollment, max_envelope_bytes=32 * 1024)
    assert admitted.header.kind is ReportKind.ACCOUNTING
    node_signed = ChainSigner(NODE, b"\x01" * 16).sign(GENESIS, _report())
    with pytest.raises(NotEnrolledHereError, match="usage reports, not accounting"):
        admit_report(node_signed.envelope, enrollment, max_envelope_bytes=32 * 1024)
    other = Ed25519Signer.from_seed(b"o" * 32)
    with pytest.raises(UnknownKeyError):
        admit_report(ChainSigner(other, b"\x01" * 16).sign(GENESIS, _report()).envelope, enrollment,
                     max_envelope_bytes=32 * 1024)  # fmt: skip
    wrong = _report(scheduler_id="fac-b-slurm")
    with pytest.raises(NotEnrolledHereError, match="fac-a/fac-a-slurm"):
        admit_report(ChainSigner(SCHED, b"\x01" * 16).sign(GENESIS, wrong).envelope, enrollment,
                     max_envelope_bytes=32 * 1024)  # fmt: skip


# ---- the inventory's scheduler entry -------------------------------------------------------------


def test_inventories_without_schedulers_mean_what_they_meant() -> None:
    inv = _inventory_wire()
    del inv.schedulers[:]
    parsed = Inventory.from_wire(inv)
    assert parsed.schedulers == ()
    assert parsed.scheduler_by_key == {}


def _toml_head(node_id: str) -> str:
    """An inventory's TOML up to its one node's entry."""
    return f"""facility_id = "fac-a"
lab_id = "lab"
version = 1
issued = 2026-01-01T00:00:00Z
[overhead]
min_ratio = 1.05
max_ratio = 1.4
[[nodes]]
node_id = "{node_id}"
attestor_public_key = "{NODE.public_key.raw.hex()}"
"""


def test_scheduler_entry_from_toml_with_proof_and_host_names() -> None:
    proof = sign_enrolment(SCHED, "fac-a", "scheduler", "fac-a-slurm")
    text = f"""{_toml_head("a-node-01")}
[[schedulers]]
scheduler_id = "fac-a-slurm"
public_key = "{SCHED.public_key.raw.hex()}"
host_names = {{ "gpu001" = "a-node-01" }}
enrolment_proof = "{base64.b64encode(proof).decode()}"
"""
    wire = inventory_from_toml(text, "inv.toml")
    check_enrolment_proofs(wire)
    (sch,) = Inventory.from_wire(wire).schedulers
    assert sch.node_ids == ("a-node-01",)
    assert sch.node_of("gpu001") == "a-node-01"
    assert sch.node_of("gpu999") == "gpu999"
    with pytest.raises(FormatError, match=r"schedulers\[0\]\.node_ids"):
        inventory_from_toml(text.replace('host_names', 'node_ids = ["ghost"]\nhost_names'), "inv.toml")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda inv: inv.schedulers[0].node_ids.append("ghost"), "not a declared node"),
        (lambda inv: inv.schedulers[0].host_names.add(host="h", node_id="ghost"), "not one of its nodes"),
        (lambda inv: setattr(inv.schedulers[0], "public_key", NODE.public_key.raw), "key used twice"),
        (lambda inv: inv.schedulers.add(scheduler_id="fac-a-slurm", public_key=b"\x05" * 32), "twice|scheduled by"),
        (lambda inv: setattr(inv.schedulers[0], "enrolment_proof", b"\x00" * 3), "enrolment_proof"),
    ],
)
def test_a_broken_scheduler_entry_names_its_field(edit: object, message: str) -> None:
    inv = _inventory_wire()
    edit(inv)  # type: ignore[operator]
    with pytest.raises(FormatError, match=message):
        Inventory.from_wire(inv)


# ---- the scheduler's own output (the attestor's boundary) ----------------------------------------

SACCT_HEADER = "JobID|State|NodeList|Start|End|Elapsed|AllocTRES\n"


def test_sacct_lines_that_cannot_be_true_are_problems_not_jobs() -> None:
    text = SACCT_HEADER + (
        "1|COMPLETED|gpu01|2026-01-01T00:00:00|2026-01-01T01:00:00|01:00:00|gres/gpu=8\n"
        "2|COMPLETED|gpu01|2026-01-01T02:00:00|2026-01-01T01:00:00|01:00:00|gres/gpu=8\n"  # ends first
        "3|RUNNING|gpu01|2026-01-01T00:00:00|Unknown|01:00:00|gres/gpu=99999999\n"  # absurd count
        "4|RUNNING|gpu[01-02|2026-01-01T00:00:00|Unknown|01:00:00|gres/gpu=8\n"  # bad host list
        "5|RUNNING|gpu01|yesterday|Unknown|01:00:00|gres/gpu=8\n"  # bad time
    )
    parsed = parse_sacct(text)
    assert [j.job_id for j in parsed.jobs] == ["1"]
    assert [p.split(":")[0] for p in parsed.problems] == ["job 2", "job 3", "job 4", "job 5"]


def test_slurmrestd_of_a_future_version_reads_what_it_can() -> None:
    doc = {
        "meta": {"plugin": {"data_parser": "data_parser/v0.0.99"}, "new_thing": [1, 2]},
        "jobs": [
            {"job_id": 1, "job_state": ["RUNNING", "NEW_FLAG"], "nodes": "gpu01", "unknown_key": {"x": 1},
             "start_time": {"set": True, "number": 1_767_225_000}, "end_time": {"set": False},
             "tres_alloc_str": "cpu=8,gres/gpu=8"},
            {"job_id": 2, "job_state": "RUNNING", "nodes": 17, "start_time": 1_767_225_000},
            {"job_id": 3, "job_state": "RUNNING", "nodes": "gpu01", "start_time": "soon"},
            "not a job",
        ],
    }  # fmt: skip
    parsed = parse_slurmrestd_jobs(json.dumps(doc))
    assert [(j.job_id, j.gpus, j.end_ns) for j in parsed.jobs] == [("1", 8, None)]
    assert len(parsed.problems) == 3
    with pytest.raises(FormatError, match="no 'jobs' list"):
        parse_slurmrestd_jobs('{"jobs": {"1": {}}}')


def test_read_slurmrestd_keeps_the_jobs_of_its_window(tmp_path: Path) -> None:
    start = 1_767_225_600
    doc = {"jobs": [
        {"job_id": 1, "job_state": "COMPLETED", "nodes": "gpu01", "start_time": start - 600,
         "end_time": start - 300, "tres_alloc_str": "gres/gpu=8"},  # ended before the window
        {"job_id": 2, "job_state": "COMPLETED", "nodes": "gpu01", "start_time": start - 600,
         "end_time": start + 30, "tres_alloc_str": "gres/gpu=8"},
        {"job_id": 3, "job_state": "RUNNING", "nodes": "gpu01", "start_time": start + 10},
        {"job_id": 4, "job_state": "PENDING", "nodes": "", "start_time": 0},
    ]}  # fmt: skip
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(doc))
    capture = AccountingSource("slurmrestd", path=str(path)).read((start * NS, (start + 60) * NS))
    assert [j.job_id for j in capture.accounting.jobs] == ["2", "3"]
    with pytest.raises(EnvironmentFaultError, match="cannot read"):
        AccountingSource("slurmrestd", path=str(tmp_path / "gone.json")).read((T0, T0 + NS))
    with pytest.raises(ValueError, match="empty"):
        read_slurmrestd((T0, T0), lambda: "{}")


def test_accounting_mode_config(tmp_path: Path) -> None:
    cfg = tmp_path / "a.toml"
    cfg.write_text('mode = "accounting"\nfacility_id = "fac-a"\nscheduler_id = "s"\n'
                   '[accounting]\ntool = "slurmrestd"\npath = "jobs.json"\n')  # fmt: skip
    loaded = load_config(cfg, env={})
    assert loaded.subject_id == "s"
    assert loaded.accounting.path == str(tmp_path / "jobs.json")
    cfg.write_text('mode = "accounting"\nfacility_id = "fac-a"\nscheduler_id = "s"\n[accounting]\ntool = "slurmrestd"\n')
    with pytest.raises(ConfigError, match="exactly one of"):
        load_config(cfg, env={})
    cfg.write_text('mode = "accounting"\nfacility_id = "fac-a"\n')
    with pytest.raises(ConfigError, match="scheduler_id: required"):
        load_config(cfg, env={})
    cfg.write_text('mode = "accounting"\nfacility_id = "fac-a"\nscheduler_id = "s"\n[[sources]]\nkind = "nvml"\n')
    with pytest.raises(ConfigError, match="not telemetry"):
        load_config(cfg, env={})


# ---- the daemon in accounting mode ---------------------------------------------------------------


def test_the_daemon_signs_one_report_a_period_and_nothing_for_a_failed_read(tmp_path: Path) -> None:
    start_s = T0 // NS
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps({"jobs": [
        {"job_id": 7, "job_state": "RUNNING", "nodes": "gpu[01-02]", "start_time": start_s - 3600,
         "tres_alloc_str": "gres/gpu=16"}]}))  # fmt: skip

    async def run() -> list[types_pb2.AccountingReport]:
        clock = SimulatedClock(start_ns=T0)
        spool = Spool.open(tmp_path / "spool.sqlite", SCHED.public_key.key_id)
        metrics = AttestorMetrics(lambda: clock.now_ns() / NS)
        settings = DaemonSettings(
            "fac-a", "fac-a-slurm", False, 60 * NS, 10 * NS,
            accounting=AccountingSource("slurmrestd", path=str(jobs)),
        )  # fmt: skip
        daemon = AttestorDaemon(
            settings=settings, clock=clock, signer=SCHED, spool=spool, sources=[], uplink=None,
            metrics=metrics, alarms=Alarms(spool, metrics, clock), boot_id=os.urandom(16),
        )  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        errors = metrics.accounting_errors

        async def until(holds: Callable[[], bool]) -> None:
            """Step simulated time a second at a time until ``holds()``; the scheduler is read in
            a worker thread, so each step also yields to real time (bounded: 2000 steps)."""
            for _ in range(2000):
                if holds():
                    return
                clock.advance(1)
                for _ in range(12):
                    await asyncio.sleep(0)
                await asyncio.sleep(0.001)
            raise AssertionError("not reached in the simulated time allowed")

        for _ in range(12):
            await asyncio.sleep(0)  # the daemon starts at T0
        await until(lambda: spool.head().seq >= 1)
        jobs.rename(tmp_path / "moved.json")  # the next read fails: nothing is signed for it
        await until(lambda: errors._value.get() >= 1)  # type: ignore[attr-defined]
        (tmp_path / "moved.json").rename(jobs)
        await until(lambda: spool.head().seq >= 2)
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        out = []
        for seq in range(spool.head().seq):
            raw = spool.envelope(seq)
            assert raw is not None
            _, msg = decode_report(parse_envelope(raw))
            assert isinstance(msg, types_pb2.AccountingReport)
            out.append(msg)
        spool.close()
        return out

    reports = asyncio.run(run())
    windows = [(r.period_start_unix_ns - T0, r.period_end_unix_ns - T0) for r in reports[:2]]
    assert windows == [(0, 60 * NS), (120 * NS, 180 * NS)]  # (60, 120) failed: left unsigned
    assert [r.seq for r in reports] == list(range(len(reports)))
    job = reports[0].jobs[0]
    assert (job.job_id, list(job.hosts), job.gpus, job.HasField("end_unix_ns")) == ("7", ["gpu01", "gpu02"], 16, False)
    assert reports[0].source.kind == types_pb2.SOURCE_KIND_SLURMRESTD


def test_init_prints_a_scheduler_entry_the_inventory_enrols(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["init", "--state-dir", str(tmp_path / "state"), "--facility-id", "fac-a", "--scheduler-id", "fac-a-slurm"]
    assert main(args) == 0
    entry = capsys.readouterr().out
    assert "[[schedulers]]" in entry
    text = f"{_toml_head('gpu01')}\n{entry}"
    wire = inventory_from_toml(text, "inv.toml")
    check_enrolment_proofs(wire)  # the proof binds the key to this facility and scheduler
    assert Inventory.from_wire(wire).schedulers[0].scheduler_id == "fac-a-slurm"
    wire.schedulers[0].scheduler_id = "fac-b-slurm"
    with pytest.raises(EnrolmentProofError, match="as scheduler 'fac-b-slurm'"):
        check_enrolment_proofs(wire)


class _Slurmrestd:
    """slurmrestd on localhost: answers ``/slurm/v0.0.40/jobs`` to a caller with the token."""

    def __init__(self, body: bytes, token: str) -> None:
        seen: list[dict[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append({k.lower(): v for k, v in self.headers.items()})
                ok = self.headers.get("X-SLURM-USER-TOKEN") == token and self.path == "/slurm/v0.0.40/jobs"
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body if ok else b'{"errors": [{"error": "authentication failure"}]}')

            def log_message(self, *args: object) -> None:
                pass

        self.seen = seen
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slurm/v0.0.40/jobs"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=30)


def test_slurmrestd_over_http_with_a_token_read_at_every_request(tmp_path: Path) -> None:
    start = T0 // NS
    body = json.dumps({"jobs": [{"job_id": 9, "job_state": ["RUNNING"], "nodes": "gpu[01-02]",
                                 "start_time": {"set": True, "infinite": False, "number": start - 60},
                                 "end_time": {"set": False, "infinite": False, "number": 0},
                                 "tres_alloc_str": "gres/gpu=16"}]}).encode()  # fmt: skip
    server = _Slurmrestd(body, "eyJ.good")
    token = tmp_path / "token"
    token.write_text("SLURM_JWT=eyJ.good\n")
    token.chmod(0o600)
    try:
        source = AccountingSource("slurmrestd", url=server.url, user="pausewatch", token_file=str(token))
        (job,) = source.read((T0, T0 + 60 * NS)).accounting.jobs
        assert (job.job_id, job.nodes, job.gpus, job.end_ns) == ("9", ("gpu01", "gpu02"), 16, None)
        assert server.seen[-1]["x-slurm-user-name"] == "pausewatch"
        token.write_text("eyJ.expired\n")  # rotated under it: read anew, refused by slurmrestd
        with pytest.raises(EnvironmentFaultError, match="401"):
            source.read((T0, T0 + 60 * NS))
        token.write_text("two\nlines\n")
        with pytest.raises(EnvironmentFaultError, match="not one token line"):
            source.read((T0, T0 + 60 * NS))
    finally:
        server.close()
    cfg = tmp_path / "a.toml"
    token.chmod(0o644)
    cfg.write_text('mode = "accounting"\nfacility_id = "f"\nscheduler_id = "s"\n[accounting]\ntool = "slurmrestd"\n'
                   f'url = "{server.url}"\ntoken_file = "token"\n')  # fmt: skip
    with pytest.raises(ConfigError, match="group or others"):
        load_config(cfg, env={})
