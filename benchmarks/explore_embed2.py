"""Embed extra views: turn text without speaker prefix, questions without speaker names."""
import os
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import re
from memoryweave_core.eval.datasets import load_locomo
from memoryweave_core.eval.cache import EmbeddingCache
from memoryweave_core.embedders import default_embedder


def raw_view(t):
    return t.text.split(": ", 1)[1] if ": " in t.text else t.text


def noname_view(q, speakers):
    s = q.question
    for nm in speakers:
        s = re.sub(r"\b" + re.escape(nm) + r"('s)?\b", "", s, flags=re.I)
    return re.sub(r"\s+", " ", s).strip() or q.question


if __name__ == "__main__":
    ds = load_locomo("/work/shared/data/locomo10.json")
    cache = EmbeddingCache("all-MiniLM-L6-v2")
    emb = default_embedder()
    cache.embed([noname_view(q, c.speakers) for c in ds.conversations for q in c.questions], emb, progress=True)
    cache.embed([raw_view(t) for c in ds.conversations for t in c.turns], emb, progress=True)
