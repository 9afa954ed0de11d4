"""The ``memoryweave`` command: remember, import, export, recall, list, update, forget, prune, inspect, eval, demo.

Every command works on one store, a SQLite file.  By default it lives in the
user's data directory (``platformdirs.user_data_dir("memoryweave")``); point
elsewhere with ``--db PATH`` or the ``MEMORYWEAVE_DB`` environment variable.
The embedding model is all-MiniLM-L6-v2 (``--embedder minilm``) unless
``--embedder hashing`` (or ``MEMORYWEAVE_EMBEDDER=hashing``) picks the fast,
model-free hashing embedder.  A store keeps the vector dimension of its first
embedder, so use the same one for a store's whole life.

Mistakes (a missing file or store, an unknown id, an unparseable time, an
empty text) print one line on stderr and exit with status 2; nothing is
written.  The grammar and the list of commands are in :mod:`.parser`.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Sequence

from ..errors import DimensionMismatchError, MemoryWeaveError
from .common import PROG, UsageError
from .parser import COMMANDS, build_parser, command_module

__all__ = ["main", "build_parser", "UsageError"]


def _split_eval(argv: list[str]) -> list[str] | None:
    """The arguments after 'eval' when eval is the command (global options may precede it)."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--db", "--embedder"):
            i += 2
        elif a.startswith(("--db=", "--embedder=")):
            i += 1
        elif a == "eval":
            return argv[i + 1 :]
        else:
            return None
    return None


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _dispatch(argv: list[str]) -> int:
    rest = _split_eval(argv)
    if rest is not None:
        from .cmd_eval import run_argv

        return run_argv(rest)
    args = build_parser().parse_args(argv)
    command = next(c for c in COMMANDS if c.name == args.command)
    return int(command_module(command).run(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memoryweave`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("MEMORYWEAVE_DEBUG") == "1"
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `memoryweave recall ... | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return 0
    except DimensionMismatchError as exc:
        if debug:
            raise
        return _error(f"{exc} (was this store built with another --embedder?)")
    except (UsageError, MemoryWeaveError) as exc:
        if debug:
            raise
        return _error(str(exc))
    except FileNotFoundError as exc:
        if debug:
            raise
        return _error(f"no such file: {exc.filename or exc}")
    except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        if debug:
            raise
        return _error(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
    except sqlite3.Error as exc:
        if debug:
            raise
        return _error(f"database error: {exc}")
    except UnicodeDecodeError as exc:
        if debug:
            raise
        return _error(f"the file is not UTF-8 text ({exc.reason})")
