"""Projection page: PCA and t-SNE maps with a highlighted query and a CSV download."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def projection_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/projection.py").run()
    assert not at.exception
    return at


def test_pca_map_is_drawn_with_a_download(lee_run) -> None:
    at = projection_page()
    assert at.number_input(key="pj_n").value == 1000
    assert len(at.get("plotly_chart")) == 1
    assert at.get("download_button")
    at.text_input(key="pj_query").set_value("police")
    at.radio(key="pj_color").set_value("cluster")
    at.radio(key="pj_dims").set_value(3).run()
    assert not at.exception and len(at.get("plotly_chart")) == 1


def test_tsne_map_with_its_settings(lee_run) -> None:
    at = projection_page()
    at.number_input(key="pj_n").set_value(200)
    at.radio(key="pj_method").set_value("tsne").run()
    assert not at.exception
    assert {n.label for n in at.number_input} >= {"Perplexity", "Iterations", "Early exaggeration", "Seed"}
    assert len(at.get("plotly_chart")) == 1


def test_unknown_highlight_word_warns(lee_run) -> None:
    at = projection_page()
    at.text_input(key="pj_query").set_value("polise").run()
    assert any("polise" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 1
