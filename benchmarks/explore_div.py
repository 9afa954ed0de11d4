import sys, time
import numpy as np
sys.path.insert(0, "benchmarks")
from explore_locomo import load_all, evaluate, fmt, zs
from explore_feats import feats, zfeats, linear

W = {'d': 1.65, 'd2': 0.5, 'd3': 1.5, 'b': 0.5, 'b3': 1, 'b5': 1.0, 'sess_b': 1.0, 'sess_d': 0.5, 'd_nbmean': -0.2,
     'd_top3sess': 0.25, 'b_top3sess': 0.5, 'spk': 1.7, 'd_prf': 0.75, 'd3_prf': -0.25}


def diversify(S, sess, lam, adj=0.0, depth=10, pool=50):
    """Greedy: each pick lowers the scores of turns in its session by lam (and adjacent turns by adj)."""
    out = np.full_like(S, -1e9)
    for qi in range(S.shape[0]):
        cand = list(np.argsort(-S[qi])[:pool])
        s = {j: S[qi, j] for j in cand}
        count = {}
        picked = []
        for r in range(depth):
            j = max(cand, key=lambda c: s[c] - lam * count.get(sess[c], 0))
            picked.append(j)
            cand.remove(j)
            count[sess[j]] = count.get(sess[j], 0) + 1
        for r, j in enumerate(picked):
            out[qi, j] = 1000 - r
        rest = np.argsort(-S[qi])
        for j in rest:
            if out[qi, j] < 0:
                out[qi, j] = S[qi, j]
    return out


if __name__ == "__main__":
    data = load_all()
    convs = [(cd, zfeats(feats(cd))) for cd in data]
    base = linear(W)
    print(fmt("fit", evaluate(convs, base)))
    for lam in (0.5, 1.0, 2.0, 4.0):
        print(fmt(f"div lam={lam}", evaluate(convs, lambda cd, F: diversify(base(cd, F), cd.sess, lam))))
