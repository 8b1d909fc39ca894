"""Tuned runs, from the command line and the job queue: the same budget per model, every trial recorded in the
database with the run, results.json carrying the trials, and a later comparison starting from the best known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.cli.main import main
from engine.data.synthetic import generate_synthetic
from engine.runs.tuning_store import best_known_settings, run_trials
from engine.store.db import session_scope
from engine.store.tables import RunRow, TuningTrialRow
from tests.canonical_folders import write_canonical_folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    dataset = generate_synthetic(n_users=80, n_items=50, n_interactions=2000, seed=5)
    return write_canonical_folder(tmp_path_factory.mktemp("canonical"), dataset.interactions, dataset.items)


def _evaluate(capsys, data_dir: Path, out: Path, *extra: str) -> tuple[int, dict, str]:
    code = main(["evaluate", "--data", str(data_dir), "--protocol", "cold-item", "--seed", "1",
                 "--models", "content,mostpop", "--out", str(out), *extra])
    err = capsys.readouterr().err
    return code, json.loads(out.read_text()) if out.exists() else {}, err


def test_evaluate_tunes_every_model_with_the_same_budget_and_records_each_trial(data_dir, tmp_path, coldstart_home,
                                                                                 capsys):
    code, results, err = _evaluate(capsys, data_dir, tmp_path / "r.json", "--tune", "4")
    assert code == 0, err
    content, mostpop = results["models"]["content"]["tuning"], results["models"]["mostpop"]["tuning"]
    assert content["budget"] == {"trials": 4, "minutes": None, "trial_seconds": None}
    assert len(content["trials"]) == 4 and [t["number"] for t in content["trials"]] == [0, 1, 2, 3]
    assert len(mostpop["trials"]) == 4  # the same budget, whatever the model
    best = max(t["score"] for t in content["trials"] if t["state"] == "complete")
    # the best trial, unless it beat the defaults (trial 0) within the noise, which the note then says
    assert content["best_score"] == (content["trials"][0]["score"] if "note" in content else best)
    assert results["models"]["content"]["params"] == {**results["models"]["content"]["params"], **content["best_params"]}
    assert any(line.startswith("tuned content: 4 trials") and "best ndcg@20" in line for line in err.splitlines())
    with session_scope() as session:
        runs = session.scalars(select(RunRow).order_by(RunRow.id)).all()
        assert [run.tuning for run in runs] == [{"trials": 4, "minutes": None, "trial_seconds": None}] * 2
        rows = session.scalars(select(TuningTrialRow).where(TuningTrialRow.run_id == runs[0].id)).all()
        assert sorted(row.number for row in rows) == [0, 1, 2, 3]
    shown = run_trials([runs[0].id])
    assert [t["trial"] for t in shown] == [1, 2, 3, 4] and max(t["score"] for t in shown) == pytest.approx(best)


def test_a_later_tuning_on_the_same_dataset_and_protocol_starts_from_the_best_known(data_dir, tmp_path,
                                                                                    coldstart_home, capsys):
    code, first, _ = _evaluate(capsys, data_dir, tmp_path / "first.json", "--tune", "4")
    assert code == 0
    tuning = first["models"]["content"]["tuning"]
    best = max((t for t in tuning["trials"] if t["state"] == "complete"), key=lambda t: t["score"])["params"]
    code, second, err = _evaluate(capsys, data_dir, tmp_path / "second.json", "--tune", "2")
    assert code == 0, err
    trials = second["models"]["content"]["tuning"]["trials"]
    defaults_first = trials[0]["params"]
    assert trials[1]["params"] == best or best == defaults_first
    assert best_known_settings(1, "cold-item", "content")[0] == best


def test_untuned_runs_carry_no_tuning_and_no_trials(data_dir, tmp_path, coldstart_home, capsys):
    code, results, _ = _evaluate(capsys, data_dir, tmp_path / "r.json")
    assert code == 0 and "tuning" not in results["models"]["content"]
    with session_scope() as session:
        assert session.scalars(select(TuningTrialRow)).all() == []
        assert {run.tuning for run in session.scalars(select(RunRow))} == {None}


@pytest.mark.parametrize(("argv", "reason"), [
    (["--tune", "0"], "--tune: a tuning budget of 0 trials is not enough: use at least 1"),
    (["--tune-minutes", "-1"], "--tune: a tuning budget of -1.0 minutes is not enough: use more than 0"),
    (["--tune-trial-seconds", "5"], "--tune-trial-seconds needs --tune N or --tune-minutes M"),
])
def test_bad_tuning_options_exit_2_before_anything_runs(data_dir, tmp_path, coldstart_home, capsys, argv, reason):
    code, _, err = _evaluate(capsys, data_dir, tmp_path / "r.json", *argv)
    assert code == 2 and err.strip().splitlines()[-1] == f"error: {reason}"
    with session_scope() as session:
        assert session.scalars(select(RunRow)).all() == []


def test_a_queued_tuned_run_tunes_in_its_worker_and_records_its_trials(coldstart_home):
    from engine.jobs.child import execute_run
    from tests.unit.jobs_support import tiny_experiment

    experiment_id = tiny_experiment()
    with session_scope() as session:
        run = RunRow(experiment_id=experiment_id, model="itemknn", params={}, seed=0, status="running",
                     tuning={"trials": 3, "minutes": None, "trial_seconds": None})
        session.add(run)
        session.flush()
        run_id = run.id
    assert execute_run(run_id) == 0
    with session_scope() as session:
        run = session.get(RunRow, run_id)
        assert run.status == "done", run.error
        assert len(run.results["tuning"]["trials"]) == 3 and [t.number for t in run.trials] == [0, 1, 2]
        trial_lines = [event.message for event in run.events if event.kind == "log" and event.message.startswith("trial")]
        assert len(trial_lines) == 3 and trial_lines[0].startswith("trial 1: k=100, shrink=10 -> ")
        epochs = [event.epoch for event in run.events if event.kind == "progress" and event.metric is not None]
        assert epochs[-3:] == [1, 2, 3]  # the live chart plots the validation score per trial
