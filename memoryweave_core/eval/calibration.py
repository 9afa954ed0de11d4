"""Fitting and judging the relevance calibrator on LoCoMo, held out by conversation.

Two question sets:

* the real questions (categories 1-4): each candidate of the top ``DEPTH``
  is labelled evidence or not;
* *foreign* questions: every question asked against the memory of another
  conversation, its speakers' names mapped first to first and second to
  second (without the mapping the unknown names alone would give it away).
  Nothing there is evidence, so any trace returned is a false alarm.

:func:`cross_fit` fits the calibrator on the conversations of four folds
and predicts the fifth, so every figure here is held out; ``benchmarks/tune.py``
then fits the shipped coefficients on all ten.  The harness and tune.py both
call :func:`locomo_rows` and :func:`cross_fit`, so they report the same numbers.

The calibrator learns from the rows a prompt can see: each real question's
top ``top`` candidates (``FIT_TOPS``, chosen by held-out log-loss), not all
``DEPTH``, whose deep rows are easy negatives that would dominate the fit.
LongMemEval turn-level rows (:func:`lme_rows`: each question asked of its
own haystack and of the next one) can join the fit, weighing together
``lme_weight`` of LoCoMo's rows, so that relevance holds on long turns too;
the answerable gate learns from the same questions and their foreign copies,
with the same weight, reading relevance held out as a new memory's would be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..answerable import BASE_SIGNALS, GATE_SIGNALS, Gate, Terms, base_signals, relevance_signals
from ..config import RecallConfig
from ..relevance import Calibrator, fit_logistic, signals
from ..retrieval import fuse
from . import metrics as M
from .datasets import Dataset

#: Candidates per question kept as rows (the harness's recall depth; packing reads them all).
DEPTH = 50
#: What a prompt sees: relevance is judged on the top 10.
TOP = 10
CATEGORIES = ("1", "2", "3", "4")
#: Thresholds of the abstention curve (finer below 0.1, where the choices lie).
THRESHOLDS = tuple(sorted({round(float(t), 5) for t in (*np.arange(0.0, 0.1, 0.00125), *np.arange(0.1, 0.301, 0.01))}))
#: Answerable floors tried with them (:func:`gate_grid`).
GATE_FLOORS = tuple(round(t, 3) for t in np.arange(0.0, 0.601, 0.025))
#: Ridge penalty of the logistic fit (standardised columns).
L2 = 1.0
#: How many of each question's best candidates the calibrator may be fitted
#: on (``tune.py --relevance`` picks one by held-out log-loss), and the default.
FIT_TOPS = (10, 15, 20)
FIT_TOP = 15
#: The weight of all LongMemEval rows together, as a share of LoCoMo's.
LME_WEIGHT = 0.25


@dataclass
class Rows:
    """One question's top candidates: calibrator inputs and evidence labels, best first."""

    group: int  # the conversation whose memory answers (the fold unit)
    x: np.ndarray  # [n, len(SIGNALS)]
    y: np.ndarray  # [n] bool
    foreign: bool = False
    category: str = ""
    q: np.ndarray = field(default_factory=lambda: np.zeros(len(BASE_SIGNALS)))  # the gate's relevance-free input
    source: int = -1  # the conversation the question was written for (-1: ``group``)
    dataset: str = "locomo"

    def touches(self, fold: int, folds: int) -> bool:
        """Whether the question or the memory it is asked of belongs to ``fold``."""
        return self.group % folds == fold or (self.source >= 0 and self.source % folds == fold)

    def gate_input(self, relevance: np.ndarray) -> np.ndarray:
        """The gate's whole input, given the relevance of these rows (best first)."""
        return np.r_[self.q, relevance_signals(relevance[:TOP])]


def map_names(text: str, source: Sequence[str], target: Sequence[str]) -> str:
    """``text`` with each ``source`` speaker's name replaced by the ``target`` at the same place."""
    table = {s: t for s, t in zip(source, target) if s and t}
    if not table:
        return text
    pattern = re.compile(r"\b(" + "|".join(re.escape(s) for s in sorted(table, key=len, reverse=True)) + r")\b")
    return pattern.sub(lambda m: table[m.group(1)], text)


