"""The PostgreSQL store's reads and writes on a recall's and an add's path, as plans.

``PostgresStore`` runs these on its connection and ``AsyncPostgres`` on a
pooled async one (see :mod:`.plan`): one SQL text per operation, whichever
executor sends it.  Each function takes the Postgres schema ``s`` first and
returns a plan; the row-to-object conversions live here too, so both
executors hand back the same Traces and Pools.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ...errors import CorruptStoreError
from ...filter_sql import to_postgres
from ...filters import Node
from ...lexical import candidate_terms, query_weights, tokenize
from ...pool import Pool, pool_order
from ...trace import Trace
from ..base import Live, Search, check_field, live_hits, one_namespace, pool_vector_damage, vector_dim, without
from ..codec import encode_state
from ..context import CONTEXT_KEYS, ContextRecord, admit, from_meta
from . import access, lifecycle, tokenids
from . import lexical as bm25
from . import schema as layout
from . import state as state_rows
from .filtering import where_named
from .plan import Plan, Stmt, rows
from .tokenids import Vocabularies

COLS = ("key, id, namespace, text, speaker, episode, position, time, metadata, category, content, context,"
        " version, supersedes, superseded_at, expires_at")


def vec(v: Any) -> np.ndarray:
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float32)


def vectors(blobs: Sequence[bytes], dim: int) -> np.ndarray:
    """Many vectors sent as ``vector_send(v)`` bytes (a 4-byte header, then
    ``dim`` big-endian float4), as one (n, dim) array: one numpy call, where
    pgvector's loader makes a Python object per vector on whichever thread
    fetches the rows, the event loop's under asyncio."""
    raw = np.frombuffer(b"".join(blobs), dtype=">f4").reshape(len(blobs), dim + 1)
    return raw[:, 1:].astype(np.float32)


def trace(row: tuple) -> Trace:
    """A Trace from a row of :data:`COLS`."""
    (_key, tid, ns, text, speaker, episode, position, time_, metadata, category, content, context,
     version, supersedes, superseded_at, expires_at) = row
    return Trace(
        id=tid, text=text, namespace=ns, speaker=speaker, episode=episode, position=position, time=time_,
        metadata=metadata, content=vec(content), context=vec(context),
        category=category, version=version, supersedes=supersedes, superseded_at=superseded_at, expires_at=expires_at,
    )


def meta(s: str, key: str) -> Plan[str | None]:
    found = yield from rows(f'SELECT value FROM "{s}".meta WHERE key = %s', (key,))
    return found[0][0] if found else None


def context_record(s: str, *, for_share: bool = False) -> Plan[ContextRecord | None]:
    """The schema's context record, its two keys read in one statement (so in one
    snapshot); ``for_share`` also locks them until the caller's transaction ends."""
    lock = " FOR SHARE" if for_share else ""
    found = yield from rows(f'SELECT key, value FROM "{s}".meta WHERE key = ANY(%s){lock}', (list(CONTEXT_KEYS),))
    held = dict(found)
    return from_meta(held.get("context_mode"), held.get("context_window"), f"schema {s!r}")


def set_meta(s: str, values: Sequence[tuple[str, str]]) -> Plan[None]:
    for key, value in values:
        yield Stmt(f'INSERT INTO "{s}".meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value',
                   (key, value))


def count(s: str, namespace: str | None) -> Plan[int]:
    if namespace is None:
        found = yield from rows(f'SELECT coalesce(sum(n), 0) FROM "{s}".nsstats')
        return int(found[0][0])
    found = yield from rows(f'SELECT n FROM "{s}".nsstats WHERE namespace = %s', (namespace,))
    return int(found[0][0]) if found else 0


def get(s: str, ids: Sequence[str], namespace: str) -> Plan[list[Trace]]:
    """The namespace's traces with these ids, in the given order; ids it does not hold are skipped."""
    ids = list(ids)
    if not ids:
        return []
    sql = f'SELECT {COLS} FROM "{s}".traces WHERE namespace = %s AND id = ANY(%s)'
    found = {r[1]: trace(r) for r in (yield from rows(sql, (namespace, ids)))}
    return [found[i] for i in ids if i in found]


