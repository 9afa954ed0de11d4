"""Fit MemoryWeave's fusion weights, with cross-validation across conversations and questions.

The features are exactly the ones recall computes (``MemoryWeave.features``),
so the fitted weights mean the same thing in the library.  Coordinate ascent
maximises Recall@10: on LoCoMo the mean of the overall figure and the four
category figures (so that small categories count), joined by the LongMemEval
sample's and development questions' turn-level R@10 at a quarter of
LoCoMo's weight (``--lme-weight``); it starts from the shipped weights and
moves one only for a gain above ``--min-gain`` (``tune_weights.py`` says
why).  Five folds (LoCoMo by conversation, LongMemEval by question):
weights are fitted on four and scored on the fifth; the held-out scores are
the honest estimate quoted in the README.  The shipped defaults, printed
last, are the weights fitted on everything where that refitting beats the
start weights held out by more than ``--min-gain``, else the start weights
(``--lme-weight 0 --min-gain 0`` prints the earlier LoCoMo-only fit as the
one "fitted on everything"):

    .venv/bin/python benchmarks/tune.py --data ../shared/data/locomo10.json --out benchmarks/results/tune.json

With ``--relevance`` it fits the relevance calibrator instead (on the
shipped fusion weights), on LoCoMo and the LongMemEval sample and
development questions' turns together (``--lme``, ``--lme-dev``): held-out
ECE, Brier and abstention curve by the same five folds, the threshold and
gate floor for the prompt-facing adapters read off that curve (no worse
than the previous pair's figures, ``--over``), and the coefficients fitted
on everything, printed to paste into ``relevance.py``:

    .venv/bin/python benchmarks/tune.py --relevance --over benchmarks/results/relevance.json --out benchmarks/results/relevance.json

With ``--packing`` it fits the prompt packing's cost floor on LoCoMo and
the LongMemEval sample together (``tune_packing.py`` says why both):

    .venv/bin/python benchmarks/tune.py --packing --out benchmarks/results/packing.json

With ``--gate`` it fits the own-match gate on the surrounding pathways
(``pathways/gate.py``) on the same two datasets (``tune_gate.py``):

    .venv/bin/python benchmarks/tune.py --gate --out benchmarks/results/gate.json

With ``--lift`` it fits the length share of the surrounding lift and the
packing's cost floor together (``tune_lift.py``), on LoCoMo, the
LongMemEval sample and the development questions (``--lme-dev``, read
from the embedding cache in ``--lme-dev-cache``):

    .venv/bin/python benchmarks/tune.py --lift --out benchmarks/results/lift.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memoryweave_core import MemoryWeave, RecallConfig  # noqa: E402
from memoryweave_core.config import CONTEXT_MODES, FEATURES  # noqa: E402
from memoryweave_core.eval import calibration  # noqa: E402
from memoryweave_core.eval.__main__ import read_weights  # noqa: E402
from memoryweave_core.eval.cache import EmbeddingCache  # noqa: E402
from memoryweave_core.eval.datasets import load_locomo  # noqa: E402
from memoryweave_core.eval.systems import MODEL_NAME, CachedEmbedder, given_vectors  # noqa: E402
from memoryweave_core.pathways.fusion import columns  # noqa: E402

CATEGORIES = ("1", "2", "3", "4")
#: Weight steps tried for each feature in each round of coordinate ascent.
STEPS = (-1.0, -0.5, -0.25, 0.25, 0.5, 1.0)
#: Activation is a prior, not fitted: LoCoMo's questions are independent and
#: nothing in it is recalled twice, so the data cannot tell what use and
#: recency are worth (a fit would read session order as signal).  Nor does it
#: hold updated facts, so freshness is a prior too (builtin.py says why).  Everything
#: else is fitted; the box below fixes the scale.
PRIOR = {"activation": 0.25, "freshness": 0.5}
TUNED = tuple(f for f in FEATURES if f not in PRIOR)
#: Every pathway is evidence *for* a memory, so no weight goes below 0 (a
#: negative activation weight would mean "prefer what was never used", true of
#: one benchmark's question set, false of memory); and none above MAX_WEIGHT,
#: so that no single pathway can overrule all the others on data we have not seen.
MAX_WEIGHT = 4.0
#: The least gain on the joint objective (0-1 scale) for which the fit moves a
#: weight from the shipped one (``tune_weights`` says why).
MIN_GAIN = 0.001


def build_questions(path: str, progress: bool = True, context_mode: str | None = None):
    """One memory per conversation; per question the normalised feature matrix
    (context vectors made as ``context_mode`` says; None: RecallConfig's default)."""
    ds = load_locomo(path)
    cache = EmbeddingCache(MODEL_NAME)
    embedder = CachedEmbedder(cache)
    every = RecallConfig(weights={f: 1.0 for f in FEATURES})
    if context_mode is not None:
        every = replace(every, context_mode=context_mode)
    questions = []
    for ci, conv in enumerate(ds.conversations):
        turns = conv.turns
        memory = MemoryWeave(embedder=embedder, config=every)
        vectors = cache.embed([t.text for t in turns], None)
        memory.add_many(
            [
                {"text": t.body, "speaker": t.speaker, "episode": t.session_id, "time": t.time, "metadata": {"doc_id": t.id}}
                for t in turns
            ],
            embeddings=given_vectors(every, vectors),
        )
        asked_at = max(t.time for t in turns if t.time is not None) + 86400
        doc_of = {t.id: t.metadata["doc_id"] for t in memory.traces()}
        for q in conv.questions:
            if q.category not in CATEGORIES:
                continue
            table = memory.features(q.question, at=q.time or asked_at)
            cols = columns(table.raw, FEATURES, lengths=table.lengths)  # normalised, surrounding pathways gated, as fusion does
            Z = np.stack([cols[f] if f in cols else np.zeros(len(table.ids)) for f in FEATURES], 1)
            docs = [doc_of[i] for i in table.ids]
            questions.append(
                {"conv": ci, "cat": q.category, "Z": Z, "rel": np.array([d in q.evidence for d in docs]), "n_ev": len(set(q.evidence))}
            )
        if progress:
            print(f"  features for {conv.id}: {len(turns)} turns", file=sys.stderr)
    return questions


def recall_at(questions, w: np.ndarray, k: int) -> dict[str, float]:
    per_cat: dict[str, list[float]] = {c: [] for c in CATEGORIES}
    for q in questions:
        s = q["Z"] @ w
        top = np.argpartition(-s, k)[:k] if len(s) > k else np.arange(len(s))
        per_cat[q["cat"]].append(q["rel"][top].sum() / q["n_ev"])
    allv = [v for vs in per_cat.values() for v in vs]
    out = {"all": float(np.mean(allv))}
    out.update({c: float(np.mean(v)) if v else float("nan") for c, v in per_cat.items()})
    return out


def objective(questions, w) -> float:
    return locomo_score(recall_at(questions, w, 10))


def locomo_score(r10: dict[str, float]) -> float:
    """LoCoMo's objective from its recall@10 figures: overall plus the mean over the categories present."""
    return r10["all"] + np.nanmean([r10.get(c, np.nan) for c in CATEGORIES])


def fit_relevance(data: str, folds: int, out: str | None, lme: list[tuple[str, str | None]] | None = None,
                  lme_weight: float | None = None, over: str | None = None, context_mode: str | None = None,
                  weights: dict[str, float] | None = None) -> int:
    """Held-out calibration figures, the chosen threshold and answerable floor, and the final coefficients.

    The calibrator is fitted on LoCoMo and the ``lme`` files' turn-level
    rows together (``calibration.fit_rows``), on each question's top N
    candidates with N chosen from ``calibration.FIT_TOPS`` by held-out
    log-loss over the top 10s; the pair is chosen on LoCoMo's held-out grid,
    no worse than ``over``'s figures (a previous ``relevance.json``) where
    no pair meets every target.  ``context_mode`` builds every memory with
    context (and, for onepass, content) vectors made that way, ``weights``
    ranks with those fusion weights over the shipped ones.
    """
    from memoryweave_core.answerable import GATE_SIGNALS
    from memoryweave_core.eval import metrics as M
    from memoryweave_core.relevance import SIGNALS

    weight = calibration.LME_WEIGHT if lme_weight is None else lme_weight
    t0 = time.time()
    config = RecallConfig().with_weights(**(weights or {}))
    if context_mode:
        config = replace(config, context_mode=context_mode)
    rows = calibration.cached_locomo_rows(data, config)
    n_loc = len(rows)
    for path, cache_dir in lme or []:
        rows += calibration.lme_rows(path, cache_dir, Path(path).name.split(".")[0], config)
    print(f"{len(rows)} question rows (real and foreign; {n_loc} LoCoMo) in {time.time() - t0:.0f}s", file=sys.stderr)
    datasets = list(dict.fromkeys(r.dataset for r in rows))
    real = [i for i, r in enumerate(rows) if not r.foreign and len(r.y)]

    def top10(held: list[np.ndarray], d: str) -> tuple[np.ndarray, np.ndarray]:
        use = [i for i in real if rows[i].dataset == d]
        return (np.concatenate([held[i][: calibration.TOP] for i in use]),
                np.concatenate([rows[i].y[: calibration.TOP] for i in use]).astype(float))

    def log_loss(held: list[np.ndarray]) -> float:
        """Over the real questions' top 10s, LongMemEval weighing ``weight`` of LoCoMo."""
        parts = [top10(held, d) for d in datasets]
        losses = [float(-np.mean(y * np.log(np.clip(p, 1e-9, 1)) + (1 - y) * np.log(np.clip(1 - p, 1e-9, 1))))
                  for p, y in parts]
        w = [1.0] + [weight / max(len(datasets) - 1, 1)] * (len(datasets) - 1)
        return float(np.dot(w, losses) / sum(w))

    by_top = {}
    for top in calibration.FIT_TOPS:
        by_top[top] = calibration.cross_fit(rows, folds, top=top, lme_weight=weight)
        print(f"top {top}: held-out log-loss {log_loss(by_top[top][0]):.5f}", file=sys.stderr)
    top = min(by_top, key=lambda t: log_loss(by_top[t][0]))
    held, gate = by_top[top]
    loc = [i for i, r in enumerate(rows) if r.dataset == "locomo"]
    loc_rows, loc_held, loc_gate = [rows[i] for i in loc], [held[i] for i in loc], gate[loc]
    previous = json.loads(Path(over).read_text())["held_out"]["abstention"] if over and Path(over).exists() else None
    grid = calibration.gate_grid(loc_rows, loc_held, loc_gate)
    best = calibration.choose(grid, over=previous)
    floor, threshold = best["answerable_floor"], best["threshold"]
    report = calibration.judge(loc_rows, loc_held, threshold, gate=loc_gate, floor=floor)
    ungated = calibration.judge(loc_rows, loc_held, calibration.choose_threshold(
        calibration.judge(loc_rows, loc_held, 0.0)["abstention"]["curve"]))
    others = {}
    for d in datasets[1:]:
        p, y = top10(held, d)
        sub = [i for i, r in enumerate(rows) if r.dataset == d]
        at = calibration.judge([rows[i] for i in sub], [held[i] for i in sub], threshold, gate=gate[sub], floor=floor)
        others[d] = {"ece": M.ece(p, y), "brier": M.brier(p, y), "n_traces": int(len(y)),
                     "abstention": {k: v for k, v in at["abstention"].items() if k != "curve"},
                     "foreign_set": "each question asked of the next question's haystack"}
    final = calibration.fit_rows(rows, top=top, lme_weight=weight)
    final_gate = calibration.fit_gate(rows, held, lme_weight=weight)  # on held-out relevance, as a new memory's
    print(f"fitted on each question's top {top} (held-out log-loss), LongMemEval weight {weight}")
    print("held-out relevance:", json.dumps(report["relevance"]))
    print("held-out relevance on LongMemEval:", json.dumps(others))
    print("held-out answerable gate:", json.dumps(report["answerable"]))
    print("best per gate floor (evidence kept >= 0.90):")
    for g in calibration.GATE_FLOORS:
        ok = [c for c in grid if c["answerable_floor"] == g and c["evidence_kept"] >= 0.9]
        if ok:
            c = max(ok, key=lambda c: c["nonevidence_dropped"])
            print(f"  gate {g:.3f} thr {c['threshold']:.4f}: {c['evidence_kept']:.3f} {c['nonevidence_dropped']:.3f} "
                  f"{c['foreign_empty']:.3f}")
    print(f"curve at answerable floor {floor}:")
    print("threshold  evidence_kept  nonevidence_dropped  foreign_empty")
    for c in report["abstention"]["curve"]:
        mark = "  <- PROMPT_MIN_RELEVANCE" if c["threshold"] == threshold else ""
        print(f"  {c['threshold']:.4f}    {c['evidence_kept']:.3f}          {c['nonevidence_dropped']:.3f}"
              f"                {c['foreign_empty']:.3f}{mark}")
    print("calibrator and gate fitted on all conversations (paste into relevance.py and answerable.py):")
    print(f"DEFAULT_CALIBRATOR = Calibrator(\n    mean={_r(final.mean)},\n    scale={_r(final.scale)},"
          f"\n    coef={_r(final.coef)},\n    intercept={final.intercept:.4f},\n)\nPROMPT_MIN_RELEVANCE = {threshold}")
    print(f"DEFAULT_GATE = Gate(\n    mean={_r(final_gate.mean)},\n    scale={_r(final_gate.scale)},"
          f"\n    coef={_r(final_gate.coef)},\n    intercept={final_gate.intercept:.4f},\n)\nANSWERABLE_FLOOR = {floor}")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps({
            "held_out": report, "threshold": threshold, "answerable_floor": floor, "folds": folds,
            "fit_top": top, "fit_top_log_loss": {str(t): log_loss(v[0]) for t, v in by_top.items()},
            "lme_weight": weight, "lme_held_out": others, "chosen_over": previous and {m: previous[m] for m in calibration.MEASURES},
            "signals": list(SIGNALS), "gate_signals": list(GATE_SIGNALS),
            "without_gate": {k: v for k, v in ungated["abstention"].items() if k != "curve"}, "grid": grid,
            "calibrator": {"mean": final.mean, "scale": final.scale, "coef": final.coef, "intercept": final.intercept},
            "gate": {"mean": final_gate.mean, "scale": final_gate.scale, "coef": final_gate.coef,
                     "intercept": final_gate.intercept},
        }, indent=2))
    return 0


