"""Run several retrieval systems over one benchmark on the same embeddings.

The systems (baselines and MemoryWeave) live in :mod:`.systems`.
``run_locomo`` scores turn-level evidence (Recall@k, NDCG@k, recall within a
prompt budget), overall over categories 1-4 and per category (5,
adversarial, separately).  ``run_longmemeval`` follows the official protocol
at session level (sessions keyed by their user turns; recall_any/all@k,
ndcg_any@k) and adds turn-level recall from ``has_answer``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import numpy as np

from . import metrics as M
from .cache import EmbeddingCache
from .datasets import Dataset, Question
from .systems import MODEL_NAME, DocIndex, Query, System

# ----------------------------------------------------------------------------- running

_T = TypeVar("_T")


def _progress(iterable: Iterable[_T], total: int, desc: str, enabled: bool) -> Iterable[_T]:
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit="q")


def _embedder_or_none(embedder: Any) -> Any:
    if embedder is not None:
        return embedder

    class _Lazy:
        _e = None

        def embed(self, texts: Sequence[str]) -> np.ndarray:
            if self._e is None:
                from memoryweave_core.embedders import default_embedder

                self._e = default_embedder()
            return self._e.embed(texts)

    return _Lazy()


def build_turn_indexes(ds: Dataset, cache: EmbeddingCache, embedder: Any, progress: bool) -> list[DocIndex]:
    """One index of every turn per conversation, the assistant's too (LongMemEval's
    ``has_answer`` marks evidence turns, and its single-session-assistant
    questions ask about what the assistant said)."""
    all_texts = [t.text for c in ds.conversations for t in c.turns]
    vecs = cache.embed(all_texts, embedder, progress=progress)
    out, start = [], 0
    for c in ds.conversations:
        turns = c.turns
        out.append(DocIndex(conversation=c, ids=[t.id for t in turns], texts=[t.text for t in turns],
                            vectors=vecs[start : start + len(turns)], level="turn", turns=turns))
        start += len(turns)
    return out


def build_queries(ds: Dataset, cache: EmbeddingCache, embedder: Any, progress: bool) -> dict[str, Query]:
    qs = ds.questions
    vecs = cache.embed([q.question for q in qs], embedder, progress=progress)
    return {q.id: Query(question=q, text=q.question, vector=vecs[i], time=q.time) for i, q in enumerate(qs)}


def tuning_indexes(name: str, path: str, cache_dir: str | None = None) -> tuple[list[DocIndex], dict[str, Query]]:
    """A benchmark file's turn-level indexes (every turn, the assistant's too)
    and its queries, from cached vectors (``cache_dir``: the default cache if
    None): what the tuning scripts score."""
    from .datasets import load

    ds = load(name, path)
    cache = EmbeddingCache(MODEL_NAME, cache_dir)
    return build_turn_indexes(ds, cache, None, False), build_queries(ds, cache, None, False)


def tuning_questions(name: str, index: DocIndex) -> list[Question]:
    """The questions of one index that the tuning scripts score: those with
    evidence turns, and on LoCoMo only the headline categories 1-4."""
    return [q for q in index.conversation.questions
            if q.evidence and (name != "locomo" or q.category in ("1", "2", "3", "4"))]


def _summarise(rows: list[dict[str, float]], cats: list[str], headline: Callable[[str], bool]) -> dict[str, Any]:
    head = [r for r, c in zip(rows, cats) if headline(c)]
    out: dict[str, Any] = dict(M.aggregate(head))
    out["n"] = len(head)
    per: dict[str, Any] = {}
    for cat in sorted(set(cats), key=lambda x: (len(x), x)):
        sub = [r for r, c in zip(rows, cats) if c == cat]
        per[cat] = dict(M.aggregate(sub), n=len(sub))
    out["per_category"] = per
    return out


def run_locomo(ds: Dataset, systems: Mapping[str, System], *, ks: Sequence[int] = (5, 10), embedder: Any = None,
               cache: EmbeddingCache | None = None, progress: bool = True,
               headline_categories: Sequence[str] = ("1", "2", "3", "4")) -> dict[str, Any]:
    cache = cache or EmbeddingCache(MODEL_NAME)
    embedder = _embedder_or_none(embedder)
    indexes = build_turn_indexes(ds, cache, embedder, progress)
    queries = build_queries(ds, cache, embedder, progress)
    ks = sorted(set(ks) | {10})
    result: dict[str, Any] = {"dataset": "locomo", "n_questions": 0, "stats": ds.stats, "systems": {},
                              "budget": BUDGET_NOTE}
    n_q = sum(len(c.questions) for c in ds.conversations)
    lengths = {id(idx): _lengths(idx) for idx in indexes}
    for name, system in systems.items():
        rows, cats = [], []
        t0 = time.perf_counter()
        pairs = [(idx, q) for idx in indexes for q in idx.conversation.questions]
        for idx, q in _progress(pairs, n_q, name, progress):
            ranked = list(system(idx, queries[q.id]))
            row = {}
            for k in ks:
                row[f"recall@{k}"] = M.recall_at_k(ranked, q.evidence, k)
            row["ndcg@10"] = M.ndcg_at_k(ranked, q.evidence, 10)
            row.update(_budget_row(system, idx, queries[q.id], ranked, q.evidence, lengths[id(idx)]))
            rows.append(row)
            cats.append(q.category)
        summary = _summarise(rows, cats, lambda c: c in headline_categories)
        summary["seconds_per_question"] = (time.perf_counter() - t0) / max(len(rows), 1)
        result["systems"][name] = summary
        result["n_questions"] = summary["n"]
    if "memoryweave" in systems and len(indexes) > 1:
        result["systems"]["memoryweave"].update(_locomo_relevance(ds, indexes))
    return result


def _locomo_relevance(ds: Dataset, indexes: list[DocIndex]) -> dict[str, Any]:
    """Relevance and abstention of the shipped defaults, held out by
    conversation (calibration.py): the calibrator and the answerable gate are
    refitted without the conversations they predict, the threshold and the
    gate's floor are the shipped ones."""
    from ..answerable import ANSWERABLE_FLOOR
    from ..relevance import PROMPT_MIN_RELEVANCE
    from . import calibration

    memories = []
    for idx in indexes:
        mw = idx._cache.get("mw:memoryweave")
        if mw is None:
            return {}
        memories.append((mw, {t.id: t.metadata["doc_id"] for t in mw.traces("eval")}))
    rows = calibration.locomo_rows(ds, memories, namespace="eval")
    held, gate = calibration.cross_fit(rows)
    out = calibration.judge(rows, held, PROMPT_MIN_RELEVANCE, gate=gate, floor=ANSWERABLE_FLOOR)
    out["relevance"]["fitted_on"] = (f"each fold's LoCoMo questions alone, their top {calibration.FIT_TOP} "
                                     "(tune.py --relevance adds LongMemEval turns: benchmarks/results/relevance.json)")
    return out


