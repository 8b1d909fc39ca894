"""Compare with real onboarding runs on MovieLens 100K: the onboarding curves, the fairness charts, the report.

Both sections are computed only when opened (expanders that rerun), once per selection; the report carries their
charts either way."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine.analysis import comparison
from engine.data.canonical import read_canonical_folder
from engine.metrics.document import RunResults
from engine.runs.protocol_catalog import make_split
from tests.databases import isolated_database
from tests.explore_seed import recorded_runs
from ui import compare_charts, fairness_view, onboarding_view
from ui.fairness_view import gini_chart
from ui.report import ComparisonReport, comparison_report_html

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


@pytest.fixture(scope="module")
def onboarding_runs(tmp_path_factory, ml100k_dir):
    """ItemKNN and MostPop on an onboarding split of ML-100K (10% new users, random vs popularity, 1 and 3
    questions), recorded as the job system records runs."""
    with pytest.MonkeyPatch.context() as patch, isolated_database(patch, tmp_path_factory.mktemp("compare-onb")):
        patch.setenv("COLDSTART_AUTOSTART_WORKER", "0")
        dataset = read_canonical_folder(ml100k_dir)
        split = make_split(dataset, "onboarding", 0, {"cold_fraction": 0.1, "steps": "1,3",
                                                      "strategies": "random,popularity"})
        yield recorded_runs(dataset, split, ("itemknn", "mostpop"), "ml-100k")


def _compare(run_ids: list[int], opened: bool) -> AppTest:
    """The Compare page on `run_ids`, with the onboarding and fairness sections opened or left closed."""
    app = AppTest.from_file(APP, default_timeout=120)
    app.query_params["runs"] = ",".join(map(str, run_ids))
    for key in (onboarding_view.OPEN_KEY, fairness_view.OPEN_KEY):
        app.session_state[key] = opened
    return app.switch_page("pages/compare.py").run()


def _charts(app: AppTest) -> dict[str, dict]:
    """The page's plotly figures by title text."""
    figures = {}
    for element in app.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        title = spec["layout"].get("title", {})
        figures[title.get("text", "")] = spec
    return figures


def test_compare_draws_onboarding_curves_and_one_fairness_chart_per_question(onboarding_runs):
    app = _compare(onboarding_runs, opened=True)
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
                         "Do the lists favour popular items", "Which values of genres get shown"]
    groups = next(spec for title, spec in charts.items() if title.startswith("Is some group"))
    assert "by gender" in groups["layout"]["title"]["text"]  # categories come first among user attributes
    # every question's chart carries its plain-words sentence, and the HTML report carries the charts
    assert all(spec["layout"]["title"].get("subtitle", {}).get("text") for title, spec in charts.items()
               if "?" in title)


