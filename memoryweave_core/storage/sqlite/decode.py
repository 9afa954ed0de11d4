"""Rows of the traces and access tables into Traces, access logs and Pools.

Every cell is checked against the type its column must hold, a column at a
time (one recall decodes hundreds of rows; a pool's columns mostly by the
conversions that read them), so a tampered file gives
:class:`CorruptStoreError` here and never a stray error further on.
"""

from __future__ import annotations

from array import array
from operator import itemgetter
from typing import Any, Sequence

import numpy as np

from ...activation import RECENT, AccessLog, log_columns
from ...filters import Node
from ...pool import Labels, Pool, object_array, pool_order
from ...trace import Trace
from ...vocab import TokenRows
from ..base import pool_vector_damage
from .connection import SQL_CHUNK, Database, chunks, marks
from .matching import where_sql
from .tokenids import StoredVocabulary
from .vcache import VectorCache

#: Columns of a trace, in the order :func:`traces` reads them.
COLS = ("key, id, text, speaker, episode, position, time, metadata, category, content, context,"
        " version, supersedes, superseded_at, expires_at")
#: Columns of a pool row (trace and access log), in the order :func:`pool` reads them.
POOL_COLS = ("t.key, t.id, t.speaker, t.episode, t.position, t.time, t.category, t.tok_ids, t.content, t.context,"
             " a.first, a.count, a.recent")
#: ``POOL_COLS`` with the vectors left to a :class:`~.vcache.VectorCache` (its rows hold NULL there).
POOL_COLS_CACHED = POOL_COLS.replace("t.content, t.context", "NULL, NULL")
#: Where the vectors are in a pool row.
VECTORS = slice(8, 10)

_NONE = type(None)
_NUMBERS = {float, int}  # (not bool: JSON's true is no time)
#: The types a readable cell of each checked column may hold (vectors must also be ``dim`` float32).
CELL_TYPES: dict[str, set[type]] = {
    "key": {int}, "id": {str}, "text": {str}, "speaker": {str, _NONE}, "episode": {str, _NONE}, "position": {int},
    "time": {float, int}, "category": {int, _NONE}, "tokens": {str}, "tok_ids": {bytes}, "content": {bytes}, "context": {bytes},
    "first": {float, int, _NONE}, "count": {int, _NONE}, "recent": {str, _NONE},
    "version": {int}, "supersedes": {str, _NONE}, "superseded_at": {float, int, _NONE}, "expires_at": {float, int, _NONE},
}


def names(columns: str) -> list[str]:
    """Bare column names of a SELECT list: "t.key, a.first" -> ["key", "first"]."""
    return [c.strip().split(".")[-1] for c in columns.split(",")]


def check_cells(db: Database, dim: int | None, rows: Sequence[tuple], columns: list[str]) -> list[tuple]:
    """Check every cell of rows whose columns are ``columns`` against
    ``CELL_TYPES``; returns the columns."""
    cols = list(zip(*rows))
    size = 4 * (dim or 0)
    for column, name in enumerate(columns):
        types = CELL_TYPES.get(name)
        if types is None:
            continue
        vector = name in ("content", "context")
        if set(map(type, cols[column])) <= types and (not vector or set(map(len, cols[column])) == {size}):
            continue
        bad = next(row for row in rows if type(row[column]) not in types or (vector and len(row[column]) != size))
        raise db.corrupt(f"trace row {bad[0]!r} has an unreadable {name} (vectors are {dim} float32)")
    return cols


def traces(db: Database, dim: int | None, rows: Sequence[tuple], namespaces: Sequence[str]) -> list[Trace]:
    """Traces from rows that start with ``COLS``, every cell checked."""
    if not rows:
        return []
    check_cells(db, dim, rows, names(COLS))
    return [
        Trace(
            id=tid,
            text=text,
            namespace=namespace,
            speaker=speaker,
            episode=episode,
            position=position,
            time=float(time),
            metadata=db.json(metadata, f"metadata of trace {tid!r}", dict),
            content=np.frombuffer(content, dtype=np.float32),
            context=np.frombuffer(context, dtype=np.float32),
            category=category,
            version=version,
            supersedes=supersedes,
            superseded_at=None if superseded_at is None else float(superseded_at),
            expires_at=None if expires_at is None else float(expires_at),
        )
        for (_, tid, text, speaker, episode, position, time, metadata, category, content, context,
             version, supersedes, superseded_at, expires_at, *_), namespace
        in zip(rows, namespaces)
    ]


