"""The pathway registry: each pathway declared once, everything else derived from it."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pytest

from memoryweave import core as seed
from memoryweave_core import FEATURES, HashingEmbedder, InvalidInputError, MemoryWeave, RecallConfig, pathways
from memoryweave_core.pathways import Context, Pathway, Query, registry
from memoryweave_core.pool import Pool


def test_features_weights_and_relevance_are_read_from_the_registry() -> None:
    assert FEATURES == pathways.names()
    assert dict(RecallConfig().weights) == pathways.default_weights()
    assert seed._relevance() == tuple(p.name for p in pathways.pathways() if p.matching)
    assert {"activation", "temporal"}.isdisjoint(seed._relevance())
    for p in pathways.pathways():
        assert p.description and p.name in pathways.describe()
        assert pathways.normalise(p.name, np.array([1.0, 2.0, 3.0])).shape == (3,)


def test_normalisations_are_what_each_pathway_declares() -> None:
    x = np.array([1.0, 2.0, 4.0, np.nan])
    assert np.array_equal(pathways.normalise("speaker", x), [1.0, 2.0, 4.0, 1.0])  # raw, non-finite filled
    assert pathways.normalise("activation", x).mean() == pytest.approx(0.0)  # centred, not rescaled
    assert np.ptp(pathways.normalise("activation", x)) == pytest.approx(3.0)
    z = pathways.normalise("semantic", x)
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0)
    assert not pathways.zscore(np.ones(4)).any()


def test_a_declaration_is_checked() -> None:
    compute = lambda pool, query, ctx: np.zeros(len(pool))  # noqa: E731
    with pytest.raises(InvalidInputError):
        Pathway("two words", "zscore", 1.0, "x", compute)
    with pytest.raises(InvalidInputError):
        Pathway("toy", "minmax", 1.0, "x", compute)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        Pathway("toy", "zscore", -1.0, "x", compute)
    with pytest.raises(InvalidInputError):
        pathways.register(pathways.get("semantic"))  # names are unique
    with pytest.raises(InvalidInputError):
        pathways.unregister("nonexistent")


def _mentions_zebra(pool: Pool, query: Query, ctx: Context) -> np.ndarray:
    """A toy pathway: 1 for the traces that mention a zebra.  It also reads
    another pathway's values through the context, as ``spread`` does."""
    lexical = ctx.array("lexical")
    assert lexical.shape == (len(pool),)
    return np.array([1.0 if "zebra" in tokens else 0.0 for tokens in pool.tokens])


@pytest.fixture
def toy() -> Iterator[Pathway]:
    pathway = pathways.register(Pathway("toy", "raw", 2.0, "mentions a zebra", _mentions_zebra))
    try:
        yield pathway
    finally:
        pathways.unregister("toy")


def test_a_registered_pathway_reaches_features_fusion_and_explain(toy: Pathway) -> None:
    memory = MemoryWeave(embedder=HashingEmbedder(dim=64))
    memory.add_conversation(
        [("Ana", "We went to the zoo on Sunday"), ("Ben", "I liked the zebra best"), ("Ana", "The lions slept all day")],
        episode="zoo",
    )
    assert "toy" in pathways.names() and RecallConfig().weights["toy"] == 2.0

    table = memory.features("what did we see at the zoo")
    assert "toy" in table.raw
    assert table.raw["toy"].tolist() == [1.0 if "zebra" in memory.get(i).text else 0.0 for i in table.ids]

    result = memory.recall("what did we see at the zoo", k=3, explain=True)
    for r in result:
        assert r.features["toy"] == pytest.approx(2.0 if "zebra" in r.text else 0.0)  # weight x raw value
        assert sum(r.features.values()) == pytest.approx(r.score)
        assert "toy" in r.explain()
    assert "mentions a zebra" in result._repr_html_()

    off = memory.recall("what did we see at the zoo", k=3, config=RecallConfig().without("toy"))
    assert all("toy" not in r.features for r in off)
    # the seed facade's relevance_weight scales it like every matching pathway
    assert "toy" in seed._relevance()


def test_an_unregistered_pathway_is_refused_by_configs() -> None:
    with pytest.raises(InvalidInputError):
        RecallConfig(weights={"toy": 1.0})


def test_zscore_equals_numpy_mean_and_std_bit_for_bit():
    import warnings

    from memoryweave_core.pathways.scale import zscore

    def plain(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the std of no values
            std = x.std()
        return (x - x.mean()) / std if std > 1e-12 else np.zeros_like(x)

    rng = np.random.default_rng(5)
    for _ in range(3000):
        n = int(rng.integers(0, 500))
        x = rng.standard_normal(n) * 10 ** rng.uniform(-8, 8) + rng.uniform(-1e3, 1e3)
        x = np.round(x) if rng.random() < 0.1 else np.full(n, 3.7) if rng.random() < 0.05 else x
        assert zscore(x).tolist() == plain(x).tolist()


@pytest.mark.parametrize("seed", range(40))
def test_neighbours_equal_the_binary_search(seed, monkeypatch):
    """With distinct (episode, position) slots, neighbours come from shifted
    comparisons of the sorted slots; with a repeated slot, from the binary
    search.  Either way, what the binary search found."""
    from memoryweave_core.pool import Labels

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    episodes = [rng.choice(["e1", "e2", "e3", None]) for _ in range(n)]
    if seed % 2:  # distinct slots: each episode's positions a sample without repeats
        positions = np.zeros(n, np.int64)
        for e in set(episodes):
            rows = [i for i, x in enumerate(episodes) if x == e]
            positions[rows] = rng.choice(2 * n + 5, size=len(rows), replace=False)
    else:
        positions = rng.integers(0, 12, n)
    pool = _Columns(episode=Labels.of(episodes), positions=positions)

    def neighbours(r: int) -> np.ndarray:
        return Context(pool, None, terms=[], neighbour_radius=r, decay=0.5, lexical_stats=lambda t: (0, 0.0, {})).neighbours

    for r in (0, 1, 2, 3):
        got = neighbours(r)
        with monkeypatch.context() as patch:
            patch.setattr(registry, "_shifted_neighbours", registry._searched_neighbours)
            assert np.array_equal(got, neighbours(r))


class _Columns(SimpleNamespace):
    """A pool stand-in: the columns neighbours reads, and a length."""

    def __len__(self):
        return len(self.positions)
