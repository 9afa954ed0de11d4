"""MemoryWeave: the public face of the engine.

Ties the pieces together: validate input, encode traces with their context,
categorise them (ART), write them to a store, and recall through the
retrieval pipeline.  One re-entrant lock serialises writers and readers of
one MemoryWeave object; stores add their own locking for sharing a file or
a server between processes.
"""

from __future__ import annotations

import threading
import time as _time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, cast

import numpy as np

from .activation import base_levels
from .art import ART2A
from .asyncio_api import AsyncMemoryMixin
from .config import RecallConfig
from .encoder import MemoryEncoder, Preceding, turn_text
from .errors import DimensionMismatchError, InvalidInputError, TraceNotFoundError
from .filters import parse_filter
from .lifecycle import PURGE_BATCH, LifecycleMixin, expiry, live, visible
from .names import NameIndex
from .recall_call import RecallCall
from .recollection import RecallResult
from .retrieval import FeatureTable, Query, Retriever, names_in, strip_names
from .scopes import Namespace, public
from .span import recall_under, spaces_under, speakers_under
from .span import record_access as record_use
from .storage.base import Store
from .storage.memory import MemoryStore
from .summary import summarise, summary_html
from .timeutil import to_timestamp
from .trace import (
    Trace,
    check_label,
    check_metadata,
    check_namespace,
    check_text,
    check_vectors,
    is_storable_id,
    new_id,
)

#: Over ``max_traces``, eviction goes ``max_traces // EVICT_DIVISOR`` traces below the cap
#: (none for caps under this), so its full read of the namespace is amortised over that many adds.
EVICT_DIVISOR = 20

_ITEM_KEYS = frozenset({"id", "text", "speaker", "episode", "time", "metadata", "expires_at", "ttl"})


@dataclass(frozen=True)
class Category:
    """An ART category of one namespace, for inspection."""

    id: int
    size: int
    label: str  # text of the most typical member (closest to the prototype)
    members: tuple[str, ...]  # trace ids


