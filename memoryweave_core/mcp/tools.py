"""What the MCP tools do, as plain Python over one MemoryWeave: scope, limits, JSON-safe results.

Kept apart from the SDK wiring (``server.py``) so the policy (one namespace
unless the server allows a choice, a size limit on text, filters and
relevance honoured or refused) is one small class that a test can call
directly.  Every method checks its whole input before it writes anything and
raises a typed error from :mod:`memoryweave_core.errors`; the server turns
those into MCP tool errors.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import chain
from typing import Any

from ..errors import InvalidInputError, TraceNotFoundError
from ..memory import MemoryWeave
from ..prompt import MinRelevance
from ..recollection import Recollection
from ..scopes import Namespace, public
from ..span import spaces_under
from ..trace import Trace, check_label, check_namespace, check_scope, is_storable_id

#: A namespace as a tool takes it: one label (a string) or the labels of a
#: multi-level namespace (a JSON array of strings, outermost first).
Requested = str | Sequence[str]

#: Default of ``--max-text``: characters accepted in one text, query or metadata object.
DEFAULT_MAX_TEXT = 20_000
#: Most results one recall or listing returns (a model's context is the scarce thing).
MAX_K = 100


@dataclass(frozen=True)
class Scope:
    """How far a server's tools may reach: one namespace, read-only or not, a text limit."""

    namespace: Namespace = "default"
    allow_namespace_choice: bool = False
    read_only: bool = False
    max_text: int = DEFAULT_MAX_TEXT

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespace", check_scope(self.namespace))  # a list of labels becomes a tuple
        if not isinstance(self.max_text, int) or self.max_text < 1:
            raise InvalidInputError(f"max_text must be a positive integer, got {self.max_text!r}")