#: How the budget metrics count (written into the result JSON).
BUDGET_NOTE = {"budgets": [256, 512, 1024], "unit": "whitespace words of the returned text, speaker prefix included",
               "fill": "budget_recall@B: what the system's prompt packing puts into B words. Baselines: first fit "
                       "down the ranking (an item that does not fit is skipped, the next is tried). MemoryWeave: "
                       "memoryweave_core.prompt.select_for_prompt (the selection its prompt adapters use) with "
                       "budget_tokens=B over its top 50: relevance per word, facts before filler, near-duplicates in one slot. "
                       "rank_fill_recall@B: every system in rank order, the first item that does not fit ends the "
                       "prompt (the rule of the earlier figures)"}
BUDGETS = (256, 512, 1024)


def _lengths(index: DocIndex) -> dict[str, int]:
    return {i: M.whitespace_tokens(t) for i, t in zip(index.ids, index.texts)}


def _budget_row(system: System, index: DocIndex, query: Query, ranked: Sequence[str], evidence: Sequence[str],
                lengths: Mapping[Any, int]) -> dict[str, float]:
    """Evidence recall of what the system puts into a prompt of each budget
    (its own ``packed`` when it has one, else first fit down its ranking),
    and of the strict rank-order fill."""
    packer = getattr(system, "packed", None)
    chosen = packer(index, query, BUDGETS, lengths) if packer is not None else {}
    row = {}
    for b in BUDGETS:
        ids = chosen[b] if packer is not None else M.first_fit(ranked, lengths, b)
        if sum(lengths[d] for d in ids) > b:
            raise AssertionError(f"a prompt packed for {b} words holds {sum(lengths[d] for d in ids)}")
        row[f"budget_recall@{b}"] = M.recall_at_k(ids, evidence, len(ids))
        row[f"rank_fill_recall@{b}"] = M.budget_recall(ranked, evidence, lengths, b)
    return row


