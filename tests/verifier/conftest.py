"""Fixtures shared by the verifier tests: a throwaway PostgreSQL cluster (one per session)."""

from collections.abc import Iterator

import pytest

from sim.pg_cluster import MISSING, PgCluster, find_bindir


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(MISSING)
    cluster = PgCluster(bindir).start()
    try:
        yield cluster
    finally:
        cluster.stop()
