"""The MCP server end to end, through the SDK's own client: over stdio against a
``memoryweave mcp`` subprocess, over streamable HTTP on loopback (token, concurrency),
and in process for the scope rules (read-only, namespaces, limits)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from memoryweave_core import MemoryWeave
from memoryweave_core.embedders import HashingEmbedder
from memoryweave_core.mcp.server import build_server
from memoryweave_core.mcp.tools import MemoryTools, Scope

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789"
TOOLS = {"remember", "recall", "update", "forget", "list_recent"}

pytestmark = pytest.mark.timeout(240)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(ROOT), MEMORYWEAVE_EMBEDDER="hashing", HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    env.pop("MEMORYWEAVE_MCP_TOKEN", None)
    return env


def _command() -> list[str]:
    """The installed ``memoryweave`` script next to this interpreter, else ``python -m``."""
    script = Path(sys.executable).with_name("memoryweave")
    return [str(script)] if script.exists() else [sys.executable, "-m", "memoryweave_core.cli"]


def _data(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


def _error(result: Any) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text


# ----------------------------------------------------------------------------- stdio


async def test_stdio_end_to_end(tmp_path: Path) -> None:
    db = tmp_path / "memory.db"
    cmd = _command()
    params = StdioServerParameters(command=cmd[0], args=[*cmd[1:], "mcp", "--embedder", "hashing", "--db", str(db),
                                                         "--max-text", "500"], env=_env(), cwd=str(ROOT))
    async with Client(params, read_timeout_seconds=60) as client:
        listed = (await client.list_tools()).tools
        assert {t.name for t in listed} == TOOLS
        for tool in listed:
            assert len(tool.description or "") > 40, tool.name
            assert "namespace" not in tool.input_schema["properties"]  # one namespace per server
            assert tool.input_schema.get("additionalProperties") is False
            assert all(p.get("description") for p in tool.input_schema["properties"].values()), tool.name
        recall_schema = next(t for t in listed if t.name == "recall")
        assert {"query", "k", "filter", "min_relevance", "explain"} <= set(recall_schema.input_schema["properties"])
        assert recall_schema.output_schema is not None

        turns = [("Ana", "I adopted a kitten from the shelter, her name is Luna."),
                 ("Ben", "How is she settling in?"),
                 ("Ana", "She sleeps on my keyboard all day.")]
        ids = []
        for i, (speaker, text) in enumerate(turns):
            stored = _data(await client.call_tool("remember", {
                "text": text, "speaker": speaker, "episode": "chat-1", "time": f"2023-05-08T10:0{i}:00Z",
                "metadata": {"topic": "pets"}}))
            assert stored["text"] == text and stored["position"] == i and stored["metadata"] == {"topic": "pets"}
            ids.append(stored["id"])
        knee = _data(await client.call_tool("remember", {"text": "My marathon is on 4 June, my knee still hurts.",
                                                         "speaker": "Ben", "time": "2023-05-20"}))

        found = _data(await client.call_tool("recall", {"query": "What is the name of Ana's kitten?", "k": 2,
                                                        "explain": True}))
        top = found["results"][0]
        assert top["text"] == turns[0][1]
        assert (top["speaker"], top["episode"], top["time"]) == ("Ana", "chat-1", "2023-05-08T10:00:00Z")
        assert "relevance" in top and isinstance(top["score"], float)
        assert abs(sum(top["contributions"].values()) - top["score"]) < 1e-3
        plain = _data(await client.call_tool("recall", {"query": "knee marathon", "k": 1}))
        assert plain["results"][0]["id"] == knee["id"]
        assert plain["results"][0].get("contributions") is None

        # a bad call of every kind is a tool error, and the server keeps serving
        assert "500" in _error(await client.call_tool("remember", {"text": "x" * 501}))
        assert "valid integer" in _error(await client.call_tool("recall", {"query": "cat", "k": "many"}))
        assert "namespace" in _error(await client.call_tool("recall", {"query": "cat", "namespace": "bob"}))
        assert "unknown argument" in _error(await client.call_tool("recall", {"query": "cat", "limit": 3}))
        assert "empty" in _error(await client.call_tool("remember", {"text": "   "})).lower()
        assert "not-an-id" in _error(await client.call_tool("forget", {"ids": ["not-an-id"]}))
        assert "either ids or an episode" in _error(await client.call_tool("forget", {}))
        assert "cannot parse time" in _error(await client.call_tool("remember", {"text": "a",
                                                                                "time": "the day after never"}))
        unknown = await client.call_tool("no_such_tool", {})
        assert unknown.is_error
        pets = _data(await client.call_tool("recall", {"query": "marathon", "filter": {"topic": "pets"}}))
        assert pets["results"] and all(r["metadata"] == {"topic": "pets"} for r in pets["results"])
        recent = _data(await client.call_tool("list_recent", {"n": 2}))
        assert recent["total"] == 4 and [t["id"] for t in recent["traces"]] == [knee["id"], ids[2]]

        new = _data(await client.call_tool("update", {"id": ids[2], "text": "She sleeps on the sofa now."}))
        assert new["text"] == "She sleeps on the sofa now."
        hits = _data(await client.call_tool("recall", {"query": "where does she sleep", "k": 4}))["results"]
        texts = [h["text"] for h in hits]
        assert "She sleeps on the sofa now." in texts and turns[2][1] not in texts

        # resources: the summary, and one episode's turns in order
        summary = json.loads((await client.read_resource("memoryweave://summary")).contents[0].text)
        assert summary["namespace"] == "default" and summary["traces"] >= 4
        episode = json.loads((await client.read_resource("memoryweave://episodes/chat-1")).contents[0].text)
        assert [t["position"] for t in episode["turns"]] == sorted(t["position"] for t in episode["turns"])
        assert episode["turns"][0]["text"] == turns[0][1]

        gone = _data(await client.call_tool("forget", {"ids": [knee["id"]]}))
        assert gone["forgotten"] == 1
        after = _data(await client.call_tool("recall", {"query": "knee marathon", "k": 5}))["results"]
        assert knee["id"] not in [h["id"] for h in after]
        assert _data(await client.call_tool("forget", {"episode": "chat-1"}))["forgotten"] >= 3
        assert _data(await client.call_tool("list_recent", {}))["total"] == 0


# ----------------------------------------------------------------------------- HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _http_server(db: Path, *extra: str) -> Iterator[str]:
    port = _free_port()
    env = _env()
    env["MEMORYWEAVE_MCP_TOKEN"] = TOKEN
    proc = subprocess.Popen([*_command(), "mcp", "--http", f"127.0.0.1:{port}", "--embedder", "hashing",
                             "--db", str(db), *extra], env=env, cwd=str(ROOT),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the server exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@asynccontextmanager
async def _http_client(url: str, token: str | None = TOKEN) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with create_mcp_http_client(headers=headers) as http, \
            Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60) as client:
        yield client


async def test_http_token_tools_and_concurrent_writers(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    n_clients, per_client, from_cli = 4, 8, 150
    with _http_server(db) as url:
        async with create_mcp_http_client() as http:  # no token, then a wrong one: 401, nothing served
            init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "t", "version": "0"}}}
            accept = {"Accept": "application/json, text/event-stream"}
            assert (await http.post(url, json=init, headers=accept)).status_code == 401
            wrong = {**accept, "Authorization": "Bearer nope"}
            assert (await http.post(url, json=init, headers=wrong)).status_code == 401

        async with _http_client(url) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            assert "unknown argument" in _error(await client.call_tool("remember", {"text": "a", "who": "b"}))

        # several HTTP clients and a CLI import write the same SQLite file at once
        jsonl = tmp_path / "cli.jsonl"
        jsonl.write_text("".join(json.dumps({"text": f"cli note {i} about gardening", "speaker": "cli",
                                             "episode": f"cli-{i // 50}"}) + "\n" for i in range(from_cli)))
        command = [*_command(), "import", str(jsonl), "--db", str(db), "--embedder", "hashing", "--quiet"]
        cli = subprocess.Popen(command, env=_env(), cwd=str(ROOT), stdout=subprocess.PIPE,  # noqa: ASYNC220
                               stderr=subprocess.PIPE, text=True)

        async def writer(w: int) -> list[str]:
            async with _http_client(url) as client:
                out = []
                for i in range(per_client):
                    stored = _data(await client.call_tool("remember", {
                        "text": f"client {w} note {i} about sailing", "speaker": f"client-{w}",
                        "episode": f"http-{w}"}))
                    out.append(stored["id"])
                    await client.call_tool("recall", {"query": f"client {w} sailing", "k": 3})
                return out

        ids = await asyncio.gather(*(writer(w) for w in range(n_clients)))
        _, err = await asyncio.to_thread(cli.communicate, timeout=180)
        assert cli.returncode == 0, err

        async with _http_client(url) as client:  # the server sees what the CLI wrote
            total = _data(await client.call_tool("list_recent", {"n": 1}))["total"]
            assert total == n_clients * per_client + from_cli
            hit = _data(await client.call_tool("recall", {"query": "cli note 149 about gardening", "k": 1}))
            assert hit["results"][0]["text"] == "cli note 149 about gardening"

    with MemoryWeave(str(db), embedder=HashingEmbedder(dim=256)) as memory:
        stored = list(memory.traces("default"))
        texts = {t.text for t in stored}
        assert len(stored) == n_clients * per_client + from_cli
        assert {f"cli note {i} about gardening" for i in range(from_cli)} <= texts
        assert {f"client {w} note {i} about sailing" for w in range(n_clients) for i in range(per_client)} <= texts
        assert {t.id for t in stored} >= {i for group in ids for i in group}
        for w in range(n_clients):  # each client's episode kept its order
            positions = sorted(t.position for t in stored if t.episode == f"http-{w}")
            assert positions == list(range(per_client))


def test_http_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    env = _env()
    done = subprocess.run([*_command(), "mcp", "--http", "0.0.0.0:1", "--db", str(tmp_path / "m.db")],
                          check=False, env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "token" in done.stderr
    assert not (tmp_path / "m.db").exists()


# ----------------------------------------------------------------------------- scope, in process


@asynccontextmanager
async def _inproc(memory: MemoryWeave, **scope: Any) -> AsyncIterator[Client]:
    async with Client(build_server(MemoryTools(memory, Scope(**scope)))) as client:
        yield client


@pytest.fixture
def memory() -> Iterator[MemoryWeave]:
    m = MemoryWeave(embedder=HashingEmbedder(dim=64))
    m.add("Ana's cat is called Luna", speaker="Ana", episode="e1", namespace="ana")
    m.add("Bob's dog is called Rex", speaker="Bob", episode="e1", namespace="bob")
    yield m
    m.close()


async def test_read_only_exposes_recall_and_listing_and_writes_nothing(memory: MemoryWeave) -> None:
    before = memory.store.access_logs([t.id for t in memory.traces("ana")], "ana")
    async with _inproc(memory, namespace="ana", read_only=True) as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"recall", "list_recent"}
        assert all(t.annotations.read_only_hint for t in (await client.list_tools()).tools)
        hits = _data(await client.call_tool("recall", {"query": "cat", "k": 5}))["results"]
        assert [h["text"] for h in hits] == ["Ana's cat is called Luna"]
        assert (await client.call_tool("remember", {"text": "sneaky"})).is_error
    assert memory.count() == 2
    assert memory.store.access_logs([t.id for t in memory.traces("ana")], "ana") == before


async def test_one_namespace_unless_the_server_allows_a_choice(memory: MemoryWeave) -> None:
    async with _inproc(memory, namespace="ana") as client:
        hits = _data(await client.call_tool("recall", {"query": "dog Rex", "k": 5}))["results"]
        assert all(h["namespace"] == "ana" for h in hits)
        assert "allow-namespace-choice" in _error(await client.call_tool("forget", {"episode": "e1",
                                                                                    "namespace": "bob"}))
        assert "no episode" in _error(await client.call_tool("forget", {"episode": "nope"}))
    assert memory.count("bob") == 1
    async with _inproc(memory, namespace="ana", allow_namespace_choice=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "namespace" in tools["recall"].input_schema["properties"]
        hits = _data(await client.call_tool("recall", {"query": "dog Rex", "namespace": "bob"}))["results"]
        assert [h["text"] for h in hits] == ["Bob's dog is called Rex"]
        stored = _data(await client.call_tool("remember", {"text": "Bob walks Rex daily", "namespace": "bob"}))
        assert stored["namespace"] == "bob"
        summary = json.loads((await client.read_resource("memoryweave://namespaces/bob/summary")).contents[0].text)
        assert summary["traces"] == 2
    assert memory.count("bob") == 2 and memory.count("ana") == 1


async def test_limits_and_unsupported_arguments_are_refused_before_writing(memory: MemoryWeave) -> None:
    async with _inproc(memory, namespace="ana", max_text=40) as client:
        assert "limit of 40" in _error(await client.call_tool("remember", {"text": "y" * 41}))
        assert "metadata" in _error(await client.call_tool("remember", {"text": "ok",
                                                                        "metadata": {"k": "v" * 60}}))
        assert "limit" in _error(await client.call_tool("recall", {"query": "q" * 41}))
        assert "greater than or equal to 1" in _error(await client.call_tool("recall", {"query": "cat", "k": 0}))
        assert (await client.call_tool("recall", {"query": "cat", "min_relevance": 2})).is_error
        assert "update needs" in _error(await client.call_tool("update", {"id": "x"}))
        assert (await client.call_tool("forget", {"ids": []})).is_error
        assert _data(await client.call_tool("list_recent", {}))["total"] == 1
    assert memory.count("ana") == 1


async def test_update_supersedes_through_the_tool(memory: MemoryWeave) -> None:
    tid = next(iter(memory.traces("ana"))).id
    async with _inproc(memory, namespace="ana") as client:
        new = _data(await client.call_tool("update", {"id": tid, "text": "Ana's cat is called Nova",
                                                      "metadata": {"fixed": True}}))
        assert new["text"] == "Ana's cat is called Nova" and new["metadata"] == {"fixed": True}
        hits = _data(await client.call_tool("recall", {"query": "Ana cat name", "k": 5}))["results"]
        assert [h["text"] for h in hits] == ["Ana's cat is called Nova"]
        assert (await client.call_tool("update", {"id": "missing", "text": "t"})).is_error


async def test_filter_passes_through(memory: MemoryWeave) -> None:
    memory.add("Ana's other cat is called Sol", speaker="Ana", metadata={"kind": "pet"}, namespace="ana")
    async with _inproc(memory, namespace="ana") as client:
        hits = _data(await client.call_tool("recall", {"query": "cat", "filter": {"kind": "pet"}}))["results"]
        assert [h["text"] for h in hits] == ["Ana's other cat is called Sol"]


def test_the_docs_client_configuration_is_a_valid_command_line() -> None:
    from memoryweave_core.cli import build_parser

    text = (ROOT / "docs" / "mcp.md").read_text()
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    entry = json.loads(block)["mcpServers"]["memory"]
    assert entry["command"] == "memoryweave" and set(entry["env"]) <= {"MEMORYWEAVE_EMBEDDER", "HF_HUB_OFFLINE"}
    args = build_parser().parse_args(entry["args"])
    assert (args.command, args.namespace, args.read_only, args.http) == ("mcp", "alice", False, None)


async def test_min_relevance_passes_through(memory: MemoryWeave) -> None:
    async with _inproc(memory, namespace="ana") as client:
        everything = _data(await client.call_tool("recall", {"query": "cat", "min_relevance": 0.0}))["results"]
        assert everything and all(isinstance(h["relevance"], float) for h in everything)
        floor = max(h["relevance"] for h in everything) + 1e-6
        strict = _data(await client.call_tool("recall", {"query": "cat", "min_relevance": min(floor, 1.0)}))
        assert all(h["relevance"] >= floor for h in strict["results"])
        # "auto": the threshold fitted for the memory's model; none for this hashing embedder
        auto = _data(await client.call_tool("recall", {"query": "cat", "min_relevance": "auto"}))["results"]
        assert [h["id"] for h in auto] == [h["id"] for h in everything]
        assert (await client.call_tool("recall", {"query": "cat", "min_relevance": "high"})).is_error


async def test_recall_says_nothing_relevant_by_default(memory: MemoryWeave, monkeypatch: Any) -> None:
    """The tool's description promises "an empty list means nothing relevant is
    stored": a model reads the result, so the default is the prompt adapters'
    "auto" threshold.  Here the hashing embedder stands in for the calibrated
    model (``prompt.CALIBRATED_FOR``), as the relevance tests do."""
    from chat_lines import CHAT

    from memoryweave_core.prompt import CALIBRATED_FOR

    memory.add_many([{"text": t, "speaker": s, "episode": "e1"} for s, t in CHAT], namespace="ana")
    monkeypatch.setattr(memory.encoder.embedder, "model_name", CALIBRATED_FOR, raising=False)
    async with _inproc(memory, namespace="ana") as client:
        foreign = {"query": "What is the capital of Australia?", "k": 5}
        assert _data(await client.call_tool("recall", foreign))["results"] == []
        assert len(_data(await client.call_tool("recall", {**foreign, "min_relevance": 0}))["results"]) == 5
        assert len(_data(await client.call_tool("recall", {**foreign, "min_relevance": None}))["results"]) == 5
        known = _data(await client.call_tool("recall", {"query": "Where does Alice's sister live?", "k": 5}))
        assert any("Lisbon" in h["text"] for h in known["results"])
