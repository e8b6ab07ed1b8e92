"""Vector files: exports that gensim reads back bit for bit, gensim's files read by us, and damaged files."""

from __future__ import annotations

import io
import os
import resource
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from core.cli import main
from core.explore.export import export_bytes, export_vectors, neighbors_csv
from core.explore.vector_files import VectorFileError, read_vectors, write_word2vec_binary, write_word2vec_text
from core.explore.vectors import Embeddings
from core.runs import Run


@pytest.fixture
def tiny_run(tiny_corpus: Path) -> Run:
    args = ["--min-freq", "2", "--epochs", "2", "--embed-size", "12", "--threads", "1", "--name", "tiny"]
    assert main(["train", "--corpus", str(tiny_corpus), *args]) == 0
    return Run.open("tiny")


def random_kv(words: list[str], dim: int = 6, seed: int = 0) -> KeyedVectors:
    kv = KeyedVectors(vector_size=dim)
    kv.add_vectors(words, np.random.default_rng(seed).normal(size=(len(words), dim)).astype(np.float32))
    return kv


@pytest.mark.parametrize(("fmt", "binary"), [("word2vec", False), ("word2vec-binary", True)])
def test_export_round_trips_through_gensim(tiny_run: Run, tmp_path: Path, fmt: str, binary: bool) -> None:
    out = tmp_path / f"vectors.{fmt}"
    assert main(["export", tiny_run.name, str(out), "--format", fmt]) == 0
    emb = Embeddings.from_run(tiny_run)
    kv = KeyedVectors.load_word2vec_format(str(out), binary=binary)
    assert kv.index_to_key == emb.words[1:]  # everything but <unk>, in vocabulary order
    np.testing.assert_array_equal(kv.vectors, emb.center[1:])
    ours = emb.neighbors("cat1", 5)
    theirs = kv.most_similar("cat1", topn=5)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([c for _, c in ours], [c for _, c in theirs], atol=1e-5)
    back = read_vectors(out)
    assert back.words == emb.words[1:] and back.counts is None
    np.testing.assert_array_equal(back.center, emb.center[1:])


