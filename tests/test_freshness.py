"""The freshness pathway: a later statement that updates an earlier one outranks it."""

from __future__ import annotations

import numpy as np
import pytest

from memoryweave_core import MemoryWeave, RecallConfig
from memoryweave_core.timeexpr import past_directed, reference_time

OLD = "my favourite colour is red and I like it a lot"
NEW = "my favourite colour is blue and I like it a lot"


def _colours(memory: MemoryWeave) -> None:
    memory.add(OLD, speaker="user", time="2024-01-01")
    memory.add("the weather was cold at the harbour today", speaker="user", time="2024-02-01")
    memory.add(NEW, speaker="user", time="2024-03-01")


def test_later_update_gets_a_bonus_and_the_earlier_a_penalty(memory):
    _colours(memory)
    found = memory.recall("favourite colour", 3, at="2024-04-01", explain=True)
    by_text = {r.text: r for r in found}
    assert by_text[NEW].raw["freshness"] > 0 > by_text[OLD].raw["freshness"]
    assert by_text["the weather was cold at the harbour today"].raw["freshness"] == 0
    assert found[0].text == NEW
    off = memory.recall("favourite colour", 3, at="2024-04-01", config=RecallConfig().without("freshness"))
    assert "freshness" not in off[0].features


def test_another_speaker_does_not_update(memory):
    memory.add(OLD, speaker="user", time="2024-01-01")
    memory.add(NEW, speaker="assistant", time="2024-03-01")
    found = memory.recall("favourite colour", 2, at="2024-04-01", explain=True)
    assert all(r.raw["freshness"] == 0 for r in found)


def test_an_update_after_the_moment_asked_about_does_not_count(memory):
    _colours(memory)
    before = memory.recall("favourite colour", 3, at="2024-02-15", explain=True)
    assert all(r.raw.get("freshness", 0) == 0 for r in before)
    in_window = memory.recall("favourite colour in January 2024", 3, at="2024-04-01", explain=True)
    assert all(r.raw.get("freshness", 0) == 0 for r in in_window)


def test_a_query_about_the_past_turns_it_off(memory):
    _colours(memory)
    found = memory.recall("what favourite colour did I use to have", 3, at="2024-04-01", explain=True)
    assert all("freshness" not in r.features for r in found)
    assert past_directed("What did I previously say?") and not past_directed("What is my favourite colour?")
    now = 1_700_000_000.0
    assert reference_time("what is it now", now) == now and reference_time("in 2022", now) < now


@pytest.mark.slow
def test_real_minilm_colour_update_ranks_first():
    from memoryweave_core import default_embedder

    memory = MemoryWeave(embedder=default_embedder())
    memory.add("My favourite colour is red.", speaker="user", time="2024-01-01")
    memory.add("Nice to meet you.", speaker="assistant", time="2024-01-01")
    memory.add("I went hiking with my dog yesterday.", speaker="user", time="2024-02-01")
    memory.add("Update: my favourite colour is now blue, not red.", speaker="user", time="2024-03-01")
    found = memory.recall("What is my favourite colour?", 3, at="2024-04-01")
    assert found[0].text == "Update: my favourite colour is now blue, not red."
    assert np.isclose(found[0].features["freshness"], -found[1].features["freshness"])


def _reference_extremes(pool, made, threshold=0.6):
    """update_extremes written as the plain double loop it stands for."""
    n = len(pool.times)
    makes, updated = np.zeros(n), np.zeros(n)
    for i in range(n):
        for j in range(n):
            later = pool.times[j] > pool.times[i] or (
                pool.times[j] == pool.times[i] and str(pool.episodes[j]) == str(pool.episodes[i])
                and pool.positions[j] > pool.positions[i])
            if later and made[j] and (pool.speakers[i] or "") == (pool.speakers[j] or ""):
                u = min(max((float(pool.content[i] @ pool.content[j]) - threshold) / (1 - threshold), 0.0), 1.0)
                updated[i], makes[j] = max(updated[i], u), max(makes[j], u)
    return makes, updated


def test_update_extremes_equal_a_plain_double_loop_on_random_pools():
    from types import SimpleNamespace

    from memoryweave_core.pathways.freshness import update_extremes
    from memoryweave_core.pool import Labels

    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(0, 40))
        centres = rng.normal(size=(3, 8))
        content = (centres[rng.integers(0, 3, n)] + 0.3 * rng.normal(size=(n, 8))).astype(np.float32)
        content /= np.maximum(np.linalg.norm(content, axis=1, keepdims=True), 1e-9)
        pool = SimpleNamespace(
            content=content, speakers=[rng.choice(["a", "b", "", None]) for _ in range(n)],
            episodes=[rng.choice(["e1", "e2", None]) for _ in range(n)],
            times=rng.integers(0, 5, n).astype(float), positions=rng.integers(0, 4, n),
        )
        pool.speaker, pool.episode = Labels.of(pool.speakers), Labels.of(pool.episodes)
        made = rng.random(n) < 0.8
        got = update_extremes(_Sized(pool, n), made)
        want = _reference_extremes(pool, made)
        np.testing.assert_allclose(got[0], want[0], atol=1e-6)
        np.testing.assert_allclose(got[1], want[1], atol=1e-6)


