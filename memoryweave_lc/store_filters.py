"""The filter and namespace-matching rules of LangGraph's InMemoryStore (and
of PostgreSQL's jsonb), written out so that :class:`~memoryweave_lc.store.MemoryWeaveStore`
and LangGraph's own stores agree on what matches, without importing
LangGraph's private helpers; :func:`pushdown` says the same filter in the
core's filter language, so recall can apply it inside its candidate search.
"""

from __future__ import annotations

from typing import Any

from langgraph.store.base import MatchCondition

from memoryweave_core import InvalidInputError

META = "langgraph"  # metadata key of the item's key, value and creation time


_ORDER = {"$gt": float.__gt__, "$gte": float.__ge__, "$lt": float.__lt__, "$lte": float.__le__}


def _operator(value: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(value == operand)
    if op == "$ne":
        return bool(value != operand)
    if op not in _ORDER:
        raise InvalidInputError(f"unsupported filter operator {op!r} (use $eq, $ne, $gt, $gte, $lt, $lte)")
    return _ORDER[op](float(value), float(operand))


def matches(value: Any, condition: Any) -> bool:
    """Whether an item's value satisfies a filter: equality, nested objects, lists, and $-operators."""
    if isinstance(condition, dict):
        if any(k.startswith("$") for k in condition):
            return all(_operator(value, op, operand) for op, operand in condition.items())
        return isinstance(value, dict) and all(matches(value.get(k), v) for k, v in condition.items())
    if isinstance(condition, (list, tuple)):
        return (isinstance(value, (list, tuple)) and len(value) == len(condition)
                and all(matches(v, c) for v, c in zip(value, condition, strict=True)))
    return bool(value == condition)


def pushdown(flt: dict[str, Any] | None) -> dict[str, Any] | None:
    """A LangGraph filter in the core's filter language, over the item value
    kept in the trace metadata, so recall applies it inside its candidate
    search; None when it has a part the core language reads otherwise
    (list or object equality, dotted or ``$`` keys): then :meth:`~memoryweave_lc.store.MemoryWeaveStore._recall`
    ranks the whole namespace and filters with :func:`matches`."""
    if not flt:
        return None
    out: dict[str, Any] = {}

    def walk(prefix: str, condition: dict[str, Any]) -> bool:
        for key, cond in condition.items():
            if not isinstance(key, str) or not key or key.startswith("$") or any(c in key for c in '."\\\x00'):
                return False
            path = f"{prefix}.{key}"
            if isinstance(cond, dict) and cond and not any(str(k).startswith("$") for k in cond):
                if not walk(path, cond):
                    return False
            elif isinstance(cond, dict):
                if not cond or any(op not in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte") for op in cond) \
                        or any(not isinstance(v, (str, int, float)) for v in cond.values()):
                    return False
                out[path] = dict(cond)
            elif isinstance(cond, (str, int, float)):
                out[path] = cond
            else:
                return False
        return True

    return out if walk(f"metadata.{META}.value", flt) else None


def namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """A ``list_namespaces`` condition: a prefix or suffix of labels, ``"*"`` matching any label."""
    path = condition.path
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise InvalidInputError(f"unsupported match type {condition.match_type!r}")
    return all(p == "*" or k == p for k, p in pairs)
