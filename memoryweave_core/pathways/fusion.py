"""Fusion: the weighted sum of the normalised pathways, and each one's share of it."""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from .gate import GATE_CENTRE, GATE_FLOOR, own_gate
from .registry import get
from .scale import scale


def normalise(feature: str, x: np.ndarray) -> np.ndarray:
    """A pathway's raw values on the scale its declared normalisation gives."""
    return scale(get(feature).normalisation, x)


def columns(raw: Mapping[str, np.ndarray], features: Iterable[str], *, floor: float = GATE_FLOOR,
            centre: float = GATE_CENTRE) -> dict[str, np.ndarray]:
    """Each of ``features`` (those in ``raw``) normalised, a surrounding
    pathway's times the own-match gate (:mod:`.gate`): what its weight
    multiplies.  ``benchmarks/tune.py`` fits weights and gate on these."""
    wanted = [f for f in features if f in raw]
    gate = own_gate(raw, floor, centre) if any(get(f).surrounding for f in wanted) else None
    out = {}
    for f in wanted:
        z = normalise(f, raw[f])
        out[f] = z * gate if gate is not None and get(f).surrounding else z
    return out


def fuse(raw: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted sum of normalised features: (scores, contribution per feature).

    Each weight times its normalised (and, if surrounding, gated) feature is
    that pathway's contribution, kept on the Recollection for ``explain()``:
    the contributions add up to the score."""
    cols = columns(raw, [f for f in raw if weights.get(f, 0.0)])
    contributions = {f: weights[f] * z for f, z in cols.items()}
    n = len(next(iter(raw.values()))) if raw else 0
    score = np.sum(list(contributions.values()), axis=0) if contributions else np.zeros(n)
    return score, contributions
