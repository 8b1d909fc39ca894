"""The Compare page with a seeded database: a shared link restores the selection and the tables show stored numbers."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.analysis import comparison
from engine.analysis.comparison import model_label
from tests.comparison_seed import SeededRun, seed_runs
from ui import compare_charts, paired_view

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def _per_user(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"slice": "cold-user", "user_id": [f"u{i}" for i in range(len(values))],
                         "history": list(range(len(values))), "ndcg@20": values, "recall@20": values})


@pytest.fixture
def seeded(coldstart_home):
    return seed_runs([
        SeededRun("mostpop", {"cold-user": {"ndcg@20": 0.1111, "recall@20": 0.2}, "warm": {"ndcg@20": 0.15}},
                  fit_seconds=0.1, per_user=_per_user([0.1, 0.2, 0.0, 0.3, 0.1, 0.0])),
        SeededRun("content", {"cold-user": {"ndcg@20": 0.1444, "recall@20": 0.18},
                              "few-shot-user-k1": {"ndcg@20": 0.16}, "warm": {"ndcg@20": 0.12}},
                  fit_seconds=2.0, losses=[0.9, 0.5], per_user=_per_user([0.3, 0.2, 0.5, 0.3, 0.4, 0.2])),
        SeededRun("itemknn", {"warm": {"ndcg@20": 0.3}}, fit_seconds=3.0,
                  not_applicable={"cold-user": "ItemKNN cannot score users it never saw in training"}),
    ])


def _open(query: str | None = None, paired: bool = False) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    if query is not None:
        app.query_params["runs"] = query
    app.session_state[paired_view.OPEN_KEY] = paired
    return app.switch_page("pages/compare.py").run()


def test_empty_database_says_how_to_get_runs(coldstart_home):
    app = _open()
    assert not app.exception
    assert "No runs yet" in app.info[0].value


def test_without_a_selection_the_page_asks_for_one_and_lists_the_runs(seeded):
    app = _open()
    assert not app.exception
    assert sorted(app.dataframe[0].value["run_id"]) == sorted(sum(seeded.values(), []))
    assert "Select one or more runs" in app.info[0].value


def test_shared_link_restores_the_selection_and_shows_the_stored_numbers(seeded):
    ids = [seeded["mostpop"][0], seeded["content"][0], seeded["itemknn"][0]]
    app = _open(",".join(map(str, ids)))
    assert not app.exception
    assert [t.label for t in app.tabs[:3]] == ["warm", "cold-user", "few-shot-user-k1"]
    cold = app.tabs[1].table[0].value
    assert cold.at[model_label("mostpop"), "ndcg@20"] == "0.1111 [0.1011, 0.1211]"
    assert cold.at[model_label("content"), "ndcg@20"] == "0.1444 [0.1344, 0.1544]"
    assert cold.at[model_label("itemknn"), "ndcg@20"] == (
        "not applicable: ItemKNN cannot score users it never saw in training")
    assert app.query_params["runs"] == ",".join(map(str, sorted(ids, reverse=True)))


def _open_tab(block) -> str | None:
    """The label of the tab a leaderboard's tab container opens on (the first container found, depth first)."""
    if getattr(block, "type", None) == "tab_container":
        return list(block.children.values())[block.proto.tab_container.default_tab_index].label
    for child in getattr(block, "children", {}).values():
        found = _open_tab(child)
        if found is not None:
            return found
    return None


def test_the_leaderboard_opens_on_the_cold_start_slice_the_experiment_measures(seeded):
    """A cold-user experiment's leaderboard opened on 'warm', the first tab, and the reader had to find the slice
    the experiment was made for; overall and warm keep their places."""
    ids = [seeded["mostpop"][0], seeded["content"][0]]
    app = _open(",".join(map(str, ids)))
    assert not app.exception
    assert [t.label for t in app.tabs[:2]] == ["warm", "cold-user"]
    assert _open_tab(app._tree) == "cold-user"


def test_stale_ids_in_a_link_are_ignored_and_dropped_from_it(seeded):
    app = _open("999,abc")
    assert not app.exception
    assert "Select one or more runs" in app.info[0].value
    assert "runs" not in app.query_params


