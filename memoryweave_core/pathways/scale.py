"""Putting a pathway's raw values on a common scale across one recall's candidates.

Cosines, BM25 scores and activations live on different scales that change
from query to query; fusion adds them only after each is normalised the way
its pathway declares.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

#: ``zscore`` for similarities (their spread differs from query to query);
#: ``centred`` for values in meaningful units (an activation in log-odds, a fit
#: in [0, 1]: rescaling would blow two traces a second apart up to whole
#: standard deviations); ``raw`` for indicators that are already 0 or 1.
Normalisation = Literal["zscore", "centred", "raw"]
NORMALISATIONS: tuple[Normalisation, ...] = ("zscore", "centred", "raw")


def finite(x: np.ndarray) -> np.ndarray:
    """As float64, non-finite values replaced by the smallest finite one."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    if ok.all() or not len(x):
        return x
    return np.where(ok, x, x[ok].min() if ok.any() else 0.0)


def zscore(x: np.ndarray) -> np.ndarray:
    """Standardise across candidates; a constant feature contributes nothing.

    The mean and standard deviation are ``x.mean()`` and ``x.std()`` step by
    step (the same sums, in the same order, so the same bits), without their
    Python-level wrappers: a recall standardises a dozen columns."""
    x = finite(x)
    n = len(x)
    if not n:
        return np.zeros_like(x)
    centred = x - np.add.reduce(x) / n
    std = np.sqrt(np.add.reduce(centred * centred) / n)
    return centred / std if std > 1e-12 else np.zeros_like(x)


def zscores(columns: list[np.ndarray]) -> list[np.ndarray]:
    """:func:`zscore` of each of several equally long columns, as rows of one
    array: each step is one numpy call for all of them instead of one per
    column.  A reduction along an array's last axis sums each row as the
    1-d reduction sums that row, so every column gets :func:`zscore`'s bits
    (``tests/test_scale.py`` checks)."""
    if len(columns) < 2:
        return [zscore(x) for x in columns]
    x = np.array(columns, dtype=np.float64)  # a copy: finite() may write into it
    n = x.shape[1]
    if not n:
        return [np.zeros(0) for _ in columns]
    ok = np.isfinite(x)
    if not ok.all():
        for i in np.flatnonzero(~ok.all(axis=1)).tolist():
            x[i] = finite(x[i])
    centred = x - (np.add.reduce(x, axis=1) / n)[:, None]
    std = np.sqrt(np.add.reduce(centred * centred, axis=1) / n)
    flat = ~(std > 1e-12)  # as zscore: a constant column contributes nothing
    out = centred / np.where(flat, 1.0, std)[:, None]
    out[flat] = 0.0
    return list(out)


def scale(kind: Normalisation, x: np.ndarray) -> np.ndarray:
    if kind == "raw":
        return finite(x)
    if kind == "centred":
        x = finite(x)
        return x - x.mean()
    return zscore(x)
