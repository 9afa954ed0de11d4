"""Every knob of recall in one place, with the reason for each default.

The fusion weights' defaults are declared with their pathways
(:mod:`memoryweave_core.pathways`), where ``benchmarks/tune.py``'s fitted
values are kept; here a config chooses among them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping

from .errors import InvalidInputError
from .pathways import default_weights, names

#: The built-in retrieval pathways, in the order explanations list them (the
#: registry's order; one registered at run time joins ``pathways.names()``).
FEATURES = names()

#: How a trace's context vector is made: from the window's content vectors
#: (no model call), by embedding the window's text, or by pooling the window's
#: token states from one pass over a run of turns (late chunking), or, with
#: the content vector too, from one pass that encodes every token once (onepass).
CONTEXT_MODES = ("late", "mean", "model", "onepass")


@dataclass(frozen=True)
class RecallConfig:
    """How memories are encoded, categorised and recalled.

    Set a weight to 0, or use :meth:`without`, to switch a pathway off: it is
    then neither computed nor shown in explanations.
    """

    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(default_weights()))
    #: Candidates fetched per pathway (content ANN for the query and for its
    #: topic, context ANN, BM25).
    candidates: int = 50
    #: How many turns on each side of a candidate join the pool as its
    #: episodic neighbours (they carry the context and spread pathways).
    neighbour_radius: int = 2
    #: Preceding turns of the episode embedded into a trace's context vector.
    #: With 2, the context of turn i is turns i-2..i, which is also the window
    #: centred on turn i-1: recall reads it there, so every trace gets a
    #: centred window without ever being rewritten.
    context_window: int = 2
    #: How the context vector is made: "model" embeds the window's text (three
    #: times as long as a turn); "mean" derives it from the window's content
    #: vectors with no second model pass, ingesting about as fast as embedding
    #: the turns alone, for a small loss of recall; "late" pools the window's
    #: token states from one pass over many turns; "onepass" reads both vectors
    #: off one pass that encodes every token once (see onepass.py and README).
    context_mode: str = "model"
    #: ACT-R decay exponent d (0.5 is the value ACT-R uses throughout).
    decay: float = 0.5
    #: ART2-A vigilance and learning rate for the categoriser.
    vigilance: float = 0.5
    art_learning_rate: float = 0.1
    #: Most categories per namespace; beyond it inputs join their best match,
    #: which keeps categorising a memory O(1) however many there are.
    art_max_categories: int | None = 1024
    #: A gap longer than this (seconds) between adds starts a new episode
    #: when the caller does not name one.
    episode_gap: float = 30 * 60.0
    #: Evict lowest-activation traces beyond this many per namespace (None: keep all).
    max_traces: int | None = None

    def __post_init__(self) -> None:
        known = names()
        unknown = set(self.weights) - set(known)
        if unknown:
            raise InvalidInputError(f"unknown features in weights: {sorted(unknown)}; known: {known}")
        merged = {**{f: 0.0 for f in known}, **{k: float(v) for k, v in self.weights.items()}}
        object.__setattr__(self, "weights", MappingProxyType(merged))
        for name, low in (("candidates", 1), ("neighbour_radius", 0), ("context_window", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.context_mode not in CONTEXT_MODES:
            raise InvalidInputError(f"context_mode must be one of {CONTEXT_MODES}, got {self.context_mode!r}")
        if self.max_traces is not None and (
            isinstance(self.max_traces, bool) or not isinstance(self.max_traces, int) or self.max_traces < 1
        ):
            raise InvalidInputError("max_traces must be >= 1 or None")

    def enabled(self, feature: str) -> bool:
        return self.weights.get(feature, 0.0) != 0.0

    def without(self, *features: str) -> "RecallConfig":
        """A copy with the given pathways switched off (for ablations)."""
        return self.with_weights(**{f: 0.0 for f in features})

    def with_weights(self, **weights: float) -> "RecallConfig":
        return replace(self, weights={**self.weights, **weights})
