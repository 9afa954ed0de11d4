"""Knowledge-update questions (LongMemEval, turn level): is the latest evidence turn ranked above the earlier ones?

Turn recall cannot tell (both the old and the new statement are evidence); this scores the order.
    PYTHONPATH=. .venv/bin/python benchmarks/freshness_ku.py LME.json [LME2.json ...]
"""
import sys

from memoryweave_core import RecallConfig
from memoryweave_core.eval import harness as H
from memoryweave_core.eval.cache import EmbeddingCache
from memoryweave_core.eval.datasets import load_longmemeval
from memoryweave_core.eval.systems import memoryweave_system

for path in sys.argv[1:]:
    ds = load_longmemeval(path)
    cache = EmbeddingCache(H.MODEL_NAME)
    tidx = H.build_turn_indexes(ds, cache, None, False)
    queries = H.build_queries(ds, cache, None, False)
    for w in (0.0, 0.5, 0.75, 1.0, 1.5, 2.0):
        sysf = memoryweave_system(RecallConfig().with_weights(freshness=w), name=f"f{w}")
        n = first = 0
        rr = 0.0
        for idx in tidx:
            q = idx.conversation.questions[0]
            if q.category != "knowledge-update" or len(set(q.evidence)) < 2:
                continue
            order = {t.id: (t.time or 0, j) for j, t in enumerate(idx.turns)}
            ev = [e for e in q.evidence if e in order]
            latest = max(ev, key=lambda e: order[e])
            ranked = list(sysf(idx, queries[q.id]))
            evr = [d for d in ranked if d in ev]
            n += 1
            first += bool(evr) and evr[0] == latest
            rr += 1.0 / (ranked.index(latest) + 1) if latest in ranked else 0.0
        print(path.split("/")[-1], "freshness", w, "KU questions with >=2 evidence turns:", n, "latest evidence ranked above earlier:", first, "MRR of latest:", round(rr / max(n, 1), 3), flush=True)
