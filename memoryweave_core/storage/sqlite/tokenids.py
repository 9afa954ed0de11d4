"""The SQLite store's vocabulary: token ids kept in the file, mirrored in RAM.

Every process that writes the file interns new words inside its write
transaction, which SQLite serialises, so an id means the same word to every
process.  The RAM copy only grows: it catches up with the ``vocab`` table
when a row holds an id it has not seen, and forgets what a rolled-back
transaction interned.
"""

from __future__ import annotations

import sqlite3
from typing import Sequence

import numpy as np

from ...vocab import ID, TokenRows, Vocabulary
from .connection import Database
from .schema import encode_ids


class StoredVocabulary:
    """:class:`~memoryweave_core.vocab.Vocabulary` of one store file."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.words = Vocabulary()

    def _catch_up(self, rows: list[tuple]) -> None:
        first = len(self.words)
        if any(i != first + j or type(w) is not str for j, (i, w) in enumerate(rows)):
            raise self.db.corrupt("the vocab table's ids are not dense from 0, or a word is unreadable")
        self.words.extend(first, [w for _, w in rows])

    def encode(self, conn: sqlite3.Connection, docs: Sequence[Sequence[str]]) -> list[bytes]:
        """``tok_ids`` cells of these token lists, new words written to
        ``vocab``: call inside the write transaction (:meth:`mark` before it,
        :meth:`rollback` if it fails)."""
        held = conn.execute("SELECT coalesce(max(id) + 1, 0) FROM vocab").fetchone()[0]
        if held < len(self.words):  # an earlier try of this transaction interned these, then rolled back
            self.words.truncate(held)
        self._catch_up(conn.execute("SELECT id, word FROM vocab WHERE id >= ? ORDER BY id", (len(self.words),)).fetchall())
        first = len(self.words)
        ids = [self.words.intern(d) for d in docs]
        if len(self.words) > first:
            conn.executemany("INSERT INTO vocab (id, word) VALUES (?, ?)",
                             enumerate(self.words.words(np.arange(first, len(self.words))), start=first))
        return [encode_ids(i) for i in ids]

    def mark(self) -> int:
        return len(self.words)

    def rollback(self, mark: int) -> None:
        self.words.truncate(mark)

    def rows(self, cells: Sequence[bytes]) -> TokenRows:
        """A pool's token rows from its ``tok_ids`` cells (checked)."""
        if any(len(c) % 4 for c in cells):
            raise self.db.corrupt("a trace row has unreadable token ids")
        offsets = np.zeros(len(cells) + 1, np.int64)
        np.cumsum([len(c) // 4 for c in cells], out=offsets[1:])
        ids = np.frombuffer(b"".join(cells), "<i4").astype(ID, copy=False)
        top = int(ids.max()) if len(ids) else -1
        if top >= len(self.words):  # written by another process since
            self._catch_up(self.db.sql("SELECT id, word FROM vocab WHERE id >= ? ORDER BY id", (len(self.words),)))
        if top >= len(self.words) or (len(ids) and int(ids.min()) < 0):
            raise self.db.corrupt("a trace row holds a token id the vocab table lacks")
        return TokenRows(self.words, offsets, ids)
