"""Every knob of recall in one place, with the reason for each default.

The fusion weights are not hand-set: ``benchmarks/tune.py`` fits them with
cross-validation across conversations and the defaults below are the
held-out-fold values it printed (see the README's benchmark section).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping

from .errors import InvalidInputError

#: The retrieval pathways, in the order explanations list them.
FEATURES = (
    "semantic",  # cosine of the query with the trace's own text
    "context",  # cosine of the query with the trace inside its surroundings
    "lexical",  # BM25 word overlap
    "activation",  # ACT-R base level: recency and frequency of use
    "temporal",  # fit of the trace's time to a time expression in the query
    "episode",  # how well the trace's whole episode matches
    "spread",  # activation spreading from strong hits to their neighbours
    "category",  # resonance of the query with the trace's ART category
)

_DEFAULT_WEIGHTS = {
    "semantic": 1.0,
    "context": 0.6,
    "lexical": 0.8,
    "activation": 0.1,
    "temporal": 0.5,
    "episode": 0.3,
    "spread": 0.3,
    "category": 0.1,
}


@dataclass(frozen=True)
class RecallConfig:
    """How memories are encoded, categorised and recalled.

    Set a weight to 0, or use :meth:`without`, to switch a pathway off: it is
    then neither computed nor shown in explanations.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(dict(_DEFAULT_WEIGHTS)))
    #: Candidates fetched per pathway (content ANN, context ANN, BM25).
    candidates: int = 100
    #: The strongest direct hits whose episode neighbours join the candidates
    #: and from which activation spreads.
    seeds: int = 10
    #: How many turns on each side of a seed count as its episodic neighbours.
    neighbour_radius: int = 1
    #: Preceding turns of the episode embedded into a trace's context vector.
    context_window: int = 1
    #: ACT-R decay exponent d (0.5 is the value ACT-R uses throughout).
    decay: float = 0.5
    #: ART2-A vigilance and learning rate for the categoriser.
    vigilance: float = 0.5
    art_learning_rate: float = 0.1
    #: A gap longer than this (seconds) between adds starts a new episode
    #: when the caller does not name one.
    episode_gap: float = 30 * 60.0
    #: Cosine above which two candidates are linked for spreading activation.
    similarity_link: float = 0.5
    #: Evict lowest-activation traces beyond this many per namespace (None: keep all).
    max_traces: int | None = None

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(FEATURES)
        if unknown:
            raise InvalidInputError(f"unknown features in weights: {sorted(unknown)}; known: {FEATURES}")
        merged = {**{f: 0.0 for f in FEATURES}, **{k: float(v) for k, v in self.weights.items()}}
        object.__setattr__(self, "weights", MappingProxyType(merged))
        for name in ("candidates", "seeds", "context_window"):
            if getattr(self, name) < (1 if name == "candidates" else 0):
                raise InvalidInputError(f"{name} must be positive")
        if self.max_traces is not None and (
            isinstance(self.max_traces, bool) or not isinstance(self.max_traces, int) or self.max_traces < 1
        ):
            raise InvalidInputError("max_traces must be >= 1 or None")

    def enabled(self, feature: str) -> bool:
        return self.weights[feature] != 0.0

    def without(self, *features: str) -> "RecallConfig":
        """A copy with the given pathways switched off (for ablations)."""
        return self.with_weights(**{f: 0.0 for f in features})

    def with_weights(self, **weights: float) -> "RecallConfig":
        return replace(self, weights={**self.weights, **weights})
