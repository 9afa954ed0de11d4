"""Second-stage features: similarity spreading, PRF from the first-stage fusion, RM3 BM25, name mentions."""
from __future__ import annotations

import sys
import time

import numpy as np

sys.path.insert(0, "benchmarks")
from explore_feats import NAMES, coord_ascent, feats, linear, windows_tokens, zfeats  # noqa: E402
from explore_locomo import BM25, evaluate, fmt, load_all, norm_rows, zs  # noqa: E402

BASE4 = {"d": 1.0, "d3": 1.0, "b": 1.0, "b3": 1.0}


def stage2(cd, Z, stage1=BASE4, m=10, prf_k=5, n_exp=10, exp_w=0.5, theta=0.3):
    S1 = sum(w * Z[k] for k, w in stage1.items())
    top = np.argsort(-S1, 1)[:, :m]
    G = {}
    # similarity spreading: sum over top-m hits of max(0, cos - theta) weighted by 1/rank
    sims = np.einsum("qmd,nd->qmn", cd.T[top], cd.T)  # [nq, m, n]
    rw = 1.0 / np.arange(1, m + 1)
    G["spread"] = (np.maximum(sims - theta, 0) * rw[None, :, None]).sum(1)
    # window-level spreading (context vectors)
    sims3 = np.einsum("qmd,nd->qmn", cd.W3[top], cd.W3)
    G["spread3"] = (np.maximum(sims3 - theta, 0) * rw[None, :, None]).sum(1)
    # dense PRF from the stage-1 fusion
    cent = cd.T[top[:, :prf_k]].mean(1)
    Qp = norm_rows(cd.Q + 0.5 * cent)
    G["d_prf1"] = Qp @ cd.T.T
    G["d3_prf1"] = Qp @ cd.W3.T
    # RM3-style lexical expansion on the 3-turn windows
    w3 = windows_tokens(cd.tok, cd.sess, 1, 1)
    bm3 = BM25(w3, k1=1.2, b=0.75, idf="lucene")
    bm1 = BM25(cd.tok, k1=1.2, b=0.75, idf="lucene")
    V = len(bm3.vocab)
    exp1, exp3 = [], []
    for qi, toks in enumerate(cd.qtok):
        qv = bm3.query_vector(toks)
        fb = bm3.weights[top[qi, :prf_k]].sum(0)  # idf-weighted tf of feedback docs
        fb[qv > 0] = 0
        sel = np.argsort(-fb)[:n_exp]
        ev = np.zeros(V, np.float32)
        ev[sel] = fb[sel] / max(fb[sel].max(), 1e-9)
        exp3.append(bm3.weights @ (qv + exp_w * ev))
        # the same expansion terms on single turns
        inv = {j: t for t, j in bm3.vocab.items()}
        q1 = bm1.query_vector(toks + [])
        for j in sel:
            j1 = bm1.vocab.get(inv[j])
            if j1 is not None:
                q1[j1] += exp_w * ev[j]
        exp1.append(bm1.weights @ q1)
    G["b3_rm3"] = np.stack(exp3)
    G["b_rm3"] = np.stack(exp1)
    # turn mentions a speaker named in the question (spoken by someone else)
    names = [s.lower() for s in cd.speakers]
    men = np.zeros_like(S1)
    for qi, toks in enumerate(cd.qtok):
        qset = set(toks)
        for nm in names:
            if nm in qset:
                men[qi] += np.array([nm in set(t) and s.lower() != nm for t, s in zip(cd.tok, cd.speaker)], float)
    G["mention"] = men
    # extra views: turn text without the speaker prefix, question without speaker names
    from explore_embed2 import noname_view, raw_view
    from memoryweave_core.eval.cache import EmbeddingCache
    cache = EmbeddingCache("all-MiniLM-L6-v2")
    Traw = cache.embed([raw_view(t) for t in cd.turn_objs], None)
    Qnn = cache.embed([noname_view(q, cd.speakers) for q in cd.qs], None)
    G["d_raw"] = cd.Q @ Traw.T
    G["d_nn"] = Qnn @ cd.T.T
    G["d_nn_raw"] = Qnn @ Traw.T
    G["d_nn2"] = Qnn @ cd.W2.T
    G["d_nn3"] = Qnn @ cd.W3.T
    Qp = norm_rows(Qnn + 0.5 * cent)
    G["d_nn_prf"] = Qp @ cd.T.T
    return {k: (v if k == "mention" else zs(v)) for k, v in G.items()}


NAMES2 = ["d_raw", "d_nn", "d_nn_raw", "d_nn2", "d_nn3", "d_nn_prf", "spread", "spread3", "d_prf1", "d3_prf1", "b3_rm3", "b_rm3", "mention"]

if __name__ == "__main__":
    t0 = time.time()
    data = load_all()
    convs = []
    for cd in data:
        Z = zfeats(feats(cd))
        Z.update(stage2(cd, Z))
        convs.append((cd, Z))
    print("features", time.time() - t0)
    for k in NAMES2:
        print(fmt(k, evaluate(convs, linear({k: 1.0}))))
    W = {'d': 1.65, 'd2': 0.5, 'd3': 1.5, 'b': 0.5, 'b3': 1, 'b5': 1.0, 'sess_b': 1.0, 'sess_d': 0.5,
         'd_nbmean': -0.2, 'd_top3sess': 0.25, 'b_top3sess': 0.5, 'spk': 1.7, 'd_prf': 0.75, 'd3_prf': -0.25}
    print(fmt("fitW", evaluate(convs, linear(W))))
    for k in NAMES2:
        for w in (0.5, 1.0, 2.0):
            print(fmt(f"fitW + {w}*{k}", evaluate(convs, linear({**W, k: w}))))