def access_log(db: Database, tid: str, first: Any, count: Any, recent: Any) -> AccessLog:
    """An access row's log, its cells checked."""
    times = db.json(recent, f"access log of {tid!r}", list)
    if type(first) not in (float, int) or type(count) is not int or not set(map(type, times)) <= _NUMBERS:
        raise db.corrupt(f"access log of {tid!r} has cells of the wrong type")
    return AccessLog(first=float(first), count=count, recent=list(map(float, times)))


def pool_sql(count: int, neighbours: bool, where: str = "1", columns: str = POOL_COLS) -> str:
    """The pool's query for ``count`` keys (parameters: the keys, the
    namespace id, then, with ``neighbours``, the radius twice, the keys and
    the namespace id again, then those of the filter condition ``where``
    over ``t``, which every row, asked or neighbour, must meet).  ``NOT INDEXED`` keeps the first-round rows to
    key lookups: without ANALYZE statistics (a store just built) the planner
    would rather scan the namespace's whole episode index for them."""
    wanted = f"SELECT key FROM traces WHERE key IN ({marks(count)}) AND ns = ?"
    if neighbours:
        wanted += (
            " UNION ALL SELECT n.key FROM traces f NOT INDEXED JOIN traces n ON n.ns = f.ns AND n.episode = f.episode"
            f" AND n.position BETWEEN f.position - ? AND f.position + ? WHERE f.key IN ({marks(count)}) AND f.ns = ?"
        )
    return f"SELECT {columns} FROM traces t LEFT JOIN access a ON a.key = t.key WHERE t.key IN ({wanted}) AND ({where})"


