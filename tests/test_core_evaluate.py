"""Evaluation: our report equals gensim's scoring of the exported file, 3CosMul equals gensim's answers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from core.cli import main
from core.config import TrainConfig
from core.explore.evaluate import (
    AnalogySection,
    EvaluationError,
    Report,
    cosmul_answers,
    full_report,
    keyed_vectors,
    load_evaluation,
    odd_one_out,
    save_evaluation,
)
from core.explore.export import export_vectors
from core.explore.vectors import Embeddings
from core.job import train_run
from core.runs import Run

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated `init_sims`:DeprecationWarning")  # gensim's own
PAIR_FILES = {"WordSim353": "wordsim353.tsv", "SimLex999": "simlex999.txt"}


@pytest.fixture(scope="module")
def lee(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A lower-cased Lee run (lower case makes gensim's case-sensitive cosmul comparable), trained once."""
    config = TrainConfig(corpus="lee", lowercase=True, min_freq=5, epochs=3, threads=1)
    run = Run.create(config, "lee", tmp_path_factory.mktemp("runs"))
    train_run(run)
    return run


def gensim_kv(embeddings: Embeddings, tmp_path: Path) -> KeyedVectors:
    """The run as gensim sees it: exported, then loaded by gensim itself."""
    export_vectors(embeddings, tmp_path / "vectors.txt")
    return KeyedVectors.load_word2vec_format(str(tmp_path / "vectors.txt"))


def assert_report_equals_gensim(report: Report, kv: KeyedVectors) -> None:
    for pairs in report.pairs:
        _, spearman, oov_ratio = kv.evaluate_word_pairs(datapath(PAIR_FILES[pairs.name]), case_insensitive=True)
        assert pairs.spearman == pytest.approx(spearman.statistic, abs=1e-6)
        assert pairs.covered == round(pairs.total * (100 - oov_ratio) / 100)
    accuracy, sections = kv.evaluate_word_analogies(datapath("questions-words.txt"), case_insensitive=True)
    ours = [*report.analogies, report.analogy_total]
    assert [s.name for s in ours] == [s["section"] for s in sections]
    for mine, theirs in zip(ours, sections, strict=True):
        assert mine.questions == len(theirs["correct"]) + len(theirs["incorrect"])
        assert mine.correct_add == len(theirs["correct"])
    assert report.analogy_total.accuracy_add == pytest.approx(accuracy, abs=1e-6)


def covered_questions(kv: KeyedVectors) -> list[tuple[str, str, str, str]]:
    with open(datapath("questions-words.txt"), encoding="utf-8") as fh:
        quads = [tuple(line.lower().split()) for line in fh if not line.startswith(":")]
    return [q for q in quads if len(q) == 4 and all(w in kv.key_to_index for w in q)]


def assert_cosmul_equals_gensim(kv: KeyedVectors, sample: int) -> int:
    """Our 3CosMul answers equal gensim's `most_similar_cosmul` on up to `sample` questions; returns correct ones."""
    questions = covered_questions(kv)
    rng = np.random.default_rng(0)
    picked = [questions[i] for i in rng.permutation(len(questions))[:sample]]
    indices = np.array([[kv.key_to_index[w] for w in q[:3]] for q in picked])
    ours = [kv.index_to_key[i] for i in cosmul_answers(kv, indices)]
    theirs = [kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=1)[0][0] for a, b, c, _ in picked]
    assert len(picked) == min(sample, len(questions)) > 0 and ours == theirs
    return sum(answer == q[3] for answer, q in zip(ours, picked, strict=True))


def test_report_equals_gensim_on_the_exported_file(lee: Run, tmp_path: Path) -> None:
    emb = Embeddings.from_run(lee)
    report = full_report(emb, with_oov=True, source=lee.name)
    kv = gensim_kv(emb, tmp_path)
    assert_report_equals_gensim(report, kv)
    assert report.words == len(emb.words) - 1 and report.dim == 100
    assert report.pairs[0].total == 353 and report.pairs[1].total == 999
    assert report.analogy_total.total == 19544 and report.analogy_total.questions > 100
    for pairs in report.pairs:
        assert len(pairs.oov) == pairs.total - pairs.covered
        assert all(a.lower() not in kv.key_to_index or b.lower() not in kv.key_to_index for a, b in pairs.oov)
    # every covered question, so the 3CosMul totals are gensim's too
    assert assert_cosmul_equals_gensim(kv, sample=10_000) == report.analogy_total.correct_mul


