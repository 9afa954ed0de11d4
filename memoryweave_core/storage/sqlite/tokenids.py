"""The SQLite store's vocabularies: token ids kept in the file, mirrored in RAM.

One vocabulary per namespace, so forgetting a namespace deletes its words
with it.  Every process that writes the file interns new words inside its
write transaction, which SQLite serialises, so an id means the same word to
every process.  The RAM copy only grows: it catches up with the ``vocab``
table when a row holds an id it has not seen, and forgets what a rolled-back
transaction interned.
"""

from __future__ import annotations

import sqlite3
from typing import Sequence

import numpy as np

from ...vocab import ID, TokenRows, Vocabulary
from .connection import Database
from .schema import encode_ids

_NEWER = "SELECT id, word FROM vocab WHERE ns = ? AND id >= ? ORDER BY id"


class StoredVocabulary:
    """A :class:`~memoryweave_core.vocab.Vocabulary` per namespace id of one store file."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._by_ns: dict[int, Vocabulary] = {}

    def of(self, nsid: int) -> Vocabulary:
        return self._by_ns.setdefault(nsid, Vocabulary())

    def _catch_up(self, words: Vocabulary, rows: list[tuple]) -> None:
        first = len(words)
        if any(i != first + j or type(w) is not str for j, (i, w) in enumerate(rows)):
            raise self.db.corrupt("the vocab table's ids are not dense from 0, or a word is unreadable")
        words.extend(first, [w for _, w in rows])

    def encode(self, conn: sqlite3.Connection, nsids: list[int], docs: list[list[str]]) -> list[bytes]:
        """``tok_ids`` cells of these token lists (``nsids``: each one's
        namespace), new words written to ``vocab``: call inside the write
        transaction (:meth:`mark` before it, :meth:`rollback` if it fails)."""
        out: list[bytes] = [b""] * len(docs)
        for ns in dict.fromkeys(nsids):
            words = self.of(ns)
            held = conn.execute("SELECT coalesce(max(id) + 1, 0) FROM vocab WHERE ns = ?", (ns,)).fetchone()[0]
            if held < len(words):  # an earlier try of this transaction interned these, then rolled back
                words.truncate(held)
            self._catch_up(words, conn.execute(_NEWER, (ns, len(words))).fetchall())
            first = len(words)
            for i, n in enumerate(nsids):
                if n == ns:
                    out[i] = encode_ids(words.intern(docs[i]))
            if len(words) > first:
                conn.executemany("INSERT INTO vocab (ns, id, word) VALUES (?, ?, ?)",
                                 [(ns, i, w) for i, w in enumerate(words.words(np.arange(first, len(words))), start=first)])
        return out

    def mark(self) -> dict[int, int]:
        return {ns: len(v) for ns, v in self._by_ns.items()}

    def rollback(self, mark: dict[int, int]) -> None:
        for ns, words in list(self._by_ns.items()):
            if ns in mark:
                words.truncate(mark[ns])
            else:
                del self._by_ns[ns]

    def rows(self, nsid: int, cells: Sequence[bytes]) -> TokenRows:
        """A pool's token rows from its ``tok_ids`` cells (checked), of namespace ``nsid``."""
        sizes = np.fromiter(map(len, cells), np.int64, len(cells))
        if (sizes % 4).any():
            raise self.db.corrupt("a trace row has unreadable token ids")
        words = self.of(nsid)
        offsets = np.zeros(len(cells) + 1, np.int64)
        np.cumsum(sizes // 4, out=offsets[1:])
        ids = np.frombuffer(b"".join(cells), "<i4").astype(ID, copy=False)
        top = int(ids.max()) if len(ids) else -1
        if top >= len(words):  # written by another process since
            self._catch_up(words, self.db.sql(_NEWER, (nsid, len(words))))
        if top >= len(words) or (len(ids) and int(ids.min()) < 0):
            raise self.db.corrupt("a trace row holds a token id the vocab table lacks")
        return TokenRows(words, offsets, ids)
