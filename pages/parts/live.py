"""The Train page's live panel while a run trains or waits: one renderer of its HTML, shown two ways.

A browser on this machine mounts `live_panel`'s component, which fetches the panel from `LiveFeed` each
second and swaps it in, with no Streamlit rerun. Why: a Streamlit poll reruns the page's fragment and the
browser then rebuilds the whole app's element tree; on two cores that cost headless Chromium about a
quarter of a core at one poll a second, taken from the training process, where a swap costs a few
milliseconds. Elsewhere (a remote browser, AppTest) the page's fragment polls and shows the same HTML.

The panel holds the state line, progress with ETA, the four figures, the loss chart (an SVG image), the
processes' throughput and the watch words' neighbours, as the training process last wrote them. Every
text that comes from a run (words of the corpus, messages) is escaped.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import streamlit as st

from core.config import ConfigError
from core.runs import MetricRow, MetricsReader, Run, RunError, Status, WatchResult
from core.runs.launcher import Launcher
from pages.parts.charts import DEFAULT_VIEW, LossView, loss_svg
from pages.parts.hosts import host_allowed

LIVE_STATES = ("running", "queued")
POLL_MS = 1000
NO_STEPS_YET = "The loss chart fills in once the first steps are done."
NO_WATCH_YET = "Neighbours of the watch words appear once training starts."
WATCH_HEADER = ("word", "top-5 neighbours (cosine)")
RANKS_HEADER = ("rank", "raw tokens/s")


def phase(reg: Launcher, run: Run, status: Status) -> str:
    """`queued`, `running` (its process starts or trains) or `ended`: what the page around the panel shows
    changes with it (the queue list, the buttons), so a change of phase redraws the page."""
    if reg.is_live(run) or status.state == "running":
        return "running"
    return "queued" if reg.is_queued(run) or status.state in LIVE_STATES else "ended"


def safe_status(run: Run) -> Status:
    """The run's status; a damaged or unreadable one reads as state `damaged` with the reason as its message."""
    try:
        return run.status()
    except RunError as exc:
        return Status("damaged", str(exc))


def state_line(status: Status, reg: Launcher, run: Run) -> str:
    """What the run is doing while it trains or waits."""
    if status.state == "queued" and reg.is_live(run):
        return "Running: starting the training process…"
    if status.state == "queued":
        return f"Run {run.name} waits in the queue above; Stop takes it out."
    if status.state == "running":
        return f"Running: {status.message or 'training'}…"
    return f"{status.state.capitalize()}."


# --- what the live panel and the page's view of an ended run both show ---------------------------------


def share_done(last: MetricRow) -> float:
    return min(max(last.fraction, 0.0), 1.0)


def progress_text(last: MetricRow, state: str = "running") -> str:
    """`71% done · ETA 3 s` while the run trains; otherwise where it stands (`Stopped at 71%`, `Queued at 71%` for
    a resumed run that waits), with no ETA."""
    if state == "running":
        eta = f"ETA {last.eta_s:.0f} s" if last.eta_s < float("inf") else "ETA unknown"
        return f"{share_done(last):.0%} done · {eta}"
    if state == "finished":
        return "100% done"
    return f"{state.capitalize()} at {share_done(last):.0%}"


CENTERS_LABEL = "Book's tokens/sec"
RAW_LABEL = "Raw tokens/s"
SPEED_CAPTION = (
    "The book's tokens/sec is what D2L's train function prints: center words trained per second, after "
    "subsampling (centers/s). Raw tokens/s counts the corpus's tokens before subsampling, as gensim and our "
    "benchmarks do."
)


def figures(last: MetricRow, epochs: int) -> tuple[tuple[str, str], ...]:
    """The figures under the progress bar, as (label, value): both speeds, each named as what it counts."""
    centers = f"{last.centers_per_s:,.0f}" if last.centers_per_s is not None else "–"
    return (
        ("Epoch", f"{last.epoch} / {epochs}"),
        ("Loss", f"{last.loss:.4f}"),
        (CENTERS_LABEL, centers),
        (RAW_LABEL, f"{last.tokens_per_s:,.0f}"),
        ("Elapsed", f"{last.elapsed_s:.1f} s"),
    )


def points_logged(reader: MetricsReader) -> str:
    return f"{reader.steps} loss points logged"


def ranks_caption(ranks: list[float]) -> str:
    """Throughput of each process of a data-parallel run: a slow rank holds every other one back."""
    return f"{len(ranks)} processes; raw tokens per second of each, over the last interval:"


def watch_rows(results: list[WatchResult]) -> list[tuple[str, str]]:
    """A watch word and its top-5 neighbours, or, for a word the run does not know, the closest it knows."""
    rows = []
    for result in results:
        near = ", ".join(f"{w} {s:.2f}" for w, s in result.neighbors)
        rows.append((result.word, near or f"not in the vocabulary; closest: {', '.join(result.suggestions) or 'none'}"))
    return rows


# --- the panel's HTML -----------------------------------------------------------------------------------


