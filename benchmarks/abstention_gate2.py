"""Abstention study: answerable-gate variants that read the per-trace relevance or the whole top 15.

Issue 18's abstention targets (held out on LoCoMo: 90% of the top-10
evidence kept, half the non-evidence dropped, 70% of the foreign questions
empty) are bounded by how well the gate tells foreign questions apart.
This script measures gate variants with the shipped per-trace calibrator's
recipe left as it is (so packing and budget recall do not move):

* columns: the eight relevance-free signals (``answerable.BASE_SIGNALS``)
  plus summaries of the top 10's relevance (max, second, sum, entropy,
  count at or above the prompt threshold and at or above
  ``answerable.CONFIDENT``), or the sorted raw topic cosine, context cosine
  and coverage of the top 5 (and their means over the top 15);
* rows: LoCoMo alone (real against foreign questions, names mapped) or with
  LongMemEval's sample and development questions (each asked of its own
  haystack against the next one's) weighing a share of LoCoMo's.

Everything is held out as ``calibration.cross_fit`` holds it: five folds of
conversations (LongMemEval: of haystacks); the relevance a held-out
question's gate reads comes from a calibrator fitted without its fold, and
the gate's training rows read relevance from calibrators fitted without the
predicted fold and without their own.  For each variant: the held-out gate
AUC, the (floor, threshold) pair ``calibration.choose`` takes on LoCoMo's
held-out grid (no worse than ``--over``'s pair where possible), the share
of real questions refused per category, the best non-evidence dropped at
90% evidence kept for several foreign-empty levels (the frontier), and at
the chosen pair the LongMemEval sample's and development set's real
questions kept, evidence kept and foreign questions refused (gate fitted on
everything with the shipped calibrator's relevance, as the harness sees it,
and with both held out).

    .venv/bin/python benchmarks/abstention_gate2.py --out benchmarks/results/abstention_gate2.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from abstention_joint import data_arguments  # noqa: E402
from result_file import command, commit, write  # noqa: E402

from memoryweave_core.answerable import BASE_SIGNALS, CONFIDENT  # noqa: E402
from memoryweave_core.eval import calibration as C  # noqa: E402
from memoryweave_core.relevance import DEFAULT_CALIBRATOR, SIGNALS, Logistic, fit_logistic  # noqa: E402

FOLDS = 5
FLOORS = tuple(np.round(np.arange(0.0, 0.8001, 0.0125), 4))
#: The prompt threshold of the pair in use before this study (the "count above" summary's bar).
THRESHOLD_BEFORE = 0.02125
RAW = [f"{n}{i}" for n in ("semantic", "context", "coverage") for i in range(5)]
VARIANTS: dict[str, list[str]] = {
    "base eight": [],
    "+ confident_top (count >= CONFIDENT)": ["count_confident"],
    "+ relevance max, sum, entropy": ["max", "sum", "entropy"],
    "+ relevance max, second, sum, entropy, count >= threshold": ["max", "second", "sum", "entropy", "count"],
    "+ log max, log sum, entropy, count >= threshold": ["log_max", "log_sum", "entropy", "count"],
    "+ raw top 5 (semantic, context, coverage)": RAW,
    "+ raw top 5 and top-15 means": RAW + ["semantic_mean15", "context_mean15", "coverage_mean15"],
    "+ relevance summaries and raw top 5": ["max", "second", "sum", "entropy", "count"] + RAW,
}
LME_WEIGHTS = (0.0, 0.1, 0.25)
CODES = {"locomo": 0, "lme_sample": 1, "lme_dev": 2}


class Study:
    """Every question's top candidates as padded arrays, and its held-out relevance."""

    def __init__(self, rows: list[C.Rows]) -> None:
        self.rows = rows
        n, d = len(rows), C.DEPTH
        self.ds = np.array([CODES[r.dataset] for r in rows])
        self.foreign = np.array([r.foreign for r in rows])
        self.cat = np.array([r.category for r in rows])
        self.g = np.array([r.group % FOLDS for r in rows])
        self.s = np.array([(r.source if r.source >= 0 else r.group) % FOLDS for r in rows])
        self.y = np.zeros((n, d), bool)
        self.valid = np.zeros((n, d), bool)
        for i, r in enumerate(rows):
            self.y[i, :len(r.y)] = r.y
            self.valid[i, :len(r.y)] = True
        self.base = np.stack([r.q for r in rows])
        self._cal: dict[frozenset[int], np.ndarray] = {}
        self.held = np.zeros((n, d))  # each row by the calibrator without its own fold
        for f in range(FOLDS):
            self.held[self.g == f] = self.relevance({f})[self.g == f]
        self.nested = {}  # outer fold -> every row by a calibrator without that fold and its own
        for f in range(FOLDS):
            p = np.zeros((n, d))
            for f2 in range(FOLDS):
                p[self.g == f2] = self.relevance({f, f2})[self.g == f2]
            self.nested[f] = p
        self.shipped = self.predict(DEFAULT_CALIBRATOR)

    def predict(self, cal: Logistic) -> np.ndarray:
        out = np.zeros(self.y.shape)
        for i, r in enumerate(self.rows):
            out[i, :len(r.y)] = cal.predict(r.x)
        return out

    def relevance(self, without: set[int]) -> np.ndarray:
        key = frozenset(without)
        if key not in self._cal:
            train = [r for r in self.rows if not any(r.touches(f, FOLDS) for f in key)]
            self._cal[key] = self.predict(C.fit_rows(train, top=C.FIT_TOP, lme_weight=C.LME_WEIGHT))
        return self._cal[key]

    def column(self, name: str, p: np.ndarray) -> np.ndarray:
        top = p[:, :C.TOP]
        srt = -np.sort(-top, axis=1)
        total = top.sum(1)
        share = top / np.maximum(total[:, None], 1e-12)
        summaries = {
            "max": lambda: srt[:, 0], "second": lambda: srt[:, 1], "sum": lambda: total,
            "entropy": lambda: -(share * np.log(np.maximum(share, 1e-12))).sum(1),
            "count": lambda: (top >= THRESHOLD_BEFORE).sum(1).astype(float),
            "count_confident": lambda: (top >= CONFIDENT).sum(1).astype(float),
            "log_max": lambda: np.log(np.maximum(srt[:, 0], 1e-6)), "log_sum": lambda: np.log(np.maximum(total, 1e-6)),
        }
        if name in summaries:
            return summaries[name]()
        signal, rest = re.fullmatch(r"([a-z]+)(\d|_mean15)", name).groups()  # type: ignore[union-attr]
        x = np.stack([np.pad(r.x[:15, SIGNALS.index(signal)], (0, max(0, 15 - len(r.x)))) for r in self.rows])
        return x.mean(1) if rest == "_mean15" else -np.sort(-x, axis=1)[:, int(rest)]

    def features(self, cols: list[str], p: np.ndarray) -> np.ndarray:
        return np.column_stack([self.base] + [self.column(c, p) for c in cols])

    def fit_gate(self, x: np.ndarray, train: np.ndarray, lme_weight: float) -> Logistic:
        w = np.ones(len(x))
        other = train & (self.ds > 0)
        if lme_weight > 0 and other.any():
            w[self.ds > 0] = lme_weight * (train & (self.ds == 0)).sum() / other.sum()
        else:
            train = train & (self.ds == 0)
        return fit_logistic(x[train], (~self.foreign[train]).astype(float), l2=C.L2, sample_weight=w[train], kind=Logistic)

    def held_out_gate(self, cols: list[str], lme_weight: float, p_test: np.ndarray) -> np.ndarray:
        gate = np.zeros(len(self.rows))
        for f in range(FOLDS):
            model = self.fit_gate(self.features(cols, self.nested[f]), (self.g != f) & (self.s != f), lme_weight)
            test = self.g == f
            gate[test] = model.predict(self.features(cols, p_test)[test])
        return gate

    def grid(self, p: np.ndarray, gate: np.ndarray, dataset: int, floors=FLOORS, thresholds=C.THRESHOLDS) -> np.ndarray:
        """(floor, threshold, evidence kept, non-evidence dropped, foreign empty) over the top 10."""
        m = self.ds == dataset
        real, fq = m & ~self.foreign, m & self.foreign
        top, y, ok = p[:, :C.TOP], self.y[:, :C.TOP], self.valid[:, :C.TOP]
        ev, ne = real[:, None] & y & ok, real[:, None] & ~y & ok
        ev_p, ev_g = top[ev], np.broadcast_to(gate[:, None], top.shape)[ev]
        ne_p, ne_g = top[ne], np.broadcast_to(gate[:, None], top.shape)[ne]
        f_best, f_g = np.where(ok, top, 0.0)[fq].max(1), gate[fq]
        out = [(fl, t, float(((ev_p >= t) & (ev_g >= fl)).mean()), float(((ne_p < t) | (ne_g < fl)).mean()),
                float(((f_best < t) | (f_g < fl)).mean())) for fl in floors for t in thresholds]
        return np.array(out)


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    n1 = positive.sum()
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * (len(score) - n1)))


