"""The notebook API: the README's example runs as shown, a run trained from Python is a run like the
command line's, and `import core` stays light."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import core
from core.config import ConfigError
from core.explore.vectors import UnknownWordError
from core.runs import list_runs


def readme_example() -> str:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## From a notebook\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S).group(1)


def python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_readmes_example_runs_as_shown(tmp_path: Path, isolated_runs: Path) -> None:
    done = python(readme_example(), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = list_runs()  # where Home lists runs
    assert run.status().state == "finished" and run.config().corpus == "lee" and run.config().epochs == 20
    assert run.current_vectors() is not None and any(row.kind == "epoch" for row in run.metrics())
    assert "20.00/20 epochs" in done.stderr, "the command line's tqdm bar"
    assert re.match(r"\[\('\w+', 0\.\d+\)", done.stdout), done.stdout
    assert f"run '{run.name}'" in done.stdout.splitlines()[-1]


def test_settings_are_the_schemas_and_vectors_answer_like_gensims(tmp_path: Path) -> None:
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("the cat sat on the mat with a hat\n" * 200, encoding="utf-8")
    vectors = core.train(corpus, epochs=2, embed_size=8, min_freq=1, name="tiny")
    assert vectors.run.name == "tiny" and vectors.run.config().embed_size == 8
    kv = vectors.to_gensim()
    assert "<unk>" not in kv.key_to_index and len(kv.key_to_index) == len(vectors.vocabulary)
    assert [w for w, _ in kv.most_similar("cat", topn=3)] == [w for w, _ in vectors.most_similar("cat", topn=3)]
    assert vectors["cat"].shape == (8,) and "cat" in vectors and "<unk>" not in vectors
    assert vectors.similarity("cat", "hat") == pytest.approx(float(kv.similarity("cat", "hat")), abs=1e-5)
    with pytest.raises(UnknownWordError, match="closest: cat"):
        vectors.most_similar("catt")
    assert core.load("tiny").words == vectors.words


def test_an_unknown_or_out_of_range_setting_is_refused_before_a_run_exists(isolated_runs: Path) -> None:
    with pytest.raises(ConfigError, match="epoch: unknown setting; did you mean epochs\\?"):
        core.train("lee", epoch=1)
    with pytest.raises(ConfigError, match="must be between 1 and 1000"):
        core.train("lee", epochs=0)
    assert list_runs() == []


def test_import_core_loads_no_torch(tmp_path: Path) -> None:
    done = python("import sys, core; print('torch' in sys.modules, callable(core.train))", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "True"]
