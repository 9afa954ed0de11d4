"""Pre-fill the embedding cache with every text view the explorations use."""
import os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from memoryweave_core.eval.datasets import load_locomo, load_longmemeval
from memoryweave_core.eval.cache import EmbeddingCache
from memoryweave_core.embedders import default_embedder

def locomo_views(ds):
    texts = []
    for c in ds.conversations:
        turns = c.turns
        for i, t in enumerate(turns):
            texts.append(t.text)
            prev = turns[i - 1].text + " " if i > 0 and turns[i - 1].session_id == t.session_id else ""
            nxt = " " + turns[i + 1].text if i + 1 < len(turns) and turns[i + 1].session_id == t.session_id else ""
            texts.append(prev + t.text)
            texts.append(prev + t.text + nxt)
    return texts

def main(which):
    emb = default_embedder()
    cache = EmbeddingCache("all-MiniLM-L6-v2")
    if "locomo" in which:
        ds = load_locomo("/work/shared/data/locomo10.json")
        qs = [q.question for c in ds.conversations for q in c.questions]
        # all questions incl. cat 5
        cache.embed(qs, emb, progress=True)
        cache.embed([t.text for c in ds.conversations for t in c.turns], emb, progress=True)
        cache.embed(locomo_views(ds), emb, progress=True)
    if "lme" in which:
        ds = load_longmemeval("/work/shared/data/longmemeval_s_sample20.json")
        qs = [q.question for q in ds.questions]
        cache.embed(qs, emb, progress=True)
        texts = [t.text for c in ds.conversations for t in c.turns if t.speaker == "user"]
        cache.embed(texts, emb, progress=True)

if __name__ == "__main__":
    t = time.time(); main(sys.argv[1:] or ["locomo", "lme"]); print("done", time.time() - t)
