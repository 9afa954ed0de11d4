"""Where does "nothing relevant" lose? Held-out discrimination of the gate and of relevance.

Issue 18's abstention targets (at one shipped default, held out by
conversation: 90% of the top-10 evidence kept, half the top-10 non-evidence
dropped, 70% of foreign questions empty) pull against each other: every real
question the answerable gate refuses loses its evidence, and every
non-evidence trace the relevance threshold drops risks evidence too.  This
script measures the two separations apart, on the rows ``tune.py
--relevance`` fits (``calibration.cached_locomo_rows``), five folds by
conversation:

* ROC AUC of the gate (real against foreign questions) and of the per-trace
  relevance (evidence against the rest of each real question's top 10);
* the best (floor, threshold) pair on the held-out grid (``calibration.choose``);
* for signal sets before and after the coverage and spread signals, and for
  a small nonlinear model (depth-2 boosted trees over the same columns,
  numpy) in place of each logistic;
* which real questions the shipped-signal gate refuses at the chosen floor:
  by LoCoMo category, and the share of the top-10 evidence they hold.

    .venv/bin/python benchmarks/abstention_study.py --out benchmarks/results/abstention_study.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memoryweave_core.answerable import GATE_SIGNALS, spread  # noqa: E402
from memoryweave_core.eval import calibration as C  # noqa: E402
from memoryweave_core.relevance import SIGNALS, Logistic, _sigmoid, fit_logistic  # noqa: E402

FOLDS = 5
BEFORE_TRACE = SIGNALS[: SIGNALS.index("unseen") + 1]
BEFORE_GATE = GATE_SIGNALS[: GATE_SIGNALS.index("best_context") + 1]


class Trees:
    """Gradient-boosted depth-2 trees under logistic loss, on quantile bins (numpy only)."""

    def __init__(self, rounds: int = 100, rate: float = 0.1, bins: int = 32, min_leaf: int = 20) -> None:
        self.rounds, self.rate, self.bins, self.min_leaf = rounds, rate, bins, min_leaf
        self.edges: list[np.ndarray] = []
        self.trees: list[Any] = []
        self.base = 0.0

    def _bin(self, x: np.ndarray) -> np.ndarray:
        return np.stack([np.searchsorted(e, x[:, j], side="right") for j, e in enumerate(self.edges)], 1)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "Trees":
        self.edges = [np.unique(np.quantile(x[:, j], np.linspace(0, 1, self.bins + 1)[1:-1])) for j in range(x.shape[1])]
        b = self._bin(x)
        prior = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        self.base = math.log(prior / (1 - prior))
        f = np.full(len(y), self.base)
        for _ in range(self.rounds):
            p = _sigmoid(f)
            tree = self._grow(b, y - p, p * (1 - p), np.ones(len(y), bool), 2)
            f += self.rate * self._apply(tree, b)
            self.trees.append(tree)
        return self

    def _grow(self, b: np.ndarray, g: np.ndarray, h: np.ndarray, mask: np.ndarray, depth: int) -> Any:
        big_g, big_h, n = g[mask].sum(), h[mask].sum(), int(mask.sum())
        if depth == 0 or n < 2 * self.min_leaf:
            return big_g / (big_h + 1.0)
        best, where = 0.0, None
        for j in range(b.shape[1]):
            nb = len(self.edges[j]) + 1
            cg = np.cumsum(np.bincount(b[mask, j], g[mask], nb))[:-1]
            ch = np.cumsum(np.bincount(b[mask, j], h[mask], nb))[:-1]
            cc = np.cumsum(np.bincount(b[mask, j], None, nb))[:-1]
            gain = cg**2 / (ch + 1) + (big_g - cg) ** 2 / (big_h - ch + 1) - big_g**2 / (big_h + 1)
            gain = np.where((cc >= self.min_leaf) & (n - cc >= self.min_leaf), gain, -1.0)
            k = int(np.argmax(gain))
            if gain[k] > best:
                best, where = float(gain[k]), (j, k)
        if where is None:
            return big_g / (big_h + 1.0)
        j, k = where
        left = mask & (b[:, j] <= k)
        return (j, k, self._grow(b, g, h, left, depth - 1), self._grow(b, g, h, mask & ~left, depth - 1))

    def _apply(self, tree: Any, b: np.ndarray) -> np.ndarray:
        if not isinstance(tree, tuple):
            return np.full(len(b), tree)
        j, k, left, right = tree
        return np.where(b[:, j] <= k, self._apply(left, b), self._apply(right, b))

    def predict(self, x: np.ndarray) -> np.ndarray:
        b = self._bin(np.asarray(x, np.float64))
        return _sigmoid(self.base + self.rate * sum(self._apply(t, b) for t in self.trees))


class Logit:
    def fit(self, x: np.ndarray, y: np.ndarray) -> "Logit":
        self.model = fit_logistic(x, y, l2=C.L2, kind=Logistic)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)


Model = Callable[[], Any]


def cross_fit(rows: Sequence[C.Rows], trace: Sequence[str], gate: Sequence[str], trace_model: Model,
              gate_model: Model) -> tuple[list[np.ndarray], np.ndarray]:
    """``calibration.cross_fit`` over column subsets and any model with fit/predict."""
    tc = [SIGNALS.index(s) for s in trace]
    gc = [GATE_SIGNALS.index(s) for s in gate if s in GATE_SIGNALS[: -C.SPREAD]]
    use_spread = any(s in GATE_SIGNALS[-C.SPREAD:] for s in gate)
    probs: list[np.ndarray] = [np.zeros(0)] * len(rows)
    held = np.zeros(len(rows))

    def gate_x(r: C.Rows, cal: Any) -> np.ndarray:
        extra = spread(cal.predict(r.x[: C.TOP, tc])) if use_spread else ()
        return np.r_[r.q[gc], extra]

    for f in range(FOLDS):
        train = [r for r in rows if not r.touches(f, FOLDS)]
        real = [r for r in train if not r.foreign]
        cal = trace_model().fit(np.concatenate([r.x[:, tc] for r in real]), np.concatenate([r.y for r in real]).astype(float))
        g = gate_model().fit(np.stack([gate_x(r, cal) for r in train]), np.array([0.0 if r.foreign else 1.0 for r in train]))
        for i, r in enumerate(rows):
            if r.group % FOLDS == f:
                probs[i] = cal.predict(r.x[:, tc])
                held[i] = float(g.predict(gate_x(r, cal)[None, :])[0])
    return probs, held


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC by the rank-sum (ties counted half)."""
    s = np.r_[pos, neg]
    _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inv]
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def judge(rows: Sequence[C.Rows], probs: list[np.ndarray], gate: np.ndarray) -> dict[str, Any]:
    real = np.array([not r.foreign for r in rows])
    p = np.concatenate([pr[: C.TOP] for r, pr in zip(rows, probs) if not r.foreign])
    y = np.concatenate([r.y[: C.TOP] for r in rows if not r.foreign]).astype(bool)
    best = C.choose(C.gate_grid(rows, probs, gate))
    rep = C.judge(rows, probs, best["threshold"], gate=gate, floor=best["answerable_floor"])
    return {"gate_auc": auc(gate[real], gate[~real]), "relevance_auc": auc(p[y], p[~y]),
            "foreign_refused_at_real_kept_0.9": rep["answerable"]["foreign_refused_at_real_kept_0.9"],
            "relevance_ece": rep["relevance"]["ece"], "relevance_brier": rep["relevance"]["brier"],
            "best": best}


