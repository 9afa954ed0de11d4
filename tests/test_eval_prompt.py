"""What reaches the prompt, measured: budget recall, calibration, the
abstention curve, foreign questions, and LongMemEval's assistant turns."""
import gzip
import json

import numpy as np
import pytest

from memoryweave_core.embedders import HashingEmbedder
from memoryweave_core.eval import metrics as M
from memoryweave_core.eval.cache import EmbeddingCache
from memoryweave_core.eval.calibration import Rows, choose, choose_threshold, fit_rows, map_names
from memoryweave_core.eval.datasets import load_longmemeval, merge
from memoryweave_core.eval.harness import run_longmemeval
from memoryweave_core.eval.systems import bm25_system
from memoryweave_core.relevance import SIGNALS


def test_budget_recall_fills_in_rank_order():
    lengths = {"a": 200, "b": 100, "c": 30, "d": 5}
    ranked = ["a", "b", "c", "d"]
    assert M.budget_recall(ranked, {"c"}, lengths, 256) == 0.0  # b no longer fits: the prompt ends there
    assert M.budget_recall(ranked, {"c"}, lengths, 330) == 1.0
    assert M.budget_recall(ranked, {"a", "d"}, lengths, 256) == 0.5
    assert M.budget_recall(["d", "a"], {"a", "d"}, lengths, 205) == 1.0
    assert M.budget_recall(ranked, set(), lengths, 256) == 0.0
    assert M.whitespace_tokens("Caroline: I  went\nhome") == 4


def test_ece_and_brier():
    assert M.ece([0.1] * 10, [True] + [False] * 9) == pytest.approx(0.0)
    assert M.ece([0.9, 0.9], [False, False]) == pytest.approx(0.9)
    # two bins: |0.5 - 0.25| and |0 - 0.05|, equally weighted
    assert M.ece([0.25, 0.25, 0.05, 0.05], [True, False, False, False]) == pytest.approx((0.25 + 0.05) / 2)
    assert M.brier([1.0, 0.0], [True, True]) == pytest.approx(0.5)


def test_abstention_curve_counts():
    real = [(np.array([0.9, 0.2, 0.05]), np.array([True, False, False])),
            (np.array([0.3, 0.1]), np.array([False, True]))]
    foreign = [np.array([0.15, 0.01]), np.array([0.04])]
    curve = M.abstention_curve(real, foreign, [0.0, 0.1, 0.2])
    assert curve[0] == {"threshold": 0.0, "evidence_kept": 1.0, "nonevidence_dropped": 0.0, "foreign_empty": 0.0}
    assert curve[1]["evidence_kept"] == 1.0 and curve[1]["nonevidence_dropped"] == pytest.approx(1 / 3)
    assert curve[1]["foreign_empty"] == 0.5
    assert curve[2]["evidence_kept"] == 0.5 and curve[2]["foreign_empty"] == 1.0
    assert choose_threshold(curve, keep=0.9) == 0.1


def test_choose_trades_nothing_away_when_no_pair_meets_the_targets():
    def pt(floor, kept, dropped, foreign):
        return {"answerable_floor": floor, "threshold": 0.0, "evidence_kept": kept,
                "nonevidence_dropped": dropped, "foreign_empty": foreign}
    grid = [pt(0.3, 0.91, 0.30, 0.69), pt(0.2, 0.90, 0.45, 0.65), pt(0.3, 0.91, 0.35, 0.69), pt(0.4, 0.85, 0.6, 0.8)]
    assert choose(grid) == grid[1]  # the least summed shortfall gives foreign questions away
    assert choose(grid, over=grid[0]) == grid[2]  # no worse than the pair in use on any measure
    met = grid + [pt(0.35, 0.90, 0.5, 0.7)]
    assert choose(met, over=grid[0]) == met[-1]  # a pair meeting every target wins outright


def test_calibrator_fits_the_top_rows_and_weighs_other_datasets():
    rng = np.random.default_rng(1)

    def rows(n: int, dataset: str) -> list[Rows]:
        out = []
        for g in range(n):
            x = rng.normal(size=(30, len(SIGNALS)))
            out.append(Rows(g, x, rng.random(30) < 1 / (1 + np.exp(-2 * x[:, 0])), dataset=dataset))
        return out

    loc, lme = rows(40, "locomo"), rows(10, "lme")
    base = fit_rows(loc, top=15)
    # rows below the top 15 do not count, whatever they hold
    junk = [Rows(r.group, np.r_[r.x[:15], rng.normal(size=(15, len(SIGNALS)))], np.r_[r.y[:15], np.ones(15, bool)])
            for r in loc]
    assert fit_rows(junk, top=15) == base
    # another dataset's rows count only with a weight, and then as that share of LoCoMo's
    assert fit_rows(loc + lme, top=15, lme_weight=0.0) == base
    assert fit_rows(loc + lme, top=15, lme_weight=0.25) != base


def test_foreign_questions_map_names_place_for_place():
    src, dst = ["Caroline", "Melanie"], ["Jon", "Gina"]
    assert map_names("Did Caroline meet Melanie's dog?", src, dst) == "Did Jon meet Gina's dog?"
    # a swap is one pass, not two chained replacements
    assert map_names("Caroline told Melanie", src, src[::-1]) == "Melanie told Caroline"
    assert map_names("Carolineville", src, dst) == "Carolineville"


