"""Probe: one-pass encoding with a block-causal span mask, on LoCoMo or LongMemEval (not a shipped mode).

    HF_HUB_OFFLINE=1 python benchmarks/onepass_causal.py --data ../shared/data/locomo10.json \\
        --out benchmarks/results/locomo_context_onepass_causal.json
    HF_HUB_OFFLINE=1 python benchmarks/onepass_causal.py longmemeval \\
        --data ../shared/data/longmemeval_s_sample20.json \\
        --out benchmarks/results/longmemeval_context_onepass_causal.json
    MEMORYWEAVE_CACHE=~/.cache/memoryweave/dev80-gpu HF_HUB_OFFLINE=1 python \\
        benchmarks/onepass_causal.py longmemeval --data ../shared/data/longmemeval_s_dev80.json.gz \\
        --cache-dir ~/.cache/memoryweave/dev80-gpu \\
        --out benchmarks/results/longmemeval_dev80_context_onepass_causal.json

``context_mode="onepass"`` reads a span of turns both ways, so a turn's
content vector also reads the turns after it.  Here each token attends only
to its own turn and the earlier turns of its span (a 4-d additive attention
mask on the PyTorch model; the shipped ONNX graph takes a 2-d mask only), so
a turn's content reads its past alone, as a streaming ``add`` would.  The
eval harness's cached embedder is given these per-turn sums under their own
cache tag, and LoCoMo is run with ``--context-mode onepass``.  ``--weights``
and ``--calibrator`` score a refit (``memoryweave eval --weights``,
``eval_calibrator.py``); ``relevance`` fits a calibrator on the causal sums
(``--weights`` ranking), e.g. ``results/relevance_context_onepass_causal.json``:

    python benchmarks/onepass_causal.py relevance --weights '{"context": 0.25, "semantic": 0.75}' \
        --out benchmarks/results/relevance_context_onepass_causal.json

The same mask runs on ONNX: ``onnx_causal.py``.  Not a test.
"""
import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

import memoryweave_core.eval.systems as sy  # noqa: E402
from memoryweave_core.embedders import default_model_path  # noqa: E402
from memoryweave_core.eval.cache import cache_key  # noqa: E402
from memoryweave_core.late_chunking import fit_span  # noqa: E402

torch.set_num_threads(int(os.environ.get("PROBE_THREADS", "1")))  # 2 shared cores: one by default
st = SentenceTransformer(default_model_path(), device="cpu")
tok = st.tokenizer
bert = st[0].auto_model
NEG = torch.finfo(torch.float32).min

def causal_sums(spans, batch_size=16):
    flat = iter(tok([t for s in spans for t in s], add_special_tokens=False, verbose=False)["input_ids"])
    ids = [fit_span([next(flat) for _ in s], 254) for s in spans]
    out = [None] * len(spans)
    order = sorted(range(len(ids)), key=lambda i: -sum(len(t) for t in ids[i]))
    for at in range(0, len(order), batch_size):
        rows = order[at:at + batch_size]
        seqs, owners = [], []
        for i in rows:
            n = len(ids[i])
            seqs.append([tok.cls_token_id] + [x for t in ids[i] for x in t] + [tok.sep_token_id])
            owners.append([0] + [k for k, t in enumerate(ids[i]) for _ in t] + [n - 1])
        W = max(len(s) for s in seqs)
        inp = torch.zeros((len(rows), W), dtype=torch.long)
        own = torch.full((len(rows), W), 10**6, dtype=torch.long)
        for r, (s, o) in enumerate(zip(seqs, owners)):
            inp[r, : len(s)] = torch.tensor(s)
            own[r, : len(o)] = torch.tensor(o)
        allowed = own[:, None, :] <= own[:, :, None]
        allowed |= torch.eye(W, dtype=torch.bool)[None]
        mask = torch.where(allowed, 0.0, NEG)[:, None]
        with torch.inference_mode():
            h = bert(input_ids=inp, attention_mask=mask, token_type_ids=torch.zeros_like(inp)).last_hidden_state.numpy()
        for r, i in enumerate(rows):
            o = np.asarray(owners[r])
            out[i] = np.stack([h[r, :len(o)][o == k].sum(0, dtype=np.float64) if (o == k).any() else np.zeros(h.shape[-1]) for k in range(len(ids[i]))])
    return out

