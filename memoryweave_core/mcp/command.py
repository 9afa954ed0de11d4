"""The ``memoryweave mcp`` command: its options, and starting the server over stdio or HTTP.

The CLI registers it as one entry of its command table (``configure(parser)``
and ``run(args)``); ``--db``, ``MEMORYWEAVE_DB`` and ``--embedder`` are the CLI's
own (its helpers open the memory), so every command agrees on which file and
which model a memory uses.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import threading
from typing import Any

from .http import DEFAULT_PORT, ENV_TOKEN, PATH

DESCRIPTION = textwrap.dedent(
    f"""\
    Serve one memory to any agent that speaks the Model Context Protocol (MCP).

    Over stdio by default (the form an MCP client's server list launches); with
    --http over streamable HTTP at http://HOST:PORT{PATH}. Tools: recall and
    list_recent, plus remember, update and forget unless --read-only. Resources:
    memoryweave://summary and memoryweave://episodes/{{episode}}.

    HTTP binds to loopback unless told otherwise; binding anywhere else needs a
    bearer token (--token or env {ENV_TOKEN}), and requests without it get 401.

    examples:
      memoryweave mcp --db ~/memory.db
      memoryweave mcp --http 127.0.0.1:{DEFAULT_PORT} --namespace alice
      {ENV_TOKEN}=s3cret memoryweave mcp --http 0.0.0.0:{DEFAULT_PORT} --read-only"""
)


def configure(p: argparse.ArgumentParser) -> None:
    """The options of ``memoryweave mcp`` (the CLI adds --db and --embedder)."""
    from ..cli.common import positive_int
    from ..scopes import parse_path

    p.description = DESCRIPTION
    p.add_argument("--http", metavar="HOST:PORT",
                   help=f"serve over streamable HTTP instead of stdio (e.g. 127.0.0.1:{DEFAULT_PORT})")
    p.add_argument("--namespace", type=parse_path, default="default",
                   help="the namespace this server serves (default 'default'; levels with /, e.g. alice/agent1)")
    p.add_argument("--allow-namespace-choice", action="store_true",
                   help="let tools name another namespace (otherwise a namespace argument is refused)")
    p.add_argument("--read-only", action="store_true",
                   help="expose recall and listing only; nothing is written, not even recall's access log")
    p.add_argument("--token", help=f"bearer token HTTP clients must send (env {ENV_TOKEN}); "
                                   "required when binding beyond loopback")
    p.add_argument("--max-text", type=positive_int, metavar="N",
                   help="refuse texts, queries and metadata longer than N characters (default 20000)")


def run(args: argparse.Namespace) -> int:
    """Start the server; returns the exit status when it stops."""
    from ..cli.common import UsageError, open_memory
    from ..errors import require
    from .http import is_loopback, parse_address
    from .tools import DEFAULT_MAX_TEXT, MemoryTools, Scope

    require("mcp", "mcp")
    address = None
    token = args.token or os.environ.get(ENV_TOKEN) or None
    if args.http is not None:
        try:
            address = parse_address(args.http)
        except ValueError as exc:
            raise UsageError(f"--http: {exc}") from None
        if not is_loopback(address[0]) and not token:
            raise UsageError(f"binding to {address[0]} (beyond loopback) requires a bearer token: "
                             f"--token or env {ENV_TOKEN}")
    elif args.token:
        raise UsageError("--token applies to --http only (stdio has no network to guard)")
    scope = Scope(namespace=args.namespace, allow_namespace_choice=args.allow_namespace_choice,
                  read_only=args.read_only, max_text=args.max_text or DEFAULT_MAX_TEXT)
    with open_memory(args, create=not args.read_only) as memory:  # a read-only server never creates a file
        return serve(MemoryTools(memory, scope), address, token)


def serve(tools: Any, address: tuple[str, int] | None, token: str | None) -> int:
    """Run the server until the client closes stdio, or until interrupted over HTTP."""
    import anyio

    from ..scopes import format_path
    from .http import serve_http
    from .server import build_server

    server = build_server(tools)
    served = format_path(tools.scope.namespace)
    threading.Thread(target=_warm, args=(tools.memory,), name="memoryweave-warm", daemon=True).start()
    where = getattr(tools.memory.store, "path", "memory")
    if address is None:
        print(f"memoryweave mcp: serving {where} (namespace {served!r}) over stdio",
              file=sys.stderr)
        anyio.run(server.run_stdio_async)
    else:
        host, port = address
        shown = f"[{host}]" if ":" in host else host
        print(f"memoryweave mcp: serving {where} (namespace {served!r}) at "
              f"http://{shown}:{port}{PATH}" + (" (bearer token required)" if token else ""), file=sys.stderr,
              flush=True)
        anyio.run(serve_http, server, host, port, token)
    return 0


def _warm(memory: Any) -> None:
    """Load the embedding model while the client connects, so the first call does not pay for it.

    A failure here (no model installed, say) is left for the first call to report as a tool error.
    """
    try:
        memory.encoder.embed(["warm up"])
    except Exception:  # noqa: BLE001, S110 - reported by the call that needs the model
        pass
