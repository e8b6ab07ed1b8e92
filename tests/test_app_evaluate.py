"""Evaluate page: scores saved into the run and shown on Home, per-section chart, OOV pairs, odd-one-out."""

from __future__ import annotations

import pytest
from conftest import open_app_page
from streamlit.testing.v1 import AppTest

from core.explore.evaluate import full_report, load_evaluation
from core.explore.vectors import Embeddings


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_not_evaluated_yet_says_how(lee_run) -> None:
    at = open_app_page("pages/evaluate.py")
    assert at.selectbox(key="ev_run").value == lee_run.name
    assert any("Not evaluated yet" in i.value for i in at.info)
    assert not at.metric


def test_evaluate_saves_the_report_and_home_shows_it(lee_run) -> None:
    at = open_app_page("pages/evaluate.py")
    next(b for b in at.button if b.label == "Evaluate").click().run()
    assert not at.exception and not at.error
    saved = load_evaluation(lee_run)
    expected = full_report(Embeddings.from_run(lee_run))
    assert saved is not None and saved.to_dict()["pairs"][0]["spearman"] == expected.pairs[0].spearman
    shown = metrics(at)
    assert shown["WordSim353 Spearman"] == f"{expected.pairs[0].spearman:.3f}"
    assert shown["Analogy 3CosAdd"] == f"{expected.analogy_total.accuracy_add:.1%}"
    assert at.get("plotly_chart"), "per-section accuracy chart"
    sections = at.dataframe[-1].value
    assert sections["section"].iloc[-1] == "Total accuracy" and len(sections) == len(expected.analogies) + 1
    total = sections.iloc[-1]  # accuracies in percent, every one shown with one decimal
    assert total["3CosAdd"] == pytest.approx(100 * expected.analogy_total.accuracy_add)
    assert '"format": "%.1f%%"' in at.dataframe[-1].proto.columns
    oov = [d.value for d in at.dataframe if list(d.value.columns) == ["word 1", "word 2"]]
    assert len(oov[0]) == expected.pairs[0].total - expected.pairs[0].covered  # WordSim353 pairs left out

    home = open_app_page("pages/home.py")
    row = home.dataframe[0].value.set_index("run").loc[lee_run.name]
    assert row["WS353"] == f"{expected.pairs[0].spearman:.3f}"  # Home shows figures as text, three decimals


def test_odd_one_out_and_its_errors(lee_run) -> None:
    at = open_app_page("pages/evaluate.py")
    at.text_input(key="ev_odd").set_value("police, officers, man, australia").run()
    assert any(s.value.startswith("Odd one out: **") for s in at.success)
    at.text_input(key="ev_odd").set_value("police, polise, man").run()
    assert any("'polise' is not in the vocabulary" in w.value for w in at.warning)
    at.text_input(key="ev_odd").set_value("police, man").run()
    assert any("at least three" in i.value for i in at.info)
