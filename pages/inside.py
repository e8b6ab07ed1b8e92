"""Inside the model: the chapter (D2L §15.3-15.4) in its order, on the chosen run's corpus, vocabulary and weights.

Every number comes from `core.explore.chapter`; this page reads widgets and draws. Random draws use seeds kept
in the session, which a Redraw button changes, so a rerun shows the same draw until the user asks for another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from core.config import TrainConfig
from core.data.corpora import CorpusError
from core.data.sampling import NoiseTable
from core.data.vocab import Vocab, VocabError
from core.explore import chapter
from core.explore.vectors import Embeddings, UnknownWordError
from core.runs import Run, RunError, list_runs
from pages.parts.charts import length_histogram, noise_bars
from pages.parts.common import CURRENT_RUN, embeddings, queryable, require_app, safe_status
from pages.parts.text import literal
from pages.parts.words import show_unknown

RUN_KEY = "in_run"
SHOWN_ROWS = 6  # examples of the batch shown in its tables


@dataclass(frozen=True)
class Loaded:
    """What the page reads once per run and weights: settings, vocabulary, noise table, the encoded corpus."""

    config: TrainConfig
    vocab: Vocab
    noise: NoiseTable
    corpus: chapter.Corpus | None
    corpus_problem: str


@st.cache_resource(max_entries=2, show_spinner="Reading the run's corpus…")
def _load(path: str, stamp: float) -> Loaded:
    run = Run.open(path)
    config, vocab = run.config(), run.vocab()
    try:
        corpus, problem = chapter.read_corpus(config, vocab), ""
    except (CorpusError, OSError) as exc:
        corpus, problem = None, str(exc)
    return Loaded(config, vocab, NoiseTable(vocab.counts), corpus, problem)


def pick_run() -> Run | None:
    runs = {run.name: run for run in list_runs()}
    if not runs:
        st.info("No run yet. Train one on the **Train** page; this page then walks through it.")
        return None
    if st.session_state.get(RUN_KEY) not in runs:
        remembered = st.session_state.get(CURRENT_RUN)
        st.session_state[RUN_KEY] = remembered if remembered in runs else next(iter(runs))
    states = {name: safe_status(run).state for name, run in runs.items()}
    name = st.selectbox("Run", list(runs), key=RUN_KEY, format_func=lambda n: f"{n} ({states[n]})")
    st.session_state[CURRENT_RUN] = name
    return runs[name]


def weights(run: Run) -> Embeddings | None:
    """The run's trained vectors, or None after saying why there are none."""
    if not queryable(run):
        st.info("This run has no weights yet (they appear after its first epoch): trained weights are left out.")
        return None
    try:
        return embeddings(run)
    except (RunError, OSError) as exc:
        st.error(f"Cannot read the weights of {literal(run.name)}: {literal(exc)}")
        return None


def redraw(key: str) -> None:
    st.session_state[key] += 1


def seed(name: str, label: str = "Redraw") -> int:
    """The seed of one kind of draw, and a button that changes it."""
    key = f"in_seed_{name}"
    st.session_state.setdefault(key, 0)
    st.button(label, key=f"in_redraw_{name}", on_click=redraw, args=(key,))
    return int(st.session_state[key])


def grid(values: np.ndarray, index: list[str] | None = None) -> pd.DataFrame:
    """A matrix as a table whose columns are named by position (as text, which column settings need)."""
    return pd.DataFrame(values, index=index, columns=[str(i) for i in range(values.shape[1])])


def numbers(frame: pd.DataFrame, fmt: str) -> dict:
    return {column: st.column_config.NumberColumn(format=fmt) for column in frame.columns}


def latex_int(n: int) -> str:
    """A whole number with thousands separators that LaTeX does not space out (50{,}770)."""
    return f"{n:,}".replace(",", "{,}")


def word_input(label: str, key: str, default: str) -> str:
    st.session_state.setdefault(key, default)
    return st.text_input(label, key=key).strip()


