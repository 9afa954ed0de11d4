"""Recall over every namespace under a prefix (``include_descendants=True``),
or over namespaces a caller lists (:func:`recall_across`).

All runs of one user, ``("alice",)``, are many stored namespaces
(:mod:`.scopes`).  Recall gathers each one's candidates through the store's
ordinary per-namespace search (so every backend, filter and live-version rule
applies unchanged, and no trace of a namespace outside the prefix can even be
read), merges them into one pool and ranks that pool once: scores are
comparable because they are normalised across one pool, not per namespace.

Each namespace's pool holds that namespace's best ``n`` for every search
(nearest content, context and topic vectors, BM25) with their episode
neighbours, so the merged pool holds every search's global best ``n``.  The
merged pool is trimmed to exactly those and their neighbours before the
pathways run: the pool then is the one a single namespace holding all the
traces would have handed over, and its size (some pathways compare every
pair of candidates) stops growing with the number of namespaces.

Merging keeps what makes the pathways honest across namespaces: episodes
stay apart (two namespaces may both hold an ``episode-1``), ART categories
are offset per namespace with their prototypes stacked, and the BM25
statistics are those of the union.  Ids are not assumed unique across
namespaces: rows are read back per namespace.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import InvalidInputError
from .lexical import bm25_scores, query_weights
from .names import NameIndex
from .pathways.registry import LexicalStats
from .pool import Labels, Pool
from .recall_call import RecallCall
from .recollection import RecallResult, Recollection
from .retrieval import Query, Retriever
from .scopes import Namespace, decode, is_under, public
from .trace import Trace, check_namespace
from .vocab import TokenRows

if TYPE_CHECKING:
    from .memory import MemoryWeave


def spaces_under(memory: "MemoryWeave", prefix: str) -> dict[str, int]:
    """The stored namespaces at or under the stored namespace ``prefix`` that
    hold traces, with how many each holds (what a recall is capped by)."""
    labels = decode(prefix)
    held = {ns: memory.store.count(ns) for ns in memory.store.namespaces() if is_under(ns, labels)}
    return {ns: n for ns, n in held.items() if n}


def speakers_under(memory: "MemoryWeave", spaces: Sequence[str]) -> NameIndex:
    """The speaker names known in any of the namespaces."""
    if len(spaces) == 1:
        return memory._speakers(spaces[0])
    names: set[str] = set()
    for ns in spaces:
        names |= set(memory._speakers(ns))
    return NameIndex(names)


def merge(pools: Sequence[Pool], category_offsets: Sequence[int | None]) -> Pool:
    """One pool of several namespaces' pools, in order.  Episode labels get
    their pool's index (so no two namespaces share an episode) and categories
    their namespace's offset into the stacked prototypes (-1 where none)."""
    cats = [
        np.where(p.categories >= 0, p.categories + off, -1) if off is not None else np.full(len(p), -1)
        for p, off in zip(pools, category_offsets)
    ]
    return Pool(
        ids=np.concatenate([p.ids for p in pools]),
        speaker=Labels.concat([p.speaker for p in pools]),
        episode=Labels.concat([p.episode for p in pools], [f"{j}:" for j in range(len(pools))]),
        positions=np.concatenate([p.positions for p in pools]),
        times=np.concatenate([p.times for p in pools]),
        categories=np.concatenate(cats).astype(np.int64),
        tokens=TokenRows.concat([p.tokens for p in pools]),
        content=np.concatenate([p.content for p in pools]),
        context=np.concatenate([p.context for p in pools]),
        first_access=np.concatenate([p.first_access for p in pools]),
        access_count=np.concatenate([p.access_count for p in pools]),
        recent_access=np.concatenate([p.recent_access for p in pools]),
    )


def union_stats(stats: Sequence[LexicalStats]) -> LexicalStats:
    """BM25 statistics of the union of namespaces: documents add up, lengths average, frequencies add up."""
    n = sum(s[0] for s in stats)
    avg = sum(s[0] * s[1] for s in stats) / n if n else 0.0
    df: dict[str, int] = {}
    for s in stats:
        for term, count in s[2].items():
            df[term] = df.get(term, 0) + count
    return n, avg, df


def first_round(pool: Pool, query: Query, terms: Sequence[str], n: int, radius: int,
                stats: LexicalStats | None) -> list[int]:
    """The rows of a merged pool that a single namespace's candidate search would
    return: each search's best ``n`` (as the stores rank: cosine, BM25 over
    ``stats``), then their episode neighbours within ``radius``, in pool order."""
    scores = [getattr(pool, field) @ vector for field, vector in Retriever.searches(query)]
    if terms and stats is not None:
        bm25 = bm25_scores(pool.tokens, query_weights(terms, stats[0], stats[2]), stats[1])
        scores.append(np.where(bm25 > 0, bm25, -np.inf))  # BM25 finds only traces holding a query word
    keep: set[int] = set()
    for s in scores:
        best = np.argsort(-s, kind="stable")[:n]
        keep.update(int(r) for r in best if np.isfinite(s[r]))
    slot = {(e, int(p)): r for r, (e, p) in enumerate(zip(pool.episodes, pool.positions)) if e is not None}
    for r in list(keep):
        ep, pos = pool.episodes[r], int(pool.positions[r])
        if ep is not None:
            keep.update(slot[(ep, pos + d)] for d in range(-radius, radius + 1) if (ep, pos + d) in slot)
    return sorted(keep)


