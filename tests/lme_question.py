"""One tiny LongMemEval question in the official format, shared by the eval CLI
tests: three sessions, the answer in the second, so a run is a few vectors."""


def lme_question(qid: str) -> dict:
    sessions = [[{"role": "user", "content": f"I adopted a cat called Miso {i}.", "has_answer": i == 1},
                 {"role": "assistant", "content": "What a lovely name for a cat."}] for i in range(3)]
    return {"question_id": qid, "question": "What is my cat called?", "answer": "Miso",
            "question_type": "single-session-user", "haystack_session_ids": ["s0", "s1", "s2"],
            "haystack_dates": ["2023/05/01 (Mon) 10:00"] * 3, "haystack_sessions": sessions,
            "answer_session_ids": ["s1"], "question_date": "2023/06/01 (Thu) 10:00"}
