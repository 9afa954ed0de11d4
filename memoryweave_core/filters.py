"""Recall filters: one small language, parsed once, evaluated the same everywhere.

A filter is a dict in the style of mem0, Chroma and LangGraph's store::

    {"topic": "health", "score": {"$gte": 3}, "time": {"$lt": "2024-06-01"},
     "$or": [{"speaker": "Ana"}, {"user.tier": {"$in": ["gold", "silver"]}}]}

Keys are the built-in fields ``speaker``, ``episode`` and ``time``, or dotted
paths into the metadata (``"user.tier"``; ``"metadata.speaker"`` reaches a
metadata key that a built-in name would shadow).  :func:`parse_filter` turns it
into a small immutable AST up front and refuses, with a typed error naming the
part, anything it cannot honour: a filter is never partly ignored, because an
ignored filter that scopes a tenant is a data leak.

Typing rules, identical in Python, SQLite and PostgreSQL (tested against each
other): a value matches only a stored value of the same JSON kind (numbers
with numbers, int and float alike; strings with strings, by code point;
booleans only by equality); lists and objects never equal a scalar.  A missing
key (or a ``None`` speaker/episode) does not match ``$eq``, ``$in`` or a range,
and does match ``$ne`` and ``$nin``: ``$ne``/``$nin`` are exactly the negation
of ``$eq``/``$in``, as in mem0 and LangGraph.  Times given for ``time`` may be
ISO strings, datetimes or epoch numbers (see :mod:`timeutil`).

The SQL translations live in :mod:`memoryweave_core.filter_sql`; this module
holds the language and the in-memory evaluators (:func:`matches`, :func:`mask`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from .errors import InvalidFilterError, InvalidInputError, UnsupportedFilterError
from .timeutil import to_timestamp

#: Fields every trace has, addressed by their bare name.
BUILTINS = ("speaker", "episode", "time")
#: The range operators, by their AST name.
RANGES = ("gt", "gte", "lt", "lte")
_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not")
_MISSING = object()

Scalar = str | int | float | bool


@dataclass(frozen=True)
class FieldRef:
    """What a condition reads: a built-in column, or a path into the metadata."""

    column: str  # "speaker", "episode", "time" or "metadata"
    path: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.column if self.column != "metadata" else "metadata." + ".".join(self.path)


@dataclass(frozen=True)
class Compare:
    """``field <op> value`` with op one of eq, gt, gte, lt, lte (``$ne`` is ``Not(eq)``)."""

    field: FieldRef
    op: str
    value: Scalar


@dataclass(frozen=True)
class In:
    """The field equals one of ``values`` (``$nin`` is ``Not(In)``); empty matches nothing."""

    field: FieldRef
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Exists:
    """The metadata path is present (even holding null), or the built-in is not None."""

    field: FieldRef


@dataclass(frozen=True)
class And:
    """Every child matches; no children matches everything (the empty filter ``{}``)."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one child matches."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """The child does not match (a missing key therefore matches ``Not``)."""

    child: Node


Node = Compare | In | Exists | And | Or | Not
_NODES = (Compare, In, Exists, And, Or, Not)


# -- parsing ---------------------------------------------------------------------
def parse_filter(spec: Any) -> Node | None:
    """The AST of a filter dict (``None`` stays ``None``; an AST passes through).

    Raises InvalidFilterError (a ValueError) for malformed filters and
    UnsupportedFilterError for operators or operands that cannot be honoured.
    """
    if spec is None or isinstance(spec, _NODES):
        return spec
    return _doc(spec, "filter")