def test_the_paired_comparison_is_computed_only_once_opened_and_the_report_carries_it_either_way(
        seeded, monkeypatch):
    ids = [seeded["mostpop"][0], seeded["content"][0]]
    calls = []
    original = comparison.paired_table
    monkeypatch.setattr(comparison, "paired_table", lambda *args: calls.append(args) or original(*args))
    app = _open(",".join(map(str, ids)))
    assert not app.exception and calls == []
    assert app.expander(key=paired_view.OPEN_KEY).label.startswith("Run B minus run A, user by user")
    runs = comparison.list_runs(run_ids=ids)
    runs = runs.assign(variant=comparison.variant_labels(runs))
    per_user, metrics = comparison.load_per_user(runs), comparison.load_metrics(runs)
    figure, tables = paired_view.paired_report(runs, per_user, metrics, ["ndcg@20"], ["warm", "cold-user"])
    # the pair the section opens on: the newest run (content) as A, on the first cold slice
    assert list(tables) == [f"#{ids[0]} {model_label('mostpop')} minus #{ids[1]} {model_label('content')} on "
                            "cold-user"]
    assert figure.layout.title.text == f"#{ids[0]} {model_label('mostpop')} minus #{ids[1]} {model_label('content')}"


def test_paired_comparison_of_two_selected_runs_shows_the_per_user_difference(seeded):
    ids = [seeded["mostpop"][0], seeded["content"][0]]
    app = _open(",".join(map(str, ids)), paired=True)
    assert not app.exception
    assert app.selectbox(key="paired-slice").value == "cold-user"
    table = next(d.value for d in app.dataframe if "p (Wilcoxon)" in d.value.columns)
    row = table.set_index("metric").loc["ndcg@20"]
    # run A is the newest selected run (content), run B the older one (mostpop): B - A over the six users
    assert row["difference (B − A)"] == pytest.approx((0.7 - 1.9) / 6)
    assert row["users"] == 6
    assert list(table.columns) == ["metric", "A", "B", "difference (B − A)", "95% CI low", "95% CI high",
                                   "p (Wilcoxon)", "users"]


def test_linked_runs_still_training_are_announced_and_kept_in_the_link(coldstart_home):
    ids = seed_runs([SeededRun("mostpop", {"warm": {"ndcg@20": 0.1}}),
                     SeededRun("itemknn", {}, status="queued")])
    done, queued = ids["mostpop"][0], ids["itemknn"][0]
    app = _open(f"{done},{queued}")
    assert not app.exception
    # the counts cover every linked run: one waiting (queued, not yet training), one finished (not "0 finished")
    assert app.info[0].value.startswith(f"1 of the 2 linked runs are waiting or training (1 queued, 0 running: "
                                        f"{model_label('itemknn')}); 1 finished.")
    assert app.tabs[0].label == "warm"
    assert set(app.query_params["runs"].split(",")) == {str(done), str(queued)}


