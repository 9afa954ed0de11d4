"""Memory-augmented generation with Hugging Face causal language models.

::

    from memoryweave.integrations import HuggingFaceAdapter

    adapter = HuggingFaceAdapter(memory_system=memory_system, model=model, tokenizer=tokenizer)
    reply = adapter.generate(user_input="What is my cat called?", conversation_history=history)
    for chunk in adapter.generate_stream("And how old is she?"):
        print(chunk, end="", flush=True)

``memory_system`` is the seed's dict ``{"memory": ContextualMemory,
"encoder": MemoryEncoder, "retriever": ContextualRetriever}``, or a
``MemoryWeave``, a ``ContextualMemory`` or a ``ContextualRetriever``.

Each turn: recall memories relevant to the input and the recent history,
build the prompt (the tokenizer's chat template when it has one, a plain
"User:/Assistant:" template otherwise), fit it to the model's context by
dropping the least relevant memories and then the oldest history (never the
user input), generate, decode only the new tokens, and remember the user
input and the reply as two traces of the adapter's current episode.

torch and transformers are imported only when an adapter is used
(``pip install 'memoryweave[st]'``).

Layout: the adapter and its error (:mod:`.huggingface_adapter`), how a
``memory_system`` argument becomes a memory and a retriever
(:mod:`.memory_system`), the prompt's text helpers and a chat template
(:mod:`.chat_prompt`), and a tiny random model for tests and demos
(:mod:`.tiny_causal_lm`).
"""

from .chat_prompt import ZEPHYR_CHAT_TEMPLATE
from .huggingface_adapter import DEFAULT_SYSTEM_PROMPT as DEFAULT_SYSTEM_PROMPT
from .huggingface_adapter import ContextTooLongError, HuggingFaceAdapter
from .tiny_causal_lm import tiny_random_causal_lm

__all__ = ["ContextTooLongError", "HuggingFaceAdapter", "tiny_random_causal_lm", "ZEPHYR_CHAT_TEMPLATE"]
