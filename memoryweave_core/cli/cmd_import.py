"""``memoryweave import``: bulk import, checked whole before anything is written.

A namespace's turns are written in one transaction, so a JSONL or text file
(one namespace) is imported all or nothing.  A LoCoMo or LongMemEval file
spans namespaces: it is checked whole first, then written one namespace at
a time, and a write that fails (a full disk) says which namespaces are in.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import textwrap
from pathlib import Path

from ..scopes import parse_path
from ..trace import Trace
from ..transfer import Batch, check_against_store, import_batches, read_jsonl
from .common import UsageError, open_memory, positive_int
from .importers import FORMATS, guess_format, read_locomo, read_longmemeval, read_text

DESCRIPTION = textwrap.dedent(
    """\
    Import memories from a file.

    jsonl        one turn per line: {"text": ..., "speaker"?, "episode"?, "time"?, "metadata"?, "id"?}
                 ("role"/"content" are accepted for "speaker"/"text"); the lines 'export' writes
                 (with "namespace", and "embedding" from --vectors) import back as they were;
                 a new store makes its context vectors as their "context_mode" and "context_window"
                 say, a store that holds memories already makes them its own way.
                 A line without a time takes the time of the turn before it in its episode.
    text         one memory per paragraph (paragraphs are separated by blank lines)
    locomo       locomo10.json: every conversation, one episode per session; each conversation
                 goes to the namespace named by its sample_id unless --namespace is given
    longmemeval  a LongMemEval file: the haystack sessions of every question, one namespace per
                 question_id unless --namespace is given

    The whole file is checked before anything is written, and an error names the line.
    Each namespace is written in one transaction: a JSONL or text file into one namespace
    is imported all or nothing.  The format is guessed from the file when --format is not given."""
)


def configure(p: argparse.ArgumentParser) -> None:
    p.description = DESCRIPTION
    p.add_argument("file", help="file to import ('-' reads standard input: JSONL, or text with --format text)")
    p.add_argument("--format", choices=FORMATS, help="file format (default: guessed)")
    p.add_argument("--namespace", type=parse_path, help="put everything in this namespace (default: the file's, else 'default')")
    p.add_argument("--limit", type=positive_int, metavar="N",
                   help="only the first N conversations (LoCoMo) or questions (LongMemEval)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def read_batches(args: argparse.Namespace) -> list[Batch]:
    if args.file == "-":
        fmt = args.format or "jsonl"
        if fmt == "jsonl":
            return read_jsonl(sys.stdin, "<stdin>", args.namespace)
        if fmt == "text":
            return read_text(sys.stdin.read(), "<stdin>", args.namespace)
        raise UsageError("only JSONL or text can be read from standard input")
    path = Path(args.file).expanduser()
    if not path.exists():
        raise UsageError(f"no such file: {args.file}")
    if path.is_dir():
        raise UsageError(f"{args.file} is a directory, not a file")
    with path.open(encoding="utf-8", errors="replace") as fh:
        head = fh.read(4096)
    fmt = args.format or guess_format(path, head)
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as fh:
            return read_jsonl(fh, args.file, args.namespace)
    if fmt == "text":
        return read_text(path.read_text(encoding="utf-8"), args.file, args.namespace)
    if fmt == "locomo":
        return read_locomo(path, args.namespace, args.limit)
    return read_longmemeval(path, args.namespace, args.limit)


def run(args: argparse.Namespace) -> int:
    batches = [b for b in read_batches(args) if b.items]
    total = sum(len(b.items) for b in batches)
    if not total:
        raise UsageError(f"{args.file}: nothing to import")
    renumbered = 0
    context = next((b.context for b in batches if b.context is not None), None)  # a new store takes an export's
    with open_memory(args, create=True, context=context) as memory:
        check_against_store(memory, batches)

        def imported(batch: Batch, traces: list[Trace]) -> None:
            nonlocal renumbered
            renumbered += sum(1 for t, d in zip(traces, batch.derived, strict=False)
                              if d.get("position", t.position) != t.position)
            episodes = len({t.episode for t in traces})
            print(f"imported {len(traces)} turns in {episodes} episode(s) into namespace {batch.namespace!r}")

        # a bar over the texts embedded, live within each namespace; none without tqdm (the 'cli' extra)
        bar = not args.quiet and importlib.util.find_spec("tqdm") is not None
        import_batches(memory, batches, imported, progress=bar, file=sys.stderr)
    if len(batches) > 1:
        print(f"total: {total} turns into {len(batches)} namespaces")
    if renumbered:
        print(f"note: {renumbered} turn(s) got another position than the file gives (their episode had gaps)",
              file=sys.stderr)
    return 0
