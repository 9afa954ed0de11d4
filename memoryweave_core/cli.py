"""The ``memoryweave`` command: remember, import, recall, forget, inspect, eval, demo.

Every command works on one store, a SQLite file.  By default it lives in the
user's data directory (``platformdirs.user_data_dir("memoryweave")``); point
elsewhere with ``--db PATH`` or the ``MEMORYWEAVE_DB`` environment variable.
The embedding model is all-MiniLM-L6-v2 (``--embedder minilm``) unless
``--embedder hashing`` (or ``MEMORYWEAVE_EMBEDDER=hashing``) picks the fast,
model-free hashing embedder.  A store keeps the vector dimension of its first
embedder, so use the same one for a store's whole life.

Mistakes (a missing file, an unknown id, an unparseable time, an empty text)
print one line on stderr and exit with status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .errors import DimensionMismatchError, MemoryWeaveError

PROG = "memoryweave"
ENV_DB = "MEMORYWEAVE_DB"
ENV_EMBEDDER = "MEMORYWEAVE_EMBEDDER"
EMBEDDERS = ("minilm", "hashing")
HASHING_DIM = 256
IMPORT_BATCH = 64


class UsageError(Exception):
    """A mistake on the command line: reported in one line, exit status 2."""


# ----------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, not usage + error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--db and --embedder, accepted before or after the subcommand."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=default,
        help=f"SQLite file holding the memories (env {ENV_DB}; default: memory.db in the user data directory)",
    )
    parser.add_argument(
        "--embedder",
        choices=EMBEDDERS,
        default=default,
        help=f"embedding model: all-MiniLM-L6-v2 or the model-free hashing embedder (env {ENV_EMBEDDER}; default minilm)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        formatter_class=_Formatter,
        description="MemoryWeave: long-term memory for LLM applications, from the command line.",
        epilog=textwrap.dedent(
            """\
            examples:
              memoryweave demo
              memoryweave remember "I adopted a cat called Luna" --speaker Ana --time 2024-05-02
              memoryweave import chat.jsonl
              memoryweave recall "what is the cat's name?" --explain
              memoryweave inspect
            """
        ),
    )
    _global_options(parser, suppress=False)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def command(name: str, help: str, description: str | None = None, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description or help, formatter_class=_Formatter, **kw)
        _global_options(p, suppress=True)
        return p

    p = command("remember", "remember one piece of text")
    p.add_argument("text", help="what to remember")
    p.add_argument("--speaker", help="who said it (e.g. a name, 'user', 'assistant')")
    p.add_argument("--episode", help="episode (session) it belongs to; by default the latest episode continues "
                                     "unless more than 30 minutes passed")
    p.add_argument("--time", help="when it happened: ISO date/time, epoch seconds or e.g. '1:56 pm on 8 May, 2023' "
                                  "(default now)")
    p.add_argument("--namespace", default="default", help="whose memory (default 'default')")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="metadata; VALUE is parsed as JSON when it can be (repeatable)")
    p.add_argument("--json", action="store_true", help="print the stored trace as JSON")

    p = command(
        "import",
        "import turns from a JSONL, LoCoMo or LongMemEval file",
        description=textwrap.dedent(
            """\
            Import conversation turns from a file.

            jsonl        one turn per line: {"text": ..., "speaker"?, "episode"?, "time"?, "metadata"?}
                         ("role"/"content" are accepted for "speaker"/"text")
            locomo       locomo10.json: every conversation, one episode per session; each conversation
                         goes to the namespace named by its sample_id unless --namespace is given
            longmemeval  a LongMemEval file: the haystack sessions of every question, one namespace per
                         question_id unless --namespace is given

            The format is guessed from the file when --format is not given."""
        ),
    )
    p.add_argument("file", help="file to import ('-' reads JSONL from stdin)")
    p.add_argument("--format", choices=("jsonl", "locomo", "longmemeval"), help="file format (default: guessed)")
    p.add_argument("--namespace", help="put everything in this namespace (default 'default' for JSONL)")
    p.add_argument("--limit", type=_positive_int, metavar="N",
                   help="only the first N conversations (LoCoMo) or questions (LongMemEval)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = command("recall", "recall the memories that best fit a query")
    p.add_argument("query", help="what to recall, in plain words (time expressions such as 'last week' count)")
    p.add_argument("-k", type=_positive_int, default=5, metavar="N", help="how many memories (default 5)")
    p.add_argument("--explain", action="store_true", help="show each pathway's contribution to the score")
    p.add_argument("--at", metavar="TIME", help="recall as if it were TIME (default now)")
    p.add_argument("--namespace", default="default", help="whose memory (default 'default')")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-record", action="store_true",
                   help="do not count this recall as a use (activation stays as it is)")

    p = command(
        "forget",
        "delete memories by id, by episode or a whole namespace",
        description="Delete memories: the given ids, one episode of a namespace, or a whole namespace. "
                    "Asks for confirmation unless --yes.",
    )
    p.add_argument("--id", dest="ids", action="append", metavar="ID", help="a trace id (repeatable)")
    p.add_argument("--episode", help="delete this whole episode (in --namespace, default 'default')")
    p.add_argument("--namespace", help="restrict to this namespace; alone, delete the whole namespace")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    p = command("inspect", "summarise the store: counts, episodes, ART categories, most active traces")
    p.add_argument("--namespace", help="only this namespace (default: all)")
    p.add_argument("--top", type=_positive_int, default=5, metavar="N",
                   help="how many episodes, categories and active traces to list (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON")

    # Parsed by the benchmark harness itself (see main); listed here for --help.
    command("eval", "run the retrieval benchmarks (LoCoMo, LongMemEval) against baselines", add_help=False)

    command("demo", "remember a short multi-session conversation with MiniLM and recall with explanations")
    _mcp().add_parser(sub)
    return parser


def _mcp() -> Any:
    from . import mcp  # its own package: `memoryweave mcp` (imports the SDK only when it runs)

    return mcp


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


# ----------------------------------------------------------------------------- opening the store


def default_db_path() -> Path:
    """memory.db in the user's data directory (platformdirs), created on demand."""
    try:
        import platformdirs
    except ImportError:  # the 'cli' extra is missing: a reasonable fallback
        base = Path.home() / ".local" / "share" / "memoryweave"
    else:
        base = Path(platformdirs.user_data_dir("memoryweave", appauthor=False))
    return base / "memory.db"


