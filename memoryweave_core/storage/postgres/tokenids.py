"""The PostgreSQL store's vocabularies: token ids kept in the database, mirrored in RAM.

One vocabulary per namespace, keyed by the namespace's ``nsid`` (a new one
each time the namespace is created afresh), so forgetting a namespace
deletes its words and a namespace recreated later never reads the old ids.
Every writer interns new words inside its add transaction while it holds
the namespace's ``nsstats`` row lock (taken by the statistics upsert, which
runs first), so writers in any process agree on what each id means; the
``(nsid, word)`` key refuses a word twice should that ever not hold.  The RAM
copy only grows and is read by recalls: it catches up with the ``vocab`` table
when a pool holds an id it has not seen, so a rolled-back write leaves
nothing to undo in it.  A trace's ids are a ``bytea`` of int32, big-endian
(``int4send``'s bytes, which the migration writes), read in one numpy call.
"""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from ...errors import StoreError
from ...vocab import ID, TokenRows, Vocabulary
from .plan import Plan, Stmt, rows

#: numpy dtype of a ``tok_ids`` cell.
CELL = ">i4"


def intern_sql(s: str) -> str:
    """Ids of the words ``%(w)s`` (distinct, in order of first sight) in the
    vocabulary ``%(ns)s``, the new ones added with the next dense ids in that
    order: one round trip.  Run it holding the namespace's ``nsstats`` row lock."""
    return f"""
        WITH q AS (SELECT w, o FROM unnest(%(w)s::text[]) WITH ORDINALITY AS q(w, o)),
        old AS (SELECT word, id FROM "{s}".vocab WHERE nsid = %(ns)s AND word = ANY(%(w)s)),
        new AS (
            INSERT INTO "{s}".vocab (nsid, id, word)
            SELECT %(ns)s, ((SELECT coalesce(max(id) + 1, 0) FROM "{s}".vocab WHERE nsid = %(ns)s)
                            + row_number() OVER (ORDER BY q.o) - 1)::int, q.w
            FROM q WHERE NOT EXISTS (SELECT 1 FROM old WHERE old.word = q.w)
            RETURNING word, id
        )
        SELECT word, id FROM old UNION ALL SELECT word, id FROM new
        """


def encode(nsids: dict[str, int], namespaces: Sequence[str], docs: Sequence[Sequence[str]], s: str) -> Plan[list[bytes]]:
    """The ``tok_ids`` cells of these token lists (each of ``namespaces[i]``,
    whose ids are ``nsids``), new words written to ``vocab``: in the add's
    transaction, after the statistics upsert has locked the namespaces' rows."""
    out: list[bytes] = [b""] * len(docs)
    for ns in sorted(set(namespaces)):  # the statistics' lock order
        mine = [i for i, n in enumerate(namespaces) if n == ns]
        words = list(dict.fromkeys(t for i in mine for t in docs[i]))
        if not words:
            continue
        found = yield from rows(intern_sql(s), {"ns": nsids[ns], "w": words}, binary=False)
        ids = {w: i for w, i in found}
        for i in mine:
            out[i] = np.array([ids[t] for t in docs[i]], dtype=CELL).tobytes()
    return out


def drop(s: str, nsids: Sequence[int]) -> Plan[None]:
    """Delete the words of these vocabularies (namespaces left empty)."""
    if nsids:
        yield Stmt(f'DELETE FROM "{s}".vocab WHERE nsid = ANY(%s)', (list(nsids),))


class Vocabularies:
    """The RAM mirror of a schema's vocabularies, by namespace: what its pools' ids mean."""

    def __init__(self) -> None:
        self._by_ns: dict[str, tuple[int, Vocabulary]] = {}
        self._lock = threading.Lock()

    def of(self, namespace: str, nsid: int) -> Vocabulary:
        """The vocabulary ``nsid`` of ``namespace``; a reader still seeing an
        older incarnation of the namespace gets a fresh copy, never cached."""
        with self._lock:
            held = self._by_ns.get(namespace)
            if held is not None and held[0] == nsid:
                return held[1]
            words = Vocabulary()
            if held is None or held[0] < nsid:
                self._by_ns[namespace] = (nsid, words)
            return words

    def _catch_up(self, words: Vocabulary, found: list[tuple]) -> None:
        """Add the rows (id, word), read from some id on, that ``words`` lacks
        (another thread may have added some meanwhile)."""
        with self._lock:
            have = len(words)
            new = [(i, w) for i, w in found if i >= have]
            if any(i != have + j or type(w) is not str for j, (i, w) in enumerate(new)):
                raise StoreError("the vocab table's ids are not dense from 0, or a word is unreadable")
            words.extend(have, [w for _, w in new])

    def rows(self, s: str, namespace: str, nsid: int | None, cells: Sequence[bytes]) -> Plan[TokenRows]:
        """A pool's token rows from its ``tok_ids`` cells (checked), of the
        namespace's vocabulary ``nsid``, read from ``vocab`` as far as needed."""
        if any(len(c) % 4 for c in cells):
            raise StoreError("a trace row has unreadable token ids")
        offsets = np.zeros(len(cells) + 1, np.int64)
        np.cumsum([len(c) // 4 for c in cells], out=offsets[1:])
        ids = np.frombuffer(b"".join(cells), CELL).astype(ID)
        if not len(ids):
            return TokenRows(Vocabulary() if nsid is None else self.of(namespace, nsid), offsets, ids)
        if nsid is None:
            raise StoreError(f"namespace {namespace!r} has traces but no statistics row")
        words = self.of(namespace, nsid)
        top = int(ids.max())
        if top >= len(words):  # words interned since this process last read them
            found = yield from rows(f'SELECT id, word FROM "{s}".vocab WHERE nsid = %s AND id >= %s ORDER BY id',
                                    (nsid, len(words)), binary=False)
            self._catch_up(words, found)
        if top >= len(words) or int(ids.min()) < 0:
            raise StoreError(f"a trace of namespace {namespace!r} holds a token id its vocabulary lacks"
                             " (the namespace was forgotten during this read, or the schema is damaged)")
        return TokenRows(words, offsets, ids)
