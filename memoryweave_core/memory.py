"""MemoryWeave: the public face of the engine.

Ties the pieces together: remembering (:mod:`.ingest`), updates and expiry
(:mod:`.lifecycle`), the async twins (:mod:`.asyncio_api`), and here recall
through the retrieval pipeline, forgetting and inspection.  One re-entrant lock serialises writers and readers of
one MemoryWeave object; stores add their own locking for sharing a file or
a server between processes.
"""

from __future__ import annotations

import os
import time as _time
from dataclasses import dataclass, replace
from typing import IO, Any, Callable, Iterable, Iterator, Sequence, cast

import numpy as np

from . import transfer
from .activation import base_levels
from .art import ART2A
from .asyncio_api import AsyncMemoryMixin
from .config import RecallConfig
from .encoder import MemoryEncoder
from .engine_lock import EngineLock
from .errors import DimensionMismatchError, InvalidInputError, TraceNotFoundError
from .filters import parse_filter
from .ingest import IngestMixin
from .lifecycle import LifecycleMixin, live, visible
from .names import NameIndex
from .prompt import MinRelevance
from .recall_call import RecallCall
from .recollection import RecallResult
from .retrieval import FeatureTable, Query, Retriever, names_in, strip_names
from .scopes import Namespace, public
from .span import recall_spaces, spaces_under, speakers_under
from .storage.base import Store
from .storage.context import settle
from .storage.memory import MemoryStore
from .summary import summarise, summary_html
from .timeutil import to_timestamp
from .trace import (
    Trace,
    check_label,
    check_namespace,
    check_text,
    check_vectors,
    is_storable_id,
)


@dataclass(frozen=True)
class Category:
    """An ART category of one namespace, for inspection."""

    id: int
    size: int
    label: str  # text of the most typical member (closest to the prototype)
    members: tuple[str, ...]  # trace ids


class MemoryWeave(IngestMixin, LifecycleMixin, AsyncMemoryMixin):
    """Long-term memory: remember text with its context, recall what matters now.

    Parameters
    ----------
    path : str or Path, optional
        A SQLite file to keep memories in across restarts (``~`` is
        expanded; the folder must exist); in memory when None or
        ``":memory:"``.
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
        path: str | os.PathLike[str] | None = None,
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
            if path is None or path == ":memory:":  # SQLite's name for a database in RAM
                store = MemoryStore()
            else:
                from .storage.sqlite import SQLiteStore

                store = SQLiteStore(path)
        self.store = store
        if embedding_dim is not None and store.dim not in (None, embedding_dim):
            if opened:
                store.close()
            raise DimensionMismatchError(f"embedding_dim={embedding_dim} but the store holds {store.dim}-d vectors")
        try:  # the store's context vectors and this memory's are made the same way, or it is refused
            #: how this memory makes context vectors: every write checks the store still agrees
            self._context_record = settle(store, self.encoder.effective_mode, self.config.context_window)
        except BaseException:
            if opened:
                store.close()
            raise
        self.clock = clock or _time.time
        self._arts: dict[str, ART2A] = {}
        self._names: dict[str, NameIndex] = {}
        self._lock = EngineLock()

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
        min_relevance: MinRelevance = None,
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
        ``k``, or nothing: "nothing relevant" is an answer.  With a threshold
        above 0 it also returns nothing when the memory probably holds no
        evidence for the query at all (``answerable`` below
        ``answerable.ANSWERABLE_FLOOR``).  ``"auto"`` is the prompt-facing
        adapters' threshold, ``relevance.PROMPT_MIN_RELEVANCE``, where the
        memory embeds with the model relevance was calibrated for, and none
        otherwise; by default none applies.

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
        held_in = (spaces_under(self, call.namespace) if call.include_descendants
                   else {call.namespace: self.store.count(call.namespace)})
        return recall_spaces(self, call, held_in)

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

    def export_jsonl(self, file: str | os.PathLike | IO[str], namespaces: Sequence[Namespace] | None = None, *,
                     vectors: bool = False) -> int:
        """Write every current memory (of ``namespaces``, default all) as a JSON
        line that :meth:`import_jsonl` and ``memoryweave import`` read back;
        ``vectors`` adds each content vector, so the import needs no model.
        ``file`` is a path (written whole or not at all) or an open text file.
        Returns how many memories were written (:mod:`.transfer`)."""
        return transfer.export_jsonl(self, file, namespaces, vectors=vectors)

    def import_jsonl(self, file: str | os.PathLike | IO[str] | Iterable[str], *,
                     namespace: Namespace | None = None, progress: bool = False) -> list[Trace]:
        """Remember the lines :meth:`export_jsonl` writes (or any JSONL of
        turns: ``text``, ``speaker``, ``episode``, ``time``, ``metadata``,
        ``id``), every line checked before anything is written, each
        namespace in one transaction; ``namespace`` puts them all in one;
        ``progress`` shows a bar over the texts embedded (as ``add_many``)."""
        return transfer.import_jsonl(self, file, namespace, progress=progress)

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