def recall_under(
    memory: "MemoryWeave", retriever: Retriever, query: Query, spaces: Sequence[str], wanted: int, *,
    explain: bool,
) -> list[Recollection]:
    """The best ``wanted`` of the namespaces ``spaces``, ranked once over their merged
    candidates (the caller holds the memory's lock and the store's snapshot)."""
    terms = retriever.terms(query)
    pools: list[Pool] = []
    offsets: list[int | None] = []
    protos: list[np.ndarray] = []
    rows_of: list[str] = []  # the stored namespace of each merged row
    total = 0
    for ns in spaces:
        pool = retriever.candidates(replace(query, namespace=ns), terms)
        art = memory._art(ns)
        if art.n_categories_:
            offsets.append(total)
            protos.append(art.prototypes_)
            total += len(art.prototypes_)
        else:
            offsets.append(None)
        pools.append(pool)
        rows_of.extend([ns] * len(pool))
    merged = merge(pools, offsets)
    stats = union_stats([memory.store.lexical_stats(ns, terms) for ns in spaces]) if terms else None
    cfg = retriever.config
    rows = first_round(merged, query, terms, cfg.candidates, cfg.neighbour_radius, stats)
    if len(rows) < len(merged):
        merged = merged.take(rows)
        rows_of = [rows_of[r] for r in rows]
    table = retriever.table(
        query, terms, merged,
        lambda t: stats if stats is not None and list(t) == terms else union_stats(
            [memory.store.lexical_stats(ns, t) for ns in spaces]),
        np.concatenate(protos) if protos else None,
    )

    def read(rows: list[int]) -> dict[int, Trace]:
        out: dict[int, Trace] = {}
        by_ns: dict[str, list[int]] = {}
        for r in rows:
            by_ns.setdefault(rows_of[r], []).append(r)
        for ns, group in by_ns.items():
            found = {t.id: t for t in memory.store.get([table.ids[r] for r in group], ns)}
            out.update({r: found[table.ids[r]] for r in group if table.ids[r] in found})
        return out

    ranked = retriever.rank(table, wanted, explain=explain)
    return ranked.at_rows(read(ranked.order))


def record_access(memory: "MemoryWeave", found: Sequence[Recollection], now: float) -> None:
    """Count recalled traces as used, namespace by namespace."""
    by_ns: dict[str, list[str]] = {}
    for r in found:
        by_ns.setdefault(r.trace.namespace, []).append(r.trace.id)
    for ns, ids in by_ns.items():
        memory.store.record_access(ids, now, ns)


def recall_spaces(memory: "MemoryWeave", call: RecallCall, held_in: Mapping[str, int]) -> RecallResult:
    """Run a checked recall over the stored namespaces ``held_in`` (with how
    many traces each holds): one namespace ranks alone, a span ranks its
    merged candidates once.  What ``MemoryWeave.recall`` and :func:`recall_across` share."""
    spaces, held = list(held_in), sum(held_in.values())
    if held == 0:
        return RecallResult()
    call = call.capped(held)
    request = call.request(memory, spaces)
    with memory._lock:
        retriever = call.retriever(memory.store)
        with memory.store.snapshot():  # candidates and winners from one state, however others write
            if call.include_descendants:
                found = recall_under(memory, retriever, request, spaces, call.wanted, explain=call.explain)
            else:
                art = memory._art(call.namespace)
                found = retriever.recall(request, call.wanted, prototypes=art.prototypes_ if art.n_categories_
                                         else None, explain=call.explain)
        found = call.keep(found)
        if call.record_access and found:
            record_access(memory, found, call.now)
    return RecallResult(found)


def recall_across(memory: "MemoryWeave", query: str, k: int = 5, *, namespaces: Iterable[Namespace],
                  **kwargs: Any) -> RecallResult:
    """Recall over exactly the namespaces listed (not those below them), ranked
    once as one pool, with ``MemoryWeave.recall``'s other keyword arguments.

    For callers that choose the namespaces themselves, where no one prefix
    says which: the LangGraph store's search under an empty prefix ranks every
    user's items together but none of its un-indexed ones.  Reaching across
    users is the caller's decision here, so this is not ``MemoryWeave.recall``."""
    for fixed in ("namespace", "include_descendants"):
        if fixed in kwargs:
            raise InvalidInputError(f"recall_across takes namespaces=, not {fixed}=")
    if isinstance(namespaces, (str, tuple)):
        raise InvalidInputError("namespaces is a list of namespaces: wrap a single one in a list")
    stored = list(dict.fromkeys(check_namespace(ns) for ns in namespaces))
    call = RecallCall.check(memory, query, k, namespace=public(stored[0]) if stored else "default",
                            include_descendants=True, **kwargs)
    held = {ns: memory.store.count(ns) for ns in stored}
    return recall_spaces(memory, call, {ns: n for ns, n in held.items() if n})
