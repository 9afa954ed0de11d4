"""Answerable: the probability that this memory holds evidence for the query at all.

The per-trace relevance (:mod:`.relevance`) judges a trace against the
other candidates of the same query, so the best of a bad lot still looks
like a hit: asked of a memory that never heard of the subject, recall
still finds the closest turns.  This question-level gate asks the other
question, "is anything here relevant?", from signals that explain
themselves and do not depend on a dataset's names or phrasing:

* **coverage**: the share of the query's content-word IDF mass (speaker
  names left out: the speaker pathway handles who) whose words occur in
  this memory at all, in the top candidates, in the first one and in the
  best single one.  A question about something never mentioned has its
  specific words missing;
* **BM25 against its ceiling**: the best BM25 over the query's IDF sum;
* **raw cosines**: the best and the first candidate's topic cosine, the
  best context cosine;
* **confident candidates**: how many of the top candidates the per-trace
  relevance rates at least :data:`CONFIDENT`.  Read beside the cosines and
  coverage, a crowd of them counts against the query: a memory without the
  answer tends to offer several look-alike matches of middling relevance,
  where one that holds it offers a few that stand out.

It is a logistic over those (plain numbers, fitted by ``benchmarks/tune.py
--relevance`` on LoCoMo questions asked of their own memory against the
same questions asked of another conversation's memory, names mapped, and
LongMemEval questions asked of their own haystack against the next one's,
folds by conversation; the relevance it reads is held out, as a new
memory's would be).  Prompt-facing recalls return nothing when it falls
below :data:`ANSWERABLE_FLOOR` (``recall(min_relevance=...)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .coverage import Terms
from .lexical import K1
from .relevance import Logistic

#: The gate's inputs, in column order (see :func:`gate_signals`).
GATE_SIGNALS = (
    "store_coverage",  # share of the query's IDF mass whose words this memory holds
    "top_coverage",  # ... that the top candidates hold together
    "top1_coverage",  # ... that the first candidate holds
    "best_coverage",  # ... that the best single top candidate holds
    "bm25_ceiling",  # best BM25 over the query's IDF sum times (K1 + 1)
    "best_semantic",  # best raw topic cosine among the candidates
    "top1_semantic",  # the first candidate's raw topic cosine
    "best_context",  # best raw context cosine among the candidates
    "confident_top",  # how many top candidates have relevance >= CONFIDENT
)
#: The signals read off the query's words and raw similarities alone
#: (:func:`base_signals`); the rest read the per-trace relevance (:func:`relevance_signals`).
BASE_SIGNALS = GATE_SIGNALS[:8]
#: How many of the best candidates the top signals look at (what a prompt sees).
TOP = 10
#: The relevance at which a candidate counts as a confident hit (one chance in
#: ten of being evidence).
CONFIDENT = 0.1


@dataclass(frozen=True)
class Gate(Logistic):
    """P(the memory holds evidence for the query): a :class:`Logistic` over :data:`GATE_SIGNALS`."""

    columns: ClassVar[tuple[str, ...]] = GATE_SIGNALS


def gate_signals(terms: Terms, raw: Mapping[str, np.ndarray], score: np.ndarray, relevance: np.ndarray,
                 order: np.ndarray | None = None) -> np.ndarray:
    """The gate's input for one query, ``[len(GATE_SIGNALS)]`` (``score``: the
    fused score; ``relevance``: each candidate's per-trace relevance;
    ``order``: the score's stable descending argsort, if already made)."""
    order = np.argsort(-score, kind="stable") if order is None else order
    return np.concatenate([base_signals(terms, raw, score, order), relevance_signals(np.asarray(relevance)[order[:TOP]])])


def relevance_signals(top: np.ndarray) -> np.ndarray:
    """The gate's relevance signals from the top candidates' relevance, best first."""
    return np.array([float((np.asarray(top[:TOP]) >= CONFIDENT).sum())])


