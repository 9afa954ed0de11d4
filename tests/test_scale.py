"""zscores (several columns at once) against zscore (one at a time): the same bits."""

from __future__ import annotations

import numpy as np
import pytest

from memoryweave_core.pathways.scale import zscore, zscores


@pytest.mark.parametrize("seed", range(40))
def test_zscores_equal_zscore_of_each_column(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k, n = int(rng.integers(0, 10)), int(rng.integers(0, 1200))
    columns = [rng.normal(size=n) * rng.uniform(1e-3, 1e3) + rng.normal() * 50 for _ in range(k)]
    for x in columns:
        if rng.random() < 0.2:
            x[:] = rng.normal()  # constant: contributes nothing
        if rng.random() < 0.2 and n:
            x[rng.random(n) < 0.1] = rng.choice([np.inf, -np.inf, np.nan])  # non-finite: the smallest finite value
        if rng.random() < 0.1:
            x[:] = -np.inf  # nothing finite
    if columns and rng.random() < 0.2:
        columns[0] = columns[0].astype(np.float32)
    got = zscores(columns)
    assert len(got) == len(columns)
    for x, z in zip(columns, got):
        want = zscore(x)
        assert z.dtype == want.dtype and z.shape == want.shape and np.array_equal(z, want)
