"""Fusion: the weighted sum of the normalised pathways, and each one's share of it."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .registry import get
from .scale import scale


def normalise(feature: str, x: np.ndarray) -> np.ndarray:
    """A pathway's raw values on the scale its declared normalisation gives."""
    return scale(get(feature).normalisation, x)


def fuse(raw: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted sum of normalised features: (scores, contribution per feature).

    Each weight times its normalised feature is that pathway's contribution,
    kept on the Recollection for ``explain()``: the contributions add up to
    the score."""
    contributions = {f: weights[f] * normalise(f, v) for f, v in raw.items() if weights.get(f, 0.0)}
    n = len(next(iter(raw.values()))) if raw else 0
    score = np.sum(list(contributions.values()), axis=0) if contributions else np.zeros(n)
    return score, contributions