def iso_time(ts: float) -> str:
    """Epoch seconds as ISO 8601 in UTC, the form a model reads and writes back most reliably."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def json_namespace(ns: Namespace) -> str | list[str]:
    """A namespace as JSON has it: one label as its string, more as an array."""
    return ns if isinstance(ns, str) else list(ns)


def trace_dict(t: Trace) -> dict[str, Any]:
    """A trace as a model reads it: ISO time, no vectors, no internal category."""
    return {
        "id": t.id,
        "text": t.text,
        "speaker": t.speaker,
        "episode": t.episode,
        "position": t.position,
        "time": iso_time(t.time),
        "metadata": dict(t.metadata),
        "namespace": json_namespace(t.scope),  # never the stored form, which joins levels with U+001F
    }


def recollection_dict(r: Recollection, explain: bool) -> dict[str, Any]:
    """One recall hit: the trace, its score, its relevance when the engine gives one, and why."""
    relevance = getattr(r, "relevance", None)
    out = {
        **trace_dict(r.trace),
        "score": round(float(r.score), 6),
        "relevance": None if relevance is None else round(float(relevance), 6),
    }
    if explain:
        out["contributions"] = {k: round(float(v), 6) for k, v in r.features.items()}
    return out


class MemoryTools:
    """The tools' behaviour over one memory, within one :class:`Scope`."""

    def __init__(self, memory: MemoryWeave, scope: Scope) -> None:
        self.memory = memory
        self.scope = scope

    # -- checks -------------------------------------------------------------------
    def namespace(self, requested: Requested | None) -> Namespace:
        """The server's namespace, or the requested one where the server allows a choice.

        ``"alice"`` and ``["alice"]`` name the same namespace; a string is
        always one label (``"alice/x"`` is not below ``"alice"``)."""
        if requested is None:
            return self.scope.namespace
        if check_namespace(requested) == check_namespace(self.scope.namespace):
            return self.scope.namespace
        if not self.scope.allow_namespace_choice:
            raise InvalidInputError(
                f"this server serves namespace {self.scope.namespace!r} only; "
                "it was not started with --allow-namespace-choice"
            )
        return check_scope(requested)

    def _writable(self, what: str) -> None:
        if self.scope.read_only:
            raise InvalidInputError(f"{what} is not allowed: this server is read-only")

    def _size(self, value: str | None, what: str) -> None:
        if value is not None and len(value) > self.scope.max_text:
            raise InvalidInputError(
                f"{what} is {len(value):,} characters, over this server's limit of {self.scope.max_text:,} "
                "(--max-text)" + ("; split it into smaller memories" if what == "text" else "")
            )

    def _metadata_size(self, metadata: Mapping[str, Any] | None) -> None:
        if metadata is not None:
            try:
                encoded = json.dumps(metadata, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"metadata is not a JSON object: {exc}") from None
            self._size(encoded, "metadata (as JSON)")

    def _spaces(self, ns: Namespace, include_descendants: bool) -> list[str]:
        """The stored namespaces a call reaches: ``ns`` alone, or with every
        namespace below it that holds memories (label by label, so ``["alice"]``
        never reaches ``["alicex"]``); a single-namespace server's tree is its own."""
        if not isinstance(include_descendants, bool):
            raise InvalidInputError(f"include_descendants must be true or false, got {include_descendants!r}")
        stored = check_namespace(ns)
        return list(spaces_under(self.memory, stored)) if include_descendants else [stored]

    def _locate(self, ids: list[str], spaces: list[str], ns: Namespace) -> dict[str, list[str]]:
        """Which namespace of ``spaces`` holds each id; an id held nowhere, or in
        two of them (ids are unique within one namespace only), is refused."""
        wanted = [i for i in ids if is_storable_id(i)]
        where: dict[str, list[str]] = {}
        for space in spaces:
            for trace in self.memory.store.get(wanted, space):
                where.setdefault(trace.id, []).append(space)
        for i in ids:
            if not where.get(i):
                raise TraceNotFoundError(f"no memory with id {i!r} in namespace {ns!r} or below it")
            if len(where[i]) > 1:
                raise InvalidInputError(f"id {i!r} is held in {len(where[i])} namespaces "
                                        f"({', '.join(repr(public(s)) for s in where[i])}): name the one to forget from")
        by_space: dict[str, list[str]] = {}
        for i in dict.fromkeys(ids):
            by_space.setdefault(where[i][0], []).append(i)
        return by_space

    # -- tools ----------------------------------------------------------------------
    def remember(
        self,
        text: str,
        speaker: str | None = None,
        episode: str | None = None,
        time: str | float | None = None,
        metadata: Mapping[str, Any] | None = None,
        namespace: Requested | None = None,
    ) -> dict[str, Any]:
        self._writable("remember")
        self._size(text, "text")
        self._metadata_size(metadata)
        ns = self.namespace(namespace)
        trace = self.memory.add(text, speaker=speaker, episode=episode, time=time, metadata=metadata, namespace=ns)
        return trace_dict(trace)

    def recall(
        self,
        query: str,
        k: int = 5,
        filter: Mapping[str, Any] | None = None,
        min_relevance: MinRelevance = "auto",
        explain: bool = False,
        namespace: Requested | None = None,
        include_descendants: bool = False,
    ) -> dict[str, Any]:
        """``min_relevance`` defaults to ``"auto"``, as in the prompt-facing
        adapters: a model reads what this returns, so a question this memory
        knows nothing about gets an empty list, not the k least bad memories
        (``0`` or ``None`` asks for k whatever their relevance).
        ``include_descendants`` also searches every namespace below the one
        used (``["alice"]``: all of Alice's agents and runs, never ``["bob"]``
        nor ``["alicex"]``), ranked once; on a single-namespace server that is
        the tree below the server's own namespace and nothing else."""
        self._size(query, "query")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise InvalidInputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
        if not isinstance(include_descendants, bool):
            raise InvalidInputError(f"include_descendants must be true or false, got {include_descendants!r}")
        ns = self.namespace(namespace)
        if filter is not None:
            self._metadata_size(filter)
        # A read-only server writes nothing, not even the access log that recall keeps.
        found = self.memory.recall(
            query, k=k, namespace=ns, explain=explain, record_access=not self.scope.read_only,
            filter=None if filter is None else dict(filter), min_relevance=min_relevance,
            include_descendants=include_descendants,
        )
        return {"namespace": json_namespace(ns), "results": [recollection_dict(r, explain) for r in found]}

    def update(
        self,
        id: str,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        namespace: Requested | None = None,
    ) -> dict[str, Any]:
        self._writable("update")
        if text is None and metadata is None:
            raise InvalidInputError("update needs a new text, new metadata, or both")
        self._size(text, "text")
        self._metadata_size(metadata)
        ns = self.namespace(namespace)
        return trace_dict(self.memory.update(id, text=text, metadata=metadata, namespace=ns))

    def forget(
        self,
        ids: Sequence[str] | None = None,
        episode: str | None = None,
        namespace: Requested | None = None,
        include_descendants: bool = False,
    ) -> dict[str, Any]:
        """``include_descendants`` also looks for the ids (or the episode) in
        every namespace below the one used, and deletes each where it lives;
        every id is found before anything is deleted."""
        self._writable("forget")
        if (ids is None) == (episode is None):
            raise InvalidInputError("forget takes either ids or an episode (exactly one of them)")
        ns = self.namespace(namespace)
        spaces = self._spaces(ns, include_descendants)
        if ids is not None:
            ids = list(ids)
            if not ids:
                raise InvalidInputError("ids is empty: name the memories to forget")
            if not include_descendants:
                deleted = self.memory.forget(ids, namespace=ns)
                return {"namespace": json_namespace(ns), "forgotten": deleted, "ids": ids}
            by_space = self._locate(ids, spaces, ns)
            deleted = sum(self.memory.forget(held, namespace=public(space)) for space, held in by_space.items())
            return {"namespace": json_namespace(ns), "forgotten": deleted, "ids": ids,
                    "namespaces": [json_namespace(public(space)) for space in by_space]}
        label = check_label(episode, "episode")
        assert label is not None
        holding = [space for space in spaces if self.memory.store.episode_length(space, label)]
        if not holding:
            raise TraceNotFoundError(f"no episode {label!r} in namespace {ns!r}"
                                     + (" or below it" if include_descendants else ""))
        deleted = sum(self.memory.forget(episode=label, namespace=public(space)) for space in holding)
        out: dict[str, Any] = {"namespace": json_namespace(ns), "forgotten": deleted, "episode": label}
        if include_descendants:
            out["namespaces"] = [json_namespace(public(space)) for space in holding]
        return out

    def list_recent(self, n: int = 10, namespace: Requested | None = None,
                    include_descendants: bool = False) -> dict[str, Any]:
        """``include_descendants`` lists the newest memories of the namespace
        used and every namespace below it, together."""
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_K:
            raise InvalidInputError(f"n must be an integer from 1 to {MAX_K}, got {n!r}")
        ns = self.namespace(namespace)
        spaces = self._spaces(ns, include_descendants)
        # Walks each namespace once: newest by event time, then by the order they were read.
        held = chain.from_iterable(self.memory.traces(public(space)) for space in spaces)
        newest = heapq.nlargest(n, enumerate(held), key=lambda it: (it[1].time, it[0]))
        total = sum(self.memory.count(public(space)) for space in spaces)
        return {"namespace": json_namespace(ns), "total": total,
                "traces": [trace_dict(t) for _, t in newest]}

    # -- resources ------------------------------------------------------------------
    def summary(self, namespace: Requested | None = None) -> dict[str, Any]:
        ns = self.namespace(namespace)
        body = self.memory.summary(ns)["namespaces"][ns]
        for item in [body, *body["recent_episodes"], *body["most_active"]]:
            for key in ("first", "last", "time"):
                if item.get(key) is not None:
                    item[key] = iso_time(item[key])
        return {"namespace": json_namespace(ns), **body}

    def episode(self, episode: str, namespace: Requested | None = None) -> dict[str, Any]:
        ns = self.namespace(namespace)
        label = check_label(episode, "episode")
        assert label is not None
        length = self.memory.store.episode_length(check_namespace(ns), label)
        if length == 0:
            raise TraceNotFoundError(f"no episode {label!r} in namespace {ns!r}")
        turns = self.memory.store.episode_traces(check_namespace(ns), label, 0, length)
        return {"namespace": json_namespace(ns), "episode": label, "turns": [trace_dict(t) for t in turns]}