def refused(rows: Sequence[C.Rows], gate: np.ndarray, floor: float) -> dict[str, Any]:
    """The real questions the gate refuses at ``floor``: per category, and their share of the evidence."""
    out: dict[str, Any] = {}
    ev = np.array([r.y[: C.TOP].sum() for r in rows])
    real = np.array([not r.foreign for r in rows])
    no = gate < floor
    for cat in C.CATEGORIES:
        m = real & np.array([r.category == cat for r in rows])
        out[cat] = {"n": int(m.sum()), "refused": float(no[m].mean()),
                    "evidence_lost": float(ev[m & no].sum() / max(ev[m].sum(), 1))}
    out["all"] = {"n": int(real.sum()), "refused": float(no[real].mean()),
                  "evidence_lost": float(ev[real & no].sum() / max(ev[real].sum(), 1))}
    return out


VARIANTS: dict[str, tuple[Sequence[str], Sequence[str], Model, Model]] = {
    "before (12 trace, 8 gate signals)": (BEFORE_TRACE, BEFORE_GATE, Logit, Logit),
    "+ trace coverage": (SIGNALS, BEFORE_GATE, Logit, Logit),
    "+ gate relevance spread": (BEFORE_TRACE, GATE_SIGNALS, Logit, Logit),
    "shipped (both)": (SIGNALS, GATE_SIGNALS, Logit, Logit),
    "shipped signals, boosted-tree gate": (SIGNALS, GATE_SIGNALS, Logit, Trees),
    "shipped signals, boosted trees for both": (SIGNALS, GATE_SIGNALS, lambda: Trees(150), Trees),
}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/locomo10.json")
    p.add_argument("--out")
    p.add_argument("--quick", action="store_true", help="logistic variants only (the trees take minutes)")
    args = p.parse_args(argv)
    rows = [r for r in C.cached_locomo_rows(args.data) if len(r.y)]
    result: dict[str, Any] = {"n_real": sum(not r.foreign for r in rows), "n_foreign": sum(r.foreign for r in rows),
                              "variants": {}}
    for name, (trace, gate, tm, gm) in VARIANTS.items():
        if args.quick and (tm is not Logit or gm is not Logit):
            continue
        probs, held = cross_fit(rows, trace, gate, tm, gm)
        r = result["variants"][name] = judge(rows, probs, held)
        b = r["best"]
        print(f"{name:42s} gate AUC {r['gate_auc']:.4f}  relevance AUC {r['relevance_auc']:.4f}  refused@0.9 "
              f"{r['foreign_refused_at_real_kept_0.9']:.3f}  ECE {r['relevance_ece']:.4f}  best floor "
              f"{b['answerable_floor']} thr {b['threshold']}: {b['evidence_kept']:.3f}/{b['nonevidence_dropped']:.3f}/"
              f"{b['foreign_empty']:.3f}", flush=True)
        if name.startswith("shipped (both)"):
            result["refused_by_category"] = refused(rows, held, b["answerable_floor"])
            print("  refused real questions at that floor:", json.dumps(result["refused_by_category"]))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
