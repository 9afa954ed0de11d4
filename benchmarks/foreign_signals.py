"""Can a per-store background statistic tell foreign questions from real ones?

Issue 18 asks for nothing returned on at least 70% of *foreign* questions
(each LoCoMo question asked of the next conversation's memory, speaker
names mapped first to first, second to second) while keeping 90% of the
real ones.  The calibrator's best raw signal is the query topic's best
cosine.  This script checks whether placing that cosine against the store's
own distribution (the query's cosine with every trace of the memory) helps:
a question that stands out from the store's background should be one the
store can answer.  Each signal is thresholded at the level that keeps a
given share of the real questions; the figure is the share of foreign
questions below it (question level, no fitting, nothing held out needed).

    .venv/bin/python benchmarks/foreign_signals.py --out benchmarks/results/foreign_signals.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memoryweave_core.eval.cache import EmbeddingCache  # noqa: E402
from memoryweave_core.eval.calibration import CATEGORIES, map_names  # noqa: E402
from memoryweave_core.eval.datasets import load_locomo  # noqa: E402
from memoryweave_core.eval.systems import MODEL_NAME, CachedEmbedder  # noqa: E402
from memoryweave_core.names import strip_names  # noqa: E402

KEEP = (0.8, 0.9, 0.95)


def signals(vectors: np.ndarray, query: np.ndarray) -> dict[str, float]:
    """Best cosine raw and against the store's background of cosines."""
    s = vectors @ query
    top = np.sort(s)[::-1]
    sd = float(s.std()) or 1.0
    return {
        "best_cosine": float(top[0]),
        "best_cosine_z_in_store": float((top[0] - s.mean()) / sd),
        "top5_mean_cosine": float(top[:5].mean()),
        "top5_mean_z_in_store": float((top[:5].mean() - s.mean()) / sd),
        "best_minus_store_p90": float(top[0] - np.percentile(s, 90)),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/locomo10.json")
    p.add_argument("--out")
    args = p.parse_args(argv)
    ds = load_locomo(args.data)
    cache = EmbeddingCache(MODEL_NAME)
    emb = CachedEmbedder(cache)
    stores = [cache.embed([t.text for t in c.turns if t.body.strip()], None) for c in ds.conversations]

    def ask(ci: int, text: str, names: list[str]) -> dict[str, float]:
        topic = strip_names(text, names) or text
        return signals(stores[ci], emb.embed([topic])[0])

    real, foreign = [], []
    n = len(ds.conversations)
    for ci, conv in enumerate(ds.conversations):
        host = (ci + 1) % n
        other = ds.conversations[host]
        for q in conv.questions:
            if q.category in CATEGORIES:
                real.append(ask(ci, q.question, conv.speakers))
                foreign.append(ask(host, map_names(q.question, conv.speakers, other.speakers), other.speakers))
    result: dict[str, dict[str, float]] = {}
    for key in real[0]:
        r = np.array([x[key] for x in real])
        f = np.array([x[key] for x in foreign])
        result[key] = {f"foreign_empty@real_kept_{k}": float((f < np.quantile(r, 1 - k)).mean()) for k in KEEP}
        print(f"{key:26s} " + "  ".join(f"kept {k}: foreign empty {v:.3f}" for k, v in zip(KEEP, result[key].values())))
    if args.out:
        Path(args.out).write_text(json.dumps({"n_real": len(real), "n_foreign": len(foreign), "signals": result}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
