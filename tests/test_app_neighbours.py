"""Neighbours page: known words, unknown words with suggestions, analogies, similarity."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def neighbours_page(word: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if word:
        at.query_params["word"] = word
    at.switch_page("pages/neighbours.py").run()
    assert not at.exception
    return at


def test_no_runs_points_to_the_train_page() -> None:
    at = neighbours_page()
    assert any("Train" in info.value for info in at.info)


def test_neighbours_of_a_known_word_are_listed(lee_run) -> None:
    at = neighbours_page()
    assert at.selectbox(key="nb_run").value == lee_run.name
    at.text_input(key="nb_word").set_value("police")
    at.number_input(key="nb_k").set_value(7).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 7 and "police" not in set(table["word"])
    assert table["cosine"].is_monotonic_decreasing and table["cosine"].between(-1, 1).all()
    assert at.get("plotly_chart"), "bar chart of similarities"
    assert len(at.dataframe) == 4  # the chosen table and center / context / sum side by side
    at.radio(key="nb_table").set_value("sum").run()
    assert not at.exception and len(at.dataframe[0].value) == 7


def test_unknown_word_shows_suggestions(lee_run) -> None:
    at = neighbours_page(word="polise")
    assert any("not in the vocabulary of these vectors" in w.value for w in at.warning)
    assert "police" in [b.label for b in at.button]
    assert not at.get("plotly_chart")


def test_a_word_that_begins_with_the_selected_one_is_kept_as_typed(lee_run) -> None:
    """With "police" asked, typing "policex" asks "policex" (unknown: its closest spellings are offered), not
    the last keystroke alone, as Streamlit's selectbox with new options made of it in the browser."""
    at = neighbours_page(word="police")
    assert at.text_input(key="nb_word").value == "police" and at.get("plotly_chart")
    at.text_input(key="nb_word").set_value("policex").run()
    assert not at.exception and at.text_input(key="nb_word").value == "policex"
    assert any("“policex” is not in the vocabulary" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "police").click().run()  # a suggestion fills the box
    assert at.text_input(key="nb_word").value == "police" and at.get("plotly_chart")


def test_analogy_shows_the_top_answers_with_their_scores(lee_run) -> None:
    at = neighbours_page()
    for key, word in (("an_a", "israeli"), ("an_b", "israel"), ("an_c", "palestinian")):
        at.text_input(key=key).set_value(word)
    at.run()
    answers = at.dataframe[-1].value  # the analogy's table follows the neighbours' tables
    assert len(answers) == 10 and answers["rank"].tolist() == list(range(1, 11))
    assert answers["cosine"].is_monotonic_decreasing and not {"israeli", "israel", "palestinian"} & set(answers["word"])
    assert any(m.value.endswith(f": **{answers['word'][0]}**") for m in at.markdown)
    at.number_input(key="an_k").set_value(3).run()
    assert len(at.dataframe[-1].value) == 3


def test_analogy_and_similarity(lee_run) -> None:
    at = neighbours_page()
    for key, word in (("an_a", "israeli"), ("an_b", "israel"), ("an_c", "palestinian")):
        at.text_input(key=key).set_value(word)
    at.text_input(key="sim_a").set_value("police")
    at.text_input(key="sim_b").set_value("officers").run()
    assert not at.exception
    assert any(" : israel :: palestinian : " in m.value for m in at.markdown)
    assert -1 <= float(at.metric[0].value) <= 1

    at.text_input(key="sim_b").set_value("oficers").run()
    assert any("“oficers” is not in" in w.value for w in at.warning)
