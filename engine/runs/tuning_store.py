"""Tuning trials in the database: written with a run's results, read back to start later searches well.

A later comparison on the same dataset and protocol starts from the best settings known for each model: the
best-scoring complete trial of any earlier run of that model on an experiment of that dataset and protocol. It is
only a starting point: what a run keeps is still chosen by its own validation slice.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.metrics.document import TuningRecord
from engine.store.db import session_scope
from engine.store.tables import ExperimentRow, RunRow, TuningTrialRow


def record_trials(session: Session, run: RunRow, tuning: TuningRecord | None) -> None:
    """Replace the run's trial rows with those of its `tuning` results entry (none when it was not tuned)."""
    run.trials.clear()
    for trial in tuning.trials if tuning is not None else []:
        score = trial.score
        run.trials.append(TuningTrialRow(
            number=trial.number, params=dict(trial.params),
            score=None if score is None or not math.isfinite(score) else float(score), state=trial.state,
            fit_seconds=trial.fit_seconds, error=trial.error))


def best_known_settings(dataset_id: int, protocol: str, model: str, limit: int = 1) -> list[dict[str, Any]]:
    """The `limit` best distinct settings tried for `model` on this dataset and protocol, best first."""
    query = (select(TuningTrialRow.params)
             .join(RunRow, RunRow.id == TuningTrialRow.run_id)
             .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
             .where(ExperimentRow.dataset_id == dataset_id, ExperimentRow.protocol == protocol,
                    RunRow.model == model, TuningTrialRow.state == "complete", TuningTrialRow.score.is_not(None))
             .order_by(TuningTrialRow.score.desc(), TuningTrialRow.id))
    found: list[dict[str, Any]] = []
    with session_scope() as session:
        for params in session.scalars(query):
            if params not in found:
                found.append(dict(params))
            if len(found) == limit:
                break
    return found


def run_trials(run_ids: list[int]) -> list[dict[str, Any]]:
    """Every trial of these runs, in run and trial order: what the Compare page tables and plots."""
    with session_scope() as session:
        rows = session.scalars(select(TuningTrialRow).where(TuningTrialRow.run_id.in_(run_ids))
                               .order_by(TuningTrialRow.run_id, TuningTrialRow.number)).all()
        return [{"run_id": row.run_id, "trial": row.number + 1, "score": row.score, "state": row.state,
                 "fit_seconds": row.fit_seconds, "params": dict(row.params), "error": row.error} for row in rows]
