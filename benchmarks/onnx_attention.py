"""The default model on ONNX Runtime, exported with two attention implementations.

    OMP_NUM_THREADS=1 python benchmarks/onnx_attention.py --data ../shared/data/locomo10.json \\
        --out benchmarks/results/onnx_attention.json

``transformers`` exports BERT attention as ``scaled_dot_product_attention``
by default, whose ONNX form adds NaN guards (``IsNaN``, ``Where``) to every
layer; ``attn_implementation="eager"`` exports plain products and a softmax.
Both are exported here (into a temporary folder, as ``export_onnx`` does),
then time ``OnnxEmbedder.embed`` over the first ``--turns`` turns of LoCoMo's
first conversation and their three-turn windows (what an add embeds),
interleaved round by round, best of ``--rounds``; and compare the vectors
with each other and with PyTorch's.  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import result_file  # noqa: E402 (benchmarks/, the script's folder, is on sys.path)

from memoryweave_core import onnx_embedder  # noqa: E402
from memoryweave_core.embedders import default_model_path  # noqa: E402


def texts_of(path: str, n: int) -> list[str]:
    """The first ``n`` turns of the first conversation ("Speaker: text"), then each one's three-turn window."""
    conversation = json.loads(Path(path).read_text())[0]["conversation"]
    turns: list[str] = []
    for key in sorted(conversation, key=lambda k: int(k.split("_")[1]) if k.split("_")[1].isdigit() else 0):
        if key.startswith("session_") and isinstance(conversation[key], list):
            turns += [f"{t['speaker']}: {t['text']}" for t in conversation[key]]
    turns = turns[:n]
    return turns + [" ".join(turns[max(0, i - 2): i + 1]) for i in range(len(turns))]


def export(model_dir: Path, folder: Path, attention: str) -> Path:
    """The packaged model exported as ``export_onnx`` exports it, with this attention implementation."""
    transformers = __import__("transformers")
    original = transformers.AutoModel.from_pretrained

    def with_attention(*args: Any, **kwargs: Any) -> Any:
        kwargs["attn_implementation"] = attention
        return original(*args, **kwargs)

    transformers.AutoModel.from_pretrained = with_attention
    try:
        return onnx_embedder.export_onnx(model_dir, folder / attention)
    finally:
        transformers.AutoModel.from_pretrained = original


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo10.json"))
    ap.add_argument("--turns", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    texts = texts_of(args.data, args.turns)
    model_dir = Path(default_model_path())
    with tempfile.TemporaryDirectory() as tmp:
        embedders = {}
        for attention in ("sdpa", "eager"):
            export(model_dir, Path(tmp), attention)  # then the embedder finds it in that cache folder
            embedders[attention] = e = onnx_embedder.OnnxEmbedder(model_dir, cache_dir=Path(tmp) / attention)
            e.embed(texts[:40])  # warm up
        rates: dict[str, list[float]] = {a: [] for a in embedders}
        for _ in range(args.rounds):
            for attention, e in embedders.items():
                t0 = time.perf_counter()
                e.embed(texts)
                rates[attention].append(len(texts) / (time.perf_counter() - t0))
        vectors = {a: e.embed(texts) for a, e in embedders.items()}
    from sentence_transformers import SentenceTransformer

    torch_vectors = SentenceTransformer(str(model_dir), device="cpu").encode(texts, normalize_embeddings=True)
    result = {
        "texts": len(texts), "turns": args.turns,
        "texts_per_s_best": {a: round(max(r), 1) for a, r in rates.items()},
        "texts_per_s_rounds": {a: [round(x, 1) for x in r] for a, r in rates.items()},
        "min_cosine_eager_vs_sdpa": float((vectors["eager"] * vectors["sdpa"]).sum(1).min()),
        "min_cosine_vs_pytorch": {a: float((v * torch_vectors).sum(1).min()) for a, v in vectors.items()},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        result_file.write(args.out, {"commit": result_file.commit(), "command": result_file.command("onnx_attention.py", argv),
                                     "machine": result_file.machine(load=os.getloadavg()), **result})


if __name__ == "__main__":
    main()
