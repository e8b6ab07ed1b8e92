"""A small HTTP feed on this machine's loopback that a Train page in the browser polls while a run trains.

Why: a Streamlit poll reruns the page's fragment and the browser then rebuilds the whole app's
element tree. On two cores that cost headless Chromium about a quarter of a core at one poll a
second, taken from the training process. The live panel instead fetches its HTML from here and
swaps it in, which costs the browser a few milliseconds; Streamlit reruns only when the run ends.

The feed listens on 127.0.0.1 only, on a port the OS picks, and answers only paths that carry the
feed's random token, so no other page in the browser can read a run through it. It serves what
`render` returns for a run name and knows nothing of what a run holds.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

Render = Callable[[str], dict[str, Any]]  # a run name to the JSON-able reply; raises LookupError for no such run


class LiveFeed:
    """Serves `GET /<token>/<run name>` as JSON from `render`, on 127.0.0.1, in a daemon thread."""

    def __init__(self, render: Render) -> None:
        self.token = secrets.token_urlsafe(16)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.token, render))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="live-feed", daemon=True).start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, run_name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{self.token}/{quote(run_name, safe='')}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(token: str, render: Render) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            prefix = f"/{token}/"
            if not self.path.startswith(prefix):
                self._reply(404, {"error": "not found"})
                return
            try:
                body = render(unquote(self.path[len(prefix) :].split("?", 1)[0]))
            except LookupError as exc:
                self._reply(404, {"error": str(exc)})
                return
            self._reply(200, body)

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Access-Control-Allow-Origin", "*")  # the page is another origin (Streamlit's port)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a poll a second would fill the server's log."""

    return Handler
