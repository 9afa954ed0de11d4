"""A question-level gate on the best topic cosine, next to the relevance threshold.

The calibrated relevance says how good a trace is among its own
candidates; at the shipped threshold it leaves almost no foreign question
empty.  This measures the other lever: return nothing at all when the
query's best raw topic cosine in the memory is below a gate, then apply
the relevance threshold as usual.  Relevance is held out (the calibrator
refitted without the conversation it predicts, ``calibration.cross_fit``);
the gate is not fitted, the grid shows the whole trade-off.  LoCoMo only:
the cosine scale is the embedding model's (all-MiniLM-L6-v2) and its
transfer to other data is unmeasured.

    .venv/bin/python benchmarks/abstention_gate.py --out benchmarks/results/abstention_gate.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memoryweave_core.eval import calibration as C  # noqa: E402
from memoryweave_core.relevance import SIGNALS  # noqa: E402

GATES = (0.0, 0.25, 0.3, 0.35, 0.4, 0.45)
THRESHOLDS = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05)
BEST = SIGNALS.index("best_semantic")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/locomo10.json")
    p.add_argument("--out")
    args = p.parse_args(argv)
    rows = C.cached_locomo_rows(args.data)
    held, _ = C.cross_fit(rows)
    real = [(pr[: C.TOP], r.y[: C.TOP], r.x[0, BEST]) for r, pr in zip(rows, held) if not r.foreign and len(r.y)]
    foreign = [(pr[: C.TOP], r.x[0, BEST]) for r, pr in zip(rows, held) if r.foreign and len(r.y)]
    y = np.concatenate([b for _, b, _ in real]).astype(bool)
    grid = []
    print("gate  threshold  evidence_kept  nonevidence_dropped  foreign_empty")
    for g in GATES:
        for t in THRESHOLDS:
            kept = np.concatenate([(pr >= t) & (best >= g) for pr, _, best in real])
            cell = {"gate": g, "threshold": t, "evidence_kept": float(kept[y].mean()),
                    "nonevidence_dropped": float((~kept[~y]).mean()),
                    "foreign_empty": float(np.mean([best < g or pr.max() < t for pr, best in foreign]))}
            grid.append(cell)
            print(f"{g:.2f}  {t:.2f}       {cell['evidence_kept']:.3f}          {cell['nonevidence_dropped']:.3f}"
                  f"                {cell['foreign_empty']:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"n_real": len(real), "n_foreign": len(foreign), "grid": grid}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
