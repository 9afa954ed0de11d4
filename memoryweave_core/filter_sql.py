"""Recall filters as SQL ``WHERE`` fragments for SQLite and PostgreSQL.

Both translations give exactly the matches of :func:`filters.mask` (a property
test runs all three on random filters and data).  Every leaf is made
two-valued (``COALESCE(..., false)``) so that ``NOT`` over a missing key is
true, as in Python, instead of SQL's unknown.  Metadata paths are bound as
parameters, never spliced into the SQL text.

* SQLite reads the ``metadata`` TEXT column with ``json_type`` / ``json_extract``
  on a quoted path (``$."user"."tier"``), written as ``json.dumps`` writes it
  (the store's encoding); text compares with the BINARY collation, which
  orders UTF-8 as Python orders code points.
* PostgreSQL reads a ``json`` (or ``jsonb``) column with ``->`` chains on text
  keys (so a list is never indexed by a key "0", as in Python and SQLite),
  numbers as ``numeric`` against the operand's shortest ``repr`` (exact for
  every float), and text under ``COLLATE "C"`` (code point order).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from .filters import RANGES, And, Compare, Exists, FieldRef, In, Node, Not, Or, kind

_SQL_OPS = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
assert set(_SQL_OPS) == {"eq", *RANGES}


def to_sqlite(node: Node | None, *, alias: str | None = None) -> tuple[str, list[Any]]:
    """``(sql, params)``: a boolean expression over the SQLite ``traces`` columns
    ``speaker``, ``episode``, ``time`` and ``metadata`` (prefixed ``alias.``)."""
    params: list[Any] = []
    sql = "1" if node is None else _Sqlite(alias, params).node(node)
    return sql, params


def to_postgres(
    node: Node | None, *, alias: str | None = None, json_type: str = "json"
) -> tuple[str, list[Any]]:
    """``(sql, params)`` with ``%s`` placeholders (psycopg) over the PostgreSQL
    columns ``speaker``, ``episode``, ``time`` and ``metadata`` (a ``json``
    column by default, as the store declares it; ``json_type="jsonb"`` too)."""
    if json_type not in ("json", "jsonb"):
        raise ValueError(f"json_type must be 'json' or 'jsonb', got {json_type!r}")
    params: list[Any] = []
    sql = "true" if node is None else _Postgres(alias, params, json_type).node(node)
    return sql, params


class _Dialect:
    true = "1"
    false = "0"

    def __init__(self, alias: str | None, params: list[Any]) -> None:
        self.prefix = f"{alias}." if alias else ""
        self.params = params

    def node(self, node: Node) -> str:
        if isinstance(node, And):
            return "(" + " AND ".join(self.node(k) for k in node.children) + ")" if node.children else self.true
        if isinstance(node, Or):
            return "(" + " OR ".join(self.node(k) for k in node.children) + ")" if node.children else self.false
        if isinstance(node, Not):
            return f"(NOT {self.node(node.child)})"
        if node.field.column == "metadata":
            return f"COALESCE({self.meta(node)}, {self.false})"
        return f"COALESCE({self.builtin(node)}, {self.false})"

    def builtin(self, node: Compare | In | Exists) -> str:
        col = self.prefix + node.field.column
        text = node.field.column != "time"
        if isinstance(node, Exists):
            return f"({col} IS NOT NULL)"
        if isinstance(node, In):
            if not node.values:
                return self.false
            self.params.extend(node.values)
            return f"({self.text(col) if text else col} IN ({', '.join([self.mark] * len(node.values))}))"
        self.params.append(node.value)
        return f"({self.text(col) if text else col} {_SQL_OPS[node.op]} {self.mark})"

    def meta(self, node: Compare | In | Exists) -> str:
        if isinstance(node, Exists):
            return f"({self.present(node.field)})"
        if isinstance(node, In):
            groups: dict[str, list[Any]] = {}
            for v in node.values:
                groups.setdefault(kind(v) or "", []).append(v)
            parts = [self.in_kind(node.field, k, vs) for k, vs in sorted(groups.items())]
            return "(" + " OR ".join(parts) + ")" if parts else self.false
        return self.compare(node.field, kind(node.value) or "", node.op, node.value)

    def in_kind(self, field: FieldRef, k: str, values: list[Any]) -> str:
        return "(" + " OR ".join(self.compare(field, k, "eq", v) for v in values) + ")"

    text = staticmethod(lambda col: col)
    mark = "?"

    def present(self, field: FieldRef) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def compare(self, field: FieldRef, k: str, op: str, value: Any) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class _Sqlite(_Dialect):
    _TYPES: ClassVar[dict[str, str]] = {"num": "IN ('integer', 'real')", "str": "= 'text'"}

    def fn(self, name: str, field: FieldRef) -> str:
        """``json_type``/``json_extract`` at the path.  SQLite before 3.45 matches
        path labels against the raw JSON text, where ``json.dumps`` (as the
        store writes metadata) escapes non-ASCII keys: such a path is looked up
        as written and escaped, whichever the SQLite at hand understands."""
        raw = "$" + "".join(f'."{seg}"' for seg in field.path)
        escaped = "$" + "".join(f".{json.dumps(seg)}" for seg in field.path)
        paths = [raw] if raw == escaped else [raw, escaped]
        self.params.extend(paths)
        calls = [f"{name}({self.prefix}metadata, ?)" for _ in paths]
        return calls[0] if len(calls) == 1 else f"COALESCE({', '.join(calls)})"

    def present(self, field: FieldRef) -> str:
        return f"{self.fn('json_type', field)} IS NOT NULL"

    def compare(self, field: FieldRef, k: str, op: str, value: Any) -> str:
        if k == "bool":
            return f"({self.fn('json_type', field)} = '{'true' if value else 'false'}')"
        typed = f"{self.fn('json_type', field)} {self._TYPES[k]}"
        extract = self.fn("json_extract", field)
        self.params.append(value)
        return f"({typed} AND {extract} {_SQL_OPS[op]} ?)"


class _Postgres(_Dialect):
    true = "true"
    false = "false"
    mark = "%s"
    text = staticmethod(lambda col: f'{col} COLLATE "C"')
    _TYPES: ClassVar[dict[str, str]] = {"num": "number", "str": "string", "bool": "boolean"}

    def __init__(self, alias: str | None, params: list[Any], json_type: str) -> None:
        super().__init__(alias, params)
        self.json_type = json_type

    def path(self, field: FieldRef, *, as_text: bool = False) -> str:
        self.params.extend(field.path)
        arrows = ["->"] * len(field.path)
        if as_text:
            arrows[-1] = "->>"
        return f"{self.prefix}metadata" + "".join(f" {a} %s::text" for a in arrows)

    def present(self, field: FieldRef) -> str:
        return f"({self.path(field)}) IS NOT NULL"

    def compare(self, field: FieldRef, k: str, op: str, value: Any) -> str:
        typed = f"{self.json_type}_typeof({self.path(field)}) = '{self._TYPES[k]}'"
        text = f"({self.path(field, as_text=True)})"
        if k == "bool":
            return f"({typed} AND {text} = '{'true' if value else 'false'}')"
        if k == "num":
            # CASE, not AND: PostgreSQL may evaluate the cast before the type test.
            self.params.append(repr(value) if isinstance(value, float) else str(value))
            return f"(CASE WHEN {typed} THEN {text}::numeric {_SQL_OPS[op]} %s::numeric ELSE false END)"
        self.params.append(value)
        return f'(CASE WHEN {typed} THEN {text} COLLATE "C" {_SQL_OPS[op]} %s ELSE false END)'
