"""The SQLite backend: ``store.SQLiteStore`` composes ``schema`` (layout,
opening, migrations), ``connection`` (queries, write transactions),
``decode`` (checked rows into traces, logs and pools), ``postings`` (BM25
over FTS5), ``indexes`` (vector indexes and their files), ``cache`` (every
cache, one ``invalidate()``), ``access`` (access logs), ``state``, ``writes``
(the rows a write writes), ``write_path`` (adds, supersedes, expiry, deletes
and state around one transaction), ``search`` (candidate searches in row
keys), ``paging`` (traces in order) and ``queries`` (plain read queries).
"""

from ...ann import AutoIndex
from .postings import _ints
from .schema import MIGRATIONS, SCHEMA_VERSION
from .store import SQLiteStore

__all__ = ["SQLiteStore", "SCHEMA_VERSION", "MIGRATIONS", "AutoIndex", "_ints"]
