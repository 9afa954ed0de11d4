"""Loaders for the two long-term-memory benchmarks, into plain dataclasses.

Both formats become the same shape: a :class:`Dataset` holds
:class:`Conversation` objects (one memory index each), a conversation holds
:class:`Session` objects holding :class:`Turn` objects, and a conversation's
:class:`Question` objects carry the ids of their evidence turns (and, for
LongMemEval, evidence sessions).

* LoCoMo (``locomo10.json``): one conversation per sample, turn ids such as
  ``"D3:7"``; a turn's text is ``"Speaker: text [shares image: caption]"``.
* LongMemEval (official ``longmemeval_*.json``): every question has its own
  haystack, so each question becomes a one-question conversation; turn ids
  are ``"<session_id>:<j>"`` and ``has_answer`` marks evidence turns.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..timeutil import to_timestamp


@dataclass
class Turn:
    id: str
    speaker: str
    text: str  # the text to index: "Speaker: text [shares image: caption]"
    raw_text: str
    session_id: str
    position: int  # index of the turn within its conversation (0-based, chronological order of the file)
    time: float | None = None
    has_answer: bool = False

    @property
    def body(self) -> str:
        """The text without its ``"Speaker: "`` prefix (a memory keeps the speaker apart)."""
        prefix = f"{self.speaker}: "
        return self.text[len(prefix):] if self.text.startswith(prefix) else self.text


@dataclass
class Session:
    id: str
    time: float | None
    date: str
    turns: list[Turn] = field(default_factory=list)


@dataclass
class Question:
    id: str
    question: str
    answer: Any
    category: str  # LoCoMo: "1".."5"; LongMemEval: question_type
    evidence: list[str]  # turn ids
    time: float | None = None  # when the question is asked
    evidence_sessions: list[str] = field(default_factory=list)
    abstention: bool = False


@dataclass
class Conversation:
    id: str
    sessions: list[Session]
    questions: list[Question]
    speakers: list[str] = field(default_factory=list)

    @property
    def turns(self) -> list[Turn]:
        return [t for s in self.sessions for t in s.turns]


@dataclass
class Dataset:
    name: str
    conversations: list[Conversation]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def questions(self) -> list[Question]:
        return [q for c in self.conversations for q in c.questions]


def read_json(path: str | Path) -> Any:
    """A JSON file, gzip-compressed when its name ends in ``.gz`` (the dev data ships so)."""
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    return json.loads(path.read_text())


# ----------------------------------------------------------------------------- LoCoMo

_ID_SPLIT = re.compile(r"[;,\s]+")
_ID_FORM = re.compile(r"^D:?(\d+):0*(\d+)$")


def repair_evidence(raw: list[Any], known: set[str]) -> tuple[list[str], int]:
    """Repair LoCoMo evidence ids where the fix is unambiguous.

    Splits lists packed into one string (``"D8:6; D9:17"``, ``"D9:1 D4:4"``),
    removes a stray colon (``"D:11:26"`` -> ``"D11:26"``) and leading zeros
    (``"D30:05"`` -> ``"D30:5"``).  Ids that still name no turn of the
    conversation are dropped.  Returns ``(ids, n_repaired)`` where
    ``n_repaired`` counts raw entries that needed a fix; duplicates are removed
    keeping the first occurrence.
    """
    out: list[str] = []
    repaired = 0
    for entry in raw:
        entry = str(entry).strip()
        if entry in known:
            if entry not in out:
                out.append(entry)
            continue
        fixed_any = False
        for piece in _ID_SPLIT.split(entry):
            m = _ID_FORM.match(piece)
            if not m:
                continue
            cand = f"D{int(m.group(1))}:{int(m.group(2))}"
            if cand in known:
                fixed_any = True
                if cand not in out:
                    out.append(cand)
        repaired += fixed_any
    return out, repaired


def _session_keys(conv: dict[str, Any]) -> list[int]:
    nums = []
    for key, val in conv.items():
        m = re.fullmatch(r"session_(\d+)", key)
        if m and isinstance(val, list):
            nums.append(int(m.group(1)))
    return sorted(nums)


def safe_time(value: Any) -> float | None:
    """A dataset's date as epoch seconds, or None when it cannot be read as one."""
    try:
        return to_timestamp(value)
    except Exception:
        return None


def locomo_turn_text(turn: dict[str, Any]) -> str:
    text = f"{turn.get('speaker', '')}: {turn.get('text', '')}"
    caption = turn.get("blip_caption")
    if caption:
        text += f" [shares image: {caption}]"
    return text