# --- 1. the data -------------------------------------------------------------------------------------------------
def data_section(data: Loaded) -> chapter.Subsampled | None:
    st.header("1. The data")
    config = data.config
    sub = None
    if data.corpus is not None:
        st.subheader("Subsampling")
        sub = chapter.subsample(data.corpus, data.vocab, config, seed("sample"))
        st.plotly_chart(length_histogram(sub.lengths_before, sub.lengths_after), width="stretch")
        before, after = int(sub.lengths_before.sum()), len(sub.sample)
        st.caption(f"{before:,} tokens before subsampling, {after:,} after (`<unk>` and lone tokens dropped).")
    count_section(data, sub)
    return sub


def count_section(data: Loaded, sub: chapter.Subsampled | None) -> None:
    st.subheader("The count of a word")
    word = word_input("Word", "in_count_word", "the" if "the" in data.vocab else data.vocab.idx_to_token[1])
    if not word:
        return
    try:
        count = chapter.word_count(data.vocab, word, data.config.subsample, None if sub is None else sub.counts_after)
    except UnknownWordError as exc:
        show_unknown(exc, key="in_count_word")
        return
    left, mid, right = st.columns(3)
    left.metric("count before subsampling", f"{count.count:,}")
    mid.metric("keep probability", f"{count.keep:.4f}")
    right.metric("count after (this draw)", f"{count.after:,}" if count.after >= 0 else "–")
    t = count.threshold
    st.latex(
        r"P(\text{keep } w_i) = \min\left(1, \sqrt{\frac{t}{f(w_i)}}\right),\quad "
        rf"f(w_i) = \frac{{{latex_int(count.count)}}}{{{latex_int(count.num_tokens)}}} = {count.frequency:.3g},\quad "
        rf"t = {t:g}\ \Rightarrow\ {count.keep:.4f}"
    )
    st.caption(
        "The book discards w_i with probability max(0, 1 − √(t / f(w_i))); f(w_i) counts every token but `<unk>`. "
        f"t is this run's subsampling threshold; the expected count after is {count.count * count.keep:,.0f}."
    )


def window_section(data: Loaded) -> chapter.Window | None:
    st.subheader("A center and its context window")
    corpus = data.corpus
    assert corpus is not None
    left, right = st.columns(2)
    sentence = int(left.number_input("Sentence", 0, len(corpus) - 1, min(1, len(corpus) - 1), key="in_sentence"))
    length = int(corpus.offsets[sentence + 1] - corpus.offsets[sentence])
    center = int(right.number_input("Center position", 0, 10_000, 5, key="in_center", help="counted from 0"))
    example = chapter.window(corpus, data.vocab, sentence, center, data.config.max_window, seed("window"))
    roles = ["center" if i == example.center else "context" if i in example.contexts else "" for i in range(length)]
    frame = pd.DataFrame({"word": example.tokens, "role": roles}).T
    colours = {"center": "background-color: #fdd835", "context": "background-color: #90caf9"}
    st.dataframe(frame.style.apply(lambda col: [colours.get(roles[col.name], "")] * len(col)), width="stretch")
    st.caption(
        f"max_window_size = {data.config.max_window}; this draw's window size is {example.size} on each side "
        f"(drawn uniformly from 1 to {data.config.max_window}), inside the sentence."
    )
    return example


# --- 2. negative sampling ------------------------------------------------------------------------------------------
def noise_section(data: Loaded, example: chapter.Window | None) -> None:
    st.header("2. Negative sampling")
    rows = chapter.noise_rows(data.vocab, data.noise, top=20)
    words = [r.word for r in rows]
    st.plotly_chart(noise_bars(words, [r.unigram for r in rows], [r.noise for r in rows]), width="stretch")
    st.caption("Raising P(w) to the power 0.75 gives rare words more noise draws and frequent words fewer.")
    k = data.config.negatives
    if example is not None and example.contexts:
        positives, whose = [example.tokens[i] for i in example.contexts], "each context word of the center above"
    else:
        word = st.session_state.get("in_count_word", "")
        positives = [word if word in data.vocab else words[0]]
        whose = f"“{literal(positives[0])}”"
    st.write(f"K = num_noise_words = {k} noise words for {whose} (never the word itself):")
    drawn = chapter.noise_words(data.vocab, data.noise, positives, k, seed("noise"))
    frame = pd.DataFrame(
        [[w, *noise] for w, noise in drawn], columns=["context", *(f"noise {i + 1}" for i in range(k))]
    )
    st.dataframe(frame, hide_index=True, width="stretch")


