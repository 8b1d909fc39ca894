"""The Home page: the demo button queues the demo and lands on Compare; recent datasets and runs are listed."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from engine.analysis.comparison import model_label
from engine.data.catalog import list_datasets
from engine.store.db import session_scope
from engine.store.tables import RunRow
from tests.comparison_seed import SeededRun, seed_runs

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _open() -> AppTest:
    return AppTest.from_file(APP, default_timeout=90).run()


def test_empty_home_explains_cold_start_and_offers_the_demo(coldstart_home):
    app = _open()
    assert not app.exception
    assert "cold start" in app.markdown[0].value
    assert app.button(key="run-demo").label == "Run the demo"
    assert [c.value for c in app.caption][:2] == ["None yet.", "None yet."]


def test_recent_datasets_and_runs_are_listed(coldstart_home):
    seed_runs([SeededRun("mostpop", {"warm": {"ndcg@20": 0.1}}), SeededRun("itemknn", {"warm": {"ndcg@20": 0.2}})])
    app = _open()
    assert not app.exception
    datasets, runs = app.dataframe[0].value, app.dataframe[1].value
    assert datasets["name"].tolist() == ["toy"]
    assert runs["variant"].tolist() == [model_label("itemknn"), model_label("mostpop")]


def test_recent_runs_are_named_without_repeating_their_dataset_and_protocol(coldstart_home):
    """MostPopular on two datasets read 'MostPopular · genres kind, warm' beside columns already saying 'genres kind'
    and 'warm', and the protocol column was pushed out of the half page."""
    seed_runs([SeededRun("mostpop", {"warm": {"ndcg@20": 0.1}})], dataset="first", protocol="warm")
    seed_runs([SeededRun("mostpop", {"cold-user": {"ndcg@20": 0.1}})], dataset="second")
    app = _open()
    assert not app.exception
    runs = app.dataframe[1].value
    assert runs["variant"].tolist() == [model_label("mostpop")] * 2
    assert runs["dataset"].tolist() == ["second", "first"]


def test_demo_button_queues_five_runs_and_lands_on_compare_with_them_linked(coldstart_home):
    app = _open()
    app.button(key="run-demo").click().run()
    assert not app.exception
    with session_scope() as session:
        queued = session.execute(select(RunRow.id, RunRow.status).order_by(RunRow.id)).all()
    assert [status for _, status in queued] == ["queued"] * 5
    assert sorted(map(int, app.query_params["runs"].split(","))) == [run_id for run_id, _ in queued]
    assert app.title[0].value == "Compare runs"
    assert "5 of the 5 linked runs are waiting or training (5 queued, 0 running: " in app.info[0].value


def test_the_demo_promises_the_users_and_items_that_the_catalogue_then_lists(coldstart_home):
    app = _open()
    promise = next(m.value for m in app.markdown if "synthetic shop" in m.value)
    app.button(key="run-demo").click().run()
    (stored,) = list_datasets()
    counts = f"({stored.n_users} users, {stored.n_items} items, {stored.n_interactions:,} interactions)"
    assert counts in promise
    assert counts in next(m.value for m in _open().markdown if "synthetic shop" in m.value)

def test_a_demo_that_cannot_start_says_why_instead_of_showing_a_traceback(coldstart_home, monkeypatch):
    import engine.jobs.demo
    from engine.jobs.queue import JobError

    def refuse(plan):
        raise JobError("invalid hyper-parameters for DropoutNet: epochs: must be at least 1")

    monkeypatch.setattr(engine.jobs.demo, "start_demo", refuse)
    app = _open()
    app.button(key="run-demo").click().run()
    assert not app.exception
    assert app.error[0].value == ("The demo could not start: invalid hyper-parameters for DropoutNet: epochs: "
                                  "must be at least 1")
    assert app.title[0].value == "Cold-Start Lab"
