"""Imported vectors files in the explorer pages: gensim's sample, a gensim-written file, uploads and bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import open_app_page
from gensim.models import KeyedVectors
from streamlit.testing.v1 import AppTest

from core.runs import runs_root
from pages.parts.sources import FILE_PREFIX, SAMPLE_NAME


def button(at: AppTest, label_start: str):
    return next(b for b in at.button if b.label.startswith(label_start))


def import_path(at: AppTest, path: Path | str, limit: int | None = None) -> AppTest:
    at.text_input(key="import_path").set_value(str(path))
    if limit is not None:
        at.number_input(key="import_limit").set_value(limit)
    button(at, "Import").click().run()
    assert not at.exception
    return at


def gensim_file(tmp_path: Path, words: int, binary: bool) -> Path:
    kv = KeyedVectors(vector_size=20)
    vectors = np.random.default_rng(0).normal(size=(words, 20)).astype(np.float32)
    kv.add_vectors([f"word{i}" for i in range(words)], vectors)
    path = tmp_path / ("gensim.bin" if binary else "gensim.txt")
    kv.save_word2vec_format(str(path), binary=binary)
    return path


def test_gensim_sample_works_in_every_explorer_page() -> None:
    at = open_app_page("pages/neighbours.py")
    assert any("import a vectors file" in i.value for i in at.info)
    button(at, "Use gensim's sample").click().run()
    assert not at.exception and not at.error
    assert at.selectbox(key="nb_run").value.startswith(FILE_PREFIX + SAMPLE_NAME)
    assert at.radio(key="nb_table").options == ["center"]  # a file holds one table
    at.text_input(key="nb_word").set_value("of").run()
    table = at.dataframe[0].value
    assert len(table) == 10 and "of" not in set(table["word"]) and table["cosine"].is_monotonic_decreasing

    at.switch_page("pages/projection.py").run()  # the same session: the import is listed, and chosen
    assert not at.exception and at.selectbox(key="pj_run").value.startswith(FILE_PREFIX)
    assert at.get("plotly_chart")

    at.switch_page("pages/evaluate.py").run()
    next(b for b in at.button if b.label == "Evaluate").click().run()
    assert not at.exception and not at.error
    assert {"WordSim353 Spearman", "Analogy 3CosAdd"} <= {m.label for m in at.metric}


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_written_file_loads_its_first_n_words(tmp_path: Path, binary: bool) -> None:
    path = gensim_file(tmp_path, 500, binary)
    at = import_path(open_app_page("pages/neighbours.py"), path, limit=120)
    assert not at.error
    assert at.selectbox(key="nb_run").value == f"{FILE_PREFIX}{path} (first 120 words)"
    at.text_input(key="nb_word").set_value("word119").run()
    assert len(at.dataframe[0].value) == 10  # the 120th word is there, the 121st is not
    at.text_input(key="nb_word").set_value("word120").run()
    assert any("“word120” is not in the vocabulary" in w.value for w in at.warning)
    at.switch_page("pages/projection.py").run()
    at.number_input(key="pj_n").set_value(120).run()
    assert not at.exception and at.number_input(key="pj_n").max == 120


def test_upload_is_kept_under_imports() -> None:
    at = open_app_page("pages/projection.py")
    at.file_uploader(key="import_upload").upload("../../evil name.vec", b"2 3\nalpha 1 0 0\nbeta 0 1 0\n", "text/plain")
    button(at.run(), "Import").click().run()
    assert not at.exception
    assert "at least 3 words" in at.error[0].value  # imported, but two words make no map
    saved = list((runs_root() / "imports").iterdir())
    assert len(saved) == 1 and saved[0].name.endswith("evil-name.vec")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"3 4\nalpha 1 2 3 4\nbeta 1 2 3\n", "line 3"),
        (b"2 3\nalpha 1 2 x\nbeta 1 2 3\n", "'x'"),
        (b"5 2\nalpha 1 2\nbeta 3 4\n", "announces 5"),
        (b"3 4\nalpha " + np.ones(4, "<f4").tobytes() + b"beta " + np.ones(2, "<f4").tobytes(), "beta"),
    ],
    ids=["empty", "mixed-dimensions", "non-numeric", "header-count", "truncated-binary"],
)
def test_bad_files_give_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / ("bad.bin" if b"\x00" in content or b"\x80" in content else "bad.txt")
    path.write_bytes(content)
    at = import_path(open_app_page("pages/neighbours.py"), path)
    assert at.error and at.error[0].value.startswith("Could not import") and message in at.error[0].value
    assert any("No run has vectors" in i.value for i in at.info)  # nothing half-loaded is offered


def test_missing_path(tmp_path: Path) -> None:
    at = import_path(open_app_page("pages/evaluate.py"), tmp_path / "nowhere.vec")
    assert "is not a file on this machine" in at.error[0].value


def test_an_imported_file_is_not_taken_for_a_deleted_run_on_train(lee_run) -> None:
    at = open_app_page("pages/projection.py")
    button(at, "Use gensim's sample").click().run()
    assert at.selectbox(key="pj_run").value.startswith(FILE_PREFIX)  # the import is chosen where it was made
    at.switch_page("pages/train.py").run()
    assert not at.exception and not at.warning  # the Train page shows runs only, and says nothing was deleted
    assert at.selectbox(key="shown_run").value == lee_run.name
    at.switch_page("pages/evaluate.py").run()
    assert at.selectbox(key="ev_run").value.startswith(FILE_PREFIX)  # the explorer pages keep the file
