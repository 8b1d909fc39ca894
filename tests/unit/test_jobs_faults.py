"""Faults of the job system, with real supervisors and run processes on a tiny synthetic dataset.

In every case a run ends in a clear final state, never stays "running", never counts as done with partial results,
and the runs beside it are unaffected.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.jobs.liveness import WORKER_LOST, live_workers
from engine.jobs.queue import cancel_run, rerun_run, run_events, submit_runs
from engine.settings import EXTRA_MODELS_ENV, get_settings
from engine.store.db import session_scope
from engine.store.tables import MetricRow, WorkerRow
from tests.databases import hold_write_lock, isolated_database
from jobs_support import (FAULT_MODELS, ROOT, SupervisorProcess, run_status, supervisors, tiny_experiment,
                          wait_final, wait_until)

__all__ = ["supervisors"]  # the fixture, imported so pytest finds it here

SLOW = {"epochs": 200, "epoch_seconds": 0.1}
"""About 20 s of training: long enough to be interrupted, and never left to finish."""


def _metric_rows(run_id: int) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(MetricRow).where(MetricRow.run_id == run_id))


def assert_nothing_recorded(run_id: int) -> None:
    """A run that did not finish leaves no metrics, no results and no artifact (not even a half-written one)."""
    row = run_status(run_id)
    assert _metric_rows(run_id) == 0 and row.results == {} and row.artifact_path is None
    artifact = get_settings().run_dir(run_id)
    assert not artifact.exists() and not artifact.with_name(artifact.name + ".partial").exists()


def assert_done_with_results(run_id: int) -> None:
    row = run_status(run_id)
    assert row.status == "done" and row.progress == 1.0 and row.error is None
    assert _metric_rows(run_id) > 0 and row.results["slices"]
    assert (get_settings().run_dir(run_id) / "model.json").exists()


def _child_pid(marker: Path) -> int:
    """The run's process id, once its model has started fitting."""
    def fitting() -> str:
        """the model to start fitting"""
        return marker.exists() and marker.read_text()

    return int(wait_until(fitting))


def test_a_run_killed_mid_epoch_fails_with_a_reason_a_cancelled_one_stops_and_the_one_beside_them_finishes(
        supervisors, tmp_path):
    experiment = tiny_experiment()
    killed_marker, cancelled_marker = tmp_path / "killed", tmp_path / "cancelled"
    (killed,) = submit_runs(experiment, "tiny_popularity", {**SLOW, "marker": str(killed_marker)})
    (cancelled,) = submit_runs(experiment, "tiny_popularity", {**SLOW, "marker": str(cancelled_marker)})
    (neighbour,) = submit_runs(experiment, "tiny_popularity_b")
    supervisors(3)
    os.kill(_child_pid(killed_marker), signal.SIGKILL)
    _child_pid(cancelled_marker)
    cancel_run(cancelled)
    rows = wait_final([killed, cancelled, neighbour])
    assert rows[killed].status == "failed"
    assert "killed (SIGKILL)" in rows[killed].error
    assert rows[cancelled].status == "cancelled"
    for run_id in (killed, cancelled):
        assert_nothing_recorded(run_id)
    assert_done_with_results(neighbour)


def test_when_a_supervisor_dies_its_live_run_finishes_its_dead_run_is_worker_lost_and_a_new_supervisor_carries_on(
        supervisors, tmp_path):
    experiment = tiny_experiment()
    live_marker, dead_marker = tmp_path / "live", tmp_path / "dead"
    (live,) = submit_runs(experiment, "tiny_popularity", {"epochs": 40, "epoch_seconds": 0.1,
                                                         "marker": str(live_marker)})
    (dead,) = submit_runs(experiment, "tiny_popularity", {**SLOW, "marker": str(dead_marker)})
    first = supervisors(2)
    _child_pid(live_marker)
    dead_pid = _child_pid(dead_marker)
    first.kill()
    os.killpg(dead_pid, signal.SIGKILL)
    # a run lives in its own process: it finishes and records itself with no supervisor alive
    wait_final([live])
    assert_done_with_results(live)
    assert run_status(dead).status == "running"  # nobody has looked yet
    supervisors()
    row = wait_final([dead])[dead]
    assert (row.status, row.error) == ("failed", WORKER_LOST)
    assert_nothing_recorded(dead)
    again = rerun_run(dead)
    wait_final([again])
    assert_done_with_results(again)
    assert run_status(again).worker_id != run_status(live).worker_id


def test_restarting_the_app_during_a_run_reuses_the_live_supervisor_and_the_run_finishes(coldstart_home,
                                                                                         monkeypatch, tmp_path):
    from engine.jobs.supervisor import ensure_supervisor

    monkeypatch.setenv(EXTRA_MODELS_ENV, FAULT_MODELS)
    monkeypatch.setenv("COLDSTART_DEVICE_SLOTS", "cpu")
    experiment = tiny_experiment()
    marker = tmp_path / "fitting"
    (run_id,) = submit_runs(experiment, "tiny_popularity", {"epochs": 20, "epoch_seconds": 0.1,
                                                           "marker": str(marker)})
    worker = ensure_supervisor()
    try:
        _child_pid(marker)
        # a new app server process asks again while the run is going
        restarted = subprocess.run([sys.executable, "-c", "from engine.jobs.supervisor import ensure_supervisor;"
                                    "print(ensure_supervisor())"], cwd=ROOT, capture_output=True, text=True,
                                   timeout=120, check=True)
        assert restarted.stdout.strip() == worker
        wait_final([run_id])
        assert_done_with_results(run_id)
        with session_scope() as session:
            assert session.scalar(select(func.count()).select_from(WorkerRow)) == 1
    finally:
        for row in live_workers():
            os.kill(row.pid, signal.SIGTERM)


