"""Relevance: the probability that a recalled trace is evidence for the query.

The fused score ranks, but it is a sum of z-scores within one query's
candidates, so it says nothing across queries: the best of a bad lot scores
as high as a true hit.  A prompt needs a number it can threshold ("nothing
relevant" is an answer), so a small logistic calibrator maps signals that
*are* comparable across queries to a probability:

* the raw similarities (topic cosine, context cosine, BM25 and its spread
  from neighbours, the speaker match), not their z-scores;
* where the trace stands among the candidates: its fused score, the
  margin to the best one, its rank, its cosine's margin to the best cosine;
* what the query finds at all: the best cosine and the best BM25 among the
  candidates, and the share of the query's words that the memory has never
  seen (a question about someone or something never mentioned).

``benchmarks/tune.py`` fits the coefficients with cross-validation across
LoCoMo conversations (:func:`fit_logistic`, plain numpy IRLS) and they ship
below as plain numbers.  They were fitted on the default fusion weights: a
memory with other weights still gets a relevance, but a less calibrated one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Mapping, TypeVar

import numpy as np

from .errors import InvalidInputError

#: The calibrator's inputs, in column order (see :func:`signals`).
SIGNALS = (
    "semantic",  # raw cosine of the query's topic with the trace
    "context",  # raw cosine of the query with the trace's window
    "lexical",  # log(1 + BM25)
    "spread",  # log(1 + BM25 spread from episode neighbours)
    "speaker",  # the query names the trace's speaker (0/1)
    "score",  # the fused score (z-scores within the query)
    "margin",  # fused score minus the best candidate's
    "log_rank",  # log(1 + rank among the candidates), 0 for the best
    "semantic_margin",  # raw cosine minus the best candidate's
    "best_semantic",  # the best raw cosine among the candidates (same for all)
    "best_lexical",  # log(1 + best BM25) among the candidates (same for all)
    "unseen",  # share of the query's words no trace of the memory contains (same for all)
)


@dataclass(frozen=True)
class Logistic:
    """Logistic regression over standardised columns: plain numbers, no pickle."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    #: The column names a subclass expects (empty: any number of columns).
    columns: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        n = len(self.columns) or len(self.coef)
        if not len(self.mean) == len(self.scale) == len(self.coef) == n:
            raise ValueError(f"a {type(self).__name__} needs {n} means, scales and coefficients")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class for each row of ``x``."""
        z = (np.asarray(x, np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        return _sigmoid(z @ np.asarray(self.coef) + self.intercept)


@dataclass(frozen=True)
class Calibrator(Logistic):
    """The per-trace calibrator: a :class:`Logistic` over :data:`SIGNALS`."""

    columns: ClassVar[tuple[str, ...]] = SIGNALS


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(t, -35.0, 35.0)))


def signals(raw: Mapping[str, np.ndarray], score: np.ndarray, unseen: float,
            order: np.ndarray | None = None) -> np.ndarray:
    """The calibrator's input for every candidate of one query, ``[n, len(SIGNALS)]``.

    ``raw`` is the retriever's raw features (a switched-off pathway reads as
    0), ``score`` the fused score, ``unseen`` the share of query words the
    memory lacks; ``order`` the score's stable descending argsort, if the
    caller already made it (recall sorts once for the calibrator, the gate
    and the top k).
    """
    n = len(score)
    if not n:
        return np.zeros((0, len(SIGNALS)))
    zero = np.zeros(n)

    def col(name: str) -> np.ndarray:
        v = np.asarray(raw.get(name, zero), np.float64)
        return np.where(np.isfinite(v), v, 0.0)

    sem, lex = col("semantic"), np.log1p(np.maximum(col("lexical"), 0.0))
    order = np.argsort(-score, kind="stable") if order is None else order
    rank = np.empty(n)
    rank[order] = np.arange(n)
    return np.column_stack([
        sem,
        col("context"),
        lex,
        np.log1p(np.maximum(col("spread"), 0.0)),
        col("speaker"),
        score,
        score - score.max(),
        np.log1p(rank),
        sem - sem.max(),
        np.full(n, sem.max()),
        np.full(n, lex.max()),
        np.full(n, float(unseen)),
    ])


def check_relevance(value: object) -> float:
    """A ``min_relevance`` argument as a float in [0, 1] (None: no threshold, 0.0)."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise InvalidInputError(f"min_relevance must be a number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"min_relevance must be in [0, 1], got {value!r}")
    return value


L = TypeVar("L", bound=Logistic)


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, sample_weight: np.ndarray | None = None,
                 iterations: int = 100, kind: type[L] = Calibrator) -> L:  # type: ignore[assignment]
    """Fit a :class:`Logistic` (by default a :class:`Calibrator`) by iteratively reweighted least squares.

    Columns are standardised first (a constant column gets scale 1 and, with
    the ridge penalty ``l2`` on the coefficients, weight 0); the intercept is
    not penalised.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    mean = np.average(x, axis=0, weights=w)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
    scale = np.where(scale > 1e-9, scale, 1.0)
    a = np.column_stack([np.ones(len(y)), (x - mean) / scale])
    beta = np.zeros(a.shape[1])
    prior = np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6)
    beta[0] = math.log(prior / (1 - prior))
    penalty = np.full(a.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = _sigmoid(a @ beta)
        grad = a.T @ (w * (y - p)) - penalty * beta
        hess = (a * (w * p * (1 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(a.shape[1])
        step = np.linalg.solve(hess, grad)
        # damped Newton: a saturated start can propose a huge step that overshoots
        step *= min(1.0, 1.0 / max(float(np.max(np.abs(step))), 1e-12))
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return kind(tuple(mean.tolist()), tuple(scale.tolist()), tuple(beta[1:].tolist()), float(beta[0]))


#: Fitted by ``benchmarks/tune.py`` on all ten LoCoMo conversations (the
#: held-out figures are in ``benchmarks/results/tune.json`` and the README).
DEFAULT_CALIBRATOR = Calibrator(
    mean=(0.2539, 0.3664, 0.7104, 1.3852, 0.9177, 6.2037, -7.0377, 2.9696, -0.2779, 0.5318, 2.5993, 0.0973),
    scale=(0.1345, 0.1177, 0.8283, 0.8490, 0.2748, 1.9850, 3.5524, 0.8802, 0.1415, 0.1126, 0.4860, 0.1539),
    coef=(0.0398, -0.0276, -0.0380, 0.0221, 0.2654, 0.4303, 0.7585, -0.4599, 0.0299, 0.0100, -0.0328, -0.1440),
    intercept=-4.8525,
)

#: The relevance below which the prompt-facing adapters leave a trace out,
#: chosen by ``benchmarks/tune.py`` together with ``answerable.ANSWERABLE_FLOOR``
#: from the held-out abstention grid (of the pairs that keep 90% of the top-10
#: evidence, the one closest to the non-evidence and foreign-question targets).
#: Core ``recall`` applies no threshold unless asked (``min_relevance=``).
PROMPT_MIN_RELEVANCE = 0.02
#: The embedding model the shipped calibrator was fitted with.  Relevance from
#: another model's similarities is not calibrated, so no default threshold
#: applies to it (``prompt.default_min_relevance``).
CALIBRATED_FOR = "all-MiniLM-L6-v2"
