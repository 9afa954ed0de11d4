"""The PostgreSQL backend: ``store.PostgresStore`` composes ``schema``
(layout, migrations), ``lexical`` (BM25 statistics and scoring in SQL),
``tokenids`` (each namespace's vocabulary and the traces' token ids),
``access`` (access logs) and ``state`` (engine state)."""

from .schema import MIGRATIONS, SCHEMA_VERSION
from .store import ANALYZE_GROWTH, ANALYZE_MIN_ROWS, PostgresStore

__all__ = ["PostgresStore", "SCHEMA_VERSION", "MIGRATIONS", "ANALYZE_GROWTH", "ANALYZE_MIN_ROWS"]
