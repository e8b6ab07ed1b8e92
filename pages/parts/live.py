"""The Train page's live panel as one HTML fragment: the state, progress bar and ETA, the four figures,
the loss chart, the count of loss points and the watch words' neighbours, as the training process
last wrote them.

`pages.parts.live_feed` serves it to the browser, which swaps it in each second without a Streamlit rerun.
Every text that comes from a run (words of the corpus, messages) is escaped.
"""

from __future__ import annotations

import base64
import threading
from html import escape
from pathlib import Path
from typing import Any

from core.config import ConfigError
from core.runs import MetricsReader, Run, RunError, Status
from core.runs.launcher import Launcher
from pages.parts.charts import loss_svg

LIVE_STATES = ("running", "queued")


def active(reg: Launcher, run: Run, status: Status) -> bool:
    """Training or waiting to train, started here or by any other process: the page keeps following it."""
    return reg.is_live(run) or reg.is_queued(run) or status.state in LIVE_STATES


def safe_status(run: Run) -> Status:
    """The run's status; a damaged or unreadable one reads as state `damaged` with the reason as its message."""
    try:
        return run.status()
    except RunError as exc:
        return Status("damaged", str(exc))


def state_line(status: Status, reg: Launcher, run: Run) -> str:
    """What the run is doing, in the words the page's status box uses while it trains or waits."""
    if status.state == "queued" and reg.is_live(run):
        return "Running: starting the training process…"
    if status.state == "queued":
        return f"Run {run.name} waits in the queue above; Stop takes it out."
    if status.state == "running":
        return f"Running: {status.message or 'training'}…"
    return f"{status.state.capitalize()}."


def panel_html(run: Run, reader: MetricsReader, status: Status, reg: Launcher) -> str:
    parts = [f'<div class="state">{escape(state_line(status, reg, run))}</div>']
    if reader.last is None:
        parts.append('<p class="caption">The loss chart fills in once the first steps are done.</p>')
    else:
        parts.append(progress_html(reader, run.config().epochs))
    parts.append("<h3>Watch words</h3>")
    parts.append(watch_html(reader))
    return "".join(parts)


def progress_html(reader: MetricsReader, epochs: int) -> str:
    """Progress bar and ETA, the four figures, the loss chart (an SVG image) and, for several processes,
    each one's throughput."""
    last = reader.last
    eta = f"ETA {last.eta_s:.0f} s" if last.eta_s < float("inf") else "ETA unknown"
    share = min(max(last.fraction, 0.0), 1.0)
    figures = (
        ("Epoch", f"{last.epoch} / {epochs}"),
        ("Tokens/s", f"{last.tokens_per_s:,.0f}"),
        ("Elapsed", f"{last.elapsed_s:.1f} s"),
        ("Loss", f"{last.loss:.4f}"),
    )
    cells = "".join(f'<div><div class="label">{a}</div><div class="value">{b}</div></div>' for a, b in figures)
    svg = base64.b64encode(loss_svg(reader, epochs).encode("utf-8")).decode("ascii")
    parts = [
        f'<div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
        f'aria-valuenow="{share * 100:.0f}"><div style="width:{share:.1%}"></div></div>',
        f'<p class="caption">{share:.0%} done · {eta}</p>',
        f'<div class="figures">{cells}</div>',
        f'<img class="chart" alt="loss chart" src="data:image/svg+xml;base64,{svg}">',
        f'<p class="caption">{reader.steps} loss points logged</p>',
    ]
    if last.rank_tokens_per_s:
        ranks = list(last.rank_tokens_per_s)
        parts.append(f'<p class="caption">{len(ranks)} processes; raw tokens per second of each:</p>')
        parts.append(table(("rank", "raw tokens/s"), [(str(i), f"{v:,.0f}") for i, v in enumerate(ranks)]))
    return "".join(parts)


def watch_html(reader: MetricsReader) -> str:
    if reader.watch is None:
        return '<p class="caption">Neighbours of the watch words appear once training starts.</p>'
    rows = []
    for result in reader.watch.results:
        near = ", ".join(f"{w} {s:.2f}" for w, s in result.neighbors)
        closest = ", ".join(result.suggestions) or "none"
        rows.append((result.word, near or f"not in the vocabulary; closest: {closest}"))
    return table(("word", "top-5 neighbours (cosine)"), rows)


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """An HTML table of plain texts, every cell escaped (words come from the user's corpus)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


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
    """`pages.parts.live_feed`'s render function: a run name to its panel and whether it still trains or waits."""

    def __init__(self, reg: Launcher, readers: Readers) -> None:
        self.reg = reg
        self.readers = readers

    def __call__(self, name: str) -> dict[str, Any]:
        try:
            run = Run.open(name, self.reg.root)
        except RunError as exc:
            raise LookupError(str(exc)) from exc
        status = safe_status(run)
        reader = self.readers.reader(run)
        reader.poll()
        try:
            html = panel_html(run, reader, status, self.reg)
        except (RunError, ConfigError) as exc:  # a damaged config
            html = f'<p class="error">{escape(str(exc))}</p>'
        return {"html": html, "ended": not active(self.reg, run, status)}
