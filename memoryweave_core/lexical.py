"""Lexical matching: BM25 search over posting lists, and recall's lexical scores.

Dense embeddings blur names, numbers and rare words ("Luna", "7 pm",
"pottery"); exact word overlap catches them.  The index is an inverted index
kept up to date on every add and delete, so a query touches only the posting
lists of its own words, never the whole store.  BM25 sees a text as a bag of
words; :func:`proximity` adds what the order says (query words side by side).

The tokenizer lives in :mod:`.tokenizer`, the formula in :mod:`.bm25` and
the scoring of a recall's whole pool over token ids in :mod:`.lexscore`;
they are re-exported here, with the posting-list search
(:func:`search_postings`) every backend uses, so every backend finds and
scores alike.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable, Sequence

import numpy as np

from . import lexscore
from .bm25 import K1, PROXIMITY_WINDOW, B, bm25_sql, bm25_term, idf, query_weights
from .errors import InvalidInputError
from .tokenizer import STOPWORDS, stem, tokenize
from .vocab import TokenRows, Vocabulary

__all__ = [
    "B", "K1", "POSTING_BUDGET", "PROXIMITY_WINDOW", "STOPWORDS", "BM25Index", "DocLengths", "Postings", "best_matches", "bm25_scores",
    "bm25_sql", "bm25_term", "candidate_terms", "idf", "lexical_evidence", "proximity", "query_weights",
    "search_postings", "stem", "sum_by_key", "tokenize", "top_positions",
]


def _rows(docs: TokenRows | Sequence[Sequence[str]]) -> TokenRows:
    return docs if isinstance(docs, TokenRows) else TokenRows.from_words(docs)


def proximity(terms: Sequence[str], docs: TokenRows | Sequence[Sequence[str]], pool: int | None = None,
              window: int = PROXIMITY_WINDOW, k1: float = K1, b: float = B) -> np.ndarray:
    """Term-proximity evidence of each document for the query (BM25TP,
    Rasolofo & Savoy 2003): every pair of distinct query words found within
    ``window`` words of each other adds ``1 / distance**2``; per pair that sum
    is saturated and length-normalised as BM25 treats a term frequency, and
    weighted by the rarer word's idf.

    Plain BM25 treats a document as a bag of words, so "a music festival"
    plus "our cultural differences" elsewhere match a question about "a
    cultural festival" as well as the text that says it: the words of one
    thing said once sit next to each other.  Only the candidates of one recall
    are scored and document frequencies are counted over them (``pool``: how
    many candidates there are when ``docs`` holds only those with a query
    word), so no backend needs an index of positions.
    """
    words = list(dict.fromkeys(terms))
    rows = _rows(docs)
    if len(words) < 2 or not len(rows):
        return np.zeros(len(rows))
    return lexscore.proximity(lexscore.find(rows, words), rows.lengths, np.ones(len(rows), bool), pool or 0,
                              window, k1, b)


def bm25_scores(docs: TokenRows | Sequence[Sequence[str]], weights: dict[str, float], avg_len: float,
                k1: float = K1, b: float = B) -> np.ndarray:
    """BM25 of a few documents given as their tokens (a recall's candidates),
    term by term in query order: equal to the posting-list scores of
    :meth:`BM25Index.search` for the same documents."""
    return lexscore.bm25_rows(_rows(docs), weights, avg_len, k1, b)


def lexical_evidence(docs: TokenRows | Sequence[Sequence[str]], terms: Sequence[str], weights: dict[str, float],
                     avg_len: float, hits: lexscore.Hits | None = None) -> np.ndarray:
    """The lexical pathway's raw score of a recall's candidates (``docs``:
    their tokens in order): BM25 plus :func:`proximity` for those that hold a
    query word.  Computed here, once, from what every store hands over, so
    every backend scores alike.  ``hits``: the distinct terms found in
    ``docs`` (``lexscore.find``), if the caller has them already."""
    return lexscore.evidence(_rows(docs), terms, weights, avg_len, hits)


#: Posting entries a lexical search merges at most to find its candidates.
POSTING_BUDGET = 50_000


def candidate_terms(weights: dict[str, float], df: dict[str, int], budget: int | None = None) -> list[str]:
    """The query words whose posting lists bring candidates: the rarest ones,
    while their lists hold ``budget`` entries in all (the rarest always).

    The other words still count in the score of every candidate, but a text
    whose only match is a word that a fifth of the store contains is not what
    BM25 puts first, and finding all of those texts would cost a scan of a
    list that grows with the store (Lucene's common-terms cutoff, with a
    budget instead of a fixed frequency).  A namespace of a few thousand
    traces never reaches the budget (:data:`POSTING_BUDGET` by default): its
    searches are exact."""
    budget = POSTING_BUDGET if budget is None else budget
    use: set[str] = set()
    total = 0
    for t in sorted(weights, key=lambda t: df[t]):
        if use and total + df[t] > budget:
            break
        use.add(t)
        total += df[t]
    return [t for t in weights if t in use]


def top_positions(scores: np.ndarray, m: int) -> np.ndarray:
    """Positions of the ``m`` best scores, best first, ties in position order
    (a stable full sort's answer, at the cost of a partition)."""
    if len(scores) > m > 0:
        kth = np.partition(-scores, m - 1)[m - 1]
        cand = np.flatnonzero(-scores <= kth)
        return cand[np.argsort(-scores[cand], kind="stable")][:m]
    return np.argsort(-scores, kind="stable")[: max(m, 0)]


def best_matches(keys: np.ndarray, scores: np.ndarray, n: int, complete: bool,
                 tokens_of: Callable[[list[int]], "dict | tuple[list[int], TokenRows]"], weights: dict[str, float],
                 avg_len: float) -> list[tuple[int, float]]:
    """The ``n`` best ``(key, BM25)`` of a search whose ``scores`` sum the
    :func:`candidate_terms` only (``complete``: every query word).  When
    words were left out, the best ``2n`` are rescored exactly from their
    tokens, ``tokens_of(keys) -> {key: tokens}`` (token strings, or one-row
    :class:`TokenRows`) or ``-> (keys found, their TokenRows)``; ties keep the partial order."""
    top = top_positions(scores, n if complete else 2 * n)
    found = keys[top].tolist()
    if complete:
        return [(k, s) for k, s in zip(found, scores[top].tolist(), strict=True) if s > 0]
    tokens = tokens_of(found)
    if isinstance(tokens, tuple):  # the rows at once, in CSR
        found, rows = tokens
    else:
        found = [k for k in found if k in tokens]
        docs = [tokens[k] for k in found]
        rows = TokenRows.concat(docs) if docs and isinstance(docs[0], TokenRows) else TokenRows.from_words(docs)
    exact = bm25_scores(rows, weights, avg_len)
    return [(found[i], float(exact[i])) for i in top_positions(exact, n) if exact[i] > 0]


#: One term's posting list as arrays sorted by key: (keys, term frequencies, document lengths).
Postings = tuple[np.ndarray, np.ndarray, np.ndarray]


def search_postings(terms: Sequence[str], n: int, stats: tuple[int, float, dict[str, int]],
                    postings: Callable[[str], Postings], tokens_of: Callable[[list[int]], "dict | tuple[list[int], TokenRows]"],
                    budget: int | None = None) -> list[tuple[int, float]]:
    """Top ``n`` keys by BM25, best first (ties by key), among the documents
    holding one of the :func:`candidate_terms`: the search of every backend
    that keeps posting lists as arrays.  ``stats`` is ``(documents, average
    length, document frequencies)``, ``postings(term)`` a term's
    :data:`Postings`, ``tokens_of(keys)`` as :func:`best_matches` reads it."""
    n_docs, avg, df = stats
    weights = query_weights(terms, n_docs, df)
    use = candidate_terms(weights, df, budget)
    if not use or n <= 0:
        return []
    parts_keys, parts_scores = [], []
    for term in use:
        keys, tfs, lengths = postings(term)
        parts_keys.append(keys)
        parts_scores.append(bm25_term(tfs, lengths, avg, weights[term]))
    found, totals = sum_by_key(parts_keys, parts_scores)
    return best_matches(found, totals, n, len(use) == len(weights), tokens_of, weights, avg)


def sum_by_key(keys: list[np.ndarray], scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-term ``(sorted keys, scores)`` into one score per key, summed
    in term order.  A stable sort (timsort) finds the already sorted runs and
    merges them: less work than the full sort of ``np.unique``."""
    k, v = (keys[0], scores[0]) if len(keys) == 1 else (np.concatenate(keys), np.concatenate(scores))
    if len(keys) == 1 or not len(k):  # a filter cut every posting list empty
        return k, v
    order = np.argsort(k, kind="stable")
    k, v = k[order], v[order]
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    return k[starts], np.add.reduceat(v, starts)


class DocLengths:
    """Documents' lengths by key, in one array grown by doubling (adds stay
    amortised O(1)), so a posting list's lengths are one gather.  Keys are
    row numbers: a store's indexes share one of these, because its keys are
    unique across its namespaces, and an array per namespace would each be as
    long as the whole store."""

    def __init__(self) -> None:
        self.values = np.zeros(0)

    def set(self, key: int, length: int) -> None:
        """Record a document's length (``key`` >= 0: :meth:`BM25Index.add` refuses the others)."""
        if key >= len(self.values):
            grown = np.zeros(max(key + 1, 2 * len(self.values), 64))
            grown[: len(self.values)] = self.values
            self.values = grown
        self.values[key] = length


class BM25Index:
    """Okapi BM25 over an inverted index that grows and shrinks in place.

    Keys are integers chosen by the caller (row numbers).  Tokens are
    interned in ``vocab`` (the store's, shared by its namespaces) as they are
    added, so each document is kept as an array of token ids and each posting
    list under its term's id.  A posting list is also kept as numpy arrays,
    extended by the documents added since it was last read (rebuilt only
    when one is removed), so scoring a query is a few vector operations per
    query term, not a pass over the whole list after every add.  ``k1`` and ``b`` are the module's K1 and B:
    recall scores its candidates with them, so the index that finds them must too.
    """

    def __init__(self, vocab: Vocabulary | None = None, lengths: DocLengths | None = None) -> None:
        self.vocab = Vocabulary() if vocab is None else vocab
        self._postings: dict[int, dict[int, int]] = {}  # term id -> key -> term frequency
        self._docs: dict[int, np.ndarray] = {}  # each document's token ids, in order
        self._lengths = DocLengths() if lengths is None else lengths  # shared by a store's namespaces
        self._total_len = 0
        self._arrays: dict[int, Postings] = {}
        self._added: dict[int, list[int]] = {}  # term id -> keys added since its arrays were built

    def __len__(self) -> int:
        return len(self._docs)

    def add(self, key: int, tokens: Sequence[str]) -> None:
        if key < 0:
            raise InvalidInputError(f"BM25Index keys are row numbers, never negative: got {key}")
        if key in self._docs:
            self.remove(key)
        ids = self.vocab.intern(tokens)
        self._lengths.set(key, len(ids))
        self._docs[key] = ids
        self._total_len += len(ids)
        for term, count in Counter(ids.tolist()).items():
            self._postings.setdefault(term, {})[key] = count
            if term in self._arrays:
                self._added.setdefault(term, []).append(key)

    def remove(self, key: int) -> None:
        doc = self._docs.pop(key, None)
        if doc is None:
            return
        self._total_len -= len(doc)
        for term in set(doc.tolist()):
            posting = self._postings[term]
            del posting[key]
            self._arrays.pop(term, None)
            self._added.pop(term, None)
            if not posting:
                del self._postings[term]

    def _term_arrays(self, term: int) -> Postings:
        arrays = self._arrays.get(term)
        added = self._added.pop(term, None)
        if arrays is None or added:
            posting = self._postings[term]
            if arrays is None or added is None:  # the whole list, at C speed
                keys = np.fromiter(posting.keys(), dtype=np.int64, count=len(posting))
                tfs = np.fromiter(posting.values(), dtype=np.float64, count=len(posting))
            else:
                keys = np.fromiter(added, dtype=np.int64, count=len(added))
                tfs = np.fromiter(map(posting.__getitem__, added), dtype=np.float64, count=len(added))
            lengths = self._lengths.values[keys]
            if arrays is not None:  # keys are distinct: sorted, the old arrays plus the added rows are the rebuilt ones
                keys, tfs, lengths = (np.concatenate([a, b]) for a, b in zip(arrays, (keys, tfs, lengths)))
            if len(keys) > 1 and not np.all(keys[1:] > keys[:-1]):
                order = np.argsort(keys, kind="stable")
                keys, tfs, lengths = keys[order], tfs[order], lengths[order]
            arrays = self._arrays[term] = (keys, tfs, lengths)
        return arrays

    def _posting_arrays(self, term: str) -> Postings:
        """(keys, term frequencies, document lengths) of one term's posting list, by key."""
        return self._term_arrays(int(self.vocab.lookup([term])[0]))

    def _avg_len(self) -> float:
        return self._total_len / max(len(self._docs), 1)

    def search(self, terms: Sequence[str], n: int) -> list[tuple[int, float]]:
        """Top ``n`` keys by BM25 (:func:`search_postings`)."""
        return search_postings(terms, n, self.stats(terms), self._posting_arrays, self.rows)

    def stats(self, terms: Iterable[str]) -> tuple[int, float, dict[str, int]]:
        """Documents held, their average length, and the document frequency of
        each term that occurs (what :meth:`Store.lexical_stats` reports)."""
        words = list(set(terms))
        df: dict[str, int] = {}
        for t, i in zip(words, self.vocab.lookup(words).tolist()):
            posting = self._postings.get(i)
            if posting:
                df[t] = len(posting)
        return len(self._docs), self._avg_len(), df

    def tokens(self, key: int) -> tuple[str, ...]:
        """One document's tokens, in order."""
        return self.vocab.words(self._docs[key])

    def token_ids(self, key: int) -> np.ndarray:
        """One document's token ids, in order."""
        return self._docs[key]

    def rows(self, keys: Sequence[int]) -> tuple[list[int], TokenRows]:
        """The keys held, in order, and their documents as one :class:`TokenRows` (``tokens_of`` for :func:`best_matches`)."""
        docs = self._docs
        held = [k for k in keys if k in docs]
        return held, TokenRows.of(self.vocab, [docs[k] for k in held])
