"""Fast recipe exploration on LoCoMo: per-turn feature matrices + numpy fusion.

Every feature is computed for every turn of a conversation (conversations are
~600 turns, so "all turns" is cheaper than candidate generation here), for
every question.  Recipes are functions of the feature dict; evaluation is
Recall@5/@10 of evidence turns per category.

    .venv/bin/python benchmarks/explore_locomo.py
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import numpy as np

from memoryweave_core.eval.baselines import BM25
from memoryweave_core.eval.cache import EmbeddingCache
from memoryweave_core.eval.datasets import load_locomo
from memoryweave_core.lexical import STOPWORDS
from memoryweave_core.lexical import tokenize as _lead_tokenize

_STEMMER = os.environ.get("STEMMER", "lead")


def lex_tokenize(text):
    """Tokenizer used by the explorations: STEMMER=lead (core's light stemmer), snowball, porter, none."""
    if _STEMMER == "lead":
        return _lead_tokenize(text)
    import re
    toks = [w for w in re.findall(r"\w+", text.lower()) if w not in STOPWORDS]
    if _STEMMER == "none":
        return toks
    from nltk.stem import PorterStemmer, SnowballStemmer
    st = SnowballStemmer("english") if _STEMMER == "snowball" else PorterStemmer()
    return [st.stem(w) for w in toks]

DATA = "/work/shared/data/locomo10.json"


def norm_rows(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-9)


@dataclass
class ConvData:
    cid: str
    ids: list
    sess: np.ndarray  # session index per turn
    pos_in_sess: np.ndarray
    speaker: list
    T: np.ndarray  # turn vectors
    W2: np.ndarray
    W3: np.ndarray
    tok: list  # stemmed tokens per turn
    tok3: list
    qs: list  # questions
    Q: np.ndarray
    qtok: list
    speakers: list
    turn_objs: list = None


def load_all(include_cat5=False):
    ds = load_locomo(DATA)
    cache = EmbeddingCache("all-MiniLM-L6-v2")
    out = []
    for c in ds.conversations:
        turns = c.turns
        n = len(turns)
        texts, w2, w3 = [], [], []
        sess_names = [t.session_id for t in turns]
        for i, t in enumerate(turns):
            prev = turns[i - 1].text + " " if i > 0 and sess_names[i - 1] == t.session_id else ""
            nxt = " " + turns[i + 1].text if i + 1 < n and sess_names[i + 1] == t.session_id else ""
            texts.append(t.text)
            w2.append(prev + t.text)
            w3.append(prev + t.text + nxt)
        T = cache.embed(texts, None)
        W2 = cache.embed(w2, None)
        W3 = cache.embed(w3, None)
        qs = [q for q in c.questions if include_cat5 or q.category != "5"]
        Q = cache.embed([q.question for q in qs], None)
        uniq = {s: i for i, s in enumerate(dict.fromkeys(sess_names))}
        sess = np.array([uniq[s] for s in sess_names])
        pis = np.zeros(n, int)
        for i in range(1, n):
            pis[i] = pis[i - 1] + 1 if sess[i] == sess[i - 1] else 0
        out.append(ConvData(c.id, [t.id for t in turns], sess, pis, [t.speaker for t in turns], T, W2, W3,
                            [lex_tokenize(x) for x in texts], [lex_tokenize(x) for x in w3], qs, Q,
                            [lex_tokenize(q.question) for q in qs], c.speakers, turns))
    return out


def zs(x, axis=-1):
    m = x.mean(axis, keepdims=True)
    s = x.std(axis, keepdims=True)
    return (x - m) / np.where(s > 0, s, 1)


def neighbour_mean(x, sess, include_self=True):
    """Mean of x over i-1, i(optional), i+1 within the same session. x: [nq, n]."""
    n = x.shape[-1]
    acc = x.copy() if include_self else np.zeros_like(x)
    cnt = np.ones(n) if include_self else np.zeros(n)
    same_prev = np.r_[False, sess[1:] == sess[:-1]]
    same_next = np.r_[sess[:-1] == sess[1:], False]
    acc[:, same_prev] += x[:, np.where(same_prev)[0] - 1]
    cnt[same_prev] += 1
    acc[:, same_next] += x[:, np.where(same_next)[0] + 1]
    cnt[same_next] += 1
    return acc / np.maximum(cnt, 1)


def neighbour_max(x, sess):
    n = x.shape[-1]
    out = np.full_like(x, -np.inf)
    same_prev = np.r_[False, sess[1:] == sess[:-1]]
    same_next = np.r_[sess[:-1] == sess[1:], False]
    out[:, same_prev] = np.maximum(out[:, same_prev], x[:, np.where(same_prev)[0] - 1])
    out[:, same_next] = np.maximum(out[:, same_next], x[:, np.where(same_next)[0] + 1])
    return np.where(np.isfinite(out), out, x)


def session_pool(x, sess, how="max", top=3):
    out = np.zeros_like(x)
    for s in np.unique(sess):
        m = sess == s
        xs = x[:, m]
        if how == "max":
            v = xs.max(1)
        elif how == "mean":
            v = xs.mean(1)
        else:  # mean of top
            t = min(top, xs.shape[1])
            v = np.sort(xs, 1)[:, -t:].mean(1)
        out[:, m] = v[:, None]
    return out


def compute_features(cd: ConvData, prf_k=5):
    F = {}
    F["d"] = cd.Q @ cd.T.T
    F["d2"] = cd.Q @ cd.W2.T
    F["d3"] = cd.Q @ cd.W3.T
    bm = BM25(cd.tok, k1=1.2, b=0.75, idf="lucene")
    bm3 = BM25(cd.tok3, k1=1.2, b=0.75, idf="lucene")
    F["b"] = np.stack([bm.scores(t) for t in cd.qtok])
    F["b3"] = np.stack([bm3.scores(t) for t in cd.qtok])
    # speaker mention: question names the turn's speaker
    names = [s.lower() for s in cd.speakers]
    spk = np.zeros_like(F["d"])
    other = np.zeros_like(F["d"])
    for qi, toks in enumerate(cd.qtok):
        qset = set(toks)
        for nm in names:
            if nm in qset:
                spk[qi] += np.array([s.lower() == nm for s in cd.speaker], float)
    F["spk"] = spk
    return F


def evaluate(convs, score_fn, ks=(5, 10), cats=("1", "2", "3", "4")):
    res = {c: {k: [] for k in ks} for c in cats}
    for cd, F in convs:
        S = score_fn(cd, F)
        order = np.argsort(-S, axis=1, kind="stable")[:, : max(ks)]
        for qi, q in enumerate(cd.qs):
            if q.category not in cats:
                continue
            ev = set(q.evidence)
            top = [cd.ids[j] for j in order[qi]]
            for k in ks:
                res[q.category][k].append(len(ev.intersection(top[:k])) / len(ev))
    out = {}
    for k in ks:
        allv = [v for c in cats for v in res[c][k]]
        out[f"R@{k}"] = np.mean(allv)
        for c in cats:
            out[f"c{c}@{k}"] = np.mean(res[c][k])
    return out


def fmt(name, r):
    keys = ["R@5", "R@10", "c1@10", "c2@10", "c3@10", "c4@10"]
    return f"{name:40s} " + " ".join(f"{k}={r[k]:.3f}" for k in keys)


if __name__ == "__main__":
    t0 = time.time()
    data = load_all()
    convs = [(cd, compute_features(cd)) for cd in data]
    print("loaded", time.time() - t0)
    Z = lambda F, k: zs(F[k])  # noqa
    recipes = {
        "dense": lambda cd, F: F["d"],
        "bm25-stem": lambda cd, F: F["b"],
        "d3": lambda cd, F: F["d3"],
        "b3": lambda cd, F: F["b3"],
        "z(d)+z(b)": lambda cd, F: zs(F["d"]) + zs(F["b"]),
        "z(d)+z(d3)+z(b)+z(b3)": lambda cd, F: zs(F["d"]) + zs(F["d3"]) + zs(F["b"]) + zs(F["b3"]),
        "+nbmean": lambda cd, F: (lambda s: s + 0.5 * neighbour_mean(s, cd.sess, False))(
            zs(F["d"]) + zs(F["d3"]) + zs(F["b"]) + zs(F["b3"])),
        "+spk": lambda cd, F: zs(F["d"]) + zs(F["d3"]) + zs(F["b"]) + zs(F["b3"]) + 0.5 * F["spk"],
        "+sess": lambda cd, F: (lambda s: s + 0.5 * zs(session_pool(s, cd.sess, "top")))(
            zs(F["d"]) + zs(F["d3"]) + zs(F["b"]) + zs(F["b3"])),
    }
    for name, fn in recipes.items():
        print(fmt(name, evaluate(convs, fn)))
