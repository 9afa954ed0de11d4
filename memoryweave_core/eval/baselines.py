"""Reference retrievers for the benchmarks: dense cosine, BM25 Okapi and reciprocal rank fusion.

:class:`ReferenceBM25` is the *reference implementation* the harness's
``bm25`` and ``rrf`` baselines rank with, not the engine's BM25: it
reproduces ``rank_bm25.BM25Okapi`` (k1=1.5, b=0.75, Okapi idf floored at
``epsilon * mean idf`` for very common terms) over NLTK's English stopword
list and unstemmed tokens, because that is how the published baselines
were computed and its numbers must stay comparable with theirs.  The engine
scores with :mod:`memoryweave_core.lexical` (its one BM25 formula, Lucene
idf, k1=1.2, its one stopword list, light stemming).
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np

#: NLTK's English stopword list (179 words), spelled out so nothing needs
#: downloading: part of the reference's tokenisation, not the engine's.
REFERENCE_STOPWORDS = frozenset("""
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him his
himself she she's her hers herself it it's its itself they them their theirs themselves what which who whom this
that that'll these those am is are was were be been being have has had having do does did doing a an the and but
if or because as until while of at by for with about against between into through during before after above below
to from up down in out on off over under again further then once here there when where why how all any both each
few more most other some such no nor not only own same so than too very s t can will just don don't should
should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't
haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't
weren weren't won won't wouldn wouldn't
""".split())

_TOKEN = re.compile(r"\w+")


def reference_tokenize(text: str, *, stopwords: frozenset[str] | set[str] | None = REFERENCE_STOPWORDS,
                       stem: Callable[[str], str] | None = None) -> list[str]:
    """The published baselines' tokens: lower-cased ``\\w+`` runs without stopwords."""
    toks = _TOKEN.findall(text.lower())
    if stopwords:
        toks = [t for t in toks if t not in stopwords]
    if stem is not None:
        toks = [stem(t) for t in toks]
    return toks


class ReferenceBM25:
    """``rank_bm25.BM25Okapi`` over a small corpus, as a dense numpy doc-term matrix.

    ``scores(query_tokens)`` returns one score per document.
    """

    def __init__(self, docs: Sequence[Sequence[str]], *, k1: float = 1.5, b: float = 0.75,
                 epsilon: float = 0.25) -> None:
        self.k1, self.b = k1, b
        vocab: dict[str, int] = {}
        for d in docs:
            for t in d:
                vocab.setdefault(t, len(vocab))
        self.vocab = vocab
        n_docs = len(docs)
        tf = np.zeros((n_docs, max(len(vocab), 1)), dtype=np.float32)
        for i, d in enumerate(docs):
            for t in d:
                tf[i, vocab[t]] += 1
        lengths = np.array([len(d) for d in docs], dtype=np.float32)
        avgdl = float(lengths.mean()) if n_docs and lengths.mean() > 0 else 1.0
        df = (tf > 0).sum(0).astype(np.float64)
        idf_v = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        avg = idf_v.mean() if idf_v.size else 0.0
        idf_v = np.where(idf_v < 0, epsilon * avg, idf_v)
        self.idf = idf_v.astype(np.float32)
        denom = tf + k1 * (1 - b + b * lengths[:, None] / avgdl)
        # per (doc, term) saturated weight times idf: scores are a sum over query terms
        self.weights = (self.idf[None, :] * tf * (k1 + 1) / np.where(denom > 0, denom, 1)).astype(np.float32)
        self.n_docs = n_docs

    def query_vector(self, query: Sequence[str]) -> np.ndarray:
        q = np.zeros(self.weights.shape[1], dtype=np.float32)
        for t in query:
            j = self.vocab.get(t)
            if j is not None:
                q[j] += 1
        return q

    def scores(self, query: Sequence[str]) -> np.ndarray:
        if self.n_docs == 0:
            return np.zeros(0, np.float32)
        return self.weights @ self.query_vector(query)


def dense_scores(doc_vectors: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
    """Cosine similarity (rows are unit length, so a dot product)."""
    return np.asarray(doc_vectors, np.float32) @ np.asarray(query_vector, np.float32)


def rank(scores: np.ndarray) -> np.ndarray:
    """Indices by descending score, ties broken by position (stable)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def rrf(rankings: Sequence[np.ndarray], n_docs: int, *, k: int = 60) -> np.ndarray:
    """Reciprocal rank fusion: score(d) = sum over rankings of 1 / (k + rank(d)), rank 1-based."""
    fused = np.zeros(n_docs, dtype=np.float64)
    for order in rankings:
        fused[np.asarray(order)] += 1.0 / (k + np.arange(1, len(order) + 1))
    return fused