# --- 3. the minibatch ----------------------------------------------------------------------------------------------
def batch_section(data: Loaded, sub: chapter.Subsampled) -> chapter.Batch:
    st.header("3. A minibatch")
    config = data.config
    batch = chapter.minibatch(sub, data.noise, config.negatives, config.batch_size, seed("batch"))
    n, width = batch.contexts_negatives.shape
    st.write(
        f"The first {SHOWN_ROWS} of the {n} examples (batch_size = {config.batch_size}) of a shuffled epoch; each row "
        f"holds the contexts, then K = {config.negatives} noise words per context, padded with 0 to max_len = {width}."
    )
    for name, tensor in (
        ("centers", batch.centers),
        ("contexts_negatives", batch.contexts_negatives),
        ("masks", batch.masks),
        ("labels", batch.labels),
    ):
        st.markdown(f"`{name}` {tuple(tensor.shape)}")
        st.dataframe(grid(tensor[:SHOWN_ROWS].numpy()), width="stretch")
    centers = [data.vocab.idx_to_token[i] for i in batch.centers[:SHOWN_ROWS, 0].tolist()]
    st.caption("Center words of these rows: " + literal(", ".join(centers)) + ". Padding is 0 with mask 0.")
    return batch


# --- 4. the forward pass ---------------------------------------------------------------------------------------------
def forward_section(data: Loaded, batch: chapter.Batch, emb: Embeddings | None) -> dict[str, chapter.Forward]:
    st.header("4. The forward pass")
    config = data.config
    models = {"fresh": chapter.fresh_model(len(data.vocab), config.embed_size, config.seed)}
    if emb is not None:
        models = {"trained": chapter.trained_model(emb.center, emb.context), **models}
    results = {name: chapter.forward(model, batch) for name, model in models.items()}
    shapes = next(iter(results.values())).shapes
    meaning = {
        "center": "center word ids",
        "contexts_and_negatives": "context and noise word ids",
        "v": "embed_v(center)",
        "u": "embed_u(contexts_and_negatives)",
        "pred": "torch.bmm(v, u.permute(0, 2, 1))",
    }
    st.write(f"skip_gram(center, contexts_and_negatives, embed_v, embed_u) with embed_size = {config.embed_size}:")
    frame = pd.DataFrame([(n, meaning[n], str(s)) for n, s in shapes.items()], columns=["tensor", "is", "shape"])
    st.dataframe(frame, hide_index=True)
    for name, result in results.items():
        st.markdown(f"`pred` with {name} weights (first {SHOWN_ROWS} examples)")
        scores = grid(result.pred[:SHOWN_ROWS, 0].numpy())
        st.dataframe(scores, width="stretch", column_config=numbers(scores, "%.2f"))
    return results


# --- 5. the loss ---------------------------------------------------------------------------------------------------
def loss_example_section() -> None:
    st.header("5. The loss")
    st.write("The book's example: edit pred, label or mask and the masked loss is recomputed.")
    columns = st.columns(3)
    tables = {}
    for column, (name, values) in zip(
        columns, (("pred", chapter.BOOK_PRED), ("label", chapter.BOOK_LABEL), ("mask", chapter.BOOK_MASK)), strict=True
    ):
        column.markdown(f"`{name}`")
        frame = pd.DataFrame(values, columns=[f"slot {i}" for i in range(4)])
        tables[name] = column.data_editor(frame, key=f"in_{name}", hide_index=True).to_numpy(dtype=float)
    losses = chapter.masked_loss(tables["pred"], tables["label"], tables["mask"])
    st.latex(r"\text{loss}(pred, label, mask) \cdot \frac{mask.shape[1]}{mask.sum(axis=1)}")
    for column, (row, loss) in zip(st.columns(len(losses)), enumerate(losses), strict=True):
        column.metric(f"row {row}", "–" if loss is None else f"{loss:.4f}")
    if None in losses:
        st.warning("A row whose mask is all 0 has no real slot, so it has no loss.")


