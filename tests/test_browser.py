"""End to end in headless Chromium: train live, stop, query a neighbour, download the vectors, open the map."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import app_server

from core.bench.watch import CHROMIUM, chromium_page

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.browser


@pytest.fixture
def app_url(tmp_path: Path, isolated_runs: Path) -> Iterator[str]:
    """A `streamlit run app.py` server on a free port, always terminated afterwards."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser test")
    env = {**os.environ, "W2V_RUNS_DIR": str(isolated_runs), "W2V_MAX_JOBS": "1"}
    env.setdefault("W2V_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    with app_server(tmp_path, env) as port:
        yield f"http://localhost:{port}"


def logged_points(page) -> int:
    text = page.get_by_text(re.compile(r"\d+ loss points logged")).inner_text()
    return int(text.split()[0])


def settled(page) -> None:
    """Wait until the app's script run, if one was asked for, has ended: a loaded machine otherwise
    has the next keystrokes meet a form that is being redrawn."""
    page.wait_for_timeout(200)
    page.wait_for_selector('[data-test-script-state="notRunning"]')


def test_train_watch_stop_query_and_map(app_url: str) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    with chromium_page(height=1700, timeout_s=60) as page:
        page.goto(f"{app_url}/train")  # a deep link as the server's very first visit still gets app.py's pages
        expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="common")).to_have_count(0)
        page.get_by_role("link", name="Home").click()
        expect(page.get_by_role("heading", name="Word2Vec Studio")).to_be_visible()

        page.get_by_role("link", name="Train").click()
        page.get_by_text("Lee news corpus").click()
        settled(page)
        page.get_by_text("book", exact=True).click()  # the book mode: 1000 epochs last minutes, so Stop finds it live
        settled(page)
        for label, value in (("Minimum word count", "5"), ("Epochs", "1000")):
            field = page.get_by_label(re.compile(f"^{label}"))
            field.fill(value)
            field.press("Enter")
        expect(page.get_by_label(re.compile("^Epochs"))).to_have_value("1000")
        page.get_by_role("button", name="Start").click()

        points = page.get_by_text(re.compile(r"\d+ loss points logged"))
        expect(points).to_be_visible()
        first = later = logged_points(page)
        for _ in range(40):  # the page polls once a second; a loaded machine may pause the training process
            page.wait_for_timeout(500)
            if (later := logged_points(page)) > first:
                break
        assert later > first, "the loss chart gains points while training"
        expect(page.get_by_role("img", name="loss chart")).to_be_visible()  # the live chart, an SVG image
        page.screenshot(path=str(ARTIFACTS / "train-live.png"), full_page=True)

        page.get_by_role("button", name="Stop").click()
        expect(page.get_by_text(re.compile("^Stopped:"))).to_be_visible()
        expect(page.get_by_role("button", name="Resume")).to_be_enabled()
        expect(page.locator(".js-plotly-plot").first).to_be_visible()  # a stopped run's chart is interactive
        page.screenshot(path=str(ARTIFACTS / "train-stopped.png"), full_page=True)

        page.get_by_role("link", name="Neighbours").click()
        expect(page.get_by_text(re.compile("Nearest to"))).to_be_visible()
        page.get_by_role("textbox", name="Query word").click()
        page.keyboard.press("ControlOrMeta+A")
        page.keyboard.type("police")
        page.keyboard.press("Enter")
        expect(page.get_by_text("Nearest to “police” (center)")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "neighbours.png"), full_page=True)
        with page.expect_download() as download:
            page.get_by_role("button", name="Download vectors").click()
        assert download.value.suggested_filename.endswith("-center.txt")
        count, dim = Path(download.value.path()).read_text(encoding="utf-8").splitlines()[0].split()
        assert int(dim) == 100 and int(count) > 1000  # the word2vec text header of the Lee run's vectors

        page.get_by_role("link", name="Projection").click()
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        highlight = page.get_by_label("Search a word (it and its neighbours are always on the map)")
        highlight.fill("police")
        highlight.press("Enter")
        expect(page.get_by_text("police and its neighbours", exact=True)).to_be_visible()  # legend entry
        expect(page.get_by_role("button", name="Download coordinates (CSV)")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "projection.png"), full_page=True)


