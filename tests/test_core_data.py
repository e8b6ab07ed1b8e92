"""Corpus sources and their errors: PTB lookup and download, text files, Lee; vocabulary."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from core.data import corpora
from core.data.corpora import CorpusError, load_corpus, ptb_zip, read_text_file
from core.data.vocab import UNK, Vocab, VocabError


@pytest.mark.ptb
def test_ptb_vocabulary_has_6719_entries(ptb_dir: Path) -> None:
    sentences = load_corpus("ptb", data_dir=ptb_dir)
    assert sum(len(s) for s in sentences) == 887_521
    vocab = Vocab.build(sentences, min_freq=10)
    assert len(vocab) == 6719
    assert vocab.idx_to_token[:4] == [UNK, "the", "N", "of"]
    assert vocab.index("chip") == vocab.token_to_idx["chip"]
    assert vocab.idx_to_token[vocab.index("chip")] == "chip"


def test_env_dir_is_used_without_network(ptb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(corpora.DATA_DIR_ENV, str(ptb_dir))
    monkeypatch.setattr(corpora, "download", lambda *a, **k: pytest.fail("must not download"))
    assert ptb_zip() == ptb_dir / "ptb.zip"


def test_wrong_file_in_data_dir_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "ptb.zip").write_bytes(b"not the zip")
    with pytest.raises(CorpusError, match="sha1"):
        ptb_zip(tmp_path)
    with pytest.raises(CorpusError, match="not found"):
        ptb_zip(tmp_path / "elsewhere")


def test_download_checks_sha1_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    source = tmp_path / "src.zip"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("ptb/ptb.train.txt", "a b c\n")
    dest = tmp_path / "cache" / "ptb.zip"
    seen = []
    corpora.download(source.as_uri(), dest, corpora.sha1_of(source), progress=lambda done, total: seen.append(done))
    assert dest.read_bytes() == source.read_bytes() and seen[-1] == source.stat().st_size
    dest.unlink()
    with pytest.raises(CorpusError, match="corrupt"):
        corpora.download(source.as_uri(), dest, "0" * 40)
    with pytest.raises(CorpusError, match="W2V_DATA_DIR"):
        corpora.download((tmp_path / "missing.zip").as_uri(), dest, "0" * 40)
    assert list(dest.parent.iterdir()) == []


def test_text_file_plain_gzip_and_lowercase(tmp_path: Path) -> None:
    plain = tmp_path / "c.txt"
    plain.write_text("Hello  world\r\n\n  the END \n", encoding="utf-8")
    assert read_text_file(plain) == [["Hello", "world"], ["the", "END"]]
    packed = tmp_path / "c.txt.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_text_file(packed, lowercase=True) == [["hello", "world"], ["the", "end"]]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"  \n\t\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("caf\u00e9 au lait".encode("latin-1"), "not valid UTF-8 at byte 3"),
    ],
)
def test_bad_text_files_give_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        read_text_file(path)


def test_gz_that_is_not_gzip(tmp_path: Path) -> None:
    path = tmp_path / "fake.gz"
    path.write_text("plain text", encoding="utf-8")
    with pytest.raises(CorpusError, match="not a valid gzip"):
        read_text_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such file"):
        read_text_file(tmp_path / "nope.txt")


def test_lee_corpus_works_offline() -> None:
    sentences = load_corpus("lee")
    assert len(sentences) > 250 and all(w == w.lower() for w in sentences[0])


def test_vocab_order_and_min_freq() -> None:
    vocab = Vocab.build([["b", "a", "c", "a", "b", "d", UNK]], min_freq=2)
    assert vocab.idx_to_token == [UNK, "a", "b"]
    assert vocab.counts.tolist() == [3, 2, 2]
    ids, offsets = vocab.encode([["a", "zzz"], ["b"]])
    assert ids.tolist() == [1, 0, 2] and offsets.tolist() == [0, 2, 3]


def test_min_freq_leaving_fewer_than_two_words() -> None:
    with pytest.raises(VocabError, match="min_freq=3 leaves 1 word"):
        Vocab.build([["a", "a", "a", "b"]], min_freq=3)


def test_vocab_round_trip(tmp_path: Path) -> None:
    vocab = Vocab.build([["x", "y", "y"]], min_freq=1)
    vocab.save(tmp_path / "v.json")
    loaded = Vocab.load(tmp_path / "v.json")
    assert loaded.idx_to_token == vocab.idx_to_token and loaded.counts.tolist() == vocab.counts.tolist()
    (tmp_path / "v.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(VocabError):
        Vocab.load(tmp_path / "v.json")