def resolve_db(arg: str | None) -> Path:
    raw = arg or os.environ.get(ENV_DB) or None
    path = Path(raw).expanduser() if raw else default_db_path()
    if path.is_dir():
        raise UsageError(f"--db {str(path)!r} is a directory, not a database file")
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


class _LazyMiniLM:
    """all-MiniLM-L6-v2, loaded on the first embed (inspect and forget never load it)."""

    dim = 384

    def __init__(self) -> None:
        self._model = None

    def embed(self, texts: Sequence[str]):
        if self._model is None:
            _quiet_model_loading()
            from .embedders import default_embedder

            self._model = default_embedder()
        return self._model.embed(texts)


def _quiet_model_loading() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)


def make_embedder(name: str):
    if name == "hashing":
        from .embedders import HashingEmbedder

        return HashingEmbedder(dim=HASHING_DIM)
    return _LazyMiniLM()


def open_memory(args: argparse.Namespace):
    from .memory import MemoryWeave

    path = resolve_db(getattr(args, "db", None))
    embedder = make_embedder(resolve_embedder_name(getattr(args, "embedder", None)))
    memory = MemoryWeave(path=str(path), embedder=embedder)
    memory._cli_path = path  # type: ignore[attr-defined]
    stored = getattr(memory.store, "dim", None)
    if stored is not None and stored != embedder.dim:  # say so before loading any model
        memory.close()
        raise DimensionMismatchError(
            f"this store holds {stored}-d vectors but the {resolve_embedder_name(getattr(args, 'embedder', None))} "
            f"embedder gives {embedder.dim}-d ones"
        )
    return memory


# ----------------------------------------------------------------------------- helpers


