"""No table on any page shows a raw `None`, with finished, stopped, queued and failed runs on disk."""

from __future__ import annotations

import shutil

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

PAGES = (
    "pages/home.py",
    "pages/train.py",
    "pages/neighbours.py",
    "pages/inside.py",
    "pages/projection.py",
    "pages/evaluate.py",
    "pages/compare.py",
)


@pytest.mark.parametrize("path", PAGES)
def test_no_table_shows_none(lee_run, path: str) -> None:
    for state in ("stopped", "queued", "failed"):
        copy = lee_run.path.parent / f"{state}-run"
        shutil.copytree(lee_run.path, copy)
        (copy / "status.json").write_text(f'{{"state": "{state}", "message": "", "pid": 0}}')
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page(path).run()
    assert not at.exception
    for table in at.dataframe:
        frame = table.value
        shown = frame.astype(object).where(frame.notna(), None)
        assert not shown.isna().any().any(), (path, frame)
        assert not frame.astype(str).isin(["None"]).any().any(), (path, frame)
