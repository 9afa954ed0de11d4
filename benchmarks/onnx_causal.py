"""Probe: block-causal one-pass encoding on ONNX Runtime (not a shipped mode).

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/onnx_causal.py \\
        --data ../shared/data/locomo10.json --out benchmarks/results/onnx_causal.json

``onepass_causal.py`` reads each span with a block-causal mask (a token sees
its own turn and the earlier turns of its span) on PyTorch, because the
packaged ONNX graph takes a 2-d padding mask only.  Here the same model is
exported once more, offline with ``torch.onnx`` as ``onnx_embedder.py`` does,
with a 4-d additive mask input ``[batch, 1, tokens, tokens]`` and the token
states as its only output.  Two checks, in one run:

* agreement: per-turn token-state sums of LoCoMo's multi-turn spans, ONNX
  against the PyTorch probe's ``causal_sums`` (cosine, target >= 0.99);
* speed: ``add_conversation`` of bench_ingest.py's turns with
  ``context_mode="onepass"`` on ONNX, read two-way (the shipped graph) and
  block-causal (this graph), against ONNX and PyTorch ``encode`` of the same
  turns, interleaved round by round, best of ``--rounds``;
* the paraphrase check of ``tests/test_embedders.py`` ("What pet does Ana
  have?"): the first recollection under each reading and weight set.  Not a test.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import result_file  # noqa: E402 (benchmarks/, the script's folder, is on sys.path)
from bench_ingest import best_seconds, ingest, sessions_of  # noqa: E402

from memoryweave_core.embedders import default_model_path  # noqa: E402
from memoryweave_core.eval.datasets import load_locomo  # noqa: E402
from memoryweave_core.late_chunking import fit_span  # noqa: E402
from memoryweave_core.onepass import cut_spans  # noqa: E402
from memoryweave_core.onnx_embedder import OnnxEmbedder, _fingerprint, onnx_cache_dir, write_atomically  # noqa: E402

NEG = float(np.finfo(np.float32).min)


def export_causal(model_dir: Path) -> Path:
    """The encoder with a 4-d additive attention mask input, token states out (cached)."""
    target = onnx_cache_dir() / f"{model_dir.name}-{_fingerprint(model_dir)}-causal4d.onnx"
    if target.is_file():
        return target
    import torch
    import transformers

    model = transformers.AutoModel.from_pretrained(str(model_dir)).eval()

    class States(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.long)
    # A sample mask with masked entries, so tracing cannot take a "nothing masked" shortcut.
    mask = torch.where(torch.tril(torch.ones(8, 8, dtype=torch.bool)), 0.0, NEG)[None, None].repeat(2, 1, 1, 1)
    def export(path: str) -> None:
        with torch.no_grad():
            torch.onnx.export(
                States(model), (ids, mask, torch.zeros_like(ids)), path,
                input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["token_embeddings"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "token_type_ids": {0: "batch", 1: "tokens"},
                              "attention_mask": {0: "batch", 2: "tokens", 3: "tokens"},
                              "token_embeddings": {0: "batch", 1: "tokens"}},
                opset_version=17, dynamo=False,
            )

    return write_atomically(target, export)


def block_causal_batches(ids: list[list[list[int]]], cls_id: int, sep_id: int,
                         batch_size: int = 16) -> list[tuple[list[int], np.ndarray, np.ndarray, list[np.ndarray]]]:
    """Batches of spans, longest first: (span indices, input ids, 4-d additive
    mask, each row's token owners).  A token sees the tokens of its own turn
    and of the turns before it; [CLS] belongs to the first turn, [SEP] to the
    last, padding to none (as onepass_causal.causal_sums builds it)."""
    order = sorted(range(len(ids)), key=lambda i: -sum(len(t) for t in ids[i]))
    out = []
    for at in range(0, len(order), batch_size):
        rows = order[at:at + batch_size]
        seqs, owners = [], []
        for i in rows:
            n = len(ids[i])
            seqs.append([cls_id] + [x for t in ids[i] for x in t] + [sep_id])
            owners.append(np.array([0] + [k for k, t in enumerate(ids[i]) for _ in t] + [n - 1]))
        width = max(len(s) for s in seqs)
        inp = np.zeros((len(rows), width), np.int64)
        own = np.full((len(rows), width), 10**6, np.int64)
        for r, (s, o) in enumerate(zip(seqs, owners)):
            inp[r, :len(s)] = s
            own[r, :len(o)] = o
        allowed = (own[:, None, :] <= own[:, :, None]) | np.eye(width, dtype=bool)[None]
        out.append((rows, inp, np.where(allowed, 0.0, NEG).astype(np.float32)[:, None], owners))
    return out


class CausalOnnx(OnnxEmbedder):
    """The ONNX embedder whose one-pass sums are read block-causally."""

    def __init__(self, model_dir: str | Path, **kw: Any) -> None:
        import onnxruntime as ort

        super().__init__(model_dir, **kw)
        options = ort.SessionOptions()
        if kw.get("threads"):
            options.intra_op_num_threads = kw["threads"]
        self.causal = ort.InferenceSession(str(export_causal(Path(model_dir))), options,
                                           providers=["CPUExecutionProvider"])

    def turn_sums(self, spans: Sequence[Sequence[str]]) -> list[np.ndarray]:
        flat = iter(self._turn_ids([t for s in spans for t in s]) if any(spans) else [])
        ids = [fit_span([next(flat) for _ in s], self.max_tokens) for s in spans]
        cls_id, sep_id = self._specials()
        out: list[np.ndarray] = [np.zeros((0, 0))] * len(spans)
        for rows, inp, mask, owners in block_causal_batches(ids, cls_id, sep_id):
            feed = {"input_ids": inp, "attention_mask": mask, "token_type_ids": np.zeros_like(inp)}
            h = self.causal.run(["token_embeddings"], feed)[0]
            for r, i in enumerate(rows):
                o = owners[r]
                out[i] = np.stack([h[r, :len(o)][o == k].sum(0, dtype=np.float64) for k in range(len(ids[i]))])
        return out


def locomo_spans(path: str, budget: int, count_pieces: Callable[[list[str]], list[int]]) -> list[list[str]]:
    """Every LoCoMo session cut as onepass cuts it (rendered turns), multi-turn spans only."""
    spans = []
    for conv in load_locomo(path).conversations:
        for session in conv.sessions:
            texts = [t.text for t in session.turns if t.body.strip()]
            counts = count_pieces(texts)
            spans += [texts[a:b] for a, b in cut_spans(counts, budget) if b - a > 1]
    return spans


def agreement(onnx: CausalOnnx, spans: list[list[str]]) -> dict[str, Any]:
    import onepass_causal  # the PyTorch probe (loads the model on import)

    def cosines(xs: list[np.ndarray], ys: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
                               for a, b in zip(xs, ys)])

    got = onnx.turn_sums(spans)
    cos = cosines(onepass_causal.causal_sums(spans), got)
    # The mask must matter: the same spans read two-way (the shipped graph) differ.
    two_way = cosines(OnnxEmbedder.turn_sums(onnx, spans), got)
    return {"spans": len(spans), "turns": int(len(cos)), "cosine_min": float(cos.min()),
            "cosine_mean": float(cos.mean()), "cosine_p01": float(np.quantile(cos, 0.01)),
            "two_way_vs_causal_cosine_median": float(np.median(two_way)),
            "two_way_vs_causal_cosine_min": float(two_way.min())}


def paraphrase(embedder: Any, config: Any) -> str:
    """The first recollection of tests/test_embedders.py's paraphrase check."""
    from memoryweave_core import MemoryWeave

    memory = MemoryWeave(embedder=embedder, config=config)
    memory.add_conversation([("Ana", "I finally adopted a kitten from the shelter, her name is Luna."),
                             ("Ben", "That's lovely! How is she settling in?"),
                             ("Ana", "She sleeps on my keyboard all day.")], episode="pets", time="2023-05-08")
    memory.add_conversation([("Ben", "My marathon training is going badly, my knee hurts."),
                             ("Ana", "Maybe see a physiotherapist before the race?")], episode="running", time="2023-06-01")
    return memory.recall("What pet does Ana have?", k=2)[0].text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "locomo10.json"))
    p.add_argument("--spans", type=int, default=300, help="multi-turn LoCoMo spans compared (a seeded sample)")
    p.add_argument("--conversation", type=int, default=0)
    p.add_argument("--turns", type=int, default=160)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out")
    args = p.parse_args(argv)
    load_at_start = os.getloadavg()
    model_dir = Path(default_model_path())
    onnx = CausalOnnx(model_dir)
    spans = locomo_spans(args.data, onnx.max_tokens, onnx.token_counts)
    sample = random.Random(0).sample(spans, min(args.spans, len(spans)))
    agree = agreement(onnx, sample)
    print(f"ONNX vs PyTorch block-causal sums, {agree['turns']} turns of {agree['spans']} spans: cosine min "
          f"{agree['cosine_min']:.7f}, 1st percentile {agree['cosine_p01']:.7f}, mean {agree['cosine_mean']:.7f}; "
          f"two-way vs block-causal (ONNX): median {agree['two_way_vs_causal_cosine_median']:.4f}, "
          f"min {agree['two_way_vs_causal_cosine_min']:.4f}")

    from memoryweave_core import RecallConfig

    two_way = OnnxEmbedder(model_dir)
    onepass = RecallConfig(context_mode="onepass")
    checks = {"model": (two_way, RecallConfig()), "onepass two-way": (two_way, onepass),
              "onepass two-way, context 0.25 semantic 0.75": (two_way, onepass.with_weights(context=0.25, semantic=0.75)),
              "onepass block-causal": (onnx, onepass),
              "onepass block-causal, context 0.25 semantic 0.75": (onnx, onepass.with_weights(context=0.25, semantic=0.75))}
    firsts = {name: paraphrase(emb, config) for name, (emb, config) in checks.items()}
    for name, text in firsts.items():
        print(f"paraphrase check, {name}: {'pass' if 'Luna' in text else 'FAIL'} ({text[:40]})")

    from sentence_transformers import SentenceTransformer

    sessions = sessions_of(args.data, args.conversation, args.turns)
    texts = [f"{s}: {t}" for turns in sessions for s, t in turns]
    model = SentenceTransformer(str(model_dir), device="cpu")
    jobs: dict[str, Callable[[], Any]] = {
        "torch encode": lambda: model.encode(texts, batch_size=32, show_progress_bar=False),
        "onnx encode": lambda: two_way.embed(texts),
        "onnx add_conversation onepass (two-way)": lambda: ingest(two_way, "onepass", sessions),
        "onnx add_conversation onepass (block-causal)": lambda: ingest(onnx, "onepass", sessions),
    }
    best = best_seconds(jobs, args.rounds)
    n = len(texts)
    rows = [{"row": k, "turns_per_s": n / s, "vs_torch_encode": best["torch encode"] / s} for k, s in best.items()]
    print(f"{n} turns, {len(sessions)} sessions, best of {args.rounds} rounds")
    print("| row | turns/s | vs torch encode |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['row']} | {r['turns_per_s']:.1f} | {r['vs_torch_encode']:.2f}x |")
    if args.out:
        result_file.write(args.out, {
            "agreement": agree, "paraphrase_first": firsts, "turns": n, "sessions": len(sessions), "rounds": args.rounds,
            "commit": result_file.commit(), "command": result_file.command("onnx_causal.py", argv),
            "machine": result_file.machine(load_average_at_start=load_at_start, load_average_at_end=os.getloadavg()),
            "rows": rows,
        })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
