"""The storage backends that backend-parametrised tests run on, made one way.

PostgreSQL runs where ``MEMORYWEAVE_PG_DSN`` names a throwaway database (the
tests wipe every namespace in it).  Without it the PostgreSQL cases skip with
a reason, except under ``CI=true``, where they fail: CI must exercise a real
server.
"""

from __future__ import annotations

import os

import pytest

from memoryweave_core.storage.memory import MemoryStore
from memoryweave_core.storage.sqlite import SQLiteStore

BACKENDS = ("memory", "sqlite", "postgres")


def pg_dsn() -> str:
    dsn = os.environ.get("MEMORYWEAVE_PG_DSN")
    if not dsn:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but MEMORYWEAVE_PG_DSN is not set: the PostgreSQL tests must run in CI")
        pytest.skip("MEMORYWEAVE_PG_DSN is not set: no PostgreSQL server for the PostgresStore tests")
    return dsn


def pg_undo_token_ids(conn, schema: str) -> None:
    """Take a PostgreSQL schema back from version 5 to version 4's layout (no
    token ids), for tests that rebuild an older layout by hand; they set the version."""
    s = f'"{schema}"'
    for sql in (f"DROP TABLE {s}.vocab", f"ALTER TABLE {s}.traces DROP COLUMN tok_ids",
                f"ALTER TABLE {s}.nsstats DROP COLUMN nsid", f"DROP SEQUENCE {s}.nsids"):
        conn.execute(sql)


def make_store(kind: str, path, **sqlite_kwargs):
    """An empty store of one backend (``path`` is the SQLite file)."""
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(str(path), **sqlite_kwargs)
    from memoryweave_core.storage.postgres import PostgresStore

    store = PostgresStore(pg_dsn())
    wipe(store)
    return store


def wipe(store) -> None:
    for ns in store.namespaces():
        store.delete_namespace(ns)


def dispose(kind: str, store) -> None:
    if kind == "postgres":
        wipe(store)
    store.close()
