"""Refitting for another context mode: ``memoryweave eval --weights`` scores a
weight set through the harness itself (tune.py's objective is a proxy, fusion
columns only), and tune.py and the calibration build their memories as the
harness does (``systems.given_vectors``)."""

from __future__ import annotations

import json

import pytest

from memoryweave_core.errors import InvalidInputError
from memoryweave_core.eval.__main__ import read_weights
from memoryweave_core.eval.systems import default_systems


def test_weights_read_inline_or_from_a_tune_result(tmp_path):
    assert read_weights('{"context": 0.75}') == {"context": 0.75}
    path = tmp_path / "tune.json"
    path.write_text(json.dumps({"held_out": {}, "weights": {"context": 0.75, "temporal": 4}}))
    assert read_weights(str(path)) == {"context": 0.75, "temporal": 4.0}
    with pytest.raises(InvalidInputError):
        read_weights("[1, 2]")
    with pytest.raises(InvalidInputError):
        read_weights(str(tmp_path / "missing.json"))


def test_weights_override_the_default_and_unknown_ones_are_refused():
    systems = default_systems(ablations=True, weights={"context": 0.0})
    assert "memoryweave-no-context" not in systems  # a pathway weighted 0 is no ablation
    assert "memoryweave-no-semantic" in systems
    with pytest.raises(InvalidInputError):
        default_systems(weights={"no-such-pathway": 1.0})


def test_onepass_memories_of_the_tuning_make_their_own_content_vectors():
    """tune.py and the calibration build eval memories as the harness does:
    under onepass the cached plain vectors would overrule the pass's."""
    import numpy as np

    from memoryweave_core import HashingEmbedder, RecallConfig
    from memoryweave_core.eval.calibration import build_memories
    from memoryweave_core.eval.datasets import Conversation, Dataset, Session, Turn
    from memoryweave_core.eval.systems import given_vectors

    vecs = np.ones((2, 4), np.float32)
    assert given_vectors(RecallConfig(context_mode="onepass"), vecs) is None
    assert given_vectors(RecallConfig(context_mode="model"), vecs) is vecs

    turns = [Turn(f"D1:{i}", "Ana", f"Ana: {text}", text, "D1", i, 1.7e9 + i)
             for i, text in enumerate(["I adopted a kitten named Luna.", "She sleeps on my keyboard."])]
    ds = Dataset("locomo", [Conversation("c", [Session("D1", 1.7e9, "")], [], ["Ana"])])
    ds.conversations[0].sessions[0].turns = turns

    class Cache:
        def embed(self, texts, embedder):
            out = np.zeros((len(texts), 64), np.float32)
            out[:, 0] = 1.0  # not what the embedder gives
            return out

    embedder = HashingEmbedder(dim=64)
    for mode, cached in (("model", True), ("onepass", False)):
        [(memory, _)] = build_memories(ds, Cache(), embedder, RecallConfig(context_mode=mode))
        assert memory.config.context_mode == mode
        content = np.stack([t.content for t in memory.traces()])
        assert np.allclose(content[:, 0], 1.0) == cached