def batch_loss_section(batch: chapter.Batch, results: dict[str, chapter.Forward]) -> None:
    losses = {name: chapter.batch_loss(result, batch) for name, result in results.items()}
    st.write("The loss of each example of the real batch:")
    frame = pd.DataFrame({f"loss ({name})": loss[:SHOWN_ROWS].numpy() for name, loss in losses.items()})
    st.dataframe(frame, width="stretch", column_config=numbers(frame, "%.4f"))
    for column, (name, loss) in zip(st.columns(len(losses)), losses.items(), strict=True):
        column.metric(f"mean over the batch, {name} weights", f"{float(loss.mean()):.4f}")


# --- 6. the result -------------------------------------------------------------------------------------------------
def result_section(emb: Embeddings) -> None:
    st.header("6. The result")
    left, right = st.columns([3, 1])
    with left:
        word = word_input(
            "get_similar_tokens(query_token, k, embed)",
            "in_query",
            "chip" if "chip" in emb.index else emb.vocabulary[0],
        )
    k = int(right.number_input("k", 1, 50, 3, key="in_k"))
    if not word:
        return
    try:
        pairs, cos = chapter.similar_tokens(emb, word, k)
    except UnknownWordError as exc:
        show_unknown(exc, key="in_query")
        return
    frame = pd.DataFrame(pairs, columns=["word", "cosine"])
    st.dataframe(frame, hide_index=True, column_config={"cosine": st.column_config.NumberColumn(format="%.3f")})
    norm_x, norm_y = cos.norms
    st.latex(
        rf"\cos(x, y) = \frac{{x^\top y}}{{\sqrt{{\|x\|^2 \|y\|^2 + 10^{{-9}}}}}} = "
        rf"\frac{{{cos.dot:.4f}}}{{{norm_x:.4f} \times {norm_y:.4f}}} = {cos.cos:.4f}"
    )
    vectors = grid(np.stack([cos.x, cos.y, cos.x * cos.y]), index=["x", "y", "x·y"])
    st.caption(f"x is the center vector of “{literal(cos.word)}”, y that of “{literal(cos.other)}”:")
    st.dataframe(vectors, width="stretch", column_config=numbers(vectors, "%.3f"))


def main() -> None:
    require_app("inside")
    st.title("Inside the model")
    st.write(
        "The chapter on word2vec (*Dive into Deep Learning* §15.3-15.4) in its order, on this run's own corpus, "
        "vocabulary and weights, with the book's names beside ours."
    )
    run = pick_run()
    if run is None:
        return
    try:
        data = _load(str(run.path), run.vectors_stamp())
    except (RunError, VocabError, OSError) as exc:
        st.error(f"Cannot read run {literal(run.name)}: {literal(exc)}")
        return
    with st.expander("The book's names for this run's settings"):
        names = pd.DataFrame(chapter.book_names(data.config), columns=["book", "ours", "this run"])
        st.dataframe(names, hide_index=True)
    if data.corpus is None:
        st.warning(
            f"The corpus of this run cannot be read ({literal(data.corpus_problem)}): the sections that need it "
            "(subsampling, the window, the minibatch, the forward pass and the real batch's loss) are left out."
        )
    emb = weights(run)
    sub = data_section(data)
    example = window_section(data) if data.corpus is not None else None
    noise_section(data, example)
    batch = batch_section(data, sub) if sub is not None else None
    results = forward_section(data, batch, emb) if batch is not None else {}
    loss_example_section()
    if batch is not None:
        batch_loss_section(batch, results)
    if emb is not None:
        result_section(emb)


main()
