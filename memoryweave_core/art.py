"""ART2-A: online clustering of memories into categories, Adaptive Resonance style.

An input *resonates* with the category whose prototype it matches best when
the match (cosine, since inputs are unit vectors) reaches the ``vigilance``
threshold; the prototype then moves a step of ``learning_rate`` toward the
input and is renormalised.  When nothing resonates, a new category is born
with the input as its prototype.  High vigilance gives many tight
categories, low vigilance few broad ones.  Unlike k-means there is no ``k``
and no second pass: every memory is categorised once, as it arrives, and old
categories are never overwritten by new topics (the stability-plasticity
balance ART was designed for).

The estimator follows scikit-learn's conventions: hyper-parameters in
``__init__``, ``partial_fit``/``predict``, learned state with a trailing
underscore.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import TYPE_CHECKING

import numpy as np

from .errors import InvalidInputError
from .trace import check_vectors

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from threadpoolctl import ThreadpoolController

#: Rows matched against the prototypes in one matrix product.
BLOCK = 64


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController | None:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """BLAS on one thread while a batch is fitted, when threadpoolctl is
    installed (it comes with the ``st`` extra).  The block products are too
    small to gain from threads, and on a busy machine (or beside the HNSW
    indexer thread) OpenBLAS's threads wait for a core: fitting 20,000 rows
    measured 7x slower with them on a loaded 2-core machine."""
    controller = _blas_controller()
    return controller.limit(limits=1, user_api="blas") if controller is not None else contextlib.nullcontext()


class ART2A:
    """Online ART2-A categoriser for unit-length embeddings.

    Parameters
    ----------
    vigilance : float in (0, 1]
        Minimum cosine between an input and a prototype for resonance.
    learning_rate : float in (0, 1]
        How far a resonating prototype moves toward the input (``beta``).
    max_categories : int or None
        Once this many categories exist, an input that resonates with none
        joins the best-matching one instead of founding another.  Matching
        costs O(categories) per input, so the cap is what keeps adds O(1)
        on a million diverse memories.

    Attributes
    ----------
    prototypes_ : ndarray [n_categories, dim]
        Unit-length prototype of each category.
    counts_ : ndarray [n_categories]
        How many inputs each category has absorbed.
    labels_ : ndarray
        Category of each row of the last ``partial_fit`` batch.
    """

    def __init__(self, vigilance: float = 0.5, learning_rate: float = 0.1, max_categories: int | None = None) -> None:
        self.vigilance = vigilance
        self.learning_rate = learning_rate
        self.max_categories = max_categories

    def _check_params(self) -> None:
        if not 0.0 < self.vigilance <= 1.0:
            raise InvalidInputError(f"vigilance must be in (0, 1], got {self.vigilance}")
        if not 0.0 < self.learning_rate <= 1.0:
            raise InvalidInputError(f"learning_rate must be in (0, 1], got {self.learning_rate}")
        if self.max_categories is not None and (isinstance(self.max_categories, bool) or self.max_categories < 1):
            raise InvalidInputError(f"max_categories must be >= 1 or None, got {self.max_categories}")

    @property
    def n_categories_(self) -> int:
        return getattr(self, "_n", 0)

    def partial_fit(self, X: ArrayLike) -> "ART2A":
        """Categorise each row of ``X`` in order, learning as it goes."""
        self._check_params()
        X = check_vectors(X, getattr(self, "dim_", None), what="ART input")
        if not hasattr(self, "dim_"):
            self.dim_ = X.shape[1]
            self._protos = np.zeros((16, self.dim_), dtype=np.float32)
            self._counts = np.zeros(16, dtype=np.int64)
            self._n = 0
        with _one_blas_thread() if len(X) > 1 else contextlib.nullcontext():
            self.labels_ = np.concatenate(
                [self._fit_block(X[i : i + BLOCK]) for i in range(0, len(X), BLOCK)] or [np.zeros(0, np.int64)]
            )
        return self

    def _fit_block(self, X: np.ndarray) -> np.ndarray:
        """Learn rows one by one, in order, exactly as if partial_fit were
        called per row; but match the block against the prototypes it started
        with in one product, and re-match each row only against the
        categories this block has changed (``moved``) or created (rows
        ``start:`` of the prototypes) since."""
        start = self._n
        match = X @ self._protos[:start].T
        moved: list[int] = []
        labels = np.empty(len(X), dtype=np.int64)
        for i, x in enumerate(X):
            best, score = -1, -np.inf
            if start:
                row = match[i]
                if moved:  # their scores in `match` are stale
                    row = row.copy()
                    row[moved] = self._protos[moved] @ x
                best = int(row.argmax())
                score = float(row[best])
            if self._n > start:  # a category born in this block wins only when strictly better (argmax's first-index ties)
                born = self._protos[start : self._n] @ x
                j = int(born.argmax())
                if born[j] > score:
                    best, score = start + j, float(born[j])
            label = labels[i] = self._learn_one(x, best, score)
            if label < start and label not in moved:
                moved.append(label)
        return labels

    def _learn_one(self, x: np.ndarray, best: int, score: float) -> int:
        """Resonate with category ``best`` (cosine ``score``) or found a new one."""
        full = self.max_categories is not None and self._n >= self.max_categories
        if best >= 0 and (score >= self.vigilance or full):
            w = self._protos[best] * (1.0 - self.learning_rate) + x * self.learning_rate
            self._protos[best] = w / max(math.sqrt(float(w @ w)), 1e-12)
            self._counts[best] += 1
            return best
        if self._n == len(self._protos):  # amortised O(1) growth
            self._protos = np.concatenate([self._protos, np.zeros_like(self._protos)])
            self._counts = np.concatenate([self._counts, np.zeros_like(self._counts)])
        self._protos[self._n] = x
        self._counts[self._n] = 1
        self._n += 1
        return self._n - 1

    @property
    def prototypes_(self) -> np.ndarray:
        return self._protos[: self._n]

    @property
    def counts_(self) -> np.ndarray:
        return self._counts[: self._n]

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Best-matching category per row, or -1 where none resonates."""
        X = check_vectors(X, getattr(self, "dim_", None), what="ART input")
        if not self.n_categories_:
            return np.full(len(X), -1, dtype=np.int64)
        match = X @ self.prototypes_.T
        best = match.argmax(axis=1)
        return np.where(match[np.arange(len(X)), best] >= self.vigilance, best, -1)

    def resonance(self, X: ArrayLike) -> np.ndarray:
        """Cosine of each row of ``X`` with every prototype: [n, n_categories]."""
        X = check_vectors(X, getattr(self, "dim_", None), what="ART input")
        if not self.n_categories_:
            return np.zeros((len(X), 0), dtype=np.float32)
        return X @ self.prototypes_.T

    # Persistence without pickle: plain arrays and numbers.
    def get_state(self) -> dict:
        return {
            "vigilance": self.vigilance,
            "learning_rate": self.learning_rate,
            "max_categories": self.max_categories,
            "prototypes": self.prototypes_.copy() if self.n_categories_ else None,
            "counts": self.counts_.copy() if self.n_categories_ else None,
        }

    @classmethod
    def from_state(cls, state: dict) -> "ART2A":
        cap = state.get("max_categories")
        art = cls(float(state["vigilance"]), float(state["learning_rate"]), None if cap is None else int(cap))
        protos = state.get("prototypes")
        if protos is not None and len(protos):
            protos = np.asarray(protos, dtype=np.float32)
            art.dim_ = protos.shape[1]
            art._protos = protos.copy()
            art._counts = np.asarray(state["counts"], dtype=np.int64).copy()
            art._n = len(protos)
        return art
