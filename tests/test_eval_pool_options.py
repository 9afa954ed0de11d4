"""``memoryweave eval --candidates/--neighbour-radius/--depth`` size the pool under test.

Recall widens its pool to at least ``k`` per pathway, so the harness's depth
(the ``k`` it asks for) is a knob too: a pool smaller than the depth would be
measured at the depth's size (``benchmarks/pool_size.py``)."""

from __future__ import annotations

import json

import pytest
from lme_question import lme_question

import memoryweave_core.embedders as embedders
import memoryweave_core.eval.systems as systems
from memoryweave_core import HashingEmbedder
from memoryweave_core.errors import InvalidInputError
from memoryweave_core.eval.__main__ import main


def test_the_pool_options_reach_the_memory_under_test(tmp_path, monkeypatch):
    data = tmp_path / "lme.json"
    data.write_text(json.dumps([lme_question("q1")]))
    model = HashingEmbedder(dim=384)
    model.model_name = "all-MiniLM-L6-v2"  # type: ignore[attr-defined]
    monkeypatch.setattr(embedders, "_DEFAULT", model)
    seen: list[tuple] = []
    real = systems.memoryweave_system

    def spy(config=None, *, name="memoryweave", depth=50):
        seen.append((config.candidates, config.neighbour_radius, depth))
        return real(config, name=name, depth=depth)

    monkeypatch.setattr(systems, "memoryweave_system", spy)
    assert main(["longmemeval", "--data", str(data), "--systems", "memoryweave", "--no-ablations", "--quiet",
                 "--cache-dir", str(tmp_path / "cache"), "--candidates", "7", "--neighbour-radius", "1",
                 "--depth", "7"]) == 0
    assert seen == [(7, 1, 7)]


def test_without_the_options_the_defaults_are_measured(monkeypatch):
    seen: list[tuple] = []
    monkeypatch.setattr(systems, "memoryweave_system",
                        lambda config=None, *, name="memoryweave", depth=50: seen.append(
                            (config.candidates, config.neighbour_radius, depth)))
    systems.default_systems(ablations=False)
    default = systems.RecallConfig()
    assert seen == [(default.candidates, default.neighbour_radius, 50)]


@pytest.mark.parametrize("bad", [{"candidates": 0}, {"neighbour_radius": -1}, {"depth": 0}])
def test_a_bad_pool_size_is_refused_before_any_system_is_built(bad):
    with pytest.raises(InvalidInputError):
        systems.default_systems(ablations=False, **bad)
