"""The one-button demo queues one run per model kind on a stored sample, and never twice."""

from __future__ import annotations

from sqlalchemy import select

from engine.jobs.demo import DemoPlan, start_demo
from engine.jobs.queue import cancel_run
from engine.store.db import session_scope
from engine.store.tables import DatasetRow, ExperimentRow, RunRow

SMALL = DemoPlan(n_users=60, n_items=40, n_interactions=900, models={"mostpop": {}, "itemknn": {}})


def _rows():
    with session_scope() as session:
        return (session.scalars(select(DatasetRow.name)).all(), session.scalars(select(ExperimentRow.protocol)).all(),
                session.execute(select(RunRow.id, RunRow.model, RunRow.status, RunRow.params)).all())


def test_demo_stores_a_sample_an_experiment_and_queues_one_run_per_model(coldstart_home):
    run_ids = start_demo(SMALL)
    datasets, protocols, runs = _rows()
    assert datasets == [SMALL.dataset_name] and protocols == [SMALL.protocol]
    assert [(r.id, r.model, r.status) for r in runs] == [(run_ids[0], "mostpop", "queued"),
                                                          (run_ids[1], "itemknn", "queued")]


def test_pressing_the_button_again_reuses_everything_that_is_still_live(coldstart_home):
    first = start_demo(SMALL)
    assert start_demo(SMALL) == first
    assert len(_rows()[2]) == 2


def test_a_cancelled_demo_run_is_queued_again(coldstart_home):
    first = start_demo(SMALL)
    cancel_run(first[1])
    second = start_demo(SMALL)
    assert second[0] == first[0] and second[1] != first[1]


def test_default_demo_starts_with_auto_and_covers_popularity_cf_hybrid_and_cold_start_briefly(coldstart_home):
    from engine.models.registry import get_model_class

    families = {get_model_class(name).family for name in DemoPlan().models}
    assert families == {"popularity", "neighbourhood", "hybrid", "cold-start"}
    run_ids = start_demo()
    params = {r.model: r.params for r in _rows()[2]}
    assert len(run_ids) == 5 and next(iter(DemoPlan().models)) == "auto"
    assert params["hybridmf"]["epochs"] == 10 and params["dropoutnet"]["epochs"] == 5
