"""The second hardening battery in the app: damaged runs beside good ones on every page, markup in tokens,
refused writes, and what uploads and imports leave behind."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, open_app_page, plain, synthetic_text
from streamlit.testing.v1 import AppTest
from test_core_hardening import checksums, refuse_writes

from core.config import TrainConfig
from core.explore.evaluate import full_report, load_evaluation, save_evaluation
from core.explore.vectors import Embeddings
from core.job import train_run
from core.runs import Run, list_runs, runs_root, save_upload
from pages.parts.text import literal

PAGES = ("home", "train", "neighbours", "inside", "projection", "evaluate", "compare")
MARKUP = ("![x](http://127.0.0.1:9/t.png)", "**bold**", ":red[red]", "$x^2$", "[link](http://127.0.0.1:9/)")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished, evaluated run on a small corpus whose tokens include Markdown."""
    folder = tmp_path_factory.mktemp("app-template")
    corpus = folder / "corpus.txt"
    corpus.write_text(synthetic_text() + f"cat1 {' '.join(MARKUP)} cat2\n" * 30, encoding="utf-8")
    run = Run.create(TrainConfig(corpus=str(corpus), min_freq=2, epochs=2, embed_size=12, threads=1), "good-a", folder)
    train_run(run)
    save_evaluation(run, full_report(Embeddings.from_run(run), source=run.name))
    return run.path


def copy_run(template: Path, name: str) -> Run:
    shutil.copytree(template, runs_root() / name)
    return Run.open(name)


def write(run: Run, name: str, text: str) -> None:
    (run.path / name).write_text(text, encoding="utf-8")


def vocab_longer(run: Run) -> None:
    data = json.loads((run.path / "vocab.json").read_text())
    write(run, "vocab.json", json.dumps({"tokens": [*data["tokens"], "extra"], "counts": [*data["counts"], 1]}))


DAMAGED = {  # run name -> how it is damaged, and a part of the reason shown
    "bad-config": (lambda run: write(run, "config.json", "[]"), "config.json"),
    "bad-config-null": (lambda run: write(run, "config.json", "null"), "config.json"),
    "bad-pid": (lambda run: write(run, "status.json", '{"state": "running", "pid": "abc"}'), "process id"),
    "huge-pid": (lambda run: write(run, "status.json", f'{{"state": "running", "pid": {2**70}}}'), "process id"),
    "bad-metrics": (lambda run: write(run, "metrics.jsonl", '{"kind": "step"}\n[1]\n'), None),
    "one-pair": (
        lambda run: write(run, "evaluation.json", '{"pairs": [{"name": "WordSim353"}], "analogies": []}'),
        None,
    ),
    "vocab-longer": (vocab_longer, None),
}


