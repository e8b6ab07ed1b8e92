"""Exports of trained vectors: a vectors file in a chosen format, and neighbour lists as CSV for download."""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from pathlib import Path

from core.explore.vector_files import (
    PROJECTOR_METADATA,
    PROJECTOR_VECTORS,
    ExportError,
    file_format,
    write_projector,
    write_word2vec_binary,
    write_word2vec_text,
)
from core.explore.vectors import Embeddings, Table
from core.files import runs_root

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
    check_target(Path(out), fmt)
    table = embeddings.table(which)
    if fmt == "word2vec":
        return write_word2vec_text(out, embeddings.words, table)
    if fmt == "word2vec-binary":
        return write_word2vec_binary(out, embeddings.words, table)
    if fmt == "projector":
        return write_projector(projector_paths(out), embeddings.words, table, embeddings.counts)
    raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def projector_paths(folder: Path) -> tuple[Path, Path]:
    """Where the projector format puts its two files in `folder`."""
    return Path(folder) / PROJECTOR_VECTORS, Path(folder) / PROJECTOR_METADATA


def check_target(out: Path, fmt: str) -> None:
    """Refuse a target inside the runs folder (runs, uploads, imports), and any existing file or folder
    the export would replace that is not an earlier export of the same format."""
    root = runs_root().resolve()
    target = out.resolve()
    if target == root or root in target.parents:
        raise ExportError(f"{out} is inside the runs folder {root}; export to a place outside it")
    if fmt == "projector":
        if out.exists() and not out.is_dir():
            raise ExportError(f"{out} is a file; the projector format writes a folder: give a new folder name")
        for path, kind in zip(projector_paths(out), ("projector vectors", "projector metadata"), strict=True):
            _check_replaceable(path, kind)
        return
    if out.is_dir():
        raise ExportError(f"{out} is a folder; {fmt} writes one file: give a file name (or --format projector)")
    _check_replaceable(out, fmt)


def _check_replaceable(path: Path, kind: str) -> None:
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ExportError(f"{path} exists and is not a plain file; remove it or choose another name")
    if path.exists() and file_format(path) not in (kind, "empty"):
        found = file_format(path) or "not a vectors file"
        raise ExportError(
            f"{path} exists and holds {found}, not {kind}: it is not replaced; remove it or choose another name"
        )


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
            for path in projector_paths(out):
                archive.write(path, path.name)
        return buffer.getvalue()
