"""How small can recall's candidate pool be: speed and quality per pool size.

    OPENBLAS_NUM_THREADS=1 python benchmarks/pool_size.py speed --n 100000 --backends memory sqlite \\
        --points 30/2 25/1 40/1 --out /tmp/pool/speed.json
    python benchmarks/pool_size.py frontier --speed /tmp/pool/speed.json --quality /tmp/pool/locomo_*.json ...

``speed`` builds bench_scale's store once per backend, then measures every
point (``candidates/neighbour_radius``) with bench_stages' per-stage timing,
each point right after the 50/2 baseline on the same store, for ``--rounds``
rounds, so that the load of a shared machine falls on both alike: the ratio
to the baseline of the same round is the figure to read, not the absolute ms.

``frontier`` joins those with ``memoryweave eval`` result files run with
``--candidates C --neighbour-radius R --depth D`` (the file name carries
them: ``locomo_cC_rR_dD.json``).  Recall widens the pool to at least ``k``
per pathway, so a point with fewer candidates than the harness's depth of 50
is evaluated at a depth equal to its candidates, against the 50/2 baseline
at that same depth (the rank metrics at 10 do not depend on the depth; the
budget and abstention figures do).  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_stages import STAGES, build, measure  # noqa: E402

BASELINE = (50, 2)
NAME = re.compile(r"_c(\d+)_r(\d+)_d(\d+)\.json$")


def point(text: str) -> tuple[int, int]:
    c, r = text.split("/")
    return int(c), int(r)


def speed(args: argparse.Namespace) -> dict:
    from memoryweave_core import RecallConfig

    points = [point(p) for p in args.points]
    out: dict = {"n": args.n, "rounds": args.rounds, "backends": {}}
    for backend in args.backends:
        mem, qtexts, now = build(backend, args.n)
        base = RecallConfig(context_window=0)
        runs: dict[str, list[dict]] = {}
        try:
            for round_ in range(args.rounds):
                for c, r in points:
                    pair = (BASELINE, (c, r))
                    for cfg in pair if round_ % 2 == 0 else pair[::-1]:  # alternate which runs first
                        key = f"{cfg[0]}/{cfg[1]}"
                        cfg_ = replace(base, candidates=cfg[0], neighbour_radius=cfg[1])
                        runs.setdefault(key, []).append(measure(mem, qtexts, now, cfg_))
        finally:
            mem.close()
        table = {}
        for key, got in runs.items():
            row = {s: float(np.median([g[s] for g in got])) for s in (*STAGES, "recall_p50", "pool_rows")}
            table[key] = row
        base_p50 = table[f"{BASELINE[0]}/{BASELINE[1]}"]["recall_p50"]
        for row in table.values():
            row["recall_vs_baseline"] = row["recall_p50"] / base_p50
        out["backends"][backend] = table
    out["load_average"] = os.getloadavg()
    return out


QUALITY_KEYS = ("recall@5", "recall@10", "ndcg@10", "budget_recall@256", "budget_recall@512", "budget_recall@1024",
                "recall_any@5", "recall_any@10", "recall_all@10", "ndcg_any@10", "turn_recall@10")


def quality(path: str) -> dict:
    with open(path) as f:
        result = json.load(f)
    mw = result["systems"]["memoryweave"]
    row = {k: mw[k] for k in QUALITY_KEYS if k in mw}
    ab = mw.get("abstention")
    if ab:
        row["abstention"] = {k: ab[k] for k in ("evidence_kept", "nonevidence_dropped", "foreign_empty")}
    for level in ("session", "turn"):  # LongMemEval's per-level blocks, where the harness gives them
        if isinstance(mw.get(level), dict):
            row[level] = {k: v for k, v in mw[level].items() if not isinstance(v, (dict, list))}
    return {"dataset": result["dataset"], **row}


#: How each quality file was made (C, R, D: the point and the depth; OUT: the file).
EVAL_COMMANDS = {
    "locomo": "memoryweave eval locomo --data /work/shared/data/locomo10.json --no-ablations --systems memoryweave"
              " --candidates C --neighbour-radius R --depth D --out locomo_cC_rR_dD.json",
    "lme20": "memoryweave eval longmemeval --data /work/shared/data/longmemeval_s_sample20.json --no-ablations"
             " --systems memoryweave --candidates C --neighbour-radius R --depth D --out lme20_cC_rR_dD.json",
    "dev80": "MEMORYWEAVE_CACHE=~/.cache/memoryweave/dev80-gpu memoryweave eval longmemeval --data"
             " /work/shared/data/longmemeval_s_dev80.json.gz --cache-dir ~/.cache/memoryweave/dev80-gpu --no-ablations"
             " --systems memoryweave --candidates C --neighbour-radius R --depth D --out dev80_cC_rR_dD.json",
}


def frontier(args: argparse.Namespace) -> dict:
    out: dict = {"commands": EVAL_COMMANDS, "quality": {}, "speed": None}
    for path in args.quality:
        m = NAME.search(path)
        if not m:
            raise SystemExit(f"{path}: name it ..._cC_rR_dD.json")
        c, r, d = (int(x) for x in m.groups())
        out["quality"][os.path.basename(path)] = {"candidates": c, "neighbour_radius": r, "depth": d, **quality(path)}
    if args.speed:
        with open(args.speed) as f:
            out["speed"] = json.load(f)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--n", type=int, default=100_000)
    s.add_argument("--backends", nargs="+", default=["memory", "sqlite"])
    s.add_argument("--points", nargs="+", default=["30/2", "25/1", "40/1"])
    s.add_argument("--rounds", type=int, default=2)
    s.add_argument("--out")
    f = sub.add_parser("frontier")
    f.add_argument("--speed")
    f.add_argument("--quality", nargs="+", default=[])
    f.add_argument("--out")
    args = ap.parse_args()
    result = speed(args) if args.cmd == "speed" else frontier(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
