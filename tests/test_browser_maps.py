"""The Projection page in headless Chromium on a PTB run: search, click, isolate, t-SNE frames and cancelling;
Tour screenshots."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_browser import ARTIFACTS, ROOT, app_url  # noqa: F401 - app_url is a fixture

from core.bench.watch import chromium_page

pytestmark = pytest.mark.browser
TOUR = ROOT / "docs" / "tour"

# The first plotly chart's focus trace (the searched word and its neighbours, drawn last), as plain lists.
FOCUS_WORDS = "() => { const gd = document.querySelector('.js-plotly-plot'); return gd._fullData.at(-1).text; }"
# Pixel position of a word of the focus trace, so the test clicks it as a person would.
WORD_XY = """(word) => {
  const gd = document.querySelector('.js-plotly-plot');
  const d = gd._fullData.at(-1), i = d.text.indexOf(word), box = gd.getBoundingClientRect();
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  return [box.left + xa._offset + xa.l2p(d.x[i]), box.top + ya._offset + ya.l2p(d.y[i])];
}"""
INTO_VIEW = "() => document.querySelector('.js-plotly-plot').scrollIntoView({block: 'center'})"
# The searched word's neighbour whose point lies farthest from every other point and outside the legend, so a
# click lands on it alone.
LONELY = """() => {
  const gd = document.querySelector('.js-plotly-plot'), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const px = (t, i) => [xa.l2p(t.x[i]), ya.l2p(t.y[i])];
  const all = gd._fullData.flatMap(t => Array.from(t.x || [], (_, i) => px(t, i)));
  const focus = gd._fullData.at(-1), box = gd.getBoundingClientRect();
  const legend = gd.querySelector('.legend'), cover = legend ? legend.getBoundingClientRect() : null;
  const covered = (x, y) => {
    const cx = x + box.left + xa._offset, cy = y + box.top + ya._offset;
    return cover && cx >= cover.left - 8 && cx <= cover.right + 8 && cy >= cover.top - 8 && cy <= cover.bottom + 8;
  };
  let best = null, far = -1;
  focus.text.forEach((word, i) => {
    if (i === 0) return;
    const [x, y] = px(focus, i);
    if (covered(x, y)) return;  // the cluster legend lies over the plot and would take the click
    const near = Math.min(...all.map(([a, b]) => Math.hypot(a - x, b - y) || Infinity));
    if (near > far) { far = near; best = word; }
  });
  return best;
}"""
# Every distinct map title until the finished t-SNE map shows (or 150 s pass).
TSNE_TITLES = """async () => {
  const seen = [];
  for (const start = Date.now(); Date.now() - start < 150000; ) {
    const gd = document.querySelector('.js-plotly-plot');
    const raw = gd && gd.layout && gd.layout.title && gd.layout.title.text;
    const title = raw && raw.replace(/<[^>]+>/g, '');  // Streamlit wraps titles in <b>
    if (title && !seen.includes(title)) seen.push(title);
    if (title && title.startsWith('t-SNE') && !title.includes('iteration')) break;
    await new Promise(r => setTimeout(r, 40));
  }
  return seen;
}"""


# Resolves once the map's title says t-SNE is iterating towards `arg` iterations.
ITERATING_TO = """(total) => {
  const gd = document.querySelector('.js-plotly-plot');
  const title = gd && gd.layout && gd.layout.title && gd.layout.title.text;
  return Boolean(title && title.includes(`of ${total}`));
}"""


def server_pid(url: str) -> int:
    """The process of the Streamlit server listening at `url`."""
    port = url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(command) and port.encode() in command:
            return int(entry.name)
    raise AssertionError(f"no streamlit process on port {port}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seconds_until_idle(pid: int, within: float = 10.0, idle_cores: float = 0.3) -> float | None:
    """How long until the process uses less than `idle_cores` over a second; None if not within `within` s."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        before = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - before < idle_cores:
            return time.monotonic() - began
    return None


def start_long_tsne(page, iterations: int = 5000) -> None:
    """Ask for a t-SNE of `iterations` iterations (tens of seconds) and wait for its first frame."""
    page.get_by_text("t-SNE (keeps local neighbourhoods").click()
    page.get_by_text("t-SNE settings").click()
    field = page.get_by_label("Iterations")
    field.fill(str(iterations))
    field.press("Enter")
    page.wait_for_function(ITERATING_TO, arg=iterations)


