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
  seen (a question about someone or something never mentioned);
* how much of what the query asks about the trace holds (:mod:`.coverage`):
  its share of the query's content-word IDF mass, that share's margin to the
  best candidate's, and the share its episode window holds (an answer often
  spans a question and its reply);
* the neighbours in the ranking: whether the trace is the first, and its
  fused score's gap to the next candidate down and to the one above (a
  clear winner is likelier evidence than the first of a flat run).

``benchmarks/tune.py --relevance`` fits the coefficients with
cross-validation (:func:`fit_logistic`, plain numpy IRLS) on the rows a
prompt can see, the top few candidates of each question, not the hundreds
of easy deep ones; on LoCoMo and LongMemEval turns together, so that it
holds for long turns too.  They ship below as plain numbers, fitted on the
default fusion weights: a memory with other weights still gets a relevance,
but a less calibrated one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Mapping, TypeVar

import numpy as np

from .coverage import Terms
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
    "coverage",  # share of the query's content-word IDF mass the trace holds
    "coverage_margin",  # coverage minus the best candidate's
    "window_coverage",  # ... that the trace and its episode window hold together
    "first",  # the trace is the best candidate (0/1)
    "next_gap",  # fused score minus the next candidate's down (0 for the last)
    "prev_gap",  # the candidate above's fused score minus this one's (0 for the best)
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
        return _sigmoid(self._standardised(x) @ np.asarray(self.coef) + self.intercept)

    def terms(self, x: np.ndarray) -> dict[str, float]:
        """Each column's term in the log-odds of one row ``x`` (coefficient times
        the standardised value; they add up to the log-odds less the
        intercept), by column name: why a row scored as it did, for ``explain``."""
        return dict(zip(self.columns, (self._standardised(x) * np.asarray(self.coef)).tolist()))

    def _standardised(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)


@dataclass(frozen=True)
class Calibrator(Logistic):
    """The per-trace calibrator: a :class:`Logistic` over :data:`SIGNALS`."""

    columns: ClassVar[tuple[str, ...]] = SIGNALS


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(t, -35.0, 35.0)))


def signals(raw: Mapping[str, np.ndarray], score: np.ndarray, unseen: float, terms: Terms | None = None,
            order: np.ndarray | None = None) -> np.ndarray:
    """The calibrator's input for every candidate of one query, ``[n, len(SIGNALS)]``.

    ``raw`` is the retriever's raw features (a switched-off pathway reads as
    0), ``score`` the fused score, ``unseen`` the share of query words the
    memory lacks, ``terms`` the query's content words against each candidate
    (``None``: no content word, so every coverage reads 1), ``order`` the
    score's stable descending argsort if the caller already made it (recall
    sorts once for the calibrator, the gate and the top k).  Rank and gaps
    come from one sort, never a loop over candidates.
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
    step = -np.diff(score[order])  # each ranked candidate's lead over the next one down
    next_gap, prev_gap = np.zeros(n), np.zeros(n)  # 0: the last has no next, the best no previous
    next_gap[order[:-1]] = step
    prev_gap[order[1:]] = step
    cover, window = (terms or Terms.empty(n)).coverage()
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
        cover,
        cover - cover.max(),
        window,
        (rank == 0).astype(np.float64),
        next_gap,
        prev_gap,
    ])


def reasons(x: np.ndarray, calibrator: Calibrator | None = None) -> dict[str, float]:
    """Each signal's term in one candidate's relevance log-odds (coefficient
    times the standardised value of its row ``x`` of :func:`signals`; they
    add up to the log-odds less the intercept): why a trace was judged
    relevant, for ``explain``."""
    return (calibrator or DEFAULT_CALIBRATOR).terms(x)


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


#: Fitted by ``benchmarks/tune.py --relevance`` on LoCoMo and LongMemEval turns (the
#: held-out figures are in ``benchmarks/results/relevance.json`` and the README).
DEFAULT_CALIBRATOR = Calibrator(
    mean=(0.3299, 0.3975, 1.3405, 1.9750, 0.7212, 7.6195, -4.9217, 1.8600, -0.2051, 0.5350, 2.7635, 0.0821, 0.2104, -0.3977, 0.3728, 0.0667, 0.4624, 0.4544),
    scale=(0.1438, 0.1342, 1.0310, 1.0269, 0.4484, 2.6891, 3.3875, 0.7555, 0.1370, 0.1207, 0.6100, 0.1448, 0.2245, 0.2720, 0.2880, 0.2494, 0.9012, 0.9041),
    coef=(-0.0001, -0.1993, -0.1029, -0.1840, 0.1421, -0.1106, 0.7804, -0.6507, -0.0145, 0.0164, 0.3941, -0.0178, -0.2262, 0.4339, 0.5891, -0.1030, 0.3122, -0.0600),
    intercept=-3.3009,
)
#: The relevance below which the prompt-facing adapters leave a trace out,
#: chosen by ``benchmarks/tune.py --relevance`` together with
#: ``answerable.ANSWERABLE_FLOOR`` from the held-out abstention grid (of the
#: pairs that keep 90% of the top-10 evidence and are no worse than the
#: previous pair on any measure, the one that drops the most non-evidence:
#: no pair meets every target).  Core ``recall`` applies no threshold unless
#: asked (``min_relevance=``).
PROMPT_MIN_RELEVANCE = 0.0225
#: The embedding model the shipped calibrator was fitted with.  Relevance from
#: another model's similarities is not calibrated, so no default threshold
#: applies to it (``prompt.default_min_relevance``).
CALIBRATED_FOR = "all-MiniLM-L6-v2"
