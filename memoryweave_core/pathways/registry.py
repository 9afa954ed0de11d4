"""What a recall pathway is, what it sees, and the registry that holds them.

A pathway is one kind of evidence that a trace is what a query asks for.
Each declares in one :class:`Pathway` its name, how its raw values are
normalised across a recall's candidates, its default fusion weight, a
one-line description and how it is computed from the candidate pool.
``config.FEATURES``, the default weights, fusion, explanations and the seed
facade's relevance table all read this registry, so a new pathway is one
:func:`register` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Collection, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..filters import Node
from ..lexscore import Hits, find
from ..names import names_in
from ..pool import Pool
from .scale import NORMALISATIONS, Normalisation

if TYPE_CHECKING:
    from ..storage.base import Live


@dataclass(frozen=True)
class Query:
    """One recall request, with the query's vectors already computed."""

    text: str
    vector: np.ndarray
    namespace: str
    now: float
    #: Embedding of the query without speaker names (None: same as ``vector``).
    topic_vector: np.ndarray | None = None
    #: Speaker names known in the namespace (a names.NameIndex, from MemoryWeave).
    names: Collection[str] = frozenset()
    #: The recall filter (parsed): only traces matching it are candidates.
    where: Node | None = None
    #: Which versions and unexpired traces the candidate search may return (None: all).
    live: "Live | None" = None

    @property
    def topic(self) -> np.ndarray:
        return self.vector if self.topic_vector is None else self.topic_vector


LexicalStats = tuple[int, float, dict[str, int]]


class Context:
    """What the pathways of one recall share, each part computed once, when first asked for.

    Pathways that build on others (``spread`` on ``lexical``, ``episode`` on
    the direct matches) read them through :meth:`value` and :meth:`shared`,
    so nothing is computed twice and nothing is computed for a pathway that
    is switched off.
    """

    def __init__(
        self,
        pool: Pool,
        query: Query,
        *,
        terms: Sequence[str],
        neighbour_radius: int,
        decay: float,
        lexical_stats: Callable[[Sequence[str]], LexicalStats],
        prototypes: np.ndarray | None = None,
    ) -> None:
        self.pool = pool
        self.query = query
        #: The query's lexical tokens (``lexical.tokenize``).
        self.terms = list(terms)
        self.neighbour_radius = neighbour_radius
        self.decay = decay
        self.prototypes = prototypes
        self._lexical_stats = lexical_stats
        self._values: dict[str, np.ndarray | None] = {}
        self._shared: dict[str, Any] = {}

    def value(self, name: str) -> np.ndarray | None:
        """Pathway ``name``'s raw values over the pool (None: nothing to say), computed once."""
        if name not in self._values:
            self._values[name] = get(name).compute(self.pool, self.query, self)
        return self._values[name]

    def array(self, name: str) -> np.ndarray:
        """:meth:`value` of a pathway that always has one."""
        out = self.value(name)
        if out is None:
            raise InvalidInputError(f"pathway {name!r} computed nothing, but {name!r} is read as always present")
        return out

    def shared(self, key: str, make: Callable[[], Any]) -> Any:
        """An intermediate that several pathways read (``make()`` runs once per recall)."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    def lexical_stats(self) -> LexicalStats:
        """Documents in the namespace, their average length, each query term's document frequency."""
        return self.shared("lexical_stats", lambda: self._lexical_stats(self.terms))

    def term_hits(self) -> Hits:
        """Where the query's distinct terms occur in the pool (``lexscore.find``):
        the lexical pathway and the answerable gate's coverage read the same."""
        return self.shared("term_hits", lambda: find(self.pool.tokens, list(dict.fromkeys(self.terms))))

    def named_speakers(self) -> set[str]:
        """Lower-cased known speaker names that the query mentions."""
        return self.shared("named", lambda: {n.lower() for n in names_in(self.query.text, self.query.names)})

    @cached_property
    def episodes(self) -> np.ndarray:
        """Equal small integers for the rows of one episode; a row without an episode is alone in its own."""
        codes = self.pool.episode.codes.copy()
        alone = codes < 0
        codes[alone] = len(self.pool.episode.labels) + np.arange(int(alone.sum()))
        return codes

    @cached_property
    def neighbours(self) -> np.ndarray:
        """``nb[i, r + d]``: the row of trace i's neighbour at offset d (-r..r)
        in its episode, or -1 where the pool has none."""
        pool, r = self.pool, self.neighbour_radius
        nb = np.full((len(pool), 2 * r + 1), -1, dtype=np.int64)
        placed = np.flatnonzero(pool.episode.codes >= 0)
        if r and len(placed):
            # (episode, position) as one sortable integer; a neighbour is a binary search away
            codes = self.episodes[placed]
            pos = pool.positions[placed]
            slot = codes << 32 | pos
            order = np.argsort(slot, kind="stable")
            ranked = slot[order]
            fill = _shifted_neighbours if (ranked[1:] != ranked[:-1]).all() else _searched_neighbours
            fill(nb, r, slot, order, placed, pos)
        return nb


