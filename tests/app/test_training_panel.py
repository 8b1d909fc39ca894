"""The training panel with a seeded database: Train queues runs at once, runs show their state, buttons act."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.jobs.queue import cancel_run, claim_next_run, finish_run, list_runs, submit_runs
from engine.store.db import session_scope
from engine.store.tables import RunEventRow, RunRow, utcnow
from tests.unit.jobs_support import empty_experiment, register_fault_models, run_status

ROOT = Path(__file__).resolve().parents[2]


def _panel(experiment_id: int) -> None:
    from ui.training import training_panel

    training_panel(experiment_id)


@pytest.fixture
def experiment(coldstart_home, monkeypatch) -> int:
    register_fault_models(monkeypatch)
    return empty_experiment()


def _open(experiment_id: int) -> AppTest:
    return AppTest.from_function(_panel, args=(experiment_id,), default_timeout=60).run()


def _button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def test_train_queues_one_run_per_model_and_seed_without_waiting(experiment):
    app = _open(experiment)
    app.multiselect[0].unselect("auto").select("tiny_popularity").select("tiny_popularity_b").run()
    assert not app.exception
    app.number_input(key="train-tiny_popularity-epochs").set_value(5)
    app.text_input[-1].set_value("0, 1")
    app.button[0].click().run()
    assert not app.exception
    runs = list_runs(experiment)
    assert sorted((r.model, r.seed) for r in runs) == [("tiny_popularity", 0), ("tiny_popularity", 1),
                                                       ("tiny_popularity_b", 0), ("tiny_popularity_b", 1)]
    assert {r.status for r in runs} == {"queued"}
    assert {r.params["epochs"] for r in runs if r.model == "tiny_popularity"} == {5}
    # nobody is working the queue in this test, and the page says so instead of spinning forever
    assert "No background worker" in app.warning[0].value


def test_auto_is_selected_to_start_with_and_trains_alone_when_nothing_is_changed(experiment):
    app = _open(experiment)
    assert app.multiselect[0].value == ["auto"]
    assert any(c.value.startswith("**Auto (validated choice) (hybrid)** can serve: ") for c in app.caption)
    app.button[0].click().run()
    assert not app.exception
    assert [(r.model, r.seed) for r in list_runs(experiment)] == [("auto", 0)]


def test_bad_seeds_are_refused_with_a_clear_message_and_nothing_is_queued(experiment):
    app = _open(experiment)
    app.multiselect[0].unselect("auto").select("tiny_popularity").run()
    app.text_input[-1].set_value("0, one")
    app.button[0].click().run()
    assert "seed 'one' is not a whole number" in app.error[0].value
    assert list_runs(experiment) == []


def test_a_running_run_shows_progress_per_epoch_and_overall_and_can_be_cancelled(experiment):
    (run_id,) = submit_runs(experiment, "tiny_popularity", {"epochs": 4})
    claim_next_run("w", "cpu")
    with session_scope() as session:
        row = session.get(RunRow, run_id)
        row.progress, row.message, row.device = 0.375, "epoch 2/4 · step 1/2", "cpu"
        session.add_all([RunEventRow(run_id=run_id, kind="progress", epoch=1, n_epochs=4, loss=0.9, metric=0.1),
                         RunEventRow(run_id=run_id, kind="progress", epoch=2, n_epochs=4, step=1, n_steps=2,
                                     loss=0.7)])
    app = _open(experiment)
    assert not app.exception
    bars = [element for element in app.get("progress")]
    assert [bar.proto.text for bar in bars] == ["Overall 38%", "Epoch 2 of 4"]
    assert app.get("plotly_chart")
    _button(app, "Cancel").click().run()
    assert run_status(run_id).cancel_requested


def test_a_failed_run_shows_its_reason_keeps_the_traceback_aside_and_can_be_rerun(experiment):
    (run_id,) = submit_runs(experiment, "tiny_popularity", seeds=[3])
    claim_next_run("w", "cpu")
    finish_run(run_id, "failed", message="failed", error="out of GPU memory while training",
               traceback="Traceback (most recent call last):\n  ...\ntorch.OutOfMemoryError: CUDA out of memory")
    app = _open(experiment)
    assert app.error[0].value == "out of GPU memory while training"
    traceback = next(expander for expander in app.expander if expander.label == "Traceback")
    assert "torch.OutOfMemoryError" in traceback.code[0].value
    _button(app, "Re-run").click().run()
    copies = [r for r in list_runs(experiment) if r.id != run_id]
    assert [(r.status, r.seed) for r in copies] == [("queued", 3)]


def test_a_finished_run_shows_its_results_and_can_be_deleted(experiment):
    (run_id,) = submit_runs(experiment, "tiny_popularity")
    with session_scope() as session:
        row = session.get(RunRow, run_id)
        row.status, row.finished_at, row.started_at = "done", utcnow(), utcnow()
        row.results = {"slices": {"warm": {"ndcg@10": {"mean": 0.25, "ci": [0.2, 0.3], "n_users": 9}},
                                  "cold-user": {"not_applicable": "cannot score new users"}}}
        row.results["slices"]["cold-both"] = {"ndcg@10": {"mean": 0.125, "ci": [0.1, 0.15], "n_users": 4}}
    app = _open(experiment)
    table = app.dataframe[0].value
    # a metric per row, a column per served slice (recorded warm first; the cold-start slice leads); a slice the
    # model cannot serve is no column of empty cells but a line with its whole reason
    assert list(table.columns) == ["metric", "cold-both", "warm"]
    assert table.set_index("metric").loc["ndcg@10"].tolist() == [0.125, 0.25]
    assert [c.value for c in app.caption if c.value.startswith("Not applicable")] == [
        "Not applicable to cold-user: cannot score new users."]
    _button(app, "Delete").click().run()
    assert list_runs(experiment) == []


def test_the_runs_page_lists_runs_of_every_experiment_with_where_they_belong(experiment):
    other = empty_experiment("another")
    (first,) = submit_runs(experiment, "tiny_popularity")
    (second,) = submit_runs(other, "tiny_popularity_b")
    (dropped,) = submit_runs(other, "tiny_popularity_b", seeds=[1])
    claim_next_run("w", "cpu")
    cancel_run(dropped)
    finish_run(first, "failed", message="failed", error="ValueError: bad data",
               traceback="Traceback (most recent call last):\nValueError: bad data")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).switch_page("pages/runs.py").run()
    assert not app.exception
    assert [title.value for title in app.title] == ["Runs"]
    captions = [caption.value for caption in app.caption]
    assert any(c.startswith(f"experiment #{other} ·") for c in captions)
    assert any(c.startswith(f"experiment #{experiment} ·") for c in captions)
    # only a run still waiting is "device pending"; one cancelled before it started says nothing of a device
    assert f"experiment #{other} · never started" in captions
    assert [c for c in captions if "device pending" in c] == [f"experiment #{other} · device pending · waiting for a "
                                                              "worker"]
    assert app.error[0].value == "ValueError: bad data"
    assert run_status(second).status == "queued"


@pytest.fixture
def fresh_resources():
    """Forget cached resources (app.py starts the worker once per server process) before and after the test."""
    import streamlit as st

    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_the_app_still_starts_and_says_why_when_the_background_worker_cannot(coldstart_home, monkeypatch,
                                                                            fresh_resources):
    import engine.jobs.supervisor as supervisor

    def refuse() -> str:
        raise supervisor.SupervisorStartError("the background worker exited at start (code 2); see supervisor.log")

    monkeypatch.setattr(supervisor, "ensure_supervisor", refuse)
    monkeypatch.setenv("COLDSTART_AUTOSTART_WORKER", "1")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not app.exception
    assert app.title  # the home page rendered
    warning = app.sidebar.warning[0].value
    assert "Training runs will wait in the queue" in warning and "exited at start (code 2)" in warning


def test_a_running_card_shows_one_estimate_of_time_left_measured_from_its_recent_epochs(experiment):
    (run_id,) = submit_runs(experiment, "tiny_popularity", {"epochs": 10})
    claim_next_run("w", "cpu")
    now = utcnow()
    with session_scope() as session:
        row = session.get(RunRow, run_id)
        # ten minutes of setup before the first epoch, then an epoch a minute: 7 epochs, about 7 minutes, are left
        row.started_at, row.progress, row.message = now - timedelta(minutes=12), 0.3, "epoch 3/10 · loss 0.7000"
        session.add_all([RunEventRow(run_id=run_id, kind="progress", epoch=epoch, n_epochs=10, loss=1.0 / epoch,
                                     at=now - timedelta(minutes=3 - epoch)) for epoch in (1, 2, 3)])
    caption = next(c.value for c in _open(experiment).caption if " left" in c.value)
    assert caption.count(" left") == 1
    # not the 28 minutes of elapsed * (1 - done) / done
    assert re.search(r"up to about [67] min \d\d s of training left", caption), caption


def test_a_finished_run_without_a_curve_says_so_instead_of_an_empty_chart(experiment):
    (run_id,) = submit_runs(experiment, "tiny_popularity")
    with session_scope() as session:
        row = session.get(RunRow, run_id)
        row.status, row.finished_at, row.started_at = "done", utcnow(), utcnow()
        session.add_all([RunEventRow(run_id=run_id, kind="progress", epoch=epoch, n_epochs=2) for epoch in (1, 2)])
    app = _open(experiment)
    assert not app.get("plotly_chart")
    assert any("Trained 2 epochs without recording a loss" in caption.value for caption in app.caption)


def test_train_on_a_run_that_already_exists_says_so_and_offers_the_next_free_seed(experiment):
    (existing,) = submit_runs(experiment, "tiny_popularity")
    app = _open(experiment)
    app.multiselect[0].unselect("auto").select("tiny_popularity").run()
    app.button[0].click().run()
    assert not app.exception
    assert [r.id for r in list_runs(experiment)] == [existing]
    assert app.warning[0].value.startswith(f"Run #{existing} (tiny_popularity, seed 0) already exists (queued)")
    _button(app, "Queue tiny_popularity with seed 1 instead").click().run()
    assert not app.exception
    assert sorted((r.seed, r.status) for r in list_runs(experiment)) == [(0, "queued"), (1, "queued")]
    assert not any(b.label.startswith("Queue tiny_popularity") for b in app.button)


def test_tune_gives_every_chosen_model_the_same_budget_and_shows_what_each_searches(coldstart_home):
    experiment = empty_experiment()
    app = _open(experiment)
    app.multiselect[0].unselect("auto").select("ease").select("mostpop").run()
    app.toggle(key=f"train-tune-{experiment}").set_value(True).run()
    assert not app.exception
    captions = " ".join(c.value for c in app.caption)
    assert "**EASE (linear)** searches l2 1 to 10000 (log)" in captions
    assert "Every model gets 16 trials, each stopped after 30 s of training." in captions
    assert not [e for e in app.expander if "hyper-parameters" in e.label]  # no settings to fill in when tuning
    app.number_input(key=f"train-tune-trials-{experiment}").set_value(8)
    app.number_input(key=f"train-tune-minutes-{experiment}").set_value(5.0)
    _button(app, "Tune and train").click().run()
    assert not app.exception
    runs = list_runs(experiment)
    assert sorted(r.model for r in runs) == ["ease", "mostpop"]
    assert {str(r.tuning) for r in runs} == {str({"trials": 8, "minutes": 5.0, "trial_seconds": 30.0})}


def test_a_tuned_run_counts_trials_and_draws_the_validation_score_per_trial(experiment):
    (run_id,) = submit_runs(experiment, "tiny_popularity", tuning={"trials": 4, "minutes": None, "trial_seconds": 5})
    claim_next_run("w", "cpu")
    with session_scope() as session:
        session.get(RunRow, run_id).progress = 0.75
        session.add_all([RunEventRow(run_id=run_id, kind="progress", epoch=trial, n_epochs=4, metric=0.1 * trial)
                         for trial in (1, 2, 3)])
    app = _open(experiment)
    assert not app.exception
    assert [bar.proto.text for bar in app.get("progress")] == ["Overall 75%", "Trial 3 of 4"]
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["title"]["text"] == "Tuning: validation score per trial"
    assert figure["layout"]["xaxis"]["title"]["text"] == "trial" and "xaxis2" not in figure["layout"]
    assert {trace["name"] for trace in figure["data"]} == {f"#{run_id} tiny_popularity",
                                                            f"#{run_id} tiny_popularity: best so far"}


def test_what_a_picked_model_can_serve_is_said_of_this_experiments_slices_and_data(coldstart_home):
    """It said 'new users (attributes)' for a cold-user experiment on data without user attributes."""
    from engine.data.catalog import save_dataset
    from engine.data.synthetic_kinds import generate_kind
    from engine.runs.experiments import create_experiment

    shop = generate_kind("tags", n_users=120, n_items=100, n_interactions=2400, seed=0)  # no user attributes
    experiment = create_experiment(save_dataset(shop, "tags shop", "synthetic"), "cold-user", {}, seed=0)
    app = _open(experiment)
    app.multiselect[0].select("itemknn").run()
    assert not app.exception
    said = [c.value for c in app.caption if " can serve: " in c.value]
    assert said == ["**Auto (validated choice) (hybrid)** can serve: warm · cold-user, overall, but without telling "
                    "new users apart: 'tags shop' has no user attributes",
                    "**ItemKNN (neighbourhood)** can serve: warm · not cold-user, overall: ItemKNN cannot score users "
                    "it never saw in training: it has no user attributes to use"]
