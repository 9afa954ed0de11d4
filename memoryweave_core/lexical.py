"""Lexical matching: a tokenizer, BM25, an incremental index and term proximity.

Dense embeddings blur names, numbers and rare words ("Luna", "7 pm",
"pottery"); exact word overlap catches them.  The index is an inverted index
kept up to date on every add and delete, so a query touches only the posting
lists of its own words, never the whole store.  BM25 sees a text as a bag of
words; :func:`proximity` adds what the order says (query words side by side).

This module is the engine's one source of BM25: the tokenizer and its
stopword list, the constants, :func:`idf`, the per-term formula
(:func:`bm25_term`, and :func:`bm25_sql` for backends that score in SQL) and
the posting-list search (:func:`search_postings`).  Every backend imports
them from here, so every backend finds and scores alike.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from itertools import chain
from typing import Callable, Iterable, Sequence

import numpy as np

# The engine's one stopword list: standard English function words, no domain words.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here
    here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
    let's me more most mustn't my myself no nor not of off on once only or other ought our ours ourselves
    out over own same shan't she she'd she'll she's should shouldn't so some such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've this those through
    to too under until up very was wasn't we we'd we'll we're we've were weren't what what's when when's
    where where's which while who who's whom why why's with won't would wouldn't you you'd you'll you're
    you've your yours yourself yourselves s t d ll m re ve just also will""".split()
)

_WORD = re.compile(r"\w+", re.UNICODE)


_VOWELS = frozenset("aeiou")


def _measure(stem: str) -> int:
    """Porter's m: how many vowel-consonant sequences the stem has."""
    pattern = "".join("v" if c in _VOWELS or (c == "y" and i and stem[i - 1] not in _VOWELS) else "c" for i, c in enumerate(stem))
    return pattern.count("vc")


def _ends_cvc(stem: str) -> bool:
    return (
        len(stem) >= 3
        and stem[-1] not in _VOWELS | {"w", "x", "y"}
        and stem[-2] in _VOWELS
        and stem[-3] not in _VOWELS
    )


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English stemmer: Porter's step 1 (plurals, -ed, -ing) only.

    Conservative on purpose: "paintings", "painted" and "painting" meet, and
    "moved" meets "move", while names, numbers and words such as "family"
    stay whole.  Porter's later steps (-ational, -ness...) merge too much
    for matching what people said in conversation.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies"):
        word = word[:-3] + "y" if len(word) > 4 else word[:-1]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("eed", "ed", "ing"):
        if not word.endswith(suffix):
            continue
        base = word[: -len(suffix)]
        if suffix == "eed":
            return word[:-1] if _measure(base) > 0 else word
        if not any(c in _VOWELS for c in base) or len(base) < 2:
            return word
        if base.endswith(("at", "bl", "iz")):
            return base + "e"
        if len(base) > 2 and base[-1] == base[-2] and base[-1] not in "lsz":
            return base[:-1]  # stopped -> stop
        if _measure(base) == 1 and _ends_cvc(base):
            return base + "e"  # moved -> move, hoped -> hope
        return base
    return word


def tokenize(text: str, *, stopwords: frozenset[str] = STOPWORDS, stemming: bool = True) -> list[str]:
    """Lower-cased word tokens without stopwords, lightly stemmed."""
    words = (w for w in _WORD.findall(text.lower()) if w not in stopwords)
    return [stem(w) for w in words] if stemming else list(words)


#: Okapi BM25 saturation and length normalisation, shared by every backend.
K1, B = 1.2, 0.75