def _lme_item(qid, qtype, sessions, evidence_sessions):
    return {"question_id": qid, "question_type": qtype, "question": "What did you recommend for my trip?",
            "question_date": "2023/05/30 (Tue) 23:38", "answer": "x", "answer_session_ids": evidence_sessions,
            "haystack_dates": ["2023/05/20 (Sat) 01:20"] * len(sessions),
            "haystack_session_ids": [f"{qid}-s{i}" for i in range(len(sessions))], "haystack_sessions": sessions}


def test_longmemeval_reads_gzip_scores_assistant_turns_and_keeps_abs_apart(tmp_path):
    sessions = [
        [{"role": "user", "content": "I am planning a trip to Kyoto."},
         {"role": "assistant", "content": "For your trip I recommend the Fushimi Inari shrine at dawn.",
          "has_answer": True}],
        [{"role": "user", "content": "My cat is called Miso."}, {"role": "assistant", "content": "Cute name!"}],
    ]
    plain = tmp_path / "a.json"
    plain.write_text(json.dumps([_lme_item("q1", "single-session-assistant", sessions, ["q1-s0"])]))
    packed = tmp_path / "b.json.gz"
    with gzip.open(packed, "wt") as fh:
        json.dump([_lme_item("q2_abs", "single-session-assistant", sessions, ["q2_abs-s0"])], fh)
    ds = merge([load_longmemeval(plain, skip_abstention=False), load_longmemeval(packed, skip_abstention=False)])
    assert [q.abstention for q in ds.questions] == [False, True]
    cache = EmbeddingCache("hashing-test", tmp_path / "cache")
    result = run_longmemeval(ds, {"bm25": bm25_system}, embedder=HashingEmbedder(dim=64), cache=cache, progress=False)
    s = result["systems"]["bm25"]
    assert result["n_questions"] == 1 and result["n_abstention"] == 1 and s["n"] == 1
    assert s["turn_recall@10"] == 1.0  # the assistant's turn is in the memory and found
    assert s["budget_recall@256"] == 1.0
    assert s["per_category"]["single-session-assistant"]["turn_recall@10"] == 1.0
    assert result["budget"]["unit"].startswith("whitespace words")


def test_first_fit_skips_what_does_not_fit_and_tries_the_next():
    lengths = {"a": 200, "b": 100, "c": 50}
    assert M.first_fit(["a", "b", "c"], lengths, 256) == ["a", "c"]
    assert M.budget_recall(["a", "b", "c"], {"c"}, lengths, 256) == 0.0  # the strict rule ends at b


def test_memoryweave_packs_its_prompt_within_the_budget_in_the_harness_unit(tmp_path, monkeypatch):
    from memoryweave_core.eval import systems
    from memoryweave_core.eval.harness import BUDGETS, _lengths, build_queries, build_turn_indexes

    emb = HashingEmbedder(dim=384)
    monkeypatch.setattr(systems, "CachedEmbedder", lambda: emb)  # no model: the same hashing vectors throughout

    long_answer = " ".join(["Here is a very long and general answer about travel planning."] * 23)  # 254 words with its prefix
    sessions = [
        [{"role": "user", "content": "I moved my Kyoto trip to the second week of April.", "has_answer": True},
         {"role": "assistant", "content": long_answer}],
        [{"role": "user", "content": "My cat is called Miso."}, {"role": "assistant", "content": long_answer + " Cats!"}],
    ]
    path = tmp_path / "a.json"
    path.write_text(json.dumps([_lme_item("q1", "knowledge-update", sessions, ["q1-s0"])]))
    ds = load_longmemeval(path)
    cache = EmbeddingCache("hashing-test", tmp_path / "cache")
    (idx,) = build_turn_indexes(ds, cache, emb, False)
    (query,) = build_queries(ds, cache, emb, False).values()
    lengths = _lengths(idx)
    packed = systems.memoryweave_system().packed(idx, query, BUDGETS, lengths)
    for b in BUDGETS:
        assert sum(lengths[d] for d in packed[b]) <= b
    assert "q1-s0:0" in packed[256]  # the short user turn, not a long answer that would fill the prompt alone


def test_gate_reads_relevance_and_weighs_other_datasets():
    from memoryweave_core.answerable import BASE_SIGNALS, CONFIDENT, GATE_SIGNALS
    from memoryweave_core.eval.calibration import fit_gate

    rng = np.random.default_rng(2)

    def rows(n: int, dataset: str) -> list[Rows]:
        return [Rows(g, np.zeros((12, len(SIGNALS))), np.zeros(12, bool), foreign=bool(g % 2),
                     q=rng.normal(size=len(BASE_SIGNALS)) + (g % 2), dataset=dataset) for g in range(n)]

    r = rows(1, "locomo")[0]
    relevance = np.r_[np.full(3, CONFIDENT), np.zeros(7), np.ones(2)]  # rows past the top 10 do not count
    assert r.gate_input(relevance).tolist() == [*r.q.tolist(), 3.0] and len(r.gate_input(relevance)) == len(GATE_SIGNALS)
    loc, lme = rows(60, "locomo"), rows(20, "lme")
    probs = [rng.random(12) for _ in loc + lme]
    base = fit_gate(loc, probs[:60])
    assert fit_gate(loc + lme, probs, lme_weight=0.0) == base
    assert fit_gate(loc + lme, probs, lme_weight=0.25) != base