def test_3cosadd_and_3cosmul_solve_built_analogies() -> None:
    """Vectors built so that b - a + c is exactly d for the family section: 3CosAdd gets every question."""
    with open(datapath("questions-words.txt"), encoding="utf-8") as fh:
        lines = fh.read().split(": family\n")[1].split("\n:")[0].splitlines()
    pairs = {(q[0], q[1]) for q in map(str.split, lines)} | {(q[2], q[3]) for q in map(str.split, lines)}
    rng = np.random.default_rng(1)
    offset = rng.normal(size=50)
    vectors = {}
    for male, female in sorted(pairs):
        vectors[male] = rng.normal(size=50)
        vectors[female] = vectors[male] + offset
    emb = Embeddings(list(vectors), np.array(list(vectors.values()), dtype=np.float32))
    family = next(s for s in full_report(emb).analogies if s.name == "family")
    assert family.questions == family.total == 506
    assert family.accuracy_add == 1.0 and family.accuracy_mul > 0.9


def test_odd_one_out_equals_gensim_doesnt_match(lee: Run) -> None:
    emb = Embeddings.from_run(lee)
    kv = keyed_vectors(emb.words[1:], emb.center[1:])
    rng = np.random.default_rng(2)
    for _ in range(20):
        words = [emb.words[i] for i in rng.choice(np.arange(1, 300), size=4, replace=False)]
        assert odd_one_out(emb, words) == kv.doesnt_match(words)
    with pytest.raises(EvaluationError, match="at least three"):
        odd_one_out(emb, ["the", "the", "a"])


def test_evaluation_is_saved_into_the_run(lee: Run) -> None:
    (lee.path / "evaluation.json").unlink(missing_ok=True)  # the command-line test saves one too
    assert load_evaluation(lee) is None
    report = full_report(Embeddings.from_run(lee), "sum", with_oov=True, source=lee.name)
    save_evaluation(lee, report)
    assert load_evaluation(lee, "sum") == report and load_evaluation(lee) is None  # each table its own report
    rows = report.analogy_rows()
    assert rows[-1]["section"] == "Total accuracy" and rows[-1]["in the set"] == 19544 and len(rows) == 15
    assert [r["test set"] for r in report.similarity_rows()] == ["WordSim353", "SimLex999"]
    assert AnalogySection("x", 0, 4, 0, 0).accuracy_add is None


def test_one_table_files_refuse_context() -> None:
    emb = Embeddings(["a", "b"], np.eye(2, dtype=np.float32))
    with pytest.raises(EvaluationError, match="only one table"):
        full_report(emb, "context")


def test_evaluate_command_on_run_and_file(
    lee: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("W2V_RUNS_DIR", str(lee.root))  # a run is named within the runs folder
    assert main(["evaluate", lee.name, "--oov"]) == 0
    out = capsys.readouterr().out
    saved = load_evaluation(lee)
    assert saved is not None and "out of vocabulary: " in out and "Total accuracy" in out
    shown = float(re.search(r"SimLex999\s+Spearman\s+(\S+)", out).group(1))
    assert shown == pytest.approx(saved.pairs[1].spearman, abs=5e-5)
    export_vectors(Embeddings.from_run(lee), tmp_path / "lee.bin", "word2vec-binary")
    assert main(["evaluate", str(tmp_path / "lee.bin"), "--limit", "500"]) == 0
    assert "lee.bin: 500 words, dimension 100, center table" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "lee.bin"), "--table", "context"]) == 2
    assert "error: these vectors have only one table" in capsys.readouterr().err


@pytest.mark.ptb
def test_ptb_evaluation_equals_gensim(ptb_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--corpus", "ptb", "--epochs", "1", "--data-dir", str(ptb_dir), "--name", "p"]) == 0
    assert main(["evaluate", "p"]) == 0
    print(capsys.readouterr().out)  # shown with -s: the CLI's report beside gensim's numbers below
    run = Run.open("p")
    report = load_evaluation(run)
    kv = gensim_kv(Embeddings.from_run(run), tmp_path)
    assert_report_equals_gensim(report, kv)
    assert report.analogy_total.questions > 2000 and report.pairs[0].covered > 150
    assert_cosmul_equals_gensim(kv, sample=300)
    ws = kv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1].statistic
    sl = kv.evaluate_word_pairs(datapath("simlex999.txt"))[1].statistic
    acc = kv.evaluate_word_analogies(datapath("questions-words.txt"))[0]
    print(f"gensim on the exported file: WordSim353 {ws:.4f}  SimLex999 {sl:.4f}  3CosAdd {100 * acc:.2f}%")
