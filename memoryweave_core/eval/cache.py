"""A disk cache for embeddings, keyed by model name + sha1 of the text.

One SQLite file per model under ``~/.cache/memoryweave/embeddings/`` (or
``$MEMORYWEAVE_CACHE``); rows are float32 bytes.  Only texts missing from the
cache are sent to the embedder, in one batched call.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from pathlib import Path
from typing import Any, Sequence

import numpy as np


def default_cache_dir() -> Path:
    base = os.environ.get("MEMORYWEAVE_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "memoryweave" / "embeddings"


def cache_key(text: str) -> str:
    """The row key of ``text``: its sha1."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    def __init__(self, model_name: str, directory: str | Path | None = None) -> None:
        directory = Path(directory) if directory else default_cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_name).strip("_") or "model"
        self.path = directory / f"{safe}.sqlite"
        self.model_name = model_name
        self._db = sqlite3.connect(str(self.path), timeout=60)
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (k TEXT PRIMARY KEY, v BLOB)")
        self._db.commit()

    def get_many(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        keys = list({cache_key(t) for t in texts})
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 900):
            chunk = keys[start : start + 900]
            rows = self._db.execute(f"SELECT k, v FROM emb WHERE k IN ({','.join('?' * len(chunk))})", chunk)
            for k, v in rows:
                found[k] = np.frombuffer(v, dtype=np.float32)
        return found

    def put_many(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        self._db.executemany("INSERT OR REPLACE INTO emb (k, v) VALUES (?, ?)",
                             [(cache_key(t), vectors[i].tobytes()) for i, t in enumerate(texts)])
        self._db.commit()

    def embed(self, texts: Sequence[str], embedder: Any, *, batch: int = 256, progress: bool = False) -> np.ndarray:
        """Vectors for ``texts`` (``[n, dim]`` float32), embedding only the misses."""
        texts = list(texts)
        found = self.get_many(texts)
        missing = list(dict.fromkeys(t for t in texts if cache_key(t) not in found))
        if missing:
            if embedder is None:
                raise RuntimeError(f"{len(missing)} texts are not cached and no embedder was given")
            bar = None
            if progress:
                try:
                    from tqdm import tqdm
                    bar = tqdm(total=len(missing), desc="embedding", unit="text")
                except ImportError:
                    bar = None
            for start in range(0, len(missing), batch):
                chunk = missing[start : start + batch]
                vecs = np.asarray(embedder.embed(chunk), dtype=np.float32)
                self.put_many(chunk, vecs)
                for t, v in zip(chunk, vecs):
                    found[cache_key(t)] = v
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
        if not texts:
            return np.zeros((0, 0), np.float32)
        return np.stack([found[cache_key(t)] for t in texts]).astype(np.float32)

    def close(self) -> None:
        self._db.close()


def cached_embed(texts: Sequence[str], embedder: Any = None, *, model_name: str = "all-MiniLM-L6-v2",
                 directory: str | Path | None = None, progress: bool = False) -> np.ndarray:
    cache = EmbeddingCache(model_name, directory)
    try:
        return cache.embed(texts, embedder, progress=progress)
    finally:
        cache.close()
