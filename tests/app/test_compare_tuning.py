"""The Compare page on really tuned runs: every leaderboard row says how its settings were chosen, and the Tuning
tab plots and lists every trial, with a CSV of them."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.analysis.comparison import list_runs, load_training_curves
from engine.cli.main import main
from engine.data.synthetic import generate_synthetic
from tests.canonical_folders import write_canonical_folder
from ui import compare_charts

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def _shop_folder(tmp_path: Path) -> Path:
    """A synthetic shop's interactions and items as CSV files, the folder `evaluate --data` reads."""
    dataset = generate_synthetic(n_users=80, n_items=50, n_interactions=2000, seed=5)
    return write_canonical_folder(tmp_path / "shop", dataset.interactions, dataset.items)


def _evaluate(folder: Path, *extra: str) -> None:
    assert main(["evaluate", "--data", str(folder), "--protocol", "cold-item", "--seed", "1", "--models",
                 "content,mostpop", "--out", str(folder / "results.json"), *extra]) == 0


def test_tuned_and_default_runs_are_labelled_and_the_trials_are_shown(coldstart_home, tmp_path):
    folder = _shop_folder(tmp_path)
    _evaluate(folder, "--tune", "3")
    _evaluate(folder)
    runs = list_runs()
    # content's best trial beat its defaults only within the validation noise, so it keeps them and says so
    tuned = dict(zip(runs["model"] + (runs["tuning"] != "defaults").map({True: " tuned", False: ""}), runs["tuning"]))
    assert tuned == {"mostpop": "defaults", "content": "defaults", "mostpop tuned": "tuned (3 trials)",
                     "content tuned": "tuned (3 trials, defaults kept)"}

    app = AppTest.from_file(APP, default_timeout=90)
    app.query_params["runs"] = ",".join(str(r) for r in runs["run_id"])
    app.switch_page("pages/compare.py").run()
    assert not app.exception
    board = app.table[0].value
    assert sorted(board["settings"]) == ["defaults", "defaults", "tuned (3 trials)", "tuned (3 trials, defaults kept)"]
    assert {"Content (attributes) · tuned (3 trials, defaults kept)",
            "Content (attributes) · not tuned"} <= set(board.index)
    app.session_state[compare_charts.TAB_KEY] = "Tuning"
    app.run()
    trials = next(frame.value for frame in app.dataframe if "best_so_far" in frame.value.columns)
    assert len(trials) == 6 and sorted(trials["trial"].unique()) == [1, 2, 3]
    assert (trials["best_so_far"] >= trials["score"].fillna(-1)).all()
    # each tuned run marks the trial it kept; content kept its defaults (trial 1), and the chart says why
    kept = trials.loc[trials["kept"]].set_index("run_id")["trial"]
    content = int(runs.loc[runs["tuning"] == "tuned (3 trials, defaults kept)", "run_id"].iloc[0])
    assert len(kept) == 2 and kept[content] == 1
    chart = json.loads(app.get("plotly_chart")[0].proto.spec)
    star = next(trace for trace in chart["data"] if trace["name"].endswith(f"#{content}: kept"))
    assert star["x"] == [1] and star["marker"]["symbol"] == "star"
    sentence = chart["layout"]["title"]["subtitle"]["text"].replace("<br>", " ")
    assert f"#{content} kept its defaults (trial 1, " in sentence and "within one standard error (" in sentence
    assert any(button.label == "Download the trials (CSV)" for button in app.get("download_button"))
    # the Training tab draws epochs of untuned runs only: a tuned run's progress counts trials, not epochs
    curves = load_training_curves(runs)
    assert set(curves["run_id"]) <= set(runs.loc[~runs["tuning"].str.startswith("tuned"), "run_id"])


def test_what_auto_chose_is_shown_with_the_validation_scores_it_compared(coldstart_home, tmp_path):
    folder = _shop_folder(tmp_path)
    assert main(["evaluate", "--data", str(folder), "--protocol", "cold-item", "--seed", "1", "--models",
                 "auto,mostpop", "--param", 'auto.candidates=["content", "attrridge", "mostpop"]',
                 "--out", str(folder / "results.json")]) == 0
    runs = list_runs()
    app = AppTest.from_file(APP, default_timeout=90)
    app.query_params["runs"] = ",".join(str(r) for r in runs["run_id"])
    app.switch_page("pages/compare.py").run()
    assert not app.exception
    assert [m.value for m in app.markdown if m.value.startswith("**What ")] == [
        "**What Auto (validated choice) chose**, on the validation slices only:"]
    shown = next(t.value for t in app.text if "known users, new items -> " in t.value)
    auto_run = int(runs.loc[runs["model"] == "auto", "run_id"].iloc[0])
    assert shown.startswith(f"run #{auto_run}: ") and "on cold-item and 3 held-out folds (" in shown
