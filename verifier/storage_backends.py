"""Opens the storage a verifier config names (``[storage] backend``)."""

from __future__ import annotations

from verifier.config import VerifierConfig
from verifier.pg_storage import PgStorage
from verifier.sqlite_storage import SqliteStorage
from verifier.storage import Storage

__all__ = ["open_storage"]


def open_storage(config: VerifierConfig, *, readonly: bool = False) -> Storage:
    """SQLite in the state directory (the default), or the PostgreSQL database at ``dsn``."""
    if config.storage.backend == "postgresql":
        return PgStorage(config.storage.dsn, readonly=readonly)
    return SqliteStorage(config.database_path, readonly=readonly)