def question_rows(memory: Any, text: str, at: Any, evidence: set[str], doc_of: dict[str, str],
                  namespace: str = "default", depth: int = DEPTH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrator inputs and labels of the top ``depth`` candidates, ranked
    exactly as recall ranks them, and the gate's relevance-free input."""
    table = memory.features(text, namespace=namespace, at=at)
    if not len(table.ids):
        return np.zeros((0, 0)), np.zeros(0, bool), np.zeros(len(BASE_SIGNALS))
    score, _ = fuse(table.raw, memory.config.weights, table.lengths)
    terms = table.terms or Terms.empty(len(score))
    x = signals(table.raw, score, table.unseen, terms)
    q = base_signals(terms, table.raw, score)
    order = np.argsort(-score, kind="stable")[:depth]
    return x[order], np.array([doc_of.get(table.ids[i]) in evidence for i in order]), q


def build_memories(ds: Dataset, cache: Any, embedder: Any,
                   config: RecallConfig | None = None) -> list[tuple[Any, dict[str, str]]]:
    """One memory per conversation (cached vectors; ``config``, default the
    shipped one), and trace id -> turn id."""
    from ..memory import MemoryWeave
    from .systems import given_vectors

    config = config or RecallConfig()
    out = []
    for conv in ds.conversations:
        turns = [t for t in conv.turns if t.body.strip()]
        memory = MemoryWeave(embedder=embedder, config=config)
        memory.add_many(
            [{"text": t.body, "speaker": t.speaker, "episode": t.session_id, "time": t.time,
              "metadata": {"doc_id": t.id}} for t in turns],
            embeddings=given_vectors(config, cache.embed([t.text for t in turns], None)),
        )
        out.append((memory, {t.id: t.metadata["doc_id"] for t in memory.traces()}))
    return out


def cached_locomo_rows(path: str, config: RecallConfig | None = None) -> list[Rows]:
    """:func:`locomo_rows` of a LoCoMo file, every memory built from cached
    vectors: what ``tune.py --relevance`` fits and the abstention studies read."""
    from .cache import EmbeddingCache
    from .datasets import load_locomo
    from .systems import MODEL_NAME, CachedEmbedder

    ds = load_locomo(path)
    cache = EmbeddingCache(MODEL_NAME)
    return locomo_rows(ds, build_memories(ds, cache, CachedEmbedder(cache), config))


def locomo_rows(ds: Dataset, memories: list[tuple[Any, dict[str, str]]], namespace: str = "default") -> list[Rows]:
    """Rows of every real question (categories 1-4) and of its foreign copy,
    asked against the next conversation's memory (at that conversation's own
    question time)."""
    rows: list[Rows] = []
    n = len(ds.conversations)
    for ci, conv in enumerate(ds.conversations):
        memory, doc_of = memories[ci]
        for q in conv.questions:
            if q.category in CATEGORIES:
                x, y, g = question_rows(memory, q.question, q.time, set(q.evidence), doc_of, namespace)
                rows.append(Rows(ci, x, y, False, q.category, g, ci))
        if n < 2:
            continue
        host = (ci + 1) % n
        other = ds.conversations[host]
        at = next((q.time for q in other.questions if q.time is not None), None)
        for q in conv.questions:
            if q.category in CATEGORIES:
                text = map_names(q.question, conv.speakers, other.speakers)
                x, y, g = question_rows(memories[host][0], text, at, set(), memories[host][1], namespace)
                rows.append(Rows(host, x, y, True, q.category, g, ci))
    return rows


def lme_rows(path: str, cache_dir: str | None, name: str, config: RecallConfig | None = None) -> list[Rows]:
    """LongMemEval turn-level rows of every question with evidence, asked of
    its own haystack and (foreign) of the next one at that one's question
    time; ``group`` is the haystack asked, ``dataset`` is ``name``."""
    from ..memory import MemoryWeave
    from .cache import EmbeddingCache
    from .harness import tuning_indexes, tuning_questions
    from .systems import MODEL_NAME, CachedEmbedder, _items_for, given_vectors

    config = config or RecallConfig()
    indexes, queries = tuning_indexes("longmemeval", path, cache_dir)
    embedder = CachedEmbedder(EmbeddingCache(MODEL_NAME, cache_dir))
    memories = []
    for idx in indexes:
        items, vecs = _items_for(idx)
        memory = MemoryWeave(embedder=embedder, config=config)
        memory.add_many(items, embeddings=given_vectors(config, vecs), namespace="eval")
        memories.append((memory, {t.id: t.metadata["doc_id"] for t in memory.traces(namespace="eval")}, idx))
    rows, n = [], len(memories)
    for g, (memory, doc_of, idx) in enumerate(memories):
        host, host_doc, host_idx = memories[(g + 1) % n]
        host_at = next((queries[q.id].time for q in host_idx.conversation.questions), None)
        for q in tuning_questions("longmemeval", idx):
            query = queries[q.id]
            x, y, gq = question_rows(memory, query.text, query.time, set(q.evidence), doc_of, "eval")
            rows.append(Rows(g, x, y, False, q.category, gq, g, name))
            x, y, gq = question_rows(host, query.text, host_at, set(), host_doc, "eval")
            rows.append(Rows((g + 1) % n, x, y, True, q.category, gq, g, name))
    return [r for r in rows if len(r.y)]


def fit_rows(rows: Sequence[Rows], *, top: int = FIT_TOP, lme_weight: float = LME_WEIGHT,
             foreign_weight: float = 0.0, l2: float = L2) -> Calibrator:
    """Fit on the real questions' top ``top`` candidates (and, with a weight,
    the foreign ones'); rows of other datasets than LoCoMo weigh together
    ``lme_weight`` of LoCoMo's (0: left out)."""
    use = [r for r in rows if len(r.y) and (not r.foreign or foreign_weight > 0)
           and (r.dataset == "locomo" or lme_weight > 0)]
    x = np.concatenate([r.x[:top] for r in use])
    y = np.concatenate([r.y[:top] for r in use]).astype(float)
    w = np.concatenate([np.full(len(r.y[:top]), foreign_weight if r.foreign else 1.0) for r in use])
    other = np.concatenate([np.full(len(r.y[:top]), r.dataset != "locomo") for r in use])
    if other.any() and (~other).any():
        w[other] *= lme_weight * w[~other].sum() / w[other].sum()
    return fit_logistic(x, y, l2=l2, sample_weight=w)


def fit_gate(rows: Sequence[Rows], relevance: Sequence[np.ndarray], *, lme_weight: float = LME_WEIGHT,
             l2: float = L2) -> Gate:
    """Fit the answerable gate: real questions (positive) against foreign ones
    (negative), each read with its ``relevance``; rows of other datasets than
    LoCoMo weigh together ``lme_weight`` of LoCoMo's (0: left out)."""
    use = [(r, p) for r, p in zip(rows, relevance) if len(r.y) and (r.dataset == "locomo" or lme_weight > 0)]
    other = np.array([r.dataset != "locomo" for r, _ in use])
    w = np.ones(len(use))
    if other.any() and (~other).any():
        w[other] = lme_weight * (~other).sum() / other.sum()
    return fit_logistic(np.stack([r.gate_input(p) for r, p in use]),
                        np.array([0.0 if r.foreign else 1.0 for r, _ in use]), l2=l2, sample_weight=w, kind=Gate)


def cross_fit(rows: Sequence[Rows], folds: int = 5, **kw: Any) -> tuple[list[np.ndarray], np.ndarray]:
    """Held-out relevance of every row and held-out answerable of every
    question: folds of conversations (``group`` ``i`` is in fold ``i %
    folds``), each predicted by a calibrator and a gate fitted on the
    questions that touch no conversation of that fold (neither the memory
    asked nor the conversation the question was written for).  The gate's
    training rows read relevance held out too: each from a calibrator that
    saw neither the predicted fold nor the row's own."""
    gate_kw = {k: v for k, v in kw.items() if k == "lme_weight"}
    out: list[np.ndarray] = [np.zeros(0)] * len(rows)
    gate = np.zeros(len(rows))
    for f in range(folds):
        train = [i for i, r in enumerate(rows) if not r.touches(f, folds)]
        inner: dict[int, np.ndarray] = {}
        for f2 in range(folds):
            if f2 == f:
                continue
            cal = fit_rows([r for r in rows if not r.touches(f, folds) and not r.touches(f2, folds)], **kw)
            inner.update({i: cal.predict(rows[i].x) for i in train if rows[i].group % folds == f2 and len(rows[i].y)})
        use = [i for i in train if i in inner]
        g = fit_gate([rows[i] for i in use], [inner[i] for i in use], **gate_kw)
        cal = fit_rows([rows[i] for i in train], **kw)
        for i, r in enumerate(rows):
            if r.group % folds == f and len(r.y):
                out[i] = cal.predict(r.x)
                gate[i] = float(g.predict(r.gate_input(out[i])[None, :])[0])
    return out, gate


def gated(probs: Sequence[np.ndarray], gate: np.ndarray, floor: float) -> list[np.ndarray]:
    """Relevance as a recall with a threshold sees it: all zero where the gate is below ``floor``."""
    return [p if a >= floor else np.zeros_like(p) for p, a in zip(probs, gate)]


def judge(rows: Sequence[Rows], probs: Sequence[np.ndarray], threshold: float,
          thresholds: Sequence[float] = THRESHOLDS, gate: np.ndarray | None = None,
          floor: float = 0.0) -> dict[str, Any]:
    """ECE and Brier over the real questions' top 10, and the abstention
    curve with the answerable gate at ``floor`` (the curve's thresholds are
    the relevance's).  ECE and Brier are also given for the evidence
    probability relevance x answerable over the real and foreign questions
    together."""
    kept = probs if gate is None else gated(probs, gate, floor)
    real = [(p[:TOP], r.y[:TOP]) for r, p in zip(rows, probs) if not r.foreign]
    p = np.concatenate([a for a, _ in real]) if real else np.zeros(0)
    y = np.concatenate([b for _, b in real]) if real else np.zeros(0)
    curve = M.abstention_curve([(p[:TOP], r.y[:TOP]) for r, p in zip(rows, kept) if not r.foreign],
                               [p[:TOP] for r, p in zip(rows, kept) if r.foreign], sorted(set(thresholds) | {threshold}))
    at = next(c for c in curve if c["threshold"] == threshold)
    out = {
        "relevance": {"ece": M.ece(p, y), "brier": M.brier(p, y), "n_traces": int(len(y)),
                      "evidence_rate": float(y.mean()) if len(y) else 0.0, "on": "top 10 of each question"},
        "abstention": {**at, "answerable_floor": floor, "n_questions": len(real),
                       "n_foreign": sum(1 for r in rows if r.foreign),
                       "curve": curve},
    }
    if gate is not None:
        both = [(pr[:TOP] * a, r.y[:TOP]) for r, pr, a in zip(rows, probs, gate) if len(r.y)]
        pj = np.concatenate([a for a, _ in both])
        yj = np.concatenate([b for _, b in both])
        out["relevance"]["evidence_probability"] = {
            "ece": M.ece(pj, yj), "brier": M.brier(pj, yj), "n_traces": int(len(yj)),
            "on": "relevance x answerable, top 10 of every real and foreign question"}
        g_real = np.array([a for r, a in zip(rows, gate) if not r.foreign and len(r.y)])
        g_for = np.array([a for r, a in zip(rows, gate) if r.foreign and len(r.y)])
        out["answerable"] = {
            "floor": floor, "real_kept": float((g_real >= floor).mean()), "foreign_refused": float((g_for < floor).mean()),
            "foreign_refused_at_real_kept_0.9": float((g_for < np.quantile(g_real, 0.1)).mean()),
            "ece": M.ece(np.concatenate([g_real, g_for]), np.r_[np.ones(len(g_real)), np.zeros(len(g_for))]),
            "signals": list(GATE_SIGNALS)}
    return out


def gate_grid(rows: Sequence[Rows], probs: Sequence[np.ndarray], gate: np.ndarray,
              floors: Sequence[float] = GATE_FLOORS, thresholds: Sequence[float] = THRESHOLDS) -> list[dict[str, float]]:
    """Every (gate floor, relevance threshold) pair: evidence kept, non-evidence dropped, foreign empty."""
    grid = []
    for g in floors:
        for c in judge(rows, probs, 0.0, thresholds, gate, g)["abstention"]["curve"]:
            grid.append({"answerable_floor": float(g), **c})
    return grid


#: The three abstention measures, each better higher.
MEASURES = ("evidence_kept", "nonevidence_dropped", "foreign_empty")


def choose(grid: Sequence[dict[str, float]], keep: float = 0.9,
           over: dict[str, float] | None = None) -> dict[str, float]:
    """The point of ``grid`` that keeps ``keep`` of the top-10 evidence and
    comes closest to issue 18's other two targets (half the non-evidence
    dropped, 70% of foreign questions empty): the least summed shortfall.

    With ``over`` (the held-out figures of the pair in use) and no point
    meeting every target, only points at least as good as ``over`` on all
    three measures count, and the one that drops the most non-evidence wins:
    a refit may trade nothing away for a shortfall it cannot close.
    """
    ok = [c for c in grid if c["evidence_kept"] >= keep]

    def shortfall(c: dict[str, float]) -> float:
        return max(0.0, 0.5 - c["nonevidence_dropped"]) + max(0.0, 0.7 - c["foreign_empty"])

    if over is not None and not any(shortfall(c) == 0 for c in ok):
        better = [c for c in ok if all(c[m] >= over[m] for m in MEASURES)]
        if better:
            return max(better, key=lambda c: (round(c["nonevidence_dropped"], 6), c["foreign_empty"], c["evidence_kept"]))
    return min(ok, key=lambda c: (round(shortfall(c), 6), -c["evidence_kept"])) if ok else grid[0]


def choose_threshold(curve: Sequence[dict[str, float]], keep: float = 0.9) -> float:
    """The highest threshold that still keeps ``keep`` of the top-10 evidence."""
    ok = [c["threshold"] for c in curve if c["evidence_kept"] >= keep]
    return max(ok) if ok else 0.0
