"""The app under misuse: bad corpora and settings, two sessions at once, deleted runs, closed tabs, hostile names."""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
from conftest import ROOT, plain, synthetic_text, wait_for
from streamlit.testing.v1 import AppTest

from core.config import SCHEMA, TrainConfig
from core.data import corpora
from core.job import train_run
from core.runs import Run, RunError, list_runs, runs_root, save_upload

APP = str(ROOT / "app.py")
LONG_LEE = {"cfg_corpus": "lee", "cfg_min_freq": 5, "cfg_epochs": 1000}  # trains until stopped
SHORT_LEE = {"cfg_corpus": "lee", "cfg_min_freq": 5, "cfg_epochs": 2}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
SCRIPT = "<script>alert(1)</script>"


def page(path: str = "pages/train.py", **settings: object) -> AppTest:
    """A new session (a new browser tab) on `path`, with session values set before its first run."""
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in settings.items():
        at.session_state[key] = value
    at.switch_page(path).run()
    assert not at.exception
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def click(at: AppTest, label: str) -> AppTest:
    button(at, label).click().run()
    assert not at.exception
    return at


def upload(at: AppTest, name: str, content: bytes) -> AppTest:
    at.radio(key="cfg_corpus").set_value("upload").run()
    at.file_uploader(key="upload").upload(name, content, "text/plain").run()
    return at


def run_folders() -> list[Path]:
    root = runs_root()
    return [p for p in root.iterdir() if p.name not in ("uploads", "queue")] if root.is_dir() else []


def uploads() -> list[Path]:
    folder = runs_root() / "uploads"
    return list(folder.iterdir()) if folder.is_dir() else []


def errors(at: AppTest) -> str:
    return "\n".join(plain(e.value) for e in at.error)


def state(run: Run) -> str:
    return run.status().state


def ended(run: Run) -> bool:
    return state(run) not in ("created", "queued", "running")


def one_run() -> Run:
    [run] = list_runs()
    return run


# --- 1. bad corpora ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, message, limit",
    [
        ("empty.txt", b"", "the corpus is empty", None),
        ("blank.txt", b"  \n\t\r\n   \n", "the corpus is empty", None),
        ("again.txt", b"again again again\n" * 50, "leaves 1 word(s)", None),
        ("picture.txt", PNG, "binary file", None),
        ("latin1.txt", "café crème\n".encode("latin-1") * 20, "not valid UTF-8", None),
        ("fake.txt.gz", b"plain text, not gzip\n", "not a valid gzip file", None),
        ("bomb.txt.gz", gzip.compress(b"a " * 2_000_000), "expands past 977 KB", 1_000_000),
        ("big.txt", b"word another\n" * 200, "larger than 1000 bytes", 1000),
    ],
)
def test_bad_corpus_is_refused_with_its_message_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, name: str, content: bytes, message: str, limit: int | None
) -> None:
    if limit is not None:
        monkeypatch.setattr(corpora, "MAX_TEXT_BYTES", limit)
    at = upload(page(), name, content)
    click(at, "Start")
    assert "Nothing was started" in errors(at) and message.lower() in errors(at).lower()
    assert "uploads" not in errors(at) and "-" + name not in errors(at)  # the user's file name, not the saved path
    assert run_folders() == [] and uploads() == []


def test_windows_line_endings_train() -> None:
    at = upload(page(cfg_min_freq=2, cfg_epochs=1), "windows.txt", synthetic_text().replace("\n", "\r\n").encode())
    click(at, "Start")
    assert not at.error
    run = one_run()
    wait_for(lambda: ended(run))
    assert state(run) == "finished"
    assert not any("\r" in token for token in run.vocab().idx_to_token)


# --- 2. bad hyperparameters ----------------------------------------------------------------------

COUNTS = ("epochs", "batch_size", "embed_size", "max_window", "negatives", "min_freq", "log_every")
BAD_VALUES = [
    *((field, value) for field in COUNTS for value in (0, -1, 10**12)),
    ("threads", -1),
    ("threads", 10**12),
    ("seed", -1),
    *((field, value) for field in ("lr", "sgd_lr") for value in (0.0, -0.5, 1e6)),
    ("subsample", -1e-4),
    ("subsample", 2.0),
    *((field, 2.5) for field in COUNTS),  # refused, never truncated to 2
]


@pytest.mark.parametrize("field, value", BAD_VALUES)
def test_out_of_range_setting_is_refused_naming_the_field(field: str, value: float) -> None:
    at = page(cfg_corpus="lee", cfg_mode="fast" if field == "sgd_lr" else "book", cfg_device="cpu")
    at.number_input(key=f"cfg_{field}").set_value(value)
    click(at, "Start")
    assert f"Nothing was started. {SCHEMA[field].label}" in errors(at) and "must be" in errors(at)
    assert run_folders() == []


