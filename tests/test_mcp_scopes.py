"""Multi-level namespaces through the MCP tools, via the SDK's own client in process:
a namespace is a string (one level) or a JSON array of strings, recall can span
the namespaces below one (``include_descendants``), and no spelling of a
namespace ever reaches another user's memories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp import Client

from memoryweave_core import MemoryWeave
from memoryweave_core.embedders import HashingEmbedder
from memoryweave_core.mcp.server import build_server
from memoryweave_core.mcp.tools import MemoryTools, Scope

pytestmark = pytest.mark.timeout(120)

#: Where each memory lives; every text mentions tea so that a recall for tea could reach all of them.
PLACES: list[tuple[Any, str]] = [
    ("alice", "Alice drinks green tea every morning"),
    (("alice", "agent1", "run1"), "Alice asked for a tea shop in Lisbon"),
    (("alice", "agent1", "run2"), "Alice bought oolong tea"),
    (("bob", "agent1", "run1"), "Bob hates tea, he drinks coffee"),
    ("bob", "Bob's tea kettle is broken"),
    (("alicex",), "Alicex sells tea online"),
    ("alice\x1fagent1", "a one-level namespace whose label holds the separator, about tea"),
    ("alice/agent1", "a one-level namespace whose label holds a slash, about tea"),
]
ALICE = {text for ns, text in PLACES if ns == "alice" or (isinstance(ns, tuple) and ns[0] == "alice")}


def _data(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


def _error(result: Any) -> str:
    assert result.is_error, result.structured_content
    return str(result.content[0].text)


@pytest.fixture
def memory() -> Iterator[MemoryWeave]:
    m = MemoryWeave(embedder=HashingEmbedder(dim=64))
    for ns, text in PLACES:
        m.add(text, namespace=ns)
    yield m
    m.close()


@asynccontextmanager
async def _client(memory: MemoryWeave, **scope: Any) -> AsyncIterator[Client]:
    async with Client(build_server(MemoryTools(memory, Scope(**scope)))) as client:
        yield client


async def _recall(client: Client, **args: Any) -> list[dict[str, Any]]:
    return list(_data(await client.call_tool("recall", {"query": "tea", "k": 20, **args}))["results"])


async def test_every_namespace_argument_takes_a_string_or_an_array_and_the_schema_says_so(
        memory: MemoryWeave) -> None:
    async with _client(memory, namespace="alice", allow_namespace_choice=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for name, tool in tools.items():
            ns = tool.input_schema["properties"]["namespace"]
            kinds = {option.get("type") for option in ns["anyOf"]}
            assert kinds == {"string", "array", "null"}, name
            (array,) = [o for o in ns["anyOf"] if o.get("type") == "array"]
            assert array["items"] == {"type": "string"}
            assert "array of strings" in ns["description"] and '["alice"]' in ns["description"]
        span = tools["recall"].input_schema["properties"]["include_descendants"]
        assert span["type"] == "boolean" and span["default"] is False and "below" in span["description"]
        for name in ("list_recent", "forget"):
            flag = tools[name].input_schema["properties"]["include_descendants"]
            assert flag["type"] == "boolean" and flag["default"] is False, name
            assert "below" in flag["description"] and '["alicex"]' in flag["description"], name
        assert all("include_descendants" not in tools[n].input_schema["properties"] for n in ("remember", "update"))
        hit = tools["recall"].output_schema["$defs"]["HitOut"]["properties"]["namespace"]
        assert {o["type"] for o in hit["anyOf"]} == {"string", "array"}


async def test_a_prefix_spans_one_users_runs_and_never_another_users(memory: MemoryWeave) -> None:
    async with _client(memory, namespace="default", allow_namespace_choice=True) as client:
        for spelling in (["alice"], "alice"):
            hits = await _recall(client, namespace=spelling, include_descendants=True)
            assert {h["text"] for h in hits} == ALICE, spelling
            assert {("alice" if h["namespace"] == "alice" else h["namespace"][0]) for h in hits} == {"alice"}
            assert {str(h["namespace"]) for h in hits} == {"alice", str(["alice", "agent1", "run1"]),
                                                            str(["alice", "agent1", "run2"])}
        scores = [h["score"] for h in hits]
        assert scores == sorted(scores, reverse=True)  # ranked once, best first
        run = await _recall(client, namespace=["alice", "agent1"], include_descendants=True)
        assert {h["text"] for h in run} == {"Alice asked for a tea shop in Lisbon", "Alice bought oolong tea"}
        bob = await _recall(client, namespace=["bob"], include_descendants=True)
        assert {h["text"] for h in bob} == {"Bob hates tea, he drinks coffee", "Bob's tea kettle is broken"}
        # without the flag a namespace is itself alone
        assert [h["text"] for h in await _recall(client, namespace=["alice"])] == [PLACES[0][1]]
        exact = await _recall(client, namespace=["alice", "agent1", "run2"])
        assert [(h["text"], h["namespace"]) for h in exact] == [("Alice bought oolong tea",
                                                                  ["alice", "agent1", "run2"])]
        # a string is one label, whatever it holds: never read as levels
        for label in ("alice\x1fagent1", "alice/agent1"):
            hits = await _recall(client, namespace=label, include_descendants=True)
            assert [h["namespace"] for h in hits] == [label]


async def test_a_single_namespace_server_spans_its_own_tree_only(memory: MemoryWeave) -> None:
    async with _client(memory, namespace="alice") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "namespace" not in tools["recall"].input_schema["properties"]
        assert "include_descendants" in tools["recall"].input_schema["properties"]
        assert [h["text"] for h in await _recall(client)] == [PLACES[0][1]]
        assert {h["text"] for h in await _recall(client, include_descendants=True)} == ALICE
        assert "namespace" in _error(await client.call_tool("recall", {"query": "tea", "namespace": ["alice"]}))
    async with _client(memory, namespace=["alice", "agent1"]) as client:
        assert {h["text"] for h in await _recall(client, include_descendants=True)} == {
            "Alice asked for a tea shop in Lisbon", "Alice bought oolong tea"}
    async with _client(memory, namespace="alice", read_only=True) as client:
        assert {h["text"] for h in await _recall(client, include_descendants=True)} == ALICE


async def test_array_namespaces_write_list_update_and_forget_in_that_namespace(memory: MemoryWeave) -> None:
    run3 = ["alice", "agent2", "run3"]
    async with _client(memory, namespace="alice", allow_namespace_choice=True) as client:
        stored = _data(await client.call_tool("remember", {"text": "Alice wants jasmine tea", "namespace": run3}))
        assert stored["namespace"] == run3
        assert memory.count(tuple(run3)) == 1 and memory.count("alice") == 1
        listed = _data(await client.call_tool("list_recent", {"namespace": run3}))
        assert listed["namespace"] == run3 and [t["id"] for t in listed["traces"]] == [stored["id"]]
        new = _data(await client.call_tool("update", {"id": stored["id"], "text": "Alice wants white tea",
                                                      "namespace": run3}))
        assert new["namespace"] == run3
        assert "Alice wants white tea" in {h["text"] for h in await _recall(client, namespace=["alice"],
                                                                            include_descendants=True)}
        # the same id is not found through the parent namespace
        assert (await client.call_tool("forget", {"ids": [stored["id"]], "namespace": "alice"})).is_error
        gone = _data(await client.call_tool("forget", {"ids": [stored["id"]], "namespace": run3}))
        assert gone["namespace"] == run3 and gone["forgotten"] >= 1
        # "alice" and ["alice"] are the server's own namespace, on a server without a choice too
        same = _data(await client.call_tool("list_recent", {"namespace": ["alice"]}))
        assert same["namespace"] == "alice" and same["total"] == 1
    assert memory.count(tuple(run3)) == 0


async def test_malformed_namespaces_are_refused_before_anything_is_written(memory: MemoryWeave) -> None:
    before = memory.count()
    async with _client(memory, namespace="alice", allow_namespace_choice=True) as client:
        for bad in ([], [1], ["alice", ""], ["alice", None], [["alice"]], {"user": "alice"}, ["x"] * 17):
            assert (await client.call_tool("remember", {"text": "sneaky", "namespace": bad})).is_error, bad
            assert (await client.call_tool("recall", {"query": "tea", "namespace": bad,
                                                      "include_descendants": True})).is_error, bad
        assert "include_descendants" in _error(await client.call_tool(
            "recall", {"query": "tea", "include_descendants": "yes please"}))
    assert memory.count() == before


def test_the_command_line_names_levels_with_a_slash_as_every_command_does() -> None:
    from memoryweave_core.cli import build_parser

    assert build_parser().parse_args(["mcp", "--namespace", "alice/agent1"]).namespace == ("alice", "agent1")
    assert build_parser().parse_args(["mcp", "--namespace", "alice"]).namespace == "alice"
    assert Scope(namespace=["alice", "agent1"]).namespace == ("alice", "agent1")


async def _read(client: Client, uri: str) -> Any:
    import json

    return json.loads((await client.read_resource(uri)).contents[0].text)


async def test_list_recent_and_forget_span_one_users_tree_when_asked(memory: MemoryWeave) -> None:
    async with _client(memory, namespace="default", allow_namespace_choice=True) as client:
        listed = _data(await client.call_tool("list_recent", {"namespace": "alice", "n": 20,
                                                              "include_descendants": True}))
        assert listed["total"] == len(ALICE) and {t["text"] for t in listed["traces"]} == ALICE
        alone = _data(await client.call_tool("list_recent", {"namespace": "alice", "n": 20}))
        assert alone["total"] == 1 and [t["text"] for t in alone["traces"]] == [PLACES[0][1]]
        # an id from a descendant is found where it lives; an id outside the tree is refused, nothing deleted
        run2 = next(t for t in listed["traces"] if t["namespace"] == ["alice", "agent1", "run2"])
        bobs = [t.id for t in memory.traces(("bob", "agent1", "run1"))]
        refused = await client.call_tool("forget", {"ids": [run2["id"], *bobs], "namespace": "alice",
                                                    "include_descendants": True})
        assert "or below it" in _error(refused) and memory.count() == len(PLACES)
        assert (await client.call_tool("forget", {"ids": [run2["id"]], "namespace": "alice"})).is_error
        gone = _data(await client.call_tool("forget", {"ids": [run2["id"]], "namespace": "alice",
                                                       "include_descendants": True}))
        assert gone["forgotten"] == 1 and gone["namespaces"] == [["alice", "agent1", "run2"]]
        assert memory.count(("alice", "agent1", "run2")) == 0 and memory.count() == len(PLACES) - 1
        # an episode is deleted in every namespace of the tree that holds it, and only there
        for ns in (("alice", "agent1", "run1"), ("alice", "agent2"), ("bob",), ("alicex",)):
            memory.add("tea at the station", episode="trip", namespace=ns)
        trip = _data(await client.call_tool("forget", {"episode": "trip", "namespace": ["alice"],
                                                       "include_descendants": True}))
        assert trip["forgotten"] == 2
        assert sorted(trip["namespaces"]) == [["alice", "agent1", "run1"], ["alice", "agent2"]]
        assert memory.store.episode_length("bob", "trip") == 1
        assert memory.store.episode_length("alicex", "trip") == 1
        assert "or below it" in _error(await client.call_tool(
            "forget", {"episode": "trip", "namespace": "alice", "include_descendants": True}))
        assert "include_descendants" in _error(await client.call_tool(
            "list_recent", {"include_descendants": "yes please"}))


async def test_ids_held_twice_in_the_tree_are_refused_not_guessed(memory: MemoryWeave) -> None:
    twin = memory.add("Alice's tea notes", namespace=("alice", "agent1", "run1"))
    memory.add_many([{"text": "Alice's copy of the notes", "id": twin.id}], namespace=("alice", "agent2"))
    async with _client(memory, namespace="alice") as client:
        error = _error(await client.call_tool("forget", {"ids": [twin.id], "include_descendants": True}))
        assert "2 namespaces" in error and memory.count(("alice", "agent2")) == 1


async def test_a_single_namespace_server_lists_and_forgets_in_its_own_tree_only(memory: MemoryWeave) -> None:
    async with _client(memory, namespace=["alice", "agent1"]) as client:
        listed = _data(await client.call_tool("list_recent", {"include_descendants": True}))
        assert {t["text"] for t in listed["traces"]} == {"Alice asked for a tea shop in Lisbon",
                                                         "Alice bought oolong tea"}
        assert _data(await client.call_tool("list_recent", {}))["total"] == 0
        alice_own = [t.id for t in memory.traces("alice")]
        assert (await client.call_tool("forget", {"ids": alice_own, "include_descendants": True})).is_error
        assert memory.count("alice") == 1
        # its own summary resource reads a namespace with levels
        assert (await _read(client, "memoryweave://summary"))["namespace"] == ["alice", "agent1"]


async def test_resources_read_a_namespace_with_levels_by_its_path(memory: MemoryWeave) -> None:
    memory.add("Alice's run one, turn two", episode="e1", namespace=("alice", "agent1", "run1"))
    async with _client(memory, namespace="default", allow_namespace_choice=True) as client:
        templates = {t.name: t for t in (await client.list_resource_templates()).resource_templates}
        assert "alice%2Fagent1" in templates["namespace-summary"].description
        run1 = await _read(client, "memoryweave://namespaces/alice%2Fagent1%2Frun1/summary")
        assert run1["namespace"] == ["alice", "agent1", "run1"] and run1["traces"] == 2
        turns = await _read(client, "memoryweave://namespaces/alice%2Fagent1%2Frun1/episodes/e1")
        assert [t["text"] for t in turns["turns"]] == ["Alice's run one, turn two"]
        # one level is the plain label, as before; an escaped slash is a slash inside one label
        assert (await _read(client, "memoryweave://namespaces/alice/summary"))["traces"] == 1
        slash = await _read(client, "memoryweave://namespaces/alice%5C%2Fagent1/summary")
        assert slash["namespace"] == "alice/agent1" and slash["traces"] == 1
        # a path never climbs out of a user: ".." is a label, and bob's memories stay bob's
        climb = await _read(client, "memoryweave://namespaces/alice%2F..%2Fbob/summary")
        assert climb["namespace"] == ["alice", "..", "bob"] and climb["traces"] == 0
        bob = await _read(client, "memoryweave://namespaces/bob%2Fagent1%2Frun1/summary")
        assert bob["traces"] == 1 and bob["namespace"] == ["bob", "agent1", "run1"]
