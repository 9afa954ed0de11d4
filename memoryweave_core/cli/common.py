"""What every command shares: the usage error, finding and opening the store, small argument parsers.

Commands that only read open an existing store and never create one, so a
mistyped ``--db`` is an error instead of a new empty database.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import CONTEXT_MODES, RecallConfig
from ..embedders import Embedder, HashingEmbedder
from ..errors import DimensionMismatchError
from ..memory import MemoryWeave
from ..storage.context import ContextRecord
from ..storage.sqlite import SQLiteStore

PROG = "memoryweave"
ENV_DB = "MEMORYWEAVE_DB"
ENV_EMBEDDER = "MEMORYWEAVE_EMBEDDER"
EMBEDDERS = ("minilm", "hashing")
HASHING_DIM = 256


class UsageError(Exception):
    """A mistake on the command line: reported in one line, exit status 2."""


def positive_int(text: str) -> int:
    """argparse type for counts such as ``-k``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parse_meta(pairs: Sequence[str]) -> dict[str, Any]:
    """``--meta KEY=VALUE`` pairs; a VALUE that parses as JSON is kept as JSON."""
    meta: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--meta expects KEY=VALUE, got {pair!r}")
        try:
            meta[key.strip()] = json.loads(value)
        except ValueError:
            meta[key.strip()] = value
    return meta


def confirm(prompt: str) -> bool:
    """Ask on the terminal; without one, refuse rather than guess."""
    if not sys.stdin.isatty():
        raise UsageError("refusing to delete without confirmation: pass --yes")
    try:
        answer = input(f"{prompt} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


# ----------------------------------------------------------------------------- the store


def default_db_path() -> Path:
    """memory.db in the user's data directory (platformdirs)."""
    try:
        import platformdirs
    except ImportError:  # the 'cli' extra is missing: a reasonable fallback
        base = Path.home() / ".local" / "share" / "memoryweave"
    else:
        base = Path(platformdirs.user_data_dir("memoryweave", appauthor=False))
    return base / "memory.db"


def resolve_db(arg: str | None, *, create: bool) -> Path:
    """The store's path; ``create=False`` (commands that only read) requires it to exist."""
    raw = arg or os.environ.get(ENV_DB) or None
    path = Path(raw).expanduser() if raw else default_db_path()
    if path.is_dir():
        raise UsageError(f"--db {str(path)!r} is a directory, not a database file")
    if not create and not path.exists():
        hint = "check --db" if raw else "add memories with 'memoryweave remember' or 'memoryweave import'"
        raise UsageError(f"no store at {str(path)!r}: the file does not exist ({hint})")
    if not path.parent.exists():
        if raw:  # the user named it: do not silently create directories for a typo
            raise UsageError(f"the directory of --db {str(path)!r} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def resolve_embedder_name(arg: str | None) -> str:
    name = (arg or os.environ.get(ENV_EMBEDDER) or "minilm").strip().lower()
    if name not in EMBEDDERS:
        raise UsageError(f"{ENV_EMBEDDER}={name!r} is not an embedder; choose one of {', '.join(EMBEDDERS)}")
    return name


def quiet_model_loading() -> None:
    """Keep Hugging Face's progress bars, network checks and warnings off the terminal."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=FutureWarning)


class LazyMiniLM:
    """all-MiniLM-L6-v2, loaded on the first embed (inspect, list and forget never load it)."""

    dim = 384
    model_name = "all-MiniLM-L6-v2"

    def __init__(self) -> None:
        self._model: Embedder | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            quiet_model_loading()
            from ..embedders import default_embedder

            self._model = default_embedder()
        return np.asarray(self._model.embed(texts))


def make_embedder(name: str) -> Embedder:
    if name == "hashing":
        return HashingEmbedder(dim=HASHING_DIM)
    return LazyMiniLM()


def open_memory(args: argparse.Namespace, *, create: bool = False, context: ContextRecord | None = None) -> MemoryWeave:
    """The MemoryWeave of ``--db``; it must exist unless ``create``.

    The command line has no context mode of its own: it opens a store in the
    mode the store records, so a store made by a program with
    ``context_mode="mean"`` is written to the same way.  A store that holds no
    trace takes ``context`` (an export's) when given; one that records no mode
    yet, the default.
    """
    name = resolve_embedder_name(getattr(args, "embedder", None))
    path = resolve_db(getattr(args, "db", None), create=create)
    embedder = make_embedder(name)
    store = SQLiteStore(str(path))
    try:
        fresh = context if context is not None and not store.count() else None
        default = RecallConfig()
        record = fresh or store.context_record() or ContextRecord(default.context_mode, default.context_window)
        if record.mode not in CONTEXT_MODES:
            raise UsageError(f"{path}: its context vectors were made with context_mode={record.mode!r}, which this"
                             " MemoryWeave does not know: upgrade memoryweave")
        config = RecallConfig(context_mode=record.mode, context_window=record.window)
        memory = MemoryWeave(store=store, embedder=embedder, config=config)
    except BaseException:
        store.close()
        raise
    stored = getattr(memory.store, "dim", None)
    if stored is not None and stored != embedder.dim:  # say so before loading any model
        memory.close()
        raise DimensionMismatchError(
            f"this store holds {stored}-d vectors but the {name} embedder gives {embedder.dim}-d ones"
        )
    return memory