def frontier(grid: np.ndarray) -> dict[str, float | None]:
    """Most non-evidence dropped at >= 90% evidence kept, for each foreign-empty level."""
    out: dict[str, float | None] = {}
    for level in (0.685, 0.70, 0.72, 0.75):
        ok = grid[(grid[:, 2] >= 0.9) & (grid[:, 4] >= level)]
        out[str(level)] = round(float(ok[:, 3].max()), 4) if len(ok) else None
    return out


def measure(st: Study, cols: list[str], lme_weight: float, over: dict[str, float] | None) -> dict[str, Any]:
    gate = st.held_out_gate(cols, lme_weight, st.held)
    grid = st.grid(st.held, gate, 0)
    points = [dict(zip(("answerable_floor", "threshold", *C.MEASURES), map(float, c))) for c in grid]
    best = C.choose(points, over=over)
    floor, thr = best["answerable_floor"], best["threshold"]
    every = st.fit_gate(st.features(cols, st.held), np.ones(len(st.rows), bool), lme_weight)
    harness_view = every.predict(st.features(cols, st.shipped))
    loc, real = st.ds == 0, (st.ds == 0) & ~st.foreign
    evidence = st.y[:, :C.TOP].sum(1)
    refused = {c: round(float((gate[real & (st.cat == c)] < floor).mean()), 4) for c in C.CATEGORIES}
    lost = {c: round(float(evidence[real & (st.cat == c) & (gate < floor)].sum() / evidence[real & (st.cat == c)].sum()), 4)
            for c in C.CATEGORIES}
    lme = {}
    for name, code in (("lme_sample", 1), ("lme_dev", 2)):
        for view, g, p in (("shipped calibrator, gate fitted on everything", harness_view, st.shipped),
                           ("both held out", gate, st.held)):
            at = st.grid(p, g, code, (floor,), (thr,))[0]
            m = st.ds == code
            lme.setdefault(name, {})[view] = {
                "real_kept": round(float((g[m & ~st.foreign] >= floor).mean()), 4), "evidence_kept": round(at[2], 4),
                "nonevidence_dropped": round(at[3], 4), "foreign_refused": round(float((g[m & st.foreign] < floor).mean()), 4),
                "foreign_empty": round(at[4], 4)}
    return {"columns": list(BASE_SIGNALS) + cols, "lme_weight": lme_weight,
            "auc_locomo": round(auc(gate[loc], ~st.foreign[loc]), 4),
            "auc_lme_dev": round(auc(gate[st.ds == 2], ~st.foreign[st.ds == 2]), 4),
            "pair": {"answerable_floor": floor, "threshold": thr},
            "locomo": {m: round(best[m], 4) for m in C.MEASURES},
            "no_worse_than_over": bool(over and all(best[m] >= over[m] - 1e-9 for m in C.MEASURES)),
            "real_refused": round(float((gate[real] < floor).mean()), 4), "refused_by_category": refused,
            "evidence_lost_to_gate_by_category": lost, "frontier_dropped_at_kept_0.9_by_foreign_empty": frontier(grid),
            "lme_at_pair": lme}


