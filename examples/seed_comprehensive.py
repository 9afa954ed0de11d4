"""The seed README's comprehensive example: the lower-level API, then generation.

Encodes interactions and concepts with ``MemoryEncoder``, stores them with
``ContextualMemory.add_memory``, retrieves with
``ContextualRetriever.retrieve_for_context`` and
``ContextualMemory.retrieve_memories``, inspects the ART categories, and
finally lets ``HuggingFaceAdapter`` answer with the recalled memories::

    python examples/seed_comprehensive.py            # offline: packaged MiniLM + tiny random LLaMA
    python examples/seed_comprehensive.py --model TinyLlama/TinyLlama-1.1B-Chat-v1.0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_basic import TINYLLAMA, EmbeddingModelWrapper, load_chat_model, load_embedding_model  # noqa: E402

INTERACTIONS = [
    # (speaker, message, response, additional context)
    ("user", "I'm planning a trip to Japan in April to see the cherry blossoms.",
     "April is peak sakura season, a great choice!", {"topic": "travel"}),
    ("user", "I'm allergic to peanuts, so I have to be careful with food.",
     "Noted, I'll keep that in mind for restaurant suggestions.", {"topic": "health"}),
    ("user", "My daughter Mia just started learning the piano.",
     "How exciting! Is she enjoying it?", {"topic": "family"}),
    ("user", "I work as a data engineer, mostly with Python and Spark.",
     "A busy field. Any favourite tools?", {"topic": "work"}),
]

CONCEPTS = [
    ("Hanami", "the Japanese custom of enjoying the transient beauty of cherry blossoms",
     ["sakura", "spring", "Japan"]),
    ("Apache Spark", "a distributed engine for large-scale data processing", ["big data", "Python", "clusters"]),
]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny", help=f'"tiny" (default, offline) or a hub name such as {TINYLLAMA}')
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)

    from memoryweave.core import ContextualMemory, ContextualRetriever, MemoryEncoder
    from memoryweave.integrations import HuggingFaceAdapter

    embedding_model = EmbeddingModelWrapper(load_embedding_model())
    memory = ContextualMemory(embedding_dim=384, use_art_clustering=True, vigilance_threshold=0.85)
    encoder = MemoryEncoder(embedding_model)
    retriever = ContextualRetriever(
        memory=memory,
        embedding_model=embedding_model,
        retrieval_strategy="hybrid",
        recency_weight=0.3,
        relevance_weight=0.7,
        confidence_threshold=0.1,
        semantic_coherence_check=True,  # accepted; the engine's pipeline covers it
        adaptive_retrieval=True,
        use_two_stage_retrieval=True,
        query_type_adaptation=True,
    )

    # 1. Encode and store interactions and concepts.
    for speaker, message, response, context in INTERACTIONS:
        embedding, metadata = encoder.encode_interaction(message, speaker, response=response, additional_context=context)
        index = memory.add_memory(embedding, metadata["text"], metadata)
        print(f"stored interaction #{index}: {message}")
    for concept, description, related in CONCEPTS:
        embedding, metadata = encoder.encode_concept(concept, description, related_concepts=related)
        index = memory.add_memory(embedding, metadata["text"], metadata)
        print(f"stored concept     #{index}: {concept}")

    # 2. Retrieve for the current input in its conversation.
    conversation_history = [
        {"speaker": "user", "message": "Can you help me plan some meals for my trip?", "response": "Of course!"},
    ]
    current_input = "Which foods should I avoid when eating out?"
    print(f"\nretrieve_for_context({current_input!r}):")
    for r in retriever.retrieve_for_context(current_input, conversation_history, top_k=3):
        print(f"  #{r['memory_id']}  relevance {r['relevance_score']:+.2f}  similarity {r['similarity']:.2f}  "
              f"[{r['type']}, {r.get('topic', '-')}]  {r['text'].splitlines()[0]}")

    # 3. Retrieve by embedding alone.
    query = "festival of spring flowers in Japan"
    print(f"\nretrieve_memories(encode({query!r})):")
    for index, score, metadata in memory.retrieve_memories(embedding_model.encode(query), top_k=3):
        print(f"  #{index}  score {score:+.2f}  similarity {metadata['similarity']:.2f}  {metadata['text'].splitlines()[0]}")

    # 4. ART categories of the engine.
    stats = memory.get_category_statistics()
    print(f"\nART categories (vigilance {memory.vigilance_threshold}): {stats['num_categories']}")
    for cid, size in stats["category_sizes"].items():
        print(f"  category {cid}: {size} member(s), e.g. {stats['category_labels'][cid].splitlines()[0]!r}")

    # 5. Generation with the memories.
    model, tokenizer = load_chat_model(args.model)
    adapter = HuggingFaceAdapter(
        memory_system={"memory": memory, "encoder": encoder, "retriever": retriever},
        model=model,
        tokenizer=tokenizer,
        generation_kwargs={"max_new_tokens": args.max_new_tokens, "do_sample": False},
    )
    user_input = "Can you suggest a snack for my flight to Tokyo?"
    response = adapter.generate(user_input=user_input, conversation_history=conversation_history)
    print(f"\nUser: {user_input}\nAssistant: {response}\n")
    print("=" * 25, "Prompt built by the adapter", "=" * 25)
    print(adapter.last_prompt)
    print("=" * 79)
    print(f"{len(memory)} memories stored (the exchange above included)")
    if args.model == "tiny":
        print(f"(--model tiny is a random stand-in; run with --model {TINYLLAMA} for real answers.)")


if __name__ == "__main__":
    main()