@pytest.fixture
def damaged_beside_good(template: Path, tmp_path: Path) -> list[str]:
    """Two good runs, one run of each kind of damage, and a run folder that is a symbolic link."""
    copy_run(template, "good-a")
    copy_run(template, "good-b")
    for name, (spoil, _) in DAMAGED.items():
        spoil(copy_run(template, name))
    shutil.copytree(template, tmp_path / "elsewhere")
    (runs_root() / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    return [*DAMAGED, "linked"]


def test_every_page_renders_with_a_damaged_run_of_each_kind(damaged_beside_good: list[str]) -> None:
    before = checksums()
    for page in PAGES:
        at = open_app_page(f"pages/{page}.py")  # asserts no exception
        assert not at.exception, page
    home_page = open_app_page("pages/home.py")
    home = home_page.dataframe[0].value.set_index("run")
    assert set(home.index) == {"good-a", "good-b", *damaged_beside_good}
    notes = {c.value.split("**")[1]: plain(c.value) for c in home_page.caption if c.value.startswith("⚠ **")}
    for name, (_, reason) in DAMAGED.items():
        if reason:
            assert home.loc[name, "state"] == "⚠ damaged" and reason in notes[name], name
    assert home.loc["linked", "state"] == "⚠ damaged" and "symbolic link" in notes["linked"]
    assert home.loc["good-a", "state"] == home.loc["good-b", "state"] == "✓ finished"
    assert home.loc["good-a", "WS353"] == "–"  # evaluated, but its vocabulary holds no WordSim353 pair: not NaN

    train = open_app_page("pages/train.py")
    for name in train.selectbox(key="shown_run").options:
        train.selectbox(key="shown_run").set_value(name).run()
        assert not train.exception, name
    train.selectbox(key="shown_run").set_value("bad-config").run()
    assert any("damaged" in e.value for e in train.error)

    neighbours = open_app_page("pages/neighbours.py")
    for name in neighbours.selectbox(key="nb_run").options:
        neighbours.selectbox(key="nb_run").set_value(name).run()
        assert not neighbours.exception, name
        if name == "vocab-longer":
            assert any("damaged" in e.value and "vocabulary holds" in plain(e.value) for e in neighbours.error)
    neighbours.selectbox(key="nb_run").set_value("good-a").run()
    neighbours.text_input(key="nb_word").set_value("cat1").run()
    assert not neighbours.error and len(neighbours.dataframe[0].value) == 10

    evaluate = open_app_page("pages/evaluate.py")
    for name in ("one-pair", "good-b"):
        evaluate.selectbox(key="ev_run").set_value(name).run()
        assert not evaluate.exception
    evaluate.selectbox(key="ev_run").set_value("one-pair").run()
    assert any("evaluation report is damaged" in plain(w.value) for w in evaluate.warning)

    compare = open_app_page("pages/compare.py")
    assert any("bad-config" in plain(w.value) for w in compare.warning)  # left out, with its reason
    compare.multiselect(key="cmp_runs").set_value(["good-a", "good-b"]).run()
    assert not compare.exception and not compare.error and compare.get("plotly_chart")
    assert checksums() == before  # looking changed nothing


def test_deleting_a_symlinked_run_keeps_what_it_points_to(damaged_beside_good: list[str], tmp_path: Path) -> None:
    kept = checksums(tmp_path / "elsewhere")
    home = open_app_page("pages/home.py")
    home.selectbox(key="delete_pick").set_value("linked").run()
    next(b for b in home.button if b.label == "Delete…").click().run()
    next(b for b in home.button if b.label == "Yes, delete it").click().run()
    assert not home.exception and not (runs_root() / "linked").exists()
    assert checksums(tmp_path / "elsewhere") == kept


# --- 7. text is text ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*MARKUP, "# heading", "- item", "1. one", "<b>x</b>", "a\\*b", "`code`", "~~s~~"])
def test_literal_shows_exactly_the_text(text: str) -> None:
    escaped = literal(text)
    assert plain(escaped) == text
    unescaped = re.sub(r"\\.", "", escaped)
    assert not re.search(r"[\\`*_\[\]()!<$]", unescaped) and not re.match(r"\s*([-+#>=]|\d+\.)", unescaped)


def test_markup_tokens_show_as_text_on_the_explorer_pages(template: Path) -> None:
    copy_run(template, "good-a")
    first = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    first.query_params["word"] = MARKUP[0][:-2]  # close to a token: suggestion buttons
    first.switch_page("pages/neighbours.py").run()
    at = open_app_page("pages/neighbours.py")
    for key, word in zip(("an_a", "an_b", "an_c"), MARKUP, strict=False):
        at.text_input(key=key).set_value(word)
    at.text_input(key="sim_a").set_value(MARKUP[1])
    at.text_input(key="sim_b").set_value(MARKUP[0]).run()
    assert not at.exception and not first.exception
    shown = [m.value for page in (first, at) for m in page.markdown]
    shown += [b.label for b in first.button] + [m.label for m in at.metric] + [w.value for w in first.warning]
    assert any(MARKUP[0] in plain(s) for s in shown) and any(plain(b.label) == MARKUP[0] for b in first.button)
    for text in shown:
        for token in MARKUP:
            assert token not in text, text  # every occurrence is escaped

    ev = open_app_page("pages/evaluate.py")
    ev.text_input(key="ev_odd").set_value(", ".join(MARKUP[:3]) + ", cat1").run()
    assert not ev.exception and ev.success and not any(t in s.value for s in ev.success for t in MARKUP)


# --- 5. the disk says no ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_a_refused_write_is_a_message_on_start_and_evaluate(template: Path, code: int) -> None:
    run = copy_run(template, "good-a")
    before = checksums()
    with pytest.MonkeyPatch.context() as patch:
        refuse_writes(patch, code)
        train = open_app_page("pages/train.py", cfg_corpus="lee", cfg_min_freq=5, cfg_epochs=1)
        next(b for b in train.button if b.label == "Start").click().run()
        assert not train.exception and any(os.strerror(code) in e.value for e in train.error)
        ev = open_app_page("pages/evaluate.py")
        next(b for b in ev.button if b.label == "Evaluate").click().run()
        assert not ev.exception and any(os.strerror(code) in e.value for e in ev.error)
    assert {k: v for k, v in checksums().items() if k in before} == before
    assert load_evaluation(run) is not None


# --- 8. retention -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content", [("bad.vec", b"2 3\nalpha 1 nan 0\n"), ("empty.txt", b""), ("fake.bin", b"\x00\x01\x02")]
)
def test_a_failed_import_leaves_nothing_under_imports(name: str, content: bytes) -> None:
    at = open_app_page("pages/neighbours.py")
    at.file_uploader(key="import_upload").upload(name, content, "text/plain").run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception and any("Could not import" in e.value for e in at.error)
    imports = runs_root() / "imports"
    assert not imports.is_dir() or not list(imports.iterdir())


def train_on_upload(name: str, upload: Path) -> Run:
    run = Run.create(TrainConfig(corpus=str(upload), min_freq=2, epochs=1, embed_size=8, threads=1), name)
    train_run(run)
    return run


def delete_from_home(name: str, also_upload: bool | None) -> AppTest:
    home = open_app_page("pages/home.py")
    home.selectbox(key="delete_pick").set_value(name).run()
    next(b for b in home.button if b.label == "Delete…").click().run()
    boxes = [c for c in home.checkbox if c.key == "delete_upload"]
    assert bool(boxes) == (also_upload is not None)
    if boxes and also_upload:
        boxes[0].check().run()
    next(b for b in home.button if b.label == "Yes, delete it").click().run()
    assert not home.exception
    return home


def test_deleting_the_last_run_of_an_upload_offers_to_delete_it() -> None:
    upload, _ = save_upload("mine.txt", synthetic_text().encode())
    train_on_upload("first", upload)
    train_on_upload("second", upload)
    delete_from_home("first", None)  # the second run still uses it: not offered
    assert upload.is_file()
    delete_from_home("second", True)
    assert not upload.exists() and not list_runs()


def test_keeping_the_upload_of_the_last_run_is_the_default() -> None:
    upload, _ = save_upload("mine.txt", synthetic_text().encode())
    train_on_upload("only", upload)
    delete_from_home("only", False)
    assert upload.is_file() and not list_runs()