def load_locomo(path: str | Path, *, categories: tuple[int, ...] | None = None) -> Dataset:
    """Load ``locomo10.json``.

    Questions whose evidence cannot be repaired to at least one existing turn
    are skipped and counted in ``stats``.  Question time is the last session's
    time (questions are asked after the conversation).
    """
    data = read_json(path)
    convs: list[Conversation] = []
    stats = {"questions_total": 0, "questions_used": 0, "skipped_no_evidence": 0,
             "evidence_entries_repaired": 0, "evidence_ids_dropped": 0, "turns": 0, "sessions": 0}
    for sample in data:
        conv = sample["conversation"]
        cid = str(sample.get("sample_id", f"conv-{len(convs)}"))
        sessions: list[Session] = []
        pos = 0
        for n in _session_keys(conv):
            date = str(conv.get(f"session_{n}_date_time", ""))
            t = safe_time(date) if date else None
            sess = Session(id=f"S{n}", time=t, date=date)
            for turn in conv[f"session_{n}"]:
                sess.turns.append(Turn(
                    id=str(turn["dia_id"]), speaker=str(turn.get("speaker", "")), text=locomo_turn_text(turn),
                    raw_text=str(turn.get("text", "")), session_id=sess.id, position=pos, time=t))
                pos += 1
            sessions.append(sess)
        known = {t.id for s in sessions for t in s.turns}
        last_time = max((s.time for s in sessions if s.time is not None), default=None)
        questions: list[Question] = []
        for qi, qa in enumerate(sample.get("qa", [])):
            cat = int(qa.get("category", 0))
            if categories is not None and cat not in categories:
                continue
            stats["questions_total"] += 1
            raw = list(qa.get("evidence") or [])
            ev, rep = repair_evidence(raw, known)
            stats["evidence_entries_repaired"] += rep
            stats["evidence_ids_dropped"] += sum(1 for e in raw if str(e) not in known) - rep
            if not ev:
                stats["skipped_no_evidence"] += 1
                continue
            answer = qa.get("answer", qa.get("adversarial_answer"))
            questions.append(Question(id=f"{cid}:q{qi}", question=str(qa["question"]), answer=answer,
                                      category=str(cat), evidence=ev, time=last_time))
        stats["questions_used"] += len(questions)
        stats["turns"] += len(known)
        stats["sessions"] += len(sessions)
        convs.append(Conversation(id=cid, sessions=sessions, questions=questions,
                                  speakers=[str(conv.get("speaker_a", "")), str(conv.get("speaker_b", ""))]))
    return Dataset(name="locomo", conversations=convs, stats=stats)


# ----------------------------------------------------------------------------- LongMemEval


def load_longmemeval(path: str | Path, *, skip_abstention: bool = True) -> Dataset:
    """Load an official-format LongMemEval file (a JSON list of questions).

    Each question becomes a conversation of its own haystack sessions.  Turn
    text is ``"user: ..."`` / ``"assistant: ..."``.  Abstention questions
    (``question_id`` ending in ``_abs``) are skipped by default, as the
    official retrieval protocol does.
    """
    data = read_json(path)
    convs: list[Conversation] = []
    stats = {"questions_total": len(data), "questions_used": 0, "skipped_abstention": 0,
             "skipped_no_evidence": 0, "turns": 0, "sessions": 0}
    for item in data:
        qid = str(item["question_id"])
        abstention = qid.endswith("_abs")
        if abstention and skip_abstention:
            stats["skipped_abstention"] += 1
            continue
        sessions: list[Session] = []
        pos = 0
        dates = item.get("haystack_dates") or [None] * len(item["haystack_sessions"])
        for sid, date, sess_turns in zip(item["haystack_session_ids"], dates, item["haystack_sessions"], strict=False):
            t = safe_time(date) if date else None
            sess = Session(id=str(sid), time=t, date=str(date or ""))
            for j, turn in enumerate(sess_turns):
                role = str(turn.get("role", ""))
                content = str(turn.get("content", ""))
                sess.turns.append(Turn(id=f"{sid}:{j}", speaker=role, text=f"{role}: {content}", raw_text=content,
                                       session_id=sess.id, position=pos, time=t,
                                       has_answer=bool(turn.get("has_answer", False))))
                pos += 1
            sessions.append(sess)
        ev_sessions = [str(s) for s in item.get("answer_session_ids", [])]
        ev_turns = [t.id for s in sessions for t in s.turns if t.has_answer]
        if not ev_sessions:
            stats["skipped_no_evidence"] += 1
            continue
        q = Question(id=qid, question=str(item["question"]), answer=item.get("answer"),
                     category=str(item.get("question_type", "")), evidence=ev_turns,
                     time=safe_time(item.get("question_date")), evidence_sessions=ev_sessions,
                     abstention=abstention)
        stats["questions_used"] += 1
        stats["turns"] += pos
        stats["sessions"] += len(sessions)
        convs.append(Conversation(id=qid, sessions=sessions, questions=[q], speakers=["user", "assistant"]))
    return Dataset(name="longmemeval", conversations=convs, stats=stats)


def merge(datasets: list[Dataset]) -> Dataset:
    """Several files of one benchmark as one dataset (the LongMemEval dev
    questions come in two files); their stats are added up."""
    if len({d.name for d in datasets}) != 1:
        raise ValueError("only files of one benchmark can be merged")
    stats: dict[str, Any] = {}
    for d in datasets:
        for key, value in d.stats.items():
            stats[key] = stats.get(key, 0) + value if isinstance(value, (int, float)) else value
    return Dataset(name=datasets[0].name, conversations=[c for d in datasets for c in d.conversations], stats=stats)


def load(name: str, path: str | Path, **kwargs: Any) -> Dataset:
    if name == "locomo":
        return load_locomo(path, **kwargs)
    if name == "longmemeval":
        return load_longmemeval(path, **kwargs)
    raise ValueError(f"unknown dataset {name!r} (locomo, longmemeval)")
