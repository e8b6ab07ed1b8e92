"""The Embedding Projector's TSV pair read back: the app's own export round-trips by path, upload and zip, in the
pages and on the command line alike, and every damaged pair gets a message naming the file and the line."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import open_app_page
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.explore.export import export_bytes
from core.explore.vector_files import VectorFileError, read_vectors
from core.explore.vectors import Embeddings
from core.runs import Run
from pages.parts.sources import FILE_PREFIX


@pytest.fixture(scope="module")
def run_and_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Embeddings, Path, bytes]:
    """A 2-epoch run on a tiny corpus (its own runs folder, outside the test's), its vectors, the folder the
    command line's projector export wrote, and the app's download of the same export (a zip)."""
    from conftest import synthetic_text

    base = tmp_path_factory.mktemp("projector")
    corpus = base / "tiny.txt"
    corpus.write_text(synthetic_text(), encoding="utf-8")
    runs = base / "runs"
    args = ["--min-freq", "2", "--epochs", "2", "--embed-size", "12", "--threads", "1", "--run-dir", str(runs)]
    assert main(["train", "--corpus", str(corpus), "--name", "tiny", *args]) == 0
    embeddings = Embeddings.from_run(Run.open("tiny", runs))
    out = base / "export"
    assert main(["export", "tiny", str(out), "--format", "projector", "--run-dir", str(runs)]) == 0
    return embeddings, out, export_bytes(embeddings, "projector")


def same(back: Embeddings, embeddings: Embeddings) -> None:
    assert back.words == embeddings.words[1:]  # every word but <unk>, in the run's order
    np.testing.assert_array_equal(back.center, embeddings.center[1:])


def test_the_exported_pair_reads_back_by_path_and_zip(run_and_export, tmp_path: Path) -> None:
    embeddings, folder, zipped = run_and_export
    same(read_vectors(folder / "vectors.tsv"), embeddings)
    archive = tmp_path / "tiny-projector.zip"
    archive.write_bytes(zipped)
    same(read_vectors(archive), embeddings)
    first = read_vectors(archive, limit=5)
    assert first.words == embeddings.words[1:6]


def test_without_metadata_the_rows_are_named_by_number(run_and_export, tmp_path: Path) -> None:
    embeddings, folder, _ = run_and_export
    alone = tmp_path / "vectors.tsv"
    alone.write_bytes((folder / "vectors.tsv").read_bytes())
    back = read_vectors(alone)
    assert back.words[:3] == ["row1", "row2", "row3"] and len(back.words) == len(embeddings.words) - 1
    np.testing.assert_array_equal(back.center, embeddings.center[1:])


def test_other_metadata_shapes(tmp_path: Path) -> None:
    """One column without a header; several with a header whose `word` column is not the first; X-vectors.tsv
    finds X-metadata.tsv."""
    (tmp_path / "vectors.tsv").write_text("1\t0\n0\t1\n", encoding="utf-8")
    (tmp_path / "metadata.tsv").write_text("\ufeffalpha\r\nbeta\r\n", encoding="utf-8")  # a BOM, CRLF
    assert read_vectors(tmp_path / "vectors.tsv").words == ["alpha", "beta"]
    (tmp_path / "glove-vectors.tsv").write_text("1\t0\n0\t1\n", encoding="utf-8")
    (tmp_path / "glove-metadata.tsv").write_text("count\tWord\n7\tgamma\n3\tdelta\n", encoding="utf-8")
    assert read_vectors(tmp_path / "glove-vectors.tsv").words == ["gamma", "delta"]


def test_the_command_line_reads_the_pair_as_it_reads_the_run(run_and_export, capsys) -> None:
    embeddings, folder, _ = run_and_export
    assert main(["neighbors", str(folder / "vectors.tsv"), "cat1", "-k", "4"]) == 0
    printed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert printed == [word for word, _ in embeddings.neighbors("cat1", 4)]
    assert main(["evaluate", str(folder / "vectors.tsv")]) == 0
    assert f"{len(embeddings.words) - 1} words, dimension 12" in capsys.readouterr().out


def import_upload(name: str, data: bytes, mime: str) -> AppTest:
    at = open_app_page("pages/neighbours.py")
    at.file_uploader(key="import_upload").upload(name, data, mime)
    next(b for b in at.run().button if b.label == "Import").click().run()
    assert not at.exception
    return at


def test_uploads_of_the_zip_and_of_vectors_tsv(run_and_export) -> None:
    embeddings, folder, zipped = run_and_export
    at = import_upload("tiny-projector.zip", zipped, "application/zip")
    assert not at.error
    assert at.selectbox(key="nb_run").value.startswith(FILE_PREFIX + "tiny-projector.zip")
    at.text_input(key="nb_word").set_value("cat1").run()
    assert not at.warning  # a word of the imported file
    assert list(at.dataframe[0].value["word"]) == [word for word, _ in embeddings.neighbors("cat1", 10)]
    at.switch_page("pages/projection.py").run()  # the same import, mapped
    assert not at.exception and at.selectbox(key="pj_run").value.startswith(FILE_PREFIX + "tiny-projector.zip")
    assert at.get("plotly_chart")

    at = import_upload("vectors.tsv", (folder / "vectors.tsv").read_bytes(), "text/tab-separated-values")
    assert not at.error  # once "text/tab-separated-values files are not allowed"
    at.text_input(key="nb_word").set_value("row2").run()
    assert not at.warning and list(at.dataframe[0].value["word"])  # rows named by number, each one a word


def test_the_evaluate_page_reads_the_pair_by_path(run_and_export) -> None:
    _, folder, _ = run_and_export
    at = open_app_page("pages/evaluate.py")
    at.text_input(key="import_path").set_value(str(folder / "vectors.tsv"))
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception and not at.error
    assert at.selectbox(key="ev_run").value.startswith(FILE_PREFIX + str(folder / "vectors.tsv"))


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


PAIR_ERRORS = [
    ("1\t2\n3\t4\t5\n", None, "vectors.tsv, line 2: 3 values but line 1 has 2"),
    ("1\t2\n3\tx\n", None, "vectors.tsv, line 2: 'x' is not a number"),
    ("alpha 1 2\n", None, "vectors.tsv, line 1: 'alpha 1 2' is not a number"),
    ("1\t2\nnan\t4\n", None, "vectors.tsv, line 2 ('row2'): value nan is not a finite number"),
    ("1\t2\n3\t4\n", "a\n", "vectors.tsv holds 2 vectors but {meta} names 1 words; the two files must match"),
    ("1\t2\n3\t4\n", "a\nb\nc\n", "vectors.tsv holds 2 vectors but {meta} names 3 words"),
    ("1\t2\n3\t4\n", "a\na\n", "{meta}: word 'a' appears twice (line 1 and line 2)"),
    ("1\t2\n3\t4\n", "word\tcount\na\t1\nb\n", "{meta}, line 3: 1 tab-separated columns but the header has 2"),
    ("1\t2\n3\t4\n", "a\nb\tc\n", "{meta}, line 2: 2 tab-separated columns but the first line has 1"),
    ("1\t2\n3\t4\n", "word\tcount\na\t1\n\t2\n", "{meta}, line 3: the word is empty"),
    ("", None, "vectors.tsv is empty"),
]
PAIR_IDS = [
    "ragged",
    "non-numeric",
    "glove-line",
    "nan",
    "fewer-words",
    "more-words",
    "duplicate",
    "columns",
    "header-missing",
    "empty-word",
    "empty",
]


@pytest.mark.parametrize(("vectors", "metadata", "message"), PAIR_ERRORS, ids=PAIR_IDS)
def test_a_damaged_pair_names_the_file_and_line(tmp_path: Path, vectors: str, metadata: str | None, message) -> None:
    (tmp_path / "vectors.tsv").write_text(vectors, encoding="utf-8")
    meta = tmp_path / "metadata.tsv"
    if metadata is not None:
        meta.write_text(metadata, encoding="utf-8")
    with pytest.raises(VectorFileError) as raised:
        read_vectors(tmp_path / "vectors.tsv")
    assert message.format(meta=meta) in str(raised.value)
    assert str(tmp_path / "vectors.tsv") in str(raised.value) or str(meta) in str(raised.value)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"metadata.tsv": b"a\n"}, "holds no vectors.tsv; a zip to import holds the Projector's pair"),
        ({"a/vectors.tsv": b"1\n", "b/vectors.tsv": b"1\n"}, "holds 2 files named vectors.tsv"),
        ({"x/vectors.tsv": b"1\t2\n3\t4\n", "x/metadata.tsv": b"a\n"}, "(x/vectors.tsv) holds 2 vectors but"),
        ({"vectors.tsv": b"1\t2\n3\t4\n", "x/metadata.tsv": b"a\n"}, None),  # metadata elsewhere: rows by number
    ],
    ids=["no-vectors", "two-vectors", "mismatch", "metadata-elsewhere"],
)
def test_a_zip_of_the_pair(tmp_path: Path, files: dict[str, bytes], message: str | None) -> None:
    path = tmp_path / "pair.zip"
    path.write_bytes(zip_of(files))
    if message is None:
        assert read_vectors(path).words == ["row1", "row2"]
        return
    with pytest.raises(VectorFileError, match=str(path)) as raised:
        read_vectors(path)
    assert message in str(raised.value)


def test_a_damaged_zip_and_the_metadata_given_for_the_vectors(tmp_path: Path) -> None:
    broken = tmp_path / "pair.zip"
    broken.write_bytes(zip_of({"vectors.tsv": b"1\t2\n" * 100})[:-30])
    with pytest.raises(VectorFileError, match=r"pair\.zip cannot be read as a zip file"):
        read_vectors(broken)
    metadata = tmp_path / "metadata.tsv"
    metadata.write_text("word\tcount\na\t1\n", encoding="utf-8")
    with pytest.raises(VectorFileError, match=r"metadata\.tsv is the Projector's metadata .* give the vectors file"):
        read_vectors(metadata)


def test_a_bad_upload_is_refused_and_not_kept(tmp_path: Path) -> None:
    at = import_upload("vectors.tsv", b"1\t2\n3\n", "text/tab-separated-values")
    assert at.error and "line 2: 1 values but line 1 has 2" in at.error[0].value
    assert any("No run has vectors" in i.value for i in at.info)