@pytest.fixture
def ptb_run(isolated_runs: Path, ptb_dir: Path) -> str:
    """One epoch of PTB in the fast mode: the vocabulary and neighbours of a real run."""
    env = {**os.environ, "W2V_RUNS_DIR": str(isolated_runs), "W2V_DATA_DIR": str(ptb_dir)}
    command = [sys.executable, "-m", "core", "train", "--epochs", "1", "--threads", "2", "--name", "ptb"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    return "ptb"


def test_search_click_isolate_and_tsne_frames(ptb_run: str, app_url: str) -> None:  # noqa: F811
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    TOUR.mkdir(parents=True, exist_ok=True)
    with chromium_page(height=1100, timeout_s=90) as page:
        page.goto(f"{app_url}/projection")
        expect(page.get_by_text("PCA of 1,000 words")).to_be_visible()
        search = page.get_by_label("Search a word (it and its neighbours are always on the map)")
        search.fill("chip")
        search.press("Enter")
        expect(page.get_by_text("PCA of 1,011 words")).to_be_visible()  # chip (rank 2,082) and 10 neighbours added
        words = page.evaluate(FOCUS_WORDS)
        assert len(words) == 11 and words[0] == "chip"
        page.screenshot(path=str(TOUR / "projection.png"))

        lonely = page.evaluate(LONELY)
        page.evaluate(INTO_VIEW)  # a point below the window's edge cannot be clicked
        page.wait_for_timeout(300)
        page.mouse.click(*page.evaluate(WORD_XY, lonely))
        expect(page.get_by_text(f"Neighbours of {lonely}")).to_be_visible(timeout=20_000)

        page.get_by_text("Isolate", exact=True).click()
        expect(page.get_by_text("PCA of 50 words around chip")).to_be_visible()
        assert len(page.evaluate(FOCUS_WORDS)) == 50
        page.get_by_text("Isolate", exact=True).click()
        expect(page.get_by_text("PCA of 1,011 words")).to_be_visible()

        page.get_by_text("t-SNE (keeps local neighbourhoods").click()
        titles = page.evaluate(TSNE_TITLES)
        frames = [t for t in titles if "iteration" in t]
        assert len(frames) >= 2, titles
        assert titles[-1] == "t-SNE of 1,011 words", titles
        page.screenshot(path=str(TOUR / "projection-tsne.png"))

        server = server_pid(app_url)
        start_long_tsne(page)
        page.get_by_text("PCA (instant, linear)").click()  # a new request cancels the running t-SNE
        expect(page.get_by_text("PCA of 1,011 words")).to_be_visible()
        assert seconds_until_idle(server) is not None, "the cancelled t-SNE kept the server busy"
        start_long_tsne(page)
        page.close()  # a closed tab cancels it too
        assert seconds_until_idle(server) is not None, "the t-SNE of a closed tab kept the server busy"


def test_tour_screenshots(ptb_run: str, isolated_runs: Path, app_url: str) -> None:  # noqa: F811
    """One picture per page for the README's Tour, on a finished PTB run, and what two of those pages must do
    at 1400 × 1000: Home's run table fits, and the Neighbours box keeps what is typed into it."""
    from playwright.sync_api import expect

    from core.runs import Run

    # A second run as a user's runs read: the default name (date, corpus, mode) and a status message.
    shutil.copytree(isolated_runs / ptb_run, isolated_runs / "20261207-091500-ptb-fast-2")
    copy = Run.open(isolated_runs / "20261207-091500-ptb-fast-2")
    message = "stopped by the user; resume continues from the last finished epoch"
    copy.set_status("stopped", message, **copy.status().figures())
    TOUR.mkdir(parents=True, exist_ok=True)
    with chromium_page(height=1000, timeout_s=90) as page:
        for path, heading in (("", "Word2Vec Studio"), ("train", "Train"), ("neighbours", "Neighbours")):
            page.goto(f"{app_url}/{path}")
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            page.wait_for_timeout(1500)  # charts settle
            page.screenshot(path=str(TOUR / f"{path or 'home'}.png"))
            if path == "":
                table = page.evaluate(TABLE_FIT)
                assert table["right"] <= 1400 and table["content"] <= table["shown"], table  # no column cut off
        type_chipp_after_chip(page)
        page.goto(f"{app_url}/inside")
        expect(page.get_by_role("heading", name="Inside the model", exact=True)).to_be_visible()
        expect(page.get_by_role("heading", name="6. The result")).to_be_visible()  # every section has drawn
        expect(page.locator(".js-plotly-plot").first).to_be_visible()  # the histogram
        page.wait_for_timeout(1500)
        page.screenshot(path=str(TOUR / "inside.png"))


# The first table's right edge and its columns' width (the grid's scroll width) against the width it shows.
TABLE_FIT = """() => {
  const frame = document.querySelector('[data-testid="stDataFrame"]'), grid = frame.querySelector('.dvn-scroller');
  return {right: frame.getBoundingClientRect().right, content: grid.scrollWidth, shown: grid.clientWidth};
}"""


def type_chipp_after_chip(page) -> None:
    """With "chip" asked (the page's first word on PTB), type "chipp" key by key as a person would: the box
    keeps "chipp" (Streamlit's selectbox made it "p") and the page offers the closest spellings."""
    from playwright.sync_api import expect

    expect(page.get_by_text("Nearest to “chip” (center)")).to_be_visible()
    box = page.get_by_role("textbox", name="Query word")
    box.click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("chipp", delay=50)
    expect(box).to_have_value("chipp")
    page.keyboard.press("Enter")
    expect(page.get_by_text("“chipp” is not in the vocabulary of these vectors.")).to_be_visible()
    expect(box).to_have_value("chipp")
    expect(page.get_by_role("button", name="chip", exact=True)).to_be_visible()  # a suggestion
