"""How close the mean context comes to the embedded window it stands for.

    python benchmarks/mean_context_cosine.py --locomo ../shared/data/locomo10.json \\
        --lme ../shared/data/longmemeval_s_sample20.json \\
        --lme ../shared/data/longmemeval_s_dev80.json.gz=~/.cache/memoryweave/dev80-gpu \\
        --out benchmarks/results/mean_context_cosine.json

``context_mode="model"`` embeds each window (turns i-2..i, joined by newlines),
and the model reads at most its first 254 word pieces; ``context_mode="mean"``
derives the context from the turns' content vectors (encoder.window_weights).
For every window with a preceding turn, this reads both from the eval
harness's embedding cache (filled by ``memoryweave eval``; a LongMemEval file
may name its cache after ``=``) and reports the mean cosine between them:

* ``words``: each turn weighted by the square root of its word count (the
  mean mode before word pieces were counted);
* ``words_read``: the same, counting only the words the model reads before
  the window is cut (what the mean mode does with a model that counts pieces);
* for comparison, ``uniform`` weights, weights by ``word_count`` (no square
  root), and the ``turn_alone`` (the context vector equal to the content).

split by whether the window fits the model (at most 254 pieces) or is cut.
Windows whose vectors the cache lacks are skipped and counted.  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from memoryweave_core.embedders import default_embedder  # noqa: E402
from memoryweave_core.encoder import window_weights  # noqa: E402
from memoryweave_core.eval.cache import EmbeddingCache, cache_key  # noqa: E402
from memoryweave_core.eval.datasets import Dataset, load_locomo, load_longmemeval  # noqa: E402
from memoryweave_core.eval.systems import MODEL_NAME  # noqa: E402
from memoryweave_core.late_chunking import SpanPooler  # noqa: E402

WINDOW = 2  # preceding turns, RecallConfig's default context_window


def cosines(dataset: Dataset, cache: EmbeddingCache, counter: SpanPooler) -> dict:
    budget = int(counter.max_tokens)
    found: dict[str, list[float]] = {"words": [], "words_read": [], "uniform": [], "word_count": [], "turn_alone": []}
    cut: list[bool] = []
    skipped = 0
    for conversation in dataset.conversations:
        for session in conversation.sessions:
            texts = [t.text for t in session.turns]
            if len(texts) < 2:
                continue
            pieces = dict(zip(texts, counter.token_counts(texts)))
            windows = [(i, "\n".join(texts[max(0, i - WINDOW) : i + 1])) for i in range(1, len(texts))]
            vectors = cache.get_many(texts + [w for _, w in windows])
            for i, window in windows:
                turns = texts[max(0, i - WINDOW) : i + 1]
                keys = [cache_key(t) for t in turns] + [cache_key(window)]
                if any(k not in vectors for k in keys):
                    skipped += 1
                    continue
                content = np.stack([vectors[k] for k in keys[:-1]]).astype(np.float64)
                embedded = vectors[keys[-1]]
                counts = [pieces[t] for t in turns]
                plain = window_weights(turns)
                variants = (("words", plain), ("words_read", window_weights(turns, counts, budget)),
                            ("uniform", np.ones(len(turns))), ("word_count", plain**2),
                            ("turn_alone", np.eye(len(turns))[-1]))
                for name, weights in variants:
                    mean = weights @ content
                    found[name].append(float(mean @ embedded / np.linalg.norm(mean)))
                cut.append(sum(counts) > budget)
    is_cut = np.array(cut, bool)
    out: dict = {"windows": len(cut), "cut_windows": int(is_cut.sum()), "skipped": skipped}
    for name, values in found.items():
        v = np.array(values)
        out[name] = {"all": float(v.mean()) if len(v) else None,
                     "fits": float(v[~is_cut].mean()) if (~is_cut).any() else None,
                     "cut": float(v[is_cut].mean()) if is_cut.any() else None}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--locomo", help="locomo10.json")
    p.add_argument("--lme", action="append", default=[], help="a LongMemEval file, optionally =CACHE_DIR")
    p.add_argument("--out")
    args = p.parse_args()
    counter = default_embedder()  # counts word pieces as the model reads them
    if not isinstance(counter, SpanPooler):
        raise SystemExit("the default model cannot count word pieces here: install memoryweave[st] or [onnx]")
    results: dict = {}
    if args.locomo:
        results[Path(args.locomo).name] = cosines(load_locomo(args.locomo), EmbeddingCache(MODEL_NAME), counter)
    for spec in args.lme:
        path, _, cache_dir = spec.partition("=")
        cache = EmbeddingCache(MODEL_NAME, os.path.expanduser(cache_dir) if cache_dir else None)
        results[Path(path).name] = cosines(load_longmemeval(path, skip_abstention=False), cache, counter)
    text = json.dumps({"window": WINDOW, "max_tokens": int(counter.max_tokens), "datasets": results}, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
