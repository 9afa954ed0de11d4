"""BM25 in PostgreSQL: the statistics tables kept in step with writes, and the scoring query.

Scores are :class:`~memoryweave_core.lexical.BM25Index`'s formula computed in
SQL (``ts_rank`` is not BM25 and would make the lexical feature mean
something else here): candidates come from the GIN index for the words that
:func:`~memoryweave_core.lexical.candidate_terms` lets bring them, and every
query word scores every candidate.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from ...lexical import bm25_sql
from .plan import Plan, Stmt, rows


def stats_rows(ns_tokens: list[tuple[str, list[str]]]) -> tuple[dict[str, list[int]], Counter]:
    """Per namespace (rows, tokens), and per (namespace, term) the rows holding it."""
    stats: dict[str, list[int]] = {}
    df: Counter = Counter()
    for ns, toks in ns_tokens:
        s = stats.setdefault(ns, [0, 0])
        s[0] += 1
        s[1] += len(toks)
        df.update((ns, t) for t in set(toks))
    return stats, df


def bump_stats(s: str, stats: dict[str, list[int]], df: Counter, sign: int) -> Plan[dict[str, int]]:
    """Update BM25 statistics in a fixed lock order (namespaces sorted, then
    their terms sorted), so concurrent writers queue instead of deadlocking.
    Each namespace's ``nsstats`` row stays locked until the transaction ends
    (its vocabulary's writes rely on it); returns the namespaces' ``nsid``."""
    nsids: dict[str, int] = {}
    for ns in sorted(stats):
        n, total = stats[ns]
        found = yield from rows(
            f'INSERT INTO "{s}".nsstats AS s (namespace, n, total_len) VALUES (%s, %s, %s) ON CONFLICT (namespace)'
            " DO UPDATE SET n = s.n + EXCLUDED.n, total_len = s.total_len + EXCLUDED.total_len RETURNING nsid",
            (ns, sign * n, sign * total), binary=False,
        )
        nsids[ns] = int(found[0][0])
    items = sorted(df.items())
    if not items:
        return nsids
    nss = [k[0] for k, _ in items]
    terms = [k[1] for k, _ in items]
    counts = [sign * c for _, c in items]
    yield Stmt(
        f'INSERT INTO "{s}".terms AS t SELECT * FROM unnest(%s::text[], %s::text[], %s::int[]) ORDER BY 1, 2'
        " ON CONFLICT (namespace, term) DO UPDATE SET df = t.df + EXCLUDED.df",
        (nss, terms, counts),
    )
    if sign < 0:
        yield Stmt(f'DELETE FROM "{s}".terms WHERE namespace = ANY(%s) AND df <= 0', (sorted(stats),))
    return nsids


def tsquery(terms: Sequence[str]) -> str:
    return " | ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)


def stats_sql(s: str) -> str:
    """(n, total length, term, df) of a namespace and the terms ``%s`` (then the namespace ``%s``)."""
    return (f'SELECT s.n, s.total_len, t.term, t.df FROM "{s}".nsstats s LEFT JOIN "{s}".terms t'
            " ON t.namespace = s.namespace AND t.term = ANY(%s) AND t.df > 0 WHERE s.namespace = %s")


def search_sql(s: str, where: str = "true") -> str:
    """The top ``%(n)s`` ids by BM25 (parameters ``avg``, ``ns``, ``tsq``, ``terms``, ``w``, ``n``,
    and those of the filter condition ``where``), best first, ties by insertion order.  array_positions counts a word's
    occurrences in C, without unnesting the tokens for every (text, word)."""
    return f"""
        SELECT m.id, sum({bm25_sql("x.tf", "m.ntokens", "%(avg)s", "q.w")}) AS score
        FROM (SELECT key, id, toks, ntokens FROM "{s}".traces
              WHERE namespace = %(ns)s AND terms @@ %(tsq)s::tsquery AND ({where})) m
        CROSS JOIN unnest(%(terms)s::text[], %(w)s::float8[]) AS q(term, w)
        CROSS JOIN LATERAL (SELECT cardinality(array_positions(m.toks, q.term)) AS tf) x
        WHERE x.tf > 0
        GROUP BY m.key, m.id ORDER BY score DESC, m.key LIMIT %(n)s
        """