def _width() -> int:
    return max(60, min(shutil.get_terminal_size((100, 24)).columns, 160))


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: max(n - 1, 1)] + "…"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, wrap: int | None = None,
           wrap_width: int = 50, right: Sequence[int] = (), after: Sequence[str] | None = None) -> str:
    """A plain-text table; column ``wrap`` is wrapped to ``wrap_width`` characters.

    ``after[i]``, when given, is printed below row ``i`` (the recall explanations).
    """
    blocks = []
    for r in rows:
        r = [str(c) for c in r]
        if wrap is None:
            blocks.append([r])
            continue
        lines = textwrap.wrap(r[wrap], wrap_width) or [""]
        block = [[c if j != wrap else lines[0] for j, c in enumerate(r)]]
        block += [["" if j != wrap else ln for j in range(len(r))] for ln in lines[1:]]
        blocks.append(block)
    flat = [line for block in blocks for line in block]
    widths = [max([len(h)] + [len(line[j]) for line in flat]) for j, h in enumerate(headers)]

    def fmt(line: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if j in right else c.ljust(w) for j, (c, w) in enumerate(zip(line, widths))).rstrip()

    out = [fmt(headers), fmt(["-" * w for w in widths])]
    for i, block in enumerate(blocks):
        out.extend(fmt(line) for line in block)
        if after is not None and after[i]:
            out.append(after[i])
    return "\n".join(out)


def _parse_meta(pairs: Sequence[str]) -> dict[str, Any]:
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


def _fmt_time(ts: float | None) -> str:
    from .timeutil import format_time

    return format_time(ts)


def _progress(total: int, desc: str, enabled: bool):
    if enabled:
        try:
            from tqdm import tqdm

            return tqdm(total=total, desc=desc, unit="turn", file=sys.stderr, dynamic_ncols=True)
        except ImportError:
            pass
    return _NoBar()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


# ----------------------------------------------------------------------------- remember


def cmd_remember(args: argparse.Namespace) -> int:
    meta = _parse_meta(args.meta)
    with open_memory(args) as memory:
        trace = memory.add(args.text, speaker=args.speaker, episode=args.episode, time=args.time,
                           metadata=meta or None, namespace=args.namespace)
    if args.json:
        print(json.dumps(trace.to_dict(), ensure_ascii=False))
    else:
        who = f"{trace.speaker}: " if trace.speaker else ""
        print(f"remembered {trace.id}  [{trace.namespace} / {trace.episode} #{trace.position}, "
              f"{_fmt_time(trace.time)}]  {who}{_short(trace.text, 80)}")
    return 0


# ----------------------------------------------------------------------------- import


def _guess_format(path: Path, head: str) -> str:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return "jsonl"
    start = head.lstrip()
    if start.startswith("["):
        if '"haystack_sessions"' in head or '"question_id"' in head:
            return "longmemeval"
        if '"conversation"' in head or '"sample_id"' in head or '"qa"' in head:
            return "locomo"
    if start.startswith("{"):
        return "jsonl"
    raise UsageError(f"cannot tell the format of {str(path)!r}; pass --format jsonl|locomo|longmemeval")


_TURN_KEYS = {"text", "speaker", "episode", "time", "metadata", "id", "role", "content"}


def _jsonl_items(lines: Iterable[str], name: str) -> list[dict[str, Any]]:
    from .timeutil import to_timestamp

    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}:{n}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise UsageError(f"{where}: expected a JSON object per line, got {type(obj).__name__}")
        unknown = set(obj) - _TURN_KEYS
        if unknown:
            raise UsageError(f"{where}: unknown fields {sorted(unknown)}; a turn has text, speaker, episode, time, metadata")
        text = obj.get("text", obj.get("content"))
        if not isinstance(text, str) or not text.strip():
            raise UsageError(f"{where}: 'text' must be a non-empty string")
        item = {"text": text, "speaker": obj.get("speaker", obj.get("role")), "episode": obj.get("episode"),
                "time": obj.get("time"), "metadata": obj.get("metadata")}
        if obj.get("id") is not None:
            item["id"] = obj["id"]
        if item["metadata"] is not None and not isinstance(item["metadata"], dict):
            raise UsageError(f"{where}: 'metadata' must be an object")
        if item["time"] is not None:
            try:
                item["time"] = to_timestamp(item["time"])
            except MemoryWeaveError as exc:
                raise UsageError(f"{where}: {exc}") from None
        for key in ("speaker", "episode"):
            if item[key] is not None and not isinstance(item[key], (str, int)):
                raise UsageError(f"{where}: '{key}' must be a string")
        items.append(item)
    if not items:
        raise UsageError(f"{name}: no turns found")
    return items


