"""A recall filter as a condition for this store's named-parameter queries.

:func:`~memoryweave_core.filter_sql.to_postgres` writes positional ``%s``
placeholders; the vector and BM25 searches bind named parameters
(``%(ns)s``), and psycopg takes one style per statement, so the filter's
placeholders are renamed ``%(f0)s``, ``%(f1)s``...  The filter text holds no
other ``%`` (paths and operands are bound, never spliced).
"""

from __future__ import annotations

from typing import Any

from ...filter_sql import to_postgres
from ...filters import Node


def where_named(where: Node | None, alias: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(sql, params)``: the filter over ``alias`` with named placeholders (``"true"`` for None)."""
    sql, params = to_postgres(where, alias=alias)
    parts = sql.split("%s")
    if len(parts) != len(params) + 1:  # pragma: no cover - to_postgres binds every value
        raise AssertionError("filter SQL and its parameters disagree")
    out = parts[0] + "".join(f"%(f{i})s{rest}" for i, rest in enumerate(parts[1:]))
    return out, {f"f{i}": p for i, p in enumerate(params)}
