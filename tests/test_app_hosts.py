"""Issue 22, class 2: the app answers loopback Hosts only (and those in $W2V_ALLOWED_HOSTS), page and websocket.

A DNS-rebinding page reaches the server under its own name; before this defence a websocket upgrade with
`Host: evil.test:PORT` and a matching Origin got 101 and could drive the app. These tests start the app as
users do (`streamlit run app.py`) and speak raw HTTP to it.
"""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import app_server

from pages.parts.hosts import allowed_hosts, host_allowed

ROOT = Path(__file__).resolve().parents[1]
LISTED = "studio.lan"  # what the test server's $W2V_ALLOWED_HOSTS adds


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A `streamlit run app.py` server on a free port, always terminated afterwards."""
    folder = tmp_path_factory.mktemp("hosts")
    env = {**os.environ, "W2V_RUNS_DIR": str(folder / "runs"), "W2V_SPARE_PROCESS": "0", "W2V_ALLOWED_HOSTS": LISTED}
    with app_server(folder, env, timeout_s=90.0) as chosen:
        yield chosen


def page_status(port: int, host: str | None, path: str = "/") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def upgrade_status(port: int, host: str) -> int:
    """The status of a websocket upgrade of Streamlit's stream, with an Origin matching the Host (as a
    rebinding page's would)."""
    request = (
        "GET /_stcore/stream HTTP/1.1\r\n"
        f"Host: {host}\r\nOrigin: http://{host}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request.encode("latin-1"))
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1])


def test_loopback_and_listed_hosts_get_the_page_and_the_websocket(port: int) -> None:
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost", f"{LISTED}:{port}"):
        assert page_status(port, host) == 200, host
        assert upgrade_status(port, host) == 101, host


@pytest.mark.parametrize(
    "host", ["evil.test:{port}", "evil.test", "localhost.evil.test:{port}", "127.0.0.1.nip.io:{port}", "[::2]:{port}"]
)
def test_a_foreign_host_is_refused_page_and_websocket(port: int, host: str) -> None:
    host = host.format(port=port)
    for path in ("/", "/_stcore/health", "/train"):
        assert 400 <= page_status(port, host, path) < 500, (host, path)
    assert 400 <= upgrade_status(port, host) < 500, host


def test_a_missing_or_malformed_host_is_refused(port: int) -> None:
    for host in (None, "", f"localhost:{port}@evil.test", "localhost:99999", "local host"):
        assert 400 <= page_status(port, host) < 500, host


def test_the_host_check_reads_names_and_ports() -> None:
    allowed = allowed_hosts(" Studio.LAN , 10.0.0.5,")
    assert allowed >= {"localhost", "127.0.0.1", "::1", "studio.lan", "10.0.0.5"} and "" not in allowed
    for header in ("localhost", "LOCALHOST:8501", "127.0.0.1:1", "[::1]", "[::1]:8501", "localhost.", "studio.lan"):
        assert host_allowed(header, allowed), header
    for header in (None, "", "evil.test", "studio.lan.evil.test", "[::1", "localhost:x", "a@localhost", "localhost/x"):
        assert not host_allowed(header, allowed), header