@pytest.mark.parametrize(
    "settings, field",
    [
        ({"cfg_negatives": 5, "cfg_max_window": 2}, "negatives"),
        ({"cfg_negatives": 2, "cfg_max_window": 5}, "max_window"),
    ],
)
def test_vocabulary_smaller_than_k_or_the_window_is_refused(settings: dict, field: str) -> None:
    at = upload(page(cfg_min_freq=1, **settings), "three.txt", b"red green blue\n" * 30)
    click(at, "Start")
    assert f"Nothing was started. {SCHEMA[field].label}: " in errors(at) and "gives 3" in errors(at)
    assert run_folders() == [] and uploads() == []


# --- 3. concurrency and the queue ----------------------------------------------------------------


def test_two_sessions_start_at_the_same_moment_and_both_runs_finish() -> None:
    sessions = [page(**SHORT_LEE, run_name=name) for name in ("one", "two")]
    barrier = threading.Barrier(2)

    def press(at: AppTest) -> None:
        barrier.wait()
        button(at, "Start").click().run()

    threads = [threading.Thread(target=press, args=(at,)) for at in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(not at.exception and not at.error for at in sessions)
    assert any("Queue" in h.value for at in sessions for h in at.subheader), "one of them was queued and told so"
    runs = list_runs()
    assert sorted(run.name for run in runs) == ["one", "two"]
    for run in runs:
        wait_for(lambda run=run: ended(run))
        assert state(run) == "finished"


def test_a_start_while_another_trains_queues_shows_the_queue_and_can_be_cancelled() -> None:
    first = page(**LONG_LEE, run_name="first")
    click(first, "Start")
    second = page(**SHORT_LEE, run_name="second")
    assert not button(second, "Start").disabled
    click(second, "Start")
    assert state(Run.open("second")) == "queued"
    assert second.selectbox(key="shown_run").value == "first"  # the live run stays on screen
    assert [header.value for header in second.subheader].count("Queue") == 1
    assert sum("second" in m.value for m in second.markdown) == 1  # the queue is shown once
    assert not any("Queued" in box.value or "queue" in box.value for box in [*second.info, *second.html])

    home = page("pages/home.py")
    table = home.dataframe[0].value.set_index("run")
    assert table.loc["second", "state"] == "○ queued #1" and table.loc["first", "state"] == "● training"
    click(home, "Cancel")
    assert state(Run.open("second")) == "stopped"
    assert not any(header.value == "Queue" for header in home.subheader)

    second.selectbox(key="shown_run").set_value("second").run()
    assert not button(second, "Resume").disabled  # a cancelled run can be queued again
    click(first, "Stop")
    wait_for(lambda: ended(Run.open("first")))
    assert Run.open("second").metrics() == []


def test_the_queued_run_starts_when_the_first_ends() -> None:
    first = page(**LONG_LEE, run_name="first")
    click(first, "Start")
    second = page(**SHORT_LEE, run_name="second")
    click(second, "Start")
    click(first, "Stop")
    run = Run.open("second")
    wait_for(lambda: ended(run))
    assert state(run) == "finished" and state(Run.open("first")) == "stopped"
    second.selectbox(key="shown_run").set_value("second").run()  # the page kept the live run on screen
    assert any("Finished 2 epochs" in s.value for s in second.success)


# --- 4. deleting runs ----------------------------------------------------------------------------


def test_delete_from_home_asks_first(lee_run: Run) -> None:
    home = page("pages/home.py")
    click(home, "Delete…")
    assert any("cannot be undone" in w.value for w in home.warning)
    click(home, "Keep it")
    assert lee_run.path.is_dir()
    click(home, "Delete…")
    click(home, "Yes, delete it")
    assert not lee_run.path.exists()
    assert any("Deleted run lee-test" in s.value for s in home.success)
    assert any("No runs yet" in info.value for info in home.info)


def test_delete_is_refused_while_training_or_queued() -> None:
    click(page(**LONG_LEE, run_name="first"), "Start")
    click(page(**SHORT_LEE, run_name="second"), "Start")
    home = page("pages/home.py")
    for name in ("first", "second"):
        home.selectbox(key="delete_pick").set_value(name).run()
        click(home, "Delete…")
        doing = "training" if name == "first" else "waiting in the queue"
        assert f"Not deleted: run {name} is {doing}: stop it first" in errors(home)
        assert not any(b.label == "Yes, delete it" for b in home.button)
    assert Run.open("first").path.is_dir() and Run.open("second").path.is_dir()


def test_delete_removes_the_run_not_a_folder_of_that_name_in_the_working_directory(
    lee_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = tmp_path / "server-cwd" / lee_run.name
    decoy.mkdir(parents=True)
    (decoy / "config.json").write_text(TrainConfig().to_json(), encoding="utf-8")
    monkeypatch.chdir(decoy.parent)
    home = page("pages/home.py")
    click(home, "Delete…")
    click(home, "Yes, delete it")
    assert any(f"Deleted run {lee_run.name}" in s.value for s in home.success)
    assert not lee_run.path.exists() and (decoy / "config.json").is_file()


def test_a_stale_running_status_reads_as_interrupted_and_can_be_resumed_and_deleted(tiny_corpus: Path) -> None:
    """`running` with the PID of a live process that is not training it (this test's own) is not a training."""
    cfg = TrainConfig(corpus=str(tiny_corpus), min_freq=2, epochs=2, embed_size=8)
    for name in ("stale", "stale-two"):
        Run.create(cfg, name=name).set_status("running", "training")
    train = page(shown_run="stale")
    assert any("Interrupted: the training process ended unexpectedly" in w.value for w in train.warning)
    assert button(train, "Stop").disabled
    click(train, "Resume")
    wait_for(lambda: ended(Run.open("stale")))
    assert state(Run.open("stale")) == "finished"
    home = page("pages/home.py")
    home.selectbox(key="delete_pick").set_value("stale-two").run()
    click(home, "Delete…")
    click(home, "Yes, delete it")
    assert [run.name for run in list_runs()] == ["stale"]


def test_a_second_resume_of_a_run_the_command_line_trains_is_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "longer.txt"
    corpus.write_text(synthetic_text(4000), encoding="utf-8")  # 1000 epochs of it outlast the test
    run = Run.create(TrainConfig(corpus=str(corpus), min_freq=2, epochs=1000, embed_size=8), name="cli")
    command = [sys.executable, "-m", "core", "train", "--resume", "cli"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: bool(run.metrics()))
        train = page(shown_run="cli")
        assert any("Running" in panel.value for panel in train.html)  # the live panel
        assert button(train, "Resume").disabled and not button(train, "Stop").disabled
        common = sys.modules["pages.parts.common"]
        with pytest.raises(RunError, match="run cli is being trained by another process"):
            common.launcher().resume(run)  # what a Resume pressed in a tab drawn before the CLI started does
        click(train, "Stop")  # one stop for every kind of run: the command-line process stops too
        assert process.wait(60) == 0
    finally:
        process.kill()
        process.wait()
    assert state(run) == "stopped"


def test_after_a_restart_a_queued_run_stays_queued_and_starts_when_the_slot_frees() -> None:
    click(page(**LONG_LEE, run_name="first"), "Start")
    click(page(**SHORT_LEE, run_name="second"), "Start")
    wait_for(Run.open("first").is_training)
    common = sys.modules["pages.parts.common"]
    common.launcher().close()
    common.launcher.clear()  # the server restarts: a new launcher, nothing kept in memory

    home = page("pages/home.py")
    table = home.dataframe[0].value.set_index("run")
    assert table.loc["second", "state"] == "○ queued #1" and table.loc["first", "state"] == "● training"
    train = page(shown_run="first")
    click(train, "Stop")
    wait_for(lambda: state(Run.open("second")) == "finished", timeout=120)
    assert state(Run.open("first")) == "stopped"


def test_a_session_showing_a_deleted_run_gets_a_message(lee_run: Run) -> None:
    train = page()
    neighbours = page("pages/neighbours.py")
    assert train.selectbox(key="shown_run").value == "lee-test"
    home = page("pages/home.py")
    click(home, "Delete…")
    click(home, "Yes, delete it")

    train.run()
    assert not train.exception
    assert any("Run lee-test no longer exists: it was deleted" in w.value for w in train.warning)
    neighbours.run()
    assert not neighbours.exception
    assert any("No run has vectors yet" in info.value for info in neighbours.info)


# --- 5. closing the tab --------------------------------------------------------------------------


def test_training_outlives_its_tab_and_the_next_visitor_sees_it_live() -> None:
    first = page(**LONG_LEE, run_name="survivor")
    click(first, "Start")
    del first  # the tab is closed: nothing stops the job
    run = Run.open("survivor")
    wait_for(lambda: len(run.metrics()) >= 2)
    seen = len(run.metrics())

    home = page("pages/home.py")
    row = home.dataframe[0].value.set_index("run").loc["survivor"]
    assert row["state"] == "● training"
    train = page()
    assert train.selectbox(key="shown_run").value == "survivor"
    assert any("Running" in panel.value for panel in train.html)  # the live panel
    wait_for(lambda: len(run.metrics()) > seen)  # still training
    click(train, "Stop")
    wait_for(lambda: ended(run))
    assert state(run) == "stopped"


# --- 6. settings survive a visit to another page -------------------------------------------------


def test_train_settings_persist_across_pages() -> None:
    at = page()
    changes = {"cfg_corpus": "lee", "cfg_epochs": 7, "cfg_lr": 0.01, "cfg_subsample": 0.001, "cfg_negatives": 3}
    at.radio(key="cfg_corpus").set_value("lee")
    at.radio(key="cfg_mode").set_value("book").run()  # the book mode shows its learning rate
    at.checkbox(key="cfg_lowercase").check()
    for key in ("cfg_epochs", "cfg_lr", "cfg_subsample", "cfg_negatives"):
        at.number_input(key=key).set_value(changes[key])
    at.text_input(key="run_name").set_value("kept")
    at.text_input(key="watch_words").set_value("police, court")
    at.run()

    at.switch_page("pages/home.py").run()
    at.switch_page("pages/neighbours.py").run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert at.radio(key="cfg_corpus").value == "lee" and at.radio(key="cfg_mode").value == "book"
    assert at.checkbox(key="cfg_lowercase").value
    for key in ("cfg_epochs", "cfg_lr", "cfg_subsample", "cfg_negatives"):
        assert at.number_input(key=key).value == pytest.approx(changes[key]), key
    assert at.text_input(key="run_name").value == "kept"
    assert at.text_input(key="watch_words").value == "police, court"


# --- 7. security ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path", "a\x00b", "..\\..\\boot.ini"])
def test_upload_names_cannot_leave_the_uploads_folder(name: str) -> None:
    """The raw names, below what Streamlit's uploader lets through (it refuses NUL bytes and other extensions)."""
    path, fresh = save_upload(name, b"some words here\n")
    assert fresh and path.resolve().parent == (runs_root() / "uploads").resolve()
    assert path.read_bytes() == b"some words here\n" and uploads() == [path]
    assert save_upload(name, b"some words here\n") == (path, False)


@pytest.mark.parametrize("name", ["../../etc/passwd.txt", "/abs/path.txt", "../a b.txt.gz"])
def test_uploaded_file_names_stay_in_the_uploads_folder(name: str) -> None:
    content = synthetic_text().encode()
    at = upload(page(cfg_min_freq=2, cfg_epochs=1), name, gzip.compress(content) if name.endswith(".gz") else content)
    click(at, "Start")
    assert not at.error
    corpus = Path(one_run().config().corpus)
    assert corpus.resolve().parent == (runs_root() / "uploads").resolve() and uploads() == [corpus]
    assert ".." not in corpus.name and "/" not in corpus.name


def test_run_name_cannot_leave_the_runs_folder() -> None:
    at = page(**SHORT_LEE, run_name="../../escape")
    click(at, "Start")
    run = one_run()
    assert run.path.resolve().parent == runs_root().resolve() and run.name == "escape"
    assert any("The run is saved as escape" in plain(info.value) for info in at.info), "the name used is shown"


def test_server_listens_on_localhost_only() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["address"] == "localhost"


def test_no_page_lets_html_through() -> None:
    """User text (tokens, names, messages) reaches the page only as text: no raw HTML anywhere in the app."""
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        for unsafe in ("unsafe_allow_html", "st.html(", "components.html", "components.v1"):
            assert unsafe not in text, f"{path.name} uses {unsafe}"


def test_markup_in_corpus_tokens_and_file_names_shows_as_plain_text(tmp_path: Path) -> None:
    corpus = tmp_path / "<img src=x onerror=alert(1)>.txt"
    corpus.write_text(synthetic_text() + f"cat1 {SCRIPT} cat2\n" * 20, encoding="utf-8")
    run = Run.create(TrainConfig(corpus=str(corpus), min_freq=2, epochs=1), name="markup")
    train_run(run)

    home = page("pages/home.py")
    assert home.dataframe[0].value.set_index("run").loc["markup", "corpus"] == corpus.name
    train = page(watch_words=f"{SCRIPT}, cat1")
    watch = train.dataframe[0].value.set_index("word")
    assert SCRIPT in watch.index and watch.loc[SCRIPT].iloc[0].count(",") == 4
    for at in (home, train):
        assert not any("<script>" in m.value or "<img" in m.value for m in at.markdown)
