"""MemoryWeaveStore: a LangGraph ``BaseStore`` kept in a MemoryWeave.

Each item is one trace.  The LangGraph namespace tuple is the MemoryWeave
namespace with the same labels (:mod:`memoryweave_core.scopes`: one label is
its plain string), so the middleware's user ``"alice"`` is the store's
``("alice",)`` and facts put under ``("alice", "facts")`` lie below it: one
``recall(..., namespace="alice", include_descendants=True)`` reaches both.
A search with a query is one such recall over the prefix, ranked once; the
empty prefix ranks every user's items once too
(:func:`~memoryweave_core.span.recall_across`).  The
item's key and JSON value live in the trace metadata, and the text the trace
is recalled by is taken from the value the way ``InMemoryStore`` picks the
text to embed (``index`` fields, default ``["$"]``: the whole value as
JSON).  Items put with ``index=False`` (or whose fields hold no text) go
under a separate root, ``(".unindexed", *namespace)``, that no recall under
a LangGraph prefix reaches, so they are found by ``get`` and filtered
``search`` but not by ``query``, as in ``InMemoryStore``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from datetime import datetime, timezone
from itertools import islice
from typing import Any, Generator, Iterable, Iterator

from langchain_core.runnables.config import run_in_executor
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from memoryweave_core import InvalidInputError, MemoryWeave, Trace, TraceNotFoundError
from memoryweave_core.prompt import MinRelevance, check_min_relevance
from memoryweave_core.scopes import Namespace, labels_of
from memoryweave_core.span import recall_across
from memoryweave_core.trace import check_metadata

from .store_filters import META as _META
from .store_filters import matches, namespace_matches, pushdown

#: First label of the namespaces that hold un-indexed items.  LangGraph
#: forbids dots in labels, so no LangGraph namespace starts with it, and no
#: recall under a LangGraph prefix reaches it.
UNINDEXED = ".unindexed"
#: A search as a plan: yields ``recall`` keyword arguments, receives the RecallResult, returns the items.
Searching = Generator[dict[str, Any], Any, list[SearchItem]]
#: Only the store's own items: a namespace may also hold the middleware's turns.
_ITEMS = {f"metadata.{_META}.key": {"$exists": True}}


def to_memory_namespace(namespace: tuple[str, ...]) -> Namespace:
    """The MemoryWeave namespace of a LangGraph namespace tuple: the same labels."""
    return namespace[0] if len(namespace) == 1 else tuple(namespace)


def unindexed_namespace(namespace: tuple[str, ...]) -> Namespace:
    """Where the un-indexed items of a LangGraph namespace are kept."""
    return (UNINDEXED, *namespace)


def from_memory_namespace(namespace: Namespace) -> tuple[str, ...]:
    """The LangGraph namespace tuple of a MemoryWeave namespace (``Trace.scope``)."""
    labels = labels_of(namespace)
    return labels[1:] if labels[0] == UNINDEXED else labels


def trace_id(namespace: tuple[str, ...], key: str) -> str:
    """The trace id of an item: fixed-length and unique per (namespace, key)."""
    digest = hashlib.sha256(json.dumps([list(namespace), key]).encode("utf-8")).hexdigest()
    return f"lg-{digest[:40]}"


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


class MemoryWeaveStore(BaseStore):
    """A LangGraph store whose semantic search is MemoryWeave recall.

    >>> store = MemoryWeaveStore(MemoryWeave(), index={"fields": ["text"]})
    >>> agent = create_agent(model, tools, store=store)

    ``index`` follows LangGraph's ``IndexConfig``; only ``fields`` is used
    (the embedder is the MemoryWeave's own).  ``search(query=...)`` returns
    :class:`SearchItem`s scored by recall; without a query it lists the items
    in the namespace prefix, filtered, in storage order.

    A ``put`` on an existing key writes a new version of its trace
    (``memory.history(...)`` keeps the old values).  ``ttl`` follows
    LangGraph's ``TTLConfig`` (minutes): an item expires ``ttl`` minutes after
    its last write, or its last read when ``refresh_ttl`` asks for it; expired
    items are never returned and are purged as MemoryWeave purges.

    ``min_relevance`` leaves out of a search with a query the items whose
    calibrated relevance is below it (``"auto"``: the prompt adapters'
    threshold), so an agent's memory-search tool can get no item when none is
    relevant; by default a search returns ``limit`` items, as LangGraph's
    stores do.
    """

    __slots__ = ("memory", "fields", "record_access", "ttl_config", "min_relevance", "_lock")
    supports_ttl = True

    def __init__(
        self,
        memory: MemoryWeave | None = None,
        *,
        index: dict[str, Any] | None = None,
        record_access: bool = True,
        ttl: TTLConfig | None = None,
        min_relevance: MinRelevance = None,
    ) -> None:
        self.memory = memory if memory is not None else MemoryWeave()
        self.min_relevance = check_min_relevance(min_relevance)
        self.ttl_config = ttl
        fields = (index or {}).get("fields") or ["$"]
        self.fields = [(f, tokenize_path(f) if f != "$" else f) for f in fields]
        self.record_access = record_access
        self._lock = threading.RLock()

    # -- BaseStore -------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        for op in ops:
            validate_op_namespace(op)
        with self._lock:
            return [self._run(op) for op in ops]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """:meth:`batch` through the async core: a search by query under a prefix
        recalls with ``MemoryWeave.arecall``; every other step (gets, puts,
        listings, a search's bookkeeping, a search under the empty prefix)
        runs in a worker thread under the store's lock."""
        ops = list(ops)
        for op in ops:
            validate_op_namespace(op)
        out: list[Result] = []
        for op in ops:
            if isinstance(op, SearchOp) and op.query:
                out.append(await self._asearch(op))
            else:
                out.append((await run_in_executor(None, self.batch, [op]))[0])
        return out

    async def _asearch(self, op: SearchOp) -> list[SearchItem]:
        """:meth:`_searching` driven with ``arecall``."""
        plan, reply = self._searching(op), None
        while True:
            done, value = await run_in_executor(None, self._step, plan, reply)
            if done:
                return value
            if "namespaces" in value:  # a span of chosen namespaces ranks on a worker thread
                reply = await run_in_executor(None, functools.partial(recall_across, self.memory, **value))
            else:
                reply = await self.memory.arecall(**value)

    def _step(self, plan: Searching, reply: Any) -> tuple[bool, Any]:
        """Resume ``plan`` with ``reply``: (False, its next recall request) or (True, its result)."""
        with self._lock:
            try:
                return False, plan.send(reply)
            except StopIteration as stop:
                return True, stop.value

    def _run(self, op: Op) -> Result:
        if isinstance(op, GetOp):
            return self._get(op)
        if isinstance(op, SearchOp):
            return self._search(op)
        if isinstance(op, PutOp):
            self._put(op)
            return None
        if isinstance(op, ListNamespacesOp):
            return self._list_namespaces(op)
        raise ValueError(f"Unknown operation type: {type(op)}")

    # -- translation -------------------------------------------------------------
    def _trace(self, namespace: tuple[str, ...], key: str) -> Trace | None:
        for where in (to_memory_namespace(namespace), unindexed_namespace(namespace)):  # searchable, then not
            try:
                t = self.memory.get(trace_id(namespace, key), namespace=where)
            except TraceNotFoundError:
                continue
            return t if self._current(t) else None
        return None

    def _current(self, t: Trace) -> bool:
        """Neither an archived version nor expired (awaiting its purge)."""
        return t.superseded_at is None and (t.expires_at is None or t.expires_at > self.memory.clock())

    def _refresh(self, traces: Iterable[Trace], refresh: bool) -> None:
        """Restart the TTL of items read with ``refresh_ttl`` (no new version is written)."""
        for t in traces if refresh else ():
            minutes = t.metadata.get(_META, {}).get("ttl")
            if minutes is not None:
                self.memory.set_expiry(t.id, ttl=minutes * 60, namespace=t.scope)

    @staticmethod
    def _item(t: Trace) -> Item:
        meta = t.metadata[_META]
        return Item(namespace=from_memory_namespace(t.scope), key=meta["key"], value=meta["value"],
                    created_at=_utc(meta["created_at"]), updated_at=_utc(t.time))

    @staticmethod
    def _search_item(t: Trace, score: float | None = None) -> SearchItem:
        meta = t.metadata[_META]
        return SearchItem(namespace=from_memory_namespace(t.scope), key=meta["key"], value=meta["value"],
                          created_at=_utc(meta["created_at"]), updated_at=_utc(t.time), score=score)

    def _text(self, op: PutOp) -> str | None:
        """The text to recall the item by (None when it is not indexed)."""
        if op.index is False:
            return None
        paths = self.fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
        texts = [t for _, path in paths for t in get_text_at_path(op.value, path) if t.strip()]
        return "\n".join(texts) or None

    def _get(self, op: GetOp) -> Item | None:
        t = self._trace(op.namespace, op.key)
        if t is None:
            return None
        self._refresh([t], op.refresh_ttl)
        return self._item(t)

    def _put(self, op: PutOp) -> None:
        if op.ttl is not None and (isinstance(op.ttl, bool) or not isinstance(op.ttl, (int, float)) or op.ttl <= 0):
            raise InvalidInputError(f"ttl must be a positive number of minutes, got {op.ttl!r}")
        old = self._trace(op.namespace, op.key)
        if op.value is None:
            if old is not None:
                self.memory.forget(old.id, namespace=old.scope)
            return None
        ns = to_memory_namespace(op.namespace)
        value = dict(op.value)
        now = self.memory.clock()
        meta = check_metadata({_META: {"key": op.key, "value": value, "created_at": old.metadata[_META]["created_at"] if old else now,
                                       "ttl": op.ttl}})
        text = self._text(op)
        item = {"id": trace_id(op.namespace, op.key), "metadata": meta, "time": now}
        if text is None:  # not searchable by query: kept beside the namespace recall searches
            ns = unindexed_namespace(op.namespace)
            text = json.dumps(value, sort_keys=True, ensure_ascii=False)
        # An item is its own episode: unrelated puts must not become each other's context.
        item.update(text=text, episode=item["id"])
        expires = None if op.ttl is None else now + op.ttl * 60
        if old is not None and old.scope == ns and now >= old.time:
            self.memory.update(old.id, namespace=ns, text=text, metadata=meta, time=now, expires_at=expires)
            if expires is None and old.expires_at is not None:
                self.memory.set_expiry(old.id, namespace=ns)  # this put has no TTL: the item no longer expires
            return None
        if old is not None:  # moved between the indexed and un-indexed namespaces: no common history
            self.memory.forget(old.id, namespace=old.scope)
        self.memory.add_many([{**item, "expires_at": expires}], namespace=ns)
        return None

    def _spaces(self, prefix: tuple[str, ...]) -> tuple[list[Namespace], list[Namespace]]:
        """MemoryWeave namespaces under a LangGraph prefix: those recall searches, and the un-indexed ones."""
        n = len(prefix)
        indexed: list[Namespace] = []
        unindexed: list[Namespace] = []
        for ns in self.memory.namespaces():
            labels = labels_of(ns)
            if labels[0] == UNINDEXED:
                if labels[1:][:n] == prefix:
                    unindexed.append(ns)
            elif labels[:n] == prefix:
                indexed.append(ns)
        return indexed, unindexed

    def _matches(self, t: Trace, flt: dict[str, Any] | None) -> bool:
        if _META not in t.metadata:  # a memory that did not come through the store
            return False
        value = t.metadata[_META]["value"]
        return not flt or all(matches(value.get(k), v) for k, v in flt.items())

    def _traces(self, namespace: Namespace) -> Iterator[Trace]:
        return (t for t in self.memory.traces(namespace) if self._current(t))

    def _search(self, op: SearchOp) -> list[SearchItem]:
        """:meth:`_searching` driven with ``MemoryWeave.recall``."""
        plan, reply = self._searching(op), None
        while True:
            try:
                request = plan.send(reply)
            except StopIteration as stop:
                return stop.value
            reply = (recall_across(self.memory, **request) if "namespaces" in request
                     else self.memory.recall(**request))

    def _searching(self, op: SearchOp) -> Searching:
        """A search as a plan that yields each recall it needs (the keyword
        arguments of ``recall``, or of ``recall_across`` where they name
        ``namespaces``) and receives its result, so that ``batch``
        and ``abatch`` share every step but the recall itself."""
        indexed, unindexed = self._spaces(op.namespace_prefix)
        if not op.query:
            spaces = sorted([*indexed, *unindexed], key=from_memory_namespace)
            found = (t for ns in spaces for t in self._traces(ns) if self._matches(t, op.filter))
            listed = list(islice(found, op.offset, op.offset + op.limit))
            self._refresh(listed, op.refresh_ttl)
            return [self._search_item(t) for t in listed]
        scored = yield from self._recall(op, indexed)
        unscored = [t for ns in unindexed for t in self._traces(ns) if self._matches(t, op.filter)]
        ranked: list[tuple[float | None, Trace]] = [*scored, *((None, t) for t in unscored)]
        page = ranked[op.offset : op.offset + op.limit]
        self._refresh([t for _, t in page], op.refresh_ttl)
        if self.record_access:
            used: dict[Namespace, list[str]] = {}
            for s, t in page:
                if s is not None:
                    used.setdefault(t.scope, []).append(t.id)
            for ns, ids in used.items():
                self.memory.touch(ids, namespace=ns)
        return [self._search_item(t, s) for s, t in page]

    def _recall(self, op: SearchOp,
                spaces: list[Namespace]) -> Generator[dict[str, Any], Any, list[tuple[float, Trace]]]:
        """Recall the best offset+limit items of the indexed namespaces under the prefix,
        ``spaces``, that pass the filter, best first (a plan, as :meth:`_searching`).

        Always one recall, ranked once: a prefix is a core recall with
        ``include_descendants``; the empty prefix (every user) lists the
        indexed namespaces to :func:`~memoryweave_core.span.recall_across`
        (no prefix of the core names them all and none of the un-indexed)."""
        total = sum(self.memory.count(ns) for ns in spaces)
        if not op.query or not total:
            return []
        want = op.offset + op.limit
        k = min(want, total)
        where = pushdown(op.filter)
        # applied inside recall's candidate search: never short (the store's items only, not the middleware's turns)
        only = _ITEMS if where is None else {"$and": [_ITEMS, where]}
        ask: dict[str, Any] = {"query": op.query, "record_access": False, "filter": only,
                               "min_relevance": self.min_relevance}
        if op.namespace_prefix:
            ask.update(namespace=to_memory_namespace(op.namespace_prefix), include_descendants=True)
        else:
            ask.update(namespaces=spaces)
        found = yield {**ask, "k": k}
        kept = [(r.score, r.trace) for r in found if self._matches(r.trace, op.filter)]
        if where is None and op.filter and len(kept) < want and k < total:
            # a filter the core language cannot say: rank everything under the prefix, then filter
            found = yield {**ask, "k": total}
            kept = [(r.score, r.trace) for r in found if self._matches(r.trace, op.filter)]
        return kept

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        spaces = {from_memory_namespace(ns) for ns in self.memory.namespaces()}
        if op.match_conditions:
            spaces = {ns for ns in spaces if all(namespace_matches(c, ns) for c in op.match_conditions)}
        if op.max_depth is not None:
            spaces = {ns[: op.max_depth] for ns in spaces}
        return sorted(spaces)[op.offset : op.offset + op.limit]