def render(run: Run, reader: MetricsReader, status: Status, reg: Launcher, view: LossView = DEFAULT_VIEW) -> str:
    """The panel; a damaged config shows as its error in the panel."""
    try:
        return panel_html(run, reader, status, reg, view)
    except (RunError, ConfigError) as exc:
        return f'<p class="error">{escape(str(exc))}</p>'


def panel_html(run: Run, reader: MetricsReader, status: Status, reg: Launcher, view: LossView) -> str:
    parts = [f'<div class="state">{escape(state_line(status, reg, run))}</div>']
    if reader.last is None:
        parts.append(f'<p class="caption">{NO_STEPS_YET}</p>')
    else:
        parts.append(progress_html(reader, run.config().epochs, view, phase(reg, run, status)))
    parts.append("<h3>Watch words</h3>")
    parts.append(watch_html(reader))
    return "".join(parts)


def progress_html(reader: MetricsReader, epochs: int, view: LossView, now: str = "running") -> str:
    """Progress bar and ETA, the figures, the loss chart and, for several processes, each one's throughput."""
    last = reader.last
    cells = "".join(
        f'<div><div class="label">{a}</div><div class="value">{b}</div></div>' for a, b in figures(last, epochs)
    )
    svg = base64.b64encode(loss_svg(reader, epochs, view).encode("utf-8")).decode("ascii")
    parts = [
        f'<div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
        f'aria-valuenow="{share_done(last) * 100:.0f}"><div style="width:{share_done(last):.1%}"></div></div>',
        f'<p class="caption">{progress_text(last, now)}</p>',
        f'<div class="figures">{cells}</div>',
        f'<p class="caption">{escape(SPEED_CAPTION)}</p>',
        f'<img class="chart" alt="loss chart" src="data:image/svg+xml;base64,{svg}">',
        f'<p class="caption">{points_logged(reader)}</p>',
    ]
    if last.rank_tokens_per_s:
        ranks = list(last.rank_tokens_per_s)
        parts.append(f'<p class="caption">{ranks_caption(ranks)}</p>')
        parts.append(table(RANKS_HEADER, [(str(i), f"{v:,.0f}") for i, v in enumerate(ranks)]))
    return "".join(parts)


def watch_html(reader: MetricsReader) -> str:
    if reader.watch is None:
        return f'<p class="caption">{NO_WATCH_YET}</p>'
    return table(WATCH_HEADER, watch_rows(reader.watch.results))


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """An HTML table of plain texts, every cell escaped (words come from the user's corpus)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


# --- the loopback feed ----------------------------------------------------------------------------------


class Readers:
    """One metrics reader per run folder for the whole server, shared by the page and the feed, so that a
    poll, whichever asks, reads only the rows appended since the last one."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._readers: dict[Path, MetricsReader] = {}
        self._lock = threading.Lock()

    def reader(self, run: Run) -> MetricsReader:
        key = run.path.resolve()
        with self._lock:
            if key not in self._readers:
                if len(self._readers) >= self.limit:
                    self._readers.pop(next(iter(self._readers)))
                self._readers[key] = run.metrics_reader()
            return self._readers[key]