def pool(db: Database, dim: int | None, nsid: int, keys: list[int], radius: int, vocab: StoredVocabulary,
         where: Node | None = None, cache: VectorCache | None = None) -> Pool:
    """Columns straight from the rows (no Trace objects, no metadata JSON)
    of these keys and their neighbours matching ``where``, in one query per chunk of keys.
    The neighbours' keys come from the covering (ns, episode, position)
    index alone; keys of other namespaces or deleted rows find nothing.
    With a ``cache``, the vectors come from it (and the rows it misses from one more query)."""
    keys = list(dict.fromkeys(keys))
    rows: dict[int, tuple] = {}
    cond, cond_params = where_sql(where)
    for part in chunks(keys, max(SQL_CHUNK // 2 - len(cond_params), 1)):
        params = [*part, nsid] + ([radius, radius, *part, nsid] if radius else []) + cond_params
        sql = pool_sql(len(part), bool(radius), cond, POOL_COLS if cache is None else POOL_COLS_CACHED)
        got = db.sql(sql, params)
        rows.update(zip([row[0] for row in got], got))
    if cache is not None:
        blobs = cache.vectors(db, list(rows))
        rows = {key: (*row[: VECTORS.start], *blobs[key], *row[VECTORS.stop :]) for key, row in rows.items() if key in blobs}
    # (under a filter an asked row that does not match is left out, and its neighbours may not be)
    return _pool_of(db, dim, list(rows.values()), keys, vocab, nsid, same_episodes=where is None)


#: Pool columns that :func:`_pool_of` checks by converting them (``array`` and ``join`` take no other type).
_CONVERTED = frozenset({"key", "id", "speaker", "episode", "position", "time", "category", "tok_ids", "content", "context"})
#: The pool columns it checks a cell at a time (the access log's).
_POOL_CHECKED = [name if name not in _CONVERTED else "" for name in names(POOL_COLS)]


class _Unreadable(Exception):
    """A cell that a conversion in :func:`_pool_of` refused: :func:`check_cells` names it."""


def _pool_of(db: Database, dim: int | None, rows: list[tuple], asked: list[int], vocab: StoredVocabulary,
             nsid: int, same_episodes: bool = False) -> Pool:
    """A Pool from rows of ``POOL_COLS`` of namespace ``nsid``, in :func:`pool_order` for the ``asked`` keys.
    A cell of the wrong type makes :class:`CorruptStoreError` (from
    :func:`check_cells`, which names the row).  With ``same_episodes``, every
    row that was not asked must share an asked row's episode (what a
    neighbour is), or the file is corrupt."""
    if not rows or dim is None:
        return Pool.empty(dim)
    try:
        return _columns(db, dim, rows, asked, vocab, nsid, same_episodes)
    except (_Unreadable, TypeError):
        check_cells(db, dim, rows, names(POOL_COLS))
        raise  # the check found nothing: not a cell's type after all


def _columns(db: Database, dim: int, rows: list[tuple], asked: list[int], vocab: StoredVocabulary,
             nsid: int, same_episodes: bool) -> Pool:
    """:func:`_pool_of`'s work.  Most columns are checked by the conversion
    they need anyway, in C: ``array("q")`` takes ints alone, ``array("d")``
    ints and floats, ``join`` strings or bytes alone, and a label column's
    distinct values are checked once each; the rest a cell at a time.
    Columns are made in the rows' order and gathered into pool order once
    (numpy indexing, or one ``itemgetter`` call a column), so no row is rebuilt."""
    cols = check_cells(db, dim, rows, _POOL_CHECKED)
    n = len(rows)
    episode = Labels.of(cols[3])
    positions = np.frombuffer(array("q", cols[4]), np.int64)
    times = np.frombuffer(array("d", cols[5]), np.float64)
    "".join(cols[1])  # (a check, result unused: join takes str alone) ids
    b"".join(cols[7])  # ... and bytes alone: token ids
    size = 4 * dim
    if not all(type(x) is str for x in episode.labels) or set(map(len, cols[8])) | set(map(len, cols[9])) != {size}:
        raise _Unreadable
    if same_episodes:
        wanted = set(asked)
        is_asked = np.fromiter(map(wanted.__contains__, cols[0]), bool, n)
        held = np.zeros(len(episode.labels) + 1, bool)  # by code; code -1 (no episode) is the last entry
        held[episode.codes[is_asked]] = True
        if not held[episode.codes[~is_asked]].all():
            raise db.corrupt("a trace is indexed under another episode than its row holds")
    order = pool_order(asked, np.frombuffer(array("q", cols[0]), np.int64), episode, positions)
    at = np.array(order, np.int64)
    pick = itemgetter(*order) if n > 1 else (lambda col: (col[order[0]],))
    speaker = Labels.of(pick(cols[2]))
    if not all(type(x) is str for x in speaker.labels):
        raise _Unreadable
    used = [i for i, count in enumerate(cols[11]) if count is not None]  # rows of traces used since creation
    first, count, recent = log_columns([access_log(db, cols[1][i], cols[10][i], cols[11][i], cols[12][i]) for i in used])
    first_access = times.copy()
    access_count = np.ones(n)
    recent_access = np.full((n, RECENT), np.nan)
    first_access[used], access_count[used], recent_access[used] = first, count, recent
    ids = pick(cols[1])
    content = np.frombuffer(b"".join(pick(cols[8])), np.float32).reshape(n, dim)
    context = np.frombuffer(b"".join(pick(cols[9])), np.float32).reshape(n, dim)
    damage = pool_vector_damage(ids, content, context)
    if damage:
        raise db.corrupt(damage)
    return Pool(
        ids=object_array(ids),
        speaker=speaker,
        episode=episode.take(at),
        positions=positions[at],
        times=times[at],
        categories=np.frombuffer(array("q", [-1 if c is None else c for c in pick(cols[6])]), np.int64).copy(),
        tokens=vocab.rows(nsid, pick(cols[7])),
        content=content,
        context=context,
        first_access=first_access[at],
        access_count=access_count[at],
        recent_access=recent_access[at],
    )


def token_rows(db: Database, vocab: StoredVocabulary, nsid: int, keys: list[int]) -> tuple[list[int], TokenRows, dict[int, str]]:
    """The keys of ``keys`` that namespace ``nsid`` holds (in that order),
    their token ids as one :class:`TokenRows` and their trace ids: what BM25
    rescoring reads, with no token string decoded."""
    found: dict[int, tuple] = {}
    for part in chunks(keys):
        sql = f"SELECT key, id, tok_ids FROM traces WHERE key IN ({marks(len(part))}) AND ns = ?"
        found.update((row[0], row) for row in db.sql(sql, [*part, nsid]))
    if not all(type(tid) is str and type(tok) is bytes for _, tid, tok in found.values()):
        raise db.corrupt("a trace row has unreadable token ids")
    held = [k for k in keys if k in found]
    return held, vocab.rows(nsid, [found[k][2] for k in held]), {k: found[k][1] for k in held}