def build_session_indexes(ds: Dataset, cache: EmbeddingCache, embedder: Any, progress: bool) -> list[DocIndex]:
    """Session-level indexes, keyed by the concatenated user turns (official protocol)."""
    keys = []
    for c in ds.conversations:
        for s in c.sessions:
            users = [t for t in s.turns if t.speaker == "user"]
            keys.append(" ".join(t.raw_text for t in users) or " ")
    key_vecs = cache.embed(keys, embedder, progress=progress)
    out, ks = [], 0
    for c in ds.conversations:
        n = len(c.sessions)
        idx = DocIndex(conversation=c, ids=[s.id for s in c.sessions], texts=keys[ks : ks + n],
                       vectors=key_vecs[ks : ks + n], level="session")
        out.append(idx)
        ks += n
    return out



def run_longmemeval(ds: Dataset, systems: Mapping[str, System], *, ks: Sequence[int] = (5, 10),
                    embedder: Any = None, cache: EmbeddingCache | None = None, progress: bool = True,
                    turn_level: bool = True) -> dict[str, Any]:
    """Session level by the official protocol (abstention questions left
    out); turn level over every turn, with the budget metrics.  Abstention
    (``_abs``) questions, when the dataset keeps them, are the "nothing
    relevant" set for MemoryWeave's relevance threshold."""
    cache = cache or EmbeddingCache(MODEL_NAME)
    embedder = _embedder_or_none(embedder)
    sess_idx = build_session_indexes(ds, cache, embedder, progress)
    turn_idx = build_turn_indexes(ds, cache, embedder, progress) if turn_level else None
    queries = build_queries(ds, cache, embedder, progress)
    n_abs = sum(q.abstention for q in ds.questions)
    result: dict[str, Any] = {"dataset": "longmemeval", "n_questions": len(ds.questions) - n_abs,
                              "n_abstention": n_abs, "stats": ds.stats, "systems": {},
                              "budget": {**BUDGET_NOTE, "level": "turn"}}
    lengths = [_lengths(idx) for idx in turn_idx] if turn_idx is not None else []
    for name, system in systems.items():
        rows, cats = [], []
        scored = getattr(system, "scored", None) if name == "memoryweave" and turn_idx is not None else None
        real: list[tuple[np.ndarray, np.ndarray]] = []
        foreign: list[np.ndarray] = []
        gates: tuple[list[float], list[float]] = ([], [])  # answerable of the real and the _abs questions
        t0 = time.perf_counter()
        for i, idx in enumerate(_progress(sess_idx, len(sess_idx), name, progress)):
            q = idx.conversation.questions[0]
            query = queries[q.id]
            if q.abstention:
                if scored is not None and turn_idx is not None:
                    foreign.append(np.array([p for _, p in scored(turn_idx[i], query)[:10]]))
                    gates[1].append(_answerable(system, turn_idx[i], query))
                continue
            ranked = list(system(idx, query))
            row = {}
            for k in ks:
                row[f"recall_any@{k}"] = M.recall_any_at_k(ranked, q.evidence_sessions, k)
                row[f"recall_all@{k}"] = M.recall_all_at_k(ranked, q.evidence_sessions, k)
                row[f"ndcg_any@{k}"] = M.ndcg_any_at_k(ranked, q.evidence_sessions, k)
            if turn_idx is not None and q.evidence:
                pairs = scored(turn_idx[i], query) if scored is not None else None
                tranked = [d for d, _ in pairs] if pairs is not None else list(system(turn_idx[i], query))
                for k in ks:
                    row[f"turn_recall_any@{k}"] = M.recall_any_at_k(tranked, q.evidence, k)
                    row[f"turn_recall_all@{k}"] = M.recall_all_at_k(tranked, q.evidence, k)
                    row[f"turn_recall@{k}"] = M.recall_at_k(tranked, q.evidence, k)
                row.update(_budget_row(system, turn_idx[i], query, tranked, q.evidence, lengths[i]))
                if pairs is not None:
                    ev = set(q.evidence)
                    real.append((np.array([p for _, p in pairs[:10]]), np.array([d in ev for d, _ in pairs[:10]])))
                    gates[0].append(_answerable(system, turn_idx[i], query))
            rows.append(row)
            cats.append(q.category)
        # turn-level keys can be missing for questions without has_answer turns: average what exists
        keys = sorted({k for r in rows for k in r})
        summary: dict[str, Any] = {k: M.mean(r[k] for r in rows if k in r) for k in keys}
        summary["n"] = len(rows)
        per: dict[str, Any] = {}
        for cat in sorted(set(cats)):
            sub = [r for r, c in zip(rows, cats) if c == cat]
            per[cat] = {k: M.mean(r[k] for r in sub if k in r) for k in keys if any(k in r for r in sub)}
            per[cat]["n"] = len(sub)
        summary["per_category"] = per
        summary["seconds_per_question"] = (time.perf_counter() - t0) / max(len(rows) + len(foreign), 1)
        if scored is not None and real:
            summary.update(_shipped_relevance(real, foreign, gates))
        result["systems"][name] = summary
    return result


