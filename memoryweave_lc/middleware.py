"""MemoryWeaveMiddleware: long-term memory for ``langchain.agents.create_agent``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Awaitable, Callable

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime

from memoryweave_core import MemoryWeave, RecallResult, Recollection, prompt
from memoryweave_core.errors import InvalidInputError
from memoryweave_core.prompt import DEFAULT_MIN_RELEVANCE, MinRelevance
from memoryweave_core.prompt_recall import PromptRecall, arecall_for_prompt, recall_for_prompt
from memoryweave_core.scopes import Namespace

DEFAULT_HEADER = "Things you remember about this user from earlier conversations (most relevant first):"


class MemoryWeaveMiddleware(AgentMiddleware):
    """Recall into the system prompt before each model call; remember each finished turn.

    >>> agent = create_agent(model, tools, middleware=[MemoryWeaveMiddleware(memory)])
    >>> agent.invoke({"messages": [("user", "hi")]}, {"configurable": {"user_id": "alice"}})

    **Namespaces.**  One scheme is shared by the middleware, the store and
    the retriever (:mod:`memoryweave_core.scopes`): a user's memories live in
    the MemoryWeave namespace named by their id (``"alice"``), which is the
    store's namespace tuple ``("alice",)`` and the retriever's
    ``namespace="alice"``.  Facts put into the store under ``("alice",)`` are
    recalled by the middleware beside the turns it remembers; with
    ``include_descendants=True`` so are those under ``("alice", "facts")``
    or any deeper namespace of the user (docs/langchain.md shows an agent
    doing both).  Any user id is safe: labels are escaped, never split.

    The user's id is read from the runtime context (attribute or key
    ``user_key``) or else from ``config["configurable"]``.  A run without one
    raises InvalidInputError before anything is recalled or written, unless
    ``default_namespace=`` names a shared namespace explicitly: silently
    pooling every anonymous user's turns in one place would leak them to
    each other.  ``namespace=`` (a function of the Runtime returning a
    namespace, or None to fall back the same way) chooses it yourself.  The
    conversation thread (``thread_id``) becomes the episode.

    ``budget_tokens`` caps what the middleware adds to the system prompt, in
    whitespace words: the memories carrying the most relevance per word that
    fit (:func:`memoryweave_core.prompt.pack`), rather than the first ``k``.

    ``template`` is how one memory reads in the prompt
    (:func:`memoryweave_core.prompt.memory_line`): by default when it was
    said, by whom, and what, as in the LlamaIndex block, so the model can
    tell a correction from what it corrects.
    """

    def __init__(
        self,
        memory: MemoryWeave,
        *,
        k: int = 5,
        user_key: str = "user_id",
        default_namespace: Namespace | None = None,
        namespace: Callable[[Runtime[Any] | None], Namespace | None] | None = None,
        header: str = DEFAULT_HEADER,
        user_speaker: str = "user",
        ai_speaker: str = "assistant",
        min_relevance: MinRelevance = DEFAULT_MIN_RELEVANCE,
        include_descendants: bool = False,
        budget_tokens: int | None = None,
        template: str = prompt.MEMORY_TEMPLATE,
    ) -> None:
        super().__init__()
        self.template = prompt.check_template(template)
        self.memory = memory
        self.k = k
        self.user_key = user_key
        self.default_namespace = default_namespace
        self.namespace_fn = namespace
        self.header = header
        self.user_speaker = user_speaker
        self.ai_speaker = ai_speaker
        self.min_relevance = prompt.check_min_relevance(min_relevance)
        self.include_descendants = include_descendants
        self.budget_tokens = budget_tokens
        self.tools = []

    # -- where -----------------------------------------------------------------
    def namespace(self, runtime: Runtime[Any] | None) -> Namespace:
        """The namespace of the user this run is for."""
        if self.namespace_fn is not None:
            ns = self.namespace_fn(runtime)
            if ns is not None:
                return ns
        else:
            context = getattr(runtime, "context", None)
            user = context.get(self.user_key) if isinstance(context, Mapping) else getattr(context, self.user_key, None)
            if user is None:
                user = _configurable().get(self.user_key)
            if user is not None:
                return str(user)
        if self.default_namespace is None:
            raise InvalidInputError(
                f"MemoryWeaveMiddleware: this run names no user (no {self.user_key!r} in the runtime context or "
                f"config['configurable']{' and namespace= returned None' if self.namespace_fn else ''}); pass one, "
                "or give default_namespace= to share one namespace between all such runs"
            )
        return self.default_namespace

    # -- recall ----------------------------------------------------------------
    def _recall(self, request: ModelRequest) -> ModelRequest:
        ask = self._ask(request)
        return request if ask is None else self._with(request, recall_for_prompt(self.memory, ask))

    async def _arecall(self, request: ModelRequest) -> ModelRequest:
        """:meth:`_recall` through the async core."""
        ask = self._ask(request)
        return request if ask is None else self._with(request, await arecall_for_prompt(self.memory, ask))

    def _ask(self, request: ModelRequest) -> PromptRecall | None:
        """What to recall for this model call (None: no user text to recall for)."""
        human = _last(request.messages, HumanMessage)
        query = human.text if human is not None else ""
        if not query.strip():
            return None
        return PromptRecall(
            query, self.k, self.namespace(request.runtime), shown=[m.text for m in request.messages if m.text.strip()],
            min_relevance=self.min_relevance, include_descendants=self.include_descendants,
            budget_tokens=self.budget_tokens, render=self._line,
            # a memory counts as used once per turn, not once per model call of a tool loop
            touch=request.messages[-1] is human,
        )

    def _with(self, request: ModelRequest, found: RecallResult) -> ModelRequest:
        if not found:
            return request
        return request.override(system_message=_append(request.system_message, self.render(found)))

    def render(self, found: RecallResult) -> str:
        """The text added to the system prompt."""
        lines = [self._line(r) for r in found]
        return "\n".join([self.header, *lines])

    def _line(self, rec: Recollection) -> str:
        """One memory as the system prompt shows it (what ``budget_tokens`` counts)."""
        return f"- {prompt.memory_line(rec, self.template)}"

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        return handler(self._recall(request))

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> ModelResponse:
        return await handler(await self._arecall(request))

    # -- remember --------------------------------------------------------------
    def after_agent(self, state: AgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        namespace, items = self._turn(state, runtime)
        if items:
            self.memory.add_many(items, namespace=namespace)
        return None

    async def aafter_agent(self, state: AgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        namespace, items = self._turn(state, runtime)
        if items:
            await self.memory.aadd_many(items, namespace=namespace)
        return None

    def _turn(self, state: AgentState, runtime: Runtime[Any]) -> tuple[Namespace, list[dict[str, Any]]]:
        """The namespace and the items of the turn just finished (the user's message and the answer)."""
        namespace = self.namespace(runtime)  # refused before anything is written
        messages = state.get("messages") or []
        ai = messages[-1] if messages and isinstance(messages[-1], AIMessage) else None
        human = _last(messages, HumanMessage)
        turn = [(self.user_speaker, human), (self.ai_speaker, ai)]
        items = [{"speaker": who, "text": m.text} for who, m in turn if m is not None and m.text.strip()]
        episode = _configurable().get("thread_id")
        for item in items:
            item["episode"] = None if episode is None else str(episode)
        return namespace, items


def _configurable() -> Mapping[str, Any]:
    try:
        return get_config().get("configurable") or {}
    except RuntimeError:  # outside a LangGraph run
        return {}


def _last(messages: list[AnyMessage], kind: type) -> Any:
    return next((m for m in reversed(messages) if isinstance(m, kind)), None)


def _append(system: SystemMessage | None, text: str) -> SystemMessage:
    if system is None:
        return SystemMessage(content=text)
    if isinstance(system.content, str):
        return SystemMessage(content=f"{system.content}\n\n{text}" if system.content else text)
    return SystemMessage(content=[*system.content, {"type": "text", "text": text}])
