"""Abstention study: the answerable gate with the top 10's relevance spread, fitted on LoCoMo and LongMemEval together.

Issue 18's abstention targets (held out on LoCoMo: 90% of the top-10
evidence kept, half the non-evidence dropped, 70% of the foreign questions
empty) are judged here for gate variants that leave the per-trace
calibrator, and so prompt packing and every budget-recall figure, as
shipped:

* the gate's columns: the shipped eight, or with the relevance spread of
  the top 10 (its maximum, sum and entropy, read off the calibrator that
  judges the row), or with the entropy alone;
* what it learns from: LoCoMo alone (real against foreign questions, names
  mapped) or LoCoMo together with LongMemEval turn-level questions (the
  sample and the development set; each question asked of its own haystack
  against the same question asked of the next question's haystack),
  LongMemEval rows weighted to a share of LoCoMo's.

Folds are by conversation (LoCoMo) and by question (LongMemEval), five of
each; a row's gate and calibrator never saw its memory or its question.
LongMemEval's relevance is the shipped calibrator's (fitted on LoCoMo
only).  For each variant the script reports the held-out gate AUCs and,
on a fine (floor, threshold) grid, the LoCoMo point with the most
non-evidence dropped among those at least as good as the shipped pair on
the other two measures, with the LongMemEval figures at that point, and
whether any point beats the shipped pair on all three LoCoMo measures.

    .venv/bin/python benchmarks/abstention_joint.py --out benchmarks/results/abstention_joint.json
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from result_file import write  # noqa: E402

from memoryweave_core.answerable import ANSWERABLE_FLOOR  # noqa: E402
from memoryweave_core.eval import calibration as C  # noqa: E402
from memoryweave_core.relevance import DEFAULT_CALIBRATOR, PROMPT_MIN_RELEVANCE, Calibrator, Logistic, fit_logistic  # noqa: E402

FOLDS = 5
FLOORS = tuple(np.round(np.arange(0.2, 0.5, 0.0125), 4))
THRESHOLDS = tuple(sorted({round(float(t), 5) for t in (*np.arange(0.0, 0.1, 0.00125), *np.arange(0.1, 0.301, 0.01))}))
SPREAD = ("top_relevance", "relevance_mass", "relevance_entropy")
VARIANTS = {"shipped columns": (0, 1, 2, 3, 4, 5, 6, 7), "with spread": tuple(range(11)),
            "with entropy": (0, 1, 2, 3, 4, 5, 6, 7, 10)}
LME_WEIGHTS = (0.0, 0.05, 0.1, 0.25)


@dataclass
class LmeRow:
    x: np.ndarray
    y: np.ndarray
    q: np.ndarray
    real: bool
    group: int  # the haystack asked
    source: int  # the haystack the question was written for
    dataset: str

    def touches(self, fold: int) -> bool:
        return self.group % FOLDS == fold or self.source % FOLDS == fold


def spread(relevance: np.ndarray) -> np.ndarray:
    """Maximum, sum and entropy (of the shares of the sum) of the top 10's relevance."""
    total = float(relevance.sum())
    if not len(relevance) or total <= 0:
        return np.zeros(3)
    share = relevance / total
    return np.array([relevance.max(), total, -(share * np.log(np.maximum(share, 1e-12))).sum()])


def lme_rows(path: str, cache_dir: str | None, name: str) -> list[LmeRow]:
    """Every question with evidence asked of its own haystack and of the next one (``calibration.lme_rows``)."""
    return [LmeRow(r.x, r.y, r.q, not r.foreign, r.group, r.source, name) for r in C.lme_rows(path, cache_dir, name)]


def gate_x(q: np.ndarray, x: np.ndarray, cal: Calibrator, cols: tuple[int, ...]) -> np.ndarray:
    return np.r_[q, spread(cal.predict(x[: C.TOP]))][list(cols)]


