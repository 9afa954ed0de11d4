"""Serving over streamable HTTP: where to bind, and the bearer token that guards it.

A memory holds what people said, so the server binds to loopback unless told
otherwise, and binding anywhere else requires a token.  The check is a few
lines of ASGI in front of the SDK's app (the SDK's own auth is OAuth, which
needs an authorization server this use does not have); tokens are compared
in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any

ENV_TOKEN = "MEMORYWEAVE_MCP_TOKEN"
DEFAULT_PORT = 8765
PATH = "/mcp"

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[::1]:PORT``, ``HOST`` or ``PORT`` -> (host, port); loopback and 8765 by default."""
    text = text.strip()
    if not text:
        raise ValueError("empty address: give HOST:PORT, e.g. 127.0.0.1:8765")
    if text.isdigit():
        host, port = "127.0.0.1", text
    elif text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else str(DEFAULT_PORT)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(DEFAULT_PORT)
    host = host or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a port: {port!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BearerToken:
    """ASGI middleware: HTTP requests without ``Authorization: Bearer <token>`` get 401."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("the bearer token is empty")
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                body = json.dumps({"error": "unauthorized", "error_description": "missing or wrong bearer token"})
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"www-authenticate", b'Bearer realm="memoryweave"')]})
                await send({"type": "http.response.body", "body": body.encode()})
                return
        await self.app(scope, receive, send)


def http_app(server: Any, host: str, token: str | None) -> Any:
    """The SDK's streamable HTTP app for ``server``, behind the token when one is given."""
    app = server.streamable_http_app(streamable_http_path=PATH, host=host)
    return BearerToken(app, token) if token else app


async def serve_http(server: Any, host: str, port: int, token: str | None) -> None:
    import uvicorn

    config = uvicorn.Config(http_app(server, host, token), host=host, port=port, log_level="warning",
                            lifespan="on")
    await uvicorn.Server(config).serve()
