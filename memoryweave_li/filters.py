"""LlamaIndex ``MetadataFilters`` as a MemoryWeave recall filter.

The operators with a meaning in :mod:`memoryweave_core.filters` are
translated (EQ, NE, GT, GTE, LT, LTE, IN, NIN, and AND / OR / NOT
conditions, nested); the others (TEXT_MATCH, CONTAINS, ANY, ALL,
IS_EMPTY...) raise UnsupportedFilterError, since a filter that is dropped
instead would recall what the caller meant to exclude.  Keys are those of
the core language: ``speaker``, ``episode`` and ``time`` are the built-in
fields (as the retriever's nodes show them), anything else is metadata.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

from memoryweave_core.errors import InvalidFilterError, UnsupportedFilterError

_OPERATORS = {
    FilterOperator.EQ: "$eq", FilterOperator.NE: "$ne", FilterOperator.GT: "$gt", FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt", FilterOperator.LTE: "$lte", FilterOperator.IN: "$in", FilterOperator.NIN: "$nin",
}
_CONDITIONS = {FilterCondition.AND: "$and", FilterCondition.OR: "$or"}


def to_filter(filters: MetadataFilters | MetadataFilter | None) -> dict[str, Any] | None:
    """The recall filter dict of LlamaIndex filters (None stays None)."""
    if filters is None:
        return None
    if isinstance(filters, MetadataFilter):
        op = _OPERATORS.get(filters.operator)
        if op is None:
            raise UnsupportedFilterError(
                f"MetadataFilter operator {filters.operator.name} on {filters.key!r} has no MemoryWeave equivalent"
                f" (supported: {', '.join(o.name for o in _OPERATORS)})"
            )
        return {filters.key: {op: filters.value}}
    if not isinstance(filters, MetadataFilters):
        raise InvalidFilterError(f"filters must be MetadataFilters, got {type(filters).__name__}")
    parts = [to_filter(f) for f in filters.filters]
    condition = filters.condition or FilterCondition.AND
    if condition == getattr(FilterCondition, "NOT", None):
        return {"$not": {"$and": parts}}  # LlamaIndex: NOT negates the conjunction of its filters
    if condition not in _CONDITIONS:
        raise UnsupportedFilterError(f"MetadataFilters condition {condition!r} is not supported")
    return {_CONDITIONS[condition]: parts}