def test_closed_sections_compute_nothing_on_first_draw_and_once_per_selection_when_opened(onboarding_runs,
                                                                                          monkeypatch):
    calls = {"curves": 0, "top_k": 0}

    def counted(name, function):
        def call(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return call

    monkeypatch.setattr(onboarding_view, "recorded_curves", counted("curves", onboarding_view.recorded_curves))
    monkeypatch.setattr(fairness_view.fairness, "load_top_k", counted("top_k", fairness_view.fairness.load_top_k))
    st.cache_data.clear()  # a fresh server: earlier tests drew these runs
    st.cache_resource.clear()
    app = _compare(onboarding_runs, opened=False)
    assert not app.exception
    assert [e.label for e in app.expander if e.label in ("Onboarding: which sign-up questions to ask",
                                                         "Fairness, bias and exposure")] == \
        ["Onboarding: which sign-up questions to ask", "Fairness, bias and exposure"]
    assert not any("?" in title or title.startswith("Onboarding:") for title in _charts(app))
    assert calls == {"curves": 0, "top_k": 0}
    for _ in range(2):  # opened, then drawn again: computed once
        app = _compare(onboarding_runs, opened=True)
        assert not app.exception and any(title.startswith("Onboarding:") for title in _charts(app))
    assert calls == {"curves": 1, "top_k": 1}


def test_the_report_of_closed_sections_still_carries_their_charts(onboarding_runs):
    runs = comparison.list_runs(run_ids=onboarding_runs)
    per_user = comparison.load_per_user(runs)
    key = comparison.results_key(runs)
    slices = comparison.available_slices(comparison.load_metrics(runs), comparison.load_not_applicable(runs))
    assert list(onboarding_view.onboarding_figures(key, per_user, "ndcg@10")) == ["onboarding"]
    figures = fairness_view.fairness_figures(key, runs, per_user, "ndcg@10", 10, slices)
    assert list(figures) == ["fairness-groups", "exposure-new-items", "exposure-gini", "exposure-long-tail",
                             "exposure-popularity", "exposure-attribute"]
    page = comparison_report_html(ComparisonReport(runs=runs, leaderboards=[], figures=figures))
    assert "Is exposure concentrated on a few items?" in page


def test_each_selected_run_s_results_are_parsed_once_per_draw(onboarding_runs, monkeypatch):
    parsed = []
    original = RunResults.from_json.__func__

    def counted(cls, data):
        parsed.append(data.get("seed") if data else None)
        return original(cls, data)

    monkeypatch.setattr(RunResults, "from_json", classmethod(counted))
    app = _compare(onboarding_runs, opened=False)
    assert not app.exception
    assert len(parsed) == len(onboarding_runs)


def test_hyper_parameters_are_readable_lines_not_a_cut_off_table_column(onboarding_runs):
    app = _compare(onboarding_runs, opened=False)
    table = next(d.value for d in app.dataframe if "settings" in d.value.columns and "seeds" in d.value.columns)
    assert list(table.columns) == ["model", "runs", "seeds", "settings"]
    runs = comparison.list_runs(run_ids=onboarding_runs)
    written = comparison.variant_settings(runs.assign(variant=comparison.variant_labels(runs)))
    shown = next(m.value for m in app.markdown if m.value.startswith("- **")).replace("\\", "")
    for _, row in written.iterrows():  # these runs were queued with no settings given: their defaults
        assert f"- **{row['model']}** on {row['data and protocol']}; hyper-parameters: the model's defaults" in shown


def test_the_html_report_carries_each_chart_with_its_sentence():
    table = pd.DataFrame({"variant": ["A", "B"], "gini": [0.2, 0.9]})
    report = ComparisonReport(runs=pd.DataFrame(columns=["run_id", "variant", "dataset", "experiment", "protocol",
                                                         "seed", "device", "fit_seconds", "eval_seconds"]),
                              leaderboards=[], figures={"exposure-gini": gini_chart(table, 10)})
    page = comparison_report_html(report)
    assert "Is exposure concentrated on a few items?" in page
    assert "0 means every item is shown equally often" in page


def test_the_slice_chart_opens_on_the_protocol_s_slices_and_draws_picked_onboarding_ones_per_strategy(
        onboarding_runs):
    app = _compare(onboarding_runs, opened=False)
    assert not app.exception
    picker = app.multiselect(key="by-slice-slices")
    runs = comparison.list_runs(run_ids=onboarding_runs)
    metrics = comparison.load_metrics(runs)
    protocol = comparison.available_slices(metrics, comparison.load_not_applicable(runs))
    assert picker.value == protocol and len(picker.options) == len(protocol) + 6  # 2 strategies x 0, 1, 3 questions
    bars = _charts(app)["ndcg@20 by slice"]
    assert {x for trace in bars["data"] for x in trace["x"]} == set(protocol)
    assert "3 of the 9 recorded slices are drawn" in bars["layout"]["title"]["subtitle"]["text"]

    picker.set_value([*protocol, "onboarding-popularity-k1", "onboarding-popularity-k3"]).run()
    bars = _charts(app)["ndcg@20 by slice"]
    panels = sorted(a["text"] for a in bars["layout"]["annotations"])
    assert panels == ["onboarding: Popularity", "the protocol's slices"]
    assert {x for trace in bars["data"] for x in trace["x"]} == {*protocol, "1 question", "3 questions"}
    # the report draws the slices the reader left picked, even once the tab is closed
    app.session_state[compare_charts.TAB_KEY] = "Cost"
    app.run()
    runs = runs.assign(variant=comparison.variant_labels(runs))
    data = compare_charts.CompareData(runs, metrics, comparison.load_per_user(runs), comparison.run_results(runs),
                                      "ndcg@20", ["ndcg", "recall"], 20, protocol)
    report = compare_charts.report_figures(data, {}, app.session_state[compare_charts.CHOICES_KEY])
    assert sorted(a.text for a in report["by-slice"].layout.annotations) == panels
