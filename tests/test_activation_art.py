"""ACT-R activation against its exact formula, and the ART2-A estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from memoryweave_core import ART2A, InvalidInputError
from memoryweave_core.activation import RECENT, AccessLog, base_level


def exact(times, now, d=0.5):
    return math.log(sum(max(now - t, 1.0) ** -d for t in times))


def test_activation_is_exact_while_log_is_short():
    log = AccessLog(first=0.0)
    times = [0.0]
    for t in (100.0, 500.0, 2_000.0):
        log.touch(t)
        times.append(t)
    assert base_level(log, 10_000.0) == pytest.approx(exact(times, 10_000.0))


def test_bounded_log_approximates_long_history():
    log = AccessLog(first=0.0)
    times = [0.0]
    for i in range(1, 200):
        log.touch(i * 1_000.0)
        times.append(i * 1_000.0)
    assert len(log.recent) == RECENT and log.count == 200
    assert base_level(log, 300_000.0) == pytest.approx(exact(times, 300_000.0), abs=0.05)


def test_activation_decays_and_frequency_helps():
    once, often = AccessLog(first=0.0), AccessLog(first=0.0)
    for t in (10.0, 20.0, 30.0):
        often.touch(t)
    assert base_level(once, 100.0) > base_level(once, 10_000.0)
    assert base_level(often, 10_000.0) > base_level(once, 10_000.0)


def test_future_accesses_do_not_count():
    log = AccessLog(first=0.0)
    log.touch(5_000.0)
    assert base_level(log, 1_000.0) == pytest.approx(exact([0.0], 1_000.0))


def test_access_log_round_trips_as_plain_data():
    log = AccessLog(first=1.0)
    log.touch(2.0)
    assert AccessLog.from_dict(log.to_dict()) == log


def _unit(rng, n, dim=16):
    x = rng.normal(size=(n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_art_creates_categories_by_vigilance():
    rng = np.random.default_rng(0)
    centres = _unit(rng, 3)
    X = np.concatenate([c + 0.05 * rng.normal(size=(20, 16)) for c in centres])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    order = rng.permutation(len(X))
    art = ART2A(vigilance=0.8, learning_rate=0.1).partial_fit(X[order])
    assert art.n_categories_ == 3 and art.prototypes_.shape == (3, 16)
    assert art.counts_.sum() == 60 and sorted(art.counts_) == [20, 20, 20]
    assert np.allclose(np.linalg.norm(art.prototypes_, axis=1), 1.0, atol=1e-5)
    # predict agrees with the labels learned (for well separated clusters)
    assert np.array_equal(art.predict(X[order]), art.labels_)
    loose = ART2A(vigilance=0.01).partial_fit(X)
    strict = ART2A(vigilance=0.999).partial_fit(X)
    assert loose.n_categories_ < art.n_categories_ < strict.n_categories_


def test_art_prototype_moves_toward_input():
    art = ART2A(vigilance=0.5, learning_rate=0.5).partial_fit([[1.0, 0.0]])
    art.partial_fit([[0.8, 0.6]])
    p = art.prototypes_[0]
    assert art.n_categories_ == 1 and 0.8 < p[0] < 1.0 and 0.0 < p[1] < 0.6


def test_art_predict_unmatched_is_minus_one_and_state_round_trips():
    art = ART2A(vigilance=0.9).partial_fit([[1.0, 0.0, 0.0]])
    assert art.predict([[0.0, 1.0, 0.0]]).tolist() == [-1]
    clone = ART2A.from_state(art.get_state())
    assert np.array_equal(clone.prototypes_, art.prototypes_) and clone.vigilance == 0.9
    assert ART2A().predict([[1.0, 0.0]]).tolist() == [-1]


@pytest.mark.parametrize("params", [{"vigilance": 0.0}, {"vigilance": 1.5}, {"learning_rate": 0.0}])
def test_art_rejects_bad_parameters(params):
    with pytest.raises(InvalidInputError):
        ART2A(**params).partial_fit([[1.0, 0.0]])


def test_art_batch_learns_exactly_as_one_row_at_a_time():
    rng = np.random.default_rng(1)
    centres = _unit(rng, 20, 32)
    X = centres[rng.integers(0, 20, 600)] + 0.3 * rng.normal(size=(600, 32))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    batched = ART2A(vigilance=0.7).partial_fit(X[:200]).partial_fit(X[200:])
    one_by_one = ART2A(vigilance=0.7)
    labels = [one_by_one.partial_fit(x[None]).labels_[0] for x in X]
    assert batched.n_categories_ == one_by_one.n_categories_
    assert np.allclose(batched.prototypes_, one_by_one.prototypes_, atol=1e-5)
    assert batched.labels_.tolist() == labels[200:]


def test_art_category_cap_keeps_the_count_bounded():
    rng = np.random.default_rng(3)
    X = _unit(rng, 300, 64)  # random directions: nothing resonates at high vigilance
    art = ART2A(vigilance=0.99, max_categories=10).partial_fit(X)
    assert art.n_categories_ == 10 and art.counts_.sum() == 300
    assert ART2A.from_state(art.get_state()).max_categories == 10


def test_batch_fit_keeps_blas_on_one_thread(monkeypatch):
    """The block products are small: BLAS threads only wait for cores (see art._one_blas_thread)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []
    fit_block = ART2A._fit_block

    def spy(self, X):
        seen.append({i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"})
        return fit_block(self, X)

    monkeypatch.setattr(ART2A, "_fit_block", spy)
    X = np.random.default_rng(0).standard_normal((130, 16)).astype(np.float32)
    labels = ART2A(vigilance=0.3).partial_fit(X / np.linalg.norm(X, axis=1, keepdims=True)).labels_
    assert len(labels) == 130 and len(seen) == 3
    assert all(s <= {1} for s in seen)


def test_activation_of_equals_the_power_over_every_cell() -> None:
    """activation_of raises only the kept accesses' ages to the power; the
    version that raised every cell (NaN padding included) gives the same bits."""
    from memoryweave_core.activation import MIN_AGE, RECENT, activation_of, with_summarised

    def every_cell(first, count, recent, now, decay):
        kept = (~np.isnan(recent)).sum(axis=1)
        ages = now - recent
        exact = np.where(ages >= 0, np.maximum(ages, MIN_AGE) ** -decay, 0.0).sum(axis=1)
        return with_summarised(exact, first, count, kept, recent, now, decay)

    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(1, 400))
        first = rng.uniform(0, 1000, n)
        kept = rng.integers(0, RECENT + 1, n) * (rng.random(n) < 0.3)
        recent = np.full((n, RECENT), np.nan)
        for i, k in enumerate(kept.tolist()):
            recent[i, :k] = np.sort(rng.uniform(first[i], 1200, k))[::-1]  # newest first; some in the future
        count = kept + rng.integers(0, 5, n)
        now, decay = 1100.0, float(rng.choice([0.5, 0.3, 0.7]))
        assert np.array_equal(activation_of(first, count, recent, now, decay), every_cell(first, count, recent, now, decay))
