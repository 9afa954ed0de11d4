"""OnnxEmbedder: a mean-pooling sentence-transformers model run by ONNX Runtime.

PyTorch's eager CPU path spends much of a small model's time outside the
matrix products; ONNX Runtime runs the same graph with fused kernels and
gives the same vectors up to float rounding (README, "Ingest speed").  The
graph (encoder, mean pooling, L2 normalisation) is exported once with
``torch.onnx`` from the model's local directory, offline, and cached under
the user cache dir; later loads need only ``onnxruntime`` and ``tokenizers``.
Install with ``pip install 'memoryweave[st,onnx]'`` and set
``MEMORYWEAVE_RUNTIME=onnx`` (or ``auto``) to make it the default model.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import progress
from .batching import length_batches
from .errors import InvalidInputError, MissingDependencyError, require
from .late_chunking import TokenStateReader
from .trace import check_vectors

#: Bumped when the exported graph changes, so stale cached exports are not reused
#: (2: the token states are a second output, for late chunking; 3: eager attention).
EXPORT_VERSION = 3
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_cache_dir() -> Path:
    """Where exported models live: ``$MEMORYWEAVE_ONNX_CACHE``, else the user cache dir."""
    explicit = os.environ.get("MEMORYWEAVE_ONNX_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memoryweave" / "onnx"


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _check_mean_pooling(model_dir: Path) -> None:
    """The exported graph mean-pools; refuse a model that pools another way."""
    pooling = _read_json(model_dir / "1_Pooling" / "config.json")
    if pooling and not pooling.get("pooling_mode_mean_tokens", False):
        raise InvalidInputError(f"{model_dir} does not mean-pool; the ONNX runtime only exports mean-pooling models")


def _fingerprint(model_dir: Path) -> str:
    """Names, sizes and modification times of the model's files: a changed model re-exports."""
    h = hashlib.sha1(f"v{EXPORT_VERSION}|{model_dir.resolve()}".encode())
    for f in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(model_dir)}|{st.st_size}|{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def export_onnx(model_dir: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The cached ONNX file for ``model_dir``, exporting it first if needed.

    The export writes to a temporary file and renames it, so a crash or a
    concurrent export never leaves a half-written model behind.
    """
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise MissingDependencyError(f"{model_dir} is not a local model directory (no config.json)")
    _check_mean_pooling(model_dir)
    target = Path(cache_dir or onnx_cache_dir()) / f"{model_dir.name}-{_fingerprint(model_dir)}.onnx"
    if target.is_file():
        return target
    torch = require("torch", "st")
    require("onnx", "onnx")
    transformers = require("transformers", "st")
    # Eager attention exports as plain products and a softmax; the default
    # (scaled_dot_product_attention) adds NaN guards on every layer that
    # ONNX Runtime runs as separate steps (benchmarks/results/onnx_attention.json).
    model = transformers.AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    module: Any = torch.nn.Module  # torch arrives through require(): Any to the type checker

    class Pooled(module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1), hidden

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}

    def export(path: str) -> None:
        with torch.no_grad():
            torch.onnx.export(
                Pooled(model), (sample, sample, torch.zeros_like(sample)), path,
                input_names=list(_INPUTS), output_names=["embedding", "token_embeddings"],
                dynamic_axes={**axes, "embedding": {0: "batch"}, "token_embeddings": {0: "batch", 1: "tokens"}},
                opset_version=17, dynamo=False,
            )

    return write_atomically(target, export)


def write_atomically(target: Path, write: Callable[[str], None]) -> Path:
    """``write`` a temporary file beside ``target``, then rename it into place:
    a crash or a concurrent writer never leaves half a file at ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


class OnnxEmbedder(TokenStateReader):
    """A local sentence-transformers model directory (mean pooling) on ONNX Runtime.

    Texts are tokenised once and grouped by token count
    (:func:`~memoryweave_core.batching.length_batches`), so a batch pads to
    similar lengths: a conversation's session is a few dozen turns of very
    different lengths, and on the CPU padding them to the longest costs more
    than the extra calls (benchmarks/bench_ingest.py).
    """

    def __init__(
        self, model_dir: str | Path, *, batch_size: int = 8, cache_dir: str | Path | None = None,
        threads: int | None = None,
    ) -> None:
        ort = require("onnxruntime", "onnx")
        tokenizers = require("tokenizers", "st")
        model_dir = Path(model_dir)
        self.path = export_onnx(model_dir, cache_dir)
        self.batch_size = batch_size
        self.dim = int(_read_json(model_dir / "config.json")["hidden_size"])
        max_length = int(_read_json(model_dir / "sentence_bert_config.json").get("max_seq_length", 256))
        self.tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._pieces = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))  # no padding, no truncation
        self._pieces.no_padding()
        self._pieces.no_truncation()
        #: Late chunking's span budget (SpanPooler): the sequence length less [CLS] and [SEP].
        self.max_tokens = max_length - 2
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.no_padding()  # each batch is padded to its own longest text in embed
        self._pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        for rows in length_batches([len(t) for t in ids], self.batch_size):
            width = len(ids[rows[0]])  # the batch's longest: length_batches puts it first
            input_ids = np.full((len(rows), width), self._pad_id, np.int64)
            mask = np.zeros((len(rows), width), np.int64)
            for r, i in enumerate(rows):
                input_ids[r, : len(ids[i])] = ids[i]
                mask[r, : len(ids[i])] = 1
            feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
            out[rows] = self.session.run(["embedding"], feed)[0]
            progress.advance(len(rows))
        return check_vectors(out, self.dim, n=len(texts), what="embedding") if texts else out

    def _turn_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._pieces.encode_batch(list(texts), add_special_tokens=False)]

    def _hidden(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        return self.session.run(["token_embeddings"], feed)[0]

    def _special_ids(self) -> tuple[int, int]:
        cls_id, sep_id = self._pieces.token_to_id("[CLS]"), self._pieces.token_to_id("[SEP]")
        if cls_id is None or sep_id is None:
            raise InvalidInputError(f"{self.path.name}: reading token states needs a [CLS]/[SEP] vocabulary")
        return cls_id, sep_id
