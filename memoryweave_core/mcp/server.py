"""The MCP server: MemoryTools exposed as tools and resources through the official SDK.

This module is only the translation: names, JSON schemas and descriptions a
model reads, output models, and the mapping of MemoryWeave's typed errors to
MCP tool errors (the server answers the bad call and keeps serving).  What
the tools do lives in ``tools.py``.  Arguments a tool does not declare are
refused rather than dropped, so a model that asks for a namespace on a
single-namespace server learns that it did not get one.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.resources.templates import ResourceSecurity
from mcp.server.mcpserver.tools import Tool
from mcp_types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import MemoryWeaveError
from ..scopes import parse_path
from .tools import MAX_K, MemoryTools

#: Errors that are the caller's input (a typed MemoryWeave error or a builtin one): tool errors.
CALLER_ERRORS = (MemoryWeaveError, ValueError, TypeError, KeyError)

INSTRUCTIONS = """\
MemoryWeave is a long-term memory. Call `recall` with a plain-language question before answering anything \
that may depend on the past; it ranks memories by meaning, shared words, the conversation around them, \
who and when. `list_recent` shows the newest memories."""

WRITE_INSTRUCTIONS = """\
 Call `remember` for anything worth keeping across conversations \
(one fact, preference or turn per call, with the speaker and, when known, the date it happened). \
Correct a memory with `update` (its id comes from `recall` or `list_recent`), delete with `forget`."""

# -- argument types (descriptions are what the model reads) -----------------------------------------
Text = Annotated[str, Field(description="What to remember, in plain words: one fact, preference or turn.")]
Speaker = Annotated[
    str | None, Field(description="Who said or owns it, e.g. 'user', 'assistant' or a person's name.")
]
Episode = Annotated[
    str | None,
    Field(description="The conversation or session it belongs to. Omit it to continue the latest one "
                      "(a new one starts after 30 minutes of silence)."),
]
When = Annotated[
    str | float | None,
    Field(description="When it happened: ISO 8601 ('2024-05-02' or '2024-05-02T14:30:00Z'), "
                      "epoch seconds, or e.g. '8 May 2023'. Default: now."),
]
Metadata = Annotated[
    dict[str, Any] | None,
    Field(description="Optional JSON object of your own fields (e.g. {\"topic\": \"health\"}); "
                      "recall's filter can match them."),
]
Namespace = Annotated[
    str | list[str] | None,
    Field(description="Whose memory to use; default: the server's namespace. A string is one level "
                      "(\"alice\"); an array of strings names a multi-level namespace, outermost first "
                      "([\"alice\", \"agent1\", \"run7\"]: user, agent, run). \"alice\" and [\"alice\"] "
                      "are the same namespace."),
]
#: What "below" means, said once for every tool that can span a namespace's tree.
BELOW = ("with [\"alice\"], all of alice's agents and runs ([\"alice\", ...]); never another namespace's, "
         "such as [\"bob\"] or [\"alicex\"].")
Descendants = Annotated[
    bool,
    Field(description=f"Also search every namespace below the one used, ranked together: {BELOW} "
                      "Each result's namespace says where it came from."),
]
ListDescendants = Annotated[
    bool,
    Field(description=f"Also list the memories of every namespace below the one used, newest first "
                      f"across all of them: {BELOW} Each memory's namespace says where it lives."),
]
ForgetDescendants = Annotated[
    bool,
    Field(description=f"Also look for the ids (or the episode) in every namespace below the one used and "
                      f"delete each where it lives: {BELOW} Every id must be found before anything is deleted."),
]
Query = Annotated[str, Field(description="What to look for, as a question or a few words. Time words "
                                         "('last week', 'in May 2023') and names help.")]
K = Annotated[int, Field(ge=1, le=MAX_K, description="How many memories to return, best first.")]
Filter = Annotated[
    dict[str, Any] | None,
    Field(description="Only memories matching this filter, over metadata and the fields speaker, episode "
                      "and time. Equality {\"speaker\": \"Ana\"}, or operators $in, $ne, $gt, $gte, $lt, $lte, "
                      "$and, $or, $not, e.g. {\"topic\": {\"$in\": [\"health\", \"sport\"]}}. "
                      "Refused with an error when the installed memoryweave cannot apply it."),
]
MinRelevance = Annotated[
    Annotated[float, Field(ge=0.0, le=1.0)] | Literal["auto"] | None,
    Field(description="Leave out memories whose relevance (the estimated probability that it answers the "
                      "query, 0 to 1) is below this. The default, \"auto\", is the threshold fitted for the "
                      "memory's embedding model: it leaves nothing when nothing relevant is stored. 0 returns "
                      "k memories whatever their relevance."),
]
Explain = Annotated[bool, Field(description="Also return each pathway's contribution to the score "
                                            "(semantic, lexical, context, episode, speaker, temporal, ...).")]
TraceId = Annotated[str, Field(description="The id of the memory, as returned by recall or list_recent.")]
NewText = Annotated[str | None, Field(description="The corrected text; omit to keep the text.")]
NewMetadata = Annotated[dict[str, Any] | None,
                        Field(description="The new metadata object (replaces the old); omit to keep it.")]
Ids = Annotated[list[str] | None, Field(description="Ids of the memories to delete.")]
ForgetEpisode = Annotated[str | None, Field(description="Delete this whole conversation instead.")]
N = Annotated[int, Field(ge=1, le=MAX_K, description="How many memories to list, newest first.")]


# -- output models ------------------------------------------------------------------------------------
class MemoryOut(BaseModel):
    id: str
    text: str
    speaker: str | None
    episode: str | None
    position: int = Field(description="Turn number inside its episode, from 0.")
    time: str = Field(description="When it happened, ISO 8601 in UTC.")
    metadata: dict[str, Any]
    namespace: str | list[str] = Field(description="One level as a string, more as an array of levels.")


class HitOut(MemoryOut):
    score: float = Field(description="Fused ranking score; comparable within one recall only.")
    relevance: float | None = Field(description="Estimated probability (0-1) that this memory answers the "
                                                "query; null when the installed memoryweave has no calibrator.")
    contributions: dict[str, float] | None = Field(
        default=None, description="With explain: each pathway's share of the score (they add up to it).")


class RecallOut(BaseModel):
    namespace: str | list[str]
    results: list[HitOut]


class ForgetOut(BaseModel):
    namespace: str | list[str]
    forgotten: int = Field(description="How many stored memories were deleted.")
    ids: list[str] | None = None
    episode: str | None = None
    namespaces: list[str | list[str]] | None = Field(
        default=None, description="With include_descendants: the namespaces memories were deleted from.")


class RecentOut(BaseModel):
    namespace: str | list[str]
    total: int = Field(description="How many memories the namespace holds (with include_descendants, "
                                   "it and every namespace below it).")
    traces: list[MemoryOut]


# -- wiring -------------------------------------------------------------------------------------------
def _caller_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the caller's mistakes into tool errors with MemoryWeave's own message."""

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except CALLER_ERRORS as exc:
            raise ToolError(str(exc) or type(exc).__name__) from exc

    return wrapper


