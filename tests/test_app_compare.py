"""Compare page: overlaid loss curves, settings with differences marked, scores and neighbours side by side."""

from __future__ import annotations

import pytest
from conftest import open_app_page

from core.config import TrainConfig
from core.job import train_run
from core.runs import Run


@pytest.fixture
def two_runs(lee_run: Run) -> list[Run]:
    other = Run.create(TrainConfig(corpus="lee", min_freq=5, epochs=2, embed_size=50, seed=1), name="lee-other")
    train_run(other)
    return [lee_run, other]


def test_one_run_is_not_enough(lee_run: Run) -> None:
    at = open_app_page("pages/compare.py")
    assert any("at least two runs" in i.value for i in at.info)


def test_two_runs_side_by_side(two_runs: list[Run]) -> None:
    at = open_app_page("pages/compare.py")
    assert sorted(at.multiselect(key="cmp_runs").value) == sorted(r.name for r in two_runs)
    figure = at.get("plotly_chart")[0].proto.spec
    assert all(name in figure for name in ("lee-test", "lee-other"))  # one curve per run
    settings = at.dataframe[0].value.set_index("setting")
    assert set(settings.index) == {"embed_size", "epochs", "seed"}  # only the differences, marked
    assert (settings["differs"] == "≠").all() and settings.loc["embed_size", "lee-other"] == "50"
    at.checkbox(key="cmp_only_diff").uncheck().run()
    every = at.dataframe[0].value
    assert len(every) == len(TrainConfig().to_dict()) and every["differs"].tolist()[:4] == ["≠", "≠", "≠", ""]

    scores = at.dataframe[1].value
    assert sorted(scores["run"]) == sorted(r.name for r in two_runs) and (scores["WordSim353 Spearman"] == "–").all()
    next(b for b in at.button if b.key == "cmp_evaluate").click().run()
    assert not at.exception and (at.dataframe[1].value["WordSim353 Spearman"] != "–").all()
    assert not [b for b in at.button if b.key == "cmp_evaluate"]  # every run is scored: no offer left, this run on

    at.text_input(key="cmp_word").set_value("police").run()
    lists = [d.value for d in at.dataframe if "in all" in d.value.columns]
    assert len(lists) == 2 and all(len(x) == 10 for x in lists)
    shared = set(lists[0]["word"]) & set(lists[1]["word"])
    assert set(lists[0].loc[lists[0]["in all"] == "✓", "word"]) == shared
    assert any(f"**{len(shared)}** of the top 10" in m.value for m in at.markdown)
    overlap = at.dataframe[-1].value
    assert overlap.loc[0, "shared"] == len(shared)
    assert overlap.loc[0, "Jaccard"] == pytest.approx(len(shared) / len(set(lists[0]["word"]) | set(lists[1]["word"])))


def test_unknown_word_is_a_warning(two_runs: list[Run]) -> None:
    at = open_app_page("pages/compare.py")
    at.text_input(key="cmp_word").set_value("polise").run()
    assert not at.exception
    assert len([w for w in at.warning if "'polise' is not in the vocabulary" in w.value]) == 2


def test_runs_evaluated_without_any_score_are_not_offered_again(isolated_runs, tiny_corpus) -> None:
    """A vocabulary that covers no test pair is scored "–" everywhere; evaluating it again changes nothing."""
    for name in ("tiny-a", "tiny-b"):
        train_run(Run.create(TrainConfig(corpus=str(tiny_corpus), min_freq=1, epochs=1), name=name))
    at = open_app_page("pages/compare.py")
    assert next(b for b in at.button if b.key == "cmp_evaluate").label == "Evaluate the 2 runs without scores"
    next(b for b in at.button if b.key == "cmp_evaluate").click().run()
    scores = next(d.value for d in at.dataframe if "WordSim353 Spearman" in d.value.columns)
    assert not at.exception and len(scores) == 2 and (scores["WordSim353 Spearman"] == "–").all()
    assert not [b for b in at.button if b.key == "cmp_evaluate"]
    at.run()
    assert not [b for b in at.button if b.key == "cmp_evaluate"]