def _answerable(system: System, idx: DocIndex, query: Query) -> float:
    """The answerable gate of MemoryWeave's latest recall for ``query`` (0.0 when it found nothing)."""
    recs = system.recollections(idx, query)  # type: ignore[attr-defined]
    return float(recs[0].answerable) if recs else 0.0


def _shipped_relevance(real: list[tuple[np.ndarray, np.ndarray]], foreign: list[np.ndarray],
                       gates: tuple[list[float], list[float]]) -> dict[str, Any]:
    """ECE, Brier and the abstention curve of the shipped calibrator and
    answerable gate at the turn level's top 10 (both were fitted with the
    sample's and the development set's questions, not their abstention
    questions: ``tune.py --relevance`` reports them held out); the foreign set
    is the abstention questions.  The curve applies the shipped gate floor,
    as recall does."""
    from ..answerable import ANSWERABLE_FLOOR
    from ..relevance import PROMPT_MIN_RELEVANCE
    from .calibration import THRESHOLDS

    p = np.concatenate([a for a, _ in real])
    y = np.concatenate([b for _, b in real])

    def gated(probs: np.ndarray, gate: float) -> np.ndarray:
        return probs if gate >= ANSWERABLE_FLOOR else np.zeros_like(probs)

    curve = M.abstention_curve([(gated(a, g), b) for (a, b), g in zip(real, gates[0])],
                               [gated(a, g) for a, g in zip(foreign, gates[1])],
                               sorted(set(THRESHOLDS) | {PROMPT_MIN_RELEVANCE}))
    at = next(c for c in curve if c["threshold"] == PROMPT_MIN_RELEVANCE)
    g_real, g_abs = np.array(gates[0]), np.array(gates[1])
    return {
        "relevance": {"ece": M.ece(p, y), "brier": M.brier(p, y), "n_traces": int(len(y)),
                      "evidence_rate": float(y.mean()), "on": "turn level, top 10 of each question"},
        "answerable": {"floor": ANSWERABLE_FLOOR, "real_kept": float((g_real >= ANSWERABLE_FLOOR).mean()),
                       "abs_refused": float((g_abs < ANSWERABLE_FLOOR).mean()) if len(g_abs) else None,
                       "real_mean": float(g_real.mean()), "abs_mean": float(g_abs.mean()) if len(g_abs) else None},
        "abstention": {**at, "answerable_floor": ANSWERABLE_FLOOR, "n_questions": len(real), "n_foreign": len(foreign),
                       "foreign_set": "LongMemEval _abs questions", "curve": curve},
    }


# ----------------------------------------------------------------------------- reporting


def format_table(result: Mapping[str, Any], metrics: Sequence[str] | None = None) -> str:
    systems = result["systems"]
    if not systems:
        return "(no systems)"
    first = next(iter(systems.values()))
    if metrics is None:
        metrics = [k for k in first if isinstance(first[k], float) and k != "seconds_per_question"]
    cats = list(first.get("per_category", {}))
    header = ["system"] + list(metrics) + [f"cat{c} {metrics[min(1, len(metrics) - 1)]}" for c in cats] + ["s/q"]
    lines = []
    for name, s in systems.items():
        cells = [name] + [f"{s.get(m, float('nan')):.3f}" for m in metrics]
        m2 = metrics[min(1, len(metrics) - 1)]
        cells += [f"{s['per_category'][c].get(m2, float('nan')):.3f}" for c in cats]
        cells.append(f"{s.get('seconds_per_question', 0):.4f}")
        lines.append(cells)
    widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in lines])


def write_json(result: Mapping[str, Any], path: str) -> None:
    with open(path, "w") as fh:
        json.dump(result, fh, indent=2, default=str)
