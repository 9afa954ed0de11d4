"""Engine state in PostgreSQL: a jsonb document plus raw ``bytea`` arrays with dtype and shape (never pickle)."""

from __future__ import annotations

from typing import Callable, Sequence

from ...errors import StoreError
from ..codec import decode_array
from .plan import Plan, Stmt, rows


def load(q: Callable[[str, Sequence], list[tuple]], s: str, namespace: str, key: str) -> dict | None:
    """The state of a live namespace (``q(sql, params)`` runs a query)."""
    rows = q(
        f'SELECT s.doc FROM "{s}".state s JOIN "{s}".nsstats n ON n.namespace = s.namespace'
        " WHERE s.namespace = %s AND s.key = %s AND n.n > 0",
        (namespace, key),
    )
    if not rows:
        return None
    state = dict(rows[0][0])
    for name, dtype, shape, data in q(
        f'SELECT name, dtype, shape, data FROM "{s}".state_arrays WHERE namespace = %s AND key = %s', (namespace, key)
    ):
        state[name] = decode_array(name, dtype, shape, data, StoreError)
    return state


def save(s: str, namespace: str, key: str, doc: str, arrays: list[tuple[str, str, str, bytes]]) -> Plan[None]:
    """Write the state inside the caller's transaction, unless the namespace holds no traces."""
    live = yield from rows(f'SELECT n FROM "{s}".nsstats WHERE namespace = %s FOR SHARE', (namespace,), binary=False)
    if not live or live[0][0] <= 0:  # as MemoryStore: state lives with a namespace's traces
        return
    yield Stmt(
        f'INSERT INTO "{s}".state VALUES (%s, %s, %s::jsonb) ON CONFLICT (namespace, key) DO UPDATE SET doc = EXCLUDED.doc',
        (namespace, key, doc),
    )
    yield Stmt(f'DELETE FROM "{s}".state_arrays WHERE namespace = %s AND key = %s', (namespace, key))
    yield Stmt(f'INSERT INTO "{s}".state_arrays VALUES (%s, %s, %s, %s, %s::jsonb, %s)',
               [(namespace, key, *a) for a in arrays], many=True)
