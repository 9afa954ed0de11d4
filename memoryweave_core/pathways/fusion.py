"""Fusion: the weighted sum of the normalised pathways, and each one's share of it."""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from .gate import GATE_CENTRE, GATE_FLOOR, LIFT_LENGTH, length_share, own_gate
from .registry import get
from .scale import scale, zscores


def normalise(feature: str, x: np.ndarray) -> np.ndarray:
    """A pathway's raw values on the scale its declared normalisation gives."""
    return scale(get(feature).normalisation, x)


def columns(raw: Mapping[str, np.ndarray], features: Iterable[str], *, floor: float = GATE_FLOOR,
            centre: float = GATE_CENTRE, lengths: np.ndarray | None = None,
            lift_length: int | None = LIFT_LENGTH) -> dict[str, np.ndarray]:
    """Each of ``features`` (those in ``raw``) normalised, a surrounding
    pathway's times the own-match gate and, where positive, the length share
    of candidates ``lengths`` tokens long (:mod:`.gate`): what its weight
    multiplies.  ``benchmarks/tune.py`` fits weights, gate and share on these."""
    kinds = {f: get(f) for f in features if f in raw}
    by_z = [f for f, p in kinds.items() if p.normalisation == "zscore"]
    zscored = dict(zip(by_z, zscores([raw[f] for f in by_z])))  # all at once: the same bits as one by one
    out = {f: zscored[f] if f in zscored else scale(p.normalisation, raw[f]) for f, p in kinds.items()}
    surround = [f for f, p in kinds.items() if p.surrounding]
    if surround:
        # the gate z-scores the own pathways as their normalisation just did: those are reused
        gate = own_gate(raw, floor, centre, zscored)
        share = length_share(lengths, lift_length)
        for f in surround:
            z = out[f] if gate is None else out[f] * gate
            out[f] = z if share is None else np.where(z > 0, z * share, z)
    return out


def fuse(raw: Mapping[str, np.ndarray], weights: Mapping[str, float],
         lengths: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted sum of normalised features: (scores, contribution per feature).

    Each weight times its normalised (and, if surrounding, gated and shared
    by ``lengths``, the candidates' lexical token counts) feature is that
    pathway's contribution, kept on the Recollection for ``explain()``: the
    contributions add up to the score."""
    cols = columns(raw, [f for f in raw if weights.get(f, 0.0)], lengths=lengths)
    contributions = {f: weights[f] * z for f, z in cols.items()}
    n = len(next(iter(raw.values()))) if raw else 0
    score = np.sum(list(contributions.values()), axis=0) if contributions else np.zeros(n)
    return score, contributions
