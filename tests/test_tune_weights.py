"""The fusion-weight fit (``benchmarks/tune.py``, ``tune_weights.py``): the
shipped defaults are what its scripted run wrote to ``results/tune.json``, a
weight moves from the shipped one only for a gain above ``min_gain``, and
LongMemEval joins the objective at its stated share of LoCoMo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from memoryweave_core import RecallConfig
from memoryweave_core.config import FEATURES

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.append(str(BENCH))  # after the packages: benchmarks/ shadows nothing
tune_weights = pytest.importorskip("tune_weights")


def test_the_shipped_weights_are_the_scripted_fit():
    result = json.loads((BENCH / "results" / "tune.json").read_text())
    assert result["weights"] == dict(RecallConfig().weights)


def _peak_at(feature: str, target: float, slope: float):
    j = FEATURES.index(feature)
    return lambda rows, w, share: -slope * abs(float(w[j]) - target)


def test_a_weight_moves_only_for_a_gain_above_min_gain(monkeypatch):
    start = dict(RecallConfig().weights)
    target = start["semantic"] + 1.0
    monkeypatch.setattr(tune_weights, "joint", _peak_at("semantic", target, 0.0005))  # 1.0 further gains 0.0005
    assert tune_weights.fit([], start, 0.25, min_gain=0.001) == start
    assert tune_weights.fit([], start, 0.25, min_gain=0.0)["semantic"] == target
    monkeypatch.setattr(tune_weights, "joint", _peak_at("semantic", target, 0.01))
    moved = tune_weights.fit([], start, 0.25, min_gain=0.001)
    assert moved["semantic"] == target and {f: v for f, v in moved.items() if f != "semantic"} == {
        f: v for f, v in start.items() if f != "semantic"}


def _row(dataset: str, hit: bool, cat: str = "4") -> dict:
    """One question over two candidates, the evidence first on the semantic column when ``hit``."""
    z = np.zeros((12, len(FEATURES)))
    z[:, FEATURES.index("semantic")] = np.arange(12, 0, -1)
    rel = np.zeros(12, bool)
    rel[0 if hit else 11] = True
    return {"dataset": dataset, "group": 0, "cat": cat, "Z": z, "rel": rel, "n_ev": 1}


def test_longmemeval_weighs_its_share_of_locomo():
    w = np.array([1.0 if f == "semantic" else 0.0 for f in FEATURES])
    rows = [_row("locomo", True, c) for c in ("1", "2", "3", "4")] + [_row("longmemeval", False)]
    assert tune_weights.joint(rows, w, 0.0) == 1.0  # LoCoMo alone: every question found
    assert tune_weights.joint(rows, w, 0.25) == pytest.approx(1.0 / 1.25)  # the LongMemEval one missed at rank 12
