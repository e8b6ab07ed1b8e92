"""Word-vector files: word2vec text and binary, GloVe text, and the TensorFlow Embedding Projector's TSV pair.

Writers drop `<unk>` and write atomically. The reader streams, so `limit` words cost O(limit * dim) memory
however large the file is, and every damaged file is reported as a `VectorFileError` that says what to do.
"""

from __future__ import annotations

import codecs
import zipfile
import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np

from core.data.vocab import UNK
from core.explore.vectors import Embeddings
from core.files import UnsafeFile, open_regular, write_atomic

Progress = Callable[[int, int], None]
SNIFF_BYTES = 4096  # how much of the file start decides text or binary
MAX_LINE = 4 << 20  # longer text lines are not vectors (a binary file, or a sparse file's empty tail)
CHUNK = 1 << 20
PROGRESS_EVERY = 10_000
MAX_DIM = 100_000  # word vectors have tens to thousands of values; a larger claim is a damaged header
FIRST_ROWS_BYTES = 64 << 20  # the matrix starts at most this large and grows with what is actually read
BOM = b"\xef\xbb\xbf"
MAX_FILE_BYTES = 1 << 40  # the reader streams and stops at `limit` words: this only refuses what is not a file
PROJECTOR_VECTORS, PROJECTOR_METADATA = "vectors.tsv", "metadata.tsv"  # the Embedding Projector's pair


class VectorFileError(ValueError):
    """A vectors file cannot be read; the message names the place and the fix."""


class ExportError(ValueError):
    """Vectors cannot be written where or as asked; the message says why and what to do."""


# --- writers -------------------------------------------------------------------------------


def write_word2vec_text(path: Path, words: list[str], vectors: np.ndarray) -> int:
    """Header `count dim`, then `word v1 ... vd` with 9 significant digits, so float32 values read back exactly."""
    keep = _exportable(words)

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(f"{len(keep)} {vectors.shape[1]}\n")
            for i in keep:
                fh.write(words[i] + " " + _numbers(vectors[i], " ") + "\n")

    write_atomic(Path(path), write)
    return len(keep)


def write_word2vec_binary(path: Path, words: list[str], vectors: np.ndarray) -> int:
    """Header `count dim\\n`, then per word its UTF-8 bytes, a space and dim little-endian float32 (as gensim)."""
    keep = _exportable(words)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(f"{len(keep)} {vectors.shape[1]}\n".encode())
            for i in keep:
                fh.write(words[i].encode("utf-8") + b" " + vectors[i].astype("<f4").tobytes())

    write_atomic(Path(path), write)
    return len(keep)