def _without_namespace(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The same tool with no ``namespace`` argument (a single-namespace server)."""
    sig = inspect.signature(fn, eval_str=True)
    fn.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[p for p in sig.parameters.values() if p.name != "namespace"]
    )
    return fn


def _strict(tool: Tool, namespaced: bool) -> Tool:
    """Refuse arguments the tool does not declare, with a message that says which ones it takes."""
    base = tool.fn_metadata.arg_model
    known = {f.alias or name for name, f in base.model_fields.items()}

    class Arguments(base):  # type: ignore[valid-type, misc]
        model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

        @model_validator(mode="before")
        @classmethod
        def _known_only(cls, data: Any) -> Any:
            unknown = sorted(set(data) - known) if isinstance(data, dict) else []
            if "namespace" in unknown and not namespaced:
                raise ValueError("this server serves one namespace only (it was not started with "
                                 "--allow-namespace-choice): leave out 'namespace'")
            if unknown:
                raise ValueError(f"unknown argument(s) {', '.join(map(repr, unknown))}; "
                                 f"{tool.name} takes {', '.join(sorted(known))}")
            return data

    tool.fn_metadata.arg_model = Arguments
    tool.parameters["additionalProperties"] = False
    return tool


def _tool_functions(t: MemoryTools) -> list[tuple[Callable[..., Any], ToolAnnotations]]:
    def remember(text: Text, speaker: Speaker = None, episode: Episode = None, time: When = None,
                 metadata: Metadata = None, namespace: Namespace = None) -> MemoryOut:
        """Store one memory (a fact, a preference, a turn of conversation) for later recall. Storing is \
immediate and needs no LLM. Returns the stored memory with its id."""
        return MemoryOut(**t.remember(text, speaker, episode, time, metadata, namespace))

    def recall(query: Query, k: K = 5, filter: Filter = None, min_relevance: MinRelevance = "auto",
               explain: Explain = False, namespace: Namespace = None,
               include_descendants: Descendants = False) -> RecallOut:
        """Find the stored memories that best answer a question, best first, each with its text, speaker, \
time, episode, score and relevance. Use it before answering anything that may depend on earlier \
conversations. An empty list means nothing relevant is stored."""
        return RecallOut(**t.recall(query, k, filter, min_relevance, explain, namespace, include_descendants))

    def update(id: TraceId, text: NewText = None, metadata: NewMetadata = None,
               namespace: Namespace = None) -> MemoryOut:
        """Correct a stored memory: its text, its metadata, or both. The corrected version replaces the old \
one in recall (the old version is kept as history). Returns the new version."""
        return MemoryOut(**t.update(id, text, metadata, namespace))

    def forget(ids: Ids = None, episode: ForgetEpisode = None, namespace: Namespace = None,
               include_descendants: ForgetDescendants = False) -> ForgetOut:
        """Delete memories for good: either the given ids or one whole episode (conversation), never \
everything at once. Unknown ids are an error and nothing is deleted."""
        return ForgetOut(**t.forget(ids, episode, namespace, include_descendants))

    def list_recent(n: N = 10, namespace: Namespace = None,
                    include_descendants: ListDescendants = False) -> RecentOut:
        """List the newest stored memories (by the time they happened), newest first, with their ids."""
        return RecentOut(**t.list_recent(n, namespace, include_descendants))

    read = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    tools: list[tuple[Callable[..., Any], ToolAnnotations]] = [(recall, read), (list_recent, read)]
    if not t.scope.read_only:
        tools += [
            (remember, ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                       open_world_hint=False)),
            (update, ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)),
            (forget, ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True,
                                     open_world_hint=False)),
        ]
    return tools


#: A namespace in a resource URI is its path (``alice/agent1``, the CLI's form:
#: ``\\/`` a slash inside a label), percent-encoded as one URI segment
#: (``alice%2Fagent1``).  It is parsed into labels, never used as a file path,
#: so the SDK's path checks (``..``, a leading ``\\``) would refuse real labels;
#: NUL is still refused.
NAMESPACE_PATH = ResourceSecurity(reject_path_traversal=False, reject_absolute_paths=False)


def _resources(server: MCPServer, t: MemoryTools) -> None:
    def read(fn: Callable[..., dict[str, Any]], *args: Any) -> str:
        try:
            return json.dumps(fn(*args), ensure_ascii=False, indent=1)
        except CALLER_ERRORS as exc:
            raise ResourceError(str(exc)) from exc

    @server.resource("memoryweave://summary", name="summary", mime_type="application/json",
                     description="What this server's memory holds: counts, speakers, recent episodes, "
                                 "largest categories and the most used memories.")
    def summary() -> str:
        return read(t.summary)

    @server.resource("memoryweave://episodes/{episode}", name="episode", mime_type="application/json",
                     description="Every turn of one episode (conversation), in order.")
    def episode(episode: str) -> str:
        return read(t.episode, episode)

    if t.scope.allow_namespace_choice:
        path = ("The namespace is its levels joined by '/' and percent-encoded as one segment "
                "(alice%2Fagent1 for [\"alice\", \"agent1\"]); a '/' inside a label is written '\\/'.")

        @server.resource("memoryweave://namespaces/{namespace}/summary", name="namespace-summary",
                         mime_type="application/json", description=f"The summary of one namespace. {path}",
                         security=NAMESPACE_PATH)
        def ns_summary(namespace: str) -> str:
            return read(t.summary, parse_path(namespace))

        @server.resource("memoryweave://namespaces/{namespace}/episodes/{episode}", name="namespace-episode",
                         mime_type="application/json", security=NAMESPACE_PATH,
                         description=f"Every turn of one episode of one namespace, in order. {path}")
        def ns_episode(namespace: str, episode: str) -> str:
            return read(t.episode, episode, parse_path(namespace))


def build_server(t: MemoryTools) -> MCPServer:
    """An MCPServer exposing ``t``'s memory within its scope (tools first, then resources)."""
    from .. import __version__

    namespaced = t.scope.allow_namespace_choice
    tools = []
    for fn, hints in _tool_functions(t):
        wrapped = _caller_errors(fn)
        if not namespaced:
            wrapped = _without_namespace(wrapped)
        tool = Tool.from_function(wrapped, name=fn.__name__, description=inspect.getdoc(fn),
                                  annotations=hints, structured_output=True)
        tools.append(_strict(tool, namespaced))
    scope = f"namespace {t.scope.namespace!r}" + (" (others on request)" if namespaced else "")
    server = MCPServer(
        "memoryweave",
        title="MemoryWeave",
        description=f"Long-term memory, {scope}{', read-only' if t.scope.read_only else ''}.",
        instructions=INSTRUCTIONS + ("" if t.scope.read_only else WRITE_INSTRUCTIONS),
        version=__version__,
        tools=tools,
        log_level="WARNING",
    )
    _resources(server, t)
    return server