def _r(values) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ")"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/locomo10.json")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--out", help="write fitted weights and held-out scores as JSON")
    p.add_argument("--relevance", action="store_true", help="fit the relevance calibrator, not the fusion weights")
    p.add_argument("--packing", action="store_true", help="fit the prompt packing's cost floor (LoCoMo and --lme)")
    p.add_argument("--gate", action="store_true", help="fit the own-match gate on surrounding pathways (LoCoMo and --lme)")
    p.add_argument("--gate-weighting", choices=("question", "dataset"), default="question",
                   help="--gate: every question weighs the same, or every dataset")
    p.add_argument("--lme", default="../shared/data/longmemeval_s_sample20.json",
                   help="LongMemEval file for the fusion weights, --packing, --gate, --relevance")
    p.add_argument("--lift", action="store_true", help="fit the surrounding lift's length share and the packing floor")
    p.add_argument("--lme-dev", default="../shared/data/longmemeval_s_dev80.json.gz",
                   help="fusion weights, --lift, --relevance: LongMemEval development questions, used with --lme ('' leaves them out)")
    p.add_argument("--lme-dev-cache", default=os.path.expanduser("~/.cache/memoryweave/dev80-gpu"),
                   help="fusion weights, --lift, --relevance: the embedding cache that holds --lme-dev's vectors")
    p.add_argument("--lme-weight", type=float, help="fusion weights and --relevance: LongMemEval's weight as a share "
                   "of LoCoMo's (default calibration.LME_WEIGHT; 0 fits on LoCoMo alone)")
    p.add_argument("--min-gain", type=float, default=MIN_GAIN, help="fusion weights: the least gain on the joint "
                   "objective for which a weight moves from the shipped one (0: any gain, the fit before this rule)")
    p.add_argument("--over", help="--relevance: a previous relevance.json; where no pair meets every target, "
                   "the chosen one is no worse than its held-out figures")
    p.add_argument("--weights", help="--relevance: fusion weights over the shipped ones (JSON, or a file of it: "
                   "memoryweave eval --weights)")
    p.add_argument("--context-mode", choices=CONTEXT_MODES,
                   help="fusion weights and --relevance: how context vectors are made (default: RecallConfig's)")
    args = p.parse_args(argv)
    if args.context_mode and (args.lift or args.gate or args.packing):
        p.error("--context-mode applies to the fusion weights and --relevance only")
    if args.weights and not args.relevance:
        p.error("--weights applies to --relevance only (the fusion fit starts from the shipped weights)")
    if args.lift:
        from tune_lift import fit_lift

        lme = [(args.lme, None)] + ([(args.lme_dev, args.lme_dev_cache)] if args.lme_dev else [])
        return fit_lift(args.data, lme, args.folds, args.out)
    if args.gate:
        from tune_gate import fit_gate

        return fit_gate(args.data, args.lme, args.folds, args.out, args.gate_weighting)
    if args.packing:
        from tune_packing import fit_packing

        return fit_packing(args.data, args.lme, args.folds, args.out)
    if args.relevance:
        lme = [(args.lme, None)] + ([(args.lme_dev, args.lme_dev_cache)] if args.lme_dev else [])
        return fit_relevance(args.data, args.folds, args.out, lme, args.lme_weight, args.over, args.context_mode,
                             read_weights(args.weights) if args.weights else None)

    from tune_weights import cross_validate, figures, lme_questions
    from tune_weights import fit as fit_weights

    t0 = time.time()
    share = calibration.LME_WEIGHT if args.lme_weight is None else args.lme_weight
    rows = [{**q, "dataset": "locomo", "group": q["conv"]}
            for q in build_questions(args.data, context_mode=args.context_mode)]
    lme = ([(args.lme, None)] + ([(args.lme_dev, args.lme_dev_cache)] if args.lme_dev else [])) if share else []
    for path, cache_dir in lme:
        group0 = 1 + max((r["group"] for r in rows if r["dataset"] == "longmemeval"), default=-1)
        rows += lme_questions(path, cache_dir, group0, args.context_mode)
    print(f"{len(rows)} questions, features in {time.time() - t0:.0f}s", file=sys.stderr)
    start = {**RecallConfig().weights, **PRIOR}
    start_vec = np.array([start[f] for f in FEATURES])
    result = cross_validate(rows, args.folds, start, share, args.min_gain)
    fitted = fit_weights(rows, start, share, args.min_gain)
    vec = np.array([fitted[f] for f in FEATURES])
    held_gain = result["held_out"]["joint"] - result["held_out_start"]["joint"]
    final = fitted if held_gain > args.min_gain else start  # the fit ships only where refitting wins held out
    result.update({
        "files": {"locomo": args.data, "longmemeval": [p for p, _ in lme]}, "lme_share": share,
        "min_gain": args.min_gain, "start": start, "fitted": fitted, "held_out_gain": held_gain, "weights": final,
        "in_sample": figures(rows, vec, share), "in_sample_start": figures(rows, start_vec, share),
    })
    print("held-out (each question scored by the fold that held it out; the start weights on the same rows):")
    for name, figs in (("fitted", result["held_out"]), ("start", result["held_out_start"])):
        for key in ("recall@5", "recall@10"):
            print(f"  {name} LoCoMo {key}: " + "  ".join(f"{c} {v:.3f}" for c, v in figs["locomo"][key].items()))
        if "longmemeval" in figs:
            print(f"  {name} LongMemEval turn R@5 {figs['longmemeval']['turn_recall@5']:.3f} "
                  f"R@10 {figs['longmemeval']['turn_recall@10']:.3f}")
        print(f"  {name} joint {figs['joint']:.4f}")
    moved = {f: v for f, v in fitted.items() if v != start[f]}
    print(f"fitted on everything: in-sample joint {result['in_sample']['joint']:.4f} "
          f"(start {result['in_sample_start']['joint']:.4f}), moved from the shipped weights: {moved or 'nothing'}")
    print(f"held-out gain of refitting over the start {held_gain:+.4f}: "
          + ("above --min-gain, the fit ships" if final is fitted else "not above --min-gain, the start weights stay"))
    print("weights (the pathways' defaults in pathways/builtin.py):")
    print("  " + json.dumps({f: round(v, 3) for f, v in final.items()}))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
