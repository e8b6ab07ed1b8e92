"""Streaming corpora: a text file tokenised once into token ids on disk, read back a slice at a time.

A store is a folder holding `ids.int32` (every token's id, corpus order), `offsets.int64` (sentence
s is ids[offsets[s]:offsets[s + 1]]), `vocab.json` (every distinct token with its count, ordered
like :meth:`core.data.vocab.Vocab.build`: `<unk>` first, then count descending, ties by token) and
`meta.json` (the source file's path, size, mtime and inode). It is built in one pass over the text, read
in blocks of a fixed size whatever its line lengths, with memory bounded by a block, one chunk of ids and
the vocabulary, so the corpus itself never sits in memory; because the ids are sorted by count, the
vocabulary for any `min_freq` is a prefix of the store's.

A store never changes once built: its folder is named after the file's identity (path, size, mtime,
inode), so an edited file gets a new store, and an open `Store` holds its files open (and a shared lock
that keeps it from being cleaned), so a run that is training keeps reading the store it started with.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gzip
import hashlib
import json
import os
import secrets
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from core.data.corpora import BUILT_IN, CorpusError, Progress, cache_dir, check_no_nul
from core.data.vocab import UNK, Vocab, VocabError
from core.files import remove_stale_temporaries, runs_root, write_text_atomic

STORE_THRESHOLD_BYTES = 200 * 1024**2  # text files above this train from a store, not from memory
FORMAT_VERSION = 2  # 2: long lines cut into sentences of MAX_SENTENCE_TOKENS
CHUNK_TOKENS = 1 << 20  # ids held in memory while tokenising, and per read when remapping
READ_BYTES = 1 << 20  # text decoded and split at a time, however long its lines
MAX_WORD_BYTES = 1 << 24  # a "word" longer than this (no white space in 16 MB) is not text
MAX_SENTENCE_TOKENS = 10_000  # a longer line is cut into sentences of this many tokens (word2vec.c's limit)
SPACES = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # the ASCII bytes str.split() splits on: never inside a UTF-8 sequence
LINE_ENDS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines() ends a line at
IDS, OFFSETS, VOCAB, META, IN_USE = "ids.int32", "offsets.int64", "vocab.json", "meta.json", "in-use.lock"


@dataclass(frozen=True)
class Store:
    """An open store: its ids and offsets files stay open, so files replaced later are never read."""

    path: Path
    tokens: list[str]
    counts: np.ndarray
    n_tokens: int
    files: tuple[BinaryIO, BinaryIO] = field(repr=False, compare=False)  # (in-use lock, ids)
    sentence_offsets: np.ndarray = field(repr=False, compare=False)

    @classmethod
    def open(cls, path: Path) -> Store:
        in_use = open(path / IN_USE, "ab")  # noqa: SIM115 - held as long as the store is open
        fcntl.flock(in_use.fileno(), fcntl.LOCK_SH)  # cleaning skips a store some process holds
        data = json.loads((path / VOCAB).read_text(encoding="utf-8"))
        counts = np.asarray(data["counts"], dtype=np.int64)
        ids = open(path / IDS, "rb")  # noqa: SIM115 - held as long as the store is open
        offsets = np.memmap(path / OFFSETS, dtype=np.int64, mode="r")
        return cls(path, data["tokens"], counts, int(counts.sum()), (in_use, ids), offsets)

    def offsets(self) -> np.ndarray:
        """Sentence offsets, memory-mapped: looking up a few boundaries touches only a few pages."""
        return self.sentence_offsets

    def read(self, start: int, stop: int) -> np.ndarray:
        """Ids of tokens start..stop-1, read into memory from the file opened with the store."""
        out = np.empty(stop - start, dtype=np.int32)
        view, offset = memoryview(out).cast("B"), 4 * start
        while view:
            got = os.preadv(self.files[1].fileno(), [view], offset)
            if not got:
                raise CorpusError(f"{self.path}: the store is cut short; delete the folder to build it again")
            view, offset = view[got:], offset + got
        return out

    def vocab(self, min_freq: int) -> tuple[Vocab, np.ndarray]:
        """The training vocabulary for `min_freq` and the lookup from store ids to its ids (rarer words -> 0)."""
        kept = int(np.count_nonzero(self.counts[1:] >= min_freq))
        if kept < 2:
            raise VocabError(
                f"min_freq={min_freq} leaves {kept} word(s) in the vocabulary; "
                "lower min_freq or give a larger corpus (at least 2 words must remain)"
            )
        counts = self.counts[: kept + 1].copy()
        counts[0] = self.n_tokens - counts[1:].sum()
        lookup = np.arange(len(self.tokens), dtype=np.int64)
        lookup[kept + 1 :] = 0
        return Vocab(self.tokens[: kept + 1], counts.tolist()), lookup


def wants_store(corpus: str) -> bool:
    """Whether `corpus` (a config's corpus field) names a text file too large to hold in memory.

    What counts is the text's size: a `.gz` is measured by decompressing it (in small blocks, up to the
    threshold), never by what its header claims.
    """
    path = Path(corpus)
    if corpus in BUILT_IN or not path.is_file():
        return False
    stat = path.stat()
    if path.suffix != ".gz" or stat.st_size > STORE_THRESHOLD_BYTES:
        return stat.st_size > STORE_THRESHOLD_BYTES
    return _text_bytes(str(path.resolve()), stat.st_size, stat.st_mtime_ns) > STORE_THRESHOLD_BYTES


@functools.lru_cache(maxsize=64)
def _text_bytes(path: str, size: int, mtime_ns: int) -> int:
    """Decompressed size of a `.gz`, counted up to just past the threshold (size and time key the cache)."""
    done = 0
    try:
        with gzip.open(path, "rb") as fh:
            while done <= STORE_THRESHOLD_BYTES and (block := fh.read(1 << 16)):
                done += len(block)
    except (OSError, EOFError):
        pass  # damaged or not gzip: under the threshold, reading it in memory gives the clear message
    return done


def store_dir(text_path: Path, lowercase: bool) -> Path:
    """Where the store of this version of a text file lives: the user cache, one folder per file, case
    setting and identity (size, mtime, inode), so an edited file never rebuilds a store a run reads."""
    stat = text_path.stat()
    version = hashlib.sha1(f"{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}".encode()).hexdigest()[:12]
    prefix = _versions_prefix(text_path, lowercase)
    return prefix.with_name(f"{prefix.name}-{version}")


def _versions_prefix(text_path: Path, lowercase: bool) -> Path:
    """The folder name every version of one file's store (at one case setting) starts with."""
    key = hashlib.sha1(f"{text_path.resolve()}|{lowercase}".encode()).hexdigest()[:16]
    return cache_dir() / "stores" / f"{text_path.name}-{key}"


