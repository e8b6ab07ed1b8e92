"""Inside the model: every section on a finished PTB run, the editable loss example, redraws, and runs without
a corpus or without weights."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import open_app_page, plain, ptb_data_dir, synthetic_text

from core.config import TrainConfig
from core.data.corpora import read_text_file
from core.data.vocab import Vocab
from core.job import train_run
from core.runs import Run, runs_root

PAGE = "pages/inside.py"
HEADERS = ["1. The data", "2. Negative sampling", "3. A minibatch", "4. The forward pass", "5. The loss"]
HEADERS += ["6. The result"]


@pytest.fixture(scope="module")
def ptb_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of PTB in the fast mode, trained once for the module."""
    data = ptb_data_dir()
    if data is None:
        pytest.skip("ptb.zip not found: set W2V_DATA_DIR to the folder holding it")
    folder = tmp_path_factory.mktemp("inside")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("W2V_DATA_DIR", str(data))
        run = Run.create(TrainConfig(corpus="ptb", epochs=1, threads=2), "ptb", folder)
        train_run(run)
    return run.path


@pytest.fixture
def ptb_run(ptb_template: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("W2V_DATA_DIR", str(ptb_data_dir()))
    shutil.copytree(ptb_template, runs_root() / "ptb")
    return Run.open("ptb")


def edits(rows: dict[int, dict[str, float]]) -> dict:
    """A data editor's state after the user changed these cells."""
    return {"edited_rows": rows, "added_rows": [], "deleted_rows": []}


def in_order(node) -> Iterator:
    """The page's elements in the order they are drawn."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from in_order(child)


def table(at, title: str) -> pd.DataFrame:
    """The first table drawn after the text that starts with `title`."""
    elements = in_order(at.main)
    next(e for e in elements if e.type == "markdown" and e.value.startswith(title))
    return next(e for e in elements if e.type == "dataframe").value


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.ptb
def test_every_section_renders_on_a_ptb_run(ptb_run: Run) -> None:
    at = open_app_page(PAGE)
    assert [h.value for h in at.header] == HEADERS
    assert metric(at, "count before subsampling") == "50,770"
    assert 0 < int(metric(at, "count after (this draw)").replace(",", "")) < 50_770 * 0.1
    assert [metric(at, "row 0"), metric(at, "row 1")] == ["0.9352", "1.8462"]

    tables = {name: table(at, f"`{name}`") for name in ("centers", "contexts_negatives")}
    tables |= {name: table(at, f"`{name}`") for name in ("masks", "labels")}
    masks, slots = tables["masks"].to_numpy(), tables["contexts_negatives"].to_numpy()
    padded = masks.min(axis=1) == 0
    assert padded.any(), "some shown row is padded"
    assert (slots[masks == 0] == 0).all() and (tables["labels"].to_numpy() <= masks).all()
    assert tables["centers"].shape[1] == 1

    shapes = table(at, "skip_gram(").set_index("tensor")["shape"].to_dict()
    assert shapes == {
        "center": "(512, 1)",
        "contexts_and_negatives": f"(512, {masks.shape[1]})",
        "v": "(512, 1, 100)",
        "u": f"(512, {masks.shape[1]}, 100)",
        "pred": f"(512, 1, {masks.shape[1]})",
    }
    assert any(m.label == "mean over the batch, trained weights" for m in at.metric)
    assert any(m.label == "mean over the batch, fresh weights" for m in at.metric)
    assert at.get("plotly_chart") and len(at.get("plotly_chart")) == 2  # the histogram and the noise bars
    assert any("\\cos(x, y)" in latex.value for latex in at.latex)


@pytest.mark.ptb
def test_the_loss_example_follows_an_edited_mask(ptb_run: Run) -> None:
    at = open_app_page(PAGE)
    at.session_state["in_mask"] = edits({1: {"slot 2": 1.0}})
    at.run()
    assert not at.exception
    assert metric(at, "row 0") == "0.9352" and metric(at, "row 1") != "1.8462"
    at.session_state["in_mask"] = edits({1: {"slot 0": 0.0, "slot 1": 0.0}})
    at.run()
    assert metric(at, "row 1") == "–" and any("no loss" in w.value for w in at.warning)


@pytest.mark.ptb
def test_unknown_words_and_redraws(ptb_run: Run) -> None:
    at = open_app_page(PAGE)
    before = table(at, "K = num_noise_words")
    at.button(key="in_redraw_noise").click().run()
    assert not at.exception
    after = table(at, "K = num_noise_words")
    assert before["context"].equals(after["context"]) and not before.equals(after)  # other noise words
    at.text_input(key="in_count_word").set_value("chipp").run()
    assert any("“chipp” is not in the vocabulary" in plain(w.value) for w in at.warning)
    assert "chip" in [b.label for b in at.button]
    at.text_input(key="in_query").set_value("computr").run()
    assert not at.exception and "computer" in [b.label for b in at.button]


def test_a_run_whose_corpus_is_gone_shows_what_needs_no_corpus(tiny_corpus: Path) -> None:
    run = Run.create(TrainConfig(corpus=str(tiny_corpus), min_freq=2, epochs=1, embed_size=8, threads=1), "gone")
    train_run(run)
    tiny_corpus.unlink()
    at = open_app_page(PAGE)
    assert any("cannot be read" in w.value and "no longer exists" in plain(w.value) for w in at.warning)
    headers = [h.value for h in at.header]
    assert headers == ["1. The data", "2. Negative sampling", "5. The loss", "6. The result"]
    assert metric(at, "count after (this draw)") == "–"
    assert [metric(at, "row 0"), metric(at, "row 1")] == ["0.9352", "1.8462"]


def test_a_run_without_weights_shows_the_fresh_model(tiny_corpus: Path) -> None:
    run = Run.create(TrainConfig(corpus=str(tiny_corpus), min_freq=2, epochs=1, embed_size=8, threads=1), "new")
    run.save_vocab(Vocab.build(read_text_file(tiny_corpus), 2))
    at = open_app_page(PAGE)
    assert any("no weights yet" in i.value for i in at.info)
    assert [h.value for h in at.header] == HEADERS[:5]
    assert any(m.label == "mean over the batch, fresh weights" for m in at.metric)
    assert not any("trained weights" in m.label for m in at.metric)


def test_markup_in_corpus_words_shows_as_text(tmp_path: Path) -> None:
    markup = ("**bold**", "![x](http://127.0.0.1:9/t.png)", ":red[red]")
    corpus = tmp_path / "markup.txt"
    corpus.write_text(synthetic_text() + f"cat1 {' '.join(markup)} cat2\n" * 60, encoding="utf-8")
    train_run(Run.create(TrainConfig(corpus=str(corpus), min_freq=2, epochs=1, embed_size=8, threads=1), "markup"))
    at = open_app_page(PAGE, in_count_word=markup[0] + "x", in_query=markup[1])
    shown = [e.value for kind in ("markdown", "caption", "warning") for e in at.get(kind)]
    shown += [b.label for b in at.button] + [m.label for m in at.metric]
    assert any(markup[1] in plain(text) for text in shown)  # the cosine's words, escaped
    assert any(plain(b.label) == markup[0] for b in at.button)  # the suggestion for "**bold**x"
    for text in shown:
        assert not any(token in text for token in markup), text
