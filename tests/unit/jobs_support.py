"""Shared set-up of the job-system tests: the test-only models registered and an experiment to queue runs on."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.models.registry import EXTRA_MODELS_ENV
from engine.store.db import session_scope
from engine.store.tables import DatasetRow, ExperimentRow, RunRow

FAULT_MODELS = "tests.unit.fault_models"
ROOT = Path(__file__).resolve().parents[2]


def register_fault_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the tiny test models visible to this process and to every child process it starts."""
    monkeypatch.setenv(EXTRA_MODELS_ENV, FAULT_MODELS)


def empty_experiment() -> int:
    """An experiment row (no stored split) for tests of the queue alone; returns its id."""
    with session_scope() as session:
        dataset = DatasetRow(name="queue-only", source="synthetic", path="datasets/none")
        experiment = ExperimentRow(name="queue-only", dataset=dataset, protocol="warm", seed=0)
        session.add_all([dataset, experiment])
        session.flush()
        return experiment.id


def run_status(run_id: int) -> RunRow:
    """The run's current row, read fresh."""
    with session_scope() as session:
        return session.get(RunRow, run_id)
