"""Compare with real onboarding runs on MovieLens 100K: the onboarding curves, the fairness charts, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.data.canonical import read_canonical_folder
from engine.protocols import make_split
from engine.runs.results import RunRecorder
from engine.runs.runner import fit_and_evaluate
from ui.fairness_view import gini_chart
from ui.report import ComparisonReport, comparison_report_html

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


@pytest.fixture
def onboarding_runs(coldstart_home, ml100k_dir):
    """ItemKNN and MostPop on an onboarding split of ML-100K (10% new users, random vs popularity, 1 and 3
    questions), recorded as the job system records runs."""
    dataset = read_canonical_folder(ml100k_dir)
    split = make_split(dataset, "onboarding", 0, {"cold_fraction": 0.1, "steps": "1,3",
                                                  "strategies": "random,popularity"})
    recorder = RunRecorder.start(dataset, split, "ml-100k")
    ids = []
    for model in ("itemknn", "mostpop"):
        run_id = recorder.begin(model, {}, 0)
        recorder.finish(run_id, fit_and_evaluate(dataset, split, model, {}, 0, ks=(10, 20)))
        ids.append(run_id)
    return ids


def _charts(app: AppTest) -> dict[str, dict]:
    """The page's plotly figures by title text."""
    figures = {}
    for element in app.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        title = spec["layout"].get("title", {})
        figures[title.get("text", "")] = spec
    return figures


def test_compare_draws_onboarding_curves_and_one_fairness_chart_per_question(onboarding_runs):
    app = AppTest.from_file(APP, default_timeout=120)
    app.query_params["runs"] = ",".join(map(str, onboarding_runs))
    app = app.switch_page("pages/compare.py").run()
    assert not app.exception
    # onboarding slices read as curves, not as 36 leaderboard tabs
    assert not any(tab.label.startswith("onboarding-") for tab in app.tabs)
    charts = _charts(app)
    curve = next(spec for title, spec in charts.items() if title.startswith("Onboarding:"))
    names = {trace["name"] for trace in curve["data"]}
    assert names == {"Random", "Popularity"}
    subtitle = curve["layout"]["title"]["subtitle"]["text"]
    assert "after 3 questions 'Popularity' gives the best recommendations" in subtitle.replace("<br>", " ")
    questions = [title.split("?")[0] for title in charts if "?" in title]
    assert questions == ["Is some group of users served worse", "Do new items get shown",
                         "Is exposure concentrated on a few items", "Does the long tail get shown",
                         "Do the lists favour popular items", "Which genres values get shown"]
    groups = next(spec for title, spec in charts.items() if title.startswith("Is some group"))
    assert "by gender" in groups["layout"]["title"]["text"]  # categories come first among user attributes
    # every question's chart carries its plain-words sentence, and the HTML report carries the charts
    assert all(spec["layout"]["title"].get("subtitle", {}).get("text") for title, spec in charts.items()
               if "?" in title)


def test_the_html_report_carries_each_chart_with_its_sentence():
    table = pd.DataFrame({"variant": ["A", "B"], "gini": [0.2, 0.9]})
    report = ComparisonReport(runs=pd.DataFrame(columns=["run_id", "variant", "dataset", "experiment", "protocol",
                                                         "seed", "device", "fit_seconds", "eval_seconds"]),
                              leaderboards=[], figures={"exposure-gini": gini_chart(table, 10)})
    page = comparison_report_html(report)
    assert "Is exposure concentrated on a few items?" in page
    assert "0 means every item is shown equally often" in page