class PanelFeed:
    """What `LiveFeed` serves: a run name to its panel and whether it still trains or waits."""

    def __init__(self, reg: Launcher, readers: Readers) -> None:
        self.reg = reg
        self.readers = readers

    def __call__(self, name: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            run = Run.open(name, self.reg.root)
        except RunError as exc:
            raise LookupError(str(exc)) from exc
        status = safe_status(run)
        reader = self.readers.reader(run)
        reader.poll()
        now = phase(self.reg, run, status)
        html = render(run, reader, status, self.reg, LossView.from_query(query or {}))
        return {"html": html, "phase": now, "ended": now == "ended"}


# A run name and the URL's query (the loss chart's view) to the JSON-able reply; raises LookupError for no such run
Render = Callable[[str, dict[str, str]], dict[str, Any]]


class LiveFeed:
    """Serves `GET /<token>/<run name>` as JSON from `render`, on 127.0.0.1, in a daemon thread.

    It listens on a port the OS picks and answers only paths that carry its random token and a loopback
    Host, so no other page in the browser can read a run through it. A connection that sends nothing for
    `IDLE_S` is closed, and at most `THREADS` connections are served at once (the rest are closed at
    once): silent connections used to keep a thread each, for ever.
    """

    IDLE_S = 5.0  # a browser's poll arrives in one piece, in milliseconds
    THREADS = 16

    def __init__(self, render: Render) -> None:
        self.token = secrets.token_urlsafe(16)
        self._server = _BoundedServer(("127.0.0.1", 0), _handler(self.token, render, self.IDLE_S), self.THREADS)
        threading.Thread(target=self._server.serve_forever, name="live-feed", daemon=True).start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, run_name: str, view: LossView = DEFAULT_VIEW) -> str:
        return f"http://127.0.0.1:{self.port}/{self.token}/{quote(run_name, safe='')}?{view.query()}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most `threads` at once; a connection past that is closed unanswered."""

    daemon_threads = True
    block_on_close = False  # `close` does not wait for a connection to go idle
    request_queue_size = 64  # connections waiting to be accepted; each is then served or closed at once

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], threads: int) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(threads)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _handler(token: str, render: Render, idle_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = idle_s  # of each read: a silent connection ends there

        def do_GET(self) -> None:
            prefix = f"/{token}/"
            if not host_allowed(self.headers.get("Host")):
                self._reply(403, {"error": "this feed answers requests for the loopback only"})
                return
            if not self.path.startswith(prefix):
                self._reply(404, {"error": "not found"})
                return
            name, _, query = self.path[len(prefix) :].partition("?")
            try:
                body = render(unquote(name), dict(parse_qsl(query)))
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


# --- the panel on the page ------------------------------------------------------------------------------

# Every rule is scoped to the panel's box: the polled panel sits in the page itself, not in a shadow root.
CSS = """
:host { display: block; }
.w2v-live { font-family: var(--st-font, sans-serif); color: var(--st-text-color, #1c2430); font-size: 0.95rem; }
.w2v-live .state {
    background: #e8f0fd; color: #1d4e9e; border-radius: 0.5rem; padding: 0.9rem 1rem; margin-bottom: 0.8rem;
}
.w2v-live .progress { height: 0.5rem; background: #e5e9f0; border-radius: 0.25rem; overflow: hidden; }
.w2v-live .progress > div { height: 100%; background: var(--st-primary-color, #2f6fde); }
.w2v-live .caption { color: #6b7280; font-size: 0.85rem; margin: 0.3rem 0 0.8rem; }
.w2v-live .figures { display: flex; gap: 1rem; margin-bottom: 0.6rem; }
.w2v-live .figures > div { flex: 1; }
.w2v-live .label { font-size: 0.85rem; }
.w2v-live .value { font-size: 1.9rem; }
.w2v-live .chart { width: 100%; height: auto; display: block; }
.w2v-live h3 { font-size: 1.5rem; font-weight: 600; margin: 1rem 0 0.5rem; }
.w2v-live table { border-collapse: collapse; width: 100%; }
.w2v-live th, .w2v-live td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid #e5e9f0; }
.w2v-live th { color: #6b7280; font-weight: 400; }
.w2v-live .error { color: #b42318; }
"""

# Fetches the panel each second (not while the tab is hidden) and swaps it in; asks Python for a rerun (the
# `changed` trigger) when the run's phase changes (it starts after waiting in the queue, or ends), so that
# the page around the panel (the queue list, the buttons) or the ended run shows.
JS = f"""
export default function(component) {{
    const {{ data, parentElement, setTriggerValue }} = component;
    let box = parentElement.querySelector(".w2v-live");
    if (!box) {{
        box = document.createElement("div");
        box.className = "w2v-live";
        parentElement.appendChild(box);
    }}
    if (data.html) box.innerHTML = data.html;
    // Each phase the feed reports is told to Python once; polling goes on until the component is gone, as
    // a phase seen in passing (a process between the queue and its lock) may leave the panel where it is.
    let shown = data.html, told = data.phase, gone = false, busy = false;
    async function poll() {{
        if (gone || busy || document.hidden) return;
        busy = true;
        try {{
            const reply = await fetch(data.url, {{ cache: "no-store" }});
            if (reply.ok) {{
                const body = await reply.json();
                if (body.html !== shown) {{ box.innerHTML = body.html; shown = body.html; }}
                if (body.phase !== told) {{ told = body.phase; setTriggerValue("changed", body.phase); }}
            }} else if (reply.status === 404) {{
                gone = true; setTriggerValue("changed", "ended");
            }}
        }} catch (error) {{
            /* the server restarts or is gone: Streamlit shows that; try again at the next poll */
        }} finally {{
            busy = false;
        }}
    }}
    // Streamlit calls this again when the page reruns (new data) without always cleaning up first: one poller
    clearInterval(parentElement.w2vTimer);
    const timer = setInterval(poll, {POLL_MS});
    parentElement.w2vTimer = timer;
    return () => clearInterval(timer);
}}
"""

_mount = st.components.v2.component("w2v_live_panel", css=CSS, js=JS)


def live_panel(
    run: Run, reader: MetricsReader, status: Status, reg: Launcher, feed: LiveFeed | None, view: LossView
) -> None:
    """Draw the panel: followed by the browser through `feed`, or, with none, as it is now (the fragment
    around it polls). When the run's phase changes, the fragment reruns."""
    html = render(run, reader, status, reg, view)
    if feed is None:
        st.html(f'<div class="w2v-live">{html}</div><style>{CSS}</style>')
    else:
        data = {"url": feed.url(run.name, view), "html": html, "phase": phase(reg, run, status)}
        _mount(data=data, key=f"live_{run.name}", on_changed_change=_ignore)


def _ignore() -> None:
    """The trigger needs a callback to exist; the rerun it causes is all the page needs."""
