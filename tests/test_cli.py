"""The ``memoryweave`` command, run through its real entry point in a subprocess.

Every test uses a temporary SQLite file (``--db``) and the hashing embedder
(fast, deterministic); a few run ``memoryweave demo`` and the docs' relevance
example with the real all-MiniLM-L6-v2 model.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from import_rows import ROWS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
_SCRIPT = Path(sys.executable).parent / "memoryweave"
ENTRY = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "memoryweave_core.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("MEMORYWEAVE_DB", "MEMORYWEAVE_EMBEDDER", "MEMORYWEAVE_DEBUG"):
        env.pop(key, None)
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", COLUMNS="120", PYTHONIOENCODING="utf-8")
    env.update(extra)
    return env


def run_raw(*args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run([*ENTRY, *args], input=input, capture_output=True, text=True, env=env or _env(),
                          timeout=timeout, cwd=REPO)


class CLI:
    """Runs the command against one temporary store with the hashing embedder."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def __call__(self, *args: str, ok: bool = True, input: str | None = None):
        proc = run_raw("--db", str(self.db), "--embedder", "hashing", *args, input=input)
        if ok:
            assert proc.returncode == 0, f"{args}: rc={proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
        return proc

    def json(self, *args: str, input: str | None = None):
        return json.loads(self(*args, "--json", input=input).stdout)

    def fails(self, *args: str, input: str | None = None, match: str = "") -> str:
        proc = self(*args, ok=False, input=input)
        assert_one_line_error(proc, match)
        return proc.stderr


def assert_one_line_error(proc, match: str = "") -> None:
    assert proc.returncode == 2, f"rc={proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr
    assert len(err.splitlines()) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    assert err.startswith("memoryweave"), err
    assert match.lower() in err.lower(), f"{match!r} not in {err!r}"


@pytest.fixture
def cli(tmp_path) -> CLI:
    return CLI(tmp_path / "memory.db")


def _remember_three(cli: CLI) -> list[dict]:
    return [
        cli.json("remember", "I adopted a cat called Luna", "--speaker", "Ana", "--time", "2024-05-02T10:00",
                 "--episode", "pets"),
        cli.json("remember", "We went hiking in the Alps with my brother", "--speaker", "Ana",
                 "--time", "2024-05-20 09:00", "--episode", "trips"),
        cli.json("remember", "My favourite food is ramen with extra garlic", "--speaker", "Ana",
                 "--time", "1:56 pm on 8 May, 2024", "--episode", "food"),
    ]


# ----------------------------------------------------------------------------- help and entry point


def test_console_script_is_installed():
    assert _SCRIPT.exists(), "the memoryweave console script is missing: pip install -e ."
    proc = subprocess.run([str(_SCRIPT), "--version"], capture_output=True, text=True, env=_env())
    assert proc.returncode == 0 and proc.stdout.startswith("memoryweave ")


@pytest.mark.parametrize("command", [None, "remember", "import", "export", "recall", "list", "forget", "inspect", "demo",
                                     "eval"])