def held_out(loc: list[C.Rows], lme: list[LmeRow], cols: tuple[int, ...], weight: float,
             cals: list[Calibrator]) -> tuple[np.ndarray, np.ndarray]:
    """Held-out gate of every LoCoMo and LongMemEval row."""
    g_loc, g_lme = np.zeros(len(loc)), np.zeros(len(lme))
    for f in range(FOLDS):
        tl = [r for r in loc if not r.touches(f, FOLDS)]
        tm = [r for r in lme if not r.touches(f)] if weight > 0 else []
        x = np.stack([gate_x(r.q, r.x, cals[f], cols) for r in tl] + [gate_x(r.q, r.x, DEFAULT_CALIBRATOR, cols) for r in tm])
        y = np.r_[[0.0 if r.foreign else 1.0 for r in tl], [1.0 if r.real else 0.0 for r in tm]]
        w = np.r_[np.ones(len(tl)), np.full(len(tm), weight * len(tl) / max(len(tm), 1))]
        gate = fit_logistic(x, y, l2=C.L2, sample_weight=w, kind=Logistic)
        for i, r in enumerate(loc):
            if r.group % FOLDS == f:
                g_loc[i] = gate.predict(gate_x(r.q, r.x, cals[f], cols)[None])[0]
        for i, m in enumerate(lme):
            if m.group % FOLDS == f:
                g_lme[i] = gate.predict(gate_x(m.q, m.x, DEFAULT_CALIBRATOR, cols)[None])[0]
    return g_loc, g_lme


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counting half."""
    return float(((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()))


def lme_point(lme: list[LmeRow], gate: np.ndarray, floor: float, threshold: float, dataset: str) -> dict[str, float]:
    rows = [(m, a) for m, a in zip(lme, gate) if m.dataset == dataset]
    real = [(DEFAULT_CALIBRATOR.predict(m.x[: C.TOP]) * (a >= floor), m.y[: C.TOP]) for m, a in rows if m.real]
    p, y = np.concatenate([a for a, _ in real]), np.concatenate([b for _, b in real])
    return {"real_kept": float(np.mean([a >= floor for m, a in rows if m.real])),
            "evidence_kept": float((p[y] >= threshold).mean()), "nonevidence_dropped": float((p[~y] < threshold).mean()),
            "foreign_refused": float(np.mean([a < floor for m, a in rows if not m.real]))}


def study(loc: list[C.Rows], lme: list[LmeRow]) -> list[dict[str, Any]]:
    cals = [C.fit_rows([r for r in loc if not r.touches(f, FOLDS)]) for f in range(FOLDS)]
    probs = [cals[r.group % FOLDS].predict(r.x) for r in loc]
    datasets = sorted({m.dataset for m in lme})
    out = []
    for name, cols in VARIANTS.items():
        for weight in LME_WEIGHTS:
            g_loc, g_lme = held_out(loc, lme, cols, weight, cals)
            grid = C.gate_grid(loc, probs, g_loc, FLOORS, THRESHOLDS)
            ref = next(c for c in grid if c["answerable_floor"] == ANSWERABLE_FLOOR and c["threshold"] == PROMPT_MIN_RELEVANCE)
            best = _most_dropped(grid, 0.685)
            target = _most_dropped(grid, 0.70)
            strict = [c for c in grid if all(c[k] >= SHIPPED[k] for k in ("evidence_kept", "nonevidence_dropped", "foreign_empty"))]
            real = np.array([not r.foreign for r in loc])
            entry = {
                "gate_columns": [C.BASE_SIGNALS[i] if i < 8 else SPREAD[i - 8] for i in cols], "lme_weight": weight,
                "auc": {"locomo": auc(g_loc[real], g_loc[~real]),
                        **{d: auc(*[np.array([a for m, a in zip(lme, g_lme) if m.dataset == d and m.real == s]) for s in (True, False)])
                           for d in datasets}},
                "at_shipped_pair": {"locomo": ref, **{d: lme_point(lme, g_lme, ANSWERABLE_FLOOR, PROMPT_MIN_RELEVANCE, d) for d in datasets}},
                **{f"best_at_0.90_kept_{fe}_foreign": {"locomo": c, **{d: lme_point(lme, g_lme, c["answerable_floor"], c["threshold"], d)
                                                                       for d in datasets}} for fe, c in (("0.685", best), ("0.70", target))},
                "beats_shipped_on_locomo": max(strict, key=lambda c: c["nonevidence_dropped"]) if strict else None,
            }
            out.append(entry)
            b = best
            print(f"{name:16s} w={weight:<5} AUC " + " ".join(f"{k} {v:.3f}" for k, v in entry["auc"].items())
                  + f" | LoCoMo {b['evidence_kept']:.3f}/{b['nonevidence_dropped']:.3f}/{b['foreign_empty']:.3f}"
                  f" @ {b['answerable_floor']}/{b['threshold']} | " + " ".join(
                      f"{d} ev {entry['best_at_0.90_kept_0.685_foreign'][d]['evidence_kept']:.3f}" for d in datasets)
                  + f" | beats shipped: {bool(strict)}", flush=True)
    return out


def _most_dropped(grid: list[dict[str, float]], foreign: float) -> dict[str, float]:
    """The grid point with the most non-evidence dropped that keeps 90% of
    the evidence and leaves ``foreign`` of the foreign questions empty."""
    return max((c for c in grid if c["evidence_kept"] >= 0.9 and c["foreign_empty"] >= foreign),
               key=lambda c: c["nonevidence_dropped"])


#: The shipped pair's held-out LoCoMo figures (``benchmarks/results/relevance.json``).
SHIPPED = {"evidence_kept": 0.9035691922354414, "nonevidence_dropped": 0.32086027755576546, "foreign_empty": 0.6848958333333334}


def data_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The datasets an abstention study reads, and where its JSON goes (also
    ``abstention_rules.py``'s)."""
    p.add_argument("--data", default="../shared/data/locomo10.json")
    p.add_argument("--lme", default="../shared/data/longmemeval_s_sample20.json")
    p.add_argument("--lme-dev", default="../shared/data/longmemeval_s_dev80.json.gz")
    p.add_argument("--lme-dev-cache", default=os.path.expanduser("~/.cache/memoryweave/dev80-gpu"))
    p.add_argument("--out")
    return p


def main(argv: list[str] | None = None) -> int:
    args = data_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv)
    loc = [r for r in C.cached_locomo_rows(args.data) if len(r.y)]
    lme = lme_rows(args.lme, None, "lme_sample") + lme_rows(args.lme_dev, args.lme_dev_cache, "lme_dev")
    result = {"shipped": {"answerable_floor": ANSWERABLE_FLOOR, "threshold": PROMPT_MIN_RELEVANCE, **SHIPPED},
              "folds": FOLDS, "variants": study(loc, lme)}
    if args.out:
        write(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