def _doc(doc: Any, where: str) -> Node:
    if not isinstance(doc, Mapping):
        raise InvalidFilterError(f"{where} must be a dict, got {type(doc).__name__}")
    parts: list[Node] = []
    for key, value in doc.items():
        if not isinstance(key, str):
            raise InvalidFilterError(f"{where} has a non-string key {key!r}")
        if key in ("$and", "$or"):
            if not isinstance(value, (list, tuple)) or not value:
                raise InvalidFilterError(f"{where}.{key} needs a non-empty list of filters")
            kids = tuple(_doc(v, f"{where}.{key}[{i}]") for i, v in enumerate(value))
            parts.append(And(kids) if key == "$and" else Or(kids))
        elif key == "$not":
            parts.append(Not(_doc(value, f"{where}.$not")))
        elif key.startswith("$"):
            raise UnsupportedFilterError(f"unknown operator {key!r} in {where}; top level takes $and, $or, $not")
        else:
            parts.append(_conditions(_field(key, where), value, f"{where}[{key!r}]"))
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _field(key: str, where: str) -> FieldRef:
    if key in BUILTINS:
        return FieldRef(key)
    path = key.removeprefix("metadata.")
    segments = tuple(path.split("."))
    for seg in segments:
        if not seg or '"' in seg or "\\" in seg or "\x00" in seg:
            raise InvalidFilterError(
                f"bad field {key!r} in {where}: use a built-in ({', '.join(BUILTINS)}) or a dotted metadata"
                ' path whose parts are non-empty and hold no ", \\ or NUL'
            )
    return FieldRef("metadata", segments)


def _conditions(field: FieldRef, value: Any, where: str) -> Node:
    if isinstance(value, (list, tuple, set)):
        raise InvalidFilterError(f"{where} is a list: write {{'$in': [...]}} to match any of several values")
    if not isinstance(value, Mapping):
        return Compare(field, "eq", _operand(field, value, "eq", where))
    if not value:
        raise InvalidFilterError(f"{where} is an empty dict")
    plain = [k for k in value if not (isinstance(k, str) and k.startswith("$"))]
    if plain:
        raise InvalidFilterError(
            f"{where} holds {plain[0]!r}, not an operator: reach nested metadata with a dotted path ('a.b')"
        )
    parts = [_operator(field, op, arg, f"{where}.{op}") for op, arg in value.items()]
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _operator(field: FieldRef, op: str, arg: Any, where: str) -> Node:
    if op in ("$eq", "$ne"):
        node: Node = Compare(field, "eq", _operand(field, arg, "eq", where))
        return node if op == "$eq" else Not(node)
    if op[1:] in RANGES:
        return Compare(field, op[1:], _operand(field, arg, op[1:], where))
    if op in ("$in", "$nin"):
        if not isinstance(arg, (list, tuple, set, frozenset)):
            raise InvalidFilterError(f"{where} needs a list of values, got {type(arg).__name__}")
        node = In(field, tuple(_operand(field, v, "eq", where) for v in arg))
        return node if op == "$in" else Not(node)
    if op == "$exists":
        if not isinstance(arg, bool):
            raise InvalidFilterError(f"{where} needs true or false, got {arg!r}")
        return Exists(field) if arg else Not(Exists(field))
    if op == "$not":
        if not isinstance(arg, Mapping):
            raise InvalidFilterError(f"{where} needs a dict of operators")
        return Not(_conditions(field, arg, where))
    raise UnsupportedFilterError(f"unsupported operator {op!r} in {where}; supported: {', '.join(_OPERATORS)}")


def _operand(field: FieldRef, value: Any, op: str, where: str) -> Scalar:
    """Check one comparison value against the field's type; convert times."""
    if isinstance(value, np.generic):
        value = value.item()
    if field.column == "time":
        try:
            return to_timestamp(value)
        except InvalidInputError as exc:
            raise InvalidFilterError(f"{where}: {exc}") from None
    if field.column in ("speaker", "episode"):
        if not isinstance(value, str):
            raise UnsupportedFilterError(f"{where}: {field.column} compares with strings, got {value!r}")
        return value
    if value is None:
        raise UnsupportedFilterError(f"{where}: null is not a value to compare with; use {{'$exists': false}}")
    if isinstance(value, bool):
        if op != "eq":
            raise UnsupportedFilterError(f"{where}: booleans only compare for equality")
        return value
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise InvalidFilterError(f"{where}: {value!r} is not a finite number")
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, date):
        raise UnsupportedFilterError(
            f"{where}: datetimes compare only with the built-in 'time'; compare metadata times as epoch numbers"
            " or ISO strings"
        )
    raise UnsupportedFilterError(f"{where}: cannot compare with a {type(value).__name__}")


