"""``HuggingFaceAdapter``: a Hugging Face causal LM that recalls before it replies and remembers after.

Prompt building, fitting it to the context window and generation live here;
see :mod:`memoryweave.integrations` for a turn's steps.  torch and
transformers are imported when the adapter generates, not on import.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Iterable, Iterator, Mapping

from memoryweave_core.errors import InvalidInputError, require
from memoryweave_core.prompt import DEFAULT_MIN_RELEVANCE, MinRelevance, fetch_size, relevance_kwargs, select_for_prompt
from memoryweave_core.recollection import Recollection
from memoryweave_core.trace import check_text

from ..core import history_messages
from .chat_prompt import _alternate, _memory_line, _not_in
from .memory_system import _resolve

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant with a long-term memory. "
    "Use the remembered facts below when they are relevant to the user's message."
)


class ContextTooLongError(InvalidInputError):
    """The user input alone does not fit the model's context window."""


class HuggingFaceAdapter:
    """A Hugging Face causal LM that remembers.

    Parameters
    ----------
    memory_system
        The seed's dict, a MemoryWeave, a ContextualMemory or a ContextualRetriever.
    model, tokenizer
        A transformers causal LM (``AutoModelForCausalLM``) and its tokenizer.
        The model stays where it is (CPU, CUDA, or spread by ``device_map``);
        inputs are moved to the device of its input embeddings.
    system_prompt : str
        Instructions put before the recalled memories.
    top_k : int
        How many memories to recall per turn (fewer when the context is short).
    min_relevance : float, "auto" or None
        Leave out recalled memories whose calibrated relevance (the
        probability of holding evidence) is below this, and recall nothing
        when the memory holds nothing for the input (the engine's
        ``recall(min_relevance=...)``, as the other prompt adapters do).
        "auto" (the default) is the shipped prompt threshold where the
        memory embeds with the model relevance was calibrated for, and no
        threshold otherwise; None keeps all ``top_k``.
    history_turns : int
        How many of the latest history messages to show (fewer when short).
    max_new_tokens : int
        Default generation length, reserved out of the context window.
    max_context_tokens : int, optional
        Override the context length (default: ``model.config.max_position_embeddings``,
        else ``tokenizer.model_max_length``).
    generation_kwargs : dict, optional
        Defaults for ``model.generate`` (a call's own ``generation_kwargs`` win).
    remember : bool
        Store each exchange in memory (user input and reply, one episode per adapter).
    episode : str, optional
        Name of the current episode (a fresh one per adapter by default; see :meth:`new_episode`).

    After each call, ``last_prompt`` holds the prompt given to the model,
    ``last_memories`` the recalled memories that made it into the prompt,
    and ``last_response`` the reply.
    """

    def __init__(
        self,
        memory_system: Any = None,
        model: Any = None,
        tokenizer: Any = None,
        *,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        top_k: int = 5,
        min_relevance: MinRelevance = DEFAULT_MIN_RELEVANCE,
        history_turns: int = 10,
        max_new_tokens: int = 128,
        max_context_tokens: int | None = None,
        generation_kwargs: Mapping[str, Any] | None = None,
        remember: bool = True,
        episode: str | None = None,
    ) -> None:
        if model is None or tokenizer is None:
            raise InvalidInputError("HuggingFaceAdapter needs a model and its tokenizer")
        self.memory, self.retriever = _resolve(memory_system)
        self.model = model
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt or ""
        self.top_k = int(top_k)
        self.min_relevance = min_relevance
        self.history_turns = int(history_turns)
        self.max_new_tokens = int(max_new_tokens)
        self.max_context_tokens = max_context_tokens
        self.generation_kwargs = dict(generation_kwargs or {})
        self.remember = remember
        self.episode = episode or f"chat-{uuid.uuid4().hex[:8]}"
        self.last_prompt: str | None = None
        self.last_memories: list[dict[str, Any]] = []
        self.last_response: str | None = None

    # -- public API ----------------------------------------------------------------
    def generate(
        self,
        user_input: str,
        conversation_history: Iterable[Any] | None = None,
        generation_kwargs: Mapping[str, Any] | None = None,
    ) -> str:
        """Reply to ``user_input`` with the help of memory; returns only the new text."""
        inputs, kwargs = self._prepare(user_input, conversation_history, generation_kwargs)
        torch = require("torch", "st")
        with torch.inference_mode():
            output = self.model.generate(**inputs, **kwargs)
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        response = self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
        return self._finish(user_input, response)

    def generate_stream(
        self,
        user_input: str,
        conversation_history: Iterable[Any] | None = None,
        generation_kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = 600.0,
    ) -> Iterator[str]:
        """Like :meth:`generate`, but yields text chunks as they are generated.

        ``model.generate`` runs in a thread feeding a ``TextIteratorStreamer``;
        the exchange is remembered once the stream is exhausted.  Errors in
        the generation thread are re-raised here.
        """
        transformers = require("transformers", "st")
        inputs, kwargs = self._prepare(user_input, conversation_history, generation_kwargs)
        streamer = transformers.TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=timeout
        )
        failure: list[BaseException] = []

        def run() -> None:
            torch = require("torch", "st")
            try:
                with torch.inference_mode():
                    self.model.generate(**inputs, **kwargs, streamer=streamer)
            except BaseException as exc:  # surface it in the consuming thread
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, name="memoryweave-generate", daemon=True)
        thread.start()
        chunks: list[str] = []
        try:
            for chunk in streamer:
                if chunk:
                    chunks.append(chunk)
                    yield chunk
        finally:
            thread.join()
        if failure:
            raise failure[0]
        self._finish(user_input, "".join(chunks).strip())

    def new_episode(self, episode: str | None = None) -> str:
        """Start a new conversation episode (later exchanges are stored in it)."""
        self.episode = episode or f"chat-{uuid.uuid4().hex[:8]}"
        return self.episode

    @property
    def device(self) -> Any:
        """Where inputs go: the device of the model's input embeddings."""
        try:
            return self.model.get_input_embeddings().weight.device
        except Exception:
            dev = getattr(self.model, "device", None)
            if dev is not None:
                return dev
            return next(self.model.parameters()).device

    @property
    def context_length(self) -> int:
        """Tokens the model can attend to (prompt plus generated tokens)."""
        if self.max_context_tokens:
            return int(self.max_context_tokens)
        cfg = getattr(self.model, "config", None)
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
            value = getattr(cfg, name, None)
            if isinstance(value, int) and value > 0:
                return value
        value = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(value, int) and 0 < value < 10**8:
            return value
        return 2048

    # -- prompt construction ---------------------------------------------------------
    def recall(self, user_input: str, conversation_history: Iterable[Any] | None = None) -> list[dict[str, Any]]:
        """The memories recalled for this input and history (most relevant first).

        Near-duplicates share one slot and filler comes after every fact
        (:func:`memoryweave_core.prompt.select_for_prompt`).  Memories whose
        text is a message shown in the prompt's history are left out of the
        prompt by :meth:`build_prompt` (but come back when trimming drops
        that message)."""
        if self.top_k < 1 or len(self.memory) == 0:
            return []
        history = history_messages(conversation_history)
        weave, ns = self.memory.weave, self.memory.namespace
        threshold = relevance_kwargs(self.min_relevance, weave).get("min_relevance")
        found = self.retriever.retrieve_for_context(
            user_input, history, top_k=fetch_size(self.top_k, len(history) + 1), min_relevance=threshold
        )
        # Repeats share one slot and filler goes last (the core's prompt selection);
        # memories that are history messages stay for build_prompt to hide.
        recs = [Recollection(weave.get(m["id"], namespace=ns), m["relevance_score"], relevance=m["relevance"])
                for m in found]
        ordered = select_for_prompt(recs, len(recs), query=user_input, exclude_texts=[user_input])
        by_id = {m["id"]: m for m in found}
        in_history = {m["content"].strip() for m in history}
        out: list[dict[str, Any]] = []
        new = 0
        for r in ordered:
            if r.trace.text.strip() in in_history or new < self.top_k:
                new += r.trace.text.strip() not in in_history
                out.append(by_id[r.trace.id])
        return out

    def build_prompt(
        self,
        user_input: str,
        history: list[dict[str, str]],
        memories: list[dict[str, Any]],
        *,
        system: bool = True,
    ) -> str:
        """The prompt text for these parts (no trimming; see :meth:`fit_prompt`)."""
        system_text = self.system_prompt if system else ""
        memories = _not_in(memories, history)
        if memories:
            lines = "\n".join(f"- {_memory_line(m)}" for m in memories)
            system_text = (system_text + "\n\n" if system_text else "") + f"Remembered from earlier conversations:\n{lines}"
        if self._has_chat_template():
            messages = ([{"role": "system", "content": system_text}] if system_text else []) + _alternate(
                history + [{"role": "user", "content": user_input}]
            )
            return self._apply_template(messages)
        parts = [system_text] if system_text else []
        convo = [f"{'User' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in history if m["role"] != "system"]
        parts.append("\n".join(convo + [f"User: {user_input}", "Assistant:"]))
        return "\n\n".join(parts)

    def count_tokens(self, prompt: str) -> int:
        return len(self.tokenizer(prompt, add_special_tokens=self._add_special_tokens())["input_ids"])

    def fit_prompt(
        self,
        user_input: str,
        history: list[dict[str, str]],
        memories: list[dict[str, Any]],
        budget: int,
    ) -> tuple[str, list[dict[str, str]], list[dict[str, Any]]]:
        """Shrink the prompt until it fits ``budget`` tokens; the user input is never cut.

        Order of sacrifice: first, by turns, the weakest memory (keeping the
        best one) and the oldest history message (keeping the last
        exchange); then the rest of the history, oldest first; then the best
        memory; then the system prompt.  If the user input alone does not
        fit, ContextTooLongError.
        """
        memories = list(memories)
        history = list(history)
        system = True
        turn = 0
        while True:
            prompt = self.build_prompt(user_input, history, memories, system=system)
            n = self.count_tokens(prompt)
            shown = _not_in(memories, history)
            if n <= budget:
                return prompt, history, shown
            can_mem, can_hist = len(shown) > 1, len(history) > 2
            if can_mem and (turn % 2 == 0 or not can_hist):
                memories.remove(shown[-1])
            elif can_hist:
                history.pop(0)
            elif history:
                history.pop(0)
            elif shown:
                memories.remove(shown[-1])
            elif system and self.system_prompt:
                system = False
            else:
                raise ContextTooLongError(
                    f"the user input needs {n} prompt tokens but only {budget} fit "
                    f"(context {self.context_length} minus max_new_tokens)"
                )
            turn += 1

    # -- internals ----------------------------------------------------------------------
    def _has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def _add_special_tokens(self) -> bool:
        # A chat template writes its own special tokens (BOS) into the text.
        return not self._has_chat_template()

    def _apply_template(self, messages: list[dict[str, str]]) -> str:
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except Exception:
            if not messages or messages[0]["role"] != "system":
                raise
            # Templates without a system role (Gemma, Mistral...): fold it into the first user turn.
            system, rest = messages[0]["content"], messages[1:]
            first = next(i for i, m in enumerate(rest) if m["role"] == "user")
            rest[first] = {"role": "user", "content": f"{system}\n\n{rest[first]['content']}"}
            return self.tokenizer.apply_chat_template(rest, tokenize=False, add_generation_prompt=True)

    def _prepare(
        self, user_input: str, conversation_history: Any, generation_kwargs: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        check_text(user_input, "user_input")
        kwargs = {"max_new_tokens": self.max_new_tokens, **self.generation_kwargs, **dict(generation_kwargs or {})}
        max_new = int(kwargs["max_new_tokens"])
        budget = self.context_length - max_new
        if budget < 1:
            raise ContextTooLongError(f"max_new_tokens={max_new} leaves no room in a {self.context_length}-token context")
        history = history_messages(conversation_history)
        if self.history_turns >= 0:
            history = history[-self.history_turns :] if self.history_turns else []
        memories = self.recall(user_input, conversation_history)
        prompt, _, kept = self.fit_prompt(user_input, history, memories, budget)
        self.last_prompt, self.last_memories = prompt, kept
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=self._add_special_tokens())
        device = self.device
        inputs = {"input_ids": enc["input_ids"].to(device)}
        if "attention_mask" in enc:
            inputs["attention_mask"] = enc["attention_mask"].to(device)
        gen_cfg = getattr(self.model, "generation_config", None)
        if "pad_token_id" not in kwargs and getattr(gen_cfg, "pad_token_id", None) is None:
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
            if pad is not None:
                kwargs["pad_token_id"] = pad
        return inputs, kwargs

    def _finish(self, user_input: str, response: str) -> str:
        self.last_response = response
        if self.remember:
            items = [{"text": user_input, "speaker": "user", "episode": self.episode, "metadata": {"source": "huggingface_adapter"}}]
            if response.strip():
                items.append({"text": response, "speaker": "assistant", "episode": self.episode, "metadata": {"source": "huggingface_adapter"}})
            self.memory.weave.add_many(items, namespace=self.memory.namespace)
        return response