def write_projector(paths: tuple[Path, Path], words: list[str], vectors: np.ndarray, counts: np.ndarray | None) -> int:
    """The Projector's pair at `paths`: vectors (values, no header) and metadata (header `word\\tcount`), row
    for row."""
    keep = _exportable(words)
    bad = [words[i] for i in keep if "\t" in words[i]]
    if bad:
        raise ExportError(f"word {bad[0]!r} contains a tab and cannot be written to a TSV file")
    values = "".join(_numbers(vectors[i], "\t") + "\n" for i in keep)
    count = (lambda i: "") if counts is None else (lambda i: str(int(counts[i])))
    metadata = "word\tcount\n" + "".join(f"{words[i]}\t{count(i)}\n" for i in keep)
    for path, text in zip(paths, (values, metadata), strict=True):
        write_atomic(Path(path), lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
    return len(keep)


def _exportable(words: list[str]) -> list[int]:
    """Indices of every word but `<unk>`; a word with white space would break every one of these formats."""
    keep = [i for i, w in enumerate(words) if w != UNK]
    bad = [words[i] for i in keep if not words[i] or any(c.isspace() for c in words[i])]
    if bad:
        raise ExportError(f"word {bad[0]!r} contains white space and cannot be written in word2vec format")
    return keep


def _numbers(row: np.ndarray, sep: str) -> str:
    return sep.join(f"{x:.9g}" for x in row.tolist())


def file_format(path: Path) -> str | None:
    """What an existing file holds, judged from its start: `word2vec`, `word2vec-binary`, `glove`,
    `projector vectors`, `projector metadata`, `empty`, or None for anything else."""
    with _open(path) as fh:
        sample = fh.read(SNIFF_BYTES)
    if not sample:
        return "empty"
    first = sample.split(b"\n", 1)[0]
    if _header(first) is not None:
        return "word2vec-binary" if _looks_binary(sample) else "word2vec"
    if _looks_binary(sample):
        return None
    if first.startswith(b"word\t"):
        return "projector metadata"
    if _tab_separated_numbers(sample):
        return "projector vectors"
    parts = first.decode("utf-8", "replace").rstrip().split(" ")
    return "glove" if len(parts) > 1 and all(_is_number(v) for v in parts[1:]) else None


# --- reader --------------------------------------------------------------------------------


def read_vectors(path: str | Path, limit: int | None = None, progress: Progress | None = None) -> Embeddings:
    """Load word2vec/fastText text (`count dim` header), GloVe text (no header), word2vec binary, or the
    Embedding Projector's pair (see `_read_projector`): its `vectors.tsv`, or a zip holding the pair.

    Binary is chosen by a `.bin` suffix or by NUL / non-UTF-8 bytes near the start; the Projector's vectors by a
    `.tsv` suffix or a first line of tab-separated numbers. `limit` keeps the first words only and stops reading
    there. `progress(done, total)` is called every few thousand words; `total` is 0 when a header-less file
    does not say how many words it holds.
    """
    path = Path(path)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if path.suffix.lower() == ".zip":
        return _read_projector_zip(path, limit, progress)
    with _open(path) as fh:
        sample = fh.read(SNIFF_BYTES)
        start = len(BOM) if sample.startswith(BOM) else 0  # a UTF-8 byte order mark is not part of the text
        sample = sample[start:]
        if not sample.strip():
            raise VectorFileError(f"{path} is empty: it holds no vectors; export or download it again")
        fh.seek(start)
        if sample.startswith(b"word\t"):
            raise VectorFileError(
                f"{path} is the Projector's metadata (the words); give the vectors file beside it, {PROJECTOR_VECTORS}"
            )
        if path.suffix.lower() == ".tsv" or _tab_separated_numbers(sample):
            return _read_projector(fh, str(path), _metadata_beside(path), limit, progress)
        header = _header(fh.readline(MAX_LINE))
        binary = path.suffix.lower() == ".bin" or _looks_binary(sample)
        if binary and header is None:
            raise VectorFileError(
                f"{path} holds binary data but no 'count dim' first line: it is not a word2vec file "
                "(a fastText .bin model? load its .vec text file instead)"
            )
        if header is None:
            fh.seek(start)
        reader = _BinaryReader if binary else _TextReader
        words, center = reader(fh, path, header, limit, progress).read()
    return Embeddings(words, center)


def _open(path: Path) -> BinaryIO:
    """The vectors file at `path`, a path the user gave (a link is followed); a FIFO, device or folder is refused,
    never waited on or read without end."""
    try:
        return open_regular(path, MAX_FILE_BYTES, links=True)
    except UnsafeFile as exc:
        raise VectorFileError(f"{path}: {exc.strerror}; give the path of a vectors file") from None


def _header(line: bytes) -> tuple[int, int] | None:
    """`(count, dim)` when the first line is exactly two integers, else None (a GloVe file starts with a vector)."""
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _looks_binary(sample: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)  # a cut multi-byte tail is fine
    except UnicodeDecodeError:
        return True
    return b"\0" in sample


class _Rows:
    """A float32 matrix that grows by doubling, never past `limit` rows."""

    def __init__(self, dim: int, expected: int | None, limit: int | None) -> None:
        self.limit = limit
        rows = min(1 << 16, 1024 if expected is None else expected, 1 << 16 if limit is None else limit)
        rows = min(rows, FIRST_ROWS_BYTES // (4 * dim))  # what a header claims is not allocated up front
        self.data = np.empty((max(rows, 1), dim), dtype=np.float32)
        self.n = 0

    def append(self, row: np.ndarray) -> None:
        if self.n == len(self.data):
            rows = 2 * self.n if self.limit is None else min(2 * self.n, self.limit)
            grown = np.empty((rows, self.data.shape[1]), dtype=np.float32)
            grown[: self.n] = self.data
            self.data = grown
        self.data[self.n] = row
        self.n += 1

    def matrix(self) -> np.ndarray:
        return self.data if self.n == len(self.data) else self.data[: self.n].copy()


class _Reader:
    """What text and binary reading share: the word list, duplicate and count checks, progress."""

    unit = "line"  # what `add`'s `where` numbers

    def __init__(
        self,
        fh: BinaryIO,
        path: str | Path,
        header: tuple[int, int] | None,
        limit: int | None,
        progress: Progress | None,
    ) -> None:
        self.fh, self.path, self.limit, self.progress = fh, path, limit, progress
        self.count, self.dim = header if header else (None, None)
        self.words: list[str] = []
        self.place: dict[str, int] = {}
        self.rows: _Rows | None = None if self.dim is None else self._new_rows(self.dim)

    def _new_rows(self, dim: int) -> _Rows:
        if dim < 1:
            raise VectorFileError(f"{self.path}: the header gives dimension {dim}; vectors need at least one value")
        if dim > MAX_DIM:
            where = "the header gives" if self.count is not None else "the first vector has"
            raise VectorFileError(
                f"{self.path}: {where} dimension {dim:,}, more than {MAX_DIM:,}; "
                "the file is damaged or does not hold word vectors"
            )
        return _Rows(dim, self.count, self.limit)

    def full(self) -> bool:
        return self.limit is not None and len(self.words) >= self.limit

    def add(self, word: str, row: np.ndarray, where: int) -> None:
        if not np.isfinite(row).all():
            bad = row[~np.isfinite(row)][0]
            raise VectorFileError(
                f"{self.path}, {self.unit} {where} ({word!r}): value {bad} is not a finite number (NaN or infinite, "
                "or too large for float32); fix or remove that vector"
            )
        if word in self.place:
            raise VectorFileError(
                f"{self.path}: word {word!r} appears twice ({self.unit} {self.place[word]} and {self.unit} {where}); "
                "keep one of them"
            )
        self.place[word] = where
        self.words.append(word)
        self.rows.append(row)
        if self.progress and len(self.words) % PROGRESS_EVERY == 0:
            self.progress(len(self.words), self._total())

    def finish(self, whole_file: bool) -> tuple[list[str], np.ndarray]:
        """Check the header against what was read (only when the whole file was) and hand over the matrix."""
        n = len(self.words)
        if self.count is not None and (n > self.count or (whole_file and n != self.count)):
            held, fix = (n, f"{n} {self.dim}") if whole_file else ("more", f"<count> {self.dim}")
            raise VectorFileError(
                f"{self.path}: the header announces {self.count} vectors but the file holds {held}; "
                f"correct the first line to '{fix}' or export again"
            )
        if n == 0:
            raise VectorFileError(f"{self.path} holds no vectors; export or download it again")
        if self.progress:
            self.progress(n, self._total())
        return self.words, self.rows.matrix()

    def _total(self) -> int:
        known = [x for x in (self.count, self.limit) if x is not None]
        return min(known) if known else 0


class _TextReader(_Reader):
    def read(self) -> tuple[list[str], np.ndarray]:
        self.first: int | None = None  # line of the first vector, which sets the dimension of a header-less file
        line_no = 1 if self.count is not None else 0
        while not self.full():
            raw = self.fh.readline(MAX_LINE)
            if not raw:
                return self.finish(whole_file=True)
            line_no += 1
            text = _decode(raw, self.path, line_no)
            if text.strip():
                self._parse(text, line_no)
        return self.finish(whole_file=False)

    def _parse(self, text: str, line_no: int) -> None:
        word, *values = text.rstrip().split(" ")
        if self.rows is None:
            self.dim, self.first = len(values), line_no
            self.rows = self._new_rows(self.dim)
        if len(values) != self.dim:
            first = f"line {self.first}" if self.first else "the header"
            raise VectorFileError(
                f"{self.path}, line {line_no}: {len(values)} values but {first} gives dimension {self.dim}; "
                "every vector must have the same dimension"
            )
        try:
            with np.errstate(over="ignore"):  # a value past float32's range becomes inf, refused in `add`
                row = np.array(values, dtype=np.float32)
        except ValueError:
            token = next(v for v in values if not _is_number(v))
            raise VectorFileError(
                f"{self.path}, line {line_no}: {token!r} is not a number; fix or remove that line"
            ) from None
        self.add(word, row, line_no)


def _decode(raw: bytes, path: str | Path, line_no: int) -> str:
    """A line of a text vectors file as text; binary or damaged bytes are refused with the line's number."""
    problem = "binary data (NUL bytes)" if b"\0" in raw else None
    if problem is None and len(raw) == MAX_LINE and not raw.endswith(b"\n"):
        problem = f"more than {MAX_LINE} bytes without a line break"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        problem = problem or "bytes that are not UTF-8 text"
    if problem:
        raise VectorFileError(
            f"{path}, line {line_no}: {problem}; this text vectors file is really binary or damaged "
            "(a word2vec binary file needs a 'count dim' first line and the .bin suffix)"
        )
    return text


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


class _BinaryReader(_Reader):
    unit = "vector"

    def read(self) -> tuple[list[str], np.ndarray]:
        self.buf, self.pos, self.eof = bytearray(), 0, False
        size = 4 * self.dim
        while len(self.words) < self.count and not self.full():
            number = len(self.words) + 1
            if not self._fill(1, skip_newlines=True):
                return self.finish(whole_file=True)
            end = self._find_space(number)
            word = self._word(bytes(self.buf[self.pos : end]), number)
            self.pos = end + 1
            if not self._fill(size):
                raise VectorFileError(
                    f"{self.path} is truncated at vector {number} of {self.count} ({word!r}): it ends inside "
                    "that vector; export or download the file again"
                )
            row = np.frombuffer(self.buf[self.pos : self.pos + size], dtype="<f4")  # a copy: buf will shrink
            self.pos += size
            self.add(word, row, number)
        if self.full():
            return self.finish(whole_file=False)
        if self._fill(1, skip_newlines=True, skip_spaces=True):
            raise VectorFileError(
                f"{self.path}: the header announces {self.count} vectors but more data follows them; "
                "correct the first line or export again"
            )
        return self.finish(whole_file=True)

    def _fill(self, n: int, skip_newlines: bool = False, skip_spaces: bool = False) -> bool:
        """Make `n` bytes available at `pos` (after skipping separators); False at the end of the file."""
        while True:
            if skip_newlines:
                while self.pos < len(self.buf) and self.buf[self.pos] in (b"\n\r \t" if skip_spaces else b"\n"):
                    self.pos += 1
            if len(self.buf) - self.pos >= n:
                return True
            if self.eof:
                return False
            self._more()

    def _more(self) -> None:
        del self.buf[: self.pos]
        self.pos = 0
        chunk = self.fh.read(CHUNK)
        self.eof = not chunk
        self.buf += chunk

    def _find_space(self, number: int) -> int:
        searched = 0  # bytes after pos already searched; _more() moves pos to 0
        while (end := self.buf.find(b" ", self.pos + searched)) < 0:
            if self.eof or len(self.buf) - self.pos > MAX_LINE:
                raise VectorFileError(
                    f"{self.path} is truncated or damaged at vector {number} of {self.count}: no word ends there; "
                    "export or download the file again"
                )
            searched = len(self.buf) - self.pos
            self._more()
        return end

    def _word(self, raw: bytes, number: int) -> str:
        try:
            word = raw.decode("utf-8")
        except UnicodeDecodeError:
            word = ""
        if not word:
            raise VectorFileError(
                f"{self.path}, vector {number}: no UTF-8 word before the values; the file is damaged or not word2vec"
            )
        return word


# --- the Embedding Projector's pair ---------------------------------------------------------

Metadata = tuple[str, Callable[[], AbstractContextManager[BinaryIO]]]  # its name in messages, and how to open it


def _tab_separated_numbers(sample: bytes) -> bool:
    """The file starts like the Projector's vectors file: a line of numbers separated by tabs."""
    first = sample.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    return "\t" in first and all(_is_number(v) for v in first.split("\t"))


def _metadata_beside(vectors: Path) -> Metadata | None:
    """The words of a Projector vectors file on disk: `metadata.tsv` beside `vectors.tsv` (`X-metadata.tsv` beside
    `X-vectors.tsv`); None when there is none, and the rows are named by their number."""
    head, found, tail = vectors.name.rpartition("vectors")
    beside = vectors.with_name(head + "metadata" + tail)
    if not found or not (beside.exists() or beside.is_symlink()):
        return None
    return str(beside), lambda: _open(beside)


def _read_projector(
    fh: BinaryIO, name: str, metadata: Metadata | None, limit: int | None, progress: Progress | None
) -> Embeddings:
    """The Projector's pair: vectors (one per line, tab-separated values, no header) and, when given, the
    metadata whose lines name them row for row; without metadata the words are `row1`, `row2`, ..."""
    reader = _TsvReader(fh, name, None, limit, progress)
    rows, matrix = reader.read()
    if metadata is None:
        return Embeddings(rows, matrix)
    meta_name, open_metadata = metadata
    with open_metadata() as meta:
        words = _projector_words(meta, meta_name, len(rows), reader.whole, name)
    return Embeddings(words, matrix)


class _TsvReader(_Reader):
    """The Projector's vectors file; its rows are named `row1`, `row2`, ... until the metadata names them.
    Blank lines are skipped, as TensorBoard's projector does."""

    def read(self) -> tuple[list[str], np.ndarray]:
        self.whole, line_no = False, 0
        while not self.full():
            raw = self.fh.readline(MAX_LINE)
            if not raw:
                self.whole = True
                break
            line_no += 1
            text = _decode(raw, self.path, line_no)
            if text.strip():
                self._parse(text.strip().split("\t"), line_no)
        return self.finish(self.whole)

    def _parse(self, values: list[str], line_no: int) -> None:
        if self.rows is None:
            self.dim, self.first = len(values), line_no
            self.rows = self._new_rows(self.dim)
        if len(values) != self.dim:
            raise VectorFileError(
                f"{self.path}, line {line_no}: {len(values)} values but line {self.first} has {self.dim}; "
                "every row of the Projector's vectors file must have the same number of values"
            )
        bad = next((v for v in values if not _is_number(v)), None)
        if bad is not None:
            raise VectorFileError(
                f"{self.path}, line {line_no}: {bad!r} is not a number; the Projector's vectors file holds "
                "tab-separated numbers only, one vector per line (the words go in metadata.tsv beside it)"
            )
        with np.errstate(over="ignore"):  # a value past float32's range becomes inf, refused in `add`
            row = np.array(values, dtype=np.float32)
        self.add(f"row{len(self.words) + 1}", row, line_no)


def _projector_words(fh: BinaryIO, name: str, rows: int, whole: bool, vectors: str) -> list[str]:
    """The words of the first `rows` vectors: the metadata's lines, one label each; a file of several
    tab-separated columns starts with a header, whose `word` column (else its first) holds the words.
    `whole`: the vectors were read to their end, so the words must end there too."""
    column, width, line_no = 0, None, 0
    words: list[str] = []
    place: dict[str, int] = {}
    while raw := fh.readline(MAX_LINE):
        line_no += 1
        text = _decode(raw, name, line_no).rstrip("\r\n").removeprefix("\ufeff" if line_no == 1 else "")
        if not text.strip():
            continue
        cells = text.split("\t")
        if not words and width is None and len(cells) > 1:
            width = len(cells)
            names = [c.strip().casefold() for c in cells]
            column = names.index("word") if "word" in names else 0
            continue
        if len(cells) != (width or 1):
            first = f"the header has {width}" if width else "the first line has 1"
            raise VectorFileError(
                f"{name}, line {line_no}: {len(cells)} tab-separated columns but {first}; every line of the "
                "metadata must have as many (a metadata file of several columns starts with a header line)"
            )
        if len(words) == rows:
            if not whole:
                return words
            extra = 1 + sum(1 for line in iter(lambda: fh.readline(MAX_LINE), b"") if line.strip())
            raise _mismatch(vectors, rows, name, rows + extra)
        _add_word(cells[column].strip(), words, place, name, line_no)
    if len(words) < rows:
        raise _mismatch(vectors, rows, name, len(words), whole)
    return words


def _add_word(word: str, words: list[str], place: dict[str, int], name: str, line_no: int) -> None:
    if not word:
        raise VectorFileError(f"{name}, line {line_no}: the word is empty; every vector needs a word")
    if word in place:
        raise VectorFileError(
            f"{name}: word {word!r} appears twice (line {place[word]} and line {line_no}); keep one of them "
            "and its row in the vectors file"
        )
    place[word] = line_no
    words.append(word)


def _mismatch(vectors: str, rows: int, name: str, words: int, whole: bool = True) -> VectorFileError:
    held = f"{rows}" if whole else f"at least {rows}"
    return VectorFileError(
        f"{vectors} holds {held} vectors but {name} names {words} words; the two files must match row for row: "
        "export them again together"
    )


def _read_projector_zip(path: Path, limit: int | None, progress: Progress | None) -> Embeddings:
    """The Projector's pair from a zip (the app's download): its `vectors.tsv` and the `metadata.tsv` beside it."""
    with _open(path) as raw:
        try:
            with zipfile.ZipFile(raw) as archive:
                vectors, metadata = _pair_in(archive, path)
                meta = None if metadata is None else (f"{path} ({metadata.filename})", lambda: archive.open(metadata))
                with archive.open(vectors) as fh:
                    return _read_projector(fh, f"{path} ({vectors.filename})", meta, limit, progress)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise VectorFileError(
                f"{path} cannot be read as a zip file ({exc}); zip or download the vectors.tsv and metadata.tsv again"
            ) from None


def _pair_in(archive: zipfile.ZipFile, path: Path) -> tuple[zipfile.ZipInfo, zipfile.ZipInfo | None]:
    """The archive's one `vectors.tsv` and the `metadata.tsv` in its folder (None when there is none)."""
    files = [m for m in archive.infolist() if not m.is_dir()]
    found = [m for m in files if PurePosixPath(m.filename).name == PROJECTOR_VECTORS]
    if len(found) != 1:
        held = f"{len(found)} files named {PROJECTOR_VECTORS}" if found else f"no {PROJECTOR_VECTORS}"
        raise VectorFileError(
            f"{path} holds {held}; a zip to import holds the Projector's pair, one {PROJECTOR_VECTORS} and the "
            f"{PROJECTOR_METADATA} beside it (as the app's Projector download)"
        )
    beside = PurePosixPath(found[0].filename).parent / PROJECTOR_METADATA
    metadata = next((m for m in files if PurePosixPath(m.filename) == beside), None)
    too_big = [m.filename for m in (found[0], metadata) if m is not None and m.file_size > MAX_FILE_BYTES]
    if too_big:
        raise VectorFileError(f"{path}: {too_big[0]} claims more than {MAX_FILE_BYTES >> 30} GB; it is not vectors")
    return found[0], metadata
