"""Exports of trained vectors: a vectors file in a chosen format, and neighbour lists as CSV for download."""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from pathlib import Path

from core.query import Embeddings, Table
from core.vectors_io import write_projector, write_word2vec_binary, write_word2vec_text

FORMATS = ("word2vec", "word2vec-binary", "projector")
DOWNLOADS = {  # format: (file name suffix, MIME type) of the single file a browser download gets
    "word2vec": (".txt", "text/plain"),
    "word2vec-binary": (".bin", "application/octet-stream"),
    "projector": ("-projector.zip", "application/zip"),
}


def export_vectors(embeddings: Embeddings, out: Path, fmt: str = "word2vec", which: Table = "center") -> int:
    """Write one table of `embeddings` to `out` and return the number of words written (`<unk>` is left out).

    `projector` treats `out` as a folder and writes `out/vectors.tsv` and `out/metadata.tsv` into it,
    the two files the TensorFlow Embedding Projector (projector.tensorflow.org) asks for.
    """
    table = embeddings.table(which)
    if fmt == "word2vec":
        return write_word2vec_text(out, embeddings.words, table)
    if fmt == "word2vec-binary":
        return write_word2vec_binary(out, embeddings.words, table)
    if fmt == "projector":
        return write_projector(out, embeddings.words, table, embeddings.counts)
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def neighbors_csv(embeddings: Embeddings, words: list[str], k: int = 10, which: Table = "center") -> str:
    """CSV text with columns word, neighbour, rank, cosine: the k nearest neighbours of each query word.

    An unknown word raises `UnknownWordError` (with spelling suggestions) before anything is written.
    """
    rows = [
        (word, neighbour, rank, f"{cosine:.6f}")
        for word in words
        for rank, (neighbour, cosine) in enumerate(embeddings.neighbors(word, k, which), 1)
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("word", "neighbour", "rank", "cosine"))
    writer.writerows(rows)
    return out.getvalue()


def export_bytes(embeddings: Embeddings, fmt: str = "word2vec", which: Table = "center") -> bytes:
    """The export as one file's bytes, for a download: the projector's two TSV files come zipped together."""
    with tempfile.TemporaryDirectory(prefix="w2v-export-") as folder:
        out = Path(folder) / "export"
        export_vectors(embeddings, out, fmt, which)
        if fmt != "projector":
            return out.read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in ("vectors.tsv", "metadata.tsv"):
                archive.write(out / name, name)
        return buffer.getvalue()
