"""Ingest on PostgreSQL: the burst of ``bench_ingest`` (full 8-GPU reports, batches of 60)
against one ``serve`` host, then against two hosts with separate state directories sharing one
database (``docs/scale.md``), on a throwaway cluster started here (``initdb``/``pg_ctl``,
fsync on, Unix socket). The same two client processes drive both cases.

The ratio of two hosts to one is the figure the design is judged by (target >= 1.6 on separate
machines). Here every host, the database and the load generator share this machine's cores,
so a second host adds admission capacity only as far as idle cores allow: with N cores and
the first host using most of them, the ratio measured here is bounded by the spare capacity,
and sequencing (one writer at a time) is the same on one machine and on several. Each case
reports the server and database CPU it used, so that the per-host cost can be read off.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.bench_ed25519 import ed25519_verify_rate
from bench.bench_ingest import Case, burst

FULL = Case(500, 60, 60)
QUICK = Case(4, 12, 6)


def _postgres_cpu_s() -> float:
    """CPU of the cluster's processes (every process named postgres), from /proc: utime +
    stime of each, plus cutime + cstime (the backends that exited, reaped by the postmaster)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, fields = stat.split("(", 1)[1].rsplit(")", 1)
        if name == "postgres":
            parts = fields.split()
            total += sum(int(x) for x in parts[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def run(quick: bool = False) -> dict[str, object]:
    from sim.pg_cluster import MISSING, PgCluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        return {"skipped": MISSING, "reference_ed25519_verify_per_s": round(ed25519_verify_rate(0.2), 1)}
    case = QUICK if quick else FULL
    cluster = PgCluster(bindir, durable=True).start()
    out: dict[str, object] = {"postgresql_bin": str(bindir), "fsync": True}
    try:
        for hosts in (1, 2):
            table = f'[storage]\nbackend = "postgresql"\ndsn = "{cluster.database()}"\n'
            cpu0 = _postgres_cpu_s()
            result = burst(case, storage=table, hosts=hosts, client_procs=2)
            result["postgres_cpu_s"] = round(_postgres_cpu_s() - cpu0, 2)
            out[f"hosts_{hosts}"] = result
    finally:
        cluster.stop()
    one, two = out["hosts_1"], out["hosts_2"]
    assert isinstance(one, dict)
    assert isinstance(two, dict)
    out["two_hosts_over_one"] = round(two["accepted_per_s"] / one["accepted_per_s"], 3)
    out["target_two_hosts_over_one"] = 1.6
    out["cpus"] = len(os.sched_getaffinity(0))
    return out