def hidden(s: str, namespace: str, live: Live) -> Plan[set[str]]:
    cond, params = lifecycle.hidden_sql(live)
    found = yield from rows(
        f'SELECT id FROM "{s}".traces WHERE namespace = %s AND ({lifecycle.LIFECYCLE_ROWS}) AND {cond}',
        (namespace, *params))
    return {r[0] for r in found}


def nearest(s: str, namespace: str, searches: Sequence[Search], n: int, where: Node | None, *, ef_search: int,
            iterative: bool) -> Plan[list[list[tuple[str, float]]]]:
    """The ``n`` nearest of every search, in the caller's transaction: the
    HNSW settings once, then one statement holding every search.  A filter
    goes into the searches' WHERE; pgvector's iterative scan walks on past
    rows it rejects, and a search still short of the matching rows scans
    exactly.  The store's dimension must be known (an empty store has none)."""
    for field, _ in searches:
        check_field(field)  # before a field name goes into SQL
    if not searches or n <= 0:
        return [[] for _ in searches]
    settings = f"SET LOCAL hnsw.ef_search = {min(max(ef_search, n), 1000)}"
    if iterative:
        settings += "; SET LOCAL hnsw.iterative_scan = strict_order"
    cond, params = where_named(where)
    params.update({"ns": namespace, "n": n})
    parts = []
    for j, (field, vector) in enumerate(searches):
        params[f"q{j}"] = np.asarray(vector, dtype=np.float32)
        parts.append(
            f'(SELECT {j}, id, 1 - ({field} <=> %(q{j})s) FROM "{s}".traces WHERE namespace = %(ns)s'
            f" AND ({cond}) ORDER BY {field} <=> %(q{j})s LIMIT %(n)s)"
        )

    def search(which: list[int]) -> Plan[dict[int, list[tuple[str, float]]]]:
        found: dict[int, list[tuple[str, float]]] = {j: [] for j in which}
        for j, tid, sim in (yield from rows(" UNION ALL ".join(parts[j] for j in which), params, binary=False)):
            found[j].append((tid, float(sim)))
        return found

    yield Stmt(settings)
    found = yield from search(list(range(len(searches))))
    short = [j for j, hits in found.items() if len(hits) < n]
    if short:  # the graph walk ran out before n rows of this namespace: scan exactly
        if where is None:
            have = yield from count(s, namespace)
        else:
            have = (yield from rows(f'SELECT count(*) FROM "{s}".traces WHERE namespace = %(ns)s AND ({cond})',
                                    params, binary=False))[0][0]
        short = [j for j in short if len(found[j]) < min(n, have)]
        if short:
            yield Stmt("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = on")
            found.update((yield from search(short)))
            # inside a snapshot these would outlive this search: what it reads next plans freely
            yield Stmt("SET LOCAL enable_indexscan TO DEFAULT; SET LOCAL enable_bitmapscan TO DEFAULT")
    return [found[j] for j in range(len(searches))]


def lexical_stats(s: str, namespace: str, terms: Sequence[str]) -> Plan[tuple[int, float, dict[str, int]]]:
    found = yield from rows(bm25.stats_sql(s), (list(set(terms)), namespace))
    if not found:
        return 0, 0.0, {}
    n, total = found[0][:2]
    return n, total / max(n, 1), {term: df for _, _, term, df in found if term is not None}


def lexical(s: str, namespace: str, terms: Sequence[str], n: int, where: Node | None,
            budget: int) -> Plan[list[tuple[str, float]]]:
    """The top ``n`` by BM25 of every query word among the texts holding one
    of the :func:`~memoryweave_core.lexical.candidate_terms`, best first,
    ties by insertion order."""
    terms = list(terms)
    if not terms or n <= 0:
        return []
    n_docs, avg, df = yield from lexical_stats(s, namespace, terms)
    weights = query_weights(terms, n_docs, df)
    if not weights:
        return []
    use = candidate_terms(weights, df, budget)
    wt = list(weights)
    cond, params = where_named(where)
    found = yield from rows(
        bm25.search_sql(s, cond),
        {**params, "avg": max(avg, 1e-9), "ns": namespace, "tsq": bm25.tsquery(use), "terms": wt,
         "w": [weights[t] for t in wt], "n": n},
    )
    return [(i, float(score)) for i, score in found]


