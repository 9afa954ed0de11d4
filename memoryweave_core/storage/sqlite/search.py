"""The candidate searches of an SQLite store, in row keys.

Vector search asks the namespace's index (:mod:`.indexes`), BM25 the cached
posting arrays (:mod:`.postings`); under a recall filter both search only
the keys :class:`~.matching.Matching` finds (see :mod:`..filtered`).  A
recall's keys go straight into the pool's query, so ids are never mapped
from keys and back.  :class:`~.store.SQLiteStore` keeps thin methods over
these functions, which run under its lock.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ...filters import Node
from ...lexical import search_postings
from ...pool import Pool
from ...vocab import TokenRows
from ..base import Field, Live, Search, live_keys, without
from ..filtered import nearest_within, restrict_postings
from . import decode, lifecycle, queries

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .store import SQLiteStore


def nearest_keys(store: SQLiteStore, nsid: int, field: Field, vector: np.ndarray, n: int,
                 where: Node | None) -> tuple[np.ndarray, np.ndarray]:
    """Row keys and cosines of the ``n`` nearest (matching ``where``: see :mod:`..filtered`)."""
    index, query = store._indexes.get(nsid, field), np.asarray(vector, np.float32)
    if where is None:
        return index.search(query, n)
    held = queries.held(store._db, nsid)
    return nearest_within(store._matching.keys(nsid, where), held, query, n, index.search,
                          functools.partial(store._indexes._vectors, field))


def lexical_keys(store: SQLiteStore, nsid: int, terms: list[str], n: int,
                 where: Node | None = None) -> list[tuple[int, float]]:
    """Row keys and BM25 scores of the top ``n`` (matching ``where``)."""
    tokens_of = functools.partial(token_rows, store, nsid)
    if where is None:
        return store._postings.search(nsid, terms, n, tokens_of)
    postings = restrict_postings(functools.partial(store._postings.posting, nsid), store._matching.keys(nsid, where))
    return search_postings(terms, n, store._postings.stats(nsid, terms), postings, tokens_of)


def token_rows(store: SQLiteStore, nsid: int, keys: list[int]) -> tuple[list[int], TokenRows]:
    """BM25 rescoring's rows, as CSR token ids (the ids read with them are remembered)."""
    held, rows, ids = decode.token_rows(store._db, store._vocab, nsid, keys)
    store._caches.remember_ids(nsid, ids)
    return held, rows


def candidates(store: SQLiteStore, nsid: int, dim: int, searches: Sequence[Search], terms: Sequence[str], n: int,
               radius: int, where: Node | None, live: Live | None) -> Pool:
    """The pool of the searches' keys and their neighbours; rows ``live``
    hides are searched past (each search asks for as many more) and left out."""
    hide = lifecycle.hidden_keys(store._db, nsid, live) if live is not None else {}
    m = n + len(hide)
    found = [nearest_keys(store, nsid, field, vector, m, where)[0].tolist() for field, vector in searches]
    if terms and n > 0:
        found.append([k for k, _ in lexical_keys(store, nsid, list(terms), m, where)])
    keys = live_keys(found, hide, n)
    pool = decode.pool(store._db, dim, nsid, list(keys), radius, store._vocab, where, store._caches.vectors)
    return without(pool, set(hide.values()))
