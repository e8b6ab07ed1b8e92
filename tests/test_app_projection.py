"""Projection page: PCA and t-SNE maps with a highlighted query and a CSV download."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.explore.vectors import Embeddings

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


def trace(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t.get("name") == name)


def test_a_click_rings_the_word_and_its_neighbours_and_a_cluster_can_be_labelled(lee_run) -> None:
    at = projection_page()
    at.session_state["pj_clicked"] = "police"  # what a click on its point keeps (pages.projection.take_selection)
    at.run()
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    ringed = trace(spec, "clicked: police and its neighbours")["text"]
    assert ringed[0] == "police" and set(ringed) <= set(trace(spec, "wanted labels")["text"])
    assert at.dataframe[0].value["word"].tolist() == [w for w, _ in Embeddings.from_run(lee_run).neighbors("police")]
    at.button(key="pj_clear").click().run()
    assert not any(
        t.get("name", "").startswith("clicked") for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
    )
    at.selectbox(key="pj_label_cluster").set_value(0).run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(trace(spec, "wanted labels")["text"]) > 5  # cluster 0's words, where they fit
    at.selectbox(key="pj_label_cluster").set_value(None)
    at.session_state["pj_selected"] = ["police", "court", "officers"]  # what a box or lasso selection keeps
    at.run()
    assert {"police", "court", "officers"} <= set(
        trace(json.loads(at.get("plotly_chart")[0].proto.spec), "wanted labels")["text"]
    )


def test_unknown_highlight_word_warns(lee_run) -> None:
    at = projection_page()
    at.text_input(key="pj_query").set_value("polise").run()
    assert any("polise" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 1


def test_a_searched_word_and_its_neighbours_are_always_on_the_map(lee_run) -> None:
    at = projection_page()
    at.number_input(key="pj_n").set_value(3)
    at.text_input(key="pj_query").set_value("police").run()
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(trace(spec, "police and its neighbours")["text"]) == 11
    assert len(trace(spec, "must labels")["text"]) == 11  # each of them labelled
    assert "of 14 words" in spec["layout"]["title"]["text"]  # 3 frequent words and the 11 added
    assert at.dataframe[0].value["word"].tolist() == [w for w, _ in Embeddings.from_run(lee_run).neighbors("police")]
    at.toggle(key="pj_isolate").set_value(True).run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert (
        "t-SNE" not in spec["layout"]["title"]["text"]
        and "of 50 words around police" in spec["layout"]["title"]["text"]
    )


def test_word_count_starts_afresh_for_each_source(lee_run) -> None:
    at = projection_page()
    at.number_input(key="pj_n").set_value(200).run()
    assert at.number_input(key="pj_n").value == 200
    at.session_state["pj_n_source"] = ("another run",)  # as if the picker had moved to another run
    at.run()
    assert at.number_input(key="pj_n").value == 1000