def _batches(items: Sequence[dict], size: int) -> Iterator[Sequence[dict]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None


def _locomo_groups(path: Path, ns: str | None, limit: int | None) -> list[tuple[str, str, list[dict]]]:
    from .eval.datasets import load_locomo

    data = _read_json(path)
    if not isinstance(data, list) or not all(isinstance(s, dict) and "conversation" in s for s in data):
        raise UsageError(f"{path}: not a LoCoMo file (expected a list of samples with a 'conversation')")
    ds = load_locomo(path)
    groups = []
    for conv in ds.conversations[:limit]:
        target = ns or conv.id
        for sess in conv.sessions:
            items = [{"text": _strip_speaker(t.text, t.speaker),
                      "speaker": t.speaker or None, "episode": f"{conv.id}/{sess.id}" if ns else sess.id,
                      "time": None if t.time is None else t.time + i,
                      "metadata": {"dia_id": t.id, "conversation": conv.id, "session_date": sess.date}}
                     for i, t in enumerate(sess.turns) if _strip_speaker(t.text, t.speaker).strip()]
            if items:
                groups.append((target, sess.id, items))
    return groups


def _strip_speaker(text: str, speaker: str) -> str:
    """LoCoMo turn text without its "Speaker: " prefix (the engine adds the speaker itself)."""
    prefix = f"{speaker}: "
    return text[len(prefix):] if speaker and text.startswith(prefix) else text


def _longmemeval_groups(path: Path, ns: str | None, limit: int | None) -> list[tuple[str, str, list[dict]]]:
    data = _read_json(path)
    if not isinstance(data, list) or not all(isinstance(q, dict) and "haystack_sessions" in q for q in data):
        raise UsageError(f"{path}: not a LongMemEval file (expected a list of questions with 'haystack_sessions')")
    from .eval.datasets import _safe_time

    groups = []
    for q in data[:limit]:
        qid = str(q.get("question_id", len(groups)))
        target = ns or qid
        dates = q.get("haystack_dates") or [None] * len(q["haystack_sessions"])
        sids = q.get("haystack_session_ids") or [f"session-{i}" for i in range(len(q["haystack_sessions"]))]
        for sid, date, turns in zip(sids, dates, q["haystack_sessions"]):
            t0 = _safe_time(date) if date else None
            items = [{"text": str(t.get("content", "")), "speaker": str(t.get("role", "")) or None,
                      "episode": f"{qid}/{sid}" if ns else str(sid),
                      "time": None if t0 is None else t0 + j,
                      "metadata": {"question_id": qid, "session_id": str(sid), "turn": j,
                                   **({"has_answer": True} if t.get("has_answer") else {})}}
                     for j, t in enumerate(turns) if str(t.get("content", "")).strip()]
            if items:
                groups.append((target, str(sid), items))
    return groups


def cmd_import(args: argparse.Namespace) -> int:
    if args.file == "-":
        fmt = args.format or "jsonl"
        if fmt != "jsonl":
            raise UsageError("only JSONL can be read from stdin")
        items = _jsonl_items(sys.stdin, "<stdin>")
        groups = [(args.namespace or "default", "", items)]
    else:
        path = Path(args.file).expanduser()
        if not path.exists():
            raise UsageError(f"no such file: {args.file}")
        if path.is_dir():
            raise UsageError(f"{args.file} is a directory, not a file")
        with path.open(encoding="utf-8", errors="replace") as fh:
            head = fh.read(4096)
        fmt = args.format or _guess_format(path, head)
        if fmt == "jsonl":
            with path.open(encoding="utf-8") as fh:
                items = _jsonl_items(fh, args.file)
            groups = [(args.namespace or "default", "", items)]
        elif fmt == "locomo":
            groups = _locomo_groups(path, args.namespace, args.limit)
        else:
            groups = _longmemeval_groups(path, args.namespace, args.limit)
    total = sum(len(items) for _, _, items in groups)
    if not total:
        raise UsageError(f"{args.file}: nothing to import")
    per_ns: dict[str, int] = {}
    episodes: dict[str, set] = {}
    with open_memory(args) as memory:
        bar = _progress(total, "importing", not args.quiet)
        try:
            for ns, _, items in groups:
                for batch in _batches(items, IMPORT_BATCH):
                    traces = memory.add_many(batch, namespace=ns)
                    per_ns[ns] = per_ns.get(ns, 0) + len(traces)
                    episodes.setdefault(ns, set()).update(t.episode for t in traces)
                    bar.update(len(traces))
        finally:
            bar.close()
    for ns, n in per_ns.items():
        print(f"imported {n} turns in {len(episodes[ns])} episode(s) into namespace {ns!r}")
    if len(per_ns) > 1:
        print(f"total: {total} turns into {len(per_ns)} namespaces")
    return 0


# ----------------------------------------------------------------------------- recall


def recollection_dict(r: Any, rank: int) -> dict[str, Any]:
    return {"rank": rank, "score": round(float(r.score), 6), **r.trace.to_dict(),
            "features": {k: round(float(v), 6) for k, v in r.features.items()},
            "raw": {k: round(float(v), 6) for k, v in r.raw.items()}}


def format_recall(results: Sequence[Any], *, explain: bool, width: int | None = None) -> str:
    """The recall table: rank, score, speaker, text, episode, time (+ why, with explain)."""
    width = width or _width()
    if not results:
        return "nothing recalled"
    rows = []
    for i, r in enumerate(results, 1):
        t = r.trace
        rows.append([str(i), f"{r.score:+.3f}", _short(t.speaker or "-", 14), t.text,
                     _short(f"{t.episode} #{t.position}", 28), _fmt_time(t.time)])
    speaker_w = max(len(r[2]) for r in rows + [["", "", "speaker"]])
    episode_w = max(len(r[4]) for r in rows + [["", "", "", "", "episode"]])
    fixed = len(str(len(rows))) + 6 + speaker_w + episode_w + 16 + 5 * 2
    text_width = max(30, width - fixed)
    return _table(["#", "score", "speaker", "text", "episode", "time"], rows, wrap=3, wrap_width=text_width,
                  right=(0, 1), after=[_explain_lines(r) for r in results] if explain else None)


def _explain_lines(r: Any) -> str:
    """One line per pathway, largest contribution first, with a bar and the raw value."""
    feats = sorted(r.features.items(), key=lambda kv: -abs(kv[1]))
    if not feats:
        return "        (no feature breakdown)"
    scale = max(abs(v) for _, v in feats) or 1.0
    lines = []
    for name, value in feats:
        bar = "█" * max(0, round(12 * abs(value) / scale)) if value else ""
        raw = f"  raw {r.raw[name]:.3g}" if name in r.raw else ""
        lines.append(f"        {name:<10} {value:+.3f}  {bar:<12}{raw}")
    return "\n".join(lines)


def cmd_recall(args: argparse.Namespace) -> int:
    with open_memory(args) as memory:
        if memory.count(args.namespace) == 0:
            known = memory.namespaces()
            hint = f" (namespaces: {', '.join(known)})" if known else " (the store is empty: try 'memoryweave remember' or 'import')"
            raise UsageError(f"namespace {args.namespace!r} holds no memories{hint}")
        results = memory.recall(args.query, k=args.k, namespace=args.namespace, at=args.at, explain=args.explain,
                                record_access=not args.no_record)
    if args.json:
        print(json.dumps([recollection_dict(r, i) for i, r in enumerate(results, 1)], ensure_ascii=False, indent=2))
    else:
        print(format_recall(results, explain=args.explain))
    return 0


# ----------------------------------------------------------------------------- forget


def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("refusing to delete without confirmation: pass --yes")
    try:
        answer = input(f"{prompt} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_forget(args: argparse.Namespace) -> int:
    from .errors import TraceNotFoundError

    if not (args.ids or args.episode or args.namespace):
        raise UsageError("say what to forget: --id ID, --episode E or --namespace NS")
    if args.ids and args.episode:
        raise UsageError("use either --id or --episode, not both")
    with open_memory(args) as memory:
        if args.ids:
            found = {t.id for t in memory.store.get(args.ids, args.namespace)}
            missing = [i for i in args.ids if i not in found]
            if missing:
                raise TraceNotFoundError(f"no trace with id {missing[0]!r}"
                                         + (f" in namespace {args.namespace!r}" if args.namespace else ""))
            what, n = f"{len(found)} trace(s)", len(found)
        elif args.episode:
            ns = args.namespace or "default"
            n = sum(1 for t in memory.store.iter_traces(ns) if t.episode == args.episode)
            if not n:
                raise UsageError(f"no episode {args.episode!r} in namespace {ns!r}")
            what = f"episode {args.episode!r} of namespace {ns!r} ({n} traces)"
        else:
            n = memory.count(args.namespace)
            if not n:
                raise UsageError(f"namespace {args.namespace!r} holds no memories")
            what = f"the whole namespace {args.namespace!r} ({n} traces)"
        if not args.yes and not _confirm(f"forget {what}?"):
            print("nothing forgotten")
            return 1
        if args.ids:
            deleted = memory.forget(args.ids, namespace=args.namespace)
        elif args.episode:
            deleted = memory.forget(episode=args.episode, namespace=args.namespace or "default")
        else:
            deleted = memory.forget(namespace=args.namespace)
    print(f"forgot {deleted} trace(s): {what}")
    return 0


# ----------------------------------------------------------------------------- inspect


def format_inspect(info: dict[str, Any], width: int | None = None) -> str:
    width = width or _width()
    lines = [f"store       {info['db']}", f"traces      {info['traces']} in {len(info['namespaces'])} namespace(s)"]
    if not info["namespaces"]:
        lines.append("\n(empty: add memories with 'memoryweave remember' or 'memoryweave import')")
    for ns, s in info["namespaces"].items():
        lines.append("")
        lines.append(f"namespace {ns!r}: {s['traces']} traces, {s['episodes']} episode(s), "
                     f"{s['categories']} ART categories, {_fmt_time(s['first'])} .. {_fmt_time(s['last'])}")
        if s["speakers"]:
            lines.append(f"  speakers: {', '.join(s['speakers'][:10])}" + (" ..." if len(s["speakers"]) > 10 else ""))
        if s["recent_episodes"]:
            lines.append("")
            lines.append(_indent(_table(
                ["episode", "turns", "from", "to", "speakers"],
                [[_short(str(e["episode"]), 30), str(e["turns"]), _fmt_time(e["first"]), _fmt_time(e["last"]),
                  _short(", ".join(e["speakers"]), 30)] for e in s["recent_episodes"]],
                right=(1,))))
        if s["largest_categories"]:
            lines.append("")
            lw = max(30, width - 20)
            lines.append(_indent(_table(["category", "size", "label (most typical member)"],
                                        [[str(c["id"]), str(c["size"]), _short(c["label"], lw)]
                                         for c in s["largest_categories"]], right=(0, 1))))
        if s["most_active"]:
            lines.append("")
            lw = max(30, width - 50)
            lines.append(_indent(_table(["activation", "speaker", "text", "id"],
                                        [[f"{a['activation']:+.3f}", _short(a["speaker"] or "-", 12),
                                          _short(a["text"], lw), a["id"][:12]] for a in s["most_active"]],
                                        right=(0,))))
    return "\n".join(lines)


def _indent(text: str) -> str:
    return textwrap.indent(text, "  ")


def cmd_inspect(args: argparse.Namespace) -> int:
    with open_memory(args) as memory:
        if args.namespace and memory.count(args.namespace) == 0:
            known = memory.namespaces()
            raise UsageError(f"namespace {args.namespace!r} holds no memories"
                             + (f" (namespaces: {', '.join(known)})" if known else ""))
        info = {"db": str(getattr(memory, "_cli_path", "")), **memory.summary(args.namespace, args.top)}
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        print(format_inspect(info))
    return 0


# ----------------------------------------------------------------------------- eval and demo


def cmd_eval(argv: Sequence[str]) -> int:
    from .eval import main as eval_main

    try:  # validate first, so a bad command line is one line too
        from .eval.__main__ import build_parser as eval_parser

        parser = eval_parser()
    except Exception:  # the harness changed shape: let it parse for itself
        parser = None
    if parser is not None:
        parser.error = _Parser.error.__get__(parser)  # type: ignore[method-assign]
        parser.parse_args(list(argv))
    return int(eval_main(list(argv)) or 0)


def cmd_demo(args: argparse.Namespace) -> int:
    _quiet_model_loading()
    from .demo import run_demo

    run_demo()
    return 0


COMMANDS = {
    "remember": cmd_remember,
    "import": cmd_import,
    "recall": cmd_recall,
    "forget": cmd_forget,
    "inspect": cmd_inspect,
    "demo": cmd_demo,
    "mcp": lambda args: _mcp().run(args),
}


# ----------------------------------------------------------------------------- main


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memoryweave`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("MEMORYWEAVE_DEBUG") == "1"
    try:
        rest = _split_eval(argv)
        if rest is not None:
            return cmd_eval(rest)
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
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


if __name__ == "__main__":
    sys.exit(main())
