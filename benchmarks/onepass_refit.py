"""Onepass against the model context, refitted: one table over LoCoMo, LongMemEval sample20 and dev80.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/onepass_refit.py \\
        --runs /tmp/onepass_refit --out benchmarks/results/onepass_refit.json

Each variant is scored by the eval harness itself (``memoryweave eval``,
``--no-ablations --systems memoryweave``), on the three datasets, one
process per run (the dev80 runs read ``~/.cache/memoryweave/dev80-gpu``).
A variant is a context mode read two-way (``--context-mode``) or
block-causally (``onepass_causal.py``), fusion weights over the shipped ones
(``--weights``) and a relevance calibrator (``eval_calibrator.py``; the
calibrator orders nothing, it moves the budget figures through the prompt
packing).  The fits it reads:

* ``results/tune_context_onepass.json``: ``tune.py --context-mode onepass``
  (now ``--lme-weight 0 --min-gain 0``), fusion weights fitted on LoCoMo alone (tune.py's proxy objective);
* ``results/relevance_context_onepass.json``: ``tune.py --relevance
  --context-mode onepass --over results/relevance.json``, the calibrator
  refitted on onepass features (LoCoMo, sample20 and dev80 rows);
* ``results/relevance_context_onepass_causal.json``: the same fit on the
  block-causal sums ranked with context 0.25 and semantic 0.75
  (``onepass_causal.py relevance --weights ...``).

The context 0.25 / semantic 0.75 pair is the best of the small grid that
closes the table (two-way, shipped calibrator), read off the harness over
the three datasets: LoCoMo R@10 falls below its guard at context 0 or at
semantic 0.5.

Runs already in ``--runs`` are reused (delete them to rerun).  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import result_file  # noqa: E402 (benchmarks/, the script's folder, is on sys.path)

DATA = ROOT.parent / "shared" / "data"
DEV_CACHE = Path(os.path.expanduser("~/.cache/memoryweave/dev80-gpu"))
TUNED = str(HERE / "results" / "tune_context_onepass.json")
RECAL = str(HERE / "results" / "relevance_context_onepass.json")
CAUSAL_RECAL = str(HERE / "results" / "relevance_context_onepass_causal.json")
LOW_CONTEXT = '{"context": 0.25, "semantic": 0.75}'
#: name: (mode, how onepass reads its spans, weights, calibrator)
VARIANTS: dict[str, tuple[str, str, str | None, str | None]] = {
    "model": ("model", "", None, None),
    "onepass": ("onepass", "two-way", None, None),
    "onepass, LoCoMo-fitted weights": ("onepass", "two-way", TUNED, None),
    "onepass, onepass calibrator": ("onepass", "two-way", None, RECAL),
    "onepass, context 0.25 semantic 0.75": ("onepass", "two-way", LOW_CONTEXT, None),
    "onepass, context 0.25 semantic 0.75, onepass calibrator": ("onepass", "two-way", LOW_CONTEXT, RECAL),
    "onepass causal": ("onepass", "block-causal", None, None),
    "onepass causal, onepass calibrator": ("onepass", "block-causal", None, RECAL),
    "onepass causal, context 0.25 semantic 0.75": ("onepass", "block-causal", LOW_CONTEXT, None),
    "onepass causal, context 0.25 semantic 0.75, onepass calibrator": ("onepass", "block-causal", LOW_CONTEXT, RECAL),
    "onepass causal, context 0.25 semantic 0.75, causal calibrator": ("onepass", "block-causal", LOW_CONTEXT,
                                                                       CAUSAL_RECAL),
    **{f"onepass, context {c} semantic {s}": ("onepass", "two-way", f'{{"context": {c}, "semantic": {s}}}', None)
       for c, s in ((0.0, 0.75), (0.25, 0.5), (0.25, 1.0), (0.75, 0.75), (0.75, 1.0), (1.0, 0.75), (1.0, 1.0))},
}
DATASETS = {
    "locomo": ("locomo", DATA / "locomo10.json", None),
    "sample20": ("longmemeval", DATA / "longmemeval_s_sample20.json", None),
    "dev80": ("longmemeval", DATA / "longmemeval_s_dev80.json.gz", DEV_CACHE),
}
FIGURES = {
    "locomo": ("recall@5", "recall@10", "ndcg@10", "budget_recall@256", "budget_recall@512", "budget_recall@1024"),
    "longmemeval": ("recall_all@5", "recall_all@10", "turn_recall@5", "turn_recall@10", "budget_recall@256",
                    "budget_recall@512", "budget_recall@1024"),
}


def command(variant: str, dataset: str, out: Path) -> tuple[list[str], dict[str, str]]:
    mode, reading, weights, calibrator = VARIANTS[variant]
    kind, data, cache = DATASETS[dataset]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [kind, "--data", str(data), "--out", str(out)]
    if cache:
        env["MEMORYWEAVE_CACHE"] = str(cache)
        args += ["--cache-dir", str(cache)]
    if weights:
        args += ["--weights", weights]
    if reading == "block-causal":
        extra = ["--calibrator", calibrator] if calibrator else []
        return [sys.executable, str(HERE / "onepass_causal.py"), *args, *extra], env
    args += ["--context-mode", mode, "--no-ablations", "--systems", "memoryweave", "--quiet"]
    if calibrator:
        return [sys.executable, str(HERE / "eval_calibrator.py"), "--calibrator", calibrator, *args], env
    return [sys.executable, "-m", "memoryweave_core.eval", *args], env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="folder for the per-run eval results (reused when present)")
    p.add_argument("--only", nargs="+", choices=list(VARIANTS), help="these variants only")
    p.add_argument("--out")
    args = p.parse_args(argv)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    table: dict[str, dict[str, Any]] = {}
    for i, variant in enumerate(args.only or VARIANTS):
        table[variant] = {}
        for dataset, (kind, _, _) in DATASETS.items():
            out = runs / f"{i}_{dataset}.json"
            cmd, env = command(variant, dataset, out)
            if not out.is_file():
                print(f"{variant} / {dataset}", file=sys.stderr)
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            figures = json.loads(out.read_text())["systems"]["memoryweave"]
            table[variant][dataset] = {k: figures[k] for k in FIGURES[kind]}
    model = table.get("model")
    for variant, rows in table.items():
        print(variant)
        for dataset, figures in rows.items():
            cells = []
            for k, v in figures.items():
                gap = f" ({v - model[dataset][k]:+.3f})" if model and variant != "model" else ""
                cells.append(f"{k} {v:.3f}{gap}")
            print(f"  {dataset}: " + ", ".join(cells))
    if args.out:
        result_file.write(args.out, {
            "variants": {v: {"context_mode": m, "reading": r, "weights": w and (Path(w).name if w.endswith(".json")
                                                                              else json.loads(w)),
                             "calibrator": c and Path(c).name} for v, (m, r, w, c) in VARIANTS.items()},
            "figures": table, "commit": result_file.commit(),
            "command": result_file.command("onepass_refit.py", argv),
        })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
