"""Word-vector quality with gensim's own scoring code and evaluation sets, so every system is scored alike.

`score` gives the headline numbers for benchmarks. `full_report` adds pair coverage, out-of-vocabulary pairs
and per-section analogy accuracy by 3CosAdd and 3CosMul; a run keeps its last report (see `Run.save_evaluation`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from core.data.vocab import UNK
from core.explore.vectors import Embeddings, Table, keyed_vectors, row_norms
from core.files import Damaged
from core.runs import Run, RunError
from core.runs.records import check_word_list, parse_evaluation

RESTRICT_VOCAB = 300_000  # gensim's default: only the first 300,000 words answer or take part in questions
PAIR_SETS = (("WordSim353", "wordsim353.tsv"), ("SimLex999", "simlex999.txt"))
ANALOGIES = "questions-words.txt"
COSMUL_CELLS = 1 << 22  # question x word scores held at once by 3CosMul (16 MB of float32 per array)


class EvaluationError(ValueError):
    """The vectors cannot be evaluated as asked."""


@dataclass(frozen=True)
class Scores:
    wordsim353: float
    wordsim353_pairs: int
    simlex999: float
    simlex999_pairs: int
    analogy: float
    analogy_questions: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class PairResult:
    """Spearman correlation with human similarity judgements on the pairs whose two words are known."""

    name: str
    spearman: float | None  # None when fewer than two pairs are covered
    covered: int
    total: int
    oov: list[tuple[str, str]] | None = None  # the pairs left out, when asked for


@dataclass(frozen=True)
class AnalogySection:
    """One section of the Google analogy set: `questions` of its `total` have all four words known."""

    name: str
    questions: int
    total: int
    correct_add: int
    correct_mul: int

    @property
    def accuracy_add(self) -> float | None:
        return self.correct_add / self.questions if self.questions else None

    @property
    def accuracy_mul(self) -> float | None:
        return self.correct_mul / self.questions if self.questions else None


@dataclass(frozen=True)
class Report:
    """Everything `full_report` measured, as plain data a page or the command line can show."""

    source: str
    table: str
    words: int
    dim: int
    pairs: list[PairResult]
    analogies: list[AnalogySection]
    evaluated_at: float = field(default_factory=time.time)

    @property
    def analogy_total(self) -> AnalogySection:
        counts = ("questions", "total", "correct_add", "correct_mul")
        return AnalogySection("Total accuracy", *(sum(getattr(s, c) for s in self.analogies) for c in counts))

    def similarity_rows(self) -> list[dict[str, Any]]:
        return [
            {"test set": p.name, "Spearman": p.spearman, "pairs covered": p.covered, "pairs": p.total}
            for p in self.pairs
        ]

    def analogy_rows(self) -> list[dict[str, Any]]:
        """One row per section, then the total row."""
        return [
            {
                "section": s.name,
                "questions": s.questions,
                "in the set": s.total,
                "3CosAdd": s.accuracy_add,
                "3CosMul": s.accuracy_mul,
            }
            for s in [*self.analogies, self.analogy_total]
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """From checked plain data (`records.parse_evaluation`); keys of a newer version are left out."""
        pairs = [PairResult(**{**_known(PairResult, p), "oov": _pair_list(p.get("oov"))}) for p in data["pairs"]]
        analogies = [AnalogySection(**_known(AnalogySection, s)) for s in data["analogies"]]
        return cls(**{**_known(cls, data), "pairs": pairs, "analogies": analogies})


def _known(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in data.items() if k in names}


def _pair_list(pairs: list[list[str]] | None) -> list[tuple[str, str]] | None:
    return None if pairs is None else [(a, b) for a, b in pairs]


# --- gensim-backed scores --------------------------------------------------------------------


def score(kv) -> Scores:
    """WordSim353 / SimLex999 Spearman on covered pairs and Google-analogy accuracy (3CosAdd)."""
    ws, sl = (word_pairs(kv, name, file) for name, file in PAIR_SETS)
    acc, sections = kv.evaluate_word_analogies(_data(ANALOGIES), case_insensitive=True)
    total = next(s for s in sections if s["section"] == "Total accuracy")
    asked = len(total["correct"]) + len(total["incorrect"])
    return Scores(_or_nan(ws.spearman), ws.covered, _or_nan(sl.spearman), sl.covered, float(acc), asked)


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def full_report(embeddings: Embeddings, which: Table = "center", with_oov: bool = False, source: str = "") -> Report:
    """Word-pair correlations and analogy accuracy of one table; `<unk>` takes no part."""
    if which != "center" and embeddings.context is None:
        raise EvaluationError(f"these vectors have only one table; evaluate 'center', not {which!r}")
    keep = [i for i, w in enumerate(embeddings.words) if w != UNK]
    if not keep:
        raise EvaluationError("there are no word vectors to evaluate")
    table = embeddings.table(which)[keep]
    kv = keyed_vectors([embeddings.words[i] for i in keep], table)
    pairs = [word_pairs(kv, name, file, with_oov) for name, file in PAIR_SETS]
    return Report(source, which, len(keep), table.shape[1], pairs, analogies(kv))


def word_pairs(kv, name: str, filename: str, with_oov: bool = False) -> PairResult:
    """gensim's `evaluate_word_pairs` (case-insensitive), with the exact count of pairs it covers."""
    path = _data(filename)
    known = _known_upper(kv)
    pairs = _read_pairs(path)
    oov = [(a, b) for a, b in pairs if a.upper() not in known or b.upper() not in known]
    covered = len(pairs) - len(oov)
    spearman = None
    if covered >= 2:
        _, result, _ = kv.evaluate_word_pairs(path, restrict_vocab=RESTRICT_VOCAB, case_insensitive=True)
        spearman = float(result.statistic) if np.isfinite(result.statistic) else None
    return PairResult(name, spearman, covered, len(pairs), oov if with_oov else None)


