"""The SQLite backend: ``store.SQLiteStore`` composes ``schema`` (layout,
opening, migrations), ``connection`` (queries, write transactions),
``decode`` (checked rows into traces, logs and pools), ``postings`` (BM25
over FTS5), ``indexes`` (vector indexes and their files), ``cache`` (every
cache, one ``invalidate()``), ``access`` (access logs), ``state``, ``writes``.
"""

from ...ann import AutoIndex
from .postings import _ints
from .schema import MIGRATIONS, SCHEMA_VERSION
from .store import SQLiteStore

__all__ = ["SQLiteStore", "SCHEMA_VERSION", "MIGRATIONS", "AutoIndex", "_ints"]
