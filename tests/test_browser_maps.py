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
from pages.parts.charts import CHAR_EM, LABEL_HEIGHT_EM, LABEL_SIZE

pytestmark = pytest.mark.browser
TOUR = ROOT / "docs" / "tour"

# The words of the map's focus trace (the searched word and its neighbours, ringed), as a plain list.
FOCUS_WORDS = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  return gd._fullData.find(t => (t.name || '').endsWith(' and its neighbours') && !t.name.startsWith('clicked')).text;
}"""
# Pixel position of a word's point (a marker trace carries each point's word as customdata), to click it as a
# person would.
WORD_XY = """(word) => {
  const gd = document.querySelector('.js-plotly-plot'), box = gd.getBoundingClientRect();
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const t = gd._fullData.find(t => t.mode === 'markers' && Array.from(t.customdata || []).includes(word));
  const i = Array.from(t.customdata).indexOf(word);
  return [box.left + xa._offset + xa.l2p(t.x[i]), box.top + ya._offset + ya.l2p(t.y[i])];
}"""
# The searched word's neighbour whose point lies farthest from every other point and outside the legend, so a
# click lands on it alone.
LONELY = """() => {
  const gd = document.querySelector('.js-plotly-plot'), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const points = gd._fullData.filter(t => t.mode === 'markers');
  const px = (t, i) => [xa.l2p(t.x[i]), ya.l2p(t.y[i])];
  const all = points.flatMap(t => Array.from(t.x || [], (_, i) => px(t, i)));
  const focus = points.find(t => (t.name || '').endsWith(' and its neighbours'));
  let best = null, far = -1;
  focus.text.forEach((word, i) => {
    if (i === 0) return;
    const [x, y] = px(focus, i);
    const near = Math.min(...all.map(([a, b]) => Math.hypot(a - x, b - y) || Infinity));
    if (near > far) { far = near; best = word; }
  });
  return best;
}"""
# The map element's box in the window.
MAP_BOX = """() => { const b = document.querySelector('.js-plotly-plot').getBoundingClientRect();
  return {top: b.top, width: b.width, height: b.height}; }"""
# Every drawn label (the plot's SVG text of its text traces) with its box in the window.
LABEL_BOXES = """() => Array.from(document.querySelectorAll('.js-plotly-plot .scatterlayer g.textpoint text')).map(
  t => { const b = t.getBoundingClientRect(); return [t.textContent, b.left, b.top, b.right, b.bottom]; })"""
# The opacity of every drawn point of the map, its trace's opacity included.
OPACITIES = """() => Array.from(document.querySelectorAll('.js-plotly-plot .scatterlayer .trace path.point')).map(
  p => Number(getComputedStyle(p).opacity) * Number(getComputedStyle(p.closest('.trace')).opacity))"""
# Whether the map on the page is a drawn 3-D scene.
SCENE_DRAWN = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  return Boolean(gd && gd._fullLayout && gd._fullLayout.scene);
}"""
CAMERA = "() => JSON.parse(JSON.stringify(document.querySelector('.js-plotly-plot')._fullLayout.scene.camera))"
# Every distinct map title until the finished t-SNE map shows (or 150 s pass), and what showed greyed (stale)
# meanwhile: any visible control or map left over from the last run.
TSNE_TITLES = """async () => {
  const seen = [], stale = new Set();
  for (const start = Date.now(); Date.now() - start < 150000; ) {
    const gd = document.querySelector('.js-plotly-plot');
    const raw = gd && gd.layout && gd.layout.title && gd.layout.title.text;
    const title = raw && raw.replace(/<[^>]+>/g, '');  // Streamlit wraps titles in <b>
    if (title && !seen.includes(title)) seen.push(title);
    if (title && title.includes('iteration')) {
      document.querySelectorAll('[data-stale="true"]').forEach(e => {
        if (e.getClientRects().length && e.querySelector('input, button, [role=radiogroup], .js-plotly-plot'))
          stale.add(e.innerText.slice(0, 60));
      });
    }
    if (title && title.startsWith('t-SNE') && !title.includes('iteration')) break;
    await new Promise(r => setTimeout(r, 40));
  }
  return [seen, Array.from(stale)];
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
    choose(page, "Method", "t-SNE")
    page.get_by_role("button", name="Map settings").click()
    field = page.get_by_label("Iterations")
    field.fill(str(iterations))
    field.press("Enter")
    page.wait_for_function(ITERATING_TO, arg=iterations)
    page.keyboard.press("Escape")  # the settings' popover closes


def choose(page, group: str, option: str) -> None:
    """Click an option of one of the map's radio groups (Method, Dimensions)."""
    page.get_by_role("radiogroup", name=group).get_by_text(option, exact=True).click()


def boxes_apart(boxes: list) -> list[tuple[str, str]]:
    """The pairs of labels whose (word, left, top, right, bottom) boxes intersect."""
    return [
        (a[0], b[0])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
    ]


