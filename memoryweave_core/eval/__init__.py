"""Benchmark harness: LoCoMo and LongMemEval retrieval evaluation.

``python -m memoryweave_core.eval locomo --data PATH --k 5 10 --out result.json``
(the ``memoryweave eval`` CLI delegates to :func:`main`).
"""

from typing import Sequence

from .metrics import ndcg_any_at_k, ndcg_at_k, recall_all_at_k, recall_any_at_k, recall_at_k

__all__ = ["main", "recall_at_k", "ndcg_at_k", "recall_any_at_k", "recall_all_at_k", "ndcg_any_at_k"]


def main(argv: Sequence[str] | None = None) -> int:
    from .__main__ import main as _main

    return _main(argv)