def idf(n: int, df: int) -> float:
    """BM25 inverse document frequency (the Lucene form, never negative)."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


#: Query words at most this many words apart (stopwords removed) count as near each other.
PROXIMITY_WINDOW = 5


def proximity(terms: Sequence[str], docs: Sequence[Sequence[str]], pool: int | None = None,
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
    wanted = set(terms)
    if len(wanted) < 2 or not docs:
        return np.zeros(len(docs))
    hits = _hits(docs, wanted)
    return _proximity([hits.get(i, []) for i in range(len(docs))], [len(d) for d in docs], pool, window, k1, b)


def _hits(docs: Sequence[Sequence[str]], words) -> dict[int, list[tuple[int, str]]]:
    """The documents that hold one of ``words`` (a set or dict keys): for
    each, its ``(position, word)`` of those words.  One pass over the tokens."""
    return {i: [(p, w) for p, w in enumerate(doc) if w in words] for i, doc in enumerate(docs) if not words.isdisjoint(doc)}


def _proximity(hits: Sequence[list[tuple[int, str]]], lengths: Sequence[int], pool: int | None = None,
               window: int = PROXIMITY_WINDOW, k1: float = K1, b: float = B) -> np.ndarray:
    """:func:`proximity` of documents given as their query-word hits
    ``(position, word)`` and their lengths."""
    out = np.zeros(len(hits))
    lens = np.asarray(lengths, np.float64)
    avg = max(float(lens.mean()), 1.0) if len(lens) else 1.0
    words = [{w for _, w in hits_of_doc} for hits_of_doc in hits]
    df = Counter(chain.from_iterable(words))
    pairs: list[dict[tuple[str, str], float]] = []
    for hits_of_doc, distinct in zip(hits, words, strict=True):
        near: dict[tuple[str, str], float] = {}
        pairs.append(near)
        if len(distinct) < 2:
            continue
        # Positions are distinct, so each hit meets at most `window` later ones:
        # linear in the document's length, whatever the query or the repetition.
        for x, (i, a) in enumerate(hits_of_doc):
            for j, c in hits_of_doc[x + 1 : x + 1 + window]:
                if j - i > window:
                    break
                if c != a:
                    pair = (a, c) if a < c else (c, a)
                    near[pair] = near.get(pair, 0.0) + 1.0 / (j - i) ** 2
    n = max(pool or 0, len(hits))
    weight = {w: idf(n, d) for w, d in df.items()}
    for j, near in enumerate(pairs):
        if not near:
            continue
        norm = k1 * (1.0 - b + b * lens[j] / avg)
        for (a, c), acc in near.items():
            out[j] += min(weight[a], weight[c]) * (k1 + 1) * acc / (norm + acc)
    return out


def query_weights(terms: Sequence[str], n: int, df: dict[str, int]) -> dict[str, float]:
    """BM25 weight of each query word found in the collection: idf times its
    count in the query, in the order the words first appear."""
    return {t: idf(n, df[t]) * c for t, c in Counter(terms).items() if df.get(t)}


def bm25_scores(docs: Sequence[Sequence[str]], weights: dict[str, float], avg_len: float,
                k1: float = K1, b: float = B) -> np.ndarray:
    """BM25 of a few documents given as their tokens (a recall's candidates),
    term by term in query order: equal to the posting-list scores of
    :meth:`BM25Index.search` for the same documents."""
    return _bm25(_hits(docs, weights.keys()), [len(d) for d in docs], weights, avg_len, k1, b)


def _bm25(hits: dict[int, list[tuple[int, str]]], lengths: Sequence[int], weights: dict[str, float], avg_len: float,
          k1: float = K1, b: float = B) -> np.ndarray:
    """:func:`bm25_scores` of documents given as their query-word hits
    ``{document: [(position, word)]}`` (words outside ``weights`` ignored) and their lengths."""
    out = np.zeros(len(lengths))
    if not len(lengths) or not weights:
        return out
    column = {t: j for j, t in enumerate(weights)}
    rows = [i for i, found in hits.items() for _, w in found if w in column]
    cols = [column[w] for found in hits.values() for _, w in found if w in column]
    tf = np.zeros((len(lengths), len(column)))
    np.add.at(tf, (rows, cols), 1.0)
    lens = np.asarray(lengths, np.float64)
    for j, w in enumerate(weights.values()):
        out += np.where(tf[:, j] > 0, bm25_term(tf[:, j], lens, avg_len, w, k1, b), 0.0)
    return out


def lexical_evidence(docs: Sequence[Sequence[str]], terms: Sequence[str], weights: dict[str, float], avg_len: float) -> np.ndarray:
    """The lexical pathway's raw score of a recall's candidates (``docs``:
    their tokens in order): BM25 plus :func:`proximity` for those that hold a
    query word.  Computed here, once, from what every store hands over, so
    every backend scores alike."""
    wanted = set(terms)
    hits = _hits(docs, wanted)  # found once, for BM25 and proximity
    scores = _bm25(hits, [len(d) for d in docs], weights, avg_len)
    if len(wanted) > 1:
        scored = [i for i in hits if scores[i] > 0]
        scores[scored] += _proximity([hits[i] for i in scored], [len(docs[i]) for i in scored], pool=len(docs))
    return scores


def bm25_term(tfs: np.ndarray, lengths: np.ndarray, avg_len: float, weight: float, k1: float = K1, b: float = B) -> np.ndarray:
    """One query term's BM25 contribution for many documents at once."""
    norm = k1 * (1.0 - b + b * lengths / max(avg_len, 1e-9))
    return weight * tfs * (k1 + 1) / (tfs + norm)


def bm25_sql(tf: str, length: str, avg_len: str, weight: str) -> str:
    """:func:`bm25_term` as an SQL expression over the given column or
    parameter names, for a backend that scores in its database.  ``avg_len``
    must already be floored at 1e-9, as :func:`bm25_term` floors it."""
    return f"{weight} * {tf} * {K1 + 1} / ({tf} + {K1} * (1 - {B} + {B} * {length} / {avg_len}))"


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


def best_matches(keys: np.ndarray, scores: np.ndarray, n: int, complete: bool, tokens_of, weights: dict[str, float],
                 avg_len: float) -> list[tuple[int, float]]:
    """The ``n`` best ``(key, BM25)`` of a search whose ``scores`` sum the
    :func:`candidate_terms` only (``complete``: every query word).  When
    words were left out, the best ``2n`` are rescored exactly from their
    tokens, ``tokens_of(keys) -> {key: tokens}``; ties keep the partial order."""
    top = top_positions(scores, n if complete else 2 * n)
    found = keys[top].tolist()
    if complete:
        return [(k, s) for k, s in zip(found, scores[top].tolist(), strict=True) if s > 0]
    tokens = tokens_of(found)
    found = [k for k in found if k in tokens]
    exact = bm25_scores([tokens[k] for k in found], weights, avg_len)
    return [(found[i], float(exact[i])) for i in top_positions(exact, n) if exact[i] > 0]


#: One term's posting list as arrays sorted by key: (keys, term frequencies, document lengths).
Postings = tuple[np.ndarray, np.ndarray, np.ndarray]


def search_postings(terms: Sequence[str], n: int, stats: tuple[int, float, dict[str, int]],
                    postings: Callable[[str], Postings], tokens_of: Callable[[list[int]], dict],
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


class BM25Index:
    """Okapi BM25 over an inverted index that grows and shrinks in place.

    Keys are integers chosen by the caller (row numbers).  Each posting list
    is also kept as numpy arrays, rebuilt only when that term's list changes,
    so scoring a query is a few vector operations per query term.  ``k1`` and
    ``b`` are the module's K1 and B: recall scores its candidates with them,
    so the index that finds them must too.
    """

    def __init__(self) -> None:
        self._postings: dict[str, dict[int, int]] = {}
        self._docs: dict[int, tuple[str, ...]] = {}  # each document's tokens, in order
        self._lengths: dict[int, int] = {}
        self._total_len = 0
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def add(self, key: int, tokens: Sequence[str]) -> None:
        if key in self._docs:
            self.remove(key)
        tf = Counter(tokens)
        self._docs[key] = tuple(tokens)
        self._lengths[key] = len(tokens)
        self._total_len += len(tokens)
        for term, count in tf.items():
            self._postings.setdefault(term, {})[key] = count
            self._arrays.pop(term, None)

    def remove(self, key: int) -> None:
        doc = self._docs.pop(key, None)
        if doc is None:
            return
        self._total_len -= self._lengths.pop(key)
        for term in set(doc):
            posting = self._postings[term]
            del posting[key]
            self._arrays.pop(term, None)
            if not posting:
                del self._postings[term]

    def _posting_arrays(self, term: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, term frequencies, document lengths) of one term's posting list, by key."""
        arrays = self._arrays.get(term)
        if arrays is None:
            posting = self._postings[term]
            keys = np.fromiter(posting.keys(), dtype=np.int64, count=len(posting))
            tfs = np.fromiter(posting.values(), dtype=np.float64, count=len(posting))
            lengths = np.fromiter((self._lengths[k] for k in posting), dtype=np.float64, count=len(posting))
            order = np.argsort(keys, kind="stable")
            arrays = self._arrays[term] = (keys[order], tfs[order], lengths[order])
        return arrays

    def _avg_len(self) -> float:
        return self._total_len / max(len(self._docs), 1)

    def search(self, terms: Sequence[str], n: int) -> list[tuple[int, float]]:
        """Top ``n`` keys by BM25 (:func:`search_postings`)."""
        return search_postings(terms, n, self.stats(terms), self._posting_arrays, lambda ks: {k: self._docs[k] for k in ks})

    def stats(self, terms: Iterable[str]) -> tuple[int, float, dict[str, int]]:
        """Documents held, their average length, and the document frequency of
        each term that occurs (what :meth:`Store.lexical_stats` reports)."""
        return len(self._docs), self._avg_len(), {t: len(self._postings[t]) for t in set(terms) if t in self._postings}

    def tokens(self, key: int) -> tuple[str, ...]:
        """One document's tokens, in order."""
        return self._docs[key]
