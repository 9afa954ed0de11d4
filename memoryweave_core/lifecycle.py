"""Updates with history, and expiry: the part of MemoryWeave that changes what is remembered.

A trace is never rewritten.  ``update`` writes a new version that keeps the
trace's id (as mem0's ``update`` and LangGraph's ``put`` on a key do, so a
caller's handle stays valid); the previous version is archived under its own
id, ``"<id>@v<n>"``, and the new one names it in ``supersedes``.  Recall sees
the current version, or the one current at ``at=``; ``history`` walks the
chain back.  An expiry is a field: an expired trace is never recalled, and
is deleted lazily (a bounded batch on each write) or by ``prune``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .errors import InvalidInputError
from .scopes import Namespace
from .storage.base import Live, is_live
from .timeutil import to_timestamp
from .trace import Trace, check_metadata, check_namespace, check_text, check_vectors, is_storable_id

#: Expired traces a write deletes on its way (bounded work per call).
PURGE_BATCH = 64


#: A ``Live`` that hides exactly the archived versions (superseded by any
#: time, nothing expired by the dawn of time): ``hidden`` under it counts them.
ARCHIVED = Live(at=math.inf, now=-math.inf)


def archived_id(trace_id: str, version: int) -> str:
    """The id a superseded version keeps (``"<id>@v<version>"``)."""
    return f"{trace_id}@v{version}"


def expiry(expires_at: Any, ttl: Any, now: float) -> float | None:
    """``expires_at`` (any time :func:`to_timestamp` reads) or ``now + ttl``
    seconds; None when neither is given.  Both at once is ambiguous: refused."""
    if expires_at is not None and ttl is not None:
        raise InvalidInputError("give expires_at or ttl, not both")
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl) or ttl <= 0:
            raise InvalidInputError(f"ttl must be a positive number of seconds, got {ttl!r}")
        return now + float(ttl)
    return None if expires_at is None else to_timestamp(expires_at)


def delete_pairs(store: Any, found: Sequence[tuple[str, str]]) -> int:
    """Delete ``(namespace, id)`` pairs (as ``Store.expired`` gives them), one call per namespace."""
    by_ns: dict[str, list[str]] = {}
    for ns, tid in found:
        by_ns.setdefault(ns, []).append(tid)
    return sum(store.delete(ids, ns) for ns, ids in by_ns.items())


def visible(traces: Iterable[Trace], now: float, include_superseded: bool) -> Iterator[Trace]:
    """The traces a listing shows: unexpired ones, current versions only
    unless ``include_superseded`` (what ``traces()``, ``categories()`` and
    ``summary()`` show; recall applies the same rule inside its search)."""
    view = Live(at=None if include_superseded else math.inf, now=now)
    return (t for t in traces if is_live(t, view))


def live(mem: Any, at: float, include_superseded: bool) -> Live:
    """What a recall at ``at`` may see: expiry always by the memory's clock."""
    return Live(at=None if include_superseded else at, now=mem.clock())