def base_signals(terms: Terms, raw: Mapping[str, np.ndarray], score: np.ndarray,
                 order: np.ndarray | None = None) -> np.ndarray:
    """The gate's :data:`BASE_SIGNALS` for one query (no relevance needed)."""
    n = len(score)
    order = (np.argsort(-score, kind="stable") if order is None else order)[:TOP]
    total = float(terms.weight.sum())

    def best(name: str, rows: np.ndarray | slice = slice(None)) -> float:
        v = np.asarray(raw.get(name, np.zeros(n)), np.float64)[rows]
        v = v[np.isfinite(v)]
        return float(v.max()) if len(v) else 0.0

    if total > 0:
        w = terms.weight / total
        hits = terms.hits[order]
        cover = [float(w[terms.known].sum()), float(w[hits.any(axis=0)].sum()),
                 float(hits[0] @ w) if len(hits) else 0.0, float((hits @ w).max()) if len(hits) else 0.0]
        ceiling = best("lexical") / (total * (K1 + 1))
    else:  # no content word: coverage says nothing against the query
        cover, ceiling = [1.0, 1.0, 1.0, 1.0], 0.0
    top1 = order[:1]
    return np.array([*cover, ceiling, best("semantic"), best("semantic", top1) if n else 0.0, best("context")])


def answerable(terms: Terms, raw: Mapping[str, np.ndarray], score: np.ndarray, relevance: np.ndarray,
               gate: Gate | None = None, order: np.ndarray | None = None) -> float:
    """P(the memory holds evidence for this query), from the shipped gate unless one is given."""
    return judge(terms, raw, score, relevance, order, gate=gate)[0]


def reasons(terms: Terms, raw: Mapping[str, np.ndarray], score: np.ndarray, relevance: np.ndarray,
            gate: Gate | None = None, order: np.ndarray | None = None) -> dict[str, float]:
    """Each signal's term in the gate's log-odds (coefficient times the
    standardised value; they add up to the log-odds less the intercept):
    why a query was judged answerable or refused, for ``explain``."""
    return judge(terms, raw, score, relevance, order, gate=gate, explain=True)[1]


def judge(terms: Terms, raw: Mapping[str, np.ndarray], score: np.ndarray, relevance: np.ndarray,
          order: np.ndarray | None = None, *, gate: Gate | None = None,
          explain: bool = False) -> tuple[float, dict[str, float]]:
    """:func:`answerable` and, with ``explain``, its :func:`reasons`, from one reading
    of the signals (a recall with ``explain`` needs both)."""
    if not len(score):
        return 0.0, {}
    gate = gate or DEFAULT_GATE
    x = gate_signals(terms, raw, score, relevance, order)
    return float(gate.predict(x[None, :])[0]), (gate.terms(x) if explain else {})


#: Fitted by ``benchmarks/tune.py --relevance`` on all ten LoCoMo conversations and
#: the LongMemEval sample and development questions (held-out figures in
#: ``benchmarks/results/relevance.json`` and the README).
DEFAULT_GATE = Gate(
    mean=(0.7054, 0.5704, 0.3623, 0.4338, 0.3029, 0.4477, 0.3800, 0.5107, 3.1289),
    scale=(0.3050, 0.3087, 0.2767, 0.2694, 0.2168, 0.1388, 0.1664, 0.1221, 1.3420),
    coef=(0.0438, 0.3586, 0.7711, -0.1852, 0.5655, 1.0187, 0.2677, 0.2783, -0.2724),
    intercept=0.2187,
)
#: Below this, a recall with a relevance threshold returns nothing: chosen by
#: ``benchmarks/tune.py --relevance`` with ``relevance.PROMPT_MIN_RELEVANCE``
#: from the held-out grid.  Like the calibrator, the gate was fitted with
#: all-MiniLM-L6-v2 (its cosines are that model's).
ANSWERABLE_FLOOR = 0.325