def test_projector_tsvs_parse_back(tiny_run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "projector"
    assert main(["export", tiny_run.name, str(folder), "--format", "projector"]) == 0
    emb = Embeddings.from_run(tiny_run)
    values = np.loadtxt(folder / "vectors.tsv", delimiter="\t", dtype=np.float32)
    np.testing.assert_array_equal(values, emb.center[1:])
    rows = [line.split("\t") for line in (folder / "metadata.tsv").read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["word", "count"]
    assert [w for w, _ in rows[1:]] == emb.words[1:]
    assert [int(n) for _, n in rows[1:]] == emb.counts[1:].tolist()


def test_context_table_and_neighbour_csv(tiny_run: Run, tmp_path: Path) -> None:
    emb = Embeddings.from_run(tiny_run)
    assert export_vectors(emb, tmp_path / "ctx.txt", "word2vec", "context") == len(emb.words) - 1
    np.testing.assert_array_equal(read_vectors(tmp_path / "ctx.txt").center, emb.context[1:])
    lines = neighbors_csv(emb, ["cat1", "car2"], k=3).splitlines()
    assert lines[0] == "word,neighbour,rank,cosine" and len(lines) == 7
    word, neighbour, rank, cosine = lines[1].split(",")
    best, score = emb.neighbors("cat1", 1)[0]
    assert (word, neighbour, rank) == ("cat1", best, "1") and float(cosine) == pytest.approx(score, abs=1e-6)


@pytest.mark.parametrize("binary", [False, True])
def test_reads_files_gensim_wrote(tmp_path: Path, binary: bool) -> None:
    kv = random_kv(["the", "café", "naïve", "x" * 40, "2"])
    path = tmp_path / ("g.bin" if binary else "g.txt")
    kv.save_word2vec_format(str(path), binary=binary)
    emb = read_vectors(path)
    assert emb.words == kv.index_to_key
    np.testing.assert_array_equal(emb.center, kv.vectors)


@pytest.mark.parametrize(
    ("name", "binary", "no_header"),
    [("test_glove.txt", False, True), ("word2vec_pre_kv_c", False, False), ("euclidean_vectors.bin", True, False)],
)
def test_reads_gensim_bundled_files(name: str, binary: bool, no_header: bool) -> None:
    kv = KeyedVectors.load_word2vec_format(datapath(name), binary=binary, no_header=no_header)
    emb = read_vectors(datapath(name))
    assert emb.words == kv.index_to_key
    np.testing.assert_array_equal(emb.center, kv.vectors)


@pytest.mark.parametrize("suffix", [".txt", ".bin"])
def test_limit_reads_the_first_words_and_reports_progress(tmp_path: Path, suffix: str) -> None:
    kv = random_kv([f"w{i}" for i in range(30)])
    path = tmp_path / f"v{suffix}"
    (write_word2vec_binary if suffix == ".bin" else write_word2vec_text)(path, kv.index_to_key, kv.vectors)
    calls: list[tuple[int, int]] = []
    emb = read_vectors(path, limit=7, progress=lambda done, total: calls.append((done, total)))
    assert emb.words == kv.index_to_key[:7] and calls[-1] == (7, 7)
    np.testing.assert_array_equal(emb.center, kv.vectors[:7])


def error_of(path: Path, **kwargs: object) -> str:
    with pytest.raises(VectorFileError) as caught:
        read_vectors(path, **kwargs)
    return str(caught.value)


def test_truncated_binary_names_the_vector(tmp_path: Path) -> None:
    kv = random_kv(["a", "b", "c", "d"], dim=5)
    path = tmp_path / "cut.bin"
    kv.save_word2vec_format(str(path), binary=True)
    path.write_bytes(path.read_bytes()[: len("4 5\n") + 2 * len("a ") + 2 * 20 + 2 + 9])
    assert "truncated at vector 3 of 4 ('c')" in error_of(path)


def test_header_count_that_disagrees(tmp_path: Path) -> None:
    path = tmp_path / "count.txt"
    path.write_text("3 2\na 1 2\nb 3 4\n", encoding="utf-8")
    message = error_of(path)
    assert "announces 3 vectors but the file holds 2" in message and "'2 2'" in message
    assert read_vectors(path, limit=2).words == ["a", "b"]  # a limit inside the file does not check the count


def test_mixed_dimensions_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_text("a 1 2 3\nb 1 2 3\nc 1 2\n", encoding="utf-8")
    assert "line 3: 2 values but line 1 gives dimension 3" in error_of(path)


def test_non_numeric_value_names_line_and_token(tmp_path: Path) -> None:
    path = tmp_path / "nan.txt"
    path.write_text("2 3\na 1 2 3\nb 1 two 3\n", encoding="utf-8")
    assert "line 3: 'two' is not a number" in error_of(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.vec"
    path.write_text("", encoding="utf-8")
    assert "is empty" in error_of(path)


def test_duplicate_word(tmp_path: Path) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("a 1 2\nb 3 4\na 5 6\n", encoding="utf-8")
    assert "word 'a' appears twice (line 1 and line 3)" in error_of(path)


def test_text_file_that_is_really_binary(tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_bytes(b"\xba\x16O/\x0c\x00\x00\x00" * 64)  # the start of a fastText .bin model
    assert "binary data but no 'count dim' first line" in error_of(path)
    clean = "".join(f"w{i} 1 2\n" for i in range(600)).encode()  # longer than the sniffed start
    path.write_bytes(b"601 2\n" + clean + b"b \xff\xfe\x00\x00 3\n")
    assert "line 602: binary data (NUL bytes); this text vectors file is really binary" in error_of(path)


def test_limit_on_a_2_gb_file_reads_only_its_head(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(f"w{i} {i % 7}.5 -1.25 {i}e-3 0\n" for i in range(60_000))
        fh.truncate(2 * 1024**3)  # sparse: the remaining ~2 GB take no disk space
    assert os.path.getsize(path) == 2 * 1024**3
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    start = time.perf_counter()
    emb = read_vectors(path, limit=50_000)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert len(emb.words) == 50_000 and emb.center.shape == (50_000, 4) and emb.words[-1] == "w49999"
    np.testing.assert_array_equal(emb.center[49_999], np.float32([49_999 % 7 + 0.5, -1.25, 49.999, 0]))
    assert seconds < 10 and peak < 32 * 1024**2 and grown < 200 * 1024**2
    assert "line 60001: binary data (NUL bytes)" in error_of(path)  # without a limit: the empty tail is refused


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "projector"])
def test_download_bytes_equal_the_exported_files(tiny_run: Run, tmp_path: Path, fmt: str) -> None:
    emb = Embeddings.from_run(tiny_run)
    data = export_bytes(emb, fmt, "sum")
    out = tmp_path / "export"
    export_vectors(emb, out, fmt, "sum")
    if fmt != "projector":
        assert data == out.read_bytes()
        kv = KeyedVectors.load_word2vec_format(str(out), binary=fmt == "word2vec-binary")
        np.testing.assert_array_equal(kv.vectors, emb.table("sum")[1:])
        return
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["metadata.tsv", "vectors.tsv"]
        for name in archive.namelist():
            assert archive.read(name) == (out / name).read_bytes()
