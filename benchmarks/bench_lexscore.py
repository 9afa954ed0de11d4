"""The lexical pathway's scoring of one pool: the array scorer against the per-text reference.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_lexscore.py

A pool shaped like a recall's at 100k (430 candidates of 6-15 tokens from a
Zipf vocabulary of 3,000 words, as ``bench_scale.py`` writes them) and a query
of five words; checks the two agree exactly, then prints the best-of-5 time of
each (median over 5 rounds, alternating) in milliseconds.  Not a test.
"""

from __future__ import annotations

import os
import sys
import timeit

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import lexical_reference as ref  # noqa: E402

from memoryweave_core import lexical  # noqa: E402
from memoryweave_core.bm25 import query_weights  # noqa: E402
from memoryweave_core.vocab import TokenRows, Vocabulary  # noqa: E402


def main() -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(3000)]
    p = 1 / np.arange(1, 3001)
    p /= p.sum()
    docs = [list(rng.choice(words, size=int(rng.integers(6, 16)), p=p)) for _ in range(430)]
    terms = ["w3", "w10", "w200", "w7", "q1"]
    weights = query_weights(terms, 100_000, {x: 1000 for x in words})
    rows = TokenRows.from_words(docs, Vocabulary())
    assert np.array_equal(ref.lexical_evidence(docs, terms, weights, 10.0), lexical.lexical_evidence(rows, terms, weights, 10.0))
    res: dict[str, list[float]] = {"reference": [], "arrays": []}
    for _ in range(5):
        res["reference"].append(min(timeit.repeat(lambda: ref.lexical_evidence(docs, terms, weights, 10.0), number=50, repeat=5)) / 50 * 1000)
        res["arrays"].append(min(timeit.repeat(lambda: lexical.lexical_evidence(rows, terms, weights, 10.0), number=50, repeat=5)) / 50 * 1000)
    print({k: round(float(np.median(v)), 3) for k, v in res.items()}, "ms; load average", os.getloadavg())


if __name__ == "__main__":
    main()