def pool(s: str, namespace: str, ids: Sequence[str], radius: int, where: Node | None, dim: int | None,
         vocabs: Vocabularies) -> Plan[Pool]:
    """Columns straight from the rows, without text and metadata (no Trace
    objects: parsing every candidate's metadata cost more than scoring it);
    tokens as ids over the store's vocabulary of the namespace (``vocabs``)."""
    if not ids or dim is None:
        return Pool.empty(dim)
    traces = f'"{s}".traces'
    cond, cond_params = to_postgres(where, alias="t")
    found = yield from rows(
        f"WITH f AS (SELECT key, episode, position FROM {traces} WHERE namespace = %s AND id = ANY(%s))"
        " SELECT t.id, t.speaker, t.episode, t.position, t.time, t.category, t.tok_ids, vector_send(t.content),"
        f' vector_send(t.context), a.uses, a.recent, (SELECT nsid FROM "{s}".nsstats WHERE namespace = %s)'
        f' FROM {traces} t LEFT JOIN "{s}".access a ON a.key = t.key'
        f" WHERE t.key IN (SELECT key FROM f UNION ALL SELECT n.key FROM f JOIN {traces} n"
        " ON n.namespace = %s AND n.episode = f.episode AND n.position BETWEEN f.position - %s AND f.position + %s)"
        f" AND ({cond})",
        (namespace, list(ids), namespace, namespace, radius, radius, *cond_params),
    )
    if not found:
        return Pool.empty(dim)
    found = [found[i] for i in pool_order(ids, [r[0] for r in found], [r[2] for r in found], [r[3] for r in found])]
    tid, speakers, episodes, positions, times, categories, cells, content, context, uses, recent, nsid = zip(*found)
    tokens = yield from vocabs.rows(s, namespace, nsid[0], cells)
    content_vectors, context_vectors = vectors(content, dim), vectors(context, dim)
    damage = pool_vector_damage(tid, content_vectors, context_vectors)
    if damage:
        raise CorruptStoreError(f"schema {s!r}: {damage}")
    return Pool.from_columns(
        tid, speakers, episodes, positions, times, categories, tokens,
        content_vectors, context_vectors, [access.log(*row) for row in zip(times, uses, recent)], dim,
    )


def candidates(s: str, namespace: str, searches: Sequence[Search], terms: Sequence[str], n: int, radius: int,
               where: Node | None, live: Live | None, *, dim: int, ef_search: int, iterative: bool,
               budget: int, vocabs: Vocabularies) -> Plan[Pool]:
    """:meth:`~memoryweave_core.storage.base.Store.candidates` as one plan, in
    the order of :func:`~memoryweave_core.storage.base.gather_candidates`;
    runs in a transaction (the HNSW settings are local to it)."""
    hide = (yield from hidden(s, namespace, live)) if live is not None else set()
    m = n + len(hide)
    found = yield from nearest(s, namespace, searches, m, where, ef_search=ef_search, iterative=iterative)
    if terms:
        found.append((yield from lexical(s, namespace, terms, m, where, budget)))
    asked = yield from pool(s, namespace, list(live_hits(found, hide, n)), radius, where, dim, vocabs)
    return without(asked, hide)


def record_access(s: str, namespace: str, uses: Mapping[str, int], when: float) -> Plan[None]:
    """:func:`.access.record_sql`'s one statement."""
    yield Stmt(access.record_sql(s), access.record_params(namespace, uses, when))


def add(s: str, ready: Rows, new_dim: tuple[int, int] | None, before: Plan[None] | None = None,
        context: ContextRecord | None = None) -> Plan[None]:
    """Insert an add's rows with their BM25 statistics and engine state in
    the caller's transaction, after ``before`` when given; ``new_dim``
    (m, ef_construction) fixes the dimension and builds the HNSW indexes on
    the store's first add; with ``context``, only where the store's record
    admits it (:func:`admit_context`)."""
    if context is not None:
        yield from admit_context(s, context)
    if before is not None:
        yield from before
    if new_dim is not None:
        yield from layout.ensure_dim(s, ready.dim, *new_dim)
    nsids = yield from bm25.bump_stats(s, ready.stats, ready.df, +1)
    cells = yield from tokenids.encode(nsids, [r[1] for r in ready.traces], ready.tokens, s)
    yield Stmt(
        f'INSERT INTO "{s}".traces (id, namespace, text, speaker, episode, position, time, metadata,'
        " category, toks, ntokens, terms, content, context, version, supersedes, superseded_at, expires_at, tok_ids)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, array_to_tsvector(%s::text[]), %s, %s,"
        " %s, %s, %s, %s, %s)",
        [(*row, cell) for row, cell in zip(ready.traces, cells)], many=True,
    )
    for key, text, arrays in ready.states:
        yield from state_rows.save(s, ready.namespace, key, text, arrays)


