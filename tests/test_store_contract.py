"""The store contract (``store_contract.StoreContract``) on each backend.

PostgreSQL runs when ``MEMORYWEAVE_PG_DSN`` names a server (with pgvector);
elsewhere it is skipped with the reason shown, except in CI (``CI=true``)
where a missing DSN fails.
"""

from __future__ import annotations

import uuid

from backends import pg_dsn
from store_contract import StoreContract

from memoryweave_core.storage import MemoryStore
from memoryweave_core.storage.sqlite import SQLiteStore


class TestMemoryStore(StoreContract):
    def new_store(self, tmp_path, n):
        return MemoryStore()


class TestSQLiteStore(StoreContract):
    def new_store(self, tmp_path, n):
        return SQLiteStore(tmp_path / f"s{n}.db", ann_threshold=40, background_index=False)


class TestPostgresStore(StoreContract):
    def new_store(self, tmp_path, n):
        from memoryweave_core.storage.postgres import PostgresStore

        return PostgresStore(pg_dsn(), schema=f"mwtest_{uuid.uuid4().hex[:10]}")

    def dispose(self, store):
        store.drop()
        store.close()