@pytest.fixture
def ptb_run(isolated_runs: Path, ptb_dir: Path) -> str:
    """One epoch of PTB in the fast mode: the vocabulary and neighbours of a real run."""
    env = {**os.environ, "W2V_RUNS_DIR": str(isolated_runs), "W2V_DATA_DIR": str(ptb_dir)}
    command = [sys.executable, "-m", "core", "train", "--epochs", "1", "--threads", "2", "--name", "ptb"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    return "ptb"


def map_title(page, title: str):
    """The map titles a person sees: while a new map draws, Streamlit keeps the previous one in the page, hidden
    (the page's stylesheet hides `data-retained` elements), so a title may be there twice, once hidden."""
    return page.get_by_text(title, exact=True).filter(visible=True)


def test_search_click_isolate_and_tsne_frames(ptb_run: str, app_url: str) -> None:  # noqa: F811
    """At 1400 x 1000 the map is the page; its labels never intersect, the searched word and its neighbours are
    all labelled; a click leaves the other points readable; a 3-D drag turns the camera; no control is left
    greyed while t-SNE computes; a new request or a closed tab stops a t-SNE."""
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    TOUR.mkdir(parents=True, exist_ok=True)
    with chromium_page(height=1000, timeout_s=90) as page:
        page.goto(f"{app_url}/projection")
        expect(map_title(page, "PCA of 1,000 words")).to_have_count(1)
        box = page.evaluate(MAP_BOX)
        assert box["width"] >= 1000 and box["height"] >= 750 and box["top"] < 250, box  # within the first screen
        search = page.get_by_label("Search a word (it and its neighbours are always on the map)")
        search.fill("chip")
        search.press("Enter")
        expect(map_title(page, "PCA of 1,011 words")).to_have_count(1)  # chip (rank 2,082) and 10 neighbours added
        words = page.evaluate(FOCUS_WORDS)
        assert len(words) == 11 and words[0] == "chip"
        page.screenshot(path=str(TOUR / "projection.png"))

        lonely = page.evaluate(LONELY)
        page.mouse.click(*page.evaluate(WORD_XY, lonely))
        page.wait_for_timeout(100)
        assert min(page.evaluate(OPACITIES)) >= 0.5  # plotly's own fading of the points left out of the click
        expect(page.get_by_text(f"Neighbours of {lonely}")).to_be_visible(timeout=20_000)
        expect(page.get_by_text(f"clicked: {lonely} and its neighbours")).to_be_visible()  # ringed, in the legend
        assert min(page.evaluate(OPACITIES)) >= 0.5

        page.get_by_text("Isolate", exact=True).click()
        expect(map_title(page, "PCA of 50 words around chip")).to_have_count(1)
        assert len(page.evaluate(FOCUS_WORDS)) == 11  # the word and its 10 neighbours ringed, 39 more nearby
        assert not boxes_apart(page.evaluate(LABEL_BOXES))
        page.get_by_text("Isolate", exact=True).click()
        expect(map_title(page, "PCA of 1,011 words")).to_have_count(1)

        choose(page, "Method", "t-SNE")
        titles, stale = page.evaluate(TSNE_TITLES)
        frames = [t for t in titles if "iteration" in t]
        assert len(frames) >= 2, titles
        assert titles[-1] == "t-SNE of 1,011 words", titles
        assert not stale, f"greyed leftovers while t-SNE computed: {stale}"
        page.wait_for_timeout(500)
        labels = page.evaluate(LABEL_BOXES)
        assert not boxes_apart(labels), boxes_apart(labels)
        assert set(words) <= {word for word, *_ in labels}, "chip and each of its 10 neighbours are labelled"
        chip = next(b for b in labels if b[0] == "chip")
        assert (chip[3] - chip[1]) / 4 <= CHAR_EM * LABEL_SIZE  # the browser's monospace advance fits the estimate
        assert chip[4] - chip[2] <= LABEL_HEIGHT_EM * LABEL_SIZE  # and so does its height
        page.screenshot(path=str(TOUR / "projection-tsne.png"))

        choose(page, "Method", "PCA")
        choose(page, "Dimensions", "3")
        page.wait_for_function(SCENE_DRAWN)
        before = page.evaluate(CAMERA)
        scene = page.locator(".js-plotly-plot").first.bounding_box()
        x, y = scene["x"] + scene["width"] / 2, scene["y"] + scene["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(x + 25 * step, y + 5 * step)
        page.mouse.up()
        after = page.evaluate(CAMERA)
        assert after["eye"] != before["eye"], "a drag turns the camera"
        assert after["center"] == before["center"], "a drag does not pan"
        choose(page, "Dimensions", "2")

        server = server_pid(app_url)
        start_long_tsne(page)
        choose(page, "Method", "PCA")  # a new request cancels the running t-SNE
        expect(map_title(page, "PCA of 1,011 words")).to_have_count(1)
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
