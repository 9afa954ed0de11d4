"""Hand-computed checks of the benchmark metrics, evidence repair, loaders and baselines."""
import json
import math

import numpy as np
import pytest

from memoryweave_core.eval import metrics as M
from memoryweave_core.eval.baselines import ReferenceBM25, rank, reference_tokenize, rrf
from memoryweave_core.eval.datasets import load_locomo, load_longmemeval, repair_evidence


def test_recall_at_k():
    ranked = ["a", "b", "c", "d"]
    assert M.recall_at_k(ranked, {"a", "d"}, 1) == 0.5
    assert M.recall_at_k(ranked, {"a", "d"}, 4) == 1.0
    assert M.recall_at_k(ranked, {"x"}, 4) == 0.0
    assert M.recall_at_k(ranked, set(), 4) == 0.0


def test_ndcg_at_k_binary():
    # relevant at ranks 2 and 3 of 3; ideal puts them at 1 and 2
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert M.ndcg_at_k(["x", "a", "b"], {"a", "b"}, 3) == pytest.approx(dcg / idcg)
    assert M.ndcg_at_k(["a", "b"], {"a", "b"}, 10) == pytest.approx(1.0)
    assert M.ndcg_at_k(["x", "y"], {"a"}, 2) == 0.0


def test_recall_any_all():
    ranked = ["s1", "s2", "s3"]
    assert M.recall_any_at_k(ranked, {"s3", "s9"}, 3) == 1.0
    assert M.recall_all_at_k(ranked, {"s3", "s9"}, 3) == 0.0
    assert M.recall_all_at_k(ranked, {"s1", "s3"}, 3) == 1.0
    assert M.recall_all_at_k(ranked, {"s1", "s3"}, 2) == 0.0


def test_ndcg_any_official_formula():
    # LongMemEval's DCG: rel_1 + sum_{i>=2} rel_i / log2(i); one relevant item at rank 2 scores 1/log2(2) = 1
    assert M.ndcg_any_at_k(["x", "a"], {"a"}, 5) == pytest.approx(1.0)
    # rank 3: 1/log2(3)
    assert M.ndcg_any_at_k(["x", "y", "a"], {"a"}, 5) == pytest.approx(1 / math.log2(3))
    # two relevant, at ranks 1 and 3; ideal 1 + 1/log2(2) = 2
    assert M.ndcg_any_at_k(["a", "y", "b"], {"a", "b"}, 5) == pytest.approx((1 + 1 / math.log2(3)) / 2)


def test_evidence_repair():
    known = {"D8:6", "D9:17", "D11:26", "D30:5", "D1:1"}
    ids, n = repair_evidence(["D8:6; D9:17", "D:11:26", "D30:05", "D1:1", "D", "D99:1"], known)
    assert ids == ["D8:6", "D9:17", "D11:26", "D30:5", "D1:1"]
    assert n == 3
    ids, n = repair_evidence(["D1:1 D8:6"], known)
    assert ids == ["D1:1", "D8:6"] and n == 1


def _locomo(tmp_path):
    data = [{
        "sample_id": "c0",
        "conversation": {
            "speaker_a": "Ann", "speaker_b": "Bob",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [{"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a dog."},
                          {"speaker": "Bob", "dia_id": "D1:2", "text": "Cute!", "blip_caption": "a puppy"}],
            "session_2_date_time": "2:00 pm on 9 May, 2023",
            "session_2": [{"speaker": "Ann", "dia_id": "D2:1", "text": "The dog is named Rex."}],
        },
        "qa": [
            {"question": "What pet does Ann have?", "answer": "dog", "evidence": ["D1:1; D2:1"], "category": 1},
            {"question": "Q2", "answer": "x", "evidence": [], "category": 3},
            {"question": "Q3", "adversarial_answer": "y", "evidence": ["D1:02"], "category": 5},
        ],
    }]
    p = tmp_path / "locomo.json"
    p.write_text(json.dumps(data))
    return p


def test_load_locomo(tmp_path):
    ds = load_locomo(_locomo(tmp_path))
    c = ds.conversations[0]
    assert [t.id for t in c.turns] == ["D1:1", "D1:2", "D2:1"]
    assert c.turns[1].text == "Bob: Cute! [shares image: a puppy]"
    assert c.turns[0].time < c.turns[2].time
    assert [q.evidence for q in c.questions] == [["D1:1", "D2:1"], ["D1:2"]]
    assert c.questions[1].answer == "y" and c.questions[1].category == "5"
    assert c.questions[0].time == c.sessions[-1].time
    assert ds.stats["skipped_no_evidence"] == 1 and ds.stats["questions_used"] == 2
    assert ds.stats["evidence_entries_repaired"] == 2


def test_load_longmemeval(tmp_path):
    data = [{
        "question_id": "q1", "question_type": "single-session-user", "question": "Where do I work?",
        "question_date": "2023/05/30 (Tue) 23:38", "answer": "ACME",
        "answer_session_ids": ["s2"], "haystack_dates": ["2023/05/20 (Sat) 01:20", "2023/05/21 (Sun) 01:20"],
        "haystack_session_ids": ["s1", "s2"],
        "haystack_sessions": [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
                              [{"role": "user", "content": "I work at ACME", "has_answer": True}]],
    }, {"question_id": "q2_abs", "question_type": "x", "question": "?", "question_date": None, "answer": "",
        "answer_session_ids": [], "haystack_dates": [], "haystack_session_ids": [], "haystack_sessions": []}]
    p = tmp_path / "lme.json"
    p.write_text(json.dumps(data))
    ds = load_longmemeval(p)
    assert ds.stats["skipped_abstention"] == 1
    (c,) = ds.conversations
    q = c.questions[0]
    assert q.evidence_sessions == ["s2"] and q.evidence == ["s2:0"]
    assert c.turns[0].text == "user: hi" and q.time > c.sessions[1].time


def test_reference_bm25_is_rank_bm25_okapi():
    docs = [reference_tokenize(t) for t in ["the cat sat", "the dog ran far", "a cat and a big brown dog", "nothing here"]]
    bm = ReferenceBM25(docs)
    # rank_bm25's Okapi idf is zero for a term in exactly half the documents
    assert np.all(bm.scores(reference_tokenize("cat")) == 0)
    s = bm.scores(reference_tokenize("sat"))
    idf = math.log(4 - 1 + 0.5) - math.log(1 + 0.5)
    avg = (2 + 3 + 4 + 1) / 4
    assert s[0] == pytest.approx(idf * 2.5 / (1 + 1.5 * (1 - 0.75 + 0.75 * 2 / avg)), rel=1e-6)
    assert s[0] > 0 and not s[1:].any()


def test_rrf_and_rank():
    order_a = np.array([0, 1, 2])
    order_b = np.array([2, 1, 0])
    fused = rrf([order_a, order_b], 3, k=60)
    assert fused[1] == pytest.approx(2 / 62)
    assert fused[0] == pytest.approx(1 / 61 + 1 / 63)
    assert list(rank(np.array([0.1, 0.5, 0.5]))) == [1, 2, 0]


def test_default_systems_take_the_context_overrides():
    from memoryweave_core.errors import InvalidInputError
    from memoryweave_core.eval.systems import default_systems

    assert default_systems(ablations=False, context_mode="mean", context_window=3)["memoryweave"] is not None
    with pytest.raises(InvalidInputError):  # refused by RecallConfig, before any system is built
        default_systems(ablations=False, context_window=-1)