def test_a_live_run_is_followed_without_reruns_and_its_end_shows_by_itself(app_url: str) -> None:
    """While a run trains, the panel updates from the browser (pages.parts.live): Streamlit sends the page
    nothing and is asked for nothing, which is what made watching cost the training a quarter of a core.
    A rerun meanwhile (new watch words) keeps one poller, not two. When the run ends (stopped from outside the
    page, as by the command line, so that it still trains while the test looks), the page shows the ended run
    without the user doing anything."""
    from playwright.sync_api import expect

    from core.runs import list_runs

    with chromium_page(height=1700, timeout_s=60) as page:
        frames, feed = {"in": 0, "out": 0}, []

        def count(socket) -> None:
            socket.on("framereceived", lambda _: frames.__setitem__("in", frames["in"] + 1))
            socket.on("framesent", lambda _: frames.__setitem__("out", frames["out"] + 1))

        page.on("websocket", count)
        page.on("request", lambda request: feed.append(request.url) if "127.0.0.1" in request.url else None)
        page.goto(f"{app_url}/train")
        expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
        page.get_by_text("Lee news corpus").click()
        settled(page)
        page.get_by_text("book", exact=True).click()  # the book mode: 1000 epochs last minutes, not seconds
        settled(page)
        for label, value in (("Minimum word count", "5"), ("Epochs", "1000")):
            field = page.get_by_label(re.compile(f"^{label}"))
            field.fill(value)
            field.press("Enter")
            settled(page)
        expect(page.get_by_label(re.compile("^Epochs"))).to_have_value("1000")
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_text(re.compile(r"\d+ loss points logged"))).to_be_visible()
        expect(page.get_by_role("progressbar")).to_be_visible()
        expect(page.get_by_text(re.compile(r"^\d+% done · ETA"))).to_be_visible()
        page.wait_for_timeout(500)  # the Start's own rerun has settled
        before, first = dict(frames), logged_points(page)
        page.wait_for_timeout(2500)
        expect(page.get_by_text(re.compile(r"^Running"))).to_be_visible()
        assert frames == before, f"Streamlit reran while the run trained: {before} -> {frames}"
        assert logged_points(page) > first, "the panel gains points while training"

        words = page.get_by_label("Watch words (comma separated)")
        words.fill("government")
        words.press("Enter")
        expect(page.get_by_role("cell", name="government", exact=True)).to_be_visible()  # the process took them
        polls = len(feed)
        page.wait_for_timeout(3000)
        assert len(feed) - polls <= 4, f"{len(feed) - polls} feed requests in 3 s: a second poller was left"

        [run] = list_runs()
        assert run.status().state == "running", "the run must still train here: the checks above need it live"
        run.request_stop()  # as `python -m core stop` does
        expect(page.get_by_text(re.compile(r"^Stopped:"))).to_be_visible()
        expect(page.locator(".js-plotly-plot").first).to_be_visible()  # the ended run's interactive chart
        expect(page.get_by_role("button", name="Resume")).to_be_enabled()
        expect(page.get_by_role("button", name="Stop")).to_be_disabled()


def test_a_run_queued_behind_another_shows_when_the_first_ends(app_url: str) -> None:
    """One training at a time: the second Start waits in the queue; when the first run ends (stopped from
    outside the page), the page shows the second one training within 3 s, with no reload."""
    from playwright.sync_api import expect

    from core.runs import list_runs

    with chromium_page(height=1700, timeout_s=60) as page:
        page.goto(f"{app_url}/train")
        expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
        page.get_by_text("Lee news corpus").click()
        settled(page)
        page.get_by_text("book", exact=True).click()  # the book mode: 1000 epochs last minutes, so the first run
        settled(page)  # still trains when the second Start comes; the test ends it
        for label, value in (("Minimum word count", "5"), ("Epochs", "1000")):
            field = page.get_by_label(re.compile(f"^{label}"))
            field.fill(value)
            field.press("Enter")
            settled(page)
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_text(re.compile(r"\d+ loss points logged"))).to_be_visible()  # the first run trains
        [first] = list_runs()
        settled(page)
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_role("heading", name="Queue")).to_be_visible()
        [second] = [run for run in list_runs() if run.name != first.name]
        assert second.status().state == "queued", "the second run waits while the first trains"

        first.request_stop()  # the first run ends (as `python -m core stop` ends it)
        while first.status().state == "running":
            page.wait_for_timeout(50)
        notice = page.get_by_text(f"now showing run {second.name}, next in the queue")
        expect(notice).to_be_visible(timeout=3000)
        expect(page.get_by_text(re.compile(r"^Running"))).to_be_visible(timeout=3000)
        expect(page.get_by_role("heading", name="Queue")).to_have_count(0, timeout=3000)
        expect(page.get_by_text(re.compile(r"\d+ loss points logged"))).to_be_visible()  # the second run's chart
        page.get_by_role("button", name="Stop").click()
        expect(page.get_by_text(re.compile("^Stopped:"))).to_be_visible()
