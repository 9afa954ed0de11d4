"""The command line's grammar: global options and the registry of subcommands.

A subcommand is a module with ``configure(parser)`` and ``run(args) -> int``;
adding one is one line in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import textwrap
from types import ModuleType
from typing import NamedTuple, NoReturn

from .. import __version__
from .common import EMBEDDERS, ENV_DB, ENV_EMBEDDER, PROG


class Command(NamedTuple):
    name: str
    help: str
    module: str  # dotted path, relative ones to this package; it defines configure(parser) and run(args)
    description: str | None = None
    add_help: bool = True


#: The subcommands in the order --help lists them.  A command defined elsewhere
#: names its module by absolute path (as ``mcp`` does); that module must not
#: import this package at module level (no import cycle).
COMMANDS: tuple[Command, ...] = (
    Command("remember", "remember one piece of text (or '-' for standard input)", ".cmd_remember"),
    Command("import", "import turns from a JSONL, text, LoCoMo or LongMemEval file", ".cmd_import"),
    Command("export", "write memories as JSONL that 'import' reads back", ".cmd_export"),
    Command("recall", "recall the memories that best fit a query", ".cmd_recall"),
    Command("list", "list stored memories, oldest first, optionally filtered", ".cmd_list"),
    Command("forget", "delete memories by id, by episode or a whole namespace", ".cmd_forget",
            description="Delete memories: the given ids, one episode of a namespace, or a whole namespace. "
                        "Asks for confirmation unless --yes."),
    Command("update", "correct a memory: a new version keeps its id, the old text stays in its history",
            ".cmd_update"),
    Command("prune", "delete expired memories now (recall never returns them)", ".cmd_prune"),
    Command("inspect", "summarise the store: counts, episodes, ART categories, most active traces", ".cmd_inspect"),
    # Parsed by the benchmark harness itself (see main); listed here for --help.
    Command("eval", "run the retrieval benchmarks (LoCoMo, LongMemEval) against baselines", ".cmd_eval",
            add_help=False),
    Command("mcp", "serve the memory to MCP clients (agents, IDEs, desktop assistants)", "memoryweave_core.mcp"),
    Command("demo", "remember a short multi-session conversation with MiniLM and recall with explanations",
            ".cmd_demo"),
)


def command_module(command: Command) -> ModuleType:
    return importlib.import_module(command.module, __package__)


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, not usage + error."""

    def error(self, message: str) -> NoReturn:
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
        help=f"embedding model: all-MiniLM-L6-v2 or the model-free hashing embedder (env {ENV_EMBEDDER}; "
             "default minilm)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
              memoryweave export --out backup.jsonl
              memoryweave inspect
            """
        ),
    )
    _global_options(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.description or command.help,
                           formatter_class=_Formatter, add_help=command.add_help)
        _global_options(p, suppress=True)
        command_module(command).configure(p)
    return parser
