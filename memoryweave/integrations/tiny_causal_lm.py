"""A tiny random causal LM: the adapter's tests, CI and demos run without downloading a model.

torch and transformers are imported when it is called, not on import.
"""

from __future__ import annotations

from typing import Any

from memoryweave_core.errors import InvalidInputError, require


def tiny_random_causal_lm(
    tokenizer: Any,
    *,
    arch: str = "llama",
    context_length: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    seed: int = 0,
) -> Any:
    """A tiny randomly initialised causal LM for ``tokenizer``, for tests, CI and demos.

    It stands in for a real chat model where none can be downloaded: it
    produces well-formed (meaningless) text.  Special tokens are suppressed
    so every generation runs to ``max_new_tokens`` with visible words.
    ``arch`` is ``"llama"`` or ``"gpt2"``.
    """
    torch = require("torch", "st")
    transformers = require("transformers", "st")
    special = dict(
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id,
        eos_token_id=tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id,
    )
    if arch == "llama":
        config = transformers.LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
            num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=context_length, tie_word_embeddings=True, initializer_range=0.5, **special,
        )
        cls = transformers.LlamaForCausalLM
    elif arch == "gpt2":
        config = transformers.GPT2Config(
            vocab_size=len(tokenizer), n_embd=hidden_size, n_layer=num_layers, n_head=4,
            n_positions=context_length, initializer_range=0.5, **special,
        )
        cls = transformers.GPT2LMHeadModel
    else:
        raise InvalidInputError(f"arch must be 'llama' or 'gpt2', got {arch!r}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = cls(config).eval()
    ids = [i for i in getattr(tokenizer, "all_special_ids", []) if i is not None and i < len(tokenizer)]
    # BERT-style vocabularies also hold placeholder tokens ("[unused12]") no text contains
    ids += [i for t, i in tokenizer.get_vocab().items() if t.startswith("[unused") and i < len(tokenizer)]
    if ids:
        model.generation_config.suppress_tokens = sorted(set(ids))
    return model
