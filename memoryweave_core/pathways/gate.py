"""The own-match gate and the length share: what a trace keeps of its surroundings' lift.

The context and episode pathways say that the window or the episode around
a trace is about the query, and they say it of every turn there alike: a
400-word answer beside the turn that holds the evidence gets the same lift
as that turn, and in a prompt of a few hundred words it takes the room.
Fusion therefore scales a *surrounding* pathway's contribution by a gate on
the trace's own match (its semantic and lexical z-scores, summed and
z-scored again across the candidates): ``floor + (1 - floor) *
sigmoid(own - centre)``.  A turn that matches the query well keeps nearly
all of the lift; one that matches poorly keeps ``floor`` of it, so the lift
still reaches an answer that shares no word with the question.  ``spread``
is not a surrounding pathway in this sense: carrying a neighbour's words to
such an answer is its whole point.

The surroundings say "the evidence is near here", not how much of the
trace is.  A long trace would take that vague lift over all of its words,
and in a prompt of a few hundred words it costs as much as several short
ones; if it matches the query itself, its own pathways already say so.  So
a trace longer than :data:`LIFT_LENGTH` lexical tokens keeps a positive
surrounding lift only in proportion ``LIFT_LENGTH / length``
(:func:`length_share`); a negative one (an episode that is not about the
query) it keeps whole.

:data:`GATE_FLOOR` and :data:`GATE_CENTRE` are fitted by ``benchmarks/tune.py
--gate``, :data:`LIFT_LENGTH` by ``tune.py --lift`` (with the packing's cost
floor, which it moves), with cross-validation over LoCoMo conversations and
LongMemEval questions together (the README has the held-out figures).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .scale import zscore

#: The pathways that compare the query with the trace's own text.
OWN = ("semantic", "lexical")
#: Share of a surrounding pathway's contribution that a trace keeps however
#: poorly it matches itself (1 switches the gate off).
GATE_FLOOR = 0.75
#: Own match (in standard deviations across the candidates) at which a trace
#: keeps half of the gated share.
GATE_CENTRE = 0.0
#: Lexical tokens (``lexical.tokenize``: no stopwords) up to which a trace
#: keeps all of a positive surrounding lift; None switches the share off.
LIFT_LENGTH: int | None = 48


def own_match(raw: Mapping[str, np.ndarray], zscored: Mapping[str, np.ndarray] | None = None) -> np.ndarray | None:
    """The trace's own match, z-scored across candidates (None: no own pathway
    computed).  ``zscored``: columns of ``raw`` already z-scored (fusion's), not redone."""
    done = zscored or {}
    own = [done[f] if f in done else zscore(raw[f]) for f in OWN if f in raw]
    return zscore(np.sum(own, axis=0)) if own else None


def own_gate(raw: Mapping[str, np.ndarray], floor: float = GATE_FLOOR, centre: float = GATE_CENTRE,
             zscored: Mapping[str, np.ndarray] | None = None) -> np.ndarray | None:
    """Each candidate's share of the surrounding pathways' contribution, in [floor, 1] (None: no gate)."""
    own = own_match(raw, zscored)
    if own is None or floor >= 1.0:
        return None
    return floor + (1.0 - floor) / (1.0 + np.exp(-np.clip(own - centre, -35.0, 35.0)))


def length_share(lengths: np.ndarray | None, full: int | None = LIFT_LENGTH) -> np.ndarray | None:
    """Each candidate's share of a positive surrounding lift, ``min(1, full / length)`` (None: no share)."""
    if lengths is None or full is None:
        return None
    return np.minimum(1.0, full / np.maximum(np.asarray(lengths, dtype=np.float64), 1.0))