def _figures(app: AppTest) -> dict[str, dict]:
    specs = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def _values(array) -> list:
    """A trace's values from the chart's JSON, where plotly ships numbers as base64 typed arrays."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


CHART_TITLES = {"By slice": "ndcg@20 by slice",
                "Cold-start curve": "Cold-start curve: ndcg@20 against known interactions of a new user",
                "History length": "ndcg@20 by user history length", "Per user": "Per-user ndcg@20",
                "Cost": "ndcg@20 against training time", "Training": "Training and validation curves",
                "Tuning": "Tuning: validation score per trial", "Beyond accuracy": "Beyond accuracy",
                "User groups": "ndcg@20 by gender"}


def test_only_the_open_chart_tab_is_computed_and_each_tab_draws_its_chart(seeded):
    pop, content = seeded["mostpop"][0], seeded["content"][0]
    app = _open(f"{pop},{content}", paired=True)
    assert not app.exception
    # the paired chart opens on the first cold slice: run A is the newest run, B the other
    paired = f"#{pop} {model_label('mostpop')} minus #{content} {model_label('content')}"
    # the fairness section is computed when opened (tests/app/test_compare_onboarding_fairness.py)
    assert set(_figures(app)) == {"ndcg@20 by slice", paired}
    for tab, title in CHART_TITLES.items():
        app.session_state[compare_charts.TAB_KEY] = tab
        app.run()
        assert not app.exception
        assert set(_figures(app)) == {title, paired}
    groups = {trace["name"]: dict(zip(_values(trace["x"]), _values(trace["y"])))
              for trace in _figures(app)["ndcg@20 by gender"]["data"]}
    # toy users alternate M (u0, u2, u4) and F (u1, u3, u5); MostPopular scored them 0.1, 0.2, 0.0, 0.3, 0.1, 0.0
    assert groups[model_label("mostpop")]["M"] == pytest.approx(0.2 / 3)
    assert groups[model_label("mostpop")]["F"] == pytest.approx(0.5 / 3)


def test_a_tab_reopens_on_the_choice_left_in_it_and_the_report_carries_every_tab_s_chart(seeded):
    pop, content = seeded["mostpop"][0], seeded["content"][0]
    app = _open(f"{pop},{content}")
    app.session_state[compare_charts.TAB_KEY] = "Per user"
    app.run()
    app.selectbox(key="spread-slice").set_value("warm").run()
    app.session_state[compare_charts.TAB_KEY] = "Cost"
    app.run()
    app.session_state[compare_charts.TAB_KEY] = "Per user"
    app.run()
    assert app.selectbox(key="spread-slice").value == "warm"

    runs = comparison.list_runs(run_ids=[pop, content])
    runs = runs.assign(variant=comparison.variant_labels(runs))
    metrics = comparison.load_metrics(runs)
    recorded = comparison.run_results(runs)
    slices = comparison.available_slices(metrics, comparison.load_not_applicable(runs, recorded))
    data = compare_charts.CompareData(runs, metrics, comparison.load_per_user(runs), recorded, "ndcg@20",
                                      ["ndcg", "recall"], 20, slices)
    kept = {"spread-slice": "warm"}
    figures = compare_charts.report_figures(data, {}, kept)
    assert [figure.layout.title.text for figure in figures.values()] == list(CHART_TITLES.values())
    per_user = figures["per-user"].to_plotly_json()["data"]
    shown = next(f for f in _figures(app).values() if f["layout"]["title"]["text"] == "Per-user ndcg@20")
    assert [len(_values(t["y"])) for t in per_user] == [len(_values(t["y"])) for t in shown["data"]]
    assert kept == {"spread-slice": "warm"}  # the report reads the reader's choices, it does not change them


def test_a_cold_item_experiment_opens_the_cold_start_curve_on_new_items(coldstart_home):
    ids = seed_runs([SeededRun("mostpop", {"cold-item": {"ndcg@20": 0.05}, "few-shot-item-k2": {"ndcg@20": 0.08}}),
                     SeededRun("content", {"cold-item": {"ndcg@20": 0.12}})],
                    protocol="cold-item", experiment="toy cold items")
    app = _open(",".join(str(ids[m][0]) for m in ("mostpop", "content")))
    app.session_state[compare_charts.TAB_KEY] = "Cold-start curve"
    app.run()
    assert not app.exception
    assert app.radio(key="curve-side").value == "item"
    curve = _figures(app)["Cold-start curve: ndcg@20 against known interactions of a new item"]
    points = {trace["name"]: _values(trace["x"]) for trace in curve["data"]}
    assert points == {model_label("mostpop"): [0, 2], model_label("content"): [0]}


def test_a_cold_start_curve_of_one_point_per_model_says_how_to_draw_a_real_curve(coldstart_home):
    """A cold-item experiment scores new items at k = 0 only: the tab drew one dot per model under the title
    'Cold-start curve' and left the reader to guess why there was no curve."""
    ids = seed_runs([SeededRun("mostpop", {"warm": {"ndcg@20": 0.05}}),
                     SeededRun("content", {"cold-item": {"ndcg@20": 0.12}, "warm": {"ndcg@20": 0.1}})],
                    protocol="cold-item", experiment="toy cold items only")
    app = _open(",".join(str(ids[m][0]) for m in ("mostpop", "content")))
    app.session_state[compare_charts.TAB_KEY] = "Cold-start curve"
    app.run()
    assert not app.exception
    assert any("few-shot-item protocol" in box.value and "(k = 0)" in box.value for box in app.info)


def test_leaderboard_rows_are_ranked_by_the_headline_metric_not_by_name(seeded):
    ids = [seeded["mostpop"][0], seeded["content"][0], seeded["itemknn"][0]]
    app = _open(",".join(map(str, ids)))
    assert not app.exception
    assert app.tabs[0].table[0].value.index.tolist() == [model_label(m) for m in ("itemknn", "mostpop", "content")]
    assert app.tabs[1].table[0].value.index.tolist() == [model_label(m) for m in ("content", "mostpop", "itemknn")]


def test_a_long_list_of_hyper_parameters_is_shown_whole_on_wrapped_lines(coldstart_home):
    candidates = ["mapper", "attrridge", "content", "hybridmf", "ease", "itemknn", "segmentpop", "mostpop"]
    (run_id,) = seed_runs([SeededRun("auto", {"warm": {"ndcg@20": 0.2}},
                                     params={"candidates": candidates, "blend_size": 3})])["auto"]
    app = _open(str(run_id))
    assert not app.exception
    line = next(m.value for m in app.markdown if m.value.startswith("- **")).replace("\\", "")
    assert line.endswith(f"hyper-parameters: blend_size=3, candidates={candidates}")
    assert not any("hyper-parameters" in frame.value.columns for frame in app.dataframe)
