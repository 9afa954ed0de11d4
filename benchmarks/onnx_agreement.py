"""Do ONNX Runtime and PyTorch give the default model the same vectors?

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/onnx_agreement.py \\
        --out benchmarks/results/onnx_agreement.json

Turn vectors: LongMemEval sample20's turns longer than the model's 256 word
pieces (truncation must match), plus a random sample of the others, embedded
on ONNX Runtime and compared with the PyTorch vectors in the eval's
embedding cache (which ``memoryweave eval`` filled with PyTorch).  Late
chunking: LoCoMo sessions pooled by both runtimes' ``pool_spans``.  Reports
the lowest and mean cosine.  Not a test.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import result_file  # noqa: E402 (benchmarks/, the script's folder, is on sys.path)

from memoryweave_core.embedders import SentenceTransformerEmbedder, default_model_path  # noqa: E402
from memoryweave_core.eval.cache import EmbeddingCache  # noqa: E402
from memoryweave_core.eval.datasets import load  # noqa: E402
from memoryweave_core.eval.systems import MODEL_NAME  # noqa: E402
from memoryweave_core.late_chunking import late_context  # noqa: E402
from memoryweave_core.onnx_embedder import OnnxEmbedder  # noqa: E402

DATA = ROOT.parent / "shared" / "data"  # the main checkout's sibling; --data-dir elsewhere


def summary(cos: np.ndarray) -> dict[str, float]:
    return {"n": int(cos.size), "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--long", type=int, default=400, help="at most this many LongMemEval turns over 256 word pieces")
    p.add_argument("--short", type=int, default=200, help="random shorter LongMemEval turns")
    p.add_argument("--sessions", type=int, default=20, help="LoCoMo sessions pooled by late chunking")
    p.add_argument("--data-dir", default=str(DATA), help="holds locomo10.json and longmemeval_s_sample20.json")
    p.add_argument("--out")
    args = p.parse_args(argv)

    onnx = OnnxEmbedder(default_model_path())
    cache = EmbeddingCache(MODEL_NAME)
    lme = load("longmemeval", Path(args.data_dir) / "longmemeval_s_sample20.json", skip_abstention=False)
    texts = list(dict.fromkeys(t.text for c in lme.conversations for t in c.turns))
    counts = onnx.token_counts(texts)
    long = [t for t, n in zip(texts, counts) if n > onnx.max_tokens][: args.long]
    rng = random.Random(0)
    short = rng.sample([t for t, n in zip(texts, counts) if n <= onnx.max_tokens], args.short)
    result: dict[str, object] = {"lme_turns": len(texts), "lme_turns_over_256": sum(n > onnx.max_tokens for n in counts)}
    for name, group in (("lme_long_turns", long), ("lme_short_turns", short)):
        ref = cache.embed(group, None)  # PyTorch vectors, from the cache
        result[name] = summary((onnx.embed(group) * ref).sum(1))

    from sentence_transformers import SentenceTransformer

    torch_emb = SentenceTransformerEmbedder(SentenceTransformer(default_model_path(), device="cpu"))
    locomo = load("locomo", Path(args.data_dir) / "locomo10.json")
    sessions = [s for c in locomo.conversations for s in c.sessions][: args.sessions]
    seqs = [[f"{t.speaker}: {t.body}" for t in s.turns] for s in sessions]
    targets = [(k, i, max(i - 2, 0)) for k, seq in enumerate(seqs) for i in range(1, len(seq))]
    a, b = late_context(onnx, seqs, targets), late_context(torch_emb, seqs, targets)
    result["late_chunk_windows"] = summary((a * b).sum(1))

    for key, value in result.items():
        print(key, value)
    if args.out:
        result_file.write(args.out, {**result, "commit": result_file.commit(),
                                     "command": result_file.command("onnx_agreement.py", argv)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
