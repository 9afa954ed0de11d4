"""Access logs in PostgreSQL: a row per trace used since its creation (none: unused).

Recording is one statement: it keeps the traces from being deleted meanwhile
(``FOR KEY SHARE``: concurrent recalls do not wait for each other) and
upserts in key order (no deadlock between concurrent recalls), adding the
uses and keeping the newest access times.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from ...activation import RECENT, AccessLog


def log(time: float, uses: int | None, recent: Sequence[float] | None) -> AccessLog:
    """The access log of a trace created at ``time`` from its ``access`` row
    (``uses`` and ``recent`` are None where it has none: never used)."""
    return AccessLog(first=time, count=1 + (uses or 0), recent=[float(x) for x in recent or ()])


def logs(q: Callable[[str, Sequence], list[tuple]], s: str, namespace: str, ids: list[str]) -> dict[str, AccessLog]:
    """The logs of the namespace's traces with these ids, by id; ids it does not hold are skipped."""
    return {
        r[0]: log(*r[1:])
        for r in q(
            f'SELECT t.id, t.time, a.uses, a.recent FROM "{s}".traces t LEFT JOIN "{s}".access a'
            " ON a.key = t.key WHERE t.namespace = %s AND t.id = ANY(%s)",
            (namespace, list(set(ids))),
        )
    }


def record_params(namespace: str, uses: Mapping[str, int], when: float) -> dict[str, Any]:
    return {"when": float(when), "ids": list(uses), "n": list(uses.values()), "ns": namespace}


def record_sql(s: str) -> str:
    """The statement adding ``uses[id]`` accesses at ``when`` to each trace of
    the namespace (parameters from :func:`record_params`; other ids are
    skipped): uses + n, and the RECENT newest of (recent + n copies of ``when``)."""
    return f"""
        WITH used AS (
            SELECT t.key, c.n FROM "{s}".traces t
            JOIN unnest(%(ids)s::text[], %(n)s::int[]) AS c(id, n) ON c.id = t.id AND t.namespace = %(ns)s
            ORDER BY t.key FOR KEY SHARE OF t
        )
        INSERT INTO "{s}".access AS a (key, uses, recent)
        SELECT key, n, array_fill(%(when)s::float8, ARRAY[least(n, {RECENT})]) FROM used ORDER BY key
        ON CONFLICT (key) DO UPDATE SET
            uses = a.uses + EXCLUDED.uses,
            recent = ARRAY(SELECT x FROM (SELECT x FROM unnest(a.recent || EXCLUDED.recent) AS x
                                          ORDER BY x DESC LIMIT {RECENT}) y ORDER BY x)
        """
