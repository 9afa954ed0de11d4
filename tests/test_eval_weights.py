"""``memoryweave eval --weights``: a refit is scored by the harness itself.

tune.py's objective is a proxy (fusion columns only), so a weight set it
fits has to be run through the same eval as the shipped one to compare."""

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
