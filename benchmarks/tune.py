"""Fit MemoryWeave's fusion weights on LoCoMo by cross-validation across conversations.

5 folds of 2 conversations: weights are fitted (coordinate ascent on
Recall@10 of categories 1-4, starting from equal weights on the four base
features) on the 8 training conversations and evaluated on the 2 held-out
ones.  Prints held-out numbers per category next to the baselines measured in
the same run, the per-fold weights and the weights fitted on all data.

    .venv/bin/python benchmarks/tune.py [--features NAME ...] [--quick]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

sys.path.insert(0, "benchmarks")
from explore_feats import NAMES, coord_ascent, feats, linear, zfeats  # noqa: E402
from explore_feats2 import NAMES2, stage2  # noqa: E402
from explore_locomo import evaluate, load_all  # noqa: E402

KEYS = ["R@5", "R@10", "c1@5", "c1@10", "c2@5", "c2@10", "c3@5", "c3@10", "c4@5", "c4@10"]


def merged_eval(parts):
    """parts: list of (convs, score_fn); evaluate each and pool the per-question recalls."""
    from explore_locomo import evaluate as ev

    # pool by re-evaluating with question counts as weights
    tot = {}
    counts = {}
    for convs, fn in parts:
        r = ev(convs, fn)
        n = {c: sum(1 for cd, _ in convs for q in cd.qs if q.category == c) for c in "1234"}
        nall = sum(n.values())
        for k, v in r.items():
            w = nall if k.startswith("R@") else n[k[1]]
            tot[k] = tot.get(k, 0) + v * w
            counts[k] = counts.get(k, 0) + w
    return {k: tot[k] / counts[k] for k in tot}


def row(name, r):
    return f"{name:28s} " + " ".join(f"{r[k]:.3f}" for k in KEYS)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", nargs="+", default=NAMES)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out")
    ap.add_argument("--objective", default="R@10",
                    help="R@10 (micro over questions), macro (mean of the four category R@10), "
                         "or mix (R@10 + mean of category R@10)")
    args = ap.parse_args(argv)
    t0 = time.time()
    data = load_all()
    convs = []
    for cd in data:
        Z = zfeats(feats(cd))
        if set(args.features) - set(NAMES):
            Z.update(stage2(cd, Z))
        convs.append((cd, Z))
    t_feat = time.time() - t0
    nq = sum(len(cd.qs) for cd, _ in convs)
    print(f"features for {nq} questions in {t_feat:.1f}s ({1000 * t_feat / nq:.1f} ms/question)")
    names = args.features
    objective = {"R@10": "R@10",
                 "macro": lambda r: np.mean([r[f"c{c}@10"] for c in "1234"]),
                 "mix": lambda r: r["R@10"] + np.mean([r[f"c{c}@10"] for c in "1234"])}[args.objective]
    w0 = {k: 0.0 for k in names}
    for k in ("d", "d3", "b", "b3"):
        if k in w0:
            w0[k] = 1.0
    folds = [list(range(i, len(convs), args.folds)) for i in range(args.folds)]
    parts, fold_w = [], []
    for f, test in enumerate(folds):
        train = [convs[i] for i in range(len(convs)) if i not in test]
        w, best = coord_ascent(train, names, w0, metric=objective)
        fold_w.append(w)
        parts.append(([convs[i] for i in test], linear(w)))
        print(f"fold {f}: train R@10 {best:.3f}", {k: round(v, 2) for k, v in w.items() if v})
    print("\n" + f"{'system':28s} " + " ".join(f"{k:>5s}" for k in KEYS))
    base = {"dense": {"d": 1.0}, "bm25(stem)": {"b": 1.0}}
    for name, w in base.items():
        print(row(name, merged_eval([(convs, linear(w))])))
    print(row("equal base4", merged_eval([(convs, linear(w0))])))
    held = merged_eval(parts)
    print(row("fitted (held-out folds)", held))
    w_all, _ = coord_ascent(convs, names, w0, metric=objective)
    print("weights fitted on all 10:", {k: round(v, 2) for k, v in w_all.items() if v})
    if args.out:
        json.dump({"held_out": held, "fold_weights": fold_w, "weights_all": w_all}, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