def admit_context(s: str, context: ContextRecord) -> Plan[None]:
    """:func:`..context.admit` in the caller's transaction, where writers of
    other processes interleave.  A matching record is read ``FOR SHARE``:
    writes of one mode go on side by side, and none can change the record
    before they commit.  Otherwise the record is overwritten first (which
    waits for every write holding it), and only then, in a snapshot taken
    after those writes committed, is the store checked for traces: if it
    holds any, the error rolls the overwrite back."""
    record = yield from context_record(s, for_share=True)
    if record == context:
        return
    yield from set_meta(s, context.meta())
    holds = yield from rows(f'SELECT EXISTS (SELECT 1 FROM "{s}".traces)')
    admit(record, context, lambda: bool(holds[0][0]))


def delete(s: str, namespace: str, ids: Sequence[str]) -> Plan[int]:
    """Delete these traces of one namespace with their BM25 statistics, in the
    caller's transaction; a namespace left empty loses its engine state too,
    as in MemoryStore.  Returns how many rows went."""
    gone = yield from rows(f'DELETE FROM "{s}".traces WHERE namespace = %s AND id = ANY(%s) RETURNING namespace, toks',
                           (namespace, list(ids)), binary=False)
    if not gone:
        return 0
    stats, df = bm25.stats_rows([(ns, list(tk)) for ns, tk in gone])
    yield from bm25.bump_stats(s, stats, df, -1)
    emptied = yield from rows(
        f'DELETE FROM "{s}".nsstats WHERE namespace = ANY(%s) AND n <= 0 RETURNING namespace, nsid', (sorted(stats),),
        binary=False)
    if emptied:
        names = [r[0] for r in emptied]
        yield Stmt(f'DELETE FROM "{s}".state WHERE namespace = ANY(%s)', (names,))
        yield Stmt(f'DELETE FROM "{s}".state_arrays WHERE namespace = ANY(%s)', (names,))
        yield from tokenids.drop(s, [r[1] for r in emptied])
    return len(gone)


def set_expiry(s: str, namespace: str, ids: Sequence[str], expires_at: float | None) -> Plan[int]:
    """Set the expiry of these traces of one namespace (one statement); returns how many exist."""
    changed = yield Stmt(f'UPDATE "{s}".traces SET expires_at = %s WHERE namespace = %s AND id = ANY(%s)',
                         (expires_at, namespace, list(ids)))
    return int(changed)


@dataclass(frozen=True)
class Rows:
    """What an add writes, computed once before its transaction (which may be retried)."""

    traces: list[tuple]
    tokens: list[list[str]]  # each trace's, for its token ids (interned in the transaction)
    stats: dict[str, list[int]]
    df: Counter
    states: list[tuple[str, str, list]]  # (key, doc, arrays)
    namespace: str
    dim: int


def rows_of(traces: Sequence[Trace], states: Mapping[str, dict], dim: int | None) -> Rows:
    """The rows, BM25 statistics and encoded engine state of an add (checks
    the vectors' dimension against ``dim``, the store's, when known)."""
    encoded = [(key, *encode_state(key, state)) for key, state in states.items()]
    namespace = one_namespace(traces) if encoded else ""
    dim = vector_dim(traces, dim)
    toks = [tokenize(t.text) for t in traces]
    out = [
        (t.id, t.namespace, t.text, t.speaker, t.episode, int(t.position), float(t.time), json.dumps(dict(t.metadata)),
         t.category, tk, len(tk), tk, np.asarray(t.content, np.float32), np.asarray(t.context, np.float32),
         int(t.version), t.supersedes, t.superseded_at, t.expires_at)
        for t, tk in zip(traces, toks)
    ]
    stats, df = bm25.stats_rows([(t.namespace, tk) for t, tk in zip(traces, toks)])
    return Rows(out, toks, stats, df, encoded, namespace, dim)
