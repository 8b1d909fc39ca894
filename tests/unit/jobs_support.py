"""Shared set-up of the job-system tests: the test-only models registered and an experiment to queue runs on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
from sqlalchemy import select

from engine.jobs.queue import FINAL_STATES
from engine.settings import EXTRA_MODELS_ENV
from engine.store.db import session_scope
from engine.store.tables import DatasetRow, ExperimentRow, RunRow

FAULT_MODELS = "tests.unit.fault_models"
ROOT = Path(__file__).resolve().parents[2]


def register_fault_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the tiny test models visible to this process and to every child process it starts."""
    monkeypatch.setenv(EXTRA_MODELS_ENV, FAULT_MODELS)


def empty_experiment(name: str = "queue-only") -> int:
    """An experiment row (no stored split) for tests of the queue alone; returns its id."""
    with session_scope() as session:
        dataset = DatasetRow(name=name, source="synthetic", path="datasets/none")
        experiment = ExperimentRow(name=name, dataset=dataset, protocol="warm", seed=0)
        session.add_all([dataset, experiment])
        session.flush()
        return experiment.id


def run_status(run_id: int) -> RunRow:
    """The run's current row, read fresh."""
    with session_scope() as session:
        return session.get(RunRow, run_id)


def tiny_experiment() -> int:
    """A stored tiny synthetic dataset split warm, the smallest real input a run can train and evaluate on."""
    from engine.data.catalog import save_dataset
    from engine.data.synthetic import generate_synthetic
    from engine.runs.experiments import create_experiment

    dataset_id = save_dataset(generate_synthetic(n_users=40, n_items=30, n_interactions=400, seed=0), "tiny",
                              "synthetic")
    return create_experiment(dataset_id, "warm", None, 0, name="tiny warm")


def wait_until(condition: Callable[[], object], timeout_s: float = 90.0, every_s: float = 0.1) -> object:
    """Poll `condition` until it returns something truthy; fail the test with what was awaited otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {condition.__doc__ or condition}")


def wait_final(run_ids: list[int], timeout_s: float = 120.0) -> dict[int, RunRow]:
    """Wait until every run has reached a final state; returns the rows."""
    def all_final() -> dict[int, RunRow] | None:
        """runs to reach a final state"""
        rows = {run_id: run_status(run_id) for run_id in run_ids}
        return rows if all(row.status in FINAL_STATES for row in rows.values()) else None

    return wait_until(all_final, timeout_s)


class SupervisorProcess:
    """A real supervisor (`python -m engine.jobs.supervisor`) for one test; stopped, with its runs, at the end."""

    def __init__(self, runs_per_device: int = 1, warm: bool = False) -> None:
        # a known CPU slot spares the supervisor importing torch to count GPUs; a warm interpreter only pays off
        # when several runs follow each other
        env = dict(os.environ, COLDSTART_MAX_RUNS_PER_DEVICE=str(runs_per_device), OMP_NUM_THREADS="1",
                   COLDSTART_DEVICE_SLOTS="cpu", COLDSTART_WARM_CHILDREN="1" if warm else "0")
        self.process = subprocess.Popen([sys.executable, "-m", "engine.jobs.supervisor"], cwd=ROOT, env=env,
                                        start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the supervisor alone, as a crash would; its runs' own process groups are untouched."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        _kill_leftover_runs()


def _kill_leftover_runs() -> None:
    """End any run child a test left behind (each leads its own process group)."""
    with session_scope() as session:
        pids = [pid for pid in session.scalars(select(RunRow.pid).where(RunRow.pid.is_not(None)))]
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@pytest.fixture
def supervisors(coldstart_home, monkeypatch):
    """Start supervisors with `supervisors(n_runs_per_device)`; all are stopped when the test ends."""
    register_fault_models(monkeypatch)
    started: list[SupervisorProcess] = []

    def start(runs_per_device: int = 1, warm: bool = False) -> SupervisorProcess:
        started.append(SupervisorProcess(runs_per_device, warm))
        return started[-1]

    yield start
    for supervisor in started:
        supervisor.stop()


class RecordingExecutor:
    """Launches nothing; remembers what the supervisor asked for and reports exit codes the test sets."""

    def __init__(self) -> None:
        self.launched: dict[int, str] = {}
        self.exit_codes: dict[int, int] = {}
        self.cancelled: list[int] = []

    def launch(self, run_id: int, slot: str) -> int:
        self.launched[run_id] = slot
        return 10_000_000 + run_id  # no such process: nobody may signal it

    def poll(self, run_id: int) -> int | None:
        code = self.exit_codes.pop(run_id, None)
        if code is not None:
            del self.launched[run_id]
        return code

    def cancel(self, run_id: int) -> None:
        self.cancelled.append(run_id)

    def running(self) -> dict[int, str]:
        return dict(self.launched)

    def prepare(self, slots: list[str]) -> None:
        pass

    def close(self) -> None:
        pass
