"""Streaming corpora: stores equal the in-memory encoding, train identically, and stay bounded in memory."""

from __future__ import annotations

import gzip
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, synthetic_text

from core.bench import stream as bench_stream
from core.config import TrainConfig
from core.data import prepared, store
from core.data.corpora import CorpusError, read_text_file
from core.data.prepared import Prepared
from core.data.vocab import Vocab
from core.job import train_run
from core.runs import Run
from core.trainer import Trainer

CPU = torch.device("cpu")


def built(text_path: Path, tmp_path: Path) -> store.Store:
    return store.build_store(text_path, tmp_path / "store", lowercase=False)


def test_store_equals_the_in_memory_encoding(tiny_corpus: Path, tmp_path: Path) -> None:
    sentences = read_text_file(tiny_corpus)
    expected = Vocab.build(sentences, 2)
    ids, offsets = expected.encode(sentences)
    corpus = built(tiny_corpus, tmp_path)
    vocab, lookup = corpus.vocab(2)
    assert vocab.idx_to_token == expected.idx_to_token
    np.testing.assert_array_equal(vocab.counts, expected.counts)
    np.testing.assert_array_equal(lookup[corpus.read(0, corpus.n_tokens)], ids)
    np.testing.assert_array_equal(corpus.offsets(), offsets)


def test_literal_unk_and_rare_words_count_as_unk(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("a b <unk> a b\nb a rare\n", encoding="utf-8")
    vocab, _ = built(path, tmp_path).vocab(2)
    assert vocab.idx_to_token == ["<unk>", "a", "b"]
    assert vocab.counts.tolist() == [2, 3, 3]


@pytest.mark.parametrize("mode", ["fast", "book"])
def test_training_from_a_store_equals_training_in_memory(tiny_corpus: Path, tmp_path: Path, mode: str) -> None:
    cfg = TrainConfig(corpus=str(tiny_corpus), mode=mode, min_freq=2, embed_size=16, epochs=2, batch_size=64, threads=1)
    sources = [
        Prepared.build(read_text_file(tiny_corpus), cfg.min_freq, CPU),
        Prepared.from_store(built(tiny_corpus, tmp_path), cfg.min_freq, CPU),
    ]
    vectors = []
    for data in sources:
        trainer = Trainer(cfg, data)
        trainer.train()
        vectors.append(trainer.model.embed_v.weight.detach().clone())
    torch.testing.assert_close(vectors[0], vectors[1], rtol=0, atol=0)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_shards_cover_the_corpus_once_cut_at_sentence_ends(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch, world: int
) -> None:
    monkeypatch.setattr(prepared, "SEGMENT_TOKENS", 500)
    data = Prepared.build(read_text_file(tiny_corpus), 2, CPU)
    shards = data.shards(world)
    assert len({len(s) for s in shards}) == 1, "every rank must get the same number of segments"
    ranges = list(itertools.chain.from_iterable(shards))
    assert ranges[0][0] == 0 and ranges[-1][1] == data.raw_tokens
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert {cut for r in ranges for cut in r} <= set(data.offsets.tolist())
    sizes = [stop - start for start, stop in ranges]
    assert max(sizes) - min(sizes) <= 2 * 12  # near-equal: off by at most a sentence at each end
    segments = list(data.segments(rank=0, world=world))
    assert sum(s.raw_tokens for s in segments) == sum(sizes[: len(shards[0])])


def test_store_is_reused_until_the_file_changes(tiny_corpus: Path) -> None:
    first = store.open_or_build(tiny_corpus, lowercase=False)
    stamp = (first.path / store.IDS).stat().st_mtime_ns
    assert store.open_or_build(tiny_corpus, lowercase=False).path == first.path
    assert (first.path / store.IDS).stat().st_mtime_ns == stamp
    tiny_corpus.write_text(synthetic_text(50, seed=3), encoding="utf-8")
    again = store.open_or_build(tiny_corpus, lowercase=False)
    assert again.n_tokens == 50 * 12
    assert store.open_or_build(tiny_corpus, lowercase=True).path != first.path


def test_gzip_text_gives_the_same_store(tiny_corpus: Path, tmp_path: Path) -> None:
    packed = tmp_path / "tiny.txt.gz"
    packed.write_bytes(gzip.compress(tiny_corpus.read_bytes()))
    plain, zipped = built(tiny_corpus, tmp_path), store.build_store(packed, tmp_path / "gz", lowercase=False)
    assert plain.tokens == zipped.tokens
    np.testing.assert_array_equal(plain.read(0, plain.n_tokens), zipped.read(0, zipped.n_tokens))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"  \n\t\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"fine words\n" * 2_000_000 + b"caf\xe9\n", "not valid UTF-8 at byte 22000003"),
    ],
)
def test_bad_text_raises_and_leaves_no_complete_store(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        built(path, tmp_path)
    assert not (tmp_path / "store" / store.META).exists()
    assert not list((tmp_path / "store").glob(".*tmp"))


def test_not_gzip_raises(tmp_path: Path) -> None:
    path = tmp_path / "fake.gz"
    path.write_bytes(b"plain text, not gzip\n")
    with pytest.raises(CorpusError, match="not a valid gzip"):
        built(path, tmp_path)


def test_a_large_text_file_trains_through_a_store(tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = TrainConfig(corpus=str(tiny_corpus), min_freq=2, embed_size=16, epochs=2, threads=1)
    in_memory = Run.create(cfg, "memory")
    train_run(in_memory)
    monkeypatch.setattr(store, "STORE_THRESHOLD_BYTES", 0)
    streamed = Run.create(cfg, "streamed")
    progress: list[int] = []
    train_run(streamed, store_progress=lambda done, total: progress.append(done))
    assert progress and progress[-1] == tiny_corpus.stat().st_size
    assert (store.store_dir(tiny_corpus, False) / store.META).is_file()
    np.testing.assert_array_equal(in_memory.load_vectors()[0].numpy(), streamed.load_vectors()[0].numpy())


BUILD_AND_REPORT_PEAK = """
import json, re, sys
from pathlib import Path
from core.data import store
store.CHUNK_TOKENS, store.READ_BYTES = 1 << 16, 1 << 18
text = Path(sys.argv[1])
built = store.build_store(text, text.with_suffix(".store"), lowercase=False)
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))  # this process alone
print(json.dumps([built.n_tokens, peak_kb]))
"""


def test_tokenising_memory_does_not_grow_with_the_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four times the tokens over the same words, the same peak: memory is bounded by a chunk and the vocabulary."""
    monkeypatch.setattr(bench_stream, "VOCAB_SIZE", 5_000)
    peaks = []
    for tokens in (1_000_000, 4_000_000):
        text = tmp_path / f"z{tokens}.txt"
        bench_stream.write_zipf_text(text, tokens, seed=0)
        command = [sys.executable, "-c", BUILD_AND_REPORT_PEAK, str(text)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
        n_tokens, peak_kb = json.loads(done.stdout.splitlines()[-1])
        assert n_tokens == tokens
        peaks.append(peak_kb)
    assert peaks[1] - peaks[0] < 16 * 1024, f"peak grew from {peaks[0]} kB to {peaks[1]} kB"
