"""The Ray executor (`COLDSTART_EXECUTOR=ray`): real fits as Ray tasks on a local Ray instance, progress and results
through the database, a killed task failing its run with a reason, a cancel going through Ray."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.jobs.queue import cancel_run, run_events, submit_runs
from engine.jobs.supervisor import Supervisor, make_executor
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import MetricRow
from jobs_support import register_fault_models, run_status, tiny_experiment, wait_final, wait_until

ray = pytest.importorskip("ray", reason="Ray is in requirements.txt; install it to test the Ray executor")

SLOW = {"epochs": 200, "epoch_seconds": 0.1}


@pytest.fixture(scope="module")
def local_ray():
    """A Ray instance on this machine with two CPUs (two runs at once), shut down after the module."""
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def ray_supervisor(local_ray, coldstart_home, monkeypatch):
    """A supervisor in this process whose executor `COLDSTART_EXECUTOR=ray` names, serving until the test ends."""
    register_fault_models(monkeypatch)
    monkeypatch.setenv("COLDSTART_EXECUTOR", "ray")
    supervisor = Supervisor(runs_per_slot=1, poll_s=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop,), daemon=True)
    thread.start()
    yield supervisor
    stop.set()
    thread.join(timeout=30)


def _marker_pid(marker: Path) -> int:
    def fitting() -> str:
        """the Ray task to start fitting"""
        return marker.exists() and marker.read_text()

    return int(wait_until(fitting))


def test_the_ray_executor_is_chosen_by_the_environment_and_an_unknown_one_is_refused(local_ray, monkeypatch):
    monkeypatch.setenv("COLDSTART_EXECUTOR", "ray")
    assert make_executor(None, 0).default_slots() == ["cpu:0", "cpu:1"]  # one slot per CPU the cluster has
    monkeypatch.setenv("COLDSTART_EXECUTOR", "slurm")
    with pytest.raises(ValueError, match="use local .* or ray"):
        make_executor(None, 0)


def test_real_fits_run_as_ray_tasks_and_report_progress_and_results_through_the_database(ray_supervisor):
    experiment = tiny_experiment()
    ids = submit_runs(experiment, "als", {"iterations": 3}) + submit_runs(experiment, "mostpop")
    rows = wait_final(ids, timeout_s=240)
    for run_id in ids:
        row = rows[run_id]
        assert row.status == "done", row.error
        assert row.results["slices"] and (get_settings().run_dir(run_id) / "model.json").exists()
        with session_scope() as session:
            assert session.scalar(select(func.count()).select_from(MetricRow).where(MetricRow.run_id == run_id))
        assert row.pid is None  # the task's process belongs to Ray, possibly on another machine
    assert not run_events(ids[:1]).query("kind == 'progress'").empty


def test_a_killed_ray_task_fails_its_run_with_a_reason_and_a_cancel_goes_through_ray(ray_supervisor, tmp_path):
    experiment = tiny_experiment()
    killed_marker, cancelled_marker = tmp_path / "killed", tmp_path / "cancelled"
    (killed,) = submit_runs(experiment, "tiny_popularity", {**SLOW, "marker": str(killed_marker)})
    (cancelled,) = submit_runs(experiment, "tiny_popularity", {**SLOW, "marker": str(cancelled_marker)})
    os.kill(_marker_pid(killed_marker), signal.SIGKILL)
    _marker_pid(cancelled_marker)
    assert cancel_run(cancelled) == "running"
    rows = wait_final([killed, cancelled], timeout_s=120)
    assert rows[killed].status == "failed" and "killed (SIGKILL)" in rows[killed].error
    assert rows[cancelled].status == "cancelled"
    for run_id in (killed, cancelled):
        assert run_status(run_id).results == {}
        assert not get_settings().run_dir(run_id).exists()
