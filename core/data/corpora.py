"""Corpus sources: the Penn Treebank (fetched, checked and cached), UTF-8 text files, gensim's Lee corpus.

A corpus is a list of sentences, each a list of tokens; one line of text is one sentence.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

PTB_URL = "http://d2l-data.s3-accelerate.amazonaws.com/ptb.zip"
PTB_SHA1 = "319d85e578af0cdc590547f26231e4e31cdf1e42"
PTB_MEMBER = "ptb/ptb.train.txt"
DATA_DIR_ENV = "W2V_DATA_DIR"
BUILT_IN = ("ptb", "lee")  # corpus names that are not file paths
OFFLINE_HINT = (
    "Offline? Give the path of a copy of ptb.zip (the Train page's field for it, or --data-dir on the command "
    f"line), or set {DATA_DIR_ENV} to the folder holding it, or use the lee corpus"
)
MAX_TEXT_BYTES = 2 * 1024**3

Sentences = list[list[str]]
Progress = Callable[[int, int], None]


class CorpusError(ValueError):
    """A corpus cannot be read or is unusable; the message says what to do."""


def cache_dir() -> Path:
    """The downloaded PTB and the stores of large corpora: $W2V_CACHE_DIR, else the user's cache folder."""
    if os.environ.get("W2V_CACHE_DIR"):
        return Path(os.environ["W2V_CACHE_DIR"])
    from platformdirs import user_cache_dir  # imported here: a bare GPU machine may lack it (the device check)

    return Path(user_cache_dir("word2vec-studio"))


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ptb_zip(data_dir: str | Path | None = None, progress: Progress | None = None) -> Path:
    """Return a checked local `ptb.zip`: explicit path, then `$W2V_DATA_DIR`, then the cache, else download.

    An explicit path or `$W2V_DATA_DIR` never touches the network.
    """
    offline = _offline_dir(data_dir)
    if offline:
        path = Path(offline)
        path = path / "ptb.zip" if path.is_dir() else path
        if not path.is_file():
            raise CorpusError(f"{path} not found: put ptb.zip there or unset {DATA_DIR_ENV} to download it")
        _check_sha1(path)
        return path
    cached = cache_dir() / "ptb.zip"
    if cached.is_file() and sha1_of(cached) == PTB_SHA1:
        return cached
    download(PTB_URL, cached, PTB_SHA1, progress)
    return cached


def install_ptb(path: str | Path) -> Path:
    """Copy a local `ptb.zip` (checked by its sha1) into the cache, where every later run finds it without the
    network; returns where it now lies."""
    source = Path(path).expanduser()
    if source.is_dir():
        source = source / "ptb.zip"
    if not source.is_file():
        raise CorpusError(f"{source} is not a file on this machine; give the path of ptb.zip")
    _check_sha1(source)
    cached = cache_dir() / "ptb.zip"
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=cached.parent, suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as fh:
            shutil.copyfileobj(fh, out)
        os.replace(tmp, cached)
    finally:
        tmp.unlink(missing_ok=True)
    return cached


def ptb_needs_download(data_dir: str | Path | None = None) -> bool:
    """Whether reading PTB would download it: no offline folder is given and the cache holds no good copy."""
    cached = cache_dir() / "ptb.zip"
    return not _offline_dir(data_dir) and not (cached.is_file() and sha1_of(cached) == PTB_SHA1)


def _offline_dir(data_dir: str | Path | None) -> str | Path | None:
    return data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)


def _check_sha1(path: Path) -> None:
    actual = sha1_of(path)
    if actual != PTB_SHA1:
        raise CorpusError(f"{path} has sha1 {actual}, not {PTB_SHA1}: it is damaged or not the book's ptb.zip")


def download(url: str, dest: Path, sha1: str, progress: Progress | None = None) -> None:
    """Fetch `url` into `dest` through a temporary file, so a failed or corrupt download leaves nothing behind."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
        if sha1_of(tmp) != sha1:
            raise CorpusError(f"download of {url} is corrupt (sha1 mismatch); try again")
        os.replace(tmp, dest)
    except OSError as exc:
        raise CorpusError(f"could not download {url} ({exc}). {OFFLINE_HINT}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def read_ptb(data_dir: str | Path | None = None, progress: Progress | None = None) -> Sentences:
    with zipfile.ZipFile(ptb_zip(data_dir, progress)) as archive:
        text = archive.read(PTB_MEMBER).decode("utf-8")
    return split_sentences(text, lowercase=False)


def read_lee() -> Sentences:
    """gensim's bundled Lee news corpus: always available offline."""
    from gensim.test.utils import datapath
    from gensim.utils import simple_preprocess

    with open(datapath("lee_background.cor"), encoding="utf-8") as fh:
        return [words for line in fh if (words := simple_preprocess(line, deacc=False, min_len=1))]


def read_text_file(path: str | Path, lowercase: bool = False) -> Sentences:
    """A UTF-8 text file (plain or .gz): one sentence per line, tokens split on white space."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    return split_sentences(decode_text(read_bytes(path), str(path)), lowercase)


def read_bytes(path: Path) -> bytes:
    if path.stat().st_size > MAX_TEXT_BYTES:
        raise CorpusError(f"{path}: larger than {size_text(MAX_TEXT_BYTES)}; split it or use a smaller file")
    if path.suffix == ".gz":
        return gunzip(path, str(path))
    return path.read_bytes()


def gunzip(path: Path, name: str) -> bytes:
    """Decompress with a ceiling, streaming from the file, so a gzip bomb stops instead of filling memory."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read(MAX_TEXT_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise CorpusError(f"{name}: not a valid gzip file ({exc})") from exc
    if len(data) > MAX_TEXT_BYTES:
        raise CorpusError(f"{name}: expands past {size_text(MAX_TEXT_BYTES)}; refusing to decompress it")
    return data


def check_no_nul(data: bytes, name: str, lines_before: int = 0) -> None:
    """Refuse NUL bytes anywhere (binary data is not text), naming the line of the first one."""
    at = data.find(b"\x00")
    if at >= 0:
        line = lines_before + data.count(b"\n", 0, at) + 1
        raise CorpusError(
            f"{name}, line {line:,}: a NUL byte: looks like a binary file, not text; give a UTF-8 text file"
        )


def size_text(n: int) -> str:
    """A byte count for messages: `2 GB`, `1.5 MB`, `900 bytes`."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def decode_text(raw: bytes, name: str) -> str:
    """Decode UTF-8 strictly, rejecting binary data with a message that says what was found."""
    check_no_nul(raw, name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{name}: not valid UTF-8 at byte {exc.start}; re-save it as UTF-8 "
            "(e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`)"
        ) from exc


def split_sentences(text: str, lowercase: bool) -> Sentences:
    if lowercase:
        text = text.lower()
    sentences = [line.split() for line in text.splitlines()]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise CorpusError("the corpus is empty: it holds no words")
    return sentences


def load_corpus(
    spec: str, lowercase: bool = False, data_dir: str | Path | None = None, progress: Progress | None = None
) -> Sentences:
    """`spec` is `ptb`, `lee` or a path to a text file."""
    if spec == "ptb":
        return read_ptb(data_dir, progress)
    if spec == "lee":
        return read_lee()
    return read_text_file(spec, lowercase)
