"""A throwaway PostgreSQL cluster for tests and benches: ``initdb`` and ``pg_ctl`` from the
Debian ``postgresql`` package (``make sysdeps`` installs it), a data directory and a Unix
socket in a fresh temporary directory, no TCP listener, trust authentication for the one
superuser ``pausewatch``.

initdb and the server refuse to run as root; as root (CI, this machine) they run as the
unprivileged ``nobody``, which owns the temporary directory (``subprocess``'s ``user``/``group``:
no sudo, runuser or setpriv needed). :func:`find_bindir` is None where the package is absent:
callers skip with that reason.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["MISSING", "PgCluster", "find_bindir"]

MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl: Debian package `postgresql`) are not installed;"
    " `make sysdeps` as root installs them"
)
SUPERUSER = "pausewatch"


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: on PATH, else Debian's newest."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]), reverse=True
    )
    return Path(found[0]).parent if found else None


class PgCluster:
    """``start()`` a fresh cluster, ``database()`` for a new empty database's DSN, ``stop()``.

    ``durable=False`` (tests) turns fsync off: the server is never the process killed, so its
    own durability is not under test, and CREATE DATABASE is fast. Benches keep fsync on.
    """

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="pwpg-"))
        self.data = self.root / "data"
        self._names = itertools.count()
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:  # initdb and postgres refuse root: run them as nobody
            nobody = pwd.getpwnam("nobody")
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)

    @property
    def socket_dir(self) -> Path:
        return self.root

    def dsn(self, dbname: str = "postgres", schema: str = "") -> str:
        options = f" options='-c search_path={schema}'" if schema else ""
        return f"host={self.socket_dir} port=5432 user={SUPERUSER} dbname={dbname}{options}"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        proc = subprocess.run(
            [str(self.bindir / argv[0]), *argv[1:]],
            cwd=self.root,
            capture_output=True,
            timeout=timeout,
            check=False,
            **self._as,
        )
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{argv[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}{tail}"
            )

    def start(self) -> PgCluster:
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
            "--no-locale", *(() if self.durable else ("--no-sync",)),
        )
        options = f"-h '' -k {self.socket_dir} -p 5432 -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                  "-o", options, "start")
        return self

    def database(self) -> str:
        """The DSN of a new, empty place for a verifier's tables: a schema of its own (a few ms;
        CREATE DATABASE takes seconds). Advisory locks are per database, so the verifiers of
        one cluster's schemas share the writer lock: harmless for tests run one at a time."""
        import psycopg  # noqa: PLC0415 (only where PostgreSQL runs)

        name = f"t{next(self._names)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return self.dsn(schema=name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
