"""A run's progress read back for its card: one honest estimate of training left, and a curve only from numbers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from engine.jobs.observe import (CardLog, card_log, no_curve_reason, run_curve, run_timing, training_curve,
                                 training_seconds_left)
from engine.runs.results import CLI_WORKER
from engine.store.tables import RunRow

STARTED = datetime(2024, 5, 1, 12, 0, 0)
COLUMNS = ["run_id", "at", "kind", "epoch", "n_epochs", "step", "n_steps", "loss", "metric", "message"]


def _events(*rows: dict) -> pd.DataFrame:
    """An events frame as `run_events` returns it; each row gives seconds after the start and what it recorded."""
    records = [{"run_id": 1, "kind": "progress", "step": None, "n_steps": None, "loss": None, "metric": None,
                "message": "", **row, "at": STARTED + timedelta(seconds=row["at"])} for row in rows]
    return pd.DataFrame(records, columns=COLUMNS)


def _epochs(seconds: list[float], n_epochs: int = 10, **numbers) -> pd.DataFrame:
    return _events(*({"at": at, "epoch": epoch, "n_epochs": n_epochs, **numbers}
                     for epoch, at in enumerate(seconds, start=1)))


def test_time_left_comes_from_the_recent_rate_not_from_the_setup_before_the_first_epoch():
    # two minutes of imports and data loading, then one epoch every 10 s: 7 of 10 epochs are left
    events = _epochs([120, 130, 140])
    assert training_seconds_left(events, now=STARTED + timedelta(seconds=140)) == pytest.approx(70)
    # the elapsed * (1 - done) / done rule would have said 140 * 0.7 / 0.3, over five minutes
    assert training_seconds_left(events, now=STARTED + timedelta(seconds=150)) == pytest.approx(60)


def test_no_estimate_until_progress_has_moved_over_two_intervals_nor_once_it_has_run_out():
    now = STARTED + timedelta(seconds=200)
    assert training_seconds_left(_epochs([120]), now) is None
    assert training_seconds_left(_epochs([120, 130]), now) is None
    assert training_seconds_left(_epochs([120, 130, 140]), now=STARTED + timedelta(seconds=300)) is None


def test_mid_epoch_steps_count_toward_the_rate():
    events = _events({"at": 10, "epoch": 1, "n_epochs": 2, "step": 1, "n_steps": 4},
                     {"at": 12, "epoch": 1, "n_epochs": 2, "step": 2, "n_steps": 4},
                     {"at": 14, "epoch": 1, "n_epochs": 2, "step": 3, "n_steps": 4})
    # 1/8 of training every 2 s, 5/8 left
    assert training_seconds_left(events, now=STARTED + timedelta(seconds=14)) == pytest.approx(10)


def _run(status: str, started: float | None, finished: float | None = None) -> RunRow:
    at = (lambda s: None if s is None else STARTED + timedelta(seconds=s))
    return RunRow(id=1, model="als", seed=0, status=status, started_at=at(started), finished_at=at(finished))


def test_the_card_says_one_time_line_per_state():
    events = _epochs([120, 130, 140])
    now = STARTED + timedelta(seconds=140)
    assert run_timing(_run("queued", None), events, now) == "waiting for a worker"
    assert run_timing(_run("cancelled", None, 5), events, now) == "never started"
    left = "up to about 1 min 10 s of training left"
    assert run_timing(_run("running", 0), events, now) == f"elapsed 2 min 20 s · {left}"
    assert run_timing(_run("running", 0), _epochs([120]), now) == "elapsed 2 min 20 s"
    assert run_timing(_run("done", 0, 185), events, now) == "took 3 min 05 s"


def test_the_curve_keeps_epochs_with_numbers_and_says_why_there_is_none_otherwise():
    curve = training_curve(pd.concat([_epochs([1, 2], loss=0.5),
                                      _events({"at": 3, "epoch": 3, "n_epochs": 10, "step": 1, "n_steps": 2})]))
    assert list(curve["epoch"]) == [1, 2] and list(curve["loss"]) == [0.5, 0.5]
    numberless = _epochs([1, 2, 3])
    assert training_curve(numberless).empty
    done = _run("done", 0, 5)
    assert no_curve_reason(done, numberless).startswith("Trained 3 epochs without recording")
    assert no_curve_reason(done, _events()) == "Fitted in one step: no training curve."
    # the command line records no progress at all: its runs say so instead of claiming a one-step fit
    done.worker_id = CLI_WORKER
    assert no_curve_reason(done, _events()).startswith("Run from the command line")
    # auto reports each model it fits (candidates, then their refits on folds), not epochs
    auto = _run("done", 0, 5)
    auto.model = "auto"
    assert no_curve_reason(auto, numberless).startswith("Fitted 3 models and compared them on validation")
    assert run_curve(auto, numberless).unit == "Model fit" and run_curve(done, numberless).unit == "Epoch"


def test_a_tuned_runs_events_are_trials_and_its_curve_is_the_validation_score_per_trial():
    # engine/runs/tuning.py reports each finished trial as epoch k of n with its validation score; trial 2 was pruned
    events = _events({"at": 5, "epoch": 1, "n_epochs": 3, "metric": 0.2},
                     {"at": 9, "epoch": 2, "n_epochs": 3, "metric": None},
                     {"at": 12, "epoch": 3, "n_epochs": 3, "metric": 0.3})
    tuned = RunRow(id=1, model="ease", seed=0, status="running", tuning={"trials": 3})
    curve = run_curve(tuned, events)
    assert (curve.kind, curve.unit) == ("trials", "Trial")
    assert list(curve.points["trial"]) == [1, 2, 3]
    assert list(curve.points["best_so_far"]) == [0.2, 0.2, 0.3]
    assert list(curve.points["state"]) == ["complete", "pruned or failed", "complete"]
    untuned = run_curve(RunRow(id=1, model="ease", seed=0, status="running"), events)
    assert (untuned.kind, untuned.unit) == ("epochs", "Epoch") and list(untuned.points["epoch"]) == [1, 3]


def test_a_finished_tuned_run_marks_the_trial_it_kept_and_carries_why_it_kept_its_defaults():
    events = _events({"at": 5, "epoch": 1, "n_epochs": 3, "metric": 0.2},
                     {"at": 9, "epoch": 2, "n_epochs": 3, "metric": 0.21},
                     {"at": 12, "epoch": 3, "n_epochs": 3, "metric": 0.19})
    note = ("defaults kept: the best trial (#2, 0.2100) beat them by +0.0100, within one standard error (0.0150) "
            "over 90 validation users")
    tuning = {"budget": {"trials": 3}, "metric": "ndcg@20", "best_params": {"factors": 32}, "best_score": 0.2,
              "n_trials": 3, "note": note,
              "trials": [{"number": n, "params": {"factors": f}, "score": s}
                         for n, (f, s) in enumerate(((32, 0.2), (64, 0.21), (16, 0.19)))]}
    done = RunRow(id=1, model="ease", seed=0, status="done", tuning={"trials": 3}, results={"tuning": tuning})
    curve = run_curve(done, events)
    assert list(curve.points["kept"]) == [True, False, False] and curve.note == note
    # without the note the best trial is the one kept
    best = RunRow(id=1, model="ease", seed=0, status="done", tuning={"trials": 3},
                  results={"tuning": {**tuning, "note": None, "best_params": {"factors": 64}, "best_score": 0.21}})
    kept_best = run_curve(best, events)
    assert list(kept_best.points["kept"]) == [False, True, False] and kept_best.note is None
    # while it runs, nothing is kept yet
    running = RunRow(id=1, model="ease", seed=0, status="running", tuning={"trials": 3})
    assert not run_curve(running, events).points["kept"].any()


def test_a_run_tuned_from_the_cli_draws_its_recorded_trials_without_progress_events():
    # `evaluate --tune` records the trials in the run's results but no progress events
    trials = [{"number": 0, "params": {"factors": 32}, "score": 0.2},
              {"number": 1, "params": {"factors": 64}, "score": None, "state": "pruned"},
              {"number": 2, "params": {"factors": 16}, "score": 0.25}]
    tuning = {"budget": {"trials": 3}, "metric": "ndcg@20", "best_params": {"factors": 16}, "best_score": 0.25,
              "n_trials": 3, "trials": trials}
    done = RunRow(id=1, model="ease", seed=0, status="done", tuning={"trials": 3}, results={"tuning": tuning})
    curve = run_curve(done, _events())
    assert (curve.kind, list(curve.points["trial"])) == ("trials", [1, 2, 3])
    assert list(curve.points["state"]) == ["complete", "pruned", "complete"]
    assert list(curve.points["best_so_far"]) == [0.2, 0.2, 0.25]
    assert list(curve.points["params"]) == ["factors=32", "factors=64", "factors=16"]
    assert list(curve.points["kept"]) == [False, False, True]


def test_a_card_shows_a_finished_runs_whole_fit_report_and_otherwise_the_latest_log_lines():
    log = _events(*({"at": n, "kind": "log", "message": f"line {n}"} for n in range(1, 7)))
    report = ["known users, new items -> content (valid 0.3 on cold-item vs mostpop 0.1)",
              "new users, known items -> mostpop by fallback, not validated (no validation slice holds these users "
              "and items): the first candidate in the list that can serve them"]
    auto = _run("done", 0, 5)
    auto.model, auto.results = "auto", {"slices": {}, "fit_report": report}
    # the log's last lines are the report's tail and the evaluation's steps: the whole report is shown instead
    assert card_log(auto, log) == CardLog("What it chose and why (validation slices only):", report)
    auto.results = {"slices": {}}
    assert card_log(auto, log).lines == ["line 3", "line 4", "line 5", "line 6"]
    running = _run("running", 0, 5)
    running.results = {"fit_report": report}  # not recorded before the end; never shown while running
    assert card_log(running, log) == CardLog("", ["line 3", "line 4", "line 5", "line 6"])