class MemoryWeave(LifecycleMixin, AsyncMemoryMixin):
    """Long-term memory: remember text with its context, recall what matters now.

    Parameters
    ----------
    path : str or Path, optional
        A SQLite file to keep memories in across restarts; in memory when None.
    embedder : optional
        Any embedder :func:`~memoryweave_core.embedders.as_embedder` accepts;
        all-MiniLM-L6-v2 is loaded on first use when None.
    config : RecallConfig, optional
        Weights and knobs of recall.
    store : Store, optional
        A ready storage backend (overrides ``path``), e.g. PostgreSQL.
    clock : callable, optional
        Returns "now" in epoch seconds; inject one for simulations and tests.
    embedding_dim : int, optional
        With no ``embedder``: bring your own vectors, no model is ever loaded
        (pass ``embedding=`` to add and ``query_vector=`` to recall).
    """

    def __init__(
        self,
        path: Any = None,
        *,
        embedder: Any = None,
        config: RecallConfig | None = None,
        store: Store | None = None,
        clock: Callable[[], float] | None = None,
        embedding_dim: int | None = None,
    ) -> None:
        self.config = config or RecallConfig()
        self.encoder = MemoryEncoder(
            embedder, context_window=self.config.context_window, context_mode=self.config.context_mode,
            dim=embedding_dim,
        )
        opened = store is None
        if store is None:
            if path is None:
                store = MemoryStore()
            else:
                from .storage.sqlite import SQLiteStore

                store = SQLiteStore(path)
        self.store = store
        if embedding_dim is not None and store.dim not in (None, embedding_dim):
            if opened:
                store.close()
            raise DimensionMismatchError(f"embedding_dim={embedding_dim} but the store holds {store.dim}-d vectors")
        self.clock = clock or _time.time
        self._arts: dict[str, ART2A] = {}
        self._names: dict[str, NameIndex] = {}
        self._lock = threading.RLock()

    # -- remembering -----------------------------------------------------------
    def add(
        self,
        text: str,
        *,
        speaker: str | None = None,
        episode: str | None = None,
        time: Any = None,
        metadata: Mapping[str, Any] | None = None,
        namespace: Namespace = "default",
        embedding: Any = None,
        expires_at: Any = None,
        ttl: float | None = None,
    ) -> Trace:
        """Remember one piece of text; returns the stored Trace.  It is never
        recalled at or after ``expires_at``, or ``ttl`` seconds from now."""
        item = {"text": text, "speaker": speaker, "episode": episode, "time": time, "metadata": metadata,
                "expires_at": expires_at, "ttl": ttl}
        return self.add_many([item], embeddings=None if embedding is None else [embedding], namespace=namespace)[0]

    def add_many(
        self,
        items: Iterable[Mapping[str, Any] | str],
        *,
        embeddings: Any = None,
        namespace: Namespace = "default",
    ) -> list[Trace]:
        """Remember many items at once (dicts with ``text`` and optionally
        ``speaker``, ``episode``, ``time``, ``metadata``, ``id``, ``expires_at``,
        ``ttl``; or plain strings).

        All items are validated before anything is written, and the write is
        atomic: either every item is stored or none is.
        """
        ns = check_namespace(namespace)
        rows = [self._check_item(item) for item in items]
        if not rows:
            return []
        dim = self.store.dim or self.encoder.dim
        given = None if embeddings is None else check_vectors(embeddings, dim, n=len(rows), what="embedding")
        with self._lock:
            self._check_new_ids(ns, rows)  # under the lock: check-then-write must be atomic
            self._assign_episodes(ns, rows)
            previous = self._previous_turns(ns, rows)
            content, context = self.encoder.encode([(r["text"], r["speaker"]) for r in rows], previous, given)
            self._check_dim(content.shape[1])
            art = self._art(ns)
            before = art.get_state()
            labels = art.partial_fit(content).labels_
            traces = [
                Trace(
                    id=r["id"] or new_id(),
                    text=r["text"],
                    namespace=ns,
                    speaker=r["speaker"],
                    episode=r["episode"],
                    position=r["position"],
                    time=r["time"],
                    metadata=r["metadata"],
                    content=content[i],
                    context=context[i],
                    category=int(labels[i]),
                    expires_at=r["expires_at"],
                )
                for i, r in enumerate(rows)
            ]
            names = self._speakers(ns)
            new_names = {t.speaker for t in traces if t.speaker} - names
            states = {"art": art.get_state()}
            if new_names:
                states["speakers"] = {"names": sorted(names | new_names)}
            try:  # the rows with their engine state: a crash cannot keep one without the other
                self.store.add_with_state(traces, states)
            except BaseException:
                self._arts[ns] = ART2A.from_state(before)
                raise
            if new_names:  # copy on write: a recall holding the old index keeps a consistent one
                grown = NameIndex(names)
                grown |= new_names
                self._names[ns] = grown
            if self.config.max_traces is not None:
                self._evict(ns, keep_episode=traces[-1].episode)
            self._purge(PURGE_BATCH)
            return traces

    def add_conversation(
        self,
        turns: Iterable[Mapping[str, Any] | tuple[str, str] | str],
        *,
        episode: str | None = None,
        time: Any = None,
        namespace: Namespace = "default",
    ) -> list[Trace]:
        """Remember a conversation as one episode.

        ``turns`` are dicts (``{"speaker", "text"}`` or ``{"role", "content"}``),
        ``(speaker, text)`` pairs, or plain strings.  Turns without their own
        time get ``time``, one second apart so their order is kept.
        """
        episode = check_label(episode, "episode") or f"episode-{uuid.uuid4().hex[:8]}"
        start = to_timestamp(time, default=self.clock())
        items = []
        for i, turn in enumerate(turns):
            if isinstance(turn, tuple):
                turn = {"speaker": turn[0], "text": turn[1]}
            elif isinstance(turn, str):
                turn = {"text": turn}
            elif isinstance(turn, Mapping) and "content" in turn and "text" not in turn:
                turn = {"speaker": turn.get("role"), "text": turn["content"], "metadata": turn.get("metadata")}
            items.append({"time": start + i, **turn, "episode": episode})
        return self.add_many(items, namespace=namespace)

    def _check_item(self, item: Any) -> dict[str, Any]:
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, Mapping):
            raise InvalidInputError(f"an item must be a dict or a string, got {type(item).__name__}")
        unknown = set(item) - _ITEM_KEYS
        if unknown:
            raise InvalidInputError(f"unknown item fields {sorted(unknown)}; allowed: {sorted(_ITEM_KEYS)}")
        tid = check_label(item.get("id"), "id")
        return {
            "id": tid,
            "text": check_text(item.get("text")),
            "speaker": check_label(item.get("speaker"), "speaker"),
            "episode": check_label(item.get("episode"), "episode"),
            "time": to_timestamp(item.get("time"), default=self.clock()),
            "metadata": check_metadata(item.get("metadata")),
            "expires_at": expiry(item.get("expires_at"), item.get("ttl"), self.clock()),
        }

    def _check_new_ids(self, ns: str, rows: list[dict]) -> None:
        ids = [r["id"] for r in rows if r["id"] is not None]
        seen: set[str] = set()
        for tid in ids:
            if tid in seen:
                raise InvalidInputError(f"the id {tid!r} appears more than once in one batch")
            seen.add(tid)
        taken = self.store.get(ids, ns) if ids else []  # ids are unique per namespace (a schema constraint)
        if taken:
            raise InvalidInputError(f"the id {taken[0].id!r} already exists in namespace {ns!r}; give another id or none")

    def _assign_episodes(self, ns: str, rows: list[dict]) -> None:
        """Name an episode for rows without one, and give every row its position.

        Without an explicit episode a row continues the namespace's latest
        episode unless more than ``config.episode_gap`` seconds passed: the
        way a conversation that pauses for an hour becomes a new session.
        """
        last = self.store.last_trace(ns)
        current = (last.episode, last.time) if last is not None else (None, None)
        next_pos: dict[str, int] = {}
        for r in rows:
            if r["episode"] is None:
                ep, t = current
                if ep is None or abs(r["time"] - t) > self.config.episode_gap:
                    ep = f"episode-{uuid.uuid4().hex[:8]}"
                r["episode"] = ep
            ep = r["episode"]
            if ep not in next_pos:
                next_pos[ep] = self.store.episode_length(ns, ep)
            r["position"] = next_pos[ep]
            next_pos[ep] += 1
            current = (ep, r["time"])

    def _previous_turns(self, ns: str, rows: list[dict]) -> list[list[Preceding]]:
        """The turns before each row in its episode (batch first, then store),
        with the batch row or the stored content vector of each."""
        w = self.config.context_window
        if not w:
            return [[] for _ in rows]
        in_batch = {(r["episode"], r["position"]): Preceding(turn_text(r["text"], r["speaker"]), row=i) for i, r in enumerate(rows)}
        out = []
        for r in rows:
            ep, pos = r["episode"], r["position"]
            window = []
            missing = [p for p in range(pos - w, pos) if p >= 0 and (ep, p) not in in_batch]
            stored = (
                {t.position: Preceding(turn_text(t.text, t.speaker), t.content) for t in self.store.episode_traces(ns, ep, min(missing), pos)}
                if missing
                else {}
            )
            for p in range(max(pos - w, 0), pos):
                turn = in_batch.get((ep, p)) or stored.get(p)
                if turn:
                    window.append(turn)
            out.append(window)
        return out

    def _check_dim(self, dim: int) -> None:
        if self.store.dim is not None and self.store.dim != dim:
            raise DimensionMismatchError(
                f"the embedder gives {dim}-d vectors but this memory holds {self.store.dim}-d ones"
            )

    def _art(self, ns: str) -> ART2A:
        art = self._arts.get(ns)
        if art is None:
            state = self.store.load_state(ns, "art")
            art = (
                ART2A.from_state(state)
                if state
                else ART2A(self.config.vigilance, self.config.art_learning_rate, self.config.art_max_categories)
            )
            self._arts[ns] = art
        return art

    def _speakers(self, ns: str) -> NameIndex:
        """Speaker names seen in a namespace (kept beside the traces in the store)."""
        names = self._names.get(ns)
        if names is None:
            state = self.store.load_state(ns, "speakers") or {}
            names = self._names[ns] = NameIndex(state.get("names", ()))
        return names

    def _evict(self, ns: str, keep_episode: str | None) -> None:
        """Drop the lowest-activation traces beyond ``max_traces`` (never the current episode).

        Choosing reads the whole namespace, so once over the cap it evicts down to
        ``max_traces // EVICT_DIVISOR`` below it: the read happens once per that many adds, not on each."""
        cap = self.config.max_traces
        if cap is None:
            return
        excess = self.store.count(ns) - cap
        if excess <= 0:
            return
        excess += cap // EVICT_DIVISOR
        traces = [t for t in self.store.iter_traces(ns) if t.episode != keep_episode]
        logs = self.store.access_logs([t.id for t in traces], ns)
        traces = [t for t in traces if t.id in logs]  # forgotten meanwhile by another process: skipped
        acts = base_levels([logs[t.id] for t in traces], self.clock(), self.config.decay)
        # Ties (same activation and time, e.g. a batch) go oldest-added first: by
        # insertion order, never by id, which is random and would make the
        # survivors differ from one run of the same calls to the next.
        order = sorted(range(len(traces)), key=lambda i: (acts[i], traces[i].time, i))
        self.store.delete([traces[i].id for i in order[:excess]], ns)

    # -- recalling -------------------------------------------------------------
    def recall(
        self,
        query: str,
        k: int = 5,
        *,
        namespace: Namespace = "default",
        at: Any = None,
        explain: bool = False,
        record_access: bool = True,
        exclude: Iterable[str] = (),
        config: RecallConfig | None = None,
        query_vector: Any = None,
        min_relevance: float | None = None,
        filter: Any = None,
        include_superseded: bool = False,
        include_descendants: bool = False,
    ) -> RecallResult:
        """The ``k`` memories that best fit ``query`` at time ``at`` (default now).

        Each Recollection carries its score and the contribution of every
        pathway; with ``explain=True`` it also keeps the raw feature values.
        Recalled traces count as used (their activation rises) unless
        ``record_access=False``.  Ids in ``exclude`` (memories the caller
        already shows, say) are neither returned nor counted as used.

        ``config`` overrides the memory's RecallConfig for this call only;
        ``query_vector`` supplies a ready query embedding (then ``query`` may
        be empty and only feeds the lexical and temporal pathways).

        ``min_relevance`` (in [0, 1]) drops those of the top ``k`` whose
        calibrated relevance is lower, so a recall may return fewer than
        ``k``, or nothing: "nothing relevant" is an answer.  The prompt-facing
        adapters use ``relevance.PROMPT_MIN_RELEVANCE``; by default none applies.

        ``filter`` (a dict in the language of :mod:`memoryweave_core.filters`)
        limits recall, candidates and neighbours alike, to matching traces;
        one that cannot be honoured raises InvalidFilterError before anything
        is read or written.

        Recall sees the versions current at ``at`` (every version with
        ``include_superseded=True``) and never an expired trace.

        ``include_descendants=True`` recalls from ``namespace`` and every
        namespace below it (``("alice",)``: all of Alice's agents and runs),
        ranked once over their merged candidates (:mod:`.span`); each
        Recollection's ``namespace`` says where it came from (an id in
        ``exclude`` is left out wherever it lives).  It is a flag,
        not a prefix string, because a label is never matched by its
        characters: ``("alice",)`` never reaches ``("alicex",)``.
        """
        call = RecallCall.check(
            self, query, k, namespace=namespace, at=at, explain=explain, record_access=record_access, exclude=exclude,
            config=config, query_vector=query_vector, min_relevance=min_relevance, filter=filter,
            include_superseded=include_superseded, include_descendants=include_descendants,
        )
        spaces = spaces_under(self, call.namespace) if call.include_descendants else [call.namespace]
        held = sum(self.store.count(s) for s in spaces)
        if held == 0:
            return RecallResult()
        call = call.capped(held)
        request = call.request(self, spaces)
        with self._lock:
            retriever = call.retriever(self.store)
            with self.store.snapshot():  # candidates and winners from one state, however others write
                if call.include_descendants:
                    found = recall_under(self, retriever, request, spaces, call.wanted, explain=explain)
                else:
                    art = self._art(call.namespace)
                    found = retriever.recall(
                        request, call.wanted, prototypes=art.prototypes_ if art.n_categories_ else None, explain=explain
                    )
            found = call.keep(found)
            if call.record_access and found:
                record_use(self, found, call.now)
        return RecallResult(found)

    def touch(self, ids: Sequence[str], *, at: Any = None, namespace: Namespace = "default") -> None:
        """Count traces of one namespace as used at ``at`` (default now), as recall does
        for what it returns; ids of other namespaces (or none) are left alone.

        For callers that use memories they did not get from :meth:`recall`
        (an integration that shows a stored item, say).
        """
        ns = check_namespace(namespace)
        now = to_timestamp(at, default=self.clock())
        with self._lock:
            wanted = [i for i in ids if is_storable_id(i)]
            if wanted:  # the store skips ids the namespace does not hold
                self.store.record_access(wanted, now, ns)

    def traces(self, namespace: Namespace | None = None, *, include_superseded: bool = False) -> Iterator[Trace]:
        """The current, unexpired traces of one namespace (or of all), oldest
        first; archived versions (``id@vN``) too with ``include_superseded=True``."""
        stored = self.store.iter_traces(None if namespace is None else check_namespace(namespace))
        return visible(stored, self.clock(), include_superseded)

    def features(
        self, query: str, *, namespace: Namespace = "default", at: Any = None, config: RecallConfig | None = None,
        filter: Any = None,
    ) -> FeatureTable:
        """Steps 1-2 of recall without fusion: every candidate (matching ``filter``)
        with the raw value of each enabled feature.  ``benchmarks/tune.py`` fits the weights on this."""
        where = parse_filter(filter)
        check_text(query, "query")
        ns = check_namespace(namespace)
        now = to_timestamp(at, default=self.clock())
        if self.store.count(ns) == 0:
            return FeatureTable([], {})
        request = replace(self._query(query, [ns], now, None), where=where, live=live(self, now, False))
        with self._lock:
            art = self._art(ns)
            with self.store.snapshot():
                return Retriever(self.store, config or self.config).features(
                    request, prototypes=art.prototypes_ if art.n_categories_ else None
                )

    def _query(self, query: str, spaces: list[str], now: float, query_vector: Any) -> Query:
        """Embed the query and its topic (when it names a speaker known in
        ``spaces``, the first of which it is for) in one model call; a topic
        equal to the query, or empty, is not embedded."""
        with self._lock:  # adds replace the index (copy on write): this one stays as it is
            names = speakers_under(self, spaces)
        topic_text = strip_names(query, names) if query and names_in(query, names) else None
        if topic_text is not None and (not topic_text.strip() or topic_text == query):
            topic_text = None  # the query was only a name, or stripping left it as it was
        if query_vector is None:
            vectors = self.encoder.embed([query] + ([topic_text] if topic_text else []))
            qv, tv = vectors[0], (vectors[1] if topic_text else None)
        else:
            qv = check_vectors(query_vector, self.store.dim, what="query vector")[0]
            tv = self.encoder.embed([topic_text])[0] if topic_text and self.encoder.can_embed else None
        self._check_dim(len(qv))
        return Query(query, qv, spaces[0], now, topic_vector=tv, names=names)

    def activation(self, trace_id: str, at: Any = None, *, namespace: Namespace = "default") -> float:
        """ACT-R base-level activation of one trace of ``namespace`` at ``at`` (default now)."""
        ns = check_namespace(namespace)
        now = to_timestamp(at, default=self.clock())
        log = self.store.access_logs([trace_id], ns).get(trace_id) if is_storable_id(trace_id) else None
        if log is None:  # never there, or forgotten by another thread or process: the store skips it
            raise TraceNotFoundError(f"no trace with id {trace_id!r}")
        return float(base_levels([log], now, self.config.decay)[0])

    # -- inspecting and forgetting ----------------------------------------------
    def get(self, trace_id: str, *, namespace: Namespace = "default") -> Trace:
        """The trace ``trace_id`` of ``namespace``; one of another namespace is not found, alike."""
        ns = check_namespace(namespace)
        found = self.store.get([trace_id], ns) if is_storable_id(trace_id) else []
        if not found:
            raise TraceNotFoundError(f"no trace with id {trace_id!r}")
        return found[0]

    def forget(
        self,
        ids: Sequence[str] | str | None = None,
        *,
        episode: str | None = None,
        namespace: Namespace | None = None,
        include_descendants: bool = False,
    ) -> int:
        """Delete traces by id (with every earlier version), a whole episode,
        or a whole namespace (with every namespace below it when
        ``include_descendants``: all of a user's agents and runs); returns how many rows went.

        Ids are looked up in ``namespace`` ("default" when not given); unknown
        ones (or another namespace's) raise TraceNotFoundError before anything is deleted.
        """
        if include_descendants and (ids is not None or episode is not None or namespace is None):
            raise InvalidInputError("include_descendants applies to forget(namespace=...) alone")
        with self._lock:
            if ids is not None:
                ids = [ids] if isinstance(ids, str) else list(ids)
                ns = check_namespace(namespace or "default")
                known = {t.id for t in self.store.get([i for i in ids if is_storable_id(i)], ns)}
                missing = [i for i in ids if i not in known]
                if missing:
                    raise TraceNotFoundError(f"no trace with id {missing[0]!r} in namespace {public(ns)!r}")
                return self.store.delete(self._versions(ids, ns), ns)
            if episode is not None:
                label = check_label(episode, "episode")
                assert label is not None  # a given episode is never None
                return self.store.delete_episode(check_namespace(namespace or "default"), label)
            if namespace is not None:
                ns = check_namespace(namespace)
                removed = 0
                for space in spaces_under(self, ns) if include_descendants else [ns]:
                    self._arts.pop(space, None)
                    self._names.pop(space, None)
                    removed += self.store.delete_namespace(space)
                return removed
        raise InvalidInputError("forget() needs ids, episode= or namespace=")

    def categories(self, namespace: Namespace = "default") -> list[Category]:
        """The ART categories of a namespace, largest first."""
        ns = check_namespace(namespace)
        art = self._art(ns)
        members: dict[int, list[Trace]] = {}
        for t in visible(self.store.iter_traces(ns), self.clock(), False):
            if t.category is not None:
                members.setdefault(t.category, []).append(t)
        out = []
        for cat, traces in members.items():
            proto = art.prototypes_[cat] if cat < art.n_categories_ else traces[0].content
            typical = max(traces, key=lambda t: float(cast(np.ndarray, t.content) @ proto))
            out.append(Category(cat, len(traces), typical.text, tuple(t.id for t in traces)))
        return sorted(out, key=lambda c: (-c.size, c.id))

    def summary(self, namespace: Namespace | None = None, top: int = 5) -> dict[str, Any]:
        """Counts, episodes, ART categories and the most active traces (walks every trace)."""
        return summarise(self, namespace, top)

    def _repr_html_(self) -> str:
        return summary_html(self.summary())

    def namespaces(self) -> list[Namespace]:
        """Every namespace holding traces, as callers name them (one level as
        its string, more as a tuple of labels: :func:`.scopes.public`)."""
        return [public(ns) for ns in self.store.namespaces()]

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[Trace]:
        return self.traces()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "MemoryWeave":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryWeave({len(self)} traces, store={type(self.store).__name__})"

