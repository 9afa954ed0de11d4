"""BM25 over SQLite's FTS5 index: document frequencies and posting lists.

``lex`` is a contentless FTS5 table keyed by the trace's integer key; each
indexed token is ``n<namespace id>x<hex of the term>``, so FTS5's own
statistics give per-namespace document frequencies and the terms are exactly
those of :func:`~memoryweave_core.lexical.tokenize`.  A term's postings are
read from FTS5 once, kept as numpy arrays in step with this store's writes,
and scored the way :class:`~memoryweave_core.lexical.BM25Index` scores them.
"""

from __future__ import annotations

import functools
import warnings
from collections import Counter, OrderedDict
from typing import Any, Callable, Sequence

import numpy as np

from ...lexical import search_postings
from ...vocab import TokenRows
from .connection import Database, marks

#: BM25 posting entries kept in memory (LRU by term; 24 bytes each).
POSTINGS_CACHE = 4_000_000

Posting = tuple[np.ndarray, np.ndarray, np.ndarray]  # keys (sorted), term frequencies, document lengths


def _ints(text: Any) -> np.ndarray | None:
    """Comma-separated integers (a posting list from FTS5), parsed in C
    rather than by split() (the lists of a large store are long).
    None when the text is anything else."""
    if not isinstance(text, str):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns (and stops early) on text it cannot read to the end
        try:
            out = np.fromstring(text, dtype=np.int64, sep=",")
        except (ValueError, DeprecationWarning):
            return None
    ok = len(out) == text.count(",") + 1 and out.min() > 0 and out.max() < np.iinfo(np.int64).max  # rowids; no overflow
    return out if ok else None


@functools.lru_cache(maxsize=1 << 16)
def _hex(term: str) -> str:
    return term.encode("utf-8").hex()


def fts_term(nsid: int, term: str) -> str:
    return f"n{nsid}x{_hex(term)}"


def fts_doc(nsid: int, tokens: str) -> str:
    """The FTS5 document of a trace's space-separated tokens."""
    prefix = f"n{nsid}x"
    return " ".join([prefix + _hex(t) for t in tokens.split()])