TAG = "onepass-causal-v0"
def turn_sums(self, spans):
    keys = [[f"{TAG}|{j}|" + "\x1f".join(span) for j in range(len(span))] for span in spans]
    found = self.cache.get_many([k for ks in keys for k in ks])
    missing = [i for i, ks in enumerate(keys) if any(cache_key(k) not in found for k in ks)]
    if missing:
        fresh = causal_sums([spans[i] for i in missing])
        self.cache.put_many([k for i in missing for k in keys[i]], np.concatenate(fresh))
        for i, sums in zip(missing, fresh):
            found.update({cache_key(k): np.asarray(v, np.float32) for k, v in zip(keys[i], sums)})
    return [np.stack([found[cache_key(k)] for k in ks]) for ks in keys]
sy.CachedEmbedder.turn_sums = turn_sums
sy.CachedEmbedder.token_counts = lambda self, texts: [len(x) for x in tok(list(texts), add_special_tokens=False, verbose=False)["input_ids"]]

SPAN_STATS: dict[str, list[float]] = {"sizes": [], "cos": []}
def counted(self, spans):
    """Causal sums, noting span sizes and each multi-turn span turn's cosine
    to its two-way sum where the eval cache holds one (``--span-stats``)."""
    out = turn_sums(self, spans)
    keys = [f"{sy.ONEPASS_TAG}|{j}|" + "\x1f".join(s) for s in spans if len(s) > 1 for j in range(len(s))]
    found = self.cache.get_many(keys)
    causal = [v for s, c in zip(spans, out) if len(s) > 1 for v in c]
    SPAN_STATS["sizes"] += [len(s) for s in spans]
    SPAN_STATS["cos"] += [float(b @ v / (np.linalg.norm(b) * np.linalg.norm(v)))
                          for k, v in zip(keys, causal) if (b := found.get(cache_key(k))) is not None]
    return out

if __name__ == "__main__":
    from memoryweave_core.eval.__main__ import main

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", nargs="?", default="locomo", choices=["locomo", "longmemeval", "relevance"],
                   help="relevance: fit the calibrator on these sums (tune.py --relevance --context-mode onepass, "
                   "its default data, --over results/relevance.json)")
    p.add_argument("--data", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "locomo10.json"))
    p.add_argument("--cache-dir", help="embedding cache directory, passed on to the eval harness")
    p.add_argument("--out", required=True)
    p.add_argument("--weights", help="fusion weights, passed on to the eval harness (memoryweave eval --weights)")
    p.add_argument("--calibrator", help="a tune.py --relevance --out file read instead of the shipped calibrator")
    p.add_argument("--span-stats", action="store_true",
                   help="print how many spans hold one turn and the causal/two-way cosines (run the two-way eval first)")
    args = p.parse_args()
    if args.dataset == "relevance":
        import tune

        here = Path(__file__).resolve().parent
        sys.exit(tune.main(["--relevance", "--context-mode", "onepass", "--over", str(here / "results" / "relevance.json"),
                            "--out", args.out, *(["--weights", args.weights] if args.weights else [])]))
    extra = ["--cache-dir", args.cache_dir] if args.cache_dir else []
    extra += ["--weights", args.weights] if args.weights else []
    if args.calibrator:
        from eval_calibrator import use_calibrator

        use_calibrator(args.calibrator)
    if args.span_stats:
        sy.CachedEmbedder.turn_sums = counted
    rc = main([args.dataset, "--data", args.data, "--context-mode", "onepass", "--no-ablations",
               "--systems", "memoryweave", "--quiet", "--out", args.out, *extra])
    if args.span_stats:
        sizes, cos = np.asarray(SPAN_STATS["sizes"]), np.asarray(SPAN_STATS["cos"])
        print(f"spans {len(sizes)}, one-turn {int((sizes == 1).sum())}, turns {int(sizes.sum())}, "
              f"in multi-turn spans {int(sizes[sizes > 1].sum())}; causal vs two-way cosine over {len(cos)}: "
              f"median {np.median(cos):.3f}, mean {cos.mean():.3f}, min {cos.min():.3f}")
    sys.exit(rc)
