"""1-D fit of the freshness weight, other weights at their defaults, five-fold CV across LoCoMo conversations.

    PYTHONPATH=. .venv/bin/python benchmarks/freshness_scan.py  (writes benchmarks/results/freshness_scan.json)
"""

from __future__ import annotations

import json
import sys

import numpy as np

sys.path.insert(0, "benchmarks")
import tune  # noqa: E402

from memoryweave_core import RecallConfig  # noqa: E402
from memoryweave_core.config import FEATURES  # noqa: E402

qs = tune.build_questions(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/locomo10.json", progress=False)
base = dict(RecallConfig().weights)
grid = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0]
def vec(w: float) -> np.ndarray:
    return np.array([{**base, "freshness": w}[f] for f in FEATURES])
out = {"grid": {}}
for w in grid:
    r = tune.recall_at(qs, vec(w), 10)
    out["grid"][w] = {"recall@10": r, "objective": tune.objective(qs, vec(w))}
    print(w, json.dumps(r), flush=True)
convs = sorted({q["conv"] for q in qs})
folds = [convs[i::5] for i in range(5)]
held = []
for test in folds:
    tr = [q for q in qs if q["conv"] not in test]
    te = [q for q in qs if q["conv"] in test]
    best = max(grid, key=lambda w: tune.objective(tr, vec(w)))
    held.append({"test": test, "weight": best, "r10": tune.recall_at(te, vec(best), 10)["all"], "r10_w0": tune.recall_at(te, vec(0.0), 10)["all"], "n": len(te)})
    print(held[-1], flush=True)
out["folds"] = held
n = sum(h["n"] for h in held)
out["held_out_r10"] = sum(h["r10"] * h["n"] for h in held) / n
out["held_out_r10_w0"] = sum(h["r10_w0"] * h["n"] for h in held) / n
print("held-out", out["held_out_r10"], "w0", out["held_out_r10_w0"])
json.dump(out, open("benchmarks/results/freshness_scan.json", "w"), indent=1)