# -- evaluating in Python -----------------------------------------------------------
@dataclass(frozen=True)
class Columns:
    """The fields a filter reads, one entry per candidate (the in-memory store's view)."""

    metadata: Sequence[Mapping[str, Any]]
    speakers: Sequence[str | None]
    episodes: Sequence[str | None]
    times: np.ndarray

    @classmethod
    def of(cls, traces: Sequence[Any]) -> Columns:
        """Columns of Trace objects (anything with metadata, speaker, episode, time)."""
        return cls(
            [t.metadata for t in traces],
            [t.speaker for t in traces],
            [t.episode for t in traces],
            np.array([t.time for t in traces], dtype=np.float64),
        )


def matches(node: Node | None, trace: Any) -> bool:
    """Whether one trace passes the filter (``None`` passes everything)."""
    return node is None or bool(mask(node, Columns.of([trace]))[0])


def mask(node: Node | None, cols: Columns) -> np.ndarray:
    """A boolean array: which rows of ``cols`` pass the filter."""
    n = len(cols.times)
    if node is None:
        return np.ones(n, dtype=bool)
    if isinstance(node, And):
        out = np.ones(n, dtype=bool)
        for kid in node.children:
            out &= mask(kid, cols)
        return out
    if isinstance(node, Or):
        out = np.zeros(n, dtype=bool)
        for kid in node.children:
            out |= mask(kid, cols)
        return out
    if isinstance(node, Not):
        return ~mask(node.child, cols)
    if node.field.column == "time":  # never missing: vectorised
        if isinstance(node, Exists):
            return np.ones(n, dtype=bool)
        if isinstance(node, In):
            return np.isin(cols.times, np.array(node.values, dtype=np.float64))
        return _NUMPY_OPS[node.op](cols.times, node.value)
    test = _predicate(node)
    return np.fromiter(map(test, _values(node.field, cols)), dtype=bool, count=n)


_NUMPY_OPS = {
    "eq": np.equal, "gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal,
}
_PY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
}


def _values(field: FieldRef, cols: Columns) -> list[Any]:
    if field.column == "speaker":
        return [_MISSING if s is None else s for s in cols.speakers]
    if field.column == "episode":
        return [_MISSING if e is None else e for e in cols.episodes]
    out = []
    for meta in cols.metadata:
        value: Any = meta
        for seg in field.path:
            value = value.get(seg, _MISSING) if isinstance(value, Mapping) else _MISSING
        out.append(value)
    return out


def kind(value: Any) -> str | None:
    """The comparison kind of a JSON value: "bool", "num", "str", or None (null, list, object, missing)."""
    return _KINDS.get(type(value)) or _subclass_kind(value)


_KINDS: dict[type, str] = {bool: "bool", int: "num", float: "num", str: "str"}


def _subclass_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    if isinstance(value, str):
        return "str"
    return None


def _predicate(node: Compare | In | Exists) -> Callable[[Any], bool]:
    """One leaf as a test of a single stored value, specialised once per evaluation."""
    if isinstance(node, Exists):
        return lambda v: v is not _MISSING
    if isinstance(node, In):
        by_kind: dict[str | None, set[Any]] = {}
        for x in node.values:
            by_kind.setdefault(kind(x), set()).add(x)
        return lambda v: v in by_kind.get(kind(v), ())  # operands never have kind None
    want, op, x = kind(node.value), _PY_OPS[node.op], node.value
    return lambda v: kind(v) == want and op(v, x)