def open_or_build(text_path: Path, lowercase: bool, progress: Progress | None = None) -> Store:
    """The store of this version of `text_path`, built only if it was never tokenised (or the store was damaged
    or deleted). Builds of one store take turns: a second waits, then uses the first's store. After a build,
    the stores of the file's earlier versions that no process holds open are removed."""
    if not text_path.is_file():
        raise CorpusError(f"{text_path}: no such file")
    out_dir = store_dir(text_path, lowercase)
    if (ready := _ready(text_path, out_dir, lowercase)) is not None:
        return ready
    with _exclusive(out_dir):
        if (ready := _ready(text_path, out_dir, lowercase)) is not None:
            return ready
        built = build_store(text_path, out_dir, lowercase, progress)
    _remove_unused_versions(_versions_prefix(text_path, lowercase), keep=out_dir)
    return built


def _remove_unused_versions(prefix: Path, keep: Path) -> None:
    """Delete the other stores of one file that no process builds or holds open."""
    for old in prefix.parent.iterdir():
        if old == keep or not old.is_dir() or not (old.name == prefix.name or old.name.startswith(f"{prefix.name}-")):
            continue
        with contextlib.suppress(OSError), _unused(old):  # BlockingIOError, an OSError: a process uses it
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _unused(out_dir: Path) -> Iterator[None]:
    """Exclusive hold of a store's build lock and in-use lock (an open `Store` holds the latter shared)."""
    with open(out_dir.parent / f".{out_dir.name}.lock", "a") as build, open(out_dir / IN_USE, "ab") as in_use:
        for lock in (build, in_use):
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