def main(argv: list[str] | None = None) -> int:
    p = data_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--over", default=str(Path(__file__).parent / "results" / "relevance.json"),
                   help="relevance.json whose 'chosen_over' figures a pair must not fall below")
    args = p.parse_args(argv)
    over = json.loads(Path(args.over).read_text()).get("chosen_over") if Path(args.over).exists() else None
    rows = [r for r in C.cached_locomo_rows(args.data) if len(r.y)]
    rows += C.lme_rows(args.lme, None, "lme_sample") + C.lme_rows(args.lme_dev, args.lme_dev_cache, "lme_dev")
    st = Study(rows)
    results = []
    for name, cols in VARIANTS.items():
        for w in LME_WEIGHTS:
            r = {"variant": name, **measure(st, cols, w, over)}
            results.append(r)
            lo, dev = r["locomo"], r["lme_at_pair"]["lme_dev"]["shipped calibrator, gate fitted on everything"]
            print(f"{name:58s} w{w:<5} AUC {r['auc_locomo']:.3f}/{r['auc_lme_dev']:.3f} pair {r['pair']['answerable_floor']:.4f}/"
                  f"{r['pair']['threshold']:.5f} LoCoMo {lo['evidence_kept']:.3f}/{lo['nonevidence_dropped']:.3f}/"
                  f"{lo['foreign_empty']:.3f}{' (no worse)' if r['no_worse_than_over'] else ''} dev80 {dev['real_kept']:.3f}/"
                  f"{dev['evidence_kept']:.3f}/{dev['foreign_refused']:.3f} frontier "
                  f"{r['frontier_dropped_at_kept_0.9_by_foreign_empty']}", flush=True)
    if args.out:
        write(args.out, {"commit": commit(), "command": command("abstention_gate2.py", argv), "over": over,
                         "folds": FOLDS, "variants": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