def _searched_neighbours(nb: np.ndarray, r: int, slot: np.ndarray, order: np.ndarray, placed: np.ndarray,
                         pos: np.ndarray) -> None:
    """Fill :attr:`Context.neighbours` by a binary search per offset among the sorted
    slots (``slot``) of the ``placed`` rows (``order`` sorts them; ``pos``: their positions)."""
    ranked, rows = slot[order], placed[order]
    for d in range(-r, r + 1):
        if d:
            at = np.minimum(np.searchsorted(ranked, slot + d), len(ranked) - 1)
            ok = (ranked[at] == slot + d) & (pos + d >= 0)
            nb[placed[ok], r + d] = rows[at[ok]]


def _shifted_neighbours(nb: np.ndarray, r: int, slot: np.ndarray, order: np.ndarray, placed: np.ndarray,
                        pos: np.ndarray) -> None:
    """:func:`_searched_neighbours` when no two rows share an episode and a
    position: the sorted slots are then strictly increasing, so the slot ``d`` on
    from one is at most ``|d|`` places away among them, and shifted comparisons
    find every neighbour with no binary search."""
    ranked, rows, pos = slot[order], placed[order], pos[order]
    n = len(ranked)
    for d in range(-r, r + 1):
        for c in range(1, min(abs(d), n - 1) + 1):
            a, b = (slice(0, n - c), slice(c, n)) if d > 0 else (slice(c, n), slice(0, n - c))
            ok = (ranked[b] == ranked[a] + d) & (pos[a] + d >= 0)
            nb[rows[a][ok], r + d] = rows[b][ok]


#: ``compute(pool, query, ctx)``: one float per candidate, or None when the
#: pathway has nothing to say about this query (it is then left out).
Compute = Callable[[Pool, Query, Context], "np.ndarray | None"]


@dataclass(frozen=True)
class Pathway:
    """One recall pathway, declared once."""

    name: str
    normalisation: Normalisation
    #: Default fusion weight; 0 leaves it off (neither computed nor explained).
    weight: float
    #: One line, for explanations and ``describe()``.
    description: str
    compute: Compute
    #: Whether it measures how well a trace matches what the query is about
    #: (not when it happened, nor how it was used): the seed facade's
    #: ``relevance_weight`` scales exactly these.
    matching: bool = True
    #: Whether its value comes from the trace's surroundings (its window, its
    #: episode) rather than from the trace itself: fusion scales such a
    #: contribution by the trace's own match (:mod:`.gate`).
    surrounding: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise InvalidInputError(f"a pathway name must be an identifier, got {self.name!r}")
        if self.normalisation not in NORMALISATIONS:
            raise InvalidInputError(f"normalisation must be one of {NORMALISATIONS}, got {self.normalisation!r}")
        if not np.isfinite(self.weight) or self.weight < 0:
            raise InvalidInputError(f"a default weight must be a finite number >= 0, got {self.weight!r}")


# Registration order is the order of FEATURES, of the feature table and of the fusion sum.
_REGISTRY: dict[str, Pathway] = {}


def register(pathway: Pathway) -> Pathway:
    """Add a pathway after the others; its name must be new."""
    if not isinstance(pathway, Pathway):
        raise InvalidInputError(f"register takes a Pathway, got {type(pathway).__name__}")
    if pathway.name in _REGISTRY:
        raise InvalidInputError(f"a pathway named {pathway.name!r} is already registered")
    _REGISTRY[pathway.name] = pathway
    return pathway


def unregister(name: str) -> None:
    """Remove a registered pathway (configs that weight it are then refused)."""
    get(name)
    del _REGISTRY[name]


def get(name: str) -> Pathway:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidInputError(f"no pathway named {name!r}; known: {names()}") from None


def pathways() -> tuple[Pathway, ...]:
    """Every registered pathway, in registration order."""
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def default_weights() -> dict[str, float]:
    return {p.name: p.weight for p in _REGISTRY.values()}


def describe() -> str:
    """The registry as a table: name, normalisation, default weight, description."""
    width = max((len(n) for n in _REGISTRY), default=0)
    return "\n".join(f"{p.name:<{width}}  {p.normalisation:<7}  {p.weight:5.2f}  {p.description}" for p in _REGISTRY.values())