def test_help_on_every_command(command):
    proc = run_raw(*([command] if command else []), "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.lower().startswith("usage: memoryweave" + (f" {command}" if command else ""))
    if command is None:
        for name in ("remember", "import", "export", "recall", "list", "forget", "inspect", "eval", "demo", "--db",
                     "--embedder"):
            assert name in proc.stdout
    if command == "eval":
        assert "locomo" in proc.stdout


def test_no_command_and_unknown_command_are_one_line_errors():
    assert_one_line_error(run_raw(), "required")
    assert_one_line_error(run_raw("frobnicate"), "invalid choice")


# ----------------------------------------------------------------------------- remember / recall


def test_remember_then_recall_in_a_new_process(cli):
    t = _remember_three(cli)
    assert [x["speaker"] for x in t] == ["Ana"] * 3
    assert t[0]["episode"] == "pets" and t[0]["position"] == 0
    assert t[2]["time"] == pytest.approx(1715176560.0)  # 2024-05-08 13:56 UTC
    out = cli.json("recall", "cat name Luna", "-k", "2")
    assert len(out) == 2
    assert out[0]["text"] == "I adopted a cat called Luna"
    assert out[0]["rank"] == 1 and out[0]["score"] >= out[1]["score"]
    assert out[0]["id"] == t[0]["id"]
    assert set(out[0]["features"]) >= {"semantic", "lexical"}
    # the contributions add up to the score
    assert sum(out[0]["features"].values()) == pytest.approx(out[0]["score"], abs=1e-4)


def test_recall_table_and_explain(cli):
    _remember_three(cli)
    table = cli("recall", "cat called Luna", "-k", "2").stdout
    header = table.splitlines()[0].split()
    assert header == ["#", "score", "relevance", "speaker", "text", "episode", "time"]
    assert "I adopted a cat called Luna" in table and "pets #0" in table and "2024-05-02 10:00" in table
    assert "semantic" not in table
    explained = cli("recall", "cat called Luna", "-k", "1", "--explain").stdout
    lines = explained.splitlines()
    assert "I adopted a cat called Luna" in lines[2]
    feats = {ln.split()[0]: float(ln.split()[1]) for ln in lines[3:] if ln.strip()}
    assert {"semantic", "lexical", "context", "activation"} <= set(feats)
    assert feats["lexical"] > 0 and feats["semantic"] > 0


def test_recall_with_a_relevance_threshold_and_a_filter(cli):
    _remember_three(cli)
    cli("remember", "My knee hurts after the run", "--speaker", "Ben", "--time", "2024-05-21")
    out = cli.json("recall", "cat called Luna", "-k", "4", "--min-relevance", "0")
    assert len(out) == 4 and all(0.0 <= r["relevance"] <= 1.0 for r in out)
    assert cli.json("recall", "cat called Luna", "--min-relevance", "1") == []  # no trace is certainly evidence
    assert "nothing relevant" in cli("recall", "cat called Luna", "--min-relevance", "1").stdout
    # 'auto' is calibrated for MiniLM only: with the hashing embedder it says so and applies no threshold
    proc = cli("recall", "cat called Luna", "-k", "4", "--min-relevance", "auto", "--json")
    assert len(json.loads(proc.stdout)) == 4 and "no threshold" in proc.stderr
    assert [r["speaker"] for r in cli.json("recall", "what hurts?", "-k", "4", "--filter", '{"speaker": "Ben"}')] == ["Ben"]
    cli.fails("recall", "x", "--min-relevance", "2", match="[0, 1]")
    cli.fails("recall", "x", "--filter", "[1]", match="JSON object")
    cli.fails("recall", "x", "--filter", '{"speaker": {"$regex": "A"}}', match="$regex")


def test_meta_values_are_parsed_as_json_when_possible(cli):
    t = cli.json("remember", "Paid the rent", "--meta", "amount=950", "--meta", "paid=true", "--meta", "note=late again",
                 "--meta", 'tags=["home","money"]')
    assert t["metadata"] == {"amount": 950, "paid": True, "note": "late again", "tags": ["home", "money"]}
    cli.fails("remember", "x", "--meta", "no-equals-sign", match="KEY=VALUE")


def test_recall_at_time_with_time_expression(cli):
    cli("remember", "Booked the dentist appointment", "--time", "2024-03-01")
    cli("remember", "Repainted the kitchen walls blue", "--time", "2024-03-12")
    cli("remember", "Planted tomatoes in the garden", "--time", "2024-03-19")
    # "last week" seen from 2024-03-20 is 6..13 March
    out = cli.json("recall", "what happened last week?", "-k", "3", "--at", "2024-03-20")
    assert out[0]["text"] == "Repainted the kitchen walls blue"
    assert out[0]["features"]["temporal"] > 0


def test_recall_records_access_unless_no_record(cli):
    _remember_three(cli)
    before = cli.json("inspect")["namespaces"]["default"]["most_active"]
    cli("recall", "ramen garlic", "-k", "1", "--no-record")
    assert cli.json("inspect")["namespaces"]["default"]["most_active"] == before
    cli("recall", "ramen garlic", "-k", "1")
    top = cli.json("inspect")["namespaces"]["default"]["most_active"][0]
    assert top["text"] == "My favourite food is ramen with extra garlic"


def test_namespaces_are_separate(cli):
    cli("remember", "Alice likes tea", "--namespace", "alice")
    cli("remember", "Bob likes coffee", "--namespace", "bob")
    out = cli.json("recall", "drink tea", "--namespace", "alice")
    assert [r["text"] for r in out] == ["Alice likes tea"]
    err = cli.fails("recall", "tea", match="holds no memories")
    assert "alice" in err and "bob" in err


def listed(cli: CLI, *args: str) -> list[dict]:
    """``list --json``: one JSON object per line."""
    return [json.loads(line) for line in cli("list", *args, "--json").stdout.splitlines()]


def test_namespace_levels_and_recall_over_a_prefix(cli):
    """--namespace alice/agent1/run7 names a three-level namespace; recall --descendants spans alice's."""
    cli("remember", "Alice likes green tea", "--namespace", "alice/agent1/run7")
    cli("remember", "Alice plays tennis", "--namespace", "alice")
    cli("remember", "Alicex likes green tea", "--namespace", "alicex/agent1")
    cli("remember", "Slash likes green tea", "--namespace", r"alice\/x")  # one level named "alice/x"
    out = cli.json("recall", "green tea", "--namespace", "alice", "--descendants", "-k", "10")
    assert {r["text"] for r in out} == {"Alice likes green tea", "Alice plays tennis"}
    assert ["alice", "agent1", "run7"] in [r["namespace"] for r in out]
    assert [r["text"] for r in cli.json("recall", "tea", "--namespace", "alice/agent1/run7")] == ["Alice likes green tea"]
    assert [r["text"] for r in listed(cli, "--namespace", r"alice\/x")] == ["Slash likes green tea"]
    table = cli("recall", "green tea", "--namespace", "alice", "--descendants").stdout
    assert "alice/agent1/run7:" in table
    err = cli.fails("recall", "tea", "--namespace", "carol", match="holds no memories")
    assert "alice/agent1/run7" in err and r"alice\/x" in err


def test_the_namespaces_block_of_the_docs_runs(tmp_path):
    doc = (REPO / "docs" / "cli.md").read_text()
    block = doc.split("<!-- tests/test_cli.py runs this namespaces block -->\n```bash\n", 1)[1].split("```", 1)[0]
    cli = CLI(tmp_path / "ns.db")
    outputs = [cli(*shlex.split(line)[1:]).stdout for line in block.strip().splitlines()]
    table = outputs[-1]
    assert "alice/agent1/run7:" in table and "Alice drinks green tea" in table and "peanuts" in table
    assert "Alicex" not in table


def test_list_shows_current_versions_unless_asked(cli):
    tid = cli.json("remember", "Ben's marathon is on 4 June")["id"]
    cli("update", tid, "Ben's marathon moved to 11 June")
    assert [r["text"] for r in listed(cli)] == ["Ben's marathon moved to 11 June"]
    every = listed(cli, "--include-superseded")
    assert sorted(r["id"] for r in every) == sorted([tid, f"{tid}@v1"])
    assert f"{tid}@v1" not in cli("list").stdout


# ----------------------------------------------------------------------------- store location


def test_db_from_environment_variable(tmp_path):
    db = tmp_path / "env.db"
    env = _env(MEMORYWEAVE_DB=str(db), MEMORYWEAVE_EMBEDDER="hashing")
    assert run_raw("remember", "kept via the environment", env=env).returncode == 0
    assert db.exists()
    proc = run_raw("recall", "environment", "--json", env=env)
    assert json.loads(proc.stdout)[0]["text"] == "kept via the environment"


def test_default_db_lives_in_the_user_data_directory(tmp_path):
    env = _env(XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path / "home"), MEMORYWEAVE_EMBEDDER="hashing")
    proc = run_raw("remember", "stored in the default place", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data" / "memoryweave" / "memory.db").exists()
    proc = run_raw("inspect", "--json", env=env)
    assert json.loads(proc.stdout)["db"] == str(tmp_path / "data" / "memoryweave" / "memory.db")


def test_global_options_after_the_subcommand(tmp_path):
    db = tmp_path / "after.db"
    proc = run_raw("remember", "options may come last", "--db", str(db), "--embedder", "hashing")
    assert proc.returncode == 0, proc.stderr
    assert db.exists()


def test_bad_db_and_embedder_are_one_line_errors(tmp_path):
    assert_one_line_error(run_raw("--db", str(tmp_path), "inspect"), "directory")
    assert_one_line_error(run_raw("--db", str(tmp_path / "missing" / "x.db"), "inspect"), "does not exist")
    assert_one_line_error(run_raw("--embedder", "word2vec", "inspect"), "invalid choice")
    env = _env(MEMORYWEAVE_EMBEDDER="word2vec", MEMORYWEAVE_DB=str(tmp_path / "x.db"))
    assert_one_line_error(run_raw("inspect", env=env), "MEMORYWEAVE_EMBEDDER")


def test_a_file_that_is_not_a_store_is_a_one_line_error(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_text("these are my notes, not a database\n" * 50)
    assert_one_line_error(run_raw("--db", str(bad), "--embedder", "hashing", "inspect"), str(bad))
    assert bad.read_text().startswith("these are my notes")  # left untouched


# ----------------------------------------------------------------------------- user errors


@pytest.mark.parametrize(
    "args, match",
    [
        (["remember", "   "], "empty"),
        (["remember", "hello", "--time", "the day after never"], "cannot parse time"),
        (["remember", "hello", "--namespace", ""], "namespace"),
        (["recall", "anything", "--at", "someday"], "cannot parse time"),
        (["recall", "anything", "-k", "0"], "must be >= 1"),
        (["recall", "anything", "-k", "many"], "not an integer"),
        (["recall", "   "], "empty"),
        (["recall"], "required"),
        (["import", "does-not-exist.jsonl"], "no such file"),
        (["forget"], "--id"),
        (["forget", "--id", "nope", "--yes"], "no trace with id 'nope'"),
        (["forget", "--episode", "nope", "--yes"], "no episode 'nope'"),
        (["inspect", "--namespace", "nobody"], "holds no memories"),
        (["eval"], "required"),
        (["eval", "locomo", "--data", "x.json", "--k", "five"], "invalid int"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(cli, args, match):
    cli("remember", "something to have a store", "--episode", "e1")
    cli.fails(*args, match=match)


# ----------------------------------------------------------------------------- import


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_import_jsonl(cli, tmp_path):
    rows = [
        {"text": "Hi, I'm planning a trip to Japan in October", "speaker": "user", "episode": "s1",
         "time": "2024-06-01T10:00"},
        {"text": "Great! Which cities?", "speaker": "assistant", "episode": "s1", "time": "2024-06-01T10:01"},
        {"text": "Kyoto and Osaka, mostly for the food", "speaker": "user", "episode": "s1",
         "time": "2024-06-01T10:02", "metadata": {"source": "chat"}},
        "",
        {"role": "user", "content": "I booked the flights today", "episode": "s2", "time": "2024-06-10T08:00"},
        {"text": "no speaker, no episode, no time"},
    ]
    path = _write_jsonl(tmp_path / "turns.jsonl", rows)
    proc = cli("import", str(path))
    assert "imported 5 turns" in proc.stdout
    info = cli.json("inspect")
    ns = info["namespaces"]["default"]
    assert ns["traces"] == 5 and ns["episodes"] == 3
    assert set(ns["speakers"]) == {"user", "assistant"}
    out = cli.json("recall", "cities Kyoto Osaka food", "-k", "5")
    texts = [r["text"] for r in out]
    assert "Kyoto and Osaka, mostly for the food" in texts[:2]
    kyoto = next(r for r in out if r["text"].startswith("Kyoto"))
    assert kyoto["metadata"] == {"source": "chat"} and kyoto["episode"] == "s1" and kyoto["position"] == 2


def test_import_jsonl_from_stdin_into_namespace(cli):
    data = "\n".join(json.dumps({"text": t}) for t in ["first note", "second note"])
    assert "imported 2 turns" in cli("import", "-", "--namespace", "notes", "--quiet", input=data).stdout
    assert cli.json("inspect", "--namespace", "notes")["namespaces"]["notes"]["traces"] == 2


@pytest.mark.parametrize(
    "bad, match",
    [
        ('{"text": "ok"}\n{"text": broken', "turns.jsonl:2: not valid JSON"),
        ('{"text": "ok"}\n["a list"]', "turns.jsonl:2: expected a JSON object"),
        ('{"text": "ok"}\n{"text": "  "}', "turns.jsonl:2: 'text' must be a non-empty string"),
        ('{"text": "ok", "colour": "red"}', "turns.jsonl:1: unknown fields ['colour']"),
        ('{"text": "ok", "time": "whenever"}', "turns.jsonl:1: cannot parse time"),
        ('{"text": "ok", "metadata": [1]}', "turns.jsonl:1: 'metadata' must be an object"),
        ("\n\n", "no turns found"),
    ],
)
def test_import_rejects_bad_jsonl_before_writing(cli, tmp_path, bad, match):
    path = tmp_path / "turns.jsonl"
    path.write_text(bad)
    cli.fails("import", str(path), match=match)
    assert not cli.db.exists()  # checked before the store was even opened


def _locomo_sample(sample_id: str = "conv-x") -> dict:
    return {
        "sample_id": sample_id,
        "conversation": {
            "speaker_a": "Caroline",
            "speaker_b": "Melanie",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Caroline", "dia_id": "D1:1", "text": "I went to an LGBTQ support group yesterday."},
                {"speaker": "Melanie", "dia_id": "D1:2", "text": "That's brave! How did it go?"},
                {"speaker": "Caroline", "dia_id": "D1:3", "text": "Look at this sunset I painted.",
                 "blip_caption": "a painting of a sunset over a lake"},
            ],
            "session_2_date_time": "10:37 am on 27 June, 2023",
            "session_2": [
                {"speaker": "Melanie", "dia_id": "D2:1", "text": "I ran a charity race for mental health."},
                {"speaker": "Caroline", "dia_id": "D2:2", "text": "Amazing, congratulations!"},
            ],
        },
        "qa": [{"question": "When did Caroline go to the support group?", "answer": "7 May 2023",
                "evidence": ["D1:1"], "category": 2}],
    }


def test_import_locomo(cli, tmp_path):
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([_locomo_sample("conv-a"), _locomo_sample("conv-b")]))
    proc = cli("import", str(path), "--limit", "1")  # format guessed from the content
    assert "imported 5 turns in 2 episode(s) into namespace 'conv-a'" in proc.stdout
    info = cli.json("inspect")
    assert list(info["namespaces"]) == ["conv-a"]
    out = cli.json("recall", "charity race", "--namespace", "conv-a", "-k", "1")
    top = out[0]
    assert top["text"] == "I ran a charity race for mental health."
    assert top["speaker"] == "Melanie" and top["episode"] == "S2" and top["metadata"]["dia_id"] == "D2:1"
    assert top["time"] >= 1687862220.0  # 27 June 2023 10:37 UTC
    sunset = cli.json("recall", "sunset painting", "--namespace", "conv-a", "-k", "1")[0]
    assert sunset["text"] == "Look at this sunset I painted. [shares image: a painting of a sunset over a lake]"
    # --namespace puts every conversation into one namespace, episodes stay apart
    proc = cli("import", str(path), "--format", "locomo", "--namespace", "all", "--quiet")
    assert cli.json("inspect", "--namespace", "all")["namespaces"]["all"]["episodes"] == 4


def test_import_longmemeval(cli, tmp_path):
    item = {
        "question_id": "q1", "question_type": "single-session-user", "question": "Where did I buy my bike?",
        "answer": "Decathlon", "question_date": "2023/05/30 (Tue) 23:40",
        "haystack_session_ids": ["s-a", "s-b"],
        "haystack_dates": ["2023/05/20 (Sat) 02:21", "2023/05/25 (Thu) 10:00"],
        "haystack_sessions": [
            [{"role": "user", "content": "I bought a new bike at Decathlon", "has_answer": True},
             {"role": "assistant", "content": "Nice! What kind of bike?"}],
            [{"role": "user", "content": "Recommend a pasta recipe"},
             {"role": "assistant", "content": "Try carbonara."}],
        ],
        "answer_session_ids": ["s-a"],
    }
    path = tmp_path / "lme.json"
    path.write_text(json.dumps([item]))
    proc = cli("import", str(path))
    assert "imported 4 turns in 2 episode(s) into namespace 'q1'" in proc.stdout
    top = cli.json("recall", "bought bike Decathlon", "--namespace", "q1", "-k", "1")[0]
    assert top["speaker"] == "user" and top["episode"] == "s-a" and top["metadata"]["has_answer"] is True


def test_import_wrong_format_is_a_clear_error(cli, tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps([{"text": "a turn list is not LoCoMo"}]))
    cli.fails("import", str(path), "--format", "locomo", match="not a LoCoMo file")
    cli.fails("import", str(path), "--format", "longmemeval", match="not a LongMemEval file")
    bad = tmp_path / "bad.json"
    bad.write_text("[{oops")
    cli.fails("import", str(bad), "--format", "locomo", match="not valid JSON")


def test_import_shows_a_progress_bar(cli, tmp_path):
    path = _write_jsonl(tmp_path / "t.jsonl", [{"text": f"note number {i}"} for i in range(10)])
    proc = cli("import", str(path))
    # a bar over the texts embedded: ten notes of one episode, and nine windows of the turns before them
    assert "importing: 100%" in proc.stderr and "19/19" in proc.stderr and "text/s" in proc.stderr
    proc = cli("import", str(path), "--quiet")
    assert proc.stderr == ""


@pytest.mark.skipif(not (DATA / "locomo10.json").exists(), reason="LoCoMo data not available")
def test_import_real_locomo_conversation(cli):
    proc = cli("import", str(DATA / "locomo10.json"), "--limit", "1", "--quiet")
    assert "into namespace 'conv-26'" in proc.stdout
    ns = cli.json("inspect", "--namespace", "conv-26")["namespaces"]["conv-26"]
    assert ns["traces"] > 300 and ns["episodes"] > 10 and ns["categories"] >= 1
    assert set(ns["speakers"]) == {"Caroline", "Melanie"}


# ----------------------------------------------------------------------------- forget


def test_forget_by_id_episode_and_namespace(cli):
    t = _remember_three(cli)
    cli("remember", "Another trip note", "--episode", "trips", "--time", "2024-05-21")
    cli("remember", "Work stuff", "--namespace", "work")
    proc = cli("forget", "--id", t[0]["id"], "--yes")
    assert "forgot 1 trace(s)" in proc.stdout
    assert cli.json("inspect")["traces"] == 4
    proc = cli("forget", "--episode", "trips", "--yes")
    assert "forgot 2 trace(s)" in proc.stdout
    assert [r["text"] for r in cli.json("recall", "anything at all", "-k", "5")] == [t[2]["text"]]
    proc = cli("forget", "--namespace", "work", "-y")
    assert "forgot 1 trace(s)" in proc.stdout
    assert cli.json("inspect")["traces"] == 1


def test_forget_asks_for_confirmation(cli):
    t = _remember_three(cli)
    # stdin is not a terminal: refuse rather than guess
    cli.fails("forget", "--id", t[1]["id"], match="--yes")
    assert cli.json("inspect")["traces"] == 3


def test_forget_unknown_id_deletes_nothing(cli):
    t = _remember_three(cli)
    cli.fails("forget", "--id", t[0]["id"], "--id", "missing", "--yes", match="missing")
    assert cli.json("inspect")["traces"] == 3


# ----------------------------------------------------------------------------- inspect


def test_inspect_text_and_json(cli, tmp_path):
    cli("remember", "soon forgotten", "--namespace", "tmp")
    cli("forget", "--namespace", "tmp", "--yes")
    empty = cli("inspect").stdout
    assert "0 in 0 namespace(s)" in empty and "empty" in empty
    _remember_three(cli)
    cli("remember", "Bob's note", "--namespace", "bob")
    text = cli("inspect").stdout
    assert str(cli.db) in text
    assert "namespace 'default': 3 traces, 3 episode(s)" in text
    assert "ART categories" in text and "label (most typical member)" in text and "activation" in text
    info = cli.json("inspect", "--namespace", "default", "--top", "2")
    assert list(info["namespaces"]) == ["default"] and info["traces"] == 4
    ns = info["namespaces"]["default"]
    assert ns["traces"] == 3 and ns["episodes"] == 3 and len(ns["recent_episodes"]) == 2
    assert ns["recent_episodes"][0]["episode"] == "trips"  # newest first
    assert ns["categories"] >= 1 and sum(c["size"] for c in ns["largest_categories"]) <= 3
    assert all(c["label"] for c in ns["largest_categories"])
    assert len(ns["most_active"]) == 2


# ----------------------------------------------------------------------------- eval and demo


def test_eval_delegates_to_the_harness():
    proc = run_raw("eval", "locomo")
    assert proc.returncode == 2 and "--data" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_demo_with_the_real_model():
    proc = run_raw("demo", timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Traceback" not in proc.stderr and "Loading weights" not in proc.stderr
    sections = out.split("recall: ")[1:]
    assert len(sections) == 4
    dog, climbing, reading, yesterday = sections
    top3 = lambda s: "\n".join(ln for ln in s.splitlines() if ln[:1].isdigit())  # noqa: E731
    assert "Pepper" in top3(dog)
    assert "every Sunday morning" in top3(climbing)
    first = next(ln for ln in reading.splitlines() if ln.startswith("1 "))
    assert "Hail Mary" in reading and "interview-nerves" in first
    assert all("good-news" in ln for ln in top3(yesterday).splitlines())
    assert "temporal" in reading and "context" in climbing


def test_the_relevance_example_of_the_cli_docs_with_the_real_model(tmp_path):
    """docs/cli.md's chat.jsonl and its --min-relevance auto recalls, as printed there."""
    doc = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    chat = doc.split("```json\n", 1)[1].split("```", 1)[0]
    (tmp_path / "chat.jsonl").write_text(chat, encoding="utf-8")
    db = ["--db", str(tmp_path / "m.db"), "--embedder", "minilm"]
    assert run_raw(*db, "import", str(tmp_path / "chat.jsonl"), "--quiet", timeout=300).returncode == 0
    knee = run_raw(*db, "recall", "How is Ben's knee?", "-k", "3", "--at", "2024-05-28", "--min-relevance", "auto",
                   "--json", "--no-record", timeout=300)
    assert [r["text"] for r in json.loads(knee.stdout)] == [
        "My marathon is on 4 June. Is my knee ready?", "Not yet: the physio says rest for two more weeks."]
    foreign = run_raw(*db, "recall", "What is the capital of Australia?", "--min-relevance", "auto", timeout=300)
    assert foreign.returncode == 0 and foreign.stdout.startswith("nothing relevant"), foreign.stdout + foreign.stderr
    assert "How is Ben's knee?" in doc and "nothing relevant (no memory reached relevance 0.0225)" in doc


def test_store_built_with_another_embedder_is_a_clear_error(cli):
    cli("remember", "built with the hashing embedder")
    proc = run_raw("--db", str(cli.db), "--embedder", "minilm", "recall", "hashing", timeout=300)
    assert_one_line_error(proc, "another --embedder")
    assert "256-d" in proc.stderr and "384-d" in proc.stderr


def test_broken_pipe_is_quiet(cli):
    if shutil.which("head") is None:
        pytest.skip("no head")
    _remember_three(cli)
    cmd = " ".join([*ENTRY, "--db", str(cli.db), "--embedder", "hashing", "recall", "ramen", "--explain", "|", "head",
                    "-n", "1"])
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, env=_env())
    assert proc.stdout.startswith("#") and "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- export, import round trip


def _conversation_rows() -> list[dict]:
    return [dict(row) for row in ROWS]


@pytest.mark.parametrize("vectors", [False, True], ids=["text", "vectors"])
def test_export_then_import_into_an_empty_store_recalls_identically(cli, tmp_path, vectors):
    cli("import", str(_write_jsonl(tmp_path / "in.jsonl", _conversation_rows())), "--quiet")
    flag = ["--vectors"] if vectors else []
    exported = cli("export", *flag).stdout
    lines = [json.loads(ln) for ln in exported.splitlines()]
    assert len(lines) == 6 and {ln["namespace"] for ln in lines} == {"default", "work"}
    assert set(lines[0]) >= {"id", "text", "namespace", "speaker", "episode", "position", "time", "metadata",
                             "category"}
    assert ("embedding" in lines[0]) is vectors
    path = tmp_path / "export.jsonl"
    cli("export", *flag, "--out", str(path))
    assert path.read_text() == exported

    copy = CLI(tmp_path / "copy.db")
    assert "imported 5 turns" in copy("import", str(path), "--quiet").stdout
    assert copy("export", *flag).stdout == exported  # every field, ids included
    for query, ns in [("which cities for food?", "default"), ("airline flights", "default"),
                      ("report due", "work")]:
        args = ("recall", query, "-k", "5", "--namespace", ns, "--at", "2024-07-01", "--no-record")
        assert copy.json(*args) == cli.json(*args)


def test_export_filters_by_namespace_and_refuses_unknown_ones(cli, tmp_path):
    cli("import", str(_write_jsonl(tmp_path / "in.jsonl", _conversation_rows())), "--quiet")
    work = [json.loads(ln) for ln in cli("export", "--namespace", "work").stdout.splitlines()]
    assert [r["text"] for r in work] == ["Work notes: the quarterly report is due Friday"]
    cli.fails("export", "--namespace", "nobody", match="holds no memories")


def test_import_refuses_an_id_already_in_the_store_naming_the_line(cli, tmp_path):
    path = _write_jsonl(tmp_path / "in.jsonl", _conversation_rows())
    cli("import", str(path), "--quiet")
    cli.fails("import", str(path), match="in.jsonl:3: the id 'my-own-id' already exists in namespace 'default'")
    assert cli.json("inspect")["traces"] == 6  # nothing of the second import was written


# ----------------------------------------------------------------------------- all or nothing


_BAD_LINE_100 = [
    ({"text": "NUL \u0000 inside"}, "contains a NUL"),
    ({"text": "lone \ud800 surrogate"}, "lone surrogate"),
    ({"text": "long speaker", "speaker": "x" * 600}, "speaker must be"),
    ({"text": "duplicate", "id": "id-7"}, "turns.jsonl:100: the id 'id-7' is used again in namespace 'default' (first at /"),
    ({"text": "bad metadata", "metadata": {"k": "NUL \u0000"}}, "metadata string"),
]


@pytest.mark.parametrize("bad, match", _BAD_LINE_100, ids=["nul", "surrogate", "speaker", "dup-id", "meta-nul"])
def test_import_is_all_or_nothing_and_names_the_line(cli, tmp_path, bad, match):
    rows = [{"text": f"turn number {i}", "id": f"id-{i}", "episode": "e"} for i in range(99)]
    path = tmp_path / "turns.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n" + json.dumps(bad) + "\n")
    err = cli.fails("import", str(path), match="turns.jsonl:100: ")
    assert match.lower() in err.lower()
    if "used again" in match:
        assert err.rstrip().endswith("turns.jsonl:8)")
    assert not cli.db.exists()  # nothing written: not even a store was created
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")  # fixed: the rerun imports each turn once
    cli("import", str(path), "--quiet")
    assert cli.json("inspect")["traces"] == 99


def test_import_refuses_metadata_nested_too_deeply(cli, tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "deep", "metadata": {"k": ' + "[" * 5000 + "]" * 5000 + "}}\n")
    cli.fails("import", str(path), match="deep.jsonl:2")
    assert not cli.db.exists()


def test_a_line_without_a_time_takes_its_episodes_time(cli, tmp_path):
    rows = [{"text": "first of the old chat", "episode": "old", "time": "2024-03-01T10:00"},
            {"text": "second of the old chat, undated", "episode": "old"},
            {"text": "undated first line of another chat", "episode": "later"},
            {"text": "dated line of the other chat", "episode": "later", "time": "2024-04-02T09:00"}]
    cli("import", str(_write_jsonl(tmp_path / "t.jsonl", rows)), "--quiet")
    got = {r["text"]: r["time"] for r in (json.loads(ln) for ln in cli("export").stdout.splitlines())}
    assert got["second of the old chat, undated"] == got["first of the old chat"] == 1709287200.0
    assert got["undated first line of another chat"] == got["dated line of the other chat"]


# ----------------------------------------------------------------------------- text, stdin, list


def test_import_plain_text_one_memory_per_paragraph(cli, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Ana adopted a cat called Luna.\nShe is black and white.\n\n\n"
                    "The dentist appointment is on Friday.\n\n  \nRamen with extra garlic is the favourite.\n")
    assert "imported 3 turns" in cli("import", str(path), "--quiet").stdout
    rows = [json.loads(ln) for ln in cli("export").stdout.splitlines()]
    assert [r["text"] for r in rows] == ["Ana adopted a cat called Luna.\nShe is black and white.",
                                         "The dentist appointment is on Friday.",
                                         "Ramen with extra garlic is the favourite."]
    assert [r["metadata"] for r in rows] == [{"source": "notes.txt", "line": n} for n in (1, 5, 8)]
    assert cli.json("recall", "cat Luna", "-k", "1")[0]["text"].startswith("Ana adopted")
    # text from standard input needs --format text
    assert "imported 1 turns" in cli("import", "-", "--format", "text", "--quiet", input="piped paragraph\n").stdout


def test_remember_dash_reads_standard_input(cli):
    t = cli.json("remember", "-", "--speaker", "Ana", input="I adopted a cat called Luna\n")
    assert t["text"] == "I adopted a cat called Luna" and t["speaker"] == "Ana"
    cli.fails("remember", "-", input="   \n", match="empty")


def test_list_filters_by_speaker_episode_and_time(cli):
    _remember_three(cli)
    cli("remember", "Bob's note", "--speaker", "Bob", "--time", "2024-05-21", "--episode", "trips")
    every = [json.loads(ln) for ln in cli("list", "--json").stdout.splitlines()]
    assert [r["text"] for r in every][:1] == ["I adopted a cat called Luna"] and len(every) == 4
    bob = [json.loads(ln) for ln in cli("list", "--speaker", "Bob", "--json").stdout.splitlines()]
    assert [r["text"] for r in bob] == ["Bob's note"]
    trips = [json.loads(ln)["text"] for ln in cli("list", "--episode", "trips", "--json").stdout.splitlines()]
    assert trips == ["We went hiking in the Alps with my brother", "Bob's note"]
    since = [json.loads(ln)["text"] for ln in cli("list", "--since", "2024-05-10", "--json").stdout.splitlines()]
    assert since == ["We went hiking in the Alps with my brother", "Bob's note"]
    table = cli("list", "--limit", "1").stdout
    assert table.splitlines()[0].split() == ["id", "speaker", "text", "episode", "time"]
    assert "I adopted a cat called Luna" in table and "Bob" not in table
    assert cli("list", "--speaker", "Nobody").stdout.strip() == "nothing matches"
    cli.fails("list", "--namespace", "nobody", match="holds no memories")


# ----------------------------------------------------------------------------- reading never creates


@pytest.mark.parametrize("args", [["recall", "anything"], ["list"], ["export"], ["inspect"],
                                  ["forget", "--namespace", "x", "--yes"]])
def test_commands_that_only_read_never_create_a_store(tmp_path, args):
    typo = tmp_path / "memroy.db"
    proc = run_raw("--db", str(typo), "--embedder", "hashing", *args)
    assert_one_line_error(proc, "does not exist")
    assert str(typo) in proc.stderr
    assert not typo.exists() and list(tmp_path.iterdir()) == []


def test_the_round_trip_snippet_of_the_docs_runs(tmp_path):
    doc = (REPO / "docs" / "cli.md").read_text()
    block = doc.split("<!-- tests/test_cli.py runs this block -->\n```bash\n", 1)[1].split("```", 1)[0]
    env = _env(MEMORYWEAVE_EMBEDDER="hashing")
    old = CLI(tmp_path / "old.db")
    old("remember", "My marathon is on 4 June. Is my knee ready?", "--speaker", "Ben", "--time", "2024-05-20")
    old("remember", "Not yet: the physio says rest", "--speaker", "Ana", "--time", "2024-05-20T09:01")
    outputs = []
    for line in block.strip().splitlines():
        argv = shlex.split(line, comments=True)
        assert argv[0] == "memoryweave"
        args = argv[1:] + (["--json"] if "recall" in argv else [])
        proc = subprocess.run([*ENTRY, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert proc.returncode == 0, f"{line}\n{proc.stderr}"
        outputs.append(proc.stdout)
    recalled = json.loads(outputs[-1])
    assert recalled == old.json("recall", "How is Ben's knee?", "--no-record", "--at", "2024-05-28")


def test_the_update_block_of_the_docs_runs(tmp_path):
    """update keeps the id and the history; prune deletes what expired (docs/cli.md)."""
    import time as _time

    doc = (REPO / "docs" / "cli.md").read_text()
    block = doc.split("<!-- tests/test_cli.py runs this update block -->\n```bash\n", 1)[1].split("```", 1)[0]
    cli = CLI(tmp_path / "u.db")
    tid = None
    outputs = []
    for line in block.strip().splitlines():
        argv = shlex.split(line.replace("ID", tid or "ID"), comments=True)
        assert argv[0] == "memoryweave"
        if argv[1] == "recall":
            argv.append("--json")
        if argv[1] == "prune":
            _time.sleep(0.6)  # the --ttl 0.5 memory has expired
        proc = cli(*argv[1:])
        outputs.append(proc.stdout)
        if tid is None:
            tid = json.loads(proc.stdout)["id"]
    assert f"updated {tid} to version 2" in outputs[1] and f"{tid}@v1" in outputs[1]
    assert "4 June" in outputs[1] and "11 June" in outputs[1]  # the history, oldest first
    assert outputs[1].index("4 June") < outputs[1].rindex("11 June")
    recalled = json.loads(outputs[2])
    rows = recalled if isinstance(recalled, list) else recalled.get("results", recalled)
    assert "11 June" in json.dumps(rows) and "4 June" not in json.dumps(rows)
    assert "pruned 1 expired trace(s)" in outputs[4]
    listed = cli("list").stdout
    assert "door code" not in listed
    # the texts, not the whole JSON: a timestamp's digits can spell 4321 (a CI run's update time did)
    assert all("4321" not in r["text"] for r in json.loads(cli("recall", "door code", "--json").stdout))


def test_the_input_block_of_the_docs_runs(tmp_path):
    """remember - reads standard input, import of plain text stores a memory per paragraph,
    list filters (docs/cli.md), run by bash exactly as written."""
    doc = (REPO / "docs" / "cli.md").read_text()
    block = doc.split("<!-- tests/test_cli.py runs this input block -->\n```bash\n", 1)[1].split("```", 1)[0]
    db = tmp_path / "in.db"
    shim = "memoryweave() { " + " ".join(shlex.quote(a) for a in ENTRY) + ' "$@"; }\nset -e\n'
    proc = subprocess.run(["bash", "-c", shim + block], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env=_env(MEMORYWEAVE_DB=str(db), MEMORYWEAVE_EMBEDDER="hashing"))
    assert proc.returncode == 0, proc.stderr
    assert "my knee still hurts" in proc.stdout and "Luna" not in proc.stdout.split("imported", 1)[-1]
    stored = listed(CLI(db))
    assert [(r["text"], r["speaker"]) for r in stored] == [
        ("my knee still hurts after the run", "Ben"),
        ("Ana adopted a kitten called Luna.", None),
        ("The kitten sleeps on the keyboard.", None),
    ]
    assert [r["text"] for r in listed(CLI(db), "--speaker", "Ben")] == ["my knee still hurts after the run"]