def test_two_supervisors_started_at_once_run_every_run_exactly_once(supervisors):
    experiment = tiny_experiment()
    ids = submit_runs(experiment, "tiny_popularity", seeds=[0, 1, 2, 3])
    supervisors(), supervisors()
    rows = wait_final(ids)
    assert {row.status for row in rows.values()} == {"done"}
    starts = run_events(ids)
    starts = starts[starts["message"].str.startswith("loading dataset")]
    assert sorted(starts["run_id"]) == ids  # one process per run, never two


def test_a_database_locked_for_a_while_by_another_writer_delays_a_run_but_does_not_break_it(supervisors,
                                                                                          coldstart_home, tmp_path):
    experiment = tiny_experiment()
    marker = tmp_path / "fitting"
    (run_id,) = submit_runs(experiment, "tiny_popularity", {"epochs": 20, "epoch_seconds": 0.1,
                                                           "marker": str(marker)})
    supervisors()
    _child_pid(marker)
    with hold_write_lock(coldstart_home):
        time.sleep(3)
    wait_final([run_id])
    assert_done_with_results(run_id)
    epochs = run_events([run_id]).query("kind == 'progress' and step != step")["epoch"]
    assert list(epochs) == list(range(1, 21))  # no progress lost while the database was held


# -- faults raised inside a run: one supervisor works through all of them, beside a healthy run -----------------

FAULTS = ("raise", "cuda_oom", "memory", "disk_full", "cancel_while_finishing")


@pytest.fixture(scope="module")
def fault_batch(tmp_path_factory) -> dict[str, int]:
    """Run ids by fault (plus "none" for a healthy run), all finished, in a database of their own."""
    with pytest.MonkeyPatch.context() as patch, isolated_database(patch, tmp_path_factory.mktemp("faults") / "home"):
        patch.setenv(EXTRA_MODELS_ENV, FAULT_MODELS)
        experiment = tiny_experiment()
        ids = {fault: submit_runs(experiment, "tiny_popularity", {"fault": fault})[0] for fault in FAULTS}
        ids["none"] = submit_runs(experiment, "tiny_popularity_b")[0]
        supervisor = SupervisorProcess(runs_per_device=2, warm=True)
        try:
            wait_final(list(ids.values()), timeout_s=300)
            yield ids
        finally:
            supervisor.stop()


def _failed_with(run_id: int, reason: str) -> None:
    row = run_status(run_id)
    assert row.status == "failed"
    assert reason in row.error
    assert_nothing_recorded(run_id)


def test_a_model_that_raises_fails_with_its_error_and_keeps_the_traceback_for_details(fault_batch):
    _failed_with(fault_batch["raise"], "ValueError: the model hit a deliberate bug")
    assert "_fit_fault" in run_status(fault_batch["raise"]).traceback


def test_a_model_out_of_gpu_memory_fails_with_a_reason_that_says_what_to_change(fault_batch):
    _failed_with(fault_batch["cuda_oom"], "out of GPU memory while training or evaluating; lower the batch size")


def test_a_model_out_of_main_memory_fails_with_a_clear_reason(fault_batch):
    _failed_with(fault_batch["memory"], "out of main memory")


def test_a_full_disk_while_saving_the_model_fails_the_run_and_removes_the_half_written_artifact(fault_batch):
    _failed_with(fault_batch["disk_full"], "the disk is full")


def test_a_cancel_arriving_while_the_run_is_finishing_ends_it_cancelled_with_nothing_recorded(fault_batch):
    row = run_status(fault_batch["cancel_while_finishing"])
    assert row.status == "cancelled"
    assert_nothing_recorded(row.id)


def test_the_healthy_run_beside_the_faulty_ones_finishes_with_results(fault_batch):
    assert_done_with_results(fault_batch["none"])


def test_a_run_asked_to_stop_while_fitting_ends_cancelled_without_evaluating(coldstart_home, monkeypatch):
    """In the run's own process: a fit cut short by a stop is not evaluated, so its log never says it was."""
    from engine.jobs.child import EXIT_CANCELLED, execute_run
    from engine.store.tables import RunRow

    monkeypatch.setenv(EXTRA_MODELS_ENV, FAULT_MODELS)
    with session_scope() as session:
        run = RunRow(experiment_id=tiny_experiment(), model="tiny_popularity", params=SLOW, seed=0,
                     status="running", cancel_requested=True)
        session.add(run)
        session.flush()
        run_id = run.id
    assert execute_run(run_id) == EXIT_CANCELLED
    assert run_status(run_id).status == "cancelled"
    assert_nothing_recorded(run_id)
    logs = list(run_events([run_id]).query("kind == 'log'")["message"])
    assert logs and not [line for line in logs if "evaluating" in line], logs
