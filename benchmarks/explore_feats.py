"""Richer per-turn feature set + cross-validated linear fusion (exploration)."""
from __future__ import annotations

import sys
import time

import numpy as np

sys.path.insert(0, "benchmarks")
from explore_locomo import (BM25, evaluate, fmt, load_all, neighbour_max, neighbour_mean, norm_rows,  # noqa: E402
                            session_pool, zs)


def windows_tokens(tok, sess, before, after):
    n = len(tok)
    out = []
    for i in range(n):
        toks = list(tok[i])
        for j in range(1, before + 1):
            if i - j >= 0 and sess[i - j] == sess[i]:
                toks = tok[i - j] + toks
        for j in range(1, after + 1):
            if i + j < n and sess[i + j] == sess[i]:
                toks = toks + tok[i + j]
        out.append(toks)
    return out


def feats(cd, prf_k=5, prf_w=0.5):
    F = {}
    F["d"] = cd.Q @ cd.T.T
    F["d2"] = cd.Q @ cd.W2.T
    F["d3"] = cd.Q @ cd.W3.T
    def bs(docs):
        m = BM25(docs, k1=1.2, b=0.75, idf="lucene")
        return np.stack([m.scores(t) for t in cd.qtok])
    bm = BM25(cd.tok, k1=1.2, b=0.75, idf="lucene")
    F["b"] = np.stack([bm.scores(t) for t in cd.qtok])
    F["b_p"] = bs(windows_tokens(cd.tok, cd.sess, 1, 0))
    F["b_n"] = bs(windows_tokens(cd.tok, cd.sess, 0, 1))
    F["b3"] = bs(windows_tokens(cd.tok, cd.sess, 1, 1))
    F["b5"] = bs(windows_tokens(cd.tok, cd.sess, 2, 2))
    # session-document BM25
    sess_ids = np.unique(cd.sess)
    sdocs = [sum((cd.tok[i] for i in np.where(cd.sess == s)[0]), []) for s in sess_ids]
    sb = BM25(sdocs, k1=1.2, b=0.75, idf="lucene")
    SB = np.stack([sb.scores(t) for t in cd.qtok])
    F["sess_b"] = SB[:, cd.sess]
    # session-mean dense vector
    SV = norm_rows(np.stack([cd.T[cd.sess == s].mean(0) for s in sess_ids]))
    F["sess_d"] = (cd.Q @ SV.T)[:, cd.sess]
    F["d_nbmean"] = neighbour_mean(F["d"], cd.sess, False)
    F["d_top3sess"] = session_pool(F["d"], cd.sess, "top", 3)
    F["b_top3sess"] = session_pool(F["b"], cd.sess, "top", 3)
    names = [s.lower() for s in cd.speakers]
    spk = np.zeros_like(F["d"])
    import re as _re
    for qi, q in enumerate(cd.qs):
        raw = set(_re.findall(r"\w+", q.question.lower()))  # unstemmed: names must match as written
        for nm in names:
            if nm in raw:
                spk[qi] += np.array([s.lower() == nm for s in cd.speaker], float)
    F["spk"] = spk
    # dense PRF: Rocchio on the base fusion's top turns
    base = zs(F["d"]) + zs(F["d3"]) + zs(F["b"]) + zs(F["b3"])
    top = np.argsort(-base, 1)[:, :prf_k]
    cent = cd.T[top].mean(1)
    Qp = norm_rows(cd.Q + prf_w * cent)
    F["d_prf"] = Qp @ cd.T.T
    F["d3_prf"] = Qp @ cd.W3.T
    return F


NAMES = ["d", "d2", "d3", "b", "b_p", "b_n", "b3", "b5", "sess_b", "sess_d", "d_nbmean", "d_top3sess",
         "b_top3sess", "spk", "d_prf", "d3_prf"]


def zfeats(F):
    return {k: (F[k] if k == "spk" else zs(F[k])) for k in NAMES}


def linear(w):
    def fn(cd, F):
        return sum(w[k] * F[k] for k in w if w[k] != 0)
    return fn


def coord_ascent(convs, names, w0, metric="R@10", steps=(0.5, 0.25, 0.1), rounds=2):
    w = dict(w0)
    score = metric if callable(metric) else (lambda r: r[metric])
    best = score(evaluate(convs, linear(w)))
    for step in steps:
        for _ in range(rounds):
            improved = False
            for k in names:
                for delta in (step, -step):
                    w2 = dict(w)
                    w2[k] = w[k] + delta
                    s = score(evaluate(convs, linear(w2)))
                    if s > best + 1e-6:
                        best, w, improved = s, w2, True
            if not improved:
                break
    return w, best


if __name__ == "__main__":
    t0 = time.time()
    data = load_all()
    convs = [(cd, zfeats(feats(cd))) for cd in data]
    print("features", time.time() - t0)
    for k in NAMES:
        print(fmt(k, evaluate(convs, linear({k: 1.0}))))
    w0 = {k: 0.0 for k in NAMES}
    w0.update(d=1, d3=1, b=1, b3=1)
    print(fmt("base4", evaluate(convs, linear(w0))))
    if "fit" in sys.argv:
        w, best = coord_ascent(convs, NAMES, w0)
        print("in-sample fit", best, {k: round(v, 2) for k, v in w.items() if v})
        print(fmt("fit(in-sample)", evaluate(convs, linear(w))))