class Postings:
    """Document frequencies and posting arrays per (namespace id, term),
    cached; :meth:`invalidate` drops them when another connection writes."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._df: dict[int, dict[str, int]] = {}  # nsid -> term -> document frequency (cleared on any write)
        self._postings: OrderedDict[tuple[int, str], Posting] = OrderedDict()
        self._rows = 0
        self._vocab_ready = False
        self._doclen = np.zeros(1024, np.uint32)  # key -> token count (lengths never change)
        self._doclen_upto = 0  # rows up to this key have been read

    def invalidate(self) -> None:
        """Forget frequencies and postings (document lengths never change: they stay)."""
        self._df.clear()
        self._postings.clear()
        self._rows = 0

    def forget_frequencies(self) -> None:
        self._df.clear()

    def stats(self, nsid: int, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        """Traces in the namespace, their average length, and each known term's document frequency."""
        rows = self.db.sql("SELECT n, total_len FROM namespaces WHERE id = ?", (nsid,))
        if not rows or type(rows[0][0]) is not int or type(rows[0][1]) is not int or min(rows[0]) < 0:
            raise self.db.corrupt(f"namespace row {nsid} is missing or unreadable (counters must be integers >= 0)")
        n, total = rows[0]
        known = self._df.setdefault(nsid, {})
        if len(known) > 100_000:
            known.clear()
        ask = [t for t in dict.fromkeys(terms) if t not in known]
        if ask:
            fts = {fts_term(nsid, t): t for t in ask}
            found = dict(self.db.sql(f"SELECT term, doc FROM lex_vocab WHERE term IN ({marks(len(fts))})", list(fts)))
            for f, t in fts.items():
                known[t] = int(found.get(f) or 0)
        return n, total / max(n, 1), {t: known[t] for t in terms if known[t] > 0}

    def search(self, nsid: int, terms: list[str], n: int,
               tokens_of: Callable[[list[int]], "dict | tuple[list[int], TokenRows]"]) -> list[tuple[int, float]]:
        """Top ``n`` row keys by BM25 (``tokens_of(keys)`` breaks ties as BM25Index does)."""
        return search_postings(terms, n, self.stats(nsid, terms), lambda t: self.posting(nsid, t), tokens_of)

    def posting(self, nsid: int, term: str) -> Posting:
        """A term's postings, read from FTS5's instance vocabulary on first use."""
        slot = (nsid, term)
        hit = self._postings.get(slot)
        if hit is not None:
            self._postings.move_to_end(slot)
            return hit
        if not self._vocab_ready:
            self.db.sql("CREATE VIRTUAL TABLE IF NOT EXISTS temp.mw_lex_instance USING fts5vocab(main, lex, instance)")
            self._vocab_ready = True
        docs = self.db.sql("SELECT group_concat(doc) FROM temp.mw_lex_instance WHERE term = ?", (fts_term(nsid, term),))[0][0]
        if docs is None:
            hit = (np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.float64))
        else:
            occ = _ints(docs)
            if occ is None:
                raise self.db.corrupt("the full-text index is unreadable")
            keys, tfs = np.unique(occ, return_counts=True)
            hit = (keys, tfs.astype(np.float64), self._doc_lengths(keys))
        self._postings[slot] = hit
        self._rows += len(hit[0])
        while self._rows > POSTINGS_CACHE and len(self._postings) > 1:
            self._rows -= len(self._postings.popitem(last=False)[1][0])
        return hit

    def _doc_lengths(self, keys: np.ndarray) -> np.ndarray:
        """Token counts of documents by key, from an array read once (sequentially) from FTS5's own
        per-document sizes; rows added later are read on demand, and lengths never change."""
        top = int(keys[-1]) if len(keys) else 0
        if top > self._doclen_upto:
            rows = self.db.sql(
                "SELECT group_concat(id), group_concat(length(sz)), group_concat(hex(sz), ''), max(id) FROM lex_docsize WHERE id > ?",
                (self._doclen_upto,),
            )[0]
            if rows[0] is not None:
                ids, sizes = _ints(rows[0]), _ints(rows[1])
                try:
                    raw = np.frombuffer(bytes.fromhex(rows[2]), np.uint8).astype(np.int64)
                except (ValueError, TypeError) as exc:
                    raise self.db.corrupt(f"the full-text index's document sizes are unreadable ({exc})") from None
                if ids is None or sizes is None or len(ids) != len(sizes) or sizes.sum() != len(raw) or sizes.max() > 8:
                    raise self.db.corrupt("the full-text index's document sizes are unreadable")
                # SQLite varints, 7 bits a byte, most significant first (a document's token count)
                start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
                value = np.zeros(len(ids), np.int64)
                for j in range(int(sizes.max())):
                    m = sizes > j
                    value[m] = (value[m] << 7) | (raw[start[m] + j] & 0x7F)
                self._doclen_set(ids, value)
            self._doclen_upto = max(self._doclen_upto, int(rows[3] or 0), top)
        return self._doclen[keys].astype(np.float64)

    def _doclen_set(self, keys: np.ndarray, lengths: np.ndarray) -> None:
        top = int(keys.max()) + 1
        if top > len(self._doclen):
            grown = np.zeros(max(top, 2 * len(self._doclen)), np.uint32)
            grown[: len(self._doclen)] = self._doclen
            self._doclen = grown
        self._doclen[keys] = np.minimum(lengths, 2**32 - 1)

    def added(self, groups: dict[int, list[int]], tokens: list[str]) -> None:
        """New rows (``groups``: nsid -> keys, ``tokens`` in the same order)
        join the document lengths and the cached postings."""
        if self._doclen_upto:
            new_keys = [k for ks in groups.values() for k in ks]
            self._doclen_set(np.asarray(new_keys, np.int64), np.array([t.count(" ") + 1 if t else 0 for t in tokens]))
        if not self._postings:
            return
        grow: dict[tuple[int, str], list[tuple[int, int, int]]] = {}
        i = 0
        for nsid, keys in groups.items():
            for key in keys:
                tok = tokens[i]
                i += 1
                if not tok:
                    continue
                counts = Counter(tok.split())
                length = sum(counts.values())
                for term, tf in counts.items():
                    if (nsid, term) in self._postings:
                        grow.setdefault((nsid, term), []).append((key, tf, length))
        for slot, rows in grow.items():
            held, tfs, lens = self._postings[slot]
            extra = np.array(rows, dtype=np.float64)
            self._postings[slot] = (
                np.concatenate([held, extra[:, 0].astype(np.int64)]),  # keys only grow: still sorted
                np.concatenate([tfs, extra[:, 1]]),
                np.concatenate([lens, extra[:, 2]]),
            )
            self._rows += len(rows)

    def removed(self, rows: list[tuple[int, int, str]]) -> None:
        """Deleted rows ``(nsid, key, tokens)`` leave the cached postings."""
        if not self._postings:
            return
        gone: dict[tuple[int, str], list[int]] = {}
        for nsid, key, tok in rows:
            for term in set(tok.split()):
                if (nsid, term) in self._postings:
                    gone.setdefault((nsid, term), []).append(key)
        for slot, keys_gone in gone.items():
            keys, tfs, lens = self._postings[slot]
            keep = ~np.isin(keys, keys_gone)
            self._postings[slot] = (keys[keep], tfs[keep], lens[keep])
            self._rows -= int((~keep).sum())