def _ready(text_path: Path, out_dir: Path, lowercase: bool) -> Store | None:
    if _source(text_path, lowercase) != _read_meta(out_dir):
        return None
    try:
        return Store.open(out_dir)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # damaged or partly deleted: build it again


@contextlib.contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """An advisory lock on one store, held across processes while it is built."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(out_dir.parent / f".{out_dir.name}.lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def build_store(text_path: Path, out_dir: Path, lowercase: bool, progress: Progress | None = None) -> Store:
    """Tokenise `text_path` (plain or .gz UTF-8, one sentence per line) into a store in `out_dir`."""
    text_path = Path(text_path)
    if not text_path.is_file():
        raise CorpusError(f"{text_path}: no such file")
    root = runs_root().resolve()
    if root in out_dir.resolve().parents:
        raise CorpusError(f"the store folder {out_dir} is inside the runs folder {root}; set W2V_CACHE_DIR elsewhere")
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    (out_dir / META).unlink(missing_ok=True)  # a half-rewritten store must never read as complete
    mine = f"{os.getpid()}.{secrets.token_hex(4)}.tmp"  # names no other build uses, removed if it is killed
    raw_ids, offsets, ids = (out_dir / f".{name}.{mine}" for name in ("ids.raw", OFFSETS, IDS))
    source = _source(text_path, lowercase)
    try:
        tokens, counts = _tokenise(text_path, lowercase, raw_ids, offsets, progress)
        if _source(text_path, lowercase) != source:
            raise CorpusError(f"{text_path}: the file changed while it was tokenised; start again")
        if len(tokens) < 2:
            raise CorpusError(f"{text_path}: the corpus is empty: it holds no words")
        order = sorted(range(1, len(tokens)), key=lambda i: (-counts[i], tokens[i]))
        _renumber(raw_ids, ids, np.asarray([0, *order], dtype=np.int64))
        os.replace(ids, out_dir / IDS)
        os.replace(offsets, out_dir / OFFSETS)
        vocab = {"tokens": [UNK, *(tokens[i] for i in order)], "counts": [int(counts[0]), *counts[order].tolist()]}
        write_text_atomic(out_dir / VOCAB, json.dumps(vocab, ensure_ascii=False))
        write_text_atomic(out_dir / META, json.dumps(source))
    finally:
        for tmp in (raw_ids, offsets, ids):
            tmp.unlink(missing_ok=True)
    return Store.open(out_dir)


def _tokenise(
    text_path: Path, lowercase: bool, ids_path: Path, offsets_path: Path, progress: Progress | None
) -> tuple[list[str], np.ndarray]:
    """One pass: provisional ids (order of first sight, `<unk>` = 0) to `ids_path`, offsets, counts.

    A line is a sentence; one of more than MAX_SENTENCE_TOKENS tokens is cut into sentences of that many.
    Blocks end at white space, so a line may go on in the next block: `open_tokens` counts its tokens so far.
    """
    table: defaultdict[str, int] = defaultdict()
    table.default_factory = table.__len__  # an unseen token gets the next free id
    table[UNK] = 0
    ids: list[int] = []
    lengths: list[int] = []
    open_tokens = 0
    with _Sink(ids_path, offsets_path) as sink:
        for text in _text_blocks(text_path, progress):
            for piece in (text.lower() if lowercase else text).splitlines(keepends=True):
                words = piece.split()
                ids.extend(map(table.__getitem__, words))
                open_tokens += len(words)
                while open_tokens >= MAX_SENTENCE_TOKENS:
                    lengths.append(MAX_SENTENCE_TOKENS)
                    open_tokens -= MAX_SENTENCE_TOKENS
                if open_tokens and piece[-1] in LINE_ENDS:
                    lengths.append(open_tokens)
                    open_tokens = 0
            if len(ids) >= CHUNK_TOKENS:
                sink.write(ids, lengths)
        if open_tokens:  # a last line without a line end
            lengths.append(open_tokens)
        sink.write(ids, lengths)
    return list(table), sink.counts


class _Sink:
    """Appends chunks of ids and sentence lengths to the files, counting each id as it goes."""

    def __init__(self, ids_path: Path, offsets_path: Path) -> None:
        self.ids_out = open(ids_path, "wb")  # noqa: SIM115 - closed by __exit__
        self.offsets_out = open(offsets_path, "wb")  # noqa: SIM115
        np.zeros(1, dtype=np.int64).tofile(self.offsets_out)
        self.counts = np.zeros(1, dtype=np.int64)
        self.ended = 0  # tokens before the last sentence end written (ids of an open sentence may follow)

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ids_out.close()
        self.offsets_out.close()

    def write(self, ids: list[int], lengths: list[int]) -> None:
        """Flush and empty both lists."""
        chunk = np.asarray(ids, dtype=np.int32)
        chunk.tofile(self.ids_out)
        ends = self.ended + np.cumsum(lengths, dtype=np.int64)
        ends.tofile(self.offsets_out)
        more = np.bincount(chunk)
        if len(more) > len(self.counts):
            self.counts = np.concatenate([self.counts, np.zeros(len(more) - len(self.counts), dtype=np.int64)])
        self.counts[: len(more)] += more
        self.ended = int(ends[-1]) if len(ends) else self.ended
        ids.clear()
        lengths.clear()


def _text_blocks(path: Path, progress: Progress | None) -> Iterator[str]:
    """Decoded blocks of about READ_BYTES, each ending at white space (so no word or UTF-8 sequence is cut);
    the bytes read so far go to `progress`."""
    total = path.stat().st_size
    with open(path, "rb") as raw:
        reader: BinaryIO = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
        position, carry, first, lines = 0, b"", True, 0
        while True:
            block = _read(reader, path)
            data = carry + block
            cut = len(data) if not block else max(map(data.rfind, (bytes([b]) for b in SPACES))) + 1
            if len(data) - cut > MAX_WORD_BYTES:
                raise CorpusError(
                    f"{path}, line {lines + 1:,}: more than {MAX_WORD_BYTES >> 20} MB without white space: not text"
                )
            check_no_nul(data, str(path), lines)  # before decoding: binary data is named as such
            yield _decode(data[:cut], path, position, first)
            lines += data.count(b"\n", 0, cut)
            position, carry, first = position + cut, data[cut:], first and cut == 0
            if progress:
                progress(raw.tell(), total)
            if not block:
                return


def _read(reader: BinaryIO, path: Path) -> bytes:
    try:
        return reader.read(READ_BYTES)
    except (OSError, EOFError) as exc:
        raise CorpusError(f"{path}: not a valid gzip file ({exc})") from exc


def _decode(data: bytes, path: Path, position: int, first: bool) -> str:
    try:
        return data.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}: not valid UTF-8 at byte {position + exc.start}; re-save it as UTF-8 "
            "(e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`)"
        ) from exc


def _renumber(src: Path, dest: Path, order: np.ndarray) -> None:
    """Rewrite provisional ids as final ones: `order[k]` is the provisional id of final id k."""
    lookup = np.empty(len(order), dtype=np.int32)
    lookup[order] = np.arange(len(order), dtype=np.int32)
    total = src.stat().st_size // 4
    with open(dest, "wb") as out:
        for start in range(0, total, CHUNK_TOKENS):
            chunk = np.fromfile(src, dtype=np.int32, count=min(CHUNK_TOKENS, total - start), offset=4 * start)
            lookup[chunk].tofile(out)


def _source(text_path: Path, lowercase: bool) -> dict[str, object]:
    stat = text_path.stat()
    return {
        "version": FORMAT_VERSION,
        "source": str(text_path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "inode": stat.st_ino,
        "lowercase": lowercase,
    }


def _read_meta(out_dir: Path) -> dict[str, object] | None:
    try:
        return json.loads((out_dir / META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