def analogies(kv) -> list[AnalogySection]:
    """Google analogy sections: 3CosAdd from gensim's `evaluate_word_analogies`, 3CosMul from `cosmul_answers`."""
    path = _data(ANALOGIES)
    groups = _case_groups(kv)
    _, by_gensim = kv.evaluate_word_analogies(path, restrict_vocab=RESTRICT_VOCAB, case_insensitive=True)
    result = []
    for (name, total, questions), added in zip(_read_questions(path, kv), by_gensim[:-1], strict=True):
        answers = cosmul_answers(kv, questions[:, :3])
        correct_mul = int((groups[answers] == questions[:, 3]).sum())
        result.append(AnalogySection(name, len(questions), total, len(added["correct"]), correct_mul))
    return result


def cosmul_answers(kv, questions: np.ndarray) -> np.ndarray:
    """Best answer (an index) to each question (a, b, c) by 3CosMul, as gensim's `most_similar_cosmul`.

    Cosines are shifted to [0, 1] and scored cos(b)·cos(c) / (cos(a) + 1e-6), in blocks of questions whose
    distinct words are compared with every word once. Like gensim's analogy evaluation, no case variant of
    a, b or c may be the answer.
    """
    vectors = kv.vectors[:RESTRICT_VOCAB]
    norms = row_norms(vectors)
    norms[norms == 0] = np.inf  # a zero row's cosines are 0, not 0/0
    unit = vectors / norms[:, None]
    groups = _case_groups(kv)
    step = max(1, COSMUL_CELLS // len(vectors))
    answers = np.empty(len(questions), dtype=np.int64)
    for start in range(0, len(questions), step):
        block = questions[start : start + step]
        distinct, where = np.unique(block, return_inverse=True)
        where = where.reshape(block.shape)
        shifted = (1 + (vectors @ unit[distinct].T).T / norms) / 2
        scores = shifted[where[:, 1]] * shifted[where[:, 2]] / (shifted[where[:, 0]] + 1e-6)
        scores[np.isnan(scores)] = -np.inf
        for j in range(3):
            scores[groups[None, :] == groups[block[:, j]][:, None]] = -np.inf
        answers[start : start + step] = scores.argmax(axis=1)
    return answers


def odd_one_out(embeddings: Embeddings, words: list[str], which: Table = "center") -> str:
    """The word least like the others, as gensim's `doesnt_match`: least cosine to the mean unit vector."""
    if len(set(check_word_list(words, "odd-one-out words"))) < 3:
        raise EvaluationError("give at least three different words to find the odd one out")
    unit = embeddings.unit(which)[[embeddings.lookup(w) for w in words]]
    mean = unit.mean(axis=0)
    mean /= max(float(np.linalg.norm(mean)), 1e-12)
    return words[int(np.argmin(unit @ mean))]


def _data(filename: str) -> str:
    from gensim.test.utils import datapath

    logging.getLogger("gensim").setLevel(logging.WARNING)  # gensim logs every skipped pair at INFO
    return datapath(filename)


def _known_upper(kv) -> dict[str, int]:
    """Upper-cased word -> index of its first (most frequent) case variant, as gensim's case-insensitive mode."""
    return {k.upper(): kv.get_index(k) for k in reversed(kv.index_to_key[:RESTRICT_VOCAB])}


def _case_groups(kv) -> np.ndarray:
    """For each of the first RESTRICT_VOCAB words, the index that stands for all its case variants."""
    known = _known_upper(kv)
    return np.array([known[k.upper()] for k in kv.index_to_key[:RESTRICT_VOCAB]], dtype=np.int64)


def _read_pairs(path: str) -> list[tuple[str, str]]:
    """The pairs gensim's `evaluate_word_pairs` reads: tab-separated `a b score`, `#` lines skipped."""
    pairs = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split("\t")
            if line.startswith("#") or len(parts) != 3:
                continue
            try:
                float(parts[2])
            except ValueError:
                continue
            pairs.append((parts[0], parts[1]))
    return pairs


def _read_questions(path: str, kv) -> list[tuple[str, int, np.ndarray]]:
    """Per section: name, questions in it, and (n, 4) indices of those whose four words are known."""
    known = _known_upper(kv)
    sections: list[tuple[str, int, list[list[int]]]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(": "):
                sections.append((line.lstrip(": ").strip(), 0, []))
                continue
            words = line.upper().split()
            if len(words) != 4 or not sections:
                continue
            name, total, questions = sections[-1]
            sections[-1] = (name, total + 1, questions)
            if all(w in known for w in words):
                questions.append([known[w] for w in words])
    return [(name, total, np.array(q, dtype=np.int64).reshape(-1, 4)) for name, total, q in sections]


# --- saved with a run ------------------------------------------------------------------------


def save_evaluation(run: Run, report: Report) -> None:
    """Keep the report with the run, unless the saved one of that table covers more words (a full report
    is never replaced by one of fewer words); a damaged saved report is replaced."""
    try:
        saved = load_evaluation(run, report.table)
    except RunError:
        saved = None
    if saved is not None and saved.words > report.words:
        raise EvaluationError(
            f"not saved: the run's saved {report.table} report covers {saved.words:,} words and this one only "
            f"{report.words:,}; it would replace a fuller result"
        )
    run.save_evaluation(report.to_dict(), report.table)


def load_evaluation(run: Run, table: str = "center") -> Report | None:
    """The run's last saved report of `table`, or None if that table was never evaluated."""
    text = run.evaluation_text(table)
    if text is None:
        return None
    data = parse_evaluation(text, tuple(name for name, _ in PAIR_SETS))
    if isinstance(data, Damaged):
        raise RunError(f"run {run.name}'s {table} evaluation report is damaged: {data.reason}; evaluate it again")
    return Report.from_dict(data)