class LifecycleMixin:
    """``update``, ``history``, ``set_expiry``, ``prune`` and ``count`` for
    :class:`~memoryweave_core.memory.MemoryWeave` (``self`` is one: typed Any,
    as a mixin cannot name the class it is mixed into without an import cycle)."""

    def update(
        self: Any,
        trace_id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        namespace: Namespace | None = None,
        time: Any = None,
        expires_at: Any = None,
        ttl: Any = None,
        embedding: Any = None,
    ) -> Trace:
        """Write a new version of a trace; returns it (same id, ``version`` + 1).

        Unchanged fields are kept (text, metadata, speaker, episode and
        position, expiry); ``time`` (default now) is when the new version
        takes effect: a recall with ``at=`` before it sees the old one.
        """
        if text is None and metadata is None and expires_at is None and ttl is None and embedding is None:
            raise InvalidInputError("update() needs text=, metadata=, expires_at=, ttl= or embedding=")
        new_text = None if text is None else check_text(text)
        new_meta = None if metadata is None else check_metadata(metadata)
        when = to_timestamp(time, default=self.clock())
        new_expiry = expiry(expires_at, ttl, self.clock())
        with self._lock:
            old = self.get(trace_id, namespace=namespace or "default")
            if old.superseded_at is not None:
                raise InvalidInputError(f"{trace_id!r} is an archived version; update the current one")
            if when < old.time:
                raise InvalidInputError("an update cannot take effect before the version it supersedes")
            body = old.text if new_text is None else new_text
            given = None if embedding is None else check_vectors(embedding, self.store.dim, what="embedding")
            if given is None and new_text is None:
                content, context = old.content[None, :], old.context[None, :]
            else:
                row = {"episode": old.episode, "position": old.position, "text": body, "speaker": old.speaker}
                previous = self._previous_turns(old.namespace, [row])
                content, context = self.encoder.encode([(body, old.speaker)], previous, given)
                self._check_dim(content.shape[1])
            art = self._art(old.namespace)
            before = art.get_state()
            label = int(art.partial_fit(content).labels_[0])
            archived = archived_id(old.id, old.version)
            new = replace(
                old, text=body, metadata=old.metadata if new_meta is None else new_meta, time=when,
                content=content[0], context=context[0], category=label, version=old.version + 1,
                supersedes=archived, superseded_at=None,
                expires_at=old.expires_at if new_expiry is None else new_expiry,
            )
            try:
                self.store.supersede(old.id, archived, when, new, context=self._context_record)
            except BaseException:
                self._arts[old.namespace] = type(art).from_state(before)
                raise
            self.store.save_state(old.namespace, "art", art.get_state())
            self._purge(PURGE_BATCH)
            return new

    def history(self: Any, trace_id: str, *, namespace: Namespace | None = None) -> list[Trace]:
        """Every version of a trace, oldest first (the last is the one given)."""
        out = [self.get(trace_id, namespace=namespace or "default")]
        while out[-1].supersedes is not None:
            found = self.store.get([out[-1].supersedes], out[-1].namespace)
            if not found:
                break  # an archived version expired and was purged
            out.append(found[0])
        return out[::-1]

    def set_expiry(self: Any, ids: Sequence[str] | str, *, expires_at: Any = None, ttl: Any = None,
                   namespace: Namespace | None = None) -> int:
        """Expire these traces of ``namespace`` ("default" when not given) at
        ``expires_at`` or ``ttl`` seconds from now; neither clears their expiry.
        Refreshes a TTL on read (LangGraph's ``refresh_ttl``) without writing a
        version.  Returns how many exist there; other namespaces' ids are untouched."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        when = expiry(expires_at, ttl, self.clock())
        ns = check_namespace(namespace or "default")
        with self._lock:
            mine = [i for i in ids if is_storable_id(i)]
            return self.store.set_expiry(mine, when, ns) if mine else 0

    def prune(self: Any, *, namespace: Namespace | None = None) -> int:
        """Delete every expired trace now (of one namespace, or all); returns how many."""
        removed = 0
        with self._lock:
            while True:
                found = self.store.expired(self.clock(), 1000, None if namespace is None else check_namespace(namespace))
                if not found:
                    return removed
                removed += delete_pairs(self.store, found)

    def count(self: Any, namespace: Namespace | None = None) -> int:
        """Traces in one namespace (or all), current versions only: an update
        does not change the count, archived versions are history."""
        stored = None if namespace is None else check_namespace(namespace)
        spaces = self.store.namespaces() if stored is None else [stored]
        return self.store.count(stored) - sum(len(self.store.hidden(ns, ARCHIVED)) for ns in spaces)

    def _purge(self: Any, limit: int) -> int:
        """Lazy expiry: delete at most ``limit`` expired traces (called by writes)."""
        found = self.store.expired(self.clock(), limit)
        return delete_pairs(self.store, found) if found else 0

    def _versions(self: Any, ids: list[str], namespace: str) -> list[str]:
        """``ids`` with the archived versions each one supersedes (for ``forget``)."""
        out = []
        for tid in ids:
            out.append(tid)
            if not is_storable_id(tid):
                continue
            found = self.store.get([tid], namespace)
            while found and found[0].supersedes is not None:
                out.append(found[0].supersedes)
                found = self.store.get([found[0].supersedes], namespace)
        return list(dict.fromkeys(out))
