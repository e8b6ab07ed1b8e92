"""The live panel's feed: the browser follows a training run through it, with no Streamlit rerun.

It answers only with its token, on the loopback, with the panel as the training process last wrote
it (escaped), and says when the run no longer trains or waits.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_for

from core.config import TrainConfig
from core.runs import MetricRow, Run, WatchResult, WatchRow
from core.runs.launcher import Launcher
from pages.parts.live import LiveFeed, PanelFeed, Readers


@pytest.fixture
def feed(launcher: Launcher) -> Iterator[tuple[LiveFeed, PanelFeed]]:
    panels = PanelFeed(launcher, Readers())
    server = LiveFeed(panels)
    yield server, panels
    server.close()


def fetch(url: str) -> tuple[int, dict, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, dict(reply.headers), json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def step(fraction: float, loss: float = 0.6) -> MetricRow:
    return MetricRow("step", 1, fraction, loss, 1234567.0, 2.5, 7.0, time.time())


def training_run(tmp_path: Path) -> Run:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c\n", encoding="utf-8")
    return Run.create(TrainConfig.from_dict({"corpus": str(corpus), "epochs": 3}), name="live-café")


def test_the_feed_answers_only_with_its_token_and_on_the_loopback(feed, tmp_path: Path) -> None:
    server, _ = feed
    run = training_run(tmp_path)
    url = server.url(run.name)
    assert url.startswith(f"http://127.0.0.1:{server.port}/{server.token}/")
    assert "live-caf%C3%A9" in url  # the run's name, quoted
    code, headers, body = fetch(url)
    assert code == 200 and set(body) == {"html", "phase", "ended"}
    assert headers["Access-Control-Allow-Origin"] == "*"  # the page is served from Streamlit's port
    assert headers["Cache-Control"] == "no-store"
    assert fetch(url.replace(server.token, "guessed"))[0] == 404
    assert fetch(f"http://127.0.0.1:{server.port}/")[0] == 404
    code, _, body = fetch(server.url("no such run"))
    assert code == 404 and "no such run" in body["error"]


def test_the_panel_follows_a_training_run_and_says_when_it_ends(feed, tmp_path: Path) -> None:
    server, _ = feed
    run = training_run(tmp_path)
    with run.lock():  # as the training process holds it
        run.set_status("running", "epoch 1")
        _, _, body = fetch(server.url(run.name))
        assert not body["ended"]
        assert "Running: epoch 1…" in body["html"]
        assert "The loss chart fills in once the first steps are done." in body["html"]
        for i in range(1, 11):
            run.append_metric(step(i / 30))
        run.append_metric(WatchRow([WatchResult("<b>chip</b>", [("intel", 0.81)], [])], time.time()))
        _, _, body = fetch(server.url(run.name))
        html = body["html"]
        assert "10 loss points logged" in html
        assert "33% done · ETA 7 s" in html and 'aria-valuenow="33"' in html
        assert "1 / 3" in html and "1,234,567" in html and "0.6000" in html
        assert 'alt="loss chart" src="data:image/svg+xml;base64,' in html
        assert "&lt;b&gt;chip&lt;/b&gt;" in html and "<b>chip" not in html  # words from a corpus are escaped
        assert "intel 0.81" in html
        run.append_metric(step(11 / 30))
        _, _, body = fetch(server.url(run.name))
        assert "11 loss points logged" in body["html"]
        run.set_status("finished", "done", epochs_done=3)
    _, _, body = fetch(server.url(run.name))
    assert body["ended"]


def test_each_poll_reads_only_what_was_appended(feed, tmp_path: Path) -> None:
    _, panels = feed
    run = training_run(tmp_path)
    for i in range(1, 2001):
        run.append_metric(step(i / 3000))
    panels(run.name)
    reader = panels.readers.reader(run)
    before = reader.bytes_read
    run.append_metric(step(2001 / 3000))
    panels(run.name)
    assert reader.steps == 2001
    assert reader.bytes_read - before < 400  # one row, not the file again


# --- issue 22, class 3: silent connections are closed and do not pile up threads ---------------------------


def handler_threads() -> int:
    return sum("process_request_thread" in thread.name for thread in threading.enumerate())


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes `sock` (end of stream or reset) before `seconds` pass."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


@pytest.mark.parametrize("sent", [b"", b"GET /", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
def test_a_silent_connection_is_closed_within_a_bound(feed, sent: bytes) -> None:
    server, _ = feed
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(sent)  # nothing, half a request line, headers that never end
        assert closed_within(sock, LiveFeed.IDLE_S + 15)


def test_many_silent_connections_do_not_pile_up_threads(feed, tmp_path: Path) -> None:
    server, _ = feed
    run = training_run(tmp_path)
    before = handler_threads()
    sockets = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(3 * LiveFeed.THREADS)]
    peak = 0
    try:
        for sock in sockets:
            assert closed_within(sock, LiveFeed.IDLE_S + 15)
            peak = max(peak, handler_threads() - before)
    finally:
        for sock in sockets:
            sock.close()
    assert peak <= LiveFeed.THREADS
    wait_for(lambda: handler_threads() == before, timeout=LiveFeed.IDLE_S + 15)
    assert fetch(server.url(run.name))[0] == 200  # the feed still answers


@pytest.mark.parametrize("host", ["evil.test", "evil.test:8501", "127.0.0.1.evil.test", ""])
def test_the_feed_refuses_a_foreign_host(feed, tmp_path: Path, host: str) -> None:
    server, _ = feed
    run = training_run(tmp_path)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.putrequest("GET", server.url(run.name).split(str(server.port), 1)[1], skip_host=True)
    if host:
        connection.putheader("Host", host)
    connection.endheaders()
    assert connection.getresponse().status == 403
    connection.close()