class _Sized:
    """A pool stand-in: the columns update_extremes reads, and a length."""

    def __init__(self, ns, n):
        self.__dict__.update(vars(ns))
        self._n = n

    def __len__(self):
        return self._n


def _masked_by_where_extremes(pool, made, threshold=0.6):
    """update_extremes as it was before it masked the cosines of earlier
    pairs by multiplying with the mask (``np.where(later, sims, -inf)``)."""
    n = len(pool.times)
    empty = [c for c, s in enumerate(pool.speaker.labels) if not s]
    speakers = np.where(np.isin(pool.speaker.codes, empty), -1, pool.speaker.codes)
    episodes = pool.episode.codes
    makes, updated = np.zeros(n), np.zeros(n)
    scale = max(1.0 - threshold, 1e-6)
    ordered = np.sort(pool.times)
    ties = bool((ordered[1:] == ordered[:-1]).any()) or int(np.isnan(ordered).sum()) > 1
    for code in np.unique(speakers):
        mine = np.flatnonzero(speakers == code)
        cols = mine[made[mine]]
        if len(mine) < 2 or not len(cols):
            continue
        t, pos, ep, keep = pool.times[cols], pool.positions[cols], episodes[cols], made[mine]
        x = pool.content[mine]
        gram = x @ x.T if len(mine) <= 512 else None  # one array times its transpose: BLAS syrk
        for lo in range(0, len(mine), 512):
            rows = mine[lo:lo + 512]
            tr, pr, er = pool.times[rows, None], pool.positions[rows, None], episodes[rows, None]
            later = t[None, :] > tr
            if ties:
                later |= (t[None, :] == tr) & (ep[None, :] == er) & (pos[None, :] > pr)
            if gram is None:
                sims = pool.content[rows] @ pool.content[cols].T
            else:
                sims = gram if len(cols) == len(mine) else gram[:, keep]
            best = np.where(later, sims, -np.inf)
            updated[rows] = np.clip((best.max(axis=1) - threshold) / scale, 0.0, 1.0)
            makes[cols] = np.maximum(makes[cols], np.clip((best.max(axis=0) - threshold) / scale, 0.0, 1.0))
    return makes, updated


def test_update_extremes_equal_the_where_mask_bit_for_bit():
    """Masking earlier pairs to 0 instead of -inf changes no bit: either
    makes no update at a threshold of 0 or more (and below 0, -inf is kept)."""
    from types import SimpleNamespace

    from memoryweave_core.pathways.freshness import update_extremes
    from memoryweave_core.pool import Labels

    rng = np.random.default_rng(9)
    for trial in range(120):
        n = int(rng.integers(0, 80)) if trial < 100 else int(rng.integers(200, 1200))  # the last: recall-sized, and past a chunk
        dim = 16 if trial < 100 else 384
        content = rng.normal(size=(n, dim)).astype(np.float32)
        content[1:] += 2 * content[:1] if n else 0
        content /= np.maximum(np.linalg.norm(content, axis=1, keepdims=True), 1e-9)
        times = rng.integers(0, 6, n).astype(float) if rng.random() < 0.5 else rng.random(n) * 100
        pool = SimpleNamespace(content=content, times=times, positions=rng.integers(0, 4, n),
                               speaker=Labels.of(rng.choice(["a", "b", "", None]) for _ in range(n)),
                               episode=Labels.of(rng.choice(["e1", "e2", None]) for _ in range(n)))
        if trial % 7 == 3 and n:  # a corrupt vector: cosines inf or NaN
            content[rng.integers(0, n)] = rng.choice([np.inf, np.nan, 3e38])
        made = rng.random(n) < (0.8 if trial % 2 else 1.0)
        threshold = (0.6, 0.0, -0.2, 0.95)[trial % 4]
        with np.errstate(all="ignore"):
            got = update_extremes(_Sized(pool, n), made, threshold)
            want = _masked_by_where_extremes(pool, made, threshold)
        assert np.array_equal(got[0], want[0], equal_nan=True) and np.array_equal(got[1], want[1], equal_nan=True)
