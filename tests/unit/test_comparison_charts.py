"""Chart builders and the HTML report draw exactly the recorded numbers they are given."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from engine.analysis import comparison
from tests.comparison_seed import SeededRun, seed_runs
from ui import charts
from ui.report import ComparisonReport, comparison_report_html


@pytest.fixture
def recorded(coldstart_home):
    seed_runs([
        SeededRun("mostpop", {"cold-user": {"ndcg@10": 0.10, "coverage@10": 0.05},
                              "few-shot-user-k2": {"ndcg@10": 0.11}}, fit_seconds=0.1),
        SeededRun("content", {"cold-user": {"ndcg@10": 0.14, "coverage@10": 0.40},
                              "few-shot-user-k2": {"ndcg@10": 0.2}},
                  fit_seconds=2.0, losses=[0.8, 0.6],
                  not_applicable={"warm": "Content has no warm slice in this toy"}),
    ])
    runs = comparison.list_runs()
    return runs, comparison.load_metrics(runs), comparison.load_not_applicable(runs)


def test_slice_bars_draw_one_trace_per_model_with_recorded_means_and_intervals(recorded):
    _, metrics, _ = recorded
    figure = charts.slice_bars(comparison.slice_overview(metrics, "ndcg@10"), "ndcg@10")
    by_model = {trace.name: trace for trace in figure.data}
    assert set(by_model) == {comparison.model_label("mostpop"), comparison.model_label("content")}
    content = by_model[comparison.model_label("content")]
    assert list(content.x) == ["cold-user", "few-shot-user-k2"]
    assert list(content.y) == pytest.approx([0.14, 0.2])
    assert list(content.error_y.array) == pytest.approx([0.01, 0.01])


def test_cold_start_curve_chart_puts_k_on_the_x_axis(recorded):
    _, metrics, _ = recorded
    figure = charts.cold_start_curve_chart(comparison.cold_start_curve(metrics, "ndcg@10", "user"), "ndcg@10", "user")
    mostpop = next(t for t in figure.data if t.name == comparison.model_label("mostpop"))
    assert list(mostpop.x) == [0, 2] and list(mostpop.y) == pytest.approx([0.10, 0.11])


def test_empty_inputs_give_a_figure_that_says_why_instead_of_failing():
    figure = charts.cold_start_curve_chart(pd.DataFrame(columns=["variant", "k", "mean"]), "ndcg@10", "item")
    assert "no cold or few-shot item slices" in figure.layout.annotations[0].text


def test_pareto_chart_joins_only_the_front(recorded):
    runs, metrics, _ = recorded
    frame = comparison.quality_vs_cost(runs, metrics, "ndcg@10", "cold-user")
    figure = charts.pareto_chart(frame, "ndcg@10")
    front = next(t for t in figure.data if t.name == "Pareto front")
    assert list(front.x) == pytest.approx([0.1, 2.0])
    # the legend names models, not "model, True": the star marks the front
    points = [t.name for t in figure.data if t.mode == "markers"]
    assert sorted(points) == sorted(frame["variant"]) and not any(n.endswith(("True", "False")) for n in points)


def test_report_is_self_contained_and_carries_every_leaderboard_and_chart(recorded):
    runs, metrics, refused = recorded
    boards = [comparison.leaderboard(metrics, refused, name, ["ndcg@10"]) for name in ("cold-user", "warm")]
    figures = {"bars": charts.slice_bars(comparison.slice_overview(metrics, "ndcg@10"), "ndcg@10"),
               "beyond": charts.beyond_accuracy_chart(
                   comparison.metrics_on_slice(metrics, ["coverage@10"], "cold-user"))}
    page = comparison_report_html(ComparisonReport(runs=runs, leaderboards=boards, figures=figures))
    assert page.count("<h3>") == 2
    assert '<td class="best">0.1400 [0.1300, 0.1500]</td>' in page
    assert "not applicable: Content has no warm slice in this toy" in page
    assert page.count("Plotly.newPlot") == 2
    # plotly.js is inlined once, never fetched from a CDN, so the report opens offline
    assert re.search(r"<script[^>]*src=", page) is None and page.count("plotly.js v") == 1


def test_a_downloaded_chart_is_a_whole_page_that_opens_offline(recorded):
    _, metrics, _ = recorded
    page = charts.figure_html(charts.slice_bars(comparison.slice_overview(metrics, "ndcg@10"), "ndcg@10"))
    assert page.lower().startswith("<!doctype html>") and page.count("plotly.js v") == 1
    assert re.search(r"<script[^>]*src=", page) is None


def _panel_titles(figure) -> list[str]:
    return [annotation.text for annotation in figure.layout.annotations]


def test_training_curves_draw_only_the_panels_some_run_recorded():
    als = pd.DataFrame({"variant": "als", "epoch": [1, 2], "loss": [0.8, 0.6], "metric": [None, None]})
    loss_only = charts.training_curves_chart(als)  # alternating steps: a loss, no validation score
    assert _panel_titles(loss_only) == ["training loss"] and len(loss_only.data) == 1
    assert "No validation score during training" in loss_only.layout.title.subtitle.text
    bpr = pd.DataFrame({"variant": "bpr", "epoch": [1, 2], "loss": [0.9, 0.7], "metric": [0.1, 0.2]})
    both = charts.training_curves_chart(pd.concat([als, bpr]))
    assert _panel_titles(both) == ["training loss", "validation metric"] and not both.layout.title.subtitle.text
    assert [(trace.name, trace.showlegend) for trace in both.data] == [("als", True), ("bpr", True), ("bpr", False)]


def test_beyond_accuracy_lays_model_names_level_and_says_why_a_measure_is_left_out():
    rows = pd.DataFrame({"variant": ["Most popular", "Content-based (attributes)"] * 3,
                         "name": ["coverage@20"] * 2 + ["popularity@20"] * 2 + ["diversity@20"] * 2,
                         "mean": [0.05, 0.4, 0.0, 0.0, float("nan"), float("nan")]})
    figure = charts.beyond_accuracy_chart(rows)
    # horizontal bars: model names on the shared y axis, read level, no rotated x tick labels
    assert {trace.orientation for trace in figure.data} == {"h"}
    assert {name for trace in figure.data for name in trace.y} == {"Most popular", "Content-based (attributes)"}
    assert [a.text for a in figure.layout.annotations] == ["coverage@20 (share of candidates)"]  # with its unit
    note = figure.layout.title.subtitle.text
    assert "popularity@20 is 0 for every model (every recommended item is new" in note
    assert "diversity@20 was not recorded on this slice" in note


def test_beyond_accuracy_with_nothing_to_draw_says_why_instead_of_empty_panels():
    rows = pd.DataFrame({"variant": ["Most popular", "Content"], "name": "popularity@20", "mean": [0.0, 0.0]})
    figure = charts.beyond_accuracy_chart(rows)
    assert "popularity@20 is 0 for every model" in figure.layout.annotations[0].text
    assert not figure.data


def _onboarding_metrics() -> pd.DataFrame:
    """ndcg@10 of two models on the protocol's slices and on an onboarding run's slices (two strategies, 0 and 3
    questions), in the long format `load_metrics` returns."""
    slices = ["overall", "cold-user", "onboarding-random-k0", "onboarding-random-k3", "onboarding-popularity-k0",
              "onboarding-popularity-k3"]
    rows = [{"run_id": run, "variant": variant, "slice": name, "name": "ndcg@10", "mean": 0.1 * run + 0.01 * i,
             "ci_low": None, "ci_high": None, "n_users": 50}
            for run, variant in ((1, "ItemKNN"), (2, "Most popular")) for i, name in enumerate(slices)]
    return pd.DataFrame(rows)


def test_onboarding_slices_are_grouped_by_strategy_and_read_as_questions_asked():
    overview = comparison.slice_overview(_onboarding_metrics(), "ndcg@10")
    groups = overview.drop_duplicates("slice")[["slice", "group", "label"]].values.tolist()
    assert groups == [["overall", "the protocol's slices", "overall"],
                      ["cold-user", "the protocol's slices", "cold-user"],
                      ["onboarding-random-k0", "onboarding: Random", "0 questions"],
                      ["onboarding-random-k3", "onboarding: Random", "3 questions"],
                      ["onboarding-popularity-k0", "onboarding: Popularity", "0 questions"],
                      ["onboarding-popularity-k3", "onboarding: Popularity", "3 questions"]]


def test_slices_of_several_groups_get_a_panel_each_with_their_own_slices_and_the_recorded_means():
    overview = comparison.slice_overview(_onboarding_metrics(), "ndcg@10")
    figure = charts.slice_bars(overview, "ndcg@10")
    assert sorted(a.text for a in figure.layout.annotations) == [
        "onboarding: Popularity", "onboarding: Random", "the protocol's slices"]
    panels = {(trace.name, trace.xaxis): dict(zip(trace.x, trace.y)) for trace in figure.data}
    drawn = {axis: set(values) for (_, axis), values in panels.items()}
    assert sorted(map(sorted, drawn.values())) == [["0 questions", "3 questions"]] * 2 + [["cold-user", "overall"]]
    popularity = next(values for (name, _), values in panels.items()
                      if name == "Most popular" and "0 questions" in values and values["0 questions"] > 0.24)
    assert popularity == pytest.approx({"0 questions": 0.24, "3 questions": 0.25})
    # every panel labels its own slices: no axis hides its ticks or borrows another panel's categories
    assert all(axis.matches is None and axis.showticklabels for axis in figure.select_xaxes())


def test_the_slice_chart_says_how_many_recorded_slices_it_leaves_out():
    overview = comparison.slice_overview(_onboarding_metrics(), "ndcg@10")
    protocol = overview.loc[overview["group"] == comparison.PROTOCOL_SLICES]
    figure = charts.slice_bars(protocol, "ndcg@10", left_out=4)
    assert not figure.layout.annotations  # one group: no panels
    assert [list(trace.x) for trace in figure.data] == [["overall", "cold-user"]] * 2
    assert "2 of the 6 recorded slices are drawn" in figure.layout.title.subtitle.text
    assert charts.slice_bars(overview, "ndcg@10").layout.title.subtitle.text in (None, "")


def _trials(kept: list[bool]) -> pd.DataFrame:
    """Three trials of one tuned run as `load_trials` returns them: the defaults first, a better second trial."""
    frame = pd.DataFrame({"variant": "Hybrid MF #4", "trial": [1, 2, 3], "score": [0.20, 0.21, None],
                          "state": ["complete", "complete", "pruned"], "params": ["", "factors=64", "factors=8"],
                          "kept": kept})
    return frame.assign(best_so_far=frame["score"].cummax())


def test_the_tuning_chart_stars_the_kept_trial_and_says_why_the_defaults_were_kept():
    note = ("defaults kept: the best trial (#2, 0.2100) beat them by +0.0100, within one standard error (0.0150) "
            "over 90 validation users")
    figure = charts.tuning_trials_chart(_trials([True, False, False]), "ndcg@20", {"Hybrid MF #4": note})
    star = next(trace for trace in figure.data if trace.name == "Hybrid MF #4: kept")
    assert star.marker.symbol == "star" and list(star.x) == [1] and list(star.y) == pytest.approx([0.20])
    # the best-so-far line ends at trial 2's 0.21; a dotted line shows the defaults' 0.20 that was kept
    kept_line = next(trace for trace in figure.data if trace.name == "Hybrid MF #4: defaults kept")
    assert list(kept_line.x) == [1, 3] and list(kept_line.y) == pytest.approx([0.20, 0.20])
    sentence = figure.layout.title.subtitle.text.replace("<br>", " ")
    assert sentence == ("Hybrid MF #4 kept its defaults (trial 1, 0.2000): the best trial (#2, 0.2100) beat them by "
                        "+0.0100, within one standard error (0.0150) over 90 validation users, so the gain may be "
                        "luck.")


def test_a_run_that_kept_its_best_trial_gets_the_star_there_and_no_sentence():
    figure = charts.tuning_trials_chart(_trials([False, True, False]), "ndcg@20", {})
    star = next(trace for trace in figure.data if trace.name == "Hybrid MF #4: kept")
    assert list(star.x) == [2] and not any(trace.name.endswith("defaults kept") for trace in figure.data)
    assert figure.layout.title.text == "Tuning: validation ndcg@20 per trial" and not figure.layout.title.subtitle.text
    assert [trace.name for trace in figure.data if trace.showlegend is not False] == [
        "Hybrid MF #4", "kept trial (scored on test)"]
