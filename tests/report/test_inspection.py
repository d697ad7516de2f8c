"""The HTML report as a browser shows it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from automl.cli import main
from automl.search import open_study
from automl.studyfile import StudySpec
from tests.browser import rendered_dom
from tests.finished_study import finished_study as make_finished_study


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[StudySpec, optuna.Study]:
    """One study for the tests that only read it (its storage URL is ``spec.storage``)."""
    return make_finished_study(str(tmp_path_factory.mktemp("finished")))


def test_report_shows_every_plot_and_the_trial_table_in_a_browser(
    finished_study: tuple[StudySpec, optuna.Study], tmp_path: Path
) -> None:
    spec, study = finished_study
    out = tmp_path / "report.html"
    assert main(["report", "--storage", spec.storage, "--study", spec.name, "-o", str(out)]) == 0
    page = out.read_text()
    # self-contained, opens offline
    assert not re.search(r"<script[^>]*\bsrc=", page) and "<link" not in page
    dom = rendered_dom(out.as_uri())
    for key in ("history", "curves", "parallel", "slices", "folds", "health"):
        section = re.search(rf"<section id=\"{key}\">(.*?)</section>", dom, re.S)
        assert section, f"section {key} missing"
        assert "main-svg" in section.group(1), f"plot {key} was not drawn"
    table = re.search(r'<table class="sortable" id="trial-table">(.*?)</table>', dom, re.S)
    assert table
    rows = re.findall(r"<tr>", table.group(1))
    assert len(rows) == 1 + len(study.trials)  # the header and one row per trial
    assert spec.name in dom


def test_report_of_an_empty_study_says_what_is_missing(
    sqlite_url: str, make_spec: Callable[..., StudySpec], tmp_path: Path
) -> None:
    spec = make_spec(sqlite_url)
    open_study(spec, sqlite_url)
    out = tmp_path / "r.html"
    assert main(["report", "--storage", sqlite_url, "--study", spec.name, "-o", str(out)]) == 0
    assert "no complete trial yet" in out.read_text()
