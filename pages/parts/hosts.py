"""Which Host a request may name: the app answers loopback names only, and those the user lists.

A web page on another site can make its own name resolve to 127.0.0.1 (DNS rebinding) and then talk to
the app as if it were a page of the app: same origin, same port, but its own name in the `Host` header.
Refusing any Host but ours closes that door. `HostGuard` does it in front of Streamlit's server for
every request, the HTML page and the websocket alike; the loopback live feed checks the same way.

`$W2V_ALLOWED_HOSTS` adds names, separated by commas (e.g. `studio.lan,10.0.0.5`), for a server that the
user opens to other machines (`--server.address`). A port in the header never matters.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

HOSTS_ENV = "W2V_ALLOWED_HOSTS"
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
REFUSAL = b"This server answers requests for localhost only (see W2V_ALLOWED_HOSTS).\n"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def allowed_hosts(extra: str | None = None) -> frozenset[str]:
    """The loopback names and those of `$W2V_ALLOWED_HOSTS` (or `extra`), lower case, without brackets."""
    listed = os.environ.get(HOSTS_ENV, "") if extra is None else extra
    return LOOPBACK | {_clean(name) for name in listed.split(",") if _clean(name)}


def host_allowed(header: str | None, allowed: frozenset[str] = LOOPBACK) -> bool:
    """True when the `Host` header names one of `allowed`, with any port; a missing or malformed one is refused."""
    if not header:
        return False
    try:
        parts = urlsplit(f"//{header}")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    if parts.username is not None or parts.path or parts.query or parts.fragment or not parts.hostname:
        return False
    return _clean(parts.hostname) in allowed


def _clean(name: str) -> str:
    return name.strip().strip("[]").rstrip(".").lower()


class HostGuard:
    """ASGI middleware: a request (HTTP or websocket) naming a Host not allowed gets 403, never the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.allowed = allowed_hosts()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not host_allowed(_header(scope, b"host"), self.allowed):
            await (_refuse_socket(receive, send) if scope["type"] == "websocket" else _refuse_page(send))
            return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers", []) if key.lower() == name]
    return values[0].decode("latin-1") if len(values) == 1 else None  # two Host headers: neither is trusted


async def _refuse_page(send: Send) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(REFUSAL)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": REFUSAL})


async def _refuse_socket(receive: Receive, send: Send) -> None:
    """Close before accepting: the server answers the upgrade with 403 (ASGI's websocket spec)."""
    await receive()  # websocket.connect
    await send({"type": "websocket.close", "code": 1008})
